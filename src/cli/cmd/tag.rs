//! `snap tag`: sets, adds or removes tags on snapshots.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap tag`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::TagArgs,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let repo = open_repo(cli)?;
    let change = ops::tag::TagChange {
        set: a.set.clone(),
        add: a.add.clone(),
        remove: a.remove.clone(),
    };
    let report = ops::tag::tag(&repo, &a.ids, &change, selection)?;
    render::tag(out, cli.json, cli.quiet, &report, &selection.skipped())?;
    Ok(ExitCode::Ok)
}

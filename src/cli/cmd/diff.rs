//! `snap diff`: shows what changed between two snapshots.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap diff`.
pub fn run(
    cli: &Cli,
    old: &str,
    new: &str,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut repo = open_repo(cli)?;
    render::diff(out, cli.json, &|| selection.skipped(), |emit| {
        ops::diff::diff(&mut repo, old, new, selection, emit)
    })?;
    Ok(ExitCode::Ok)
}

//! `snap find`: finds files and etcd keys by pattern across snapshots.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap find`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::FindArgs,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut repo = open_repo(cli)?;
    let filter = ops::snapshots::SnapshotFilter {
        hosts: a.host.clone(),
        tags: a.tag.clone(),
    };
    render::find(out, cli.json, &|| selection.skipped(), |emit| {
        ops::find::find(&mut repo, &a.patterns, &filter, selection, emit)
    })?;
    Ok(ExitCode::Ok)
}

//! `snap snapshots`: lists snapshots, filtered by host and tag.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap snapshots`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::SnapshotsArgs,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let repo = open_repo(cli)?;
    let filter = ops::snapshots::SnapshotFilter {
        hosts: a.host.clone(),
        tags: a.tag.clone(),
    };
    let rows = ops::snapshots::snapshots(&repo, &filter, selection)?;
    render::snapshots(out, cli.json, &rows)?;
    Ok(ExitCode::Ok)
}

//! `snap ls`: lists what a snapshot holds: files, etcd keys, git repositories.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap ls`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::LsArgs,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut repo = open_repo(cli)?;
    render::ls(out, cli.json, &|| selection.skipped(), |emit| {
        ops::ls::ls(&mut repo, &a.snapshot, selection, emit)
    })?;
    Ok(ExitCode::Ok)
}

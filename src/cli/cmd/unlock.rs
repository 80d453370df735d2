//! `snap unlock`: removes stale locks (all with --remove-all).

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap unlock`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::UnlockArgs,
    _selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let repo = open_repo(cli)?;
    let report = ops::unlock::unlock(&repo, a.remove_all)?;
    render::unlock(out, cli.json, cli.quiet, &report)?;
    Ok(ExitCode::Ok)
}

//! `snap stats`: sizes of one snapshot or of the whole repository.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap stats`.
pub fn run(
    cli: &Cli,
    snapshot: Option<&str>,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut repo = open_repo(cli)?;
    let stats = ops::stats::stats(&mut repo, snapshot, selection)?;
    render::stats(out, cli.json, &stats)?;
    Ok(ExitCode::Ok)
}

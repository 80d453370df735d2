//! `snap check`: verifies the repository structure, and with --read-data the data itself.

use std::io::{StdoutLock, Write as _};

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap check`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::CheckArgs,
    _selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut repo = open_repo(cli)?;
    let options = ops::check::CheckOptions {
        read_data: if a.read_data {
            Some(ops::check::DataSubset::All)
        } else {
            a.read_data_subset
        },
    };
    let report = ops::check::check(&mut repo, &options)?;
    render::check(out, cli.json, cli.quiet, &report)?;
    if !report.errors.is_empty() {
        out.flush()?;
        eprintln!(
            "snap: error: check found {} error(s) in {}",
            report.errors.len(),
            repo.backend().location()
        );
        return Ok(ExitCode::CheckFailed);
    }
    Ok(ExitCode::Ok)
}

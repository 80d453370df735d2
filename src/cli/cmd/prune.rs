//! `snap prune`: deletes data no snapshot uses, repacking partly used packs.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap prune`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::PruneArgs,
    _selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut repo = open_repo(cli)?;
    let options = super::prune::options(&repo, &a.options, a.dry_run);
    let report = ops::prune::prune(&mut repo, &options)?;
    if cli.json {
        render::json(out, &report)?;
    } else {
        render::prune(out, cli.quiet, &report)?;
    }
    Ok(ExitCode::Ok)
}

/// Prune options from the command line; 0 connections means the backend's preference.
pub fn options(
    repo: &crate::repo::Repository,
    a: &crate::cli::args::PruneOptionArgs,
    dry_run: bool,
) -> ops::prune::PruneOptions {
    ops::prune::PruneOptions {
        max_unused: a.max_unused,
        grace: a.grace,
        dry_run,
        connections: match a.connections {
            0 => repo.backend().preferred_connections(),
            n => n,
        },
    }
}

//! `snap cat`: prints one repository file or blob, decrypted (for debugging).

use std::io::{StdoutLock, Write as _};

use anyhow::Result;

use crate::cli::args::CatCommand;
use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap cat`.
pub fn run(
    cli: &Cli,
    c: &crate::cli::args::CatCommand,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    use ops::cat::CatTarget as T;
    let target = match c {
        CatCommand::Config => T::Config,
        CatCommand::Snapshot { id } => T::Snapshot(id.clone()),
        CatCommand::Index { id } => T::Index(id.clone()),
        CatCommand::Pack { id } => T::Pack(id.clone()),
        CatCommand::Key { id } => T::Key(id.clone()),
        CatCommand::Lock { id } => T::Lock(id.clone()),
        CatCommand::Blob { id } => T::Blob(id.clone()),
    };
    let mut repo = open_repo(cli)?;
    match ops::cat::cat(&mut repo, &target, selection)? {
        ops::cat::CatOutput::Json(v) => {
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        ops::cat::CatOutput::Bytes(b) => out.write_all(&b)?,
    }
    Ok(ExitCode::Ok)
}

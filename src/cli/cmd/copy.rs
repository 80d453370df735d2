//! `snap copy`: copies snapshots, with the blobs they need, into a second repository.

use std::io::StdoutLock;

use anyhow::{Context as _, Result};

use crate::cli::args::Cli;
use crate::cli::open::{open_backend_at, open_repo, open_repo_with};
use crate::cli::ExitCode;
use crate::cli::{password, render};
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap copy`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::CopyArgs,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut source = open_repo(cli)?;
    let target_backend = open_backend_at(cli, &a.to)?;
    let sources = password::Sources {
        flags: password::Candidate::flag_file(
            "--to-password-file",
            a.to_password_file.as_deref(),
        )
        .into_iter()
        .chain(password::Candidate::flag_command(
            "--to-password-command",
            a.to_password_command.as_deref(),
        ))
        .collect(),
        profile: Vec::new(),
        env: password::EnvNames {
            value: "SNAP_TO_PASSWORD",
            file: Some("SNAP_TO_PASSWORD_FILE"),
            command: Some("SNAP_TO_PASSWORD_COMMAND"),
        },
        hint: "--to-password-file, --to-password-command, SNAP_TO_PASSWORD, SNAP_TO_PASSWORD_FILE or SNAP_TO_PASSWORD_COMMAND for the target repository",
        prompt: "enter password for the target repository: ",
    };
    let mut target = open_repo_with(target_backend, None, &sources)
        .context("cannot open the target repository (--to)")?;
    let connections = match a.connections {
        0 => target.backend().preferred_connections(),
        n => n,
    };
    let report = ops::copy::copy(&mut source, &mut target, &a.ids, connections, selection)?;
    render::copy(out, cli.json, cli.quiet, &report)?;
    Ok(ExitCode::Ok)
}

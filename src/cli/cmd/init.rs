//! `snap init`: creates a repository: asks for the password twice, writes the config and the first key.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::{open_backend, PASSWORD_HINT};
use crate::cli::ExitCode;
use crate::cli::{password, render};
use crate::ops;
use crate::repo::InitOptions;
use crate::snapshot::Selection;

/// Runs `snap init`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::InitArgs,
    _selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let backend = open_backend(cli)?;
    let password = password::resolve(
        &password::repository_sources(
            cli.password_file.as_deref(),
            cli.password_command.as_deref(),
            Vec::new(),
            PASSWORD_HINT,
        ),
        Some("the passwords do not match; nothing was created"),
    )?
    .secret;
    let options = InitOptions {
        kdf: a.kdf.params(),
        compression_level: a.compression_level,
        pack_size: a.pack_size_mib.saturating_mul(1 << 20),
        ..Default::default()
    };
    let report = ops::init::init(backend, password.as_bytes(), &options)?;
    render::init(out, cli.json, &report)?;
    Ok(ExitCode::Ok)
}

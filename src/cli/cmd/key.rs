//! `snap key`: lists, adds, removes and changes the passwords (key files) that open the repository.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::args::KeyCommand;
use crate::cli::open::open_repo;
use crate::cli::ExitCode;
use crate::cli::{password, render};
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap key`.
pub fn run(
    cli: &Cli,
    k: &crate::cli::args::KeyCommand,
    _selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let repo = open_repo(cli)?;
    match k {
        KeyCommand::List => {
            let (rows, problems) = ops::key::list(&repo)?;
            for p in &problems {
                eprintln!("snap: warning: {p}");
            }
            render::keys(out, cli.json, &rows)?;
        }
        KeyCommand::Add(a) => {
            let password = password::resolve_new(a.new_password_file.as_deref())?;
            let id = ops::key::add(&repo, password.as_bytes(), a.kdf.params())?;
            render::line(
                out,
                cli.json,
                cli.quiet,
                "added",
                &format!("key {}", id.to_hex()),
            )?;
        }
        KeyCommand::Remove { id } => {
            let id = ops::key::remove(&repo, id)?;
            render::line(
                out,
                cli.json,
                cli.quiet,
                "removed",
                &format!("key {}", id.to_hex()),
            )?;
        }
        KeyCommand::Passwd(a) => {
            let password = password::resolve_new(a.new_password_file.as_deref())?;
            let (new, old) = ops::key::passwd(&repo, password.as_bytes(), a.kdf.params())?;
            render::line(
                out,
                cli.json,
                cli.quiet,
                "changed",
                &format!(
                    "password: key {} replaces key {}",
                    new.to_hex(),
                    old.to_hex()
                ),
            )?;
        }
    }
    Ok(ExitCode::Ok)
}

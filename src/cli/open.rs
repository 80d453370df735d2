//! Opening the repository a command names: the backend from `-r`, the
//! password from its sources, asked for only once the repository exists.

use std::sync::Arc;

use anyhow::{Context, Result};

use super::args::Cli;
use super::password;
use crate::backend;
use crate::repo::Repository;

pub fn open_backend(cli: &Cli) -> Result<Arc<dyn backend::Backend>> {
    let location = cli.repo.as_deref().context(
        "no repository given: pass -r/--repo LOCATION or set SNAP_REPOSITORY (a folder path, local:PATH, rest:URL, s3:... or sftp:...)",
    )?;
    open_backend_at(cli, location)
}

pub fn open_backend_at(cli: &Cli, location: &str) -> Result<Arc<dyn backend::Backend>> {
    let options = backend::BackendOptions {
        retry: backend::RetryPolicy {
            notify: Some(|err, delay| {
                eprintln!("snap: retrying in {:.1}s after: {err}", delay.as_secs_f64())
            }),
            ..Default::default()
        },
        sftp: backend::SftpOptions {
            key_file: cli.sftp_key.clone(),
            known_hosts: cli.sftp_known_hosts.clone(),
            accept_new_host: cli.sftp_accept_new_host,
        },
    };
    Ok(backend::from_location(location, &options)?)
}

/// Where the main repository's password may come from, besides a profile.
pub const PASSWORD_HINT: &str =
    "--password-file, --password-command, SNAP_PASSWORD, SNAP_PASSWORD_FILE or SNAP_PASSWORD_COMMAND";

pub fn open_repo(cli: &Cli) -> Result<Repository> {
    let backend = open_backend(cli)?;
    let sources = password::repository_sources(
        cli.password_file.as_deref(),
        cli.password_command.as_deref(),
        Vec::new(),
        PASSWORD_HINT,
    );
    let mut repo = open_repo_with(backend, cli.key_hint.as_deref(), &sources)?;
    if cli.no_lock {
        repo.set_unlocked();
    }
    Ok(repo)
}

/// Opens the repository at `backend` with the password `sources` give,
/// asked for only once the repository is known to exist.
pub fn open_repo_with(
    backend: Arc<dyn backend::Backend>,
    key_hint: Option<&str>,
    sources: &password::Sources<'_>,
) -> Result<Repository> {
    // Fail with "no repository" before asking for a password.
    Repository::require_exists(backend.as_ref())?;
    let password = password::resolve(sources, None)?;
    match Repository::open_with_hint(backend, password.secret.as_bytes(), key_hint) {
        Ok(repo) => {
            repo.on_warning(|w| eprintln!("snap: warning: {w}"));
            Ok(repo)
        }
        Err(crate::repo::RepoError::WrongPassword {
            location,
            keys,
            untried,
        }) => Err(password::Rejected {
            origin: password.origin,
            keys,
            untried,
            location,
            hint: sources.hint.to_string(),
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

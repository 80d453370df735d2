//! `snap serve`: hosts repositories over the REST protocol for snap and restic clients.

use anyhow::Result;

use crate::cli::args::{self, Cli};
use crate::cli::ExitCode;

/// Runs `snap serve` until it is stopped.
pub fn run(cli: &Cli, a: &args::ServeArgs) -> Result<ExitCode> {
    use crate::server::{Htpasswd, ServeOptions};
    let htpasswd = a
        .htpasswd
        .clone()
        .or_else(|| Some(a.path.join(".htpasswd")).filter(|p| p.exists()));
    let auth = match (&htpasswd, a.no_auth) {
        (Some(path), false) => Some(Htpasswd::load(path)?),
        (None, true) => None,
        (Some(_), true) => anyhow::bail!(
            "--no-auth was given but {} exists; remove it or drop --no-auth",
            a.path.join(".htpasswd").display()
        ),
        (None, false) => anyhow::bail!(
            "no users: give --htpasswd FILE (create it with `htpasswd -B -c FILE USER`), put one at {}, or serve without authentication with --no-auth",
            a.path.join(".htpasswd").display()
        ),
    };
    let auth_text = match &auth {
        Some(h) => format!("{} user(s) from {}", h.len(), h.path().display()),
        None => "none (--no-auth)".to_string(),
    };
    let scheme = if a.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let mut modes = Vec::new();
    if a.append_only {
        modes.push("append-only");
    }
    if a.private_repos {
        modes.push("private repositories");
    }
    let options = ServeOptions {
        root: a.path.clone(),
        listen: a.listen.clone(),
        auth,
        private_repos: a.private_repos,
        append_only: a.append_only,
        tls: a.tls_cert.clone().zip(a.tls_key.clone()),
        metrics_no_auth: a.metrics_no_auth,
        metrics_admins: a.metrics_admin.clone(),
        max_size: a.max_size,
        limits: crate::server::Limits {
            header_timeout: a.header_timeout,
            idle_timeout: a.idle_timeout,
            body_timeout: a.body_timeout,
            max_connections: a.max_connections as usize,
        },
    };
    let quiet = cli.quiet;
    let root = a.path.display().to_string();
    crate::server::serve(options, |addr| {
        // The first line names the address: scripts and tests read it.
        println!("snap serve: listening on {scheme}://{addr}/");
        if !quiet {
            println!(
                "repositories under {root}; auth: {auth_text}{}{}",
                if modes.is_empty() { "" } else { "; " },
                modes.join(", ")
            );
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::Ok)
}

//! `snap restore`: restores a snapshot into a folder, a running or new etcd cluster, git servers, or a whole platform (--profile).

use std::io::{StdoutLock, Write as _};

use anyhow::{Context as _, Result};

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::ExitCode;
use crate::cli::{etcd, profile, progress, render};
use crate::ops;
use crate::snapshot::Selection;
use std::sync::Arc;

/// Runs `snap restore`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::RestoreArgs,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    if let Some(file) = &a.profile {
        let p = profile::load(file)?;
        let code = profile::restore(out, cli, a, &p, selection)?;
        out.flush()?;
        return Ok(code);
    }
    if a.dry_run && a.target.is_some() {
        anyhow::bail!("--dry-run previews changes to etcd (--to), git servers (--git-push) and a platform (--profile); a restore into --target only creates files there: leave out --dry-run, or list the snapshot with `snap ls`");
    }
    let mut repo = open_repo(cli)?;
    if a.to.is_some() || a.etcd_deploy {
        let code = etcd::restore(out, cli.json, cli.quiet, &mut repo, a, selection)?;
        if a.target.is_none() || code != ExitCode::Ok {
            return Ok(code);
        }
    }
    // A push without --target restores the repositories into a
    // temporary folder first.
    let scratch;
    let (target, git_only) = match (&a.target, &a.git_push) {
        (Some(t), _) => (t.clone(), false),
        (None, Some(_)) => {
            scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
            (scratch.path().to_path_buf(), true)
        }
        (None, None) => return Ok(ExitCode::Ok),
    };
    let mut options = ops::restore::RestoreOptions {
        snapshot: a.snapshot.clone(),
        target,
        git_push: a.git_push.clone(),
        git_only,
        dry_run: a.dry_run,
        includes: a.include.clone(),
        excludes: a.exclude.clone(),
        threads: a.threads,
        hosts: a.host.clone(),
        progress: None,
        selection: selection.clone(),
    };
    let display = progress::wanted(cli.quiet, cli.json).then(|| {
        let p = Arc::new(crate::restore::RestoreProgress::default());
        options.progress = Some(p.clone());
        progress::restore(p)
    });
    let report = ops::restore::restore(&mut repo, &options);
    drop(display);
    let report = report?;
    for w in &report.report.warnings {
        eprintln!("snap: warning: {w}");
    }
    render::restore(out, cli.json, cli.quiet, &report)?;
    Ok(ExitCode::Ok)
}

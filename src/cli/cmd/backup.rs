//! `snap backup`: backs up paths, etcd clusters and git repositories (or a platform profile) into one snapshot.

use std::io::StdoutLock;

use anyhow::Result;

use crate::archiver::BackupOptions;
use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::ExitCode;
use crate::cli::{etcd, profile, progress, render};
use crate::ops;
use crate::snapshot::Selection;
use std::sync::Arc;

/// Runs `snap backup`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::BackupArgs,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut excludes = a.exclude.clone();
    for f in &a.exclude_file {
        excludes.extend(crate::source::files::Excludes::read_file(f)?);
    }
    let mut tags = a.tag.clone();
    let mut hostname = a.host.clone();
    let (mut repo, sources) = match &a.profile {
        Some(file) => {
            let p = profile::load(file)?;
            let repo = profile::open_repo(cli, &p)?;
            let s = profile::backup_sources(cli, &a.etcd, &p)?;
            excludes.extend(s.excludes);
            tags.extend(p.snapshot.tags.iter().cloned());
            hostname = hostname.or(p.snapshot.host.clone());
            let sources = etcd::BackupSources {
                paths: s.paths,
                etcd: s.etcd,
                git: s.git,
            };
            (repo, sources)
        }
        None => (open_repo(cli)?, etcd::backup_sources(&a.paths, &a.etcd)?),
    };
    let mut options = BackupOptions {
        paths: sources.paths,
        etcd: sources.etcd,
        git: sources.git,
        tags,
        hostname,
        excludes,
        parent: a.parent,
        force: a.force,
        threads: a.threads,
        connections: a.connections,
        progress: None,
        selection: selection.clone(),
    };
    let display = progress::wanted(cli.quiet, cli.json).then(|| {
        let p = Arc::new(crate::archiver::BackupProgress::default());
        options.progress = Some(p.clone());
        progress::backup(p)
    });
    let report = ops::backup::backup(&mut repo, &options);
    drop(display);
    let report = report?;
    for w in &report.warnings {
        eprintln!("snap: warning: {w}");
    }
    for n in &report.notes {
        eprintln!("snap: note: {n}");
    }
    for l in &report.stale_locks {
        eprintln!("snap: note: ignored a stale lock held {l}; `snap unlock` removes it");
    }
    render::backup(out, cli.json, cli.quiet, &report)?;
    if !report.warnings.is_empty() {
        return Ok(ExitCode::PartialBackup);
    }
    Ok(ExitCode::Ok)
}

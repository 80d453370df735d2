//! `snap restore`: write a snapshot into a folder.

use std::path::PathBuf;

use serde::Serialize;

use super::OpError;
use crate::repo::{LockKind, Repository};
use crate::restore::{restore_to_dir, RestoreFilter, RestorePlan, RestoreProgress, RestoreReport};
use crate::snapshot::find_snapshot;

/// What to restore where.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// `latest`, an ID or a prefix.
    pub snapshot: String,
    /// The folder to restore into.
    pub target: PathBuf,
    /// Only paths matching these (and what is inside them).
    pub includes: Vec<String>,
    /// Never paths matching these.
    pub excludes: Vec<String>,
    /// Parallel pack readers (0: automatic).
    pub threads: usize,
    /// `latest` considers only these hosts.
    pub hosts: Vec<String>,
    /// Where to publish live counts, if anyone watches.
    pub progress: Option<std::sync::Arc<RestoreProgress>>,
    /// Push each restored git repository as a mirror to this URL template
    /// (`{repo}` is the repository's name).
    pub git_push: Option<String>,
    /// Restore only git repositories, no files (a push without --target).
    pub git_only: bool,
}

/// What a restore did.
#[derive(Debug, Serialize)]
pub struct RestoreOpReport {
    /// The snapshot restored.
    pub snapshot_id: String,
    /// Where to.
    pub target: String,
    /// Counts.
    #[serde(flatten)]
    pub report: RestoreReport,
    /// Git repositories recreated as bare repositories under the target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub git: Vec<crate::restore::git::GitRepoRestored>,
}

/// Restores under a shared lock.
pub fn restore(
    repo: &mut Repository,
    options: &RestoreOptions,
) -> Result<RestoreOpReport, OpError> {
    let _guard = repo.lock(LockKind::Shared)?;
    let hosts = &options.hosts;
    let (id, manifest) = find_snapshot(repo, &options.snapshot, |m| {
        hosts.is_empty() || hosts.contains(&m.hostname)
    })?;
    repo.load_index()?;
    let filter = RestoreFilter::new(&options.includes, &options.excludes)?;
    let plan = RestorePlan::build(repo, &manifest.tree, &filter)?;
    let threads = if options.threads == 0 {
        (std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            * 2)
        .max(4)
    } else {
        options.threads
    };
    let progress = options.progress.clone().unwrap_or_default();
    let report = if options.git_only {
        RestoreReport::default()
    } else {
        restore_to_dir(repo, &plan, &options.target, threads, &progress)?
    };
    let git = crate::restore::git::restore_git(
        repo,
        &manifest,
        &options.target,
        options.git_push.as_deref(),
    )?;
    Ok(RestoreOpReport {
        snapshot_id: id.to_hex(),
        target: options.target.display().to_string(),
        report,
        git,
    })
}

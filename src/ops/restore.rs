//! `snap restore`: write a snapshot into a folder.

use std::path::PathBuf;

use serde::Serialize;

use super::OpError;
use crate::repo::{LockKind, Repository};
use crate::restore::{restore_tree, RestoreFilter, RestoreProgress, RestoreReport};
use crate::snapshot::{find_snapshot, DamagedSnapshot, Selection};

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
    /// Push with `--dry-run`: report what the server would get, change nothing.
    pub dry_run: bool,
    /// How `latest` treats damaged snapshot files.
    pub selection: Selection,
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
    /// Only git repositories were restored (into a temporary folder).
    #[serde(skip)]
    pub git_only: bool,
    /// Pushes were dry runs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Damaged snapshot files `latest` skipped (only when skipping them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_snapshots: Vec<DamagedSnapshot>,
}

/// Restores under a shared lock.
pub fn restore(
    repo: &mut Repository,
    options: &RestoreOptions,
) -> Result<RestoreOpReport, OpError> {
    let _guard = repo.lock(LockKind::Shared)?;
    let hosts = &options.hosts;
    let (id, manifest) = options.selection.find(repo, &options.snapshot, |m| {
        hosts.is_empty() || hosts.contains(&m.hostname)
    })?;
    repo.load_index()?;
    let filter = RestoreFilter::new(&options.includes, &options.excludes)?;
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
        restore_tree(
            repo,
            &manifest.tree,
            &filter,
            &options.target,
            threads,
            &progress,
        )?
    };
    let git = crate::restore::git::restore_git(
        repo,
        &manifest,
        &options.target,
        options.git_push.as_deref(),
        options.dry_run,
        threads,
    )?;
    let mut report = report;
    for g in &git {
        if let Some(why) = &g.not_captured {
            report.warnings.push(format!(
                "git repository {} was not restored: the backup could not read it ({why}); restore it from an earlier snapshot",
                g.name
            ));
        }
    }
    Ok(RestoreOpReport {
        snapshot_id: id.to_hex(),
        target: options.target.display().to_string(),
        report,
        git,
        git_only: options.git_only,
        dry_run: options.dry_run,
        skipped_snapshots: options.selection.skipped(),
    })
}

/// One path to put back where it was captured.
#[derive(Clone, Debug)]
pub struct InPlaceTarget {
    /// The absolute path, in the snapshot and on disk.
    pub path: PathBuf,
    /// Disk paths matching these are never deleted (the backup's excludes).
    pub keep: Vec<String>,
    /// Delete what the snapshot lacks under the path.
    pub delete_extra: bool,
}

/// Restores each path of snapshot `snapshot_id` (a full ID) back to where it
/// was; with `dry_run` only reports what would change. Every path is
/// planned before any is written, so a path missing from the snapshot
/// stops the restore before it changes anything.
pub fn restore_in_place(
    repo: &mut Repository,
    snapshot_id: &str,
    targets: &[InPlaceTarget],
    dry_run: bool,
    threads: usize,
) -> Result<Vec<crate::restore::in_place::InPlaceChanges>, OpError> {
    use crate::restore::in_place::{apply_in_place, plan_in_place};
    let _guard = repo.lock(LockKind::Shared)?;
    let (_, manifest) = find_snapshot(repo, snapshot_id, |_| true)?;
    repo.load_index()?;
    let chunker = crate::chunker::Chunker::new(repo.config().chunker, repo.key().chunker_seed())
        .map_err(crate::restore::RestoreError::from)?;
    // What the backup could not read is missing from the snapshot without
    // being gone from the disk: deleting what the snapshot lacks would
    // delete it.
    let unreadable = manifest.summary.files_unreadable;
    let mut plans = Vec::new();
    for t in targets {
        let mut plan = plan_in_place(
            repo,
            &chunker,
            &manifest.tree,
            &t.path,
            &t.keep,
            t.delete_extra && unreadable == 0,
        )?;
        if unreadable > 0 && t.delete_extra {
            plan.changes.warnings.push(format!(
                "the backup could not read {unreadable} file(s) or folder(s), so the snapshot lacks them: nothing under {} is deleted",
                t.path.display()
            ));
        }
        plans.push(plan);
    }
    if dry_run {
        return Ok(plans.into_iter().map(|p| p.changes).collect());
    }
    let threads = if threads == 0 { 4 } else { threads };
    // Nothing on disk changes unless every blob to write has been read.
    crate::restore::in_place::verify_plans(repo, &plans, threads)?;
    let progress = RestoreProgress::default();
    let mut out = Vec::new();
    for plan in plans {
        out.push(apply_in_place(repo, plan, threads, &progress)?);
    }
    Ok(out)
}

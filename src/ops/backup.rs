//! `snap backup`: capture paths into a new snapshot.

use serde::Serialize;

use super::OpError;
use crate::archiver::{self, BackupOptions};
use crate::repo::{LockKind, Repository};
use crate::snapshot::{DamagedSnapshot, SourceRecord, Summary};

/// What a backup produced.
#[derive(Debug, Serialize)]
pub struct BackupReport {
    /// The new snapshot's full ID.
    pub snapshot_id: String,
    /// The parent used for change detection.
    pub parent: Option<String>,
    /// Statistics.
    #[serde(flatten)]
    pub summary: Summary,
    /// What was captured from where (etcd: cluster, revision, key count).
    pub sources: Vec<SourceRecord>,
    /// Files that could not be read, or changed while read.
    pub warnings: Vec<String>,
    /// Things worth knowing that left nothing out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Stale locks of other processes that were ignored.
    pub stale_locks: Vec<String>,
    /// Damaged snapshot files the search for a parent skipped (only when
    /// skipping them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_snapshots: Vec<DamagedSnapshot>,
}

/// Backs up under a shared lock; the index is loaded first.
pub fn backup(repo: &mut Repository, options: &BackupOptions) -> Result<BackupReport, OpError> {
    let guard = repo.lock(LockKind::Shared)?;
    // Leftovers of killed writes, never of running ones (spec §8).
    let _ = repo
        .backend()
        .remove_stale_temporaries(crate::backend::STALE_TEMPORARY_AGE);
    repo.load_index()?;
    let result = archiver::backup(repo, options)?;
    Ok(BackupReport {
        snapshot_id: result.id.to_hex(),
        parent: result.manifest.parent.map(|p| p.to_hex()),
        summary: result.manifest.summary,
        sources: result.manifest.sources,
        warnings: result.warnings,
        notes: result.notes,
        stale_locks: guard.stale.iter().map(|(_, d)| d.clone()).collect(),
        skipped_snapshots: options.selection.skipped(),
    })
}

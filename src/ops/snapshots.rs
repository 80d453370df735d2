//! `snap snapshots`: list snapshots, optionally filtered.

use serde::Serialize;

use super::OpError;
use crate::repo::Repository;
use crate::snapshot::{list_snapshots_checked, SnapshotManifest};

/// Filters for listings.
#[derive(Clone, Debug, Default)]
pub struct SnapshotFilter {
    /// Only these hosts (any of them).
    pub hosts: Vec<String>,
    /// Only snapshots carrying every one of these tags.
    pub tags: Vec<String>,
}

impl SnapshotFilter {
    /// True if `m` passes.
    pub fn matches(&self, m: &SnapshotManifest) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&m.hostname))
            && self.tags.iter().all(|t| m.tags.contains(t))
    }
}

/// One listed snapshot.
#[derive(Debug, Serialize)]
pub struct SnapshotRow {
    /// Full ID.
    pub id: String,
    /// First 8 hex characters.
    pub short_id: String,
    /// The manifest.
    #[serde(flatten)]
    pub manifest: SnapshotManifest,
}

/// Every snapshot passing `filter`, oldest first, and messages about those
/// that could not be read.
pub fn snapshots(
    repo: &Repository,
    filter: &SnapshotFilter,
) -> Result<(Vec<SnapshotRow>, Vec<String>), OpError> {
    let (list, problems) = list_snapshots_checked(repo)?;
    let rows = list
        .into_iter()
        .filter(|(_, m)| filter.matches(m))
        .map(|(id, manifest)| SnapshotRow {
            id: id.to_hex(),
            short_id: id.short(),
            manifest,
        })
        .collect();
    Ok((
        rows,
        problems
            .iter()
            .map(|e| format!("{e}; run `snap check`"))
            .collect(),
    ))
}

//! `snap snapshots`: list snapshots, optionally filtered.

use serde::Serialize;

use super::OpError;
use crate::repo::Repository;
use crate::snapshot::{Selection, SnapshotManifest};

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

/// One listed snapshot, or a damaged snapshot file.
#[derive(Debug, Serialize)]
pub struct SnapshotRow {
    /// Full ID.
    pub id: String,
    /// First 8 hex characters.
    pub short_id: String,
    /// The manifest (absent for a damaged file).
    #[serde(flatten)]
    pub manifest: Option<SnapshotManifest>,
    /// Why the file cannot be used: its manifest is unknown (only listed
    /// when damaged files are skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

/// Every snapshot passing `filter`, oldest first. Damaged snapshot files
/// fail the listing, or with a skipping `selection` follow as rows of their
/// own: a filter cannot tell whether they would pass it.
pub fn snapshots(
    repo: &Repository,
    filter: &SnapshotFilter,
    selection: &Selection,
) -> Result<Vec<SnapshotRow>, OpError> {
    let listing = selection.listing(repo)?;
    let rows = listing
        .snapshots
        .into_iter()
        .filter(|(_, m)| filter.matches(m))
        .map(|(id, manifest)| SnapshotRow {
            id: id.to_hex(),
            short_id: id.short(),
            manifest: Some(manifest),
            damaged: None,
        })
        .chain(listing.damaged.into_iter().map(|d| SnapshotRow {
            id: d.id.to_hex(),
            short_id: d.id.short(),
            manifest: None,
            damaged: Some(d.reason),
        }))
        .collect();
    Ok(rows)
}

//! Snapshot manifests (spec §10): sealed JSON under `snapshots/`, named by the
//! SHA-256 of the stored bytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::select::{DamagedSnapshot, Selection};
use super::{EtcdCapture, SnapshotError};
use crate::crypto::SealKind;
use crate::id::{BlobId, FileKind, Id, SnapshotId};
use crate::repo::{RepoError, Repository};

/// One captured source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// `files` for paths; later kinds add `etcd`, `git`.
    pub kind: String,
    /// What was captured (an absolute path for files).
    pub location: String,
    /// Resources captured from it.
    #[serde(default)]
    pub resources: u64,
    /// The root-tree node that holds it (sources other than files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The version of what was read (`etcd 3.4.23`, `git version 2.47.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The cluster, revision and leases (etcd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdCapture>,
    /// git: the repositories that could not be read (format v1.5, §15.4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// What a backup did. Every field defaults, so later versions may add some.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Files seen for the first time.
    pub files_new: u64,
    /// Files whose metadata changed since the parent, and were re-read.
    pub files_changed: u64,
    /// Files unchanged since the parent, not read.
    pub files_unchanged: u64,
    /// Folders.
    pub dirs: u64,
    /// Files that could not be read (and are missing from the snapshot).
    pub files_unreadable: u64,
    /// Bytes of every file in the snapshot.
    pub total_bytes: u64,
    /// Bytes read from sources.
    pub bytes_read: u64,
    /// etcd keys captured.
    #[serde(skip_serializing_if = "is_zero")]
    pub etcd_keys: u64,
    /// git objects captured.
    #[serde(skip_serializing_if = "is_zero")]
    pub git_objects: u64,
    /// New blobs stored.
    pub blobs_added: u64,
    /// Plaintext bytes of the new blobs.
    pub data_added: u64,
    /// Bytes written to the repository.
    pub data_added_stored: u64,
    /// When the backup started.
    pub started: Option<DateTime<Utc>>,
    /// Wall time in seconds.
    pub duration_seconds: f64,
}

/// A snapshot: what was captured, when, where from, and its root tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    /// Record version; 1.
    pub version: u32,
    /// When the snapshot was taken.
    pub time: DateTime<Utc>,
    /// Host it was taken on.
    pub hostname: String,
    /// User that took it.
    pub username: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Paths backed up, absolute.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Every source with its kind.
    #[serde(default)]
    pub sources: Vec<SourceRecord>,
    /// The snapshot used to skip unchanged files.
    #[serde(default)]
    pub parent: Option<SnapshotId>,
    /// The root tree.
    pub tree: BlobId,
    /// Statistics.
    #[serde(default)]
    pub summary: Summary,
    /// The program that wrote it.
    #[serde(default)]
    pub program: String,
    /// The snapshot this one was made from by `tag` or `copy` (the first
    /// of a chain): absent on a snapshot written by a backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<SnapshotId>,
}

impl SnapshotManifest {
    /// JSON plaintext.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest serializes")
    }

    /// Parses plaintext and checks the version.
    pub fn decode(bytes: &[u8]) -> Result<SnapshotManifest, SnapshotError> {
        let bad = |reason: String| SnapshotError::Format {
            what: "snapshot".into(),
            reason,
        };
        let m: SnapshotManifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if m.version != 1 {
            return Err(bad(format!(
                "version {} is not supported (this snap reads 1)",
                m.version
            )));
        }
        Ok(m)
    }
}

/// Stores a manifest: the last write of a backup (spec §8).
pub fn save_snapshot(
    repo: &Repository,
    manifest: &SnapshotManifest,
) -> Result<SnapshotId, SnapshotError> {
    Ok(SnapshotId(repo.save_file(
        FileKind::Snapshot,
        SealKind::Snapshot,
        &manifest.encode(),
    )?))
}

/// Loads one manifest.
pub fn load_snapshot(
    repo: &Repository,
    id: &SnapshotId,
) -> Result<SnapshotManifest, SnapshotError> {
    let plain = repo.load_file(FileKind::Snapshot, &id.to_hex(), SealKind::Snapshot)?;
    SnapshotManifest::decode(&plain).map_err(|e| match e {
        SnapshotError::Format { reason, .. } => SnapshotError::Format {
            what: format!("snapshot {id}"),
            reason,
        },
        other => other,
    })
}

/// Snapshots with their IDs.
pub type SnapshotList = Vec<(SnapshotId, SnapshotManifest)>;

/// Every usable snapshot of a repository, and the damaged snapshot files.
#[derive(Clone, Debug, Default)]
pub struct SnapshotListing {
    /// Snapshots that opened, oldest first (ties: by ID).
    pub snapshots: SnapshotList,
    /// Files that are damaged, by ID (see [`crate::snapshot::Selection`]).
    pub damaged: Vec<DamagedSnapshot>,
}

/// Every snapshot, oldest first; fails naming the damaged files if there
/// are any (spec §10): a listing must not look complete when it is not.
/// [`crate::snapshot::Selection::skipping`] goes on without them.
pub fn list_snapshots(repo: &Repository) -> Result<SnapshotList, SnapshotError> {
    Selection::refusing().list(repo)
}

/// Every snapshot that opens, oldest first, and every damaged snapshot
/// file: one damaged manifest must not hide all the others. Fails on files
/// that cannot be read at all (a backend error), which are not damaged but
/// unreachable; skips files deleted since the listing (a concurrent forget).
pub fn list_snapshots_checked(repo: &Repository) -> Result<SnapshotListing, SnapshotError> {
    use rayon::prelude::*;
    let ids = repo.list_ids(FileKind::Snapshot)?;
    let results: Vec<_> = ids
        .par_iter()
        .map(|id| {
            let id = SnapshotId(*id);
            (id, load_snapshot(repo, &id))
        })
        .collect();
    let mut listing = SnapshotListing::default();
    for (id, r) in results {
        match r {
            Ok(m) => listing.snapshots.push((id, m)),
            Err(e) if is_not_found(&e) => {}
            Err(e) => match damage(repo, id, e) {
                Ok(d) => listing.damaged.push(d),
                Err(unreachable) => return Err(unreachable),
            },
        }
    }
    listing
        .snapshots
        .sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
    listing.damaged.sort_by_key(|d| d.id);
    Ok(listing)
}

fn is_not_found(e: &SnapshotError) -> bool {
    matches!(e, SnapshotError::Repo(RepoError::Backend(b)) if b.is_not_found())
}

/// What is damaged about snapshot `id`, given why it failed to load; the
/// error back if it is no damage but a failure to read.
fn damage(
    repo: &Repository,
    id: SnapshotId,
    e: SnapshotError,
) -> Result<DamagedSnapshot, SnapshotError> {
    let reason = match e {
        SnapshotError::Format { reason, .. } => format!("malformed: {reason}"),
        SnapshotError::Repo(RepoError::NameMismatch { actual, .. }) => {
            format!("its content does not match its name (SHA-256 {actual})")
        }
        SnapshotError::Repo(RepoError::File { source, .. }) => source.to_string(),
        other => return Err(other),
    };
    Ok(DamagedSnapshot {
        id,
        repository: repo.backend().location(),
        reason,
    })
}

/// Resolves `latest`, a full ID or a unique prefix of at least 4 hex
/// characters. `latest` considers only snapshots accepted by `filter`, and
/// fails if any snapshot file is damaged (see [`list_snapshots`]); a damaged
/// snapshot named by its ID fails with [`SnapshotError::Damaged`].
pub fn find_snapshot(
    repo: &Repository,
    query: &str,
    filter: impl Fn(&SnapshotManifest) -> bool,
) -> Result<(SnapshotId, SnapshotManifest), SnapshotError> {
    if query == "latest" {
        return Selection::refusing().find(repo, query, filter);
    }
    let id = resolve_id(repo, query)?;
    match load_snapshot(repo, &id) {
        Ok(m) => Ok((id, m)),
        Err(e) if is_not_found(&e) => Err(SnapshotError::NotFound {
            query: query.into(),
        }),
        Err(e) => Err(match damage(repo, id, e) {
            Ok(d) => SnapshotError::Damaged {
                snapshot: Box::new(d),
            },
            Err(other) => other,
        }),
    }
}

/// The snapshot a full ID or a unique prefix of at least 4 hex characters
/// names, by the names in `snapshots/` alone: nothing is opened.
pub fn resolve_id(repo: &Repository, query: &str) -> Result<SnapshotId, SnapshotError> {
    let q = query.to_ascii_lowercase();
    if q.len() < 4 || q.len() > 64 || !q.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SnapshotError::BadQuery {
            query: query.into(),
        });
    }
    if let Ok(id) = Id::from_hex(&q) {
        return Ok(SnapshotId(id));
    }
    let matches: Vec<Id> = repo
        .list_ids(FileKind::Snapshot)?
        .into_iter()
        .filter(|id| id.to_hex().starts_with(&q))
        .collect();
    match matches.as_slice() {
        [] => Err(SnapshotError::NotFound {
            query: query.into(),
        }),
        [one] => Ok(SnapshotId(*one)),
        many => Err(SnapshotError::Ambiguous {
            query: query.into(),
            count: many.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = "39c75ff564ffaecd7dd012c949d3950bb8125a247def0bca2e43ce555de0de55";

    #[test]
    fn source_records_of_every_format_version_read() {
        // v1.0 to v1.3: no version, 0 resources for files; v1.4 adds both;
        // a later member is ignored.
        let json = format!(
            r#"{{"version":1,"time":"2026-11-27T09:14:03Z","hostname":"h","username":"u","tree":"{TREE}",
            "sources":[{{"kind":"files","location":"/etc","resources":0}},
                       {{"kind":"git","location":"git:/srv/git","resources":2,"node":"@git","version":"git version 2.47.0"}},
                       {{"kind":"files","location":"/srv","resources":12,"later":true}}]}}"#
        );
        let m = SnapshotManifest::decode(json.as_bytes()).unwrap();
        assert_eq!(m.sources[0].version, None);
        assert_eq!(m.sources[1].version.as_deref(), Some("git version 2.47.0"));
        assert_eq!(m.sources[2].resources, 12);
        // Written back, a record without a version has no member for it.
        let again = String::from_utf8(m.encode()).unwrap();
        assert!(again.contains(r#"{"kind":"files","location":"/etc","resources":0}"#));
        assert!(again.contains(r#""node":"@git","version":"git version 2.47.0"}"#));
    }
}

//! Choosing snapshots when a command has to consider all of them: listing,
//! `latest`, a retention policy, `copy` of everything, a backup's search for
//! its parent (spec §10, "Listing snapshots and damaged manifests").
//!
//! A snapshot file that is damaged (its bytes do not match its name, it
//! fails authentication, or its JSON does not decode) is never quietly taken
//! for absent: that would make `latest` name an older snapshot and a listing
//! look complete. By default a damaged file stops the command with an error
//! naming it. A [`Selection::skipping`] selection (the CLI's
//! `--skip-damaged-snapshots`) leaves it out instead, announces it, and
//! records it so that reports can name it.
//!
//! A snapshot file that cannot be read at all (a backend error) is not
//! damaged but unreachable, and fails the command under either policy:
//! skipping it would be a guess. One deleted between listing and reading
//! (a concurrent `forget`) is gone, and is not listed.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::manifest::{find_snapshot, list_snapshots_checked, SnapshotList, SnapshotListing};
use super::{SnapshotError, SnapshotManifest};
use crate::id::SnapshotId;
use crate::repo::Repository;

/// A snapshot file that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DamagedSnapshot {
    /// The file's name: the snapshot ID it claims.
    pub id: SnapshotId,
    /// The repository it is in (as shown in messages, without credentials).
    pub repository: String,
    /// Why it cannot be used.
    pub reason: String,
}

impl DamagedSnapshot {
    /// The file, as the repository layout names it (spec §2.1).
    pub fn file(&self) -> String {
        format!("snapshots/{}", self.id)
    }
}

/// Called when a damaged snapshot is skipped (the CLI prints a warning).
pub type SkipNotice = fn(&DamagedSnapshot);

/// How damaged snapshot files are treated, and which ones were skipped.
/// Clones share the record of skipped files, so an operation can hand a
/// clone to a lower layer and the caller still sees everything skipped.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    skip: bool,
    notify: Option<SkipNotice>,
    skipped: Arc<Mutex<Vec<DamagedSnapshot>>>,
}

impl Selection {
    /// Damaged snapshot files stop the command (the default).
    pub fn refusing() -> Selection {
        Selection::default()
    }

    /// Damaged snapshot files are left out; `notify` hears of each one the
    /// first time it is skipped.
    pub fn skipping(notify: Option<SkipNotice>) -> Selection {
        Selection {
            skip: true,
            notify,
            skipped: Default::default(),
        }
    }

    /// True if damaged files are skipped rather than refused.
    pub fn skips_damaged(&self) -> bool {
        self.skip
    }

    /// Every snapshot and every damaged file; fails on damaged files unless
    /// skipping. Damaged files returned here are not recorded as skipped:
    /// the caller shows them (`snap snapshots`).
    pub fn listing(&self, repo: &Repository) -> Result<SnapshotListing, SnapshotError> {
        let listing = list_snapshots_checked(repo)?;
        if !self.skip && !listing.damaged.is_empty() {
            return Err(SnapshotError::DamagedListing {
                damaged: listing.damaged,
            });
        }
        Ok(listing)
    }

    /// Every usable snapshot, oldest first; damaged files fail the call, or
    /// are skipped and recorded.
    pub fn list(&self, repo: &Repository) -> Result<SnapshotList, SnapshotError> {
        let listing = self.listing(repo)?;
        for d in listing.damaged {
            self.record(d);
        }
        Ok(listing.snapshots)
    }

    /// Resolves `latest` (among the snapshots `filter` accepts), a full ID or
    /// a unique prefix. Only `latest` reads every manifest, so only `latest`
    /// can skip one; a damaged snapshot named by its ID is always an error.
    pub fn find(
        &self,
        repo: &Repository,
        query: &str,
        filter: impl Fn(&SnapshotManifest) -> bool,
    ) -> Result<(SnapshotId, SnapshotManifest), SnapshotError> {
        if query == "latest" {
            return self
                .list(repo)?
                .into_iter()
                .rfind(|(_, m)| filter(m))
                .ok_or_else(|| SnapshotError::NotFound {
                    query: query.into(),
                });
        }
        find_snapshot(repo, query, filter)
    }

    /// The damaged files skipped so far, each once, in the order met.
    pub fn skipped(&self) -> Vec<DamagedSnapshot> {
        self.skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record(&self, damaged: DamagedSnapshot) {
        let mut skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        if skipped.contains(&damaged) {
            return;
        }
        if let Some(notify) = self.notify {
            notify(&damaged);
        }
        skipped.push(damaged);
    }
}

/// The text of [`SnapshotError::DamagedListing`].
pub(super) fn describe_listing(damaged: &[DamagedSnapshot]) -> String {
    let ids: Vec<String> = damaged.iter().map(|d| d.id.to_hex()).collect();
    let what = match damaged {
        [one] => format!(
            "snapshot file {} in {} is damaged ({})",
            one.file(),
            one.repository,
            one.reason
        ),
        many => format!(
            "{} snapshot files in {} are damaged ({})",
            many.len(),
            many.first().map(|d| d.repository.as_str()).unwrap_or(""),
            many.iter()
                .map(|d| format!("{}: {}", d.file(), d.reason))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    format!(
        "{what}, so the list of snapshots would be incomplete and `latest` could name an older one; \
         run `snap check`; remove what cannot be repaired with `snap forget {}`; \
         or pass --skip-damaged-snapshots to go on without {}",
        ids.join(" "),
        if damaged.len() == 1 { "it" } else { "them" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, MemoryBackend};
    use crate::crypto::{KdfParams, SealKind};
    use crate::id::{BlobId, FileKind, Id};
    use crate::repo::InitOptions;
    use crate::snapshot::save_snapshot;

    fn manifest(seconds: i64) -> SnapshotManifest {
        SnapshotManifest {
            version: 1,
            time: chrono::DateTime::from_timestamp(seconds, 0).unwrap(),
            hostname: "h".into(),
            username: "u".into(),
            tags: Vec::new(),
            paths: vec!["/etc".into()],
            sources: Vec::new(),
            parent: None,
            tree: BlobId(Id([7; 32])),
            summary: Default::default(),
            program: "test".into(),
            original: None,
        }
    }

    /// A repository with two good snapshots and a newer damaged one.
    fn repo_with_damaged_newest() -> (Repository, SnapshotId, SnapshotId) {
        let backend = Arc::new(MemoryBackend::new());
        let options = InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let repo = Repository::init(backend.clone(), b"pw", &options).unwrap();
        save_snapshot(&repo, &manifest(100)).unwrap();
        let older = save_snapshot(&repo, &manifest(200)).unwrap();
        let newest = save_snapshot(&repo, &manifest(300)).unwrap();
        let name = newest.to_hex();
        let mut bytes = backend.read(FileKind::Snapshot, &name).unwrap();
        bytes[40] ^= 1;
        backend.remove(FileKind::Snapshot, &name).unwrap();
        backend.write(FileKind::Snapshot, &name, &bytes).unwrap();
        (repo, older, newest)
    }

    #[test]
    fn a_damaged_newest_snapshot_stops_latest_unless_skipping() {
        let (repo, older, newest) = repo_with_damaged_newest();
        let err = Selection::refusing()
            .find(&repo, "latest", |_| true)
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SnapshotError::DamagedListing { .. }), "{err}");
        assert!(text.contains(&format!("snapshots/{newest}")), "{text}");
        assert!(text.contains("--skip-damaged-snapshots"), "{text}");
        assert!(text.contains(&format!("snap forget {newest}")), "{text}");
        // The free functions refuse too.
        assert!(crate::snapshot::list_snapshots(&repo).is_err());

        let skipping = Selection::skipping(None);
        let (id, _) = skipping.clone().find(&repo, "latest", |_| true).unwrap();
        assert_eq!(id, older);
        // Twice, through a clone: recorded once, seen by every clone.
        skipping.list(&repo).unwrap();
        let skipped = skipping.skipped();
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].id, newest);
        assert!(skipped[0].reason.contains("does not match its name"));
    }

    #[test]
    fn a_damaged_snapshot_named_by_id_is_an_error_even_when_skipping() {
        let (repo, _, newest) = repo_with_damaged_newest();
        let err = Selection::skipping(None)
            .find(&repo, &newest.to_hex()[..8], |_| true)
            .unwrap_err();
        assert!(matches!(err, SnapshotError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains(&format!("snap forget {newest}")));
    }

    #[test]
    fn undecryptable_and_malformed_manifests_are_damaged_with_a_reason() {
        let (repo, _, _) = repo_with_damaged_newest();
        // Sealed with another kind: fails authentication as a snapshot.
        let id = repo
            .save_file(FileKind::Snapshot, SealKind::Index, b"{}")
            .unwrap();
        // Sealed right, but not a manifest.
        let bad = repo
            .save_file(FileKind::Snapshot, SealKind::Snapshot, b"{\"version\":1}")
            .unwrap();
        let listing = list_snapshots_checked(&repo).unwrap();
        assert_eq!(listing.snapshots.len(), 2);
        assert_eq!(listing.damaged.len(), 3);
        let reason = |x: Id| {
            listing
                .damaged
                .iter()
                .find(|d| d.id.0 == x)
                .unwrap()
                .reason
                .clone()
        };
        assert!(
            reason(id).contains("failed authentication"),
            "{}",
            reason(id)
        );
        assert!(reason(bad).contains("missing field"), "{}", reason(bad));
    }
}

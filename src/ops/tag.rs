//! `snap tag`: changes the tags of snapshots. A manifest is never modified in
//! place (spec §8): the new one is written, with `original` naming the
//! snapshot it replaces, and only then is the old one removed, so a crash
//! leaves both rather than neither.

use serde::Serialize;

use super::OpError;
use crate::id::{FileKind, SnapshotId};
use crate::repo::{LockKind, RepoError, Repository};
use crate::snapshot::{save_snapshot, Selection, SnapshotManifest};

/// How to change the tags.
#[derive(Clone, Debug, Default)]
pub struct TagChange {
    /// Replace all tags with these (empty strings dropped: `--set ''` clears).
    pub set: Option<Vec<String>>,
    /// Tags to add.
    pub add: Vec<String>,
    /// Tags to remove.
    pub remove: Vec<String>,
}

/// Errors particular to `tag`.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// No change asked for.
    #[error("nothing to change: give --add, --remove or --set")]
    NoChange,
    /// --set with --add or --remove.
    #[error("--set replaces every tag, so it cannot be combined with --add or --remove")]
    SetWithOthers,
    /// A tag with a comma or surrounding spaces, which filters could not match.
    #[error("tag {0:?} is not allowed: tags may not be empty, contain commas or start or end with spaces")]
    BadTag(String),
}

impl TagChange {
    fn validate(&self) -> Result<(), TagError> {
        if self.set.is_none() && self.add.is_empty() && self.remove.is_empty() {
            return Err(TagError::NoChange);
        }
        if self.set.is_some() && !(self.add.is_empty() && self.remove.is_empty()) {
            return Err(TagError::SetWithOthers);
        }
        let new = self.set.iter().flatten().filter(|t| !t.is_empty());
        for t in new.chain(&self.add) {
            if t.is_empty() || t.contains(',') || t.trim() != t {
                return Err(TagError::BadTag(t.clone()));
            }
        }
        Ok(())
    }

    /// The tags after the change, in first-seen order without duplicates.
    fn apply(&self, tags: &[String]) -> Vec<String> {
        let base: Vec<String> = match &self.set {
            Some(set) => set.iter().filter(|t| !t.is_empty()).cloned().collect(),
            None => tags.to_vec(),
        };
        let mut out: Vec<String> = Vec::new();
        for t in base.into_iter().chain(self.add.iter().cloned()) {
            if !self.remove.contains(&t) && !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

/// One snapshot's change.
#[derive(Debug, Serialize)]
pub struct Retagged {
    /// The snapshot as named.
    pub old_id: String,
    /// Its replacement; equal to `old_id` when the tags did not change.
    pub new_id: String,
    /// Its tags now.
    pub tags: Vec<String>,
    /// False when the tags were already as asked.
    pub changed: bool,
}

/// Changes the tags of every snapshot `queries` names.
pub fn tag(
    repo: &Repository,
    queries: &[String],
    change: &TagChange,
    selection: &Selection,
) -> Result<Vec<Retagged>, OpError> {
    change.validate()?;
    let _lock = repo.lock(LockKind::Shared)?;
    let mut targets: Vec<(SnapshotId, SnapshotManifest)> = Vec::new();
    for q in queries {
        let (id, m) = selection.find(repo, q, |_| true)?;
        if !targets.iter().any(|(t, _)| *t == id) {
            targets.push((id, m));
        }
    }
    let mut report = Vec::new();
    for (id, manifest) in targets {
        let tags = change.apply(&manifest.tags);
        if tags == manifest.tags {
            report.push(Retagged {
                old_id: id.to_hex(),
                new_id: id.to_hex(),
                tags,
                changed: false,
            });
            continue;
        }
        let new = SnapshotManifest {
            tags: tags.clone(),
            original: Some(manifest.original.unwrap_or(id)),
            ..manifest
        };
        let new_id = save_snapshot(repo, &new)?;
        repo.backend()
            .remove(FileKind::Snapshot, &id.to_hex())
            .map_err(RepoError::from)?;
        report.push(Retagged {
            old_id: id.to_hex(),
            new_id: new_id.to_hex(),
            tags,
            changed: true,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn changes_apply_in_order_without_duplicates() {
        let add = TagChange {
            add: s(&["b", "c", "b"]),
            ..Default::default()
        };
        assert_eq!(add.apply(&s(&["a", "b"])), s(&["a", "b", "c"]));
        let remove = TagChange {
            remove: s(&["a", "zz"]),
            add: s(&["d"]),
            ..Default::default()
        };
        assert_eq!(remove.apply(&s(&["a", "b"])), s(&["b", "d"]));
        let set = TagChange {
            set: Some(s(&["x", "", "x"])),
            ..Default::default()
        };
        assert_eq!(set.apply(&s(&["a"])), s(&["x"]));
        let clear = TagChange {
            set: Some(s(&[""])),
            ..Default::default()
        };
        assert!(clear.apply(&s(&["a"])).is_empty());
        assert!(clear.validate().is_ok());
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(matches!(
            TagChange::default().validate(),
            Err(TagError::NoChange)
        ));
        let both = TagChange {
            set: Some(s(&["a"])),
            add: s(&["b"]),
            ..Default::default()
        };
        assert!(matches!(both.validate(), Err(TagError::SetWithOthers)));
        for bad in ["a,b", " a", ""] {
            let c = TagChange {
                add: s(&[bad]),
                ..Default::default()
            };
            assert!(matches!(c.validate(), Err(TagError::BadTag(_))), "{bad:?}");
        }
    }
}

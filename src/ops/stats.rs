//! `snap stats`: how big snapshots are when restored, how much they store,
//! and what deduplication and compression save.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::OpError;
use crate::id::{BlobId, FileKind};
use crate::repo::{RepoError, Repository};
use crate::snapshot::{load_tree, DamagedSnapshot, Selection, SnapshotManifest};

/// Sizes of one snapshot or of all of them.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// Snapshots counted.
    pub snapshots: usize,
    /// Files, counted once per snapshot they are in.
    pub files: u64,
    /// Folders, likewise.
    pub dirs: u64,
    /// Bytes a restore of every counted snapshot writes.
    pub restore_size: u64,
    /// Distinct blobs (data and tree) they use.
    pub blobs: usize,
    /// Plaintext bytes of those blobs: what is left after deduplication.
    pub unique_size: u64,
    /// Stored (compressed and sealed) bytes of those blobs.
    pub stored_size: u64,
    /// `restore_size / unique_size`: how many times deduplication shrinks it.
    pub dedup_ratio: f64,
    /// `unique_size / stored_size`: how many times compression shrinks that.
    pub compression_ratio: f64,
    /// Bytes of every pack in the repository (with packs no snapshot uses).
    pub repository_size: u64,
    /// Damaged snapshot files left out (only when skipping them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_snapshots: Vec<DamagedSnapshot>,
}

/// Stats of the snapshot `query` names, or of every snapshot; damaged
/// snapshot files fail it unless `selection` skips them.
pub fn stats(
    repo: &mut Repository,
    query: Option<&str>,
    selection: &Selection,
) -> Result<Stats, OpError> {
    let manifests: Vec<SnapshotManifest> = match query {
        Some(q) => vec![selection.find(repo, q, |_| true)?.1],
        None => selection.list(repo)?.into_iter().map(|(_, m)| m).collect(),
    };
    repo.load_index()?;
    let mut s = Stats {
        snapshots: manifests.len(),
        ..Default::default()
    };
    let mut blobs: HashSet<BlobId> = HashSet::new();
    let mut seen = HashMap::new();
    for m in &manifests {
        let t = count_tree(repo, &m.tree, &mut seen, &mut blobs)?;
        s.files += t.files;
        s.dirs += t.dirs;
        s.restore_size += t.bytes;
    }
    for id in &blobs {
        let loc = repo
            .index()
            .get(id)
            .ok_or(RepoError::MissingBlob { blob: *id })?;
        s.unique_size += loc.raw_len as u64;
        s.stored_size += loc.stored_len as u64;
    }
    s.blobs = blobs.len();
    s.skipped_snapshots = selection.skipped();
    s.dedup_ratio = ratio(s.restore_size, s.unique_size);
    s.compression_ratio = ratio(s.unique_size, s.stored_size);
    s.repository_size = repo
        .backend()
        .list(FileKind::Pack)
        .map_err(RepoError::from)?
        .iter()
        .map(|f| f.size)
        .sum();
    Ok(s)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Files, folders and restore bytes under one tree.
#[derive(Clone, Copy, Default)]
struct TreeTotals {
    files: u64,
    dirs: u64,
    bytes: u64,
}

/// Totals under `tree`, collecting its blobs; a tree met before (in this or
/// an earlier snapshot) is not read again.
fn count_tree(
    repo: &Repository,
    tree: &BlobId,
    seen: &mut HashMap<BlobId, TreeTotals>,
    blobs: &mut HashSet<BlobId>,
) -> Result<TreeTotals, OpError> {
    if let Some(t) = seen.get(tree) {
        return Ok(*t);
    }
    blobs.insert(*tree);
    let mut t = TreeTotals::default();
    for node in load_tree(repo, tree)?.nodes {
        match (&node.content, &node.subtree) {
            (_, Some(sub)) => {
                let below = count_tree(repo, sub, seen, blobs)?;
                t.dirs += 1 + below.dirs;
                t.files += below.files;
                t.bytes += below.bytes;
            }
            (Some(content), None) => {
                t.files += 1;
                t.bytes += node.size;
                blobs.extend(content.iter().copied());
            }
            (None, None) => {}
        }
    }
    seen.insert(*tree, t);
    Ok(t)
}

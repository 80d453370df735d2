//! `snap copy`: copies snapshots into another repository with its own master
//! key. Blob IDs are keyed per repository, so every tree is rewritten with the
//! target's IDs; a blob is uploaded only if the target lacks it.
//!
//! Downloads are kept down two ways: a snapshot already copied (the target
//! has one whose `original` is the source snapshot's) is skipped, and the
//! copies of a snapshot's parent are walked beside the parent itself to learn
//! which target tree and blob each source tree and blob became, so unchanged
//! folders and files are not read again.
//!
//! Write order as a backup (§8): packs, then index, then the manifests.

use std::collections::HashMap;
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use super::OpError;
use crate::id::{BlobId, SnapshotId};
use crate::pack::BlobKind;
use crate::repo::{BlobSaver, LockKind, Repository};
use crate::snapshot::{
    load_tree, save_snapshot, save_tree, DamagedSnapshot, Selection, SnapshotManifest, Tree,
};

/// One snapshot's fate.
#[derive(Debug, Serialize)]
pub struct Copied {
    /// The source snapshot.
    pub source: String,
    /// Its copy in the target; for a skipped one, the copy made earlier.
    pub target: String,
    /// False when the target had it already.
    pub copied: bool,
}

/// What `copy` did.
#[derive(Debug, Default, Serialize)]
pub struct CopyReport {
    /// Every snapshot considered, oldest first.
    pub snapshots: Vec<Copied>,
    /// Blobs read from the source.
    pub blobs_read: u64,
    /// Blobs the target lacked, stored.
    pub blobs_added: u64,
    /// Their plaintext bytes.
    pub data_added: u64,
    /// Bytes written to the target (packs and index).
    pub data_added_stored: u64,
    /// Damaged snapshot files of either repository that were left out
    /// (only when skipping them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_snapshots: Vec<DamagedSnapshot>,
}

/// Source blob or tree ID to target ID.
type IdMap = Mutex<HashMap<BlobId, BlobId>>;

/// Copies the snapshots `queries` names (all when empty) from `source` to
/// `target`. Damaged snapshot files, in the source (copying everything, or
/// `latest`) and in the target (whose snapshots say what was copied
/// before), fail the copy unless `selection` skips them.
pub fn copy(
    source: &mut Repository,
    target: &mut Repository,
    queries: &[String],
    connections: usize,
    selection: &Selection,
) -> Result<CopyReport, OpError> {
    let _source_lock = source.lock(LockKind::Shared)?;
    let _target_lock = target.lock(LockKind::Shared)?;
    let wanted: Vec<(SnapshotId, SnapshotManifest)> = if queries.is_empty() {
        selection.list(source)?
    } else {
        let mut v: Vec<(SnapshotId, SnapshotManifest)> = Vec::new();
        for q in queries {
            let found = selection.find(source, q, |_| true)?;
            if !v.iter().any(|(id, _)| *id == found.0) {
                v.push(found);
            }
        }
        v.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        v
    };
    source.load_index()?;
    target.load_index()?;

    // Target snapshots by the source snapshot they are a copy of. A damaged
    // one could be the copy of anything: skipped, that snapshot is copied
    // again, which duplicates but loses nothing.
    let existing = selection.list(target)?;
    let mut copies: HashMap<SnapshotId, (SnapshotId, SnapshotManifest)> = HashMap::new();
    for (id, m) in existing {
        if let Some(o) = m.original {
            copies.entry(o).or_insert((id, m));
        }
    }
    let origin = |id: &SnapshotId, m: &SnapshotManifest| m.original.unwrap_or(*id);

    let map: IdMap = Mutex::new(HashMap::new());
    let saver = target.blob_saver(connections);
    let ctx = Ctx {
        source,
        target,
        saver: &saver,
        map: &map,
        read: Default::default(),
    };
    let mut report = CopyReport::default();
    let mut pending: Vec<(SnapshotId, SnapshotManifest)> = Vec::new();
    for (id, manifest) in &wanted {
        let key = origin(id, manifest);
        if let Some((copy_id, _)) = copies.get(&key) {
            report.snapshots.push(Copied {
                source: id.to_hex(),
                target: copy_id.to_hex(),
                copied: false,
            });
            continue;
        }
        // Learn from the parent's copy what its trees and blobs became.
        if let Some(parent) = manifest.parent {
            if let Some((src_tree, dst_tree)) = ctx.parent_copy(&parent, &copies) {
                ctx.learn(&src_tree, &dst_tree)?;
            }
        }
        let tree = ctx.copy_tree(&manifest.tree)?;
        let new = SnapshotManifest {
            tree,
            original: Some(key),
            ..manifest.clone()
        };
        pending.push((*id, new));
    }
    report.blobs_read = *lock(&ctx.read);
    let stats = saver.finish()?;
    report.blobs_added = stats.blobs_added;
    report.data_added = stats.raw_bytes_added;
    report.data_added_stored = stats.stored_bytes_added;
    // Oldest first, so a parent copied in this run is saved before its child.
    let mut saved: HashMap<SnapshotId, SnapshotId> = HashMap::new();
    for (id, mut manifest) in pending {
        manifest.parent = manifest.parent.and_then(|p| {
            saved
                .get(&p)
                .copied()
                .or_else(|| copies.get(&p).map(|(c, _)| *c))
        });
        let new_id = save_snapshot(target, &manifest)?;
        saved.insert(id, new_id);
        report.snapshots.push(Copied {
            source: id.to_hex(),
            target: new_id.to_hex(),
            copied: true,
        });
    }
    report.skipped_snapshots = selection.skipped();
    Ok(report)
}

struct Ctx<'a> {
    source: &'a Repository,
    target: &'a Repository,
    saver: &'a BlobSaver<'a>,
    map: &'a IdMap,
    read: Mutex<u64>,
}

impl Ctx<'_> {
    /// Rewrites one source tree, depth first, with the target's IDs.
    fn copy_tree(&self, id: &BlobId) -> Result<BlobId, OpError> {
        if let Some(done) = lock(self.map).get(id) {
            return Ok(*done);
        }
        let mut tree = load_tree(self.source, id)?;
        *lock(&self.read) += 1;
        // File content of the whole folder at once, in parallel.
        let todo: Vec<BlobId> = {
            let map = lock(self.map);
            let mut v: Vec<BlobId> = tree
                .nodes
                .iter()
                .flat_map(|n| n.content.iter().flatten())
                .filter(|b| !map.contains_key(b))
                .copied()
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let done: Vec<(BlobId, BlobId)> = todo
            .par_iter()
            .map(|b| -> Result<(BlobId, BlobId), OpError> {
                let plain = self.source.load_blob(b)?;
                let (new, _) = self.saver.save(BlobKind::Data, &plain)?;
                Ok((*b, new))
            })
            .collect::<Result<_, _>>()?;
        *lock(&self.read) += done.len() as u64;
        lock(self.map).extend(done);
        for node in &mut tree.nodes {
            if let Some(content) = &mut node.content {
                let map = lock(self.map);
                for b in content.iter_mut() {
                    *b = map[b];
                }
            }
            if let Some(sub) = node.subtree {
                node.subtree = Some(self.copy_tree(&sub)?);
            }
        }
        let new = save_tree(self.saver, &Tree::new(tree.nodes))?;
        lock(self.map).insert(*id, new);
        Ok(new)
    }

    /// The root trees of a parent snapshot and of its copy in the target,
    /// if it was copied before (under its own ID or its `original`).
    fn parent_copy(
        &self,
        parent: &SnapshotId,
        copies: &HashMap<SnapshotId, (SnapshotId, SnapshotManifest)>,
    ) -> Option<(BlobId, BlobId)> {
        let pm = crate::snapshot::load_snapshot(self.source, parent).ok()?;
        let copy = copies.get(parent).or_else(|| copies.get(&pm.original?))?;
        Some((pm.tree, copy.1.tree))
    }

    /// Walks a source tree and its copy in the target side by side and
    /// records which target IDs its trees and blobs became. Only trees are
    /// read. A blob maps only if the target holds it live, and a tree only
    /// if everything under it maps, since a new snapshot will rely on it
    /// without storing it (the deduplication rule of §8). Returns whether
    /// the tree mapped.
    fn learn(&self, src: &BlobId, dst: &BlobId) -> Result<bool, OpError> {
        if lock(self.map).contains_key(src) {
            return Ok(true);
        }
        let (a, b) = (load_tree(self.source, src)?, load_tree(self.target, dst)?);
        let mut whole = a.nodes.len() == b.nodes.len() && self.target.index().is_live(dst);
        for x in &a.nodes {
            let Some(y) = b.find(x.name.as_bytes()) else {
                whole = false;
                continue;
            };
            if let Some(cx) = &x.content {
                match &y.content {
                    Some(cy) if cx.len() == cy.len() && x.size == y.size => {
                        let mut map = lock(self.map);
                        for (s, t) in cx.iter().zip(cy) {
                            if self.target.index().is_live(t) {
                                map.insert(*s, *t);
                            } else {
                                whole = false;
                            }
                        }
                    }
                    _ => whole = false,
                }
            }
            match (x.subtree, y.subtree) {
                (Some(sx), Some(sy)) => whole &= self.learn(&sx, &sy)?,
                (Some(_), None) => whole = false,
                _ => {}
            }
        }
        if whole {
            lock(self.map).insert(*src, *dst);
        }
        Ok(whole)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

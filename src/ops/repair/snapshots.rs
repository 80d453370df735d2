//! `snap repair snapshots`: for each snapshot that needs blobs that are
//! gone, write a new snapshot without what lost content (spec §10).
//!
//! A blob is gone when no index lists it, when the pack the index names is
//! not in the backend's listing, or (with `read_data`) when it fails to
//! load. What needs one is **cut**, never truncated, and listed:
//!
//! - a file (or etcd key) whose content needs a gone blob;
//! - a folder whose tree is gone, with everything below it;
//! - a git repository with any gone object (a repository missing objects is
//!   not a repository);
//! - a run of etcd keys whose range tree is gone (named by its first key).
//!
//! The new snapshot keeps the manifest (time, host, paths, tags, parent),
//! gains the tag `repaired`, names the snapshot it repairs in `original`,
//! and carries etcd and git source records recomputed for what remains
//! (key count, value bytes, keyspace digest; repository count), so a
//! restore of it verifies. The damaged snapshot stays unless `forget` is
//! set. Write order as a backup's (§8): trees, index, then the manifest.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;

use crate::id::{BlobId, FileKind, Id, PackId, SnapshotId};
use crate::ops::OpError;
use crate::repo::{BlobSaver, LockKind, RepoError, Repository};
use crate::snapshot::{
    load_snapshot, load_tree, save_snapshot, save_tree, KeyspaceDigest, Node, NodeType,
    SnapshotManifest, Tree,
};

/// The tag a repaired snapshot gets.
pub const REPAIRED_TAG: &str = "repaired";

/// What to repair and how.
#[derive(Clone, Debug, Default)]
pub struct RepairSnapshotsOptions {
    /// Snapshot IDs or prefixes; empty: every snapshot.
    pub snapshots: Vec<String>,
    /// Remove each damaged snapshot once its repaired copy is stored.
    pub forget: bool,
    /// Report what would be cut; write nothing.
    pub dry_run: bool,
    /// Load every data blob the snapshots need, so damaged blobs (not only
    /// missing ones) are cut too. Reads all the data.
    pub read_data: bool,
}

/// What repair found and did.
#[derive(Debug, Default, Serialize)]
pub struct RepairSnapshotsReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Snapshots looked at.
    pub snapshots_checked: usize,
    /// Those that needed nothing.
    pub snapshots_intact: usize,
    /// Those repaired (or, in a dry run, to repair).
    pub repaired: Vec<RepairedSnapshot>,
    /// Snapshot files that cannot be read at all: nothing to repair from;
    /// `snap forget` them.
    pub unreadable: Vec<String>,
}

/// One damaged snapshot and its repaired copy.
#[derive(Debug, Default, Serialize)]
pub struct RepairedSnapshot {
    /// The damaged snapshot's ID.
    pub snapshot: String,
    /// The repaired copy's ID (absent in a dry run, or when nothing was left).
    pub repaired_as: Option<String>,
    /// The damaged snapshot was removed.
    pub forgotten: bool,
    /// Every path cut, with why (`/etc/app.conf: blob 1a2b3c4d is gone`).
    pub cut: Vec<String>,
    /// etcd keys cut.
    pub etcd_keys_cut: u64,
    /// git repositories cut.
    pub git_repositories_cut: u64,
    /// Bytes of content lost (file sizes, value lengths).
    pub bytes_lost: u64,
}

/// Repairs snapshots; see the module documentation.
pub fn repair_snapshots(
    repo: &mut Repository,
    options: &RepairSnapshotsOptions,
) -> Result<RepairSnapshotsReport, OpError> {
    let _lock = repo.lock(LockKind::Shared)?;
    repo.load_index()?;
    let listed: HashSet<PackId> = repo
        .backend()
        .list(FileKind::Pack)
        .map_err(RepoError::from)?
        .into_iter()
        .filter_map(|f| Id::from_hex(&f.name).ok().map(PackId))
        .collect();
    let ids: Vec<SnapshotId> = if options.snapshots.is_empty() {
        let mut all: Vec<SnapshotId> = repo
            .list_ids(FileKind::Snapshot)?
            .into_iter()
            .map(SnapshotId)
            .collect();
        all.sort();
        all
    } else {
        options
            .snapshots
            .iter()
            .map(|q| repo.find_id(FileKind::Snapshot, q).map(SnapshotId))
            .collect::<Result<_, _>>()?
    };
    let mut report = RepairSnapshotsReport {
        dry_run: options.dry_run,
        snapshots_checked: ids.len(),
        ..Default::default()
    };
    let mut pending: Vec<(SnapshotId, SnapshotManifest, RepairedSnapshot)> = Vec::new();
    {
        let repo: &Repository = repo;
        let saver = repo.blob_saver(repo.backend().preferred_connections());
        let mut cutter = Cutter {
            repo,
            saver: &saver,
            listed: &listed,
            read_data: options.read_data,
            dry_run: options.dry_run,
            loaded: HashMap::new(),
            trees: HashMap::new(),
        };
        for id in ids {
            let manifest = match load_snapshot(repo, &id) {
                Ok(m) => m,
                Err(e) => {
                    report.unreadable.push(format!("{} ({e})", id.to_hex()));
                    continue;
                }
            };
            let root = cutter.tree(&manifest.tree)?;
            if root.cuts.is_empty() && root.id.is_some() {
                report.snapshots_intact += 1;
                continue;
            }
            let mut repaired = RepairedSnapshot {
                snapshot: id.to_hex(),
                ..Default::default()
            };
            for cut in &root.cuts {
                repaired.cut.push(format!("/{}: {}", cut.path, cut.why));
                repaired.bytes_lost += cut.bytes;
                repaired.etcd_keys_cut += cut.etcd_keys;
                repaired.git_repositories_cut += cut.git_repos;
            }
            let Some(tree) = root.id else {
                // Even the root tree is gone: nothing is left to keep.
                repaired.cut.push("/: the root tree is gone".into());
                report.repaired.push(repaired);
                continue;
            };
            let mut new = manifest.clone();
            new.tree = tree;
            new.original = Some(manifest.original.unwrap_or(id));
            if !new.tags.iter().any(|t| t == REPAIRED_TAG) {
                new.tags.push(REPAIRED_TAG.to_string());
                new.tags.sort();
            }
            new.program = format!("snap {}", env!("CARGO_PKG_VERSION"));
            pending.push((id, new, repaired));
        }
        if options.dry_run {
            report
                .repaired
                .extend(pending.into_iter().map(|(_, _, r)| r));
            return Ok(report);
        }
        // Trees, then their index, then the manifests (§8).
        drop(cutter);
        saver.finish()?;
    }
    repo.load_index()?;
    for (id, mut manifest, mut repaired) in pending {
        recount_sources(repo, &mut manifest)?;
        let new_id = save_snapshot(repo, &manifest)?;
        repaired.repaired_as = Some(new_id.to_hex());
        if options.forget {
            repo.check_locks()?;
            repo.backend()
                .remove(FileKind::Snapshot, &id.to_hex())
                .map_err(RepoError::from)?;
            repaired.forgotten = true;
        }
        report.repaired.push(repaired);
    }
    Ok(report)
}

/// One thing cut, with its path relative to the tree it was found in.
#[derive(Clone, Debug)]
struct Cut {
    path: String,
    why: String,
    bytes: u64,
    etcd_keys: u64,
    git_repos: u64,
}

impl Cut {
    fn under(&self, prefix: &str) -> Cut {
        Cut {
            path: format!("{prefix}{}", self.path),
            ..self.clone()
        }
    }
}

/// A tree rewritten: its new ID (`None` when the tree itself is gone), the
/// total size of what it holds, and what was cut below it.
#[derive(Clone, Debug)]
struct Rewritten {
    id: Option<BlobId>,
    size: u64,
    cuts: Vec<Cut>,
}

struct Cutter<'a, 'r> {
    repo: &'a Repository,
    saver: &'a BlobSaver<'r>,
    listed: &'a HashSet<PackId>,
    read_data: bool,
    dry_run: bool,
    /// Data blobs loaded once (with `read_data`): whether they loaded.
    loaded: HashMap<BlobId, bool>,
    /// Trees rewritten, by ID: snapshots share most of their trees.
    trees: HashMap<BlobId, Rewritten>,
}

impl Cutter<'_, '_> {
    /// Why a blob is gone, or `None` when it can be read.
    fn gone(&mut self, blob: &BlobId, is_data: bool) -> Option<String> {
        let Some(loc) = self.repo.index().get(blob) else {
            return Some(format!("blob {} is in no index", blob.short()));
        };
        if !self.listed.contains(&loc.pack) {
            return Some(format!(
                "blob {} is in pack {}, which is gone",
                blob.short(),
                loc.pack.short()
            ));
        }
        if is_data && self.read_data {
            let ok = *self
                .loaded
                .entry(*blob)
                .or_insert_with(|| self.repo.load_blob(blob).is_ok());
            if !ok {
                return Some(format!(
                    "blob {} in pack {} is damaged",
                    blob.short(),
                    loc.pack.short()
                ));
            }
        }
        None
    }

    /// Rewrites tree `id` without what lost content.
    fn tree(&mut self, id: &BlobId) -> Result<Rewritten, OpError> {
        if let Some(done) = self.trees.get(id) {
            return Ok(done.clone());
        }
        let tree = match self.gone(id, false) {
            Some(_) => None,
            None => load_tree(self.repo, id).ok(),
        };
        let Some(tree) = tree else {
            let gone = Rewritten {
                id: None,
                size: 0,
                cuts: Vec::new(),
            };
            return Ok(gone);
        };
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        let mut cuts = Vec::new();
        let mut changed = false;
        let mut size = 0;
        for mut node in tree.nodes {
            let name = node.name.display();
            match self.node(&mut node, &name)? {
                Verdict::Keep => {}
                Verdict::Changed(below) => {
                    changed = true;
                    cuts.extend(below);
                }
                Verdict::Cut(cut) => {
                    changed = true;
                    cuts.push(cut);
                    continue;
                }
            }
            size += node.size;
            nodes.push(node);
        }
        let new_id = if !changed {
            *id
        } else if self.dry_run {
            // A stand-in: dry runs store nothing, and only the cuts are shown.
            *id
        } else {
            save_tree(self.saver, &Tree::new(nodes))?
        };
        let done = Rewritten {
            id: Some(new_id),
            size,
            cuts,
        };
        self.trees.insert(*id, done.clone());
        Ok(done)
    }

    /// Decides one node's fate, rewriting its subtree in place.
    fn node(&mut self, node: &mut Node, name: &str) -> Result<Verdict, OpError> {
        let cut = |why: String, node: &Node| Cut {
            path: name.to_string(),
            why,
            bytes: node.size,
            etcd_keys: u64::from(node.node_type == NodeType::EtcdKey),
            git_repos: u64::from(node.node_type == NodeType::GitRepo),
        };
        match node.node_type {
            NodeType::File | NodeType::EtcdKey => {
                let content = node.content.clone().unwrap_or_default();
                for blob in &content {
                    if let Some(why) = self.gone(blob, true) {
                        return Ok(Verdict::Cut(cut(why, node)));
                    }
                }
                Ok(Verdict::Keep)
            }
            NodeType::GitRepo => match node.subtree {
                Some(sub) => match self.first_loss(&sub, 0)? {
                    Some(why) => Ok(Verdict::Cut(cut(format!("git repository: {why}"), node))),
                    None => Ok(Verdict::Keep),
                },
                None => Ok(Verdict::Keep),
            },
            NodeType::Dir | NodeType::Etcd | NodeType::EtcdRange | NodeType::Git => {
                let Some(sub) = node.subtree else {
                    return Ok(Verdict::Keep);
                };
                let done = self.tree(&sub)?;
                let Some(new) = done.id else {
                    let why = match node.node_type {
                        NodeType::EtcdRange => {
                            "the tree of the etcd keys from here to the next range is gone"
                        }
                        _ => "its tree is gone, with everything in it",
                    };
                    let mut c = cut(why.to_string(), node);
                    if node.node_type == NodeType::EtcdRange {
                        c.etcd_keys = 1;
                    }
                    return Ok(Verdict::Cut(c));
                };
                if new == sub && done.cuts.is_empty() {
                    return Ok(Verdict::Keep);
                }
                node.subtree = Some(new);
                if node.node_type != NodeType::Dir {
                    node.size = done.size;
                }
                let prefix = match node.node_type {
                    NodeType::Dir => format!("{name}/"),
                    // Keys and repositories are shown under their source's node.
                    NodeType::Etcd | NodeType::Git => format!("{name}/"),
                    _ => String::new(),
                };
                let below = done.cuts.iter().map(|c| c.under(&prefix)).collect();
                Ok(Verdict::Changed(below))
            }
            _ => Ok(Verdict::Keep),
        }
    }

    /// The first reason anything under `id` (a repository's objects) is gone.
    fn first_loss(&mut self, id: &BlobId, depth: usize) -> Result<Option<String>, OpError> {
        if let Some(why) = self.gone(id, false) {
            return Ok(Some(why));
        }
        if depth > 64 {
            return Ok(Some("its trees nest too deep".into()));
        }
        let tree = match load_tree(self.repo, id) {
            Ok(t) => t,
            Err(e) => return Ok(Some(format!("tree {} cannot be read: {e}", id.short()))),
        };
        for node in &tree.nodes {
            for blob in node.content.iter().flatten() {
                if let Some(why) = self.gone(blob, true) {
                    return Ok(Some(why));
                }
            }
            if let Some(sub) = &node.subtree {
                if let Some(why) = self.first_loss(sub, depth + 1)? {
                    return Ok(Some(why));
                }
            }
        }
        Ok(None)
    }
}

enum Verdict {
    /// Unchanged.
    Keep,
    /// Its subtree lost something; the node stays with the new subtree.
    Changed(Vec<Cut>),
    /// The node goes.
    Cut(Cut),
}

/// Recomputes what the etcd and git source records say of the captured
/// content, from the repaired trees: a restore verifies against them.
fn recount_sources(repo: &Repository, manifest: &mut SnapshotManifest) -> Result<(), OpError> {
    let root = load_tree(repo, &manifest.tree)?;
    for source in &mut manifest.sources {
        let Some(node) = source
            .node
            .as_deref()
            .and_then(|name| root.find(name.as_bytes()))
        else {
            continue;
        };
        let Some(sub) = node.subtree else { continue };
        if let Some(etcd) = &mut source.etcd {
            let mut digest = KeyspaceDigest::new();
            let mut bytes = 0;
            let mut leases = BTreeSet::new();
            crate::snapshot::for_each_etcd_key(repo, &sub, &[], &mut |key| {
                if let Some(meta) = &key.etcd {
                    digest.add(key.name.as_bytes(), &meta.value_hash);
                    if meta.lease != 0 {
                        leases.insert(meta.lease);
                    }
                }
                bytes += key.size;
                Ok(())
            })?;
            etcd.keys = digest.count();
            etcd.value_bytes = bytes;
            etcd.digest = digest.finish();
            etcd.leases.retain(|l| leases.contains(&l.id));
            source.resources = etcd.keys;
            manifest.summary.etcd_keys = etcd.keys;
        } else if source.kind == "git" {
            source.resources = load_tree(repo, &sub)?.nodes.len() as u64;
        }
    }
    Ok(())
}

//! Capturing git repositories (spec §15.2, §15.4): per repository, its refs
//! read once, then its objects as pack data that git itself writes (`git
//! pack-objects`, reusing the deltas on disk), streamed through the
//! repository's chunker into data blobs, never held whole in memory.
//!
//! The first capture of a repository stores one full pack; later ones a
//! thin pack of what the new refs reach and the parent snapshot's refs do
//! not; refs that did not move reuse the parent's node, reading nothing.
//! A fork or copy of another repository of the snapshot builds on that
//! one's chain. The chain a restore replays is kept short ([`MAX_CHAIN`]).
//! Repositories are captured in parallel; one git cannot read is recorded as
//! failed, with the reason, and becomes a warning (exit 3) instead of
//! failing the backup. The pack stream itself is `git_pack`'s.

use std::path::PathBuf;

use rayon::prelude::*;

use super::git_pack::{write_pack, PackError};
use super::{ArchiveError, BackupProgress};
use crate::chunker::Chunker;
use crate::id::BlobId;
use crate::repo::{BlobSaver, RepoError, Repository};
use crate::snapshot::{
    self, GitRefRecord, GitRepoMeta, Node, NodeName, NodeType, SourceRecord, Tree,
};
use crate::source::git::{self as source, FoundRepo, GitRefValue};
use crate::source::SourceError;

/// The root-tree name of captured git repositories.
pub const GIT_NODE_NAME: &str = "@git";

/// Most packs a repository's chain holds (§15.4): a capture that would add
/// one more writes a fresh full pack instead, so a restore feeds git at most
/// this many packs.
pub const MAX_CHAIN: usize = 16;

/// A capture writes a full pack instead of an increment once the chain's
/// increments together exceed the full pack's size divided by this (half of
/// it): past that, replaying them costs more than a new base.
pub const INCREMENTS_SHARE: u64 = 2;

/// What git repositories to capture.
#[derive(Clone, Debug)]
pub struct GitBackupOptions {
    /// A repository, or a folder holding repositories.
    pub root: PathBuf,
    /// The location as given (`git:PATH`).
    pub location: String,
}

/// Captured repositories: the root-tree node, the manifest's record, and a
/// warning for each repository that could not be read.
pub(super) struct GitCaptured {
    pub node: Node,
    pub record: SourceRecord,
    pub warnings: Vec<String>,
}

/// What the capture works with.
pub(super) struct GitContext<'a, 'r> {
    pub repo: &'r Repository,
    pub saver: &'a BlobSaver<'r>,
    pub chunker: &'a Chunker,
    pub progress: &'a BackupProgress,
    /// Repositories captured at once (`--threads`; 0: one per core).
    pub threads: usize,
}

/// One repository's outcome: its node, its chain, and why it could not be
/// read.
struct RepoCaptured {
    node: Node,
    packs: Vec<Node>,
    warning: Option<String>,
}

/// A repository once its refs are read, with the parent's chain when the
/// capture may build on it.
struct Planned<'p> {
    found: &'p FoundRepo,
    name: String,
    read: Result<(Vec<GitRefValue>, String), SourceError>,
    parent: Option<&'p Node>,
    chain: Option<(GitRepoMeta, Vec<Node>)>,
    /// Whether git keeps a reachability bitmap for it.
    bitmap: bool,
}

/// How one repository is captured (§15.4).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Refs unchanged: the parent's node as it is.
    Reuse,
    /// A thin pack on the parent's chain.
    Extend,
    /// One full pack.
    Full,
    /// A thin pack on the chain of the repository at this index, captured
    /// first in this snapshot, which shares refs' targets with it (a fork
    /// or copy).
    Fork(usize),
}

/// Reads every repository under the location into packs and trees.
/// `parent` is the parent snapshot's `@git` node, if it has one.
pub(super) fn capture(
    ctx: &GitContext<'_, '_>,
    options: &GitBackupOptions,
    parent: Option<&Node>,
) -> Result<GitCaptured, ArchiveError> {
    // Without a working git every repository would fail: fail once, clearly.
    let version = source::git_version()?;
    let found = source::find_repos(&options.root)?;
    let parent_repos = parent_repositories(ctx.repo, parent);
    let threads = match ctx.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.min(found.len()).max(1))
        .build()
        .map_err(|e| ArchiveError::Pool(e.to_string()))?;
    let planned: Vec<Planned<'_>> = pool.install(|| {
        found
            .par_iter()
            .map(|f| plan(ctx, options, f, parent_repos.as_ref()))
            .collect()
    });
    let steps = steps(&planned);
    // Forks wait for the repositories they build on.
    let mut done: Vec<Option<RepoCaptured>> = pool.install(|| {
        planned
            .par_iter()
            .zip(&steps)
            .map(|(p, step)| match step {
                Step::Fork(_) => Ok(None),
                _ => capture_repo(ctx, p, *step, None).map(Some),
            })
            .collect::<Result<_, ArchiveError>>()
    })?;
    let forks: Vec<(usize, RepoCaptured)> = pool.install(|| {
        planned
            .par_iter()
            .zip(&steps)
            .enumerate()
            .filter_map(|(i, (p, step))| match step {
                Step::Fork(donor) => Some((i, p, *donor)),
                _ => None,
            })
            .map(|(i, p, donor)| {
                let base = match (&planned[donor].read, &done[donor]) {
                    (Ok((refs, _)), Some(d)) if d.warning.is_none() => Some((refs, &d.packs)),
                    _ => None,
                };
                let step = if base.is_some() {
                    Step::Fork(donor)
                } else {
                    Step::Full
                };
                capture_repo(ctx, p, step, base).map(|c| (i, c))
            })
            .collect::<Result<_, ArchiveError>>()
    })?;
    for (i, c) in forks {
        done[i] = Some(c);
    }
    let mut warnings = Vec::new();
    let mut failed = Vec::new();
    let mut repos = Vec::new();
    for c in done.into_iter().flatten() {
        if let Some(w) = c.warning {
            warnings.push(w);
            failed.push(c.node.name.display());
        }
        repos.push(c.node);
    }
    let count = repos.len() as u64;
    let size = repos.iter().map(|r| r.size).sum();
    let tree = snapshot::save_tree(ctx.saver, &Tree::new(repos))?;
    let mut node = Node::dir_of(tree);
    node.name = NodeName::from(GIT_NODE_NAME);
    node.node_type = NodeType::Git;
    node.mode = 0;
    node.size = size;
    Ok(GitCaptured {
        node,
        record: SourceRecord {
            kind: "git".into(),
            location: options.location.clone(),
            resources: count,
            node: Some(GIT_NODE_NAME.into()),
            version: Some(version),
            etcd: None,
            failed,
        },
        warnings,
    })
}

/// Reads a repository's refs and finds what its capture may build on.
fn plan<'p>(
    ctx: &GitContext<'_, '_>,
    options: &GitBackupOptions,
    found: &'p FoundRepo,
    parents: Option<&'p Tree>,
) -> Planned<'p> {
    let name = repo_name(options, found);
    let parent = parents.and_then(|t| t.find(name.as_bytes()));
    let git_dir = &found.git_dir;
    let read =
        source::read_refs(git_dir).and_then(|refs| Ok((refs, source::object_format(git_dir)?)));
    let chain = match &read {
        Ok((_, format)) => usable_chain(ctx, parent, format),
        Err(_) => None,
    };
    let bitmap = std::fs::read_dir(git_dir.join("objects/pack")).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".bitmap"))
    });
    Planned {
        found,
        name,
        read,
        parent,
        chain,
        bitmap,
    }
}

/// Decides each repository's step: the parent's chain when it can be used,
/// else a fork of a repository of this snapshot that shares a ref's target
/// (the first such in name order that is decided and not a fork itself, so
/// a fork's origin is captured before it), else a full pack.
fn steps(planned: &[Planned<'_>]) -> Vec<Step> {
    let mut steps: Vec<Step> = planned
        .iter()
        .map(|p| match (&p.read, &p.chain) {
            (Ok((refs, _)), Some((meta, _)))
                if meta.bare == p.found.bare && meta.refs == records(refs) =>
            {
                Step::Reuse
            }
            (Ok(_), Some((_, packs))) if can_extend(packs) => Step::Extend,
            _ => Step::Full,
        })
        .collect();
    let tips: Vec<Vec<String>> = planned
        .iter()
        .map(|p| match &p.read {
            Ok((refs, _)) => targets(refs),
            Err(_) => Vec::new(),
        })
        .collect();
    // Repositories with a reachability bitmap are decided first, so they
    // are the ones written whole: git counts their objects from the bitmap
    // (fast, and in a fraction of the memory a walk of the history takes).
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| !planned[i].bitmap);
    let mut decided = vec![false; planned.len()];
    for i in order {
        decided[i] = true;
        if steps[i] != Step::Full || tips[i].is_empty() {
            continue;
        }
        let format = |j: usize| planned[j].read.as_ref().map(|(_, f)| f.as_str()).ok();
        // Repositories decided already qualify; the others only when they
        // never become forks themselves.
        let donor = (0..planned.len()).find(|&j| {
            let settled = match steps[j] {
                Step::Reuse | Step::Extend => true,
                Step::Full => decided[j],
                Step::Fork(_) => false,
            };
            j != i
                && settled
                && format(j) == format(i)
                && tips[j].iter().any(|t| tips[i].binary_search(t).is_ok())
        });
        if let Some(j) = donor {
            steps[i] = Step::Fork(j);
        }
    }
    steps
}

/// The parent's list of repositories; one that cannot be read means every
/// repository is captured whole (as after any damage), not a failure.
fn parent_repositories(repo: &Repository, parent: Option<&Node>) -> Option<Tree> {
    let node = parent.filter(|n| n.node_type == NodeType::Git)?;
    snapshot::load_tree(repo, node.subtree.as_ref()?).ok()
}

/// The repository's name in the snapshot: its path under the location, or
/// the folder's own name when the location is the repository.
fn repo_name(options: &GitBackupOptions, found: &FoundRepo) -> String {
    if found.relative.is_empty() {
        options
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repository".into())
    } else {
        found.relative.clone()
    }
}

/// The parent's pack chain of a repository, when the next capture may build
/// on it: a v1.5 node (packs, or no objects at all) that was read whole, of
/// the same object format, whose blobs are all still stored.
fn usable_chain(
    ctx: &GitContext<'_, '_>,
    parent: Option<&Node>,
    object_format: &str,
) -> Option<(GitRepoMeta, Vec<Node>)> {
    let node = parent.filter(|n| n.node_type == NodeType::GitRepo)?;
    let meta = node.git.as_ref()?;
    if meta.error.is_some() || meta.object_format != object_format {
        return None;
    }
    let chain = snapshot::load_tree(ctx.repo, node.subtree.as_ref()?).ok()?;
    let packs_only = chain.nodes.iter().all(|n| {
        n.node_type == NodeType::GitPack
            && n.content.iter().flatten().all(|id| ctx.saver.is_known(id))
    });
    packs_only.then(|| (meta.clone(), chain.nodes))
}

/// Captures one repository as `step` says; `base` is, for a fork, the
/// refs and chain of the repository it builds on.
fn capture_repo(
    ctx: &GitContext<'_, '_>,
    p: &Planned<'_>,
    step: Step,
    base: Option<(&Vec<GitRefValue>, &Vec<Node>)>,
) -> Result<RepoCaptured, ArchiveError> {
    let (found, name) = (p.found, p.name.clone());
    let git_dir = &found.git_dir;
    let (refs, object_format) = match &p.read {
        Ok((refs, format)) => (refs, format.clone()),
        Err(e) => return failed(ctx, found, name, Vec::new(), "sha1".into(), e),
    };
    let records = records(refs);
    let (old_refs, mut packs) = match (step, &p.chain, p.parent, base) {
        (Step::Reuse, Some((_, packs)), Some(node), _) => {
            // Nothing moved: nothing to read, nothing to store.
            return Ok(RepoCaptured {
                node: node.clone(),
                packs: packs.clone(),
                warning: None,
            });
        }
        (Step::Extend, Some((meta, packs)), _, _) => {
            (meta.refs.iter().map(value).collect(), packs.clone())
        }
        (Step::Fork(_), _, _, Some((refs, packs))) if can_extend(packs) => {
            (refs.clone(), packs.clone())
        }
        _ => (Vec::new(), Vec::new()),
    };
    // Only what is still there can be left out (a force-push and a gc may
    // have dropped an old tip; a fork may lack some of its origin's).
    let exclude = match source::existing_objects(git_dir, &targets(&old_refs)) {
        Ok(e) => e,
        Err(e) => return failed(ctx, found, name, records, object_format, &e),
    };
    if exclude.is_empty() {
        packs.clear();
    }
    let tips = targets(refs);
    if tips.is_empty() {
        packs.clear();
    } else {
        let format = &object_format;
        let mut written = write_pack(ctx, git_dir, format, &tips, &exclude, packs.len());
        if matches!(written, Err(PackError::Source(_))) && !exclude.is_empty() {
            // An increment git cannot write (an old tip whose history is
            // gone): a full pack may still be readable.
            packs.clear();
            written = write_pack(ctx, git_dir, format, &tips, &[], 0);
        }
        match written {
            Ok(Some(pack)) => packs.push(pack),
            Ok(None) => {}
            Err(PackError::Repo(e)) => return Err(e.into()),
            Err(PackError::Source(e)) => {
                return failed(ctx, found, name, records, object_format, &e)
            }
        }
    }
    let size = packs.iter().map(|p| p.size).sum();
    let objects = packs
        .iter()
        .filter_map(|p| p.git_pack.as_ref())
        .map(|p| p.objects)
        .sum();
    let tree = snapshot::save_tree(ctx.saver, &Tree::new(packs.clone()))?;
    Ok(RepoCaptured {
        node: repo_node(
            name,
            tree,
            size,
            GitRepoMeta {
                object_format,
                bare: found.bare,
                refs: records,
                objects,
                error: None,
            },
        ),
        packs,
        warning: None,
    })
}

/// Whether another increment may join this chain (§15.4).
fn can_extend(packs: &[Node]) -> bool {
    let Some((base, increments)) = packs.split_first() else {
        return false;
    };
    let grown: u64 = increments.iter().map(|p| p.size).sum();
    packs.len() < MAX_CHAIN && grown.saturating_mul(INCREMENTS_SHARE) <= base.size
}

fn repo_node(name: String, tree: BlobId, size: u64, meta: GitRepoMeta) -> Node {
    let mut node = Node::dir_of(tree);
    node.name = NodeName::from(name.as_str());
    node.node_type = NodeType::GitRepo;
    node.mode = 0;
    node.size = size;
    node.git = Some(meta);
    node
}

/// A repository git could not read: recorded with its refs (as far as they
/// were read), no objects and the reason, and a warning.
fn failed(
    ctx: &GitContext<'_, '_>,
    found: &FoundRepo,
    name: String,
    refs: Vec<GitRefRecord>,
    object_format: String,
    why: &SourceError,
) -> Result<RepoCaptured, ArchiveError> {
    // Ctrl-C reaches git too, which then fails: that is no damage.
    if crate::interrupt::requested() {
        return Err(RepoError::Interrupted.into());
    }
    let reason = why.to_string();
    let tree = snapshot::save_tree(ctx.saver, &Tree::new(Vec::new()))?;
    let warning = format!(
        "git repository {name} ({}) could not be read, so the snapshot records it as failed, without its objects: {reason}; run `git fsck --full` there, repair it (or restore it from an earlier snapshot) and back up again",
        found.git_dir.display()
    );
    Ok(RepoCaptured {
        node: repo_node(
            name,
            tree,
            0,
            GitRepoMeta {
                object_format,
                bare: found.bare,
                refs,
                objects: 0,
                error: Some(reason),
            },
        ),
        packs: Vec::new(),
        warning: Some(warning),
    })
}

fn records(refs: &[GitRefValue]) -> Vec<GitRefRecord> {
    refs.iter()
        .map(|r| GitRefRecord {
            name: r.name.clone(),
            target: r.target.clone(),
            symbolic: r.symbolic,
        })
        .collect()
}

fn value(r: &GitRefRecord) -> GitRefValue {
    GitRefValue {
        name: r.name.clone(),
        target: r.target.clone(),
        symbolic: r.symbolic,
    }
}

/// The objects the refs name, each once.
fn targets(refs: &[GitRefValue]) -> Vec<String> {
    let mut tips: Vec<String> = refs
        .iter()
        .filter(|r| !r.symbolic)
        .map(|r| r.target.clone())
        .collect();
    tips.sort();
    tips.dedup();
    tips
}

//! Capturing git repositories (spec §15): per repository, its refs read
//! once and every object reachable from them, each object stored like a
//! file (so an object already in the repository costs nothing) and listed
//! by ID in range trees (so a new commit rewrites a few small trees).

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use super::ranges::RangeTreeBuilder;
use super::{ArchiveError, BackupProgress};
use crate::chunker::Chunker;
use crate::id::BlobId;
use crate::pack::BlobKind;
use crate::repo::BlobSaver;
use crate::snapshot::{
    self, GitRefRecord, GitRepoMeta, Node, NodeName, NodeType, SourceRecord, Tree,
};
use crate::source::git::{self as source, GitObject, ObjectReader};

/// The root-tree name of captured git repositories.
pub const GIT_NODE_NAME: &str = "@git";

/// Objects read before they are stored together, in parallel.
const BATCH: usize = 256;

/// What git repositories to capture.
#[derive(Clone, Debug)]
pub struct GitBackupOptions {
    /// A repository, or a folder holding repositories.
    pub root: PathBuf,
    /// The location as given (`git:PATH`).
    pub location: String,
}

/// Captured repositories: the root-tree node and the manifest's record.
pub(super) struct GitCaptured {
    pub node: Node,
    pub record: SourceRecord,
}

/// Reads every repository under the location into blobs and trees.
pub(super) fn capture(
    saver: &BlobSaver<'_>,
    chunker: &Chunker,
    options: &GitBackupOptions,
    progress: &BackupProgress,
) -> Result<GitCaptured, ArchiveError> {
    let found = source::find_repos(&options.root)?;
    let mut repos = Vec::new();
    let mut total_objects = 0;
    for repo in &found {
        let refs = source::read_refs(&repo.git_dir)?;
        let object_format = source::object_format(&repo.git_dir)?;
        let mut tips: Vec<String> = refs
            .iter()
            .filter(|r| !r.symbolic)
            .map(|r| r.target.clone())
            .collect();
        tips.sort();
        tips.dedup();
        let mut oids = source::reachable_objects(&repo.git_dir, &tips)?;
        oids.sort();
        oids.dedup();
        let mut reader = ObjectReader::open(&repo.git_dir)?;
        let mut builder = RangeTreeBuilder::new(saver, NodeType::GitRange);
        let mut bytes = 0;
        for chunk in oids.chunks(BATCH) {
            let objects = chunk
                .iter()
                .map(|oid| reader.read(oid).map(|o| (oid, o)))
                .collect::<Result<Vec<_>, _>>()?;
            let read: u64 = objects.iter().map(|(_, o)| o.content.len() as u64).sum();
            progress.bytes_read.fetch_add(read, Ordering::Relaxed);
            progress.total_bytes.fetch_add(read, Ordering::Relaxed);
            bytes += read;
            let nodes = objects
                .par_iter()
                .map(|(oid, o)| object_node(saver, chunker, oid, o))
                .collect::<Result<Vec<_>, ArchiveError>>()?;
            for n in nodes {
                builder.push(0, n)?;
            }
        }
        drop(reader);
        let name = if repo.relative.is_empty() {
            options
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "repository".into())
        } else {
            repo.relative.clone()
        };
        let mut node = Node::dir_of(builder.finish()?);
        node.name = NodeName::from(name.as_str());
        node.node_type = NodeType::GitRepo;
        node.mode = 0;
        node.size = bytes;
        node.git = Some(GitRepoMeta {
            object_format,
            bare: repo.bare,
            refs: refs
                .into_iter()
                .map(|r| GitRefRecord {
                    name: r.name,
                    target: r.target,
                    symbolic: r.symbolic,
                })
                .collect(),
            objects: oids.len() as u64,
        });
        total_objects += oids.len() as u64;
        repos.push(node);
    }
    progress
        .git_objects
        .fetch_add(total_objects, Ordering::Relaxed);
    let count = repos.len() as u64;
    let size = repos.iter().map(|r| r.size).sum();
    let tree = snapshot::save_tree(saver, &Tree::new(repos))?;
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
            version: source::git_version().ok(),
            etcd: None,
        },
    })
}

/// One object as a node: its content stored as data blobs.
fn object_node(
    saver: &BlobSaver<'_>,
    chunker: &Chunker,
    oid: &str,
    object: &GitObject,
) -> Result<Node, ArchiveError> {
    let mut content = Vec::new();
    for (offset, len) in chunker.cut(&object.content) {
        content.push(
            saver
                .save(BlobKind::Data, &object.content[offset..offset + len])?
                .0,
        );
    }
    let mut node = Node::dir_of(BlobId::default());
    node.name = NodeName::from(oid);
    node.node_type = NodeType::GitObject;
    node.mode = 0;
    node.subtree = None;
    node.size = object.content.len() as u64;
    node.content = Some(content);
    node.git_type = Some(object.kind.clone());
    Ok(node)
}

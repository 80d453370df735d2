//! `snap ls`: every node of a snapshot, depth first.

use serde::Serialize;

use super::OpError;
use crate::id::BlobId;
use crate::repo::Repository;
use crate::snapshot::{find_snapshot, load_tree, NodeType, SnapshotManifest};

/// One listed node.
#[derive(Debug, Serialize)]
pub struct LsEntry {
    /// Absolute path in the snapshot.
    pub path: String,
    /// Node type.
    #[serde(rename = "type")]
    pub node_type: NodeType,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time (RFC 3339).
    pub mtime: String,
    /// Symlink target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

/// Resolves `query` and calls `emit` for each node, so huge snapshots list
/// without being held in memory. Returns the snapshot's ID and manifest.
pub fn ls(
    repo: &mut Repository,
    query: &str,
    mut emit: impl FnMut(&LsEntry),
) -> Result<(String, SnapshotManifest), OpError> {
    let (id, manifest) = find_snapshot(repo, query, |_| true)?;
    repo.load_index()?;
    walk(repo, &manifest.tree, "", &mut emit)?;
    Ok((id.to_hex(), manifest))
}

fn walk(
    repo: &Repository,
    tree: &BlobId,
    prefix: &str,
    emit: &mut impl FnMut(&LsEntry),
) -> Result<(), OpError> {
    for node in load_tree(repo, tree)?.nodes {
        let path = format!("{prefix}/{}", node.name.display());
        let mtime = chrono::DateTime::from_timestamp_nanos(node.mtime_ns).to_rfc3339();
        emit(&LsEntry {
            path: path.clone(),
            node_type: node.node_type,
            mode: node.mode,
            uid: node.uid,
            gid: node.gid,
            size: node.size,
            mtime,
            link_target: node.link_target.as_ref().map(|t| t.display()),
        });
        if let (NodeType::Dir, Some(sub)) = (node.node_type, node.subtree) {
            walk(repo, &sub, &path, emit)?;
        }
    }
    Ok(())
}

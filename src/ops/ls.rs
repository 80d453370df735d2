//! `snap ls`: every node of a snapshot, depth first.

use serde::Serialize;

use super::OpError;
use crate::id::BlobId;
use crate::repo::Repository;
use crate::snapshot::{
    for_each_etcd_key, load_tree, EtcdKeyMeta, GitRepoMeta, Node, NodeName, NodeType, Selection,
    SnapshotManifest,
};
use crate::source::etcd::{k8s_resource, K8sResource};

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
    /// etcd keys: the key, exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<NodeName>,
    /// etcd keys: revisions, lease, value hash, and a Kubernetes object's
    /// apiVersion and kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdKeyMeta>,
    /// etcd keys under `/registry/`: the Kubernetes resource they hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<K8sResource>,
    /// git repositories: object format, refs (name -> commit) and object count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitRepoMeta>,
    /// git repositories stored as a chain of packs (format v1.5): how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_packs: Option<u64>,
}

/// Resolves `query` and calls `emit` for each node, so huge snapshots list
/// without being held in memory. Returns the snapshot's ID and manifest.
pub fn ls(
    repo: &mut Repository,
    query: &str,
    selection: &Selection,
    mut emit: impl FnMut(&LsEntry),
) -> Result<(String, SnapshotManifest), OpError> {
    let (id, manifest) = selection.find(repo, query, |_| true)?;
    repo.load_index()?;
    walk(repo, &manifest.tree, "", &mut emit)?;
    Ok((id.to_hex(), manifest))
}

/// Calls `visit` with the path and node of everything under `tree`, depth
/// first, parents before children; `prefix` is the tree's own path. The keys
/// of an etcd keyspace come after its node, in key order, at the paths
/// [`etcd_key_path`] gives.
pub fn walk_nodes(
    repo: &Repository,
    tree: &BlobId,
    prefix: &str,
    visit: &mut impl FnMut(&str, &Node),
) -> Result<(), OpError> {
    for node in load_tree(repo, tree)?.nodes {
        let path = format!("{prefix}/{}", node.name.display());
        visit(&path, &node);
        match (node.node_type, node.subtree) {
            (NodeType::Dir, Some(sub)) => walk_nodes(repo, &sub, &path, visit)?,
            (NodeType::Etcd, Some(sub)) => for_each_etcd_key(repo, &sub, b"", &mut |key| {
                visit(&etcd_key_path(&path, &key.name), &key);
                Ok(())
            })?,
            // Repositories, not their objects (`snap cat` shows those).
            (NodeType::Git, Some(sub)) => {
                for r in load_tree(repo, &sub)?.nodes {
                    visit(&format!("{path}/{}", r.name.display()), &r);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// How listings show an etcd key: the keyspace's path and the key, with a
/// `/` between unless the key starts with one (`/@etcd/registry/pods/...`).
/// The `key` field of JSON output has the exact bytes.
pub fn etcd_key_path(keyspace: &str, key: &NodeName) -> String {
    let key = key.display();
    if key.starts_with('/') {
        format!("{keyspace}{key}")
    } else {
        format!("{keyspace}/{key}")
    }
}

fn walk(
    repo: &Repository,
    tree: &BlobId,
    prefix: &str,
    emit: &mut impl FnMut(&LsEntry),
) -> Result<(), OpError> {
    walk_nodes(repo, tree, prefix, &mut |path, node| {
        emit(&LsEntry {
            path: path.to_string(),
            node_type: node.node_type,
            mode: node.mode,
            uid: node.uid,
            gid: node.gid,
            size: node.size,
            mtime: chrono::DateTime::from_timestamp_nanos(node.mtime_ns).to_rfc3339(),
            link_target: node.link_target.as_ref().map(|t| t.display()),
            key: node.etcd.as_ref().map(|_| node.name.clone()),
            etcd: node.etcd.clone(),
            kubernetes: node
                .etcd
                .as_ref()
                .and_then(|_| k8s_resource(node.name.as_bytes())),
            git: node.git.clone(),
            git_packs: git_packs(repo, node),
        })
    })
}

/// The length of a repository's pack chain; `None` for other nodes and
/// for repositories stored object by object (or whose tree is unreadable:
/// the listing still shows the refs).
fn git_packs(repo: &Repository, node: &Node) -> Option<u64> {
    if node.node_type != NodeType::GitRepo {
        return None;
    }
    let tree = load_tree(repo, node.subtree.as_ref()?).ok()?;
    let packs = tree
        .nodes
        .iter()
        .filter(|n| n.node_type == NodeType::GitPack)
        .count();
    (packs == tree.nodes.len()).then_some(packs as u64)
}

//! Trees and nodes (spec §11): a tree is a JSON blob `{"version":1,"nodes":[...]}`
//! with nodes sorted by name bytes and names unique.

use serde::{Deserialize, Serialize};

use super::{EtcdKeyMeta, GitPackMeta, GitRepoMeta, NodeName, SnapshotError};
use crate::id::BlobId;
use crate::pack::BlobKind;
use crate::repo::{BlobSaver, Repository};

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeType {
    /// A regular file; `content` lists its data blobs in order.
    File,
    /// A folder; `subtree` is its tree.
    Dir,
    /// A symbolic link; `link_target` is where it points.
    Symlink,
    /// A character device; `rdev` is its device number.
    Chardev,
    /// A block device; `rdev` is its device number.
    Blockdev,
    /// A named pipe.
    Fifo,
    /// A Unix socket (recorded, never recreated).
    Socket,
    /// A captured etcd keyspace (spec §14), in the root tree; `subtree`
    /// holds its keys.
    Etcd,
    /// A run of etcd keys named by its first key; `subtree` holds them.
    #[serde(rename = "etcdrange")]
    EtcdRange,
    /// One etcd key, named by the key's bytes: `content` holds the value,
    /// `size` its length, `etcd` the rest.
    #[serde(rename = "etcdkey")]
    EtcdKey,
    /// Captured git repositories (spec §15), in the root tree; `subtree`
    /// lists them.
    Git,
    /// One repository, named by its path under the captured folder:
    /// `git` holds its refs, `subtree` its objects.
    #[serde(rename = "gitrepo")]
    GitRepo,
    /// A run of git objects named by its first object ID.
    #[serde(rename = "gitrange")]
    GitRange,
    /// One git object, named by its ID in hex: `git_type` is its type,
    /// `content` its bytes (without git's header).
    #[serde(rename = "gitobject")]
    GitObject,
    /// One git pack of a repository's chain (spec §15.4, format v1.5),
    /// named by its position: `content` holds the pack's bytes as git
    /// wrote them, `git_pack` its object count and checksum.
    #[serde(rename = "gitpack")]
    GitPack,
}

impl NodeType {
    /// A node that lives inside an etcd keyspace, named by key bytes
    /// rather than by a file name.
    pub fn is_etcd_inner(self) -> bool {
        matches!(self, NodeType::EtcdRange | NodeType::EtcdKey)
    }

    /// A node inside a source's own tree (etcd keys, git repositories and
    /// objects): named by what it holds, never created as a file by name.
    pub fn is_source_inner(self) -> bool {
        matches!(
            self,
            NodeType::EtcdRange
                | NodeType::EtcdKey
                | NodeType::GitRepo
                | NodeType::GitRange
                | NodeType::GitObject
                | NodeType::GitPack
        )
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One resource in a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The name within its folder: never empty, `.`, `..`, nor containing `/` or NUL.
    pub name: NodeName,
    /// What it is.
    #[serde(rename = "type")]
    pub node_type: NodeType,
    /// Permission and special bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the Unix epoch.
    pub ctime_ns: i64,
    /// Inode number at backup time (change detection, hard links).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inode: u64,
    /// Device of the file system it was on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub device: u64,
    /// Hard link count at backup time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links: u64,
    /// Size in bytes (files).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// Data blobs, in order (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<BlobId>>,
    /// The folder's tree (dirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<BlobId>,
    /// Symlink target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<NodeName>,
    /// Device number (devices).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rdev: u64,
    /// Revisions, lease and value hash (etcd keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdKeyMeta>,
    /// Refs and object format (git repositories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitRepoMeta>,
    /// Object type: `commit`, `tree`, `blob` or `tag` (git objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_type: Option<String>,
    /// Object count, checksum and thinness (git packs, §15.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_pack: Option<GitPackMeta>,
}

impl Node {
    /// A folder node for a tree that has no node of its own (a snapshot's
    /// root): empty name, no metadata.
    pub fn dir_of(tree: BlobId) -> Node {
        Node {
            name: NodeName(Vec::new()),
            node_type: NodeType::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            inode: 0,
            device: 0,
            links: 0,
            size: 0,
            content: None,
            subtree: Some(tree),
            link_target: None,
            rdev: 0,
            etcd: None,
            git: None,
            git_type: None,
            git_pack: None,
        }
    }

    /// Checks that the name is safe to create inside a folder; an etcd
    /// key's name is any non-empty key.
    pub fn check_name(&self) -> Result<(), String> {
        let n = self.name.as_bytes();
        if self.node_type.is_source_inner() {
            if n.is_empty() {
                return Err(format!("{:?} node with an empty name", self.node_type));
            }
            return Ok(());
        }
        if n.is_empty() || n == b"." || n == b".." || n.contains(&b'/') || n.contains(&0) {
            return Err(format!("unsafe node name {:?}", self.name.display()));
        }
        Ok(())
    }
}

/// A folder's listing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    /// Record version; 1.
    pub version: u32,
    /// Nodes sorted by name bytes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// A tree of these nodes, sorted.
    pub fn new(mut nodes: Vec<Node>) -> Tree {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Tree { version: 1, nodes }
    }

    /// The canonical encoding: identical trees give identical bytes, and so
    /// identical blob IDs.
    pub fn encode(&self) -> Vec<u8> {
        // Nodes hold only strings, numbers and IDs: serialization cannot fail.
        serde_json::to_vec(self).expect("tree serializes")
    }

    /// Parses and validates a tree: version, order, unique and safe names.
    pub fn decode(bytes: &[u8]) -> Result<Tree, SnapshotError> {
        let bad = |reason: String| SnapshotError::Format {
            what: "tree".into(),
            reason,
        };
        let tree: Tree = serde_json::from_slice(bytes).map_err(|e| {
            let text = e.to_string();
            if text.contains("unknown variant") {
                bad(format!(
                    "{text}; it was written by a newer snap: upgrade snap to read it"
                ))
            } else {
                bad(text)
            }
        })?;
        if tree.version != 1 {
            return Err(bad(format!(
                "version {} is not supported (this snap reads 1)",
                tree.version
            )));
        }
        for w in tree.nodes.windows(2) {
            if w[0].name >= w[1].name {
                return Err(bad(format!(
                    "names out of order or repeated at {:?}",
                    w[1].name.display()
                )));
            }
        }
        for n in &tree.nodes {
            n.check_name().map_err(bad)?;
            let missing = match n.node_type {
                NodeType::File if n.content.is_none() => Some("content"),
                NodeType::Dir if n.subtree.is_none() => Some("subtree"),
                NodeType::Symlink if n.link_target.is_none() => Some("link_target"),
                NodeType::Etcd | NodeType::EtcdRange if n.subtree.is_none() => Some("subtree"),
                NodeType::EtcdKey if n.content.is_none() => Some("content"),
                NodeType::EtcdKey if n.etcd.is_none() => Some("etcd"),
                NodeType::Git | NodeType::GitRange if n.subtree.is_none() => Some("subtree"),
                NodeType::GitRepo if n.subtree.is_none() => Some("subtree"),
                NodeType::GitRepo if n.git.is_none() => Some("git"),
                NodeType::GitObject if n.content.is_none() => Some("content"),
                NodeType::GitObject if n.git_type.is_none() => Some("git_type"),
                NodeType::GitPack if n.content.is_none() => Some("content"),
                NodeType::GitPack if n.git_pack.is_none() => Some("git_pack"),
                _ => None,
            };
            if let Some(field) = missing {
                return Err(bad(format!(
                    "{:?} node {:?} has no {field}",
                    n.node_type,
                    n.name.display()
                )));
            }
        }
        Ok(tree)
    }

    /// The node with this name.
    pub fn find(&self, name: &[u8]) -> Option<&Node> {
        self.nodes
            .binary_search_by(|n| n.name.as_bytes().cmp(name))
            .ok()
            .map(|i| &self.nodes[i])
    }
}

/// Loads and validates a tree blob.
pub fn load_tree(repo: &Repository, id: &BlobId) -> Result<Tree, SnapshotError> {
    let bytes = repo.load_blob(id)?;
    Tree::decode(&bytes).map_err(|e| match e {
        SnapshotError::Format { reason, .. } => SnapshotError::Format {
            what: format!("tree {id}"),
            reason,
        },
        other => other,
    })
}

/// The node at `parts` (names, from the root) below the tree `root`; `None`
/// when a part is missing or names something other than a folder on the way.
/// No parts: the root folder itself.
pub fn find_node<'a>(
    repo: &Repository,
    root: &BlobId,
    parts: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<Node>, SnapshotError> {
    let mut node = Node::dir_of(*root);
    for part in parts {
        let subtree = match (node.node_type, node.subtree) {
            (NodeType::Dir, Some(t)) => t,
            _ => return Ok(None),
        };
        match load_tree(repo, &subtree)?.find(part).cloned() {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

/// Saves a tree as a blob; returns its ID.
pub fn save_tree(saver: &BlobSaver<'_>, tree: &Tree) -> Result<BlobId, SnapshotError> {
    Ok(saver.save(BlobKind::Tree, &tree.encode())?.0)
}

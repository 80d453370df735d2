//! How git repositories are held in a snapshot (spec §15): a repository
//! node's refs and object format; its objects are `gitobject` nodes.

use serde::{Deserialize, Serialize};

fn is_false(v: &bool) -> bool {
    !*v
}

/// One ref of a repository, as read at backup time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRefRecord {
    /// Full name: `HEAD`, `refs/heads/main`, `refs/tags/v1`, `refs/notes/commits`.
    pub name: String,
    /// The object ID it names (hex), or for a symbolic ref the ref it points to.
    pub target: String,
    /// Whether `target` is a ref name.
    #[serde(default, skip_serializing_if = "is_false")]
    pub symbolic: bool,
}

/// A repository: refs and object format (a `gitrepo` node's `git`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRepoMeta {
    /// `sha1` or `sha256`.
    pub object_format: String,
    /// Whether the captured repository was bare.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bare: bool,
    /// Every ref, `HEAD` first, then by name.
    pub refs: Vec<GitRefRecord>,
    /// Objects captured (those reachable from the refs).
    pub objects: u64,
}

//! How git repositories are held in a snapshot (spec §15): a repository
//! node's refs and object format; its objects are a chain of `gitpack`
//! nodes (format v1.5), or `gitobject` nodes in snapshots written before.

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
    /// Objects captured: those reachable from the refs (format v1.3-v1.4),
    /// or the sum of the chain's pack object counts (v1.5, §15.4).
    pub objects: u64,
    /// Why the repository could not be read, when it could not: it then
    /// has no objects and cannot be restored (§15.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One pack of a repository's chain (a `gitpack` node's `git_pack`, §15.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitPackMeta {
    /// Objects in the pack, from its header.
    pub objects: u64,
    /// Whether its deltas may name objects of the packs before it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub thin: bool,
    /// The pack's own checksum (its last 20 or 32 bytes), in hex.
    pub checksum: String,
}

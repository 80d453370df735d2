//! Snapshots and trees: what a snapshot names, pure encode/decode, and loading
//! and saving them through a repository (spec §10, §11).
//!
//! A snapshot manifest points to a root tree. A tree is a blob listing nodes
//! sorted by name; a node is a resource: a file, folder, symlink, device, or (in
//! later kinds) an etcd key or git repository, with its metadata.

mod etcd;
mod git;
mod manifest;
mod name;
mod select;
mod tree;

pub use etcd::{
    etcd_id_hex, for_each_etcd_key, for_each_range_leaf, value_hash, EtcdCapture, EtcdKeyMeta,
    EtcdLeaseRecord, EtcdMemberRecord, KeyspaceDigest, EXPIRED_LEASE_TTL,
};
pub use git::{GitPackMeta, GitRefRecord, GitRepoMeta};
pub use manifest::{
    find_snapshot, list_snapshots, list_snapshots_checked, load_snapshot, resolve_id,
    save_snapshot, SnapshotList, SnapshotListing, SnapshotManifest, SourceRecord, Summary,
};
pub use name::NodeName;
pub use select::{DamagedSnapshot, Selection, SkipNotice};
pub use tree::{find_node, load_tree, save_tree, Node, NodeType, Tree};

/// Errors of the snapshot layer.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A manifest or tree could not be parsed.
    #[error("{what} is malformed: {reason}")]
    Format {
        /// What was parsed.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// No snapshot matches an ID or prefix.
    #[error("no snapshot matches '{query}'; run `snap snapshots` to list them")]
    NotFound {
        /// What was asked.
        query: String,
    },
    /// A prefix matches several snapshots.
    #[error("'{query}' matches {count} snapshots; give more characters of the ID")]
    Ambiguous {
        /// What was asked.
        query: String,
        /// How many matched.
        count: usize,
    },
    /// A prefix is too short or not hex.
    #[error("'{query}' is not a snapshot ID: give 'latest' or at least 4 hex characters of an ID")]
    BadQuery {
        /// What was asked.
        query: String,
    },
    /// A snapshot named by its ID (or prefix) is damaged: it cannot be
    /// skipped, since it is the one asked for.
    #[error("snapshot file {} in {} is damaged ({}); run `snap check`; if it cannot be repaired, remove it with `snap forget {}`", snapshot.file(), snapshot.repository, snapshot.reason, snapshot.id)]
    Damaged {
        /// The file and why (boxed: errors stay small).
        snapshot: Box<DamagedSnapshot>,
    },
    /// Snapshot files are damaged, so a listing (and `latest`) would be
    /// incomplete (spec §10).
    #[error("{}", select::describe_listing(damaged))]
    DamagedListing {
        /// The damaged files.
        damaged: Vec<DamagedSnapshot>,
    },
    /// A repository operation failed.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
}

impl SnapshotError {
    /// What kind of failure this is: its repository cause's, if any.
    pub fn kind(&self) -> crate::failure::ErrorKind {
        match self {
            SnapshotError::Repo(e) => e.kind(),
            _ => crate::failure::ErrorKind::Other,
        }
    }
}

//! How an etcd keyspace is held in a snapshot (spec §14): per-key metadata on
//! `etcdkey` nodes, what the manifest records of the cluster, and the
//! keyspace digest that backup records and restore verifies against.

use serde::{Deserialize, Serialize};

use super::{Node, NodeName, NodeType, SnapshotError};
use crate::id::{BlobId, Id};
use crate::repo::Repository;

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// What etcd says of one key, beside its value (an `etcdkey` node's `etcd`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdKeyMeta {
    /// Revision of the key's creation.
    pub create_revision: i64,
    /// Revision of its last change.
    pub mod_revision: i64,
    /// Changes since creation.
    pub version: i64,
    /// The lease it is attached to (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lease: i64,
    /// Unkeyed BLAKE3 of the value: compared with a live cluster's values
    /// and written to restore audits.
    pub value_hash: Id,
    /// For a Kubernetes object: its `apiVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// For a Kubernetes object: its `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// One member of the cluster at backup time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdMemberRecord {
    /// Member ID, 16 hex digits as etcdctl shows it.
    pub id: String,
    /// Member name.
    pub name: String,
    /// Peer URLs.
    #[serde(default)]
    pub peer_urls: Vec<String>,
    /// Client URLs.
    #[serde(default)]
    pub client_urls: Vec<String>,
}

/// A lease some captured key was attached to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdLeaseRecord {
    /// Lease ID.
    pub id: i64,
    /// The TTL it was granted with, in seconds.
    pub ttl: i64,
}

/// What a snapshot records of a captured etcd cluster (a source record's `etcd`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdCapture {
    /// Cluster ID, 16 hex digits.
    pub cluster_id: String,
    /// The members.
    #[serde(default)]
    pub members: Vec<EtcdMemberRecord>,
    /// Server version of the member that answered (`3.4.23`).
    pub server_version: String,
    /// The revision the whole keyspace was read at.
    pub revision: i64,
    /// Only keys starting with this were captured (empty: all).
    #[serde(default)]
    pub prefix: NodeName,
    /// Keys captured.
    pub keys: u64,
    /// Bytes of their values.
    pub value_bytes: u64,
    /// [`KeyspaceDigest`] of the captured keys.
    pub digest: Id,
    /// Leases of captured keys, by ID.
    #[serde(default)]
    pub leases: Vec<EtcdLeaseRecord>,
}

/// TTL, in seconds, given to a lease that expired between a backup's read
/// and its lookup of the lease (its keys were live at the revision read).
pub const EXPIRED_LEASE_TTL: i64 = 60;

/// Formats an etcd 64-bit ID as etcdctl does.
pub fn etcd_id_hex(id: u64) -> String {
    format!("{id:016x}")
}

/// A digest of a set of keys and values that does not depend on how they
/// are stored: BLAKE3 over, for each key in ascending byte order, the key's
/// length (u64 little-endian), the key, and its value's BLAKE3. A snapshot
/// and a cluster hold the same keyspace when count and digest agree.
#[derive(Default)]
pub struct KeyspaceDigest {
    hasher: blake3::Hasher,
    count: u64,
}

impl KeyspaceDigest {
    /// An empty keyspace's digest, ready for keys.
    pub fn new() -> KeyspaceDigest {
        KeyspaceDigest::default()
    }

    /// Adds a key; keys must come in ascending order.
    pub fn add(&mut self, key: &[u8], value_hash: &Id) {
        self.hasher.update(&(key.len() as u64).to_le_bytes());
        self.hasher.update(key);
        self.hasher.update(&value_hash.0);
        self.count += 1;
    }

    /// Keys added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest.
    pub fn finish(&self) -> Id {
        Id(*self.hasher.finalize().as_bytes())
    }
}

/// The unkeyed BLAKE3 of a value.
pub fn value_hash(value: &[u8]) -> Id {
    Id(*blake3::hash(value).as_bytes())
}

/// Deepest nesting of `etcdrange` trees a reader follows (a hostile tree
/// could nest without end).
const MAX_DEPTH: usize = 24;

/// Visits the `etcdkey` nodes under an `etcd` node's subtree whose keys
/// start with `prefix`, in ascending key order, loading only the trees that
/// can hold such keys. A tree out of order is an error.
pub fn for_each_etcd_key(
    repo: &Repository,
    subtree: &BlobId,
    prefix: &[u8],
    visit: &mut dyn FnMut(Node) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let kinds = (NodeType::EtcdRange, NodeType::EtcdKey);
    for_each_range_leaf(repo, subtree, prefix, kinds, visit)
}

/// Visits the leaves of range trees (spec §14.1) whose names start with
/// `prefix`, in ascending name order: `kinds` are the range and leaf node
/// types (`etcdrange`/`etcdkey`, `gitrange`/`gitobject`).
pub fn for_each_range_leaf(
    repo: &Repository,
    subtree: &BlobId,
    prefix: &[u8],
    kinds: (NodeType, NodeType),
    visit: &mut dyn FnMut(Node) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let end = crate::etcd::prefix_end(prefix);
    let mut last: Option<Vec<u8>> = None;
    let mut walker = RangeWalk {
        repo,
        prefix,
        end: &end,
        kinds,
        last: &mut last,
        visit,
    };
    walker.walk(subtree, 0)
}

struct RangeWalk<'a> {
    repo: &'a Repository,
    prefix: &'a [u8],
    end: &'a [u8],
    kinds: (NodeType, NodeType),
    last: &'a mut Option<Vec<u8>>,
    visit: &'a mut dyn FnMut(Node) -> Result<(), SnapshotError>,
}

impl RangeWalk<'_> {
    fn walk(&mut self, id: &BlobId, depth: usize) -> Result<(), SnapshotError> {
        let (repo, prefix, end) = (self.repo, self.prefix, self.end);
        let bad = |reason: String| SnapshotError::Format {
            what: format!("range tree {id}"),
            reason,
        };
        if depth > MAX_DEPTH {
            return Err(bad(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let tree = super::load_tree(repo, id)?;
        let past_end = |key: &[u8]| end != [0] && key >= end;
        let nodes = tree.nodes;
        for (i, node) in nodes.iter().enumerate() {
            let key = node.name.as_bytes();
            if past_end(key) {
                break;
            }
            if node.node_type == self.kinds.0 {
                // This range's names are below the next range's first name.
                if nodes
                    .get(i + 1)
                    .is_some_and(|n| n.name.as_bytes() <= prefix)
                {
                    continue;
                }
                let Some(sub) = &node.subtree else {
                    return Err(bad("range without subtree".into()));
                };
                self.walk(sub, depth + 1)?;
            } else if node.node_type == self.kinds.1 {
                if !key.starts_with(prefix) {
                    continue;
                }
                if self.last.as_deref().is_some_and(|l| l >= key) {
                    return Err(bad(format!("{:?} is out of order", node.name.display())));
                }
                *self.last = Some(key.to_vec());
                (self.visit)(node.clone())?;
            } else {
                return Err(bad(format!(
                    "{:?} node inside a range tree of {:?} nodes",
                    node.node_type, self.kinds.1
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_keys_values_and_boundaries() {
        let h = value_hash(b"v");
        let mut a = KeyspaceDigest::new();
        a.add(b"ab", &h);
        let mut b = KeyspaceDigest::new();
        b.add(b"a", &h);
        assert_ne!(a.finish(), b.finish());
        let mut c = KeyspaceDigest::new();
        c.add(b"ab", &value_hash(b"w"));
        assert_ne!(a.finish(), c.finish());
        assert_eq!(a.count(), 1);
        assert_ne!(KeyspaceDigest::new().finish(), a.finish());
    }

    #[test]
    fn ids_show_as_etcdctl_does() {
        assert_eq!(etcd_id_hex(0xcdf818194e3a8c32), "cdf818194e3a8c32");
        assert_eq!(etcd_id_hex(1), "0000000000000001");
    }
}

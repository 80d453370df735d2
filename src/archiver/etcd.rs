//! Capturing an etcd keyspace (spec §14): every key under a prefix read at
//! one revision, page by page; each value cut into data blobs like a file;
//! the keys, in key order, grouped into `etcdrange` trees whose boundaries
//! depend only on the keys, so an unchanged run of keys yields the same tree
//! blob as last time and one changed key rewrites one small tree.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use super::ranges::RangeTreeBuilder;
use super::{ArchiveError, BackupProgress};
use crate::chunker::Chunker;
use crate::etcd::EtcdLocation;
use crate::etcd::{self, EtcdClient, EtcdError, EtcdOptions, KeyValue};
use crate::id::BlobId;
use crate::pack::BlobKind;
use crate::repo::BlobSaver;
use crate::snapshot::{
    etcd_id_hex, value_hash, EtcdCapture, EtcdKeyMeta, EtcdLeaseRecord, EtcdMemberRecord,
    KeyspaceDigest, Node, NodeName, NodeType, SourceRecord, EXPIRED_LEASE_TTL,
};
use crate::source::etcd::k8s_type;

/// The root-tree name of a captured etcd keyspace.
pub const ETCD_NODE_NAME: &str = "@etcd";

/// What etcd to capture.
#[derive(Clone, Debug)]
pub struct EtcdBackupOptions {
    /// The cluster.
    pub location: EtcdLocation,
    /// TLS files and login.
    pub client: EtcdOptions,
    /// Only keys starting with this (empty: all).
    pub prefix: Vec<u8>,
}

/// How often a read whose revision was compacted away starts over.
const ATTEMPTS: u32 = 3;
/// Concurrent range requests: etcd's JSON gateway spends more time per
/// page than snap does, and serves several at once.
const READERS: usize = 4;

/// A captured keyspace: the root-tree node and the manifest's record.
pub(super) struct EtcdCaptured {
    pub node: Node,
    pub record: SourceRecord,
}

/// Reads the keyspace at one revision into blobs and trees.
pub(super) fn capture(
    saver: &BlobSaver<'_>,
    chunker: &Chunker,
    options: &EtcdBackupOptions,
    progress: &BackupProgress,
) -> Result<EtcdCaptured, ArchiveError> {
    let mut client_options = options.client.clone();
    client_options.endpoints = options.location.endpoints.clone();
    let client = EtcdClient::connect(&client_options)?;
    let status = client.status()?;
    let members = client.members()?;
    let end = etcd::prefix_end(&options.prefix);
    let mut last_compacted = 0;
    for _ in 0..ATTEMPTS {
        let mut keys = RangeTreeBuilder::new(saver, NodeType::EtcdRange);
        let mut digest = KeyspaceDigest::new();
        let mut leases = BTreeMap::new();
        let mut value_bytes = 0u64;
        let read = etcd::read_parallel(
            &client,
            &options.prefix,
            &end,
            READERS,
            |kvs: Vec<KeyValue>| {
                let page_bytes: u64 = kvs.iter().map(|kv| kv.value.len() as u64).sum();
                progress.bytes_read.fetch_add(page_bytes, Ordering::Relaxed);
                progress
                    .total_bytes
                    .fetch_add(page_bytes, Ordering::Relaxed);
                kvs.par_iter()
                    .map(|kv| key_node(saver, chunker, kv))
                    .collect::<Result<Vec<_>, ArchiveError>>()
            },
            |nodes: Vec<Node>| {
                for node in nodes {
                    if let Some(meta) = &node.etcd {
                        digest.add(node.name.as_bytes(), &meta.value_hash);
                        if meta.lease != 0 {
                            leases.insert(meta.lease, ());
                        }
                    }
                    value_bytes += node.size;
                    keys.push(0, node)?;
                }
                progress.etcd_keys.store(digest.count(), Ordering::Relaxed);
                Ok(())
            },
        );
        let revision = match read {
            Ok(r) => r,
            Err(ArchiveError::Etcd(EtcdError::Compacted { revision })) => {
                last_compacted = revision;
                continue;
            }
            Err(e) => return Err(e),
        };
        let subtree = keys.finish()?;
        let mut lease_records = Vec::new();
        for id in leases.into_keys() {
            // A lease that expired since the read still gets restored with
            // a short TTL rather than dropping its keys.
            let ttl = client.lease_granted_ttl(id)?.unwrap_or(EXPIRED_LEASE_TTL);
            lease_records.push(EtcdLeaseRecord { id, ttl });
        }
        let capture = EtcdCapture {
            cluster_id: etcd_id_hex(status.cluster_id),
            members: members
                .iter()
                .map(|m| EtcdMemberRecord {
                    id: etcd_id_hex(m.id),
                    name: m.name.clone(),
                    peer_urls: m.peer_urls.clone(),
                    client_urls: m.client_urls.clone(),
                })
                .collect(),
            server_version: status.version.clone(),
            revision,
            prefix: NodeName(options.prefix.clone()),
            keys: digest.count(),
            value_bytes,
            digest: digest.finish(),
            leases: lease_records,
        };
        let mut node = Node::dir_of(subtree);
        node.name = NodeName::from(ETCD_NODE_NAME);
        node.node_type = NodeType::Etcd;
        node.mode = 0;
        node.size = value_bytes;
        let record = SourceRecord {
            kind: "etcd".into(),
            location: options.location.text.clone(),
            resources: capture.keys,
            node: Some(ETCD_NODE_NAME.into()),
            version: Some(format!("etcd {}", capture.server_version)),
            etcd: Some(capture),
            failed: Vec::new(),
        };
        return Ok(EtcdCaptured { node, record });
    }
    Err(ArchiveError::EtcdCompactedRepeatedly {
        revision: last_compacted,
        attempts: ATTEMPTS,
    })
}

/// One key as a node: its value stored as data blobs.
fn key_node(saver: &BlobSaver<'_>, chunker: &Chunker, kv: &KeyValue) -> Result<Node, ArchiveError> {
    let mut content = Vec::new();
    for (offset, len) in chunker.cut(&kv.value) {
        content.push(
            saver
                .save(BlobKind::Data, &kv.value[offset..offset + len])?
                .0,
        );
    }
    let (api_version, kind) = match k8s_type(&kv.value) {
        Some((a, k)) => (Some(a), Some(k)),
        None => (None, None),
    };
    let mut node = Node::dir_of(BlobId::default());
    node.name = NodeName(kv.key.clone());
    node.node_type = NodeType::EtcdKey;
    node.mode = 0;
    node.subtree = None;
    node.size = kv.value.len() as u64;
    node.content = Some(content);
    node.etcd = Some(EtcdKeyMeta {
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
        value_hash: value_hash(&kv.value),
        api_version,
        kind,
    });
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemoryBackend;
    use crate::crypto::KdfParams;
    use crate::repo::{InitOptions, Repository};
    use crate::snapshot;
    use std::sync::Arc;

    fn repo() -> Repository {
        let backend = Arc::new(MemoryBackend::new());
        let options = InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        Repository::init(backend.clone(), b"pw", &options).unwrap();
        Repository::open(backend, b"pw").unwrap()
    }

    fn key(n: usize) -> Node {
        let value = format!("value {n}");
        let mut node = Node::dir_of(BlobId::default());
        node.name = NodeName(format!("/registry/pods/ns/p{n:06}").into_bytes());
        node.node_type = NodeType::EtcdKey;
        node.subtree = None;
        node.content = Some(Vec::new());
        node.etcd = Some(EtcdKeyMeta {
            create_revision: 1,
            mod_revision: 2,
            version: 1,
            lease: 0,
            value_hash: value_hash(value.as_bytes()),
            api_version: None,
            kind: None,
        });
        node
    }

    /// Builds a keyspace and returns the top tree and every tree ID.
    fn build(repo: &mut Repository, nodes: &[Node]) -> (BlobId, Vec<BlobId>) {
        let saver = repo.blob_saver(1);
        let mut b = RangeTreeBuilder::new(&saver, NodeType::EtcdRange);
        for n in nodes {
            b.push(0, n.clone()).unwrap();
        }
        let top = b.finish().unwrap();
        saver.finish().unwrap();
        repo.load_index().unwrap();
        let mut trees = Vec::new();
        let mut todo = vec![top];
        let mut keys = Vec::new();
        while let Some(id) = todo.pop() {
            trees.push(id);
            for n in snapshot::load_tree(repo, &id).unwrap().nodes {
                match n.node_type {
                    NodeType::EtcdRange => todo.push(n.subtree.unwrap()),
                    NodeType::EtcdKey => keys.push(n.name),
                    other => panic!("{other:?}"),
                }
            }
        }
        keys.sort();
        let want: Vec<NodeName> = nodes.iter().map(|n| n.name.clone()).collect();
        assert!(keys == want, "keys differ from those pushed");
        (top, trees)
    }

    #[test]
    fn one_changed_key_rewrites_few_trees() {
        let mut r = repo();
        let mut nodes: Vec<Node> = (0..3000).map(key).collect();
        let (top, trees) = build(&mut r, &nodes);
        assert!(trees.len() > 20, "{}", trees.len());
        assert_eq!(build(&mut r, &nodes).0, top, "deterministic");
        nodes[1500].size += 1;
        let (top2, trees2) = build(&mut r, &nodes);
        assert_ne!(top, top2);
        let new = trees2.iter().filter(|t| !trees.contains(t)).count();
        assert!(new <= 3, "{new} new trees");
        // An inserted key moves no boundary but its own tree's.
        nodes.insert(11, {
            let mut n = key(10);
            n.name = NodeName(b"/registry/pods/ns/p000010a".to_vec());
            n
        });
        let (_, trees3) = build(&mut r, &nodes);
        let new = trees3.iter().filter(|t| !trees2.contains(t)).count();
        assert!(new <= 3, "{new} new trees");
    }

    #[test]
    fn small_and_empty_keyspaces() {
        let mut r = repo();
        let (top, trees) = build(&mut r, &[]);
        assert_eq!(trees, vec![top]);
        let (_, trees) = build(&mut r, &[key(1)]);
        assert_eq!(trees.len(), 1);
    }
}

//! Restoring a captured etcd keyspace into a running cluster (spec §14.4).
//!
//! The live keyspace under the prefix is read at one revision and compared
//! with the snapshot by value hash and lease: what is missing or different
//! is put, what the snapshot lacks is deleted. Changes go in transactions
//! that each compare the mod revision of every key they touch with what was
//! read, so a key someone else changed meanwhile is reported, not
//! overwritten (unless forced). Writes move the revision forward, so
//! watchers see ordinary events. The end is verified by count and digest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

mod apply;

use apply::Applier;

use super::stage::BlobStage;
use super::RestoreError;
use crate::etcd::EtcdLocation;
use crate::etcd::{self, EtcdClient, EtcdError, EtcdOptions, KeyValue};
use crate::id::{BlobId, Id};
use crate::repo::Repository;
use crate::snapshot::{
    for_each_etcd_key, value_hash, EtcdCapture, KeyspaceDigest, NodeName, SnapshotManifest, Tree,
    EXPIRED_LEASE_TTL,
};

/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;
/// Bytes of keys and values per transaction: below etcd's default
/// `--max-request-bytes` (1.5 MiB) with room for the request's framing.
pub const DEFAULT_MAX_TXN_BYTES: usize = 1_400_000;

/// How to restore into etcd.
#[derive(Clone, Debug)]
pub struct EtcdRestoreOptions {
    /// The cluster.
    pub location: EtcdLocation,
    /// TLS files and login.
    pub client: EtcdOptions,
    /// Restore only keys under this prefix (default: the captured prefix).
    pub prefix: Option<Vec<u8>>,
    /// Compute and report the plan; change nothing.
    pub dry_run: bool,
    /// Overwrite keys changed by others during the restore.
    pub force: bool,
    /// Accept a cluster whose etcd major.minor differs from the snapshot's.
    pub ignore_version: bool,
    /// Accept a cluster with another cluster ID (a freshly deployed one).
    pub any_cluster: bool,
    /// Write one JSON line per change here.
    pub audit: Option<PathBuf>,
    /// Operations per transaction.
    pub max_txn_ops: usize,
    /// Key and value bytes per transaction.
    pub max_txn_bytes: usize,
    /// With `dry_run`: also read and authenticate every value to put (a
    /// platform restore checks so before it changes anything).
    pub verify_in_dry_run: bool,
}

/// One planned or applied change.
#[derive(Clone, Debug, Serialize)]
pub struct EtcdChange {
    /// The key.
    pub key: NodeName,
    /// `put` or `delete`.
    pub action: &'static str,
    /// Hash of the value the cluster held (absent: no such key).
    pub old_hash: Option<Id>,
    /// Hash of the value restored (absent for deletes).
    pub new_hash: Option<Id>,
    /// Value bytes put.
    #[serde(skip_serializing_if = "is_zero")]
    pub size: u64,
    /// Lease the key is attached to.
    #[serde(skip_serializing_if = "is_zero_i")]
    pub lease: i64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
fn is_zero_i(v: &i64) -> bool {
    *v == 0
}

/// What a restore into etcd did (or, with `dry_run`, would do).
#[derive(Debug, Serialize)]
pub struct EtcdRestoreReport {
    /// The cluster written to.
    pub cluster_id: String,
    /// Its etcd version.
    pub server_version: String,
    /// The revision the snapshot captured.
    pub snapshot_revision: i64,
    /// The prefix restored.
    pub prefix: NodeName,
    /// The cluster's revision when it was read.
    pub revision_before: i64,
    /// Its revision after the last change.
    pub revision_after: i64,
    /// Keys put.
    pub puts: u64,
    /// Keys deleted.
    pub deletes: u64,
    /// Keys already equal to the snapshot.
    pub unchanged: u64,
    /// Leases granted with their snapshot ID (or a new one, when taken).
    pub leases_granted: u64,
    /// Leases that already existed and were used as they are.
    pub leases_reused: u64,
    /// Keys changed by someone else during the restore, left as they are.
    pub conflicts: Vec<NodeName>,
    /// Only planned.
    pub dry_run: bool,
    /// The changes (planned, or applied).
    pub changes: Vec<EtcdChange>,
    /// Keys the snapshot holds under the prefix.
    pub keys: u64,
    /// Their digest (spec §14.1).
    pub digest: Id,
    /// Whether the cluster's keyspace under the prefix ended equal to the
    /// snapshot's (count and digest); not checked in a dry run.
    pub verified: bool,
    /// Bytes of values read and authenticated before the first change.
    #[serde(skip_serializing_if = "is_zero")]
    pub staged_bytes: u64,
}

/// A key of the snapshot.
struct SnapKey {
    key: Vec<u8>,
    content: Vec<BlobId>,
    size: u64,
    hash: Id,
    lease: i64,
}

/// A key of the cluster, as read.
struct LiveKey {
    mod_revision: i64,
    hash: Id,
    lease: i64,
}

/// A change to apply, with what the key must still be for it to apply.
#[derive(Clone)]
struct Planned {
    index: Option<usize>,
    key: Vec<u8>,
    expect_mod: i64,
    old_hash: Option<Id>,
}

/// Restores the snapshot's etcd keyspace into the cluster.
pub fn restore_to_etcd(
    repo: &Repository,
    manifest: &SnapshotManifest,
    options: &EtcdRestoreOptions,
) -> Result<EtcdRestoreReport, RestoreError> {
    let (capture, subtree) = find_etcd_source(repo, manifest)?;
    let prefix = options
        .prefix
        .clone()
        .unwrap_or_else(|| capture.prefix.as_bytes().to_vec());
    if !prefix.starts_with(capture.prefix.as_bytes()) {
        return Err(RestoreError::Etcd(format!(
            "the snapshot holds only keys under {:?}: restoring {:?} would delete keys it knows nothing of; give --etcd-prefix {:?} or a longer prefix",
            capture.prefix.display(),
            String::from_utf8_lossy(&prefix),
            capture.prefix.display()
        )));
    }
    let mut client_options = options.client.clone();
    client_options.endpoints = options.location.endpoints.clone();
    let client = EtcdClient::connect(&client_options).map_err(etcd_err)?;
    let status = client.status().map_err(etcd_err)?;
    let cluster_id = crate::snapshot::etcd_id_hex(status.cluster_id);
    if cluster_id != capture.cluster_id && !options.any_cluster {
        return Err(RestoreError::Etcd(format!(
            "{} is cluster {cluster_id}, but the snapshot was taken of cluster {}; give --any-cluster to restore into another cluster (a freshly deployed one, say)",
            options.location.text, capture.cluster_id
        )));
    }
    if major_minor(&status.version) != major_minor(&capture.server_version)
        && !options.ignore_version
    {
        return Err(RestoreError::Etcd(format!(
            "{} runs etcd {}, but the snapshot was taken of etcd {}; give --ignore-version to restore anyway",
            options.location.text, status.version, capture.server_version
        )));
    }

    // The snapshot's keys, then the cluster's, both in key order.
    let mut snap = Vec::new();
    let mut digest = KeyspaceDigest::new();
    for_each_etcd_key(repo, &subtree, &prefix, &mut |node| {
        let meta = node
            .etcd
            .as_ref()
            .expect("etcdkey nodes have metadata (checked on decode)");
        digest.add(node.name.as_bytes(), &meta.value_hash);
        snap.push(SnapKey {
            hash: meta.value_hash,
            lease: meta.lease,
            size: node.size,
            content: node.content.clone().unwrap_or_default(),
            key: node.name.0,
        });
        Ok(())
    })?;
    let (live, revision_before) = read_live(&client, &prefix)?;

    // The plan, with the snapshot's lease IDs: a lease taken since is given
    // a new ID below, which can only add puts of keys whose lease was
    // remapped, and those are planned already (their live lease differs).
    let identity: BTreeMap<i64, i64> = snap
        .iter()
        .filter(|k| k.lease != 0)
        .map(|k| (k.lease, k.lease))
        .collect();
    let (plan, changes, unchanged) = plan_changes(&snap, &live, &identity);
    let puts = changes.iter().filter(|c| c.action == "put").count() as u64;
    let mut report = EtcdRestoreReport {
        cluster_id,
        server_version: status.version.clone(),
        snapshot_revision: capture.revision,
        prefix: NodeName(prefix.clone()),
        revision_before,
        revision_after: revision_before,
        puts,
        deletes: changes.len() as u64 - puts,
        unchanged,
        leases_granted: 0,
        leases_reused: 0,
        conflicts: Vec::new(),
        dry_run: options.dry_run,
        changes,
        keys: digest.count(),
        digest: digest.finish(),
        verified: false,
        staged_bytes: 0,
    };
    if options.dry_run && !options.verify_in_dry_run {
        return Ok(report);
    }

    // Every value to put is read and authenticated before the first change
    // (a lease grant included): a damaged blob leaves the cluster as it was.
    let blobs: Vec<BlobId> = plan
        .iter()
        .filter_map(|p| p.index)
        .flat_map(|i| snap[i].content.iter().copied())
        .collect();
    let stage = match BlobStage::fill(repo, &blobs, 8)? {
        Ok(stage) => stage,
        Err(failure) => {
            let key = plan
                .iter()
                .filter_map(|p| p.index)
                .find(|&i| snap[i].content.contains(&failure.blob))
                .map(|i| NodeName(snap[i].key.clone()).display())
                .unwrap_or_default();
            return Err(RestoreError::EtcdUnchanged {
                cluster: options.location.text.clone(),
                key,
                reason: failure.reason,
                count: failure.count,
            });
        }
    };
    for p in &plan {
        if let Some(i) = p.index {
            staged_value(&stage, &snap[i])?;
        }
    }
    report.staged_bytes = stage.bytes;
    if options.dry_run {
        return Ok(report);
    }

    // Leases: same ID where free, reused where it exists.
    let lease_ttls: BTreeMap<i64, i64> = capture.leases.iter().map(|l| (l.id, l.ttl)).collect();
    let wanted_leases: BTreeSet<i64> = identity.keys().copied().collect();
    let mut lease_map = identity.clone();
    if !wanted_leases.is_empty() {
        let existing: BTreeSet<i64> = client.leases().map_err(etcd_err)?.into_iter().collect();
        for &id in &wanted_leases {
            if existing.contains(&id) {
                report.leases_reused += 1;
                continue;
            }
            let ttl = lease_ttls.get(&id).copied().unwrap_or(EXPIRED_LEASE_TTL);
            let granted = match client.grant_lease(id, ttl) {
                Ok(g) => g,
                // Taken between the listing and now: a new ID.
                Err(EtcdError::Refused { .. }) => client.grant_lease(0, ttl).map_err(etcd_err)?,
                Err(e) => return Err(etcd_err(e)),
            };
            lease_map.insert(id, granted);
            report.leases_granted += 1;
        }
    }
    let (plan, changes, unchanged) = if lease_map == identity {
        (plan, std::mem::take(&mut report.changes), report.unchanged)
    } else {
        plan_changes(&snap, &live, &lease_map)
    };
    report.changes = changes;
    report.unchanged = unchanged;
    report.puts = report.changes.iter().filter(|c| c.action == "put").count() as u64;
    report.deletes = report.changes.len() as u64 - report.puts;

    let mut audit = match &options.audit {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| RestoreError::Io {
                action: "create the audit file",
                path: path.display().to_string(),
                source: e,
            })?,
        )),
        None => None,
    };
    let applier = Applier {
        stage: &stage,
        client: &client,
        snap: &snap,
        lease_map: &lease_map,
        force: options.force,
        max_ops: options.max_txn_ops.max(1),
        max_bytes: options.max_txn_bytes.max(1),
    };
    let audit_path = options.audit.clone().unwrap_or_default();
    let sink = audit
        .as_mut()
        .map(|w| (w as &mut (dyn Write + Send), audit_path.clone()));
    let applied = applier.apply(&plan, revision_before, sink)?;
    let conflicts = applied.conflicts;
    report.revision_after = applied.revision;
    if let Some(mut w) = audit {
        w.flush().map_err(|e| RestoreError::Io {
            action: "write the audit file",
            path: audit_path.display().to_string(),
            source: e,
        })?;
    }
    report.conflicts = conflicts.into_iter().map(NodeName).collect();

    // Verify: the cluster now holds exactly the snapshot's keyspace.
    let (after, _) = read_live(&client, &prefix)?;
    let mut live_digest = KeyspaceDigest::new();
    for (key, l) in &after {
        live_digest.add(key, &l.hash);
    }
    report.verified = live_digest.count() == report.keys && live_digest.finish() == report.digest;
    Ok(report)
}

/// What to change: a put of each snapshot key that is missing or differs
/// (value hash, or lease under `lease_map`), a delete of each live key the
/// snapshot lacks; the changes for the report; how many keys are equal.
fn plan_changes(
    snap: &[SnapKey],
    live: &BTreeMap<Vec<u8>, LiveKey>,
    lease_map: &BTreeMap<i64, i64>,
) -> (Vec<Planned>, Vec<EtcdChange>, u64) {
    let mut plan = Vec::new();
    let mut changes = Vec::new();
    let mut unchanged = 0;
    for (i, k) in snap.iter().enumerate() {
        let lease = lease_map.get(&k.lease).copied().unwrap_or(0);
        match live.get(&k.key) {
            Some(l) if l.hash == k.hash && l.lease == lease => unchanged += 1,
            other => {
                let old_hash = other.map(|l| l.hash);
                plan.push(Planned {
                    index: Some(i),
                    key: k.key.clone(),
                    expect_mod: other.map_or(0, |l| l.mod_revision),
                    old_hash,
                });
                changes.push(EtcdChange {
                    key: NodeName(k.key.clone()),
                    action: "put",
                    old_hash,
                    new_hash: Some(k.hash),
                    size: k.size,
                    lease,
                });
            }
        }
    }
    let in_snapshot: BTreeSet<&[u8]> = snap.iter().map(|k| k.key.as_slice()).collect();
    for (key, l) in live {
        if !in_snapshot.contains(key.as_slice()) {
            plan.push(Planned {
                index: None,
                key: key.clone(),
                expect_mod: l.mod_revision,
                old_hash: Some(l.hash),
            });
            changes.push(EtcdChange {
                key: NodeName(key.clone()),
                action: "delete",
                old_hash: Some(l.hash),
                new_hash: None,
                size: 0,
                lease: 0,
            });
        }
    }
    (plan, changes, unchanged)
}

/// A snapshot key's value from the stage, checked against its recorded hash.
fn staged_value(stage: &BlobStage, k: &SnapKey) -> Result<Vec<u8>, RestoreError> {
    let mut value = Vec::with_capacity(k.size as usize);
    for id in &k.content {
        stage.append(id, &mut value)?;
    }
    if value_hash(&value) != k.hash {
        return Err(RestoreError::Etcd(format!(
            "the snapshot's value of {:?} does not match its recorded hash; run `snap check --read-data`",
            String::from_utf8_lossy(&k.key)
        )));
    }
    Ok(value)
}

/// The cluster's keys under `prefix` at one revision: mod revision, value
/// hash and lease of each. Retries a read overtaken by compaction.
fn read_live(
    client: &EtcdClient,
    prefix: &[u8],
) -> Result<(BTreeMap<Vec<u8>, LiveKey>, i64), RestoreError> {
    let end = etcd::prefix_end(prefix);
    let mut attempts = 0;
    loop {
        let mut live = BTreeMap::new();
        let read = etcd::read_parallel(
            client,
            prefix,
            &end,
            4,
            |kvs: Vec<KeyValue>| {
                Ok::<_, EtcdError>(
                    kvs.into_iter()
                        .map(|kv| {
                            let live = LiveKey {
                                mod_revision: kv.mod_revision,
                                hash: value_hash(&kv.value),
                                lease: kv.lease,
                            };
                            (kv.key, live)
                        })
                        .collect(),
                )
            },
            |items: Vec<(Vec<u8>, LiveKey)>| {
                live.extend(items);
                Ok(())
            },
        );
        match read {
            Ok(revision) => return Ok((live, revision)),
            Err(EtcdError::Compacted { .. }) if attempts < 3 => attempts += 1,
            Err(e) => return Err(etcd_err(e)),
        }
    }
}

/// The snapshot's etcd source and its keyspace tree.
pub fn find_etcd_source(
    repo: &Repository,
    manifest: &SnapshotManifest,
) -> Result<(EtcdCapture, BlobId), RestoreError> {
    let Some(record) = manifest.sources.iter().find(|s| s.kind == "etcd") else {
        return Err(RestoreError::Etcd(
            "the snapshot holds no etcd keyspace; pick one whose `snap snapshots` sources list etcd".into(),
        ));
    };
    let (Some(capture), Some(name)) = (&record.etcd, &record.node) else {
        return Err(RestoreError::Etcd(
            "the snapshot's etcd record is incomplete".into(),
        ));
    };
    let root = crate::snapshot::load_tree(repo, &manifest.tree)?;
    let subtree = find_node_subtree(&root, name)
        .ok_or_else(|| RestoreError::Etcd(format!("the snapshot's root has no {name} node")))?;
    Ok((capture.clone(), subtree))
}

fn find_node_subtree(root: &Tree, name: &str) -> Option<BlobId> {
    root.find(name.as_bytes())
        .filter(|n| n.node_type == crate::snapshot::NodeType::Etcd)
        .and_then(|n| n.subtree)
}

fn major_minor(version: &str) -> &str {
    let mut dots = version.match_indices('.');
    match dots.nth(1) {
        Some((i, _)) => &version[..i],
        None => version,
    }
}

fn etcd_err(e: EtcdError) -> RestoreError {
    RestoreError::Etcd(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major_minor() {
        assert_eq!(major_minor("3.4.23"), "3.4");
        assert_eq!(major_minor("3.5"), "3.5");
        assert_ne!(major_minor("3.4.1"), major_minor("3.5.1"));
    }
}

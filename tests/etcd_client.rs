//! snap's etcd client against real etcd (Debian's `etcd-server`): a keyspace
//! read page by page at one revision stays consistent while a writer runs,
//! a compacted revision is reported as such, transactions apply only when
//! their keys are unchanged, leases keep their IDs, and a 3-member cluster
//! reports its members and keeps serving with one member down.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::servers::{etcd, etcd_cluster};
use snap::etcd::{prefix_end, read_at_one_revision, EtcdClient, EtcdError, EtcdOptions, Op};

fn client(endpoints: &[&str]) -> EtcdClient {
    EtcdClient::connect(&EtcdOptions {
        endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .unwrap()
}

fn put(c: &EtcdClient, key: &str, value: &[u8]) -> i64 {
    let op = Op::Put {
        key: key.as_bytes().to_vec(),
        value: value.to_vec(),
        lease: 0,
    };
    c.txn(&[], &[op]).unwrap().1
}

#[test]
fn a_paginated_read_sees_one_revision_while_a_writer_runs() {
    let node = etcd();
    let c = client(&[&node.endpoint]);
    let ops: Vec<Op> = (0..100)
        .map(|i| Op::Put {
            key: format!("/registry/pods/ns/p{i:04}").into_bytes(),
            value: vec![i as u8; 100],
            lease: 0,
        })
        .collect();
    for chunk in ops.chunks(50) {
        c.txn(&[], chunk).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, endpoint) = (Arc::clone(&stop), node.endpoint.clone());
        std::thread::spawn(move || {
            let c = client(&[&endpoint]);
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                put(
                    &c,
                    &format!("/registry/pods/ns/p{:04}", n % 100),
                    b"changed",
                );
                put(&c, &format!("/registry/new/{n}"), b"new");
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut seen = Vec::new();
    let revision = read_at_one_revision(&c, b"/registry/", &prefix_end(b"/registry/"), 7, |kvs| {
        seen.extend(kvs);
        Ok::<_, EtcdError>(7)
    })
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > 0);
    // Every key is at or before the revision, and the set is exactly what
    // one unpaginated read at that revision returns.
    assert!(seen.iter().all(|kv| kv.mod_revision <= revision));
    let whole = c
        .range(b"/registry/", &prefix_end(b"/registry/"), revision, 0)
        .unwrap();
    assert_eq!(seen, whole.kvs);
    assert!(seen.windows(2).all(|w| w[0].key < w[1].key));
}

#[test]
fn compaction_and_transactions_and_leases() {
    let node = etcd();
    let c = client(&[&node.endpoint]);
    let r1 = put(&c, "/a", b"1");
    let r2 = put(&c, "/a", b"2");
    c.compact(r2).unwrap();
    match c.range(b"/a", b"", r1, 0) {
        Err(EtcdError::Compacted { revision }) => assert_eq!(revision, r1),
        other => panic!("expected a compaction error, got {other:?}"),
    }
    // A transaction applies only while its keys are unchanged.
    let change = [Op::Put {
        key: b"/a".to_vec(),
        value: b"3".to_vec(),
        lease: 0,
    }];
    let (applied, _) = c.txn(&[(b"/a".to_vec(), r1)], &change).unwrap();
    assert!(!applied, "/a changed after r1");
    let (applied, r3) = c.txn(&[(b"/a".to_vec(), r2)], &change).unwrap();
    assert!(applied && r3 > r2);
    let page = c.range(b"/a", b"", 0, 0).unwrap();
    assert_eq!(page.kvs[0].value, b"3");
    assert_eq!(page.kvs[0].version, 3);
    // A lease keeps the ID asked for, and keys attach to it.
    let lease = c.grant_lease(0x1234_5678, 600).unwrap();
    assert_eq!(lease, 0x1234_5678);
    c.txn(
        &[],
        &[Op::Put {
            key: b"/leased".to_vec(),
            value: b"x".to_vec(),
            lease,
        }],
    )
    .unwrap();
    let page = c.range(b"/leased", b"", 0, 0).unwrap();
    assert_eq!(page.kvs[0].lease, lease);
    // A key with an unknown lease is refused.
    let refused = c.txn(
        &[],
        &[Op::Put {
            key: b"/x".to_vec(),
            value: b"x".to_vec(),
            lease: 999,
        }],
    );
    assert!(
        matches!(refused, Err(EtcdError::Refused { .. })),
        "{refused:?}"
    );
    // Deletes.
    c.txn(
        &[],
        &[Op::Delete {
            key: b"/a".to_vec(),
        }],
    )
    .unwrap();
    let left = c.range(b"/a", b"", 0, 0).unwrap().kvs;
    assert!(left.is_empty(), "{left:?}");
    let status = c.status().unwrap();
    assert!(status.version.starts_with("3."), "{status:?}");
    assert!(status.cluster_id != 0 && status.revision > r3);
}

#[test]
fn a_three_member_cluster_reports_members_and_survives_one_down() {
    let mut nodes = etcd_cluster(3);
    let endpoints: Vec<&str> = nodes.iter().map(|n| n.endpoint.as_str()).collect();
    let c = client(&endpoints);
    let members = c.members().unwrap();
    assert_eq!(members.len(), 3);
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["n0", "n1", "n2"]);
    let cluster = c.status().unwrap().cluster_id;
    put(&c, "/k", b"v");
    nodes[0].kill();
    // The client moves on to the next endpoint; the cluster keeps quorum
    // and, after an election if n0 led, a leader (status retries meanwhile).
    let endpoints: Vec<&str> = nodes.iter().map(|n| n.endpoint.as_str()).collect();
    let c = client(&endpoints);
    let n0 = members.iter().find(|m| m.name == "n0").unwrap().id;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while c.status().map_or(true, |s| s.leader == n0 || s.leader == 0) {
        assert!(std::time::Instant::now() < deadline, "no new leader");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    put(&c, "/k2", b"v2");
    let page = c.range(b"/k", &prefix_end(b"/k"), 0, 0).unwrap();
    assert_eq!(page.kvs.len(), 2);
    assert_eq!(c.status().unwrap().cluster_id, cluster);
}

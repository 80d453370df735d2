//! etcd backup and restore of a Kubernetes-like keyspace, with `etcdctl
//! snapshot save` and `etcdctl snapshot restore` on the same data beside
//! them: time and peak RSS of each, and what each stores.
//!
//! The keyspace: pods, configmaps, secrets and events in 50 namespaces, as
//! protobuf in the `k8s\0` envelope (1-6 KB each, partly repetitive like
//! real objects). snap backs it up, backs it up again unchanged, then again
//! after 1% of the values changed; it restores into a fresh cluster and into
//! the original cluster after a tenth of a percent of its keys were
//! damaged. etcdctl saves the whole database file and restores it into a new
//! data folder (which then still has to be started as a new cluster).
//!
//! `cargo bench --bench etcd`: 100,000 keys (`SNAP_BENCH_KEYS` changes it).
//! Under `cargo test` it runs once on 2,000 keys as a smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;

use common::servers::{etcd, EtcdNode};
use common::{bench_snap as snap, measured, run_ok};
use snap::etcd::{prefix_end, EtcdClient, EtcdOptions, Op};

fn client(node: &EtcdNode) -> EtcdClient {
    EtcdClient::connect(&EtcdOptions {
        endpoints: vec![node.endpoint.clone()],
        ..Default::default()
    })
    .unwrap()
}

fn location(node: &EtcdNode) -> String {
    node.endpoint.replace("http://", "etcd://")
}

/// A Kubernetes object as kube-apiserver stores it: `k8s\0`, TypeMeta, body.
fn object(kind: &str, name: &str, seed: u64, size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size);
    // Real objects repeat labels, field names and images; half the bytes
    // are such text, half vary.
    while body.len() < size / 2 {
        body.extend_from_slice(
            format!("metadata.name={name} app.kubernetes.io/part-of=shop image=registry.local/{kind}:1.2.3 ")
                .as_bytes(),
        );
    }
    body.extend(common::noise(seed, size / 2));
    common::k8s_value("v1", kind, &body)
}

fn keyspace(keys: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let kinds = [
        ("pods", "Pod", 4000),
        ("configmaps", "ConfigMap", 2000),
        ("secrets", "Secret", 1200),
        ("events", "Event", 800),
    ];
    (0..keys)
        .map(|i| {
            let (resource, kind, size) = kinds[i % kinds.len()];
            let name = format!("{resource}-{i:07}");
            let key = format!("/registry/{resource}/ns{:02}/{name}", i % 50);
            let size = size / 2 + (i * 7919) % size;
            (key.into_bytes(), object(kind, &name, i as u64, size))
        })
        .collect()
}

fn load(c: &EtcdClient, kvs: &[(Vec<u8>, Vec<u8>)]) {
    let mut batch = Vec::new();
    let mut bytes = 0;
    for (k, v) in kvs {
        batch.push(Op::Put {
            key: k.clone(),
            value: v.clone(),
            lease: 0,
        });
        bytes += v.len();
        if batch.len() == 128 || bytes > 1_000_000 {
            c.txn(&[], &batch).unwrap();
            batch.clear();
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        c.txn(&[], &batch).unwrap();
    }
}

fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(c: &EtcdClient) -> usize {
    let mut n = 0;
    snap::etcd::read_at_one_revision(c, b"/", &prefix_end(b"/"), 1000, |kvs| {
        n += kvs.len();
        Ok::<i64, snap::etcd::EtcdError>(1000)
    })
    .unwrap();
    n
}

fn main() {
    let keys = common::bench_size("SNAP_BENCH_KEYS", 100_000, 2_000);
    let work = tempfile::tempdir().unwrap();
    let node = etcd();
    let c = client(&node);
    let data = keyspace(keys);
    let value_bytes: usize = data.iter().map(|(_, v)| v.len()).sum();
    load(&c, &data);
    let has_etcdctl = Command::new("etcdctl").arg("version").output().is_ok();
    let repo = work.path().join("repo");
    run_ok(snap(&repo, &["init"]));
    let mb = |b: f64| format!("{:.1} MB", b / 1e6);
    let rss = |r: Option<u64>| {
        r.map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
            .unwrap_or_default()
    };
    println!(
        "keyspace: {keys} keys, {} of values (Kubernetes-like protobuf objects)",
        mb(value_bytes as f64)
    );
    println!("| operation | seconds | peak RSS | stored |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, (secs, r): (f64, Option<u64>), stored: String| {
        println!("| {name} | {secs:.2} | {} | {stored} |", rss(r));
    };

    let before = common::dir_size(&repo) as f64;
    let r = measured(snap(&repo, &["-q", "backup", &location(&node)]));
    row(
        "snap backup",
        r,
        format!("+{}", mb(common::dir_size(&repo) as f64 - before)),
    );
    let before = common::dir_size(&repo) as f64;
    let r = measured(snap(&repo, &["-q", "backup", &location(&node)]));
    row(
        "snap backup, no change",
        r,
        format!("+{}", mb(common::dir_size(&repo) as f64 - before)),
    );
    let changed: Vec<(Vec<u8>, Vec<u8>)> = data
        .iter()
        .step_by(100)
        .map(|(k, v)| {
            let mut v = v.clone();
            let n = v.len();
            v[n - 1] ^= 0xff;
            (k.clone(), v)
        })
        .collect();
    load(&c, &changed);
    let before = common::dir_size(&repo) as f64;
    let r = measured(snap(&repo, &["-q", "backup", &location(&node)]));
    row(
        "snap backup, 1% of values changed",
        r,
        format!("+{}", mb(common::dir_size(&repo) as f64 - before)),
    );
    if has_etcdctl {
        let file = work.path().join("etcd.db");
        let mut save = Command::new("etcdctl");
        save.env("ETCDCTL_API", "3")
            .args(["--endpoints", &node.endpoint, "snapshot", "save"])
            .arg(&file);
        let r = measured(save);
        row(
            "etcdctl snapshot save (whole file, each time)",
            r,
            mb(std::fs::metadata(&file).unwrap().len() as f64),
        );
        let mut restore = Command::new("etcdctl");
        restore
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "restore"])
            .arg(&file)
            .arg("--data-dir")
            .arg(work.path().join("etcdctl-restored"));
        let r = measured(restore);
        row(
            "etcdctl snapshot restore (to a data folder, cluster not started)",
            r,
            String::new(),
        );
    } else {
        println!("| etcdctl (not installed) | | | |");
    }

    let fresh = etcd();
    let r = measured(snap(
        &repo,
        &[
            "-q",
            "restore",
            "latest",
            "--any-cluster",
            "--to",
            &location(&fresh),
        ],
    ));
    row(
        "snap restore into a fresh running cluster",
        r,
        String::new(),
    );
    assert_eq!(count(&client(&fresh)), keys);

    // Damage a tenth of a percent of the keys, add and delete some.
    let step = 1000.min(keys);
    for (i, (k, _)) in data.iter().enumerate().step_by(step) {
        let op = if i % 2 == 0 {
            Op::Delete { key: k.clone() }
        } else {
            Op::Put {
                key: k.clone(),
                value: b"damaged".to_vec(),
                lease: 0,
            }
        };
        c.txn(&[], &[op]).unwrap();
    }
    let plan = json(&mut snap(
        &repo,
        &[
            "--json",
            "restore",
            "latest",
            "--dry-run",
            "--to",
            &location(&node),
        ],
    ));
    let changes = plan["changes"].as_array().unwrap().len();
    let r = measured(snap(
        &repo,
        &["-q", "restore", "latest", "--to", &location(&node)],
    ));
    row(
        &format!("snap restore into the running cluster, {changes} keys damaged"),
        r,
        String::new(),
    );
    assert_eq!(count(&c), keys);
}

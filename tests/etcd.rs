//! `snap backup etcd://...` and `snap restore --to etcd://...` against real
//! etcd (Debian's `etcd-server`): a backup under a running writer equals the
//! keyspace at its revision; a dirty cluster goes back to a snapshot exactly,
//! `--dry-run` changes nothing and the audit lists exactly the changes; keys
//! changed during a restore are reported, not overwritten; restores into a
//! fresh cluster, a 3-member cluster and one snap deploys; leases, large
//! values, prefixes, compaction and etcd users.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::etcd_kv::{client, delete, keyspace, kube_keyspace, put, put_all};
use common::servers::{etcd, etcd_cluster, EtcdNode};
use common::{json_of, noise, Fixture};
use snap::etcd::{EtcdClient, EtcdOptions};

fn location(node: &EtcdNode) -> String {
    node.endpoint.replace("http://", "etcd://")
}

fn backup(f: &Fixture, loc: &str, extra: &[&str]) -> serde_json::Value {
    json_of(f.snap().args(["--json", "backup", loc]).args(extra))
}

fn etcd_record(report: &serde_json::Value) -> &serde_json::Value {
    report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "etcd")
        .map(|s| &s["etcd"])
        .unwrap()
}

#[test]
fn a_backup_under_a_writer_equals_the_keyspace_at_its_revision() {
    let node = etcd();
    let c = client(&node.endpoint);
    put_all(&c, &kube_keyspace(3000));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, endpoint) = (Arc::clone(&stop), node.endpoint.clone());
        std::thread::spawn(move || {
            let c = client(&endpoint);
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                put(
                    &c,
                    &format!("/registry/pods/ns1/pod-{:05}", n * 7 % 3000),
                    b"changed",
                    0,
                );
                put(&c, &format!("/registry/pods/new/p{n}"), b"new", 0);
                delete(
                    &c,
                    &format!("/registry/pods/ns2/pod-{:05}", (n * 5 + 2) % 3000),
                );
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let f = Fixture::new();
    let report = backup(&f, &location(&node), &[]);
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0, "the writer ran");
    let record = etcd_record(&report);
    let revision = record["revision"].as_i64().unwrap();
    let expected = keyspace(&c, b"", revision);
    assert_eq!(record["keys"].as_u64().unwrap(), expected.len() as u64);
    assert_eq!(report["etcd_keys"].as_u64().unwrap(), expected.len() as u64);

    // `ls` lists exactly those keys, with Kubernetes resources and kinds.
    let listing = json_of(f.snap().args(["--json", "ls", "latest"]));
    let entries: Vec<&serde_json::Value> = listing
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "etcdkey")
        .collect();
    assert_eq!(entries.len(), expected.len());
    let pod = entries
        .iter()
        .find(|e| e["key"] == "/registry/pods/ns0/pod-00000")
        .unwrap();
    assert_eq!(pod["kubernetes"]["resource"], "pods");
    assert_eq!(pod["kubernetes"]["namespace"], "ns0");
    assert_eq!(pod["kubernetes"]["name"], "pod-00000");
    assert_eq!(pod["etcd"]["kind"], "Pod");
    assert_eq!(pod["etcd"]["api_version"], "v1");
    let widget = entries
        .iter()
        .find(|e| e["key"] == "/registry/example.com/widgets/ns0/w1")
        .unwrap();
    assert_eq!(widget["kubernetes"]["resource"], "example.com/widgets");
    assert_eq!(widget["etcd"]["kind"], "Widget");
    let text = f.snap().args(["ls", "latest"]).output().unwrap().stdout;
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("/@etcd/registry/namespaces/ns3  namespaces ns3 (v1 Namespace)"),
        "{text}"
    );

    // Restored into a fresh cluster, it is the keyspace at that revision.
    let fresh = etcd();
    f.snap()
        .args([
            "restore",
            "latest",
            "--any-cluster",
            "--to",
            &location(&fresh),
        ])
        .assert()
        .success();
    assert_eq!(keyspace(&client(&fresh.endpoint), b"", 0), expected);
}

#[test]
fn a_dirty_cluster_goes_back_to_a_snapshot_exactly() {
    let node = etcd();
    let c = client(&node.endpoint);
    let mut kvs = kube_keyspace(500);
    // A value near etcd's request limit restores in a transaction of its own.
    kvs.push((b"/registry/secrets/ns0/big".to_vec(), noise(7, 1_300_000)));
    put_all(&c, &kvs[..kvs.len() - 1]);
    put(&c, "/registry/secrets/ns0/big", &kvs.last().unwrap().1, 0);
    let f = Fixture::new();
    let first = backup(&f, &location(&node), &[]);
    let original = keyspace(&c, b"", 0);
    assert!(etcd_record(&first)["digest"].is_string());

    // A second backup of the unchanged keyspace stores no new data.
    let second = backup(&f, &location(&node), &[]);
    assert_eq!(second["data_added"].as_u64().unwrap(), 0, "{second}");

    // Break it: change, add and delete keys, and change the big value.
    let changed = [
        "/registry/pods/ns0/pod-00005",
        "/registry/configmaps/ns2/settings",
    ];
    for k in changed {
        put(&c, k, b"tampered", 0);
    }
    put(&c, "/registry/pods/ns9/intruder", b"x", 0);
    put(&c, "plain/added", b"y", 0);
    delete(&c, "/registry/pods/ns1/pod-00001");
    delete(&c, "/registry/namespaces/ns4");
    put(&c, "/registry/secrets/ns0/big", b"small now", 0);
    let dirty = keyspace(&c, b"", 0);
    let rev_dirty = c.status().unwrap().revision;

    // `diff` names the changed keys; a dry run shows the plan and changes
    // nothing.
    let id = first["snapshot_id"].as_str().unwrap().to_string();
    let second_id = second["snapshot_id"].as_str().unwrap();
    let diff = f.snap().args(["diff", &id, second_id]).output().unwrap();
    assert!(String::from_utf8_lossy(&diff.stdout).contains("0 change(s)"));
    backup(&f, &location(&node), &[]);
    let diff = f.snap().args(["diff", &id, "latest"]).output().unwrap();
    let diff = String::from_utf8(diff.stdout).unwrap();
    for line in [
        "M  /@etcd/registry/pods/ns0/pod-00005",
        "-  /@etcd/registry/pods/ns1/pod-00001",
        "+  /@etcd/registry/pods/ns9/intruder",
        "+  /@etcd/plain/added",
        "M  /@etcd/registry/secrets/ns0/big",
        "7 change(s)",
    ] {
        assert!(diff.contains(line), "{line} in {diff}");
    }
    let plan = json_of(f.snap().args([
        "--json",
        "restore",
        &id,
        "--dry-run",
        "--to",
        &location(&node),
    ]));
    assert_eq!(c.status().unwrap().revision, rev_dirty, "dry run wrote");
    assert_eq!(keyspace(&c, b"", 0), dirty);
    let mut planned: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    planned.sort();
    let mut want: Vec<(String, String)> = vec![
        ("delete", "/registry/pods/ns9/intruder"),
        ("delete", "plain/added"),
        ("put", "/registry/configmaps/ns2/settings"),
        ("put", "/registry/namespaces/ns4"),
        ("put", "/registry/pods/ns0/pod-00005"),
        ("put", "/registry/pods/ns1/pod-00001"),
        ("put", "/registry/secrets/ns0/big"),
    ]
    .into_iter()
    .map(|(a, k)| (a.to_string(), k.to_string()))
    .collect();
    want.sort();
    assert_eq!(planned, want);

    // The restore, with an audit of exactly those changes.
    let audit = f.path("audit.jsonl");
    let report = json_of(f.snap().args([
        "--json",
        "restore",
        &id,
        "--audit",
        audit.to_str().unwrap(),
        "--to",
        &location(&node),
    ]));
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["puts"], 5);
    assert_eq!(report["deletes"], 2);
    assert_eq!(keyspace(&c, b"", 0), original);
    let text = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut audited: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_string(),
                l["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    audited.sort();
    assert_eq!(audited, want);
    let hash = |v: &[u8]| blake3::hash(v).to_hex().to_string();
    for l in &lines {
        let key = l["key"].as_str().unwrap().as_bytes();
        assert!(l["revision"].as_i64().unwrap() > rev_dirty);
        if l["action"] == "put" {
            assert_eq!(l["new_hash"].as_str().unwrap(), hash(&original[key]));
        }
        if let Some(old) = dirty.get(key) {
            assert_eq!(l["old_hash"].as_str().unwrap(), hash(old));
        } else {
            assert!(l["old_hash"].is_null());
        }
    }
    // Revisions moved forward: watchers see ordinary events.
    assert!(report["revision_after"].as_i64().unwrap() > rev_dirty);

    // Restoring again changes nothing.
    let again = json_of(
        f.snap()
            .args(["--json", "restore", &id, "--to", &location(&node)]),
    );
    assert_eq!(
        (again["puts"].as_u64(), again["deletes"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(again["unchanged"].as_u64().unwrap(), original.len() as u64);
}

#[test]
fn keys_changed_during_a_restore_are_reported_not_overwritten() {
    let node = etcd();
    let c = client(&node.endpoint);
    let kvs: Vec<(Vec<u8>, Vec<u8>)> = (0..300)
        .map(|i| {
            (
                format!("/a/k{i:04}").into_bytes(),
                format!("v{i}").into_bytes(),
            )
        })
        .collect();
    put_all(&c, &kvs);
    put(&c, "/z/contended", b"original", 0);
    let f = Fixture::new();
    backup(&f, &location(&node), &[]);
    // Every key differs now; a writer keeps changing the last one.
    let changed: Vec<(Vec<u8>, Vec<u8>)> = kvs
        .iter()
        .map(|(k, _)| (k.clone(), b"dirty".to_vec()))
        .collect();
    put_all(&c, &changed);
    put(&c, "/z/contended", b"dirty", 0);
    let run = |force: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, endpoint) = (Arc::clone(&stop), node.endpoint.clone());
            std::thread::spawn(move || {
                let c = client(&endpoint);
                while !stop.load(Ordering::Relaxed) {
                    put(&c, "/z/contended", b"theirs", 0);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            })
        };
        let mut cmd = f.snap();
        cmd.args([
            "--json",
            "restore",
            "latest",
            "--etcd-max-txn-ops",
            "1",
            "--to",
        ])
        .arg(location(&node));
        if force {
            cmd.arg("--force");
        }
        let out = cmd.output().unwrap();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        out
    };
    let out = run(false);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["conflicts"], serde_json::json!(["/z/contended"]));
    assert_eq!(report["verified"], false);
    assert_eq!(
        keyspace(&c, b"/z/", 0)[&b"/z/contended".to_vec()],
        b"theirs"
    );
    assert_eq!(keyspace(&c, b"/a/", 0), kvs.into_iter().collect());

    // --force overwrites (the writer is stopped, so it stays).
    let out = run(true);
    assert!(out.status.code().is_some());
    let forced = json_of(f.snap().args([
        "--json",
        "restore",
        "latest",
        "--force",
        "--to",
        &location(&node),
    ]));
    assert_eq!(forced["verified"], true);
    assert_eq!(
        keyspace(&c, b"/z/", 0)[&b"/z/contended".to_vec()],
        b"original"
    );
}

#[test]
fn restores_into_a_three_member_cluster_and_a_deployed_one_with_leases() {
    let node = etcd();
    let c = client(&node.endpoint);
    put_all(&c, &kube_keyspace(300));
    let lease = c.grant_lease(0x1234_5678, 900).unwrap();
    put(
        &c,
        "/registry/leases/kube-node-lease/n1",
        b"lease-held",
        lease,
    );
    put(
        &c,
        "/registry/leases/kube-node-lease/n2",
        b"lease-held-too",
        lease,
    );
    let expected = keyspace(&c, b"", 0);
    let f = Fixture::new();
    let report = backup(&f, &location(&node), &[]);
    let record = etcd_record(&report);
    assert_eq!(
        record["leases"],
        serde_json::json!([{"id": 0x1234_5678, "ttl": 900}])
    );
    assert_eq!(record["members"].as_array().unwrap().len(), 1);

    // Another cluster is refused without --any-cluster.
    let cluster = etcd_cluster(3);
    let loc = location(&cluster[0]);
    let out = f
        .snap()
        .args(["restore", "latest", "--to", &loc])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--any-cluster"));
    let all = cluster
        .iter()
        .map(|n| n.endpoint.replace("http://", ""))
        .collect::<Vec<_>>()
        .join(",");
    let restored = json_of(f.snap().args([
        "--json",
        "restore",
        "latest",
        "--any-cluster",
        "--to",
        &format!("etcd://{all}"),
    ]));
    assert_eq!(restored["verified"], true);
    assert_eq!(restored["leases_granted"], 1);
    for member in &cluster {
        let mc = client(&member.endpoint);
        assert_eq!(keyspace(&mc, b"", 0), expected, "member {}", member.name);
    }
    let mc = client(&cluster[1].endpoint);
    let kv = mc
        .range(b"/registry/leases/kube-node-lease/n1", &[], 0, 0)
        .unwrap()
        .kvs
        .remove(0);
    assert_eq!(kv.lease, 0x1234_5678, "same lease ID");
    assert_eq!(mc.lease_granted_ttl(kv.lease).unwrap(), Some(900));

    // --etcd-deploy starts a new etcd and restores into it.
    let data = f.path("etcd-new");
    let port = common::servers::free_port();
    let deployed = json_of(f.snap().args([
        "--json",
        "restore",
        "latest",
        "--etcd-deploy",
        "--etcd-data-dir",
        data.to_str().unwrap(),
        "--etcd-listen",
        &format!("127.0.0.1:{port}"),
    ]));
    let pid = deployed["deployed"]["pid"].as_u64().unwrap();
    let endpoint = deployed["deployed"]["client_url"]
        .as_str()
        .unwrap()
        .to_string();
    let same = keyspace(&client(&endpoint), b"", 0);
    // SAFETY: kill(2) on the pid of the etcd this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert_eq!(same, expected);
    assert_eq!(deployed["verified"], true);
    // A data folder in use is refused.
    let out = f
        .snap()
        .args(["restore", "latest", "--etcd-deploy", "--etcd-data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}

#[test]
fn prefixes_limit_what_is_captured_and_restored() {
    let node = etcd();
    let c = client(&node.endpoint);
    put_all(&c, &kube_keyspace(100));
    let f = Fixture::new();
    let report = backup(&f, &location(&node), &["--etcd-prefix", "/registry/pods/"]);
    let pods = keyspace(&c, b"/registry/pods/", 0);
    assert_eq!(
        etcd_record(&report)["keys"].as_u64().unwrap(),
        pods.len() as u64
    );
    // Wipe pods of one namespace and a key outside the prefix.
    for k in pods
        .keys()
        .filter(|k| k.starts_with(b"/registry/pods/ns3/"))
    {
        delete(&c, std::str::from_utf8(k).unwrap());
    }
    delete(&c, "plain/key");
    put(&c, "/registry/pods/ns0/extra", b"x", 0);
    // A wider prefix than captured is refused: it would delete unknown keys.
    let out = f
        .snap()
        .args([
            "restore",
            "latest",
            "--etcd-prefix",
            "/registry/",
            "--to",
            &location(&node),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only keys under"));
    // A narrower one restores just that namespace.
    let r = json_of(f.snap().args([
        "--json",
        "restore",
        "latest",
        "--etcd-prefix",
        "/registry/pods/ns3/",
        "--to",
        &location(&node),
    ]));
    assert_eq!(r["deletes"], 0);
    assert!(keyspace(&c, b"/registry/pods/ns0/extra", 0).len() == 1);
    let r = json_of(
        f.snap()
            .args(["--json", "restore", "latest", "--to", &location(&node)]),
    );
    assert_eq!(r["deletes"], 1, "only the extra pod");
    assert_eq!(keyspace(&c, b"/registry/pods/", 0), pods);
    assert!(
        keyspace(&c, b"plain/key", 0).is_empty(),
        "outside the prefix: untouched"
    );
}

#[test]
fn compaction_that_keeps_overtaking_the_read_fails_clearly() {
    let node = etcd();
    let c = client(&node.endpoint);
    let kvs: Vec<(Vec<u8>, Vec<u8>)> = (0..6000)
        .map(|i| (format!("/k/{i:05}").into_bytes(), noise(i, 2000)))
        .collect();
    put_all(&c, &kvs);
    let stop = Arc::new(AtomicBool::new(false));
    let compactor = {
        let (stop, endpoint) = (Arc::clone(&stop), node.endpoint.clone());
        std::thread::spawn(move || {
            let c = client(&endpoint);
            while !stop.load(Ordering::Relaxed) {
                let rev = put(&c, "/churn", b"x", 0);
                let _ = c.compact(rev);
            }
        })
    };
    let f = Fixture::new();
    let out = f
        .snap()
        .args(["backup", &location(&node)])
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    compactor.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("compacted the revision snap was reading 3 times"),
        "{err}"
    );
    // Nothing half-read became a snapshot.
    let list = json_of(f.snap().args(["--json", "snapshots"]));
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[test]
fn etcd_users_and_bad_locations() {
    let node = etcd();
    let c = client(&node.endpoint);
    put(&c, "/app/config", b"v", 0);
    let etcdctl = |args: &[&str]| {
        let out = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(&node.endpoint)
            .args(args)
            .output()
            .expect("etcdctl (Debian: apt-get install etcd-client)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    etcdctl(&["user", "add", "root:rootpw", "--interactive=false"]);
    etcdctl(&["auth", "enable"]);
    let f = Fixture::new();
    let out = f
        .snap()
        .args(["backup", &location(&node)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(f.snap().env("SNAP_ETCD_PASSWORD", "rootpw").args([
        "--json",
        "backup",
        "--etcd-user",
        "root",
        &location(&node),
    ]));
    assert_eq!(etcd_record(&report)["keys"], 1);
    let out = f
        .snap()
        .env("SNAP_ETCD_PASSWORD", "wrong")
        .args(["backup", "--etcd-user", "root", &location(&node)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("wrong"),
        "never print secrets"
    );

    for bad in ["etcd://nohost", "etcd://127.0.0.1:1"] {
        let out = f.snap().args(["backup", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("HOST:PORT") || err.contains("cannot reach etcd"),
            "{err}"
        );
    }
    // A snapshot without etcd cannot be restored into etcd.
    let dir = f.path("files");
    std::fs::create_dir(&dir).unwrap();
    f.snap().arg("backup").arg(&dir).assert().success();
    let out = f
        .snap()
        .args(["restore", "latest", "--to", "etcd://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn etcds_with_a_ca_and_a_client_certificate() {
    let f = Fixture::new();
    let certs = common::servers::test_certs(f.dir.path());
    let node = common::servers::etcd_tls(&certs);
    let tls = [
        "--etcd-cacert",
        certs.ca.to_str().unwrap(),
        "--etcd-cert",
        certs.client_cert.to_str().unwrap(),
        "--etcd-key",
        certs.client_key.to_str().unwrap(),
    ];
    let loc = node.endpoint.replace("https://", "etcds://");
    // Without the CA the server is not trusted; without a client
    // certificate etcd refuses the connection.
    let out = f.snap().args(["backup", &loc]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = f
        .snap()
        .args(["backup", &loc, "--etcd-cacert", certs.ca.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let c = EtcdClient::connect(&EtcdOptions {
        endpoints: vec![node.endpoint.clone()],
        ca_cert: Some(certs.ca.clone()),
        client_cert: Some(certs.client_cert.clone()),
        client_key: Some(certs.client_key.clone()),
        ..Default::default()
    })
    .unwrap();
    put(&c, "/tls/a", b"secret config", 0);
    let report = json_of(f.snap().args(["--json", "backup", &loc]).args(tls));
    assert_eq!(etcd_record(&report)["keys"], 1);
    delete(&c, "/tls/a");
    let r = json_of(
        f.snap()
            .args(["--json", "restore", "latest", "--to", &loc])
            .args(tls),
    );
    assert_eq!(r["verified"], true);
    assert_eq!(
        keyspace(&c, b"/tls/", 0)[&b"/tls/a".to_vec()],
        b"secret config"
    );
}

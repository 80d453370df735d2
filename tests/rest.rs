//! The REST backend against a real server: `rclone serve restic`.

mod common;

use std::fs;

use common::servers::rclone_restic;
use predicates::prelude::*;
use snap::backend::{conformance, Backend, RestBackend};

#[test]
fn conformance_against_rclone() {
    let server = rclone_restic(None);
    let backend = RestBackend::new(&format!("http://{}/repo/", server.addr)).unwrap();
    conformance::run(&backend);
}

#[test]
fn backup_and_restore_through_rclone_with_auth() {
    let server = rclone_restic(Some(("operator", "s3cret")));
    let f = common::Fixture::empty();
    let repo = format!("rest:http://operator:s3cret@{}/platform/", server.addr);
    let snap = || common::snap(&repo);
    snap().args(common::FAST_INIT).assert().success();
    let src = f.path("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/a.conf"), "first").unwrap();
    fs::write(src.join("data.bin"), common::noise(3, 3 << 20)).unwrap();
    let first = snap()
        .args(["--json", "backup"])
        .arg(&src)
        .assert()
        .success();
    let first: serde_json::Value = serde_json::from_slice(&first.get_output().stdout).unwrap();
    fs::write(src.join("etc/a.conf"), "second").unwrap();
    snap().arg("backup").arg(&src).assert().success();
    snap()
        .arg("snapshots")
        .assert()
        .success()
        .stdout(predicate::str::contains("2 snapshot(s)"));

    let target = f.path("out");
    let id = first["snapshot_id"].as_str().unwrap();
    snap()
        .args(["restore", id, "--target"])
        .arg(&target)
        .assert()
        .success();
    let back = common::restored(&target, &src);
    assert_eq!(fs::read(back.join("etc/a.conf")).unwrap(), b"first");
    assert_eq!(
        fs::read(back.join("data.bin")).unwrap(),
        fs::read(src.join("data.bin")).unwrap()
    );

    // Wrong credentials: a permanent error, at once, naming the location but
    // never the password.
    let wrong = format!("rest:http://operator:nope@{}/platform/", server.addr);
    common::snap(&wrong)
        .arg("snapshots")
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("credentials").and(predicate::str::contains("nope").not()),
        );
}

#[test]
fn unreachable_server_fails_with_a_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let backend = RestBackend::new(&format!("http://127.0.0.1:{port}/x/")).unwrap();
    let err = backend.list(snap::id::FileKind::Snapshot).unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#![cfg(feature = "s3")]
//! The S3 backend against a real S3 store: garage, single node and a
//! three-node replicated cluster with one node down.

mod common;

use common::servers::{garage, garage_cluster, S3_BUCKET, S3_KEY_ID, S3_SECRET};
use predicates::prelude::*;
use snap::backend::{conformance, Backend, S3Backend};
use snap::id::FileKind;

/// `snap` against `repo` with the test garage's credentials in the usual
/// AWS variables, and no other AWS configuration.
fn snap_s3(repo: &str) -> assert_cmd::Command {
    let mut cmd = common::snap(repo);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", S3_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

fn backend(endpoint: &str, path: &str) -> S3Backend {
    let backend =
        S3Backend::with_credentials(&format!("{endpoint}/{path}"), S3_KEY_ID, S3_SECRET).unwrap();
    // garage opens its S3 port a moment before the default bucket exists.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while let Err(e) = backend.list(FileKind::Lock) {
        assert!(
            std::time::Instant::now() < deadline,
            "garage not ready: {e}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    backend
}

#[test]
fn conformance_against_garage() {
    let server = garage();
    conformance::run(&backend(
        &server.endpoint,
        &format!("{S3_BUCKET}/conformance"),
    ));
}

#[test]
fn multipart_objects_read_back_whole_and_in_ranges() {
    let server = garage();
    let b = backend(&server.endpoint, S3_BUCKET);
    let data = common::noise(9, snap::backend::S3_MULTIPART_THRESHOLD + 3 * 1_000_003);
    let name = snap::id::Id::sha256(&data).to_hex();
    let parts: Vec<&[u8]> = data.chunks(7 << 20).collect();
    b.write_parts(FileKind::Pack, &name, &parts).unwrap();
    assert_eq!(b.stat(FileKind::Pack, &name).unwrap(), data.len() as u64);
    assert!(b.read(FileKind::Pack, &name).unwrap() == data);
    // A range across the boundary of the first two parts.
    let at = (8 << 20) - 10;
    assert_eq!(
        b.read_range(FileKind::Pack, &name, at as u64, 20).unwrap(),
        &data[at..at + 20]
    );
    let past = b.read_range(FileKind::Pack, &name, data.len() as u64, 1);
    assert!(
        matches!(past, Err(snap::backend::BackendError::ShortRead { .. })),
        "{past:?}"
    );
}

#[test]
fn backup_and_restore_through_garage() {
    let server = garage();
    let _ready = backend(&server.endpoint, S3_BUCKET);
    let f = common::Fixture::empty();
    let repo = format!("s3:{}/{S3_BUCKET}/platform/prod", server.endpoint);
    common::backend_round_trip(&f, &["--pack-size-mib", "40"], || snap_s3(&repo));

    // `init` creates a missing bucket when the key may.
    let fresh = format!("s3:{}/made-by-init", server.endpoint);
    snap_s3(&fresh).args(common::FAST_INIT).assert().success();
    snap_s3(&fresh)
        .arg("snapshots")
        .assert()
        .success()
        .stdout(predicate::str::contains("0 snapshot(s)"));

    // A missing bucket, and refused credentials: permanent errors, at once,
    // naming what to check and never the secret.
    snap_s3(&format!("s3:{}/no-such-bucket", server.endpoint))
        .arg("backup")
        .arg(f.path("src"))
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .failure()
        .stderr(predicate::str::contains("no-such-bucket"));
    snap_s3(&repo)
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
        .arg("snapshots")
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("AWS_SECRET_ACCESS_KEY")
                .and(predicate::str::contains("wrong-secret-value").not()),
        );
}

#[test]
fn replicated_cluster_keeps_working_with_one_node_down() {
    let mut nodes = garage_cluster();
    let _ready = backend(&nodes[0].endpoint, S3_BUCKET);
    let f = common::Fixture::empty();
    let repo0 = format!("s3:{}/{S3_BUCKET}/cluster", nodes[0].endpoint);
    snap_s3(&repo0).args(common::FAST_INIT).assert().success();
    let src = f.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("one.bin"), common::noise(1, 5 << 20)).unwrap();
    snap_s3(&repo0).arg("backup").arg(&src).assert().success();

    // One node of three goes away: writes still reach a quorum of two.
    let down = nodes.pop().unwrap();
    drop(down);
    std::fs::write(src.join("two.bin"), common::noise(2, 5 << 20)).unwrap();
    snap_s3(&repo0).arg("backup").arg(&src).assert().success();

    // Read everything back through the other surviving node.
    let repo1 = format!("s3:{}/{S3_BUCKET}/cluster", nodes[1].endpoint);
    snap_s3(&repo1)
        .arg("snapshots")
        .assert()
        .success()
        .stdout(predicate::str::contains("2 snapshot(s)"));
    let target = f.path("out");
    snap_s3(&repo1)
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success();
    common::assert_same_tree(&src, &common::restored(&target, &src));
}

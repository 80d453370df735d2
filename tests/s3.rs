#![cfg(feature = "s3")]
//! The S3 backend against a real S3 store: garage, single node and a
//! three-node replicated cluster with one node down.

mod common;

use common::servers::{
    garage, garage_cluster, snap_s3, wait_for_bucket, S3_BUCKET, S3_KEY_ID, S3_SECRET,
};
use predicates::prelude::*;
use snap::backend::{conformance, Backend, S3Backend};
use snap::id::FileKind;

#[test]
fn conformance_against_garage() {
    let server = garage();
    wait_for_bucket(&server);
    let backend = S3Backend::with_credentials(
        &format!("{}/{S3_BUCKET}/conformance", server.endpoint),
        S3_KEY_ID,
        S3_SECRET,
    )
    .unwrap();
    conformance::run(&backend);
}

#[test]
fn multipart_objects_read_back_whole_and_in_ranges() {
    let server = garage();
    let b = wait_for_bucket(&server);
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
    wait_for_bucket(&server);
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
    wait_for_bucket(&nodes[0]);
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
    common::restore_latest_matches(snap_s3(&repo1), &src, &f.path("out"));
}

#[test]
fn listings_past_one_page_are_complete() {
    // S3 lists at most 1000 keys per request: 1100 index files need two.
    let server = garage();
    let b = wait_for_bucket(&server);
    std::thread::scope(|s| {
        for t in 0..8 {
            let b = &b;
            s.spawn(move || {
                for i in (t..1100).step_by(8) {
                    let content = format!("index {i}");
                    let name = snap::id::Id::sha256(content.as_bytes()).to_hex();
                    b.write(FileKind::Index, &name, content.as_bytes()).unwrap();
                }
            });
        }
    });
    let listed = b.list(FileKind::Index).unwrap();
    assert_eq!(listed.len(), 1100);
    let mut names: Vec<_> = listed.into_iter().map(|f| f.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 1100);
}

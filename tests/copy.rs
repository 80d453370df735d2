//! `snap copy` between repositories with different passwords (so different
//! master keys and blob IDs): local to local and local to S3 (garage), each
//! copy restored byte-exact and checked; a second copy moves nothing; a new
//! snapshot moves only what changed and reads only that from the source.

mod common;

use std::fs;

use common::servers::{garage, snap_s3, wait_for_bucket, S3_BUCKET};
use common::{assert_same_tree, json_of, noise, restored, Fixture, FAST_INIT};
use predicates::prelude::*;

const TARGET_PASSWORD: &str = "a different password for the offsite copy";

/// A folder of 40 files, backed up three times with a change each time.
fn source_history(f: &Fixture) -> Vec<String> {
    let src = f.path("src");
    fs::create_dir_all(src.join("deep/er")).unwrap();
    for i in 0..40 {
        fs::write(src.join(format!("deep/f{i}")), noise(i, 50_000)).unwrap();
    }
    let mut ids = Vec::new();
    for round in 0..3 {
        fs::write(
            src.join("deep/er/changing.bin"),
            noise(1000 + round, 300_000),
        )
        .unwrap();
        let r = f.backup_json(&src, &["--tag", &format!("round{round}")]);
        ids.push(r["snapshot_id"].as_str().unwrap().to_string());
    }
    ids
}

/// `snap copy` from the fixture's repository, the target password in the
/// environment (never on the command line).
fn copy_to(f: &Fixture, target: &str) -> assert_cmd::Command {
    let mut cmd = f.snap();
    cmd.env("SNAP_TO_PASSWORD", TARGET_PASSWORD)
        .args(["copy", "--to", target]);
    cmd
}

#[test]
fn copies_between_local_repositories_with_different_passwords() {
    let f = Fixture::new();
    let ids = source_history(&f);
    let target = f.path("offsite");
    let t = target.to_str().unwrap();
    common::snap(&target)
        .env("SNAP_PASSWORD", TARGET_PASSWORD)
        .args(FAST_INIT)
        .assert()
        .success();

    // The first two only.
    let r = json_of(copy_to(&f, t).args([&ids[0][..8], &ids[1][..8]]));
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 2);
    assert!(r["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["copied"] == true));
    let first_added = r["blobs_added"].as_u64().unwrap();
    let target_snap = |args: &[&str]| {
        let mut c = common::snap(&target);
        c.env("SNAP_PASSWORD", TARGET_PASSWORD).args(args);
        c
    };
    let listed = json_of(&mut target_snap(&["snapshots"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let copy_of_second = r["snapshots"][1]["target"].as_str().unwrap().to_string();
    let m = json_of(&mut target_snap(&["cat", "snapshot", &copy_of_second]));
    assert_eq!(m["original"], ids[1].as_str());
    assert_eq!(m["tags"], serde_json::json!(["round1"]));
    assert_eq!(
        m["parent"], r["snapshots"][0]["target"],
        "the parent is the parent's copy"
    );

    // Then everything: the two are skipped, the third copied, reading from
    // the source only what its parent's copy does not already give.
    let r = json_of(&mut copy_to(&f, t));
    let snaps = r["snapshots"].as_array().unwrap();
    assert_eq!(
        snaps.iter().filter(|s| s["copied"] == true).count(),
        1,
        "{r}"
    );
    let read = r["blobs_read"].as_u64().unwrap();
    assert!(read < 12, "read {read} blobs for one changed file: {r}");
    let added = r["blobs_added"].as_u64().unwrap();
    assert!(added < first_added / 4, "{added} vs {first_added}");
    // Nothing left.
    copy_to(&f, t)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 snapshot(s) copied, 3 already there",
        ));

    // The copies restore byte-exact and check clean.
    target_snap(&["check", "--read-data"]).assert().success();
    let out = f.path("out");
    target_snap(&["restore", "latest", "--target"])
        .arg(&out)
        .assert()
        .success();
    let src = f.path("src");
    assert_same_tree(&src, &restored(&out, &src));

    // The target's password is asked for separately; a wrong one is refused
    // and names the target.
    f.snap()
        .env("SNAP_TO_PASSWORD", "wrong")
        .args(["copy", "--to", t])
        .assert()
        .code(12)
        .stderr(predicate::str::contains("target repository"));
}

#[test]
fn copies_a_local_repository_to_s3_and_restores_from_there() {
    let server = garage();
    wait_for_bucket(&server);
    let f = Fixture::new();
    source_history(&f);
    let repo = format!("s3:{}/{S3_BUCKET}/offsite", server.endpoint);
    snap_s3(&repo)
        .env("SNAP_PASSWORD", TARGET_PASSWORD)
        .args(FAST_INIT)
        .assert()
        .success();
    let mut cmd = snap_s3(f.repo().to_str().unwrap());
    cmd.env("SNAP_TO_PASSWORD", TARGET_PASSWORD)
        .args(["copy", "--to", &repo])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 snapshot(s) copied"));
    let out = f.path("out");
    snap_s3(&repo)
        .env("SNAP_PASSWORD", TARGET_PASSWORD)
        .args(["restore", "latest", "--target"])
        .arg(&out)
        .assert()
        .success();
    let src = f.path("src");
    assert_same_tree(&src, &restored(&out, &src));
    snap_s3(&repo)
        .env("SNAP_PASSWORD", TARGET_PASSWORD)
        .args(["check", "--read-data"])
        .assert()
        .success();
}

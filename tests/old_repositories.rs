//! Every repository format version ever written must still open and restore.
//! `tests/fixtures/repo-v1` was written by snap 0.1.0 (format v1): a backup of
//! `/tmp/fx/platform` with password `fixture-password`, host `fixture-host`,
//! tag `v1-fixture`, 1 MiB packs and the cheapest key derivation.

mod common;

use std::fs;
use std::path::Path;

use sha2::Digest;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

#[test]
fn format_v1_repository_opens_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/repo-v1")
            .as_path(),
        &repo,
    );
    let snap = || {
        let mut c = common::snap(&repo);
        c.env("SNAP_PASSWORD", "fixture-password");
        c
    };
    let out = snap().args(["snapshots", "--json"]).assert().success();
    let rows: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["hostname"], "fixture-host");
    assert_eq!(rows[0]["tags"][0], "v1-fixture");
    assert_eq!(rows[0]["paths"][0], "/tmp/fx/platform");
    assert_eq!(rows[0]["version"], 1);

    let target = dir.path().join("out");
    snap()
        .args(["restore", "628e2d4b", "--target"])
        .arg(&target)
        .assert()
        .success();
    let root = target.join("tmp/fx/platform");
    let expect = [
        (
            "etc/app/config.yaml",
            "2c38dc034a17478134638b87844eb6c85b6d324e26d9eda7eae4e9073543b7eb",
        ),
        (
            "data/blob.bin",
            "ac4660530ca27737632410d5b1840a52389bd6d323d7da526c952123884cbd54",
        ),
        (
            "data/numbers.txt",
            "f6351f5ead9a700e34275480b3856ea738122a7c57bdeb744a631251c069587a",
        ),
    ];
    for (rel, sum) in expect {
        assert_eq!(sha256_hex(&root.join(rel)), sum, "{rel}");
    }
    assert_eq!(
        fs::read_link(root.join("config-link")).unwrap(),
        Path::new("etc/app/config.yaml")
    );
    assert!(root.join("empty").is_dir());
    let mtime = fs::metadata(root.join("data/numbers.txt"))
        .unwrap()
        .modified()
        .unwrap();
    let expected = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_323_045);
    assert_eq!(mtime, expected, "2026-01-02 03:04:05 UTC");
}

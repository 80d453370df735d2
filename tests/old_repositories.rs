//! Every repository format version ever written must still open and restore.
//! `tests/fixtures/repo-v1` was written by snap 0.1.0 (format v1): a backup of
//! `/tmp/fx/platform` with password `fixture-password`, host `fixture-host`,
//! tag `v1-fixture`, 1 MiB packs and the cheapest key derivation;
//! `tests/fixtures/repo-v1.4-git` by snap at format v1.4 (git objects one by
//! one), see its test below.

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

/// Refs of a restored repository: `for-each-ref` lines and HEAD's target.
fn git_refs(git_dir: &Path) -> String {
    let mut refs = common::git(
        git_dir,
        &["for-each-ref", "--format=%(objectname) %(refname)"],
    );
    refs.push_str(&common::git(git_dir, &["symbolic-ref", "HEAD"]));
    refs
}

/// `tests/fixtures/repo-v1.4-git` was written by snap at format v1.4 (git
/// objects stored one by one, §15.1) with `make-repo-v1.4-git.sh`: two
/// snapshots of a bare repository `shop.git` (branches, both kinds of tag,
/// notes, a merge); between them a commit on main and the feature branch
/// deleted. Both restore exactly; a backup in today's layout on top of them
/// diffs against them by refs, and restores too.
#[test]
fn format_v1_4_git_snapshots_list_diff_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/repo-v1.4-git")
            .as_path(),
        &repo,
    );
    let snap = || {
        let mut c = common::snap(&repo);
        c.env("SNAP_PASSWORD", "fixture-password");
        c
    };
    let common_refs = "3e9e3fa0605e4d07d604d0782ccc0cabf17af8bc refs/notes/commits\n\
                       938f3389add48a45f98175d797f6d3b67365c725 refs/tags/v1.0\n\
                       efc511d5098e9dddfcbf21f16155723739086f35 refs/tags/v1.1\n\
                       refs/heads/main\n";
    let first = format!(
        "e81a98da16821697e0d46e7f9fbf3167e6dcbee5 refs/heads/feature\n\
         938f3389add48a45f98175d797f6d3b67365c725 refs/heads/main\n{common_refs}"
    );
    let second = format!("34f86c57bc9952dff34cc641031619d257f09a78 refs/heads/main\n{common_refs}");
    for (id, want) in [("48f24ade", &first), ("038babce", &second)] {
        let target = dir.path().join(format!("out-{id}"));
        snap()
            .args(["restore", id, "--target"])
            .arg(&target)
            .assert()
            .success();
        let shop = target.join("shop.git");
        common::git(&shop, &["fsck", "--full", "--strict", "--no-dangling"]);
        assert_eq!(&git_refs(&shop), want, "snapshot {id}");
        assert_eq!(
            common::git(&shop, &["notes", "show", "v1.0"]).trim(),
            "reviewed"
        );
    }
    let diff = |a: &str, b: &str| {
        let out = snap().args(["diff", a, b]).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    let old = diff("48f24ade", "038babce");
    assert!(
        old.contains("-  /@git/shop.git/refs/heads/feature"),
        "{old}"
    );
    assert!(old.contains("M  /@git/shop.git/refs/heads/main"), "{old}");

    // Today's layout on top: the old snapshot is the parent (same host,
    // no paths); the capture is a full pack, and diffs still show refs.
    let source = dir.path().join("out-038babce");
    let out = snap()
        .args(["--json", "backup", "--host", "fixture-host"])
        .arg(format!("git:{}", source.display()))
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let new_id = report["snapshot_id"].as_str().unwrap().to_string();
    let mixed = diff("48f24ade", &new_id);
    assert!(
        mixed.contains("-  /@git/shop.git/refs/heads/feature"),
        "{mixed}"
    );
    assert!(
        mixed.contains("M  /@git/shop.git/refs/heads/main"),
        "{mixed}"
    );
    assert!(!diff("038babce", &new_id).contains("refs/"), "same refs");
    let target = dir.path().join("out-new");
    snap()
        .args(["restore", &new_id, "--target"])
        .arg(&target)
        .assert()
        .success();
    common::git(&target.join("shop.git"), &["fsck", "--full", "--strict"]);
    assert_eq!(git_refs(&target.join("shop.git")), second);
}

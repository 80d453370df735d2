//! `snap forget` by policy per group, by ID, and as a dry run. The rules
//! themselves are table-tested in `src/ops/retention.rs`.

mod common;

use std::fs;

use common::Fixture;
use predicates::prelude::*;

fn snapshot_count(f: &Fixture) -> usize {
    fs::read_dir(f.repo().join("snapshots")).unwrap().count()
}

#[test]
fn policies_apply_per_group_and_ids_are_removed() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    let mut ids = Vec::new();
    for (i, (host, tag)) in [
        ("alpha", "nightly"),
        ("alpha", "golden"),
        ("alpha", "nightly"),
        ("alpha", "nightly"),
        ("beta", "nightly"),
    ]
    .iter()
    .enumerate()
    {
        fs::write(src.join("file"), format!("version {i}")).unwrap();
        let r = f.backup_json(&src, &["--host", host, "--tag", tag]);
        ids.push(r["snapshot_id"].as_str().unwrap().to_string());
        // Distinct times, so "newest" is well defined.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(snapshot_count(&f), 5);

    // No policy: refused, nothing removed.
    f.snap()
        .arg("forget")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--keep-last"));

    // A dry run says what would go and removes nothing.
    f.snap()
        .args([
            "forget",
            "--keep-last",
            "1",
            "--keep-tag",
            "golden",
            "--dry-run",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("host alpha")
                .and(predicate::str::contains("host beta"))
                .and(predicate::str::contains("tag golden"))
                .and(predicate::str::contains("2 snapshot(s) would be removed")),
        );
    assert_eq!(snapshot_count(&f), 5);

    // For real: alpha keeps its newest and the golden one; beta keeps its only.
    let out = f
        .snap()
        .args([
            "--json",
            "forget",
            "--keep-last",
            "1",
            "--keep-tag",
            "golden",
        ])
        .assert()
        .success();
    let groups: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let alpha = groups
        .iter()
        .find(|g| g["group"]["host"] == "alpha")
        .unwrap();
    let kept: Vec<&str> = alpha["keep"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(kept, [ids[3].as_str(), ids[1].as_str()]);
    let removed: Vec<&str> = alpha["remove"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(removed, [ids[2].as_str(), ids[0].as_str()]);
    assert_eq!(snapshot_count(&f), 3);

    // The kept snapshots still restore.
    let target = f.path("out");
    f.snap()
        .args(["restore", &ids[1][..8], "--target"])
        .arg(&target)
        .assert()
        .success();
    assert_eq!(
        fs::read(common::restored(&target, &src).join("file")).unwrap(),
        b"version 1"
    );

    // By ID prefix.
    f.snap()
        .args(["forget", &ids[4][..8]])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 snapshot(s) removed"));
    assert_eq!(snapshot_count(&f), 2);
    f.snap().args(["forget", "ffffffff"]).assert().failure();
}

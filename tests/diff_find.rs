//! `snap diff` marks each kind of change; `snap find` finds paths across
//! snapshots with the backup/restore pattern rule.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::Fixture;
use predicates::prelude::*;

#[test]
fn diff_marks_every_kind_of_change_and_find_searches_all_snapshots() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::create_dir_all(src.join("data")).unwrap();
    fs::write(src.join("etc/a.conf"), "a = 1\n").unwrap();
    fs::write(src.join("etc/b.conf"), "b = 1\n").unwrap();
    fs::write(src.join("data/x.bin"), common::noise(1, 1000)).unwrap();
    fs::write(src.join("run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(src.join("run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    let v1 = f.backup_json(&src, &[])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();

    fs::write(src.join("etc/a.conf"), "a = 2\n").unwrap();
    fs::remove_file(src.join("etc/b.conf")).unwrap();
    fs::write(src.join("etc/c.conf"), "c = 1\n").unwrap();
    fs::remove_dir_all(src.join("data")).unwrap();
    fs::write(src.join("data"), "now a file").unwrap();
    fs::set_permissions(src.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let v2 = f.backup_json(&src, &[])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();

    let s = src.display().to_string();
    let out = f.snap().args(["diff", &v1[..8], &v2]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!("T  {s}/data"),
            format!("-  {s}/data/x.bin"),
            format!("M  {s}/etc/a.conf"),
            format!("-  {s}/etc/b.conf"),
            format!("+  {s}/etc/c.conf"),
            format!("U  {s}/run.sh"),
            format!("6 change(s) from {} to {}", &v1[..8], &v2[..8]),
        ]
    );
    // Nothing changed between a snapshot and itself.
    f.snap()
        .args(["diff", &v2, "latest"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("0 change(s)"));
    let json = f
        .snap()
        .args(["--json", "diff", &v1, &v2])
        .assert()
        .success();
    let changes: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(changes.as_array().unwrap().len(), 6);
    assert_eq!(changes[0]["change"], "type");

    let found = f
        .snap()
        .args(["--json", "find", "*.conf"])
        .assert()
        .success();
    let found: serde_json::Value = serde_json::from_slice(&found.get_output().stdout).unwrap();
    let mut hits: Vec<(String, String)> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["snapshot"].as_str().unwrap()[..8].to_string(),
                m["path"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    hits.sort();
    let mut want = vec![
        (v1[..8].to_string(), "a.conf".to_string()),
        (v1[..8].to_string(), "b.conf".to_string()),
        (v2[..8].to_string(), "a.conf".to_string()),
        (v2[..8].to_string(), "c.conf".to_string()),
    ];
    want.sort();
    assert_eq!(hits, want);
    f.snap()
        .args(["find", &format!("{s}/data/**")])
        .assert()
        .success()
        .stdout(predicate::str::contains("x.bin").and(predicate::str::contains("1 match(es)")));
    f.snap()
        .args(["find", "[invalid"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[invalid"));
}

#[test]
fn stats_count_restore_size_and_deduplication() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(src.join("d")).unwrap();
    let data = common::noise(7, 2 << 20);
    fs::write(src.join("a.bin"), &data).unwrap();
    fs::write(src.join("d/copy.bin"), &data).unwrap();
    fs::write(src.join("d/text"), "x".repeat(100_000)).unwrap();
    f.backup_json(&src, &[]);
    f.backup_json(&src, &["--force"]);

    let stats = |args: &[&str]| -> serde_json::Value {
        let out = f
            .snap()
            .args(["--json", "stats"])
            .args(args)
            .assert()
            .success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    let one = stats(&["latest"]);
    assert_eq!(one["snapshots"], 1);
    assert_eq!(one["files"], 3);
    let restore = (2 * data.len() + 100_000) as u64;
    assert_eq!(one["restore_size"].as_u64().unwrap(), restore);
    // The copy and the repeated text deduplicate and compress.
    let unique = one["unique_size"].as_u64().unwrap();
    assert!(unique < 2 * data.len() as u64, "{one}");
    assert!(one["dedup_ratio"].as_f64().unwrap() > 1.9, "{one}");
    assert!(one["stored_size"].as_u64().unwrap() < unique);

    // Both snapshots: twice the restore size, the same data (only folder
    // metadata of parent paths such as /tmp may differ).
    let all = stats(&[]);
    assert_eq!(all["snapshots"], 2);
    assert_eq!(all["restore_size"].as_u64().unwrap(), 2 * restore);
    let both = all["unique_size"].as_u64().unwrap();
    assert!(both >= unique && both - unique < 64 << 10, "{all}");
    f.snap()
        .arg("stats")
        .assert()
        .success()
        .stdout(predicate::str::contains("deduplication"));
}

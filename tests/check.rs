//! `snap check` finds each kind of damage, names it, and exits 4; a healthy
//! repository checks clean and quietly.

mod common;

use std::fs;

use common::Fixture;
use predicates::prelude::*;

/// A repository with two snapshots of a tree of several files.
fn repository() -> Fixture {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/app.conf"), "listen = 8080\n").unwrap();
    fs::write(src.join("data.bin"), common::noise(4, 3 << 20)).unwrap();
    f.backup_json(&src, &[]);
    fs::write(src.join("etc/app.conf"), "listen = 9090\n").unwrap();
    fs::write(src.join("more.bin"), common::noise(5, 2 << 20)).unwrap();
    f.backup_json(&src, &[]);
    f
}

fn check_json(f: &Fixture, args: &[&str]) -> serde_json::Value {
    let out = f
        .snap()
        .args(["--json", "check"])
        .args(args)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn only_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.pop().unwrap()
}

#[test]
fn a_healthy_repository_checks_clean() {
    let f = repository();
    f.snap()
        .args(["check", "--read-data"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("2 snapshot(s)").and(predicate::str::contains("no errors")),
        );
    f.snap()
        .args(["-q", "check"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let report = check_json(&f, &["--read-data"]);
    assert_eq!(report["errors"].as_array().unwrap().len(), 0);
    let packs = report["packs"].as_u64().unwrap();
    assert!(packs >= 2);
    assert_eq!(report["packs_read"].as_u64().unwrap(), packs);
    // The parts of a subset split read every pack exactly once.
    let parts: u64 = (1..=3)
        .map(|n| {
            check_json(&f, &["--read-data-subset", &format!("{n}/3")])["packs_read"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(parts, packs);
    f.snap()
        .args(["check", "--read-data-subset", "4/3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("N <= M"));
}

#[test]
fn a_flipped_byte_in_a_pack_is_found_by_reading_data() {
    let f = repository();
    let (_, pack) = common::packs(&f.repo()).pop().unwrap();
    let mut bytes = fs::read(&pack).unwrap();
    bytes[1000] ^= 0x01;
    fs::write(&pack, bytes).unwrap();
    let name = pack.file_name().unwrap().to_str().unwrap().to_string();
    // Same size: the structure is intact.
    f.snap().arg("check").assert().success();
    f.snap()
        .args(["check", "--read-data"])
        .assert()
        .code(4)
        .stdout(
            predicate::str::contains(format!("pack {name}: its content does not match its name"))
                .and(predicate::str::contains(format!("pack {name}: blob ")))
                .and(predicate::str::contains("damaged")),
        )
        .stderr(predicate::str::contains("check found"));
}

#[test]
fn a_deleted_pack_is_named() {
    let f = repository();
    let (_, pack) = common::packs(&f.repo()).pop().unwrap();
    fs::remove_file(&pack).unwrap();
    let name = pack.file_name().unwrap().to_str().unwrap().to_string();
    f.snap()
        .arg("check")
        .assert()
        .code(4)
        .stdout(predicate::str::contains(format!("pack {name} is missing")));
}

#[test]
fn a_truncated_pack_is_named() {
    let f = repository();
    let (size, pack) = common::packs(&f.repo()).pop().unwrap();
    let bytes = fs::read(&pack).unwrap();
    fs::write(&pack, &bytes[..size as usize - 100]).unwrap();
    let name = pack.file_name().unwrap().to_str().unwrap().to_string();
    f.snap().arg("check").assert().code(4).stdout(
        predicate::str::contains(format!("pack {name} is {}", size - 100))
            .and(predicate::str::contains("truncated")),
    );
}

#[test]
fn a_deleted_index_leaves_blobs_unknown_and_packs_unindexed() {
    let f = repository();
    for entry in fs::read_dir(f.repo().join("index")).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    f.snap().arg("check").assert().code(4).stdout(
        predicate::str::contains("cannot be fully restored")
            .and(predicate::str::contains("is in no index"))
            .and(predicate::str::contains("pack(s)"))
            .and(predicate::str::contains(
                "to repair, run: snap repair index, then snap repair snapshots",
            )),
    );
}

#[test]
fn a_damaged_index_file_is_named() {
    let f = repository();
    let index = only_file(&f.repo().join("index"));
    let mut bytes = fs::read(&index).unwrap();
    bytes.truncate(bytes.len() / 2);
    fs::write(&index, bytes).unwrap();
    let name = index.file_name().unwrap().to_str().unwrap().to_string();
    f.snap()
        .arg("check")
        .assert()
        .code(4)
        .stdout(predicate::str::contains(format!(
            "index file {name} cannot be read"
        )));
}

#[test]
fn a_truncated_snapshot_is_named() {
    let f = repository();
    let snapshot = only_file(&f.repo().join("snapshots"));
    let bytes = fs::read(&snapshot).unwrap();
    fs::write(&snapshot, &bytes[..bytes.len() - 7]).unwrap();
    let name = snapshot.file_name().unwrap().to_str().unwrap().to_string();
    f.snap()
        .arg("check")
        .assert()
        .code(4)
        .stdout(predicate::str::contains(format!(
            "snapshot {name} cannot be read"
        )));
}

#[test]
fn a_stray_file_is_named() {
    let f = repository();
    fs::write(f.repo().join("snapshots/notes.txt"), "hello").unwrap();
    f.snap()
        .arg("check")
        .assert()
        .code(4)
        .stdout(predicate::str::contains(
            "snapshots/notes.txt has a name that is not an ID",
        ));
}

fn lock_files(f: &Fixture) -> usize {
    fs::read_dir(f.repo().join("locks"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count()
}

#[test]
fn unlock_removes_stale_locks_and_keeps_live_ones() {
    let f = repository();
    // A backup killed mid-way leaves its lock behind; its process is gone.
    let big = f.path("big");
    fs::create_dir_all(&big).unwrap();
    for i in 0..8 {
        fs::write(big.join(format!("f{i}")), common::noise(50 + i, 16 << 20)).unwrap();
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_snap"))
        .env("SNAP_PASSWORD", common::PASSWORD)
        .arg("-r")
        .arg(f.repo())
        .arg("backup")
        .arg(&big)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lock_files(&f) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the backup took no lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(lock_files(&f), 1);

    // A live lock, held by this test process.
    let backend = std::sync::Arc::new(snap::backend::LocalBackend::new(f.repo()));
    let repo = snap::repo::Repository::open(backend, common::PASSWORD.as_bytes()).unwrap();
    let live = repo.lock(snap::repo::LockKind::Shared).unwrap();
    assert_eq!(lock_files(&f), 2);

    f.snap().arg("unlock").assert().success().stdout(
        predicate::str::contains("no longer runs on this host")
            .and(predicate::str::contains("1 lock(s) removed, 1 kept")),
    );
    assert_eq!(lock_files(&f), 1);
    f.snap()
        .args(["unlock", "--remove-all"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 lock(s) removed, 0 kept"));
    assert_eq!(lock_files(&f), 0);
    drop(live);
}

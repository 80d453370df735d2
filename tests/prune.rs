//! `snap prune` and `forget --prune` through the binary: space is freed, what
//! stays restores byte-exact and checks clean, marked packs wait for their
//! grace period, a marked pack a snapshot needs again is kept, and a backup
//! running beside prune ends with a restorable snapshot. The plan's rules are
//! unit-tested in `src/ops/prune/plan.rs`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{assert_same_tree, json_of, noise, restored, Fixture};
use predicates::prelude::*;

fn prune(f: &Fixture, args: &[&str]) -> serde_json::Value {
    json_of(f.snap().arg("prune").args(args))
}

fn check_read_data(f: &Fixture) {
    f.snap()
        .args(["check", "--read-data"])
        .assert()
        .success()
        .stdout(predicate::str::contains("in no index").not())
        .stderr(predicate::str::contains("in no index").not());
}

fn restore_matches(f: &Fixture, id: &str, copy: &Path, src: &Path, name: &str) {
    let target = f.path(name);
    f.snap()
        .args(["restore", id, "--target"])
        .arg(&target)
        .assert()
        .success();
    assert_same_tree(copy, &restored(&target, src));
}

/// Six snapshots of a folder whose big file is replaced each time; returns
/// (ID, copy of the folder) per snapshot.
fn history(f: &Fixture, n: u64) -> Vec<(String, std::path::PathBuf)> {
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("shared.txt"), "the same in every snapshot").unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        fs::write(src.join("big.bin"), noise(100 + i, 3 << 20)).unwrap();
        let r = f.backup_json(&src, &[]);
        let copy = f.path(&format!("copy{i}"));
        fs::create_dir_all(&copy).unwrap();
        for name in ["shared.txt", "big.bin"] {
            fs::copy(src.join(name), copy.join(name)).unwrap();
            let mtime = fs::metadata(src.join(name)).unwrap().modified().unwrap();
            fs::File::options()
                .write(true)
                .open(copy.join(name))
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
        let mtime = fs::metadata(&src).unwrap().modified().unwrap();
        fs::File::open(&copy).unwrap().set_modified(mtime).unwrap();
        out.push((r["snapshot_id"].as_str().unwrap().to_string(), copy));
    }
    out
}

#[test]
fn prune_without_grace_frees_forgotten_space_and_keeps_the_rest() {
    let f = Fixture::new();
    let snaps = history(&f, 6);
    let src = f.path("src");
    let forgotten: Vec<&str> = snaps.iter().step_by(2).map(|s| s.0.as_str()).collect();
    f.snap().arg("forget").args(&forgotten).assert().success();
    let before = f.repo_size();

    // A dry run plans and changes nothing.
    let dry = prune(&f, &["--grace", "0", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["packs_deleted"], 6, "{dry}");
    assert_eq!(f.repo_size(), before);

    let r = prune(&f, &["--grace", "0"]);
    // Three data and three tree packs; the first data pack also holds
    // shared.txt, which moves to a new pack.
    assert_eq!(r["packs_deleted"], 6, "{r}");
    assert_eq!(r["packs_repacked"], 1, "{r}");
    assert_eq!(r["packs_marked"], 0);
    let after = f.repo_size();
    assert!(
        before - after > 3 * (3 << 20) - (1 << 20),
        "{before} -> {after}"
    );
    check_read_data(&f);
    for (i, (id, copy)) in snaps.iter().enumerate().skip(1).step_by(2) {
        restore_matches(&f, id, copy, &src, &format!("out{i}"));
    }
    // Nothing left to do.
    let again = prune(&f, &["--grace", "0"]);
    assert_eq!(again["packs_deleted"], 0);
    assert_eq!(again["packs_repacked"], 0);
    assert_eq!(again["index_files_written"], 0);
}

#[test]
fn marked_packs_wait_for_the_grace_period() {
    let f = Fixture::new();
    let snaps = history(&f, 3);
    let src = f.path("src");
    let r = json_of(f.snap().args(["forget", "--keep-last", "1", "--prune"]));
    assert_eq!(r["forget"][0]["remove"].as_array().unwrap().len(), 2);
    // Two tree packs, a data pack, and the data pack shared.txt moved out of.
    let marked = r["prune"]["packs_marked"].as_u64().unwrap();
    assert_eq!(marked, 4, "{r}");
    assert_eq!(r["prune"]["packs_deleted"], 0);
    let size = f.repo_size();
    // Marked packs are neither warnings nor errors for check.
    check_read_data(&f);
    restore_matches(&f, &snaps[2].0, &snaps[2].1, &src, "out-a");

    // Within the grace period they stay.
    f.snap()
        .arg("prune")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{marked} pack(s) (6.00 MiB) marked earlier wait for their grace period to end"
        )));
    let r = prune(&f, &[]);
    assert_eq!(r["packs_deleted"], 0);
    assert_eq!(r["packs_waiting"].as_u64(), Some(marked));
    assert_eq!(r["index_files_written"], 0, "nothing changed: {r}");
    assert_eq!(f.repo_size(), size);

    // Past it they go.
    std::thread::sleep(Duration::from_millis(2100));
    let r = prune(&f, &["--grace", "2s"]);
    assert_eq!(r["packs_deleted"].as_u64(), Some(marked), "{r}");
    assert!(f.repo_size() < size - 2 * (3 << 20));
    check_read_data(&f);
    restore_matches(&f, &snaps[2].0, &snaps[2].1, &src, "out-b");
}

#[test]
fn a_marked_pack_a_snapshot_needs_again_is_kept() {
    // The race prune's grace period exists for: a backup loaded the index
    // before prune marked a pack, deduplicated against it, and wrote its
    // snapshot after. Putting back a forgotten snapshot file after prune
    // leaves the repository in exactly that state.
    let f = Fixture::new();
    let snaps = history(&f, 2);
    let src = f.path("src");
    let old = &snaps[0].0;
    let file = f.repo().join("snapshots").join(old);
    let saved = fs::read(&file).unwrap();
    f.snap().args(["forget", old.as_str()]).assert().success();
    let r = prune(&f, &[]);
    // Its tree pack, and its data pack once shared.txt moved out.
    assert_eq!(r["packs_marked"], 2, "{r}");
    fs::write(&file, saved).unwrap();

    // Readable while marked, so check passes and it restores.
    check_read_data(&f);
    restore_matches(&f, old, &snaps[0].1, &src, "out-a");

    // Even with no grace at all, prune makes the pack live again.
    let r = prune(&f, &["--grace", "0"]);
    assert_eq!(r["packs_unmarked"], 2, "{r}");
    assert_eq!(r["packs_deleted"], 0);
    // A backup deduplicates against it again: only new trees are stored.
    fs::write(
        src.join("big.bin"),
        fs::read(snaps[0].1.join("big.bin")).unwrap(),
    )
    .unwrap();
    let b = f.backup_json(&src, &[]);
    let added = b["data_added"].as_u64().unwrap();
    assert!(added < 64 << 10, "{b}");
    check_read_data(&f);
}

#[test]
fn partly_used_packs_are_repacked_reading_only_what_moves() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    // One backup, one pack: keep.bin and drop.bin together.
    fs::write(src.join("keep.bin"), noise(1, 1 << 20)).unwrap();
    fs::write(src.join("drop.bin"), noise(2, 3 << 20)).unwrap();
    let first = f.backup_json(&src, &[]);
    fs::remove_file(src.join("drop.bin")).unwrap();
    f.backup_json(&src, &[]);
    f.snap()
        .args(["forget", first["snapshot_id"].as_str().unwrap()])
        .assert()
        .success();

    // 75% of the pack is unused; 5% is tolerated, so it is repacked.
    let r = prune(&f, &["--grace", "0"]);
    assert_eq!(r["packs_repacked"], 1, "{r}");
    let moved = r["bytes_repacked"].as_u64().unwrap();
    assert!(moved > (1 << 20) && moved < (3 << 20) / 2, "{moved}");
    assert_eq!(r["unused_bytes_after"], 0);
    assert!(f.repo_size() < (2 << 20), "{}", f.repo_size());
    check_read_data(&f);
    common::restore_latest_matches(f.snap(), &src, &f.path("out"));

    // With unused space tolerated, a partly used pack stays.
    fs::write(src.join("more.bin"), noise(3, 2 << 20)).unwrap();
    fs::write(src.join("other.bin"), noise(4, 1 << 20)).unwrap();
    let third = f.backup_json(&src, &[]);
    fs::remove_file(src.join("more.bin")).unwrap();
    f.backup_json(&src, &[]);
    f.snap()
        .args(["forget", third["snapshot_id"].as_str().unwrap()])
        .assert()
        .success();
    let r = prune(&f, &["--grace", "0", "--max-unused", "unlimited"]);
    assert_eq!(r["packs_repacked"], 0, "{r}");
    assert!(r["unused_bytes_after"].as_u64().unwrap() > (1 << 20));
}

#[test]
fn a_backup_running_beside_prune_ends_restorable() {
    let f = Fixture::new();
    history(&f, 2);
    let src = f.path("big");
    fs::create_dir_all(&src).unwrap();
    for i in 0..25 {
        fs::write(src.join(format!("f{i}")), noise(500 + i, 4 << 20)).unwrap();
    }
    let mut backup = std::process::Command::new(assert_cmd::cargo::cargo_bin("snap"))
        .env("SNAP_PASSWORD", common::PASSWORD)
        .arg("-r")
        .arg(f.repo())
        .args(["backup", "--connections", "1"])
        .arg(&src)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the backup has stored a pack: it holds its lock then.
    let packs_before = common::packs(&f.repo()).len();
    while common::packs(&f.repo()).len() == packs_before && backup.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut refused, mut overlapped) = (0, 0);
    while backup.try_wait().unwrap().is_none() {
        // Prune without grace needs the repository to itself.
        let exclusive = f.snap().args(["prune", "--grace", "0"]).output().unwrap();
        let alive = backup.try_wait().unwrap().is_none();
        if alive && exclusive.status.success() {
            // Possible only between the backup releasing its lock and exiting.
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                backup.try_wait().unwrap().is_some(),
                "prune --grace 0 ran beside a backup"
            );
        } else if alive {
            let err = String::from_utf8_lossy(&exclusive.stderr);
            assert!(err.contains("locked"), "{err}");
            refused += 1;
        }
        // With a grace period it runs beside the backup: forget the older
        // snapshots and prune, again and again while the backup writes.
        f.snap()
            .args(["forget", "--keep-last", "1", "--group-by", "", "--prune"])
            .assert()
            .success();
        if alive && backup.try_wait().unwrap().is_none() {
            overlapped += 1;
        }
    }
    let status = backup.wait_with_output().unwrap();
    assert!(status.status.success(), "{status:?}");
    assert!(
        overlapped >= 1 && refused >= 1,
        "prune ran {overlapped} time(s) and was refused {refused} time(s) during the backup"
    );

    check_read_data(&f);
    common::restore_latest_matches(f.snap(), &src, &f.path("out"));

    // The older snapshots are gone; once the grace period is over their
    // space is freed and the new snapshot still restores.
    let r = prune(&f, &["--grace", "0"]);
    assert!(r["packs_deleted"].as_u64().unwrap() >= 2, "{r}");
    check_read_data(&f);
    common::restore_latest_matches(f.snap(), &src, &f.path("out2"));
}

#[test]
fn bad_options_are_refused_before_anything_changes() {
    let f = Fixture::new();
    for (args, says) in [
        (vec!["prune", "--max-unused", "120%"], "below 100"),
        (vec!["prune", "--max-unused", "lots"], "unlimited"),
        (vec!["prune", "--grace", "soon"], "24h"),
    ] {
        f.snap()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
}

//! A backup frozen past its lock's stale age (SIGSTOP; a suspended VM or a
//! paused container does the same) must not write anything once it resumes:
//! maintenance may have taken its lock for stale meanwhile and deleted the
//! packs it relies on (format-spec §9). The lock ages are shortened with
//! SNAP_TEST_LOCK_STALE_SECONDS so the freeze lasts seconds, not 30 minutes.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{noise, Fixture};

const STALE_SECONDS: u64 = 6;

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

/// Bytes the process has read so far (`rchar` of /proc/PID/io).
fn bytes_read(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("rchar: ").map(|v| v.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the resumed backup did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_backup_frozen_past_its_lock_age_writes_nothing_after_prune_ran() {
    let f = Fixture::new();
    let (a, b, c) = (f.path("a"), f.path("b"), f.path("c"));
    for (dir, seed, len) in [(&a, 1, 2 << 20), (&b, 2, 6 << 20), (&c, 3, 3 << 20)] {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("data.bin"), noise(seed, len)).unwrap();
    }
    // A long read after the freeze: a sparse file of zeros, cheap on disk.
    let sparse = fs::File::create(c.join("sparse.img")).unwrap();
    sparse.set_len(2 << 30).unwrap();
    drop(sparse);

    f.backup_json(&a, &[]);
    let b_snapshot = f.backup_json(&b, &[]);
    f.snap()
        .args(["forget", b_snapshot["snapshot_id"].as_str().unwrap()])
        .assert()
        .success();

    // The backup relies on B's blobs (deduplicated against the index it
    // loaded) and stores C's in packs it has not indexed yet.
    let mut backup = Command::new(assert_cmd::cargo::cargo_bin("snap"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SNAP_PASSWORD", common::PASSWORD)
        .env("SNAP_TEST_LOCK_STALE_SECONDS", STALE_SECONDS.to_string())
        .arg("-r")
        .arg(f.repo())
        .arg("backup")
        .args([&a, &b, &c])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let locks = f.repo().join("locks");
    let start = Instant::now();
    while names(&locks).is_empty() || bytes_read(backup.id()) < (4 << 20) {
        assert!(
            backup.try_wait().unwrap().is_none(),
            "the backup ended before it could be frozen"
        );
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(2));
    }
    signal(&backup, "STOP");
    std::thread::sleep(Duration::from_millis(STALE_SECONDS * 1000 + 1500));

    // Its lock looks stale now: prune without grace takes the repository
    // and deletes what no snapshot uses (B's packs, the backup's new ones).
    let pruned = f
        .snap()
        .env("SNAP_TEST_LOCK_STALE_SECONDS", STALE_SECONDS.to_string())
        .args(["--json", "prune", "--grace", "0"])
        .output()
        .unwrap();
    assert!(pruned.status.success(), "{pruned:?}");
    let report: serde_json::Value = serde_json::from_slice(&pruned.stdout).unwrap();
    assert!(report["packs_deleted"].as_u64().unwrap() >= 1, "{report}");
    let index_after_prune = names(&f.repo().join("index"));
    let snapshots_after_prune = names(&f.repo().join("snapshots"));

    signal(&backup, "CONT");
    let status = wait_with_timeout(&mut backup, Duration::from_secs(120));
    let mut stderr = String::new();
    std::io::Read::read_to_string(backup.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(11), "exit code; stderr: {stderr}");
    assert!(
        stderr.contains("was last refreshed") && stderr.contains("without writing anything more"),
        "{stderr}"
    );

    // Nothing was written: no snapshot, no index file, no lock left.
    assert_eq!(names(&f.repo().join("snapshots")), snapshots_after_prune);
    assert_eq!(names(&f.repo().join("index")), index_after_prune);
    assert!(names(&locks).is_empty(), "{:?}", names(&locks));
    let listed = f.snap().args(["--json", "snapshots"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    f.snap().args(["check", "--read-data"]).assert().success();

    // A new run stores B again, and the repository checks clean.
    f.snap().arg("backup").args([&a, &b]).assert().success();
    f.snap().args(["check", "--read-data"]).assert().success();
}

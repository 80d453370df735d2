//! Interrupted work resumes and cleans up: Ctrl-C (SIGINT) and kill -9 in
//! the middle of a 1 GiB first backup, then a re-run that uploads what is
//! missing only; Ctrl-C and kill -9 during a restore into a folder, where
//! every file is absent, temporary or correct, and a re-run keeps what is
//! complete; a full disk during a restore; sparse files restored sparse;
//! temporary files of killed writes removed by the next writer.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{noise, Fixture};

const GIB: u64 = 1 << 30;

fn spawn_snap(f: &Fixture, args: &[&str], extra: &[&Path]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("snap"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SNAP_PASSWORD", common::PASSWORD)
        .arg("-r")
        .arg(f.repo())
        .args(args)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

/// Waits for `child` to exit (bounded), returning its code and stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code(), err);
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("snap did not end within 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `ready` holds while `child` runs.
fn wait_for(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "snap ended before {what}"
        );
        assert!(start.elapsed() < Duration::from_secs(300), "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn packs_bytes(repo: &Path) -> u64 {
    common::packs(repo).iter().map(|(s, _)| s).sum()
}

/// 1 GiB of incompressible data: 16 files of 60 MiB and 256 of 256 KiB.
fn gib_source(f: &Fixture) -> PathBuf {
    let src = f.path("src");
    fs::create_dir_all(src.join("small")).unwrap();
    for i in 0..16u64 {
        fs::write(
            src.join(format!("big-{i:02}.bin")),
            noise(100 + i, 60 << 20),
        )
        .unwrap();
    }
    for i in 0..256u64 {
        fs::write(
            src.join("small").join(format!("s-{i:03}.bin")),
            noise(1000 + i, 256 << 10),
        )
        .unwrap();
    }
    src
}

fn backup_added(f: &Fixture, src: &Path) -> u64 {
    let report = f.backup_json(src, &[]);
    report["data_added_stored"].as_u64().unwrap()
}

#[test]
fn an_interrupted_first_backup_is_resumed_by_the_next_one() {
    let f = Fixture::new();
    let src = gib_source(&f);
    let total = GIB;

    // Ctrl-C at about half: it stops, says what it kept, removes its lock.
    let mut child = spawn_snap(&f, &["backup"], &[&src]);
    let repo = f.repo();
    wait_for(&mut child, "half of the data was stored", || {
        packs_bytes(&repo) >= total / 2
    });
    signal(&child, "INT");
    let (code, err) = finish(child);
    assert_eq!(code, Some(130), "{err}");
    assert!(
        err.contains("interrupted: no snapshot was saved") && err.contains("reuses them"),
        "{err}"
    );
    assert!(
        fs::read_dir(repo.join("locks")).unwrap().next().is_none(),
        "lock removed"
    );
    assert!(fs::read_dir(repo.join("snapshots"))
        .unwrap()
        .next()
        .is_none());
    f.snap().args(["check"]).assert().success();
    let again = backup_added(&f, &src);
    assert!(
        again < total * 55 / 100,
        "after Ctrl-C at half, the re-run stored {again} of {total} bytes"
    );
    common::restore_latest_matches(f.snap(), &src, &f.path("out-int"));

    // kill -9 at about half of a backup into a fresh repository: index files
    // written along the way keep most of what it stored.
    let g = Fixture::new();
    let mut child = spawn_snap(&g, &["backup"], &[&src]);
    let repo = g.repo();
    wait_for(&mut child, "55% of the data was stored", || {
        packs_bytes(&repo) >= total * 55 / 100
    });
    signal(&child, "KILL");
    let (code, _) = finish(child);
    assert_eq!(code, None, "killed");
    let again = g
        .snap()
        .args(["--json", "backup"])
        .arg(&src)
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&again.get_output().stdout).unwrap();
    let stored = report["data_added_stored"].as_u64().unwrap();
    assert!(
        stored < total * 60 / 100,
        "after kill -9 at 55%, the re-run stored {stored} of {total} bytes"
    );
    g.snap().args(["check", "--read-data"]).assert().success();
}

/// Every file under `target` is absent, a `.snap-partial-` temporary (only
/// when `temporaries` are allowed), or byte for byte the source's.
fn absent_temporary_or_correct(src: &Path, target: &Path, temporaries: bool) -> (usize, usize) {
    let (mut correct, mut partial) = (0, 0);
    let mut stack = vec![target.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".snap-partial-") {
                assert!(
                    temporaries,
                    "a temporary file after Ctrl-C: {}",
                    path.display()
                );
                partial += 1;
                continue;
            }
            let rel = path.strip_prefix(target).unwrap();
            let original = src.join(rel);
            assert!(
                fs::read(&original).unwrap() == fs::read(&path).unwrap(),
                "{} is under its name but not complete",
                path.display()
            );
            correct += 1;
        }
    }
    (correct, partial)
}

#[test]
fn an_interrupted_restore_leaves_only_complete_files_and_resumes() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    for i in 0..8u64 {
        fs::write(src.join(format!("big-{i}.bin")), noise(10 + i, 40 << 20)).unwrap();
    }
    for i in 0..400u64 {
        fs::write(
            src.join(format!("small-{i:03}.bin")),
            noise(500 + i, 200 << 10),
        )
        .unwrap();
    }
    f.backup_json(&src, &[]);
    let restored_src = |target: &Path| common::restored(target, &src);

    for (sig, temporaries) in [("INT", false), ("KILL", true)] {
        let target = f.path(&format!("out-{sig}"));
        let mut child = spawn_snap(&f, &["restore", "latest", "--target"], &[&target]);
        let inner = restored_src(&target);
        wait_for(&mut child, "a third was restored", || {
            common::dir_size_if_exists(&inner) >= (8 * 40 + 80) << 20 >> 2
        });
        signal(&child, sig);
        let (code, err) = finish(child);
        if sig == "INT" {
            assert_eq!(code, Some(130), "{err}");
            assert!(err.contains("run the same restore again"), "{err}");
        }
        let (correct, _) = absent_temporary_or_correct(&src, &inner, temporaries);
        // The same restore again finishes it, keeping what was complete.
        let out = f
            .snap()
            .args(["--json", "restore", "latest", "--target"])
            .arg(&target)
            .assert()
            .success();
        let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(
            report["files_kept"].as_u64().unwrap(),
            correct as u64,
            "{report}"
        );
        common::assert_same_tree(&src, &inner);
        let (_, partial) = absent_temporary_or_correct(&src, &inner, false);
        assert_eq!(partial, 0);
    }
}

#[test]
fn a_full_disk_during_a_restore_leaves_no_wrong_file_under_a_real_name() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    for i in 0..12u64 {
        fs::write(src.join(format!("f-{i:02}.bin")), noise(70 + i, 3 << 20)).unwrap();
    }
    f.backup_json(&src, &[]);
    let disk = f.path("disk");
    fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=20m", "tmpfs"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test mounts a tmpfs, which needs root (CI runs as root)"
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&disk)
        .assert()
        .failure()
        .stderr(predicates::str::contains("No space left"));
    let (correct, _) = absent_temporary_or_correct(&src, &common::restored(&disk, &src), false);
    assert!(correct < 12, "{correct}");
}

#[test]
fn sparse_files_come_back_sparse_and_old_temporaries_are_removed() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    let sparse = src.join("disk.img");
    let file = fs::File::create(&sparse).unwrap();
    file.set_len(2 << 30).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"boot sector", 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &noise(3, 1 << 20), 1 << 30).unwrap();
    drop(file);

    // A temporary file of a killed write, two hours old, and a fresh one.
    let data = f.repo().join("data");
    let stale = data.join("00").join(".tmp-killed");
    let fresh = data.join("00").join(".tmp-running");
    fs::create_dir_all(data.join("00")).unwrap();
    fs::write(&stale, b"half a pack").unwrap();
    fs::write(&fresh, b"a pack being written").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();

    f.backup_json(&src, &[]);
    assert!(
        !stale.exists(),
        "the next backup removes an old temporary file"
    );
    assert!(fresh.exists(), "a recent one may belong to a running write");

    let target = f.path("out");
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success();
    let restored = common::restored(&target, &src).join("disk.img");
    let meta = fs::metadata(&restored).unwrap();
    assert_eq!(meta.len(), 2 << 30);
    assert!(
        meta.blocks() * 512 < 64 << 20,
        "a 2 GiB sparse file took {} bytes on disk",
        meta.blocks() * 512
    );
    let back = fs::File::open(&restored).unwrap();
    let mut head = [0u8; 11];
    std::os::unix::fs::FileExt::read_exact_at(&back, &mut head, 0).unwrap();
    assert_eq!(&head, b"boot sector");
    let mut mid = vec![0u8; 1 << 20];
    std::os::unix::fs::FileExt::read_exact_at(&back, &mut mid, 1 << 30).unwrap();
    assert!(mid == noise(3, 1 << 20));
}

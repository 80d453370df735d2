//! Helpers shared by the integration tests: a `snap` command with a cleared
//! environment, a fresh repository, and tree comparison.
#![allow(dead_code)]

pub mod etcd_kv;
pub mod proxy;
pub mod servers;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub const PASSWORD: &str = "correct horse battery staple";

/// `init` with the cheapest key derivation: tests open repositories often.
pub const FAST_INIT: [&str; 7] = [
    "init",
    "--kdf-memory-kib",
    "64",
    "--kdf-iterations",
    "1",
    "--kdf-parallelism",
    "1",
];

/// `snap` with every SNAP_* variable cleared, then the test password set.
pub fn snap(repo: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::cargo_bin("snap").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("SNAP_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SNAP_PASSWORD", PASSWORD).arg("-r").arg(repo);
    cmd
}

/// A temporary folder with a fresh repository in `repo/` (cheap key derivation).
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let f = Fixture::empty();
        snap(f.repo()).args(FAST_INIT).assert().success();
        f
    }

    pub fn empty() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn snap(&self) -> Command {
        snap(self.repo())
    }

    /// Backs up `path` with --json and returns the parsed report.
    pub fn backup_json(&self, path: &Path, extra: &[&str]) -> serde_json::Value {
        let out = self
            .snap()
            .arg("--json")
            .arg("backup")
            .arg(path)
            .args(extra)
            .assert()
            .success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    /// Total bytes stored in the repository folder.
    pub fn repo_size(&self) -> u64 {
        dir_size(&self.repo())
    }
}

/// [`dir_size`] of a folder something else is writing to: entries that
/// vanish meanwhile count as nothing, a missing folder as 0.
pub fn dir_size_if_exists(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
        .map(|(p, m)| {
            if m.is_dir() {
                dir_size_if_exists(&p)
            } else {
                m.len()
            }
        })
        .sum()
}

pub fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for e in fs::read_dir(path).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_size(&e.path())
        } else {
            m.len()
        };
    }
    total
}

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Asserts two trees are identical: names, types, content, modes, mtimes of
/// files and links, symlink targets.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let mut names_a: Vec<_> = fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut names_b: Vec<_> = fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(
        names_a,
        names_b,
        "entries of {} vs {}",
        a.display(),
        b.display()
    );
    for n in names_a {
        let (pa, pb) = (a.join(&n), b.join(&n));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).unwrap(),
            fs::symlink_metadata(&pb).unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{}", pa.display());
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&pa).unwrap(), fs::read_link(&pb).unwrap());
            continue;
        }
        assert_eq!(
            ma.permissions().mode(),
            mb.permissions().mode(),
            "mode of {}",
            pa.display()
        );
        if ma.is_dir() {
            assert_same_tree(&pa, &pb);
        } else if ma.is_file() {
            assert_eq!(ma.len(), mb.len(), "size of {}", pa.display());
            assert!(
                fs::read(&pa).unwrap() == fs::read(&pb).unwrap(),
                "content of {}",
                pa.display()
            );
        }
        if !ma.is_dir() {
            assert_eq!(
                (ma.mtime(), ma.mtime_nsec()),
                (mb.mtime(), mb.mtime_nsec()),
                "mtime of {}",
                pa.display()
            );
        }
    }
    let (ma, mb) = (fs::metadata(a).unwrap(), fs::metadata(b).unwrap());
    assert_eq!(
        (ma.mtime(), ma.mtime_nsec()),
        (mb.mtime(), mb.mtime_nsec()),
        "mtime of {}",
        a.display()
    );
}

/// Where a restore puts an absolute source path under `target`.
pub fn restored(target: &Path, source: &Path) -> PathBuf {
    target.join(source.strip_prefix("/").unwrap())
}

/// The end-to-end run every backend must pass with the real binary: init,
/// a backup, a changed second backup, `snapshots`, and a byte-exact restore
/// of the older snapshot. `snap` makes a command for the repository;
/// `init_extra` are more arguments for `init`.
pub fn backend_round_trip(f: &Fixture, init_extra: &[&str], snap: impl Fn() -> Command) {
    use predicates::prelude::*;
    snap().args(FAST_INIT).args(init_extra).assert().success();
    let src = f.path("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/a.conf"), "first").unwrap();
    // With `--pack-size-mib 40`, one pack over S3's multipart threshold.
    fs::write(src.join("data.bin"), noise(3, 40 << 20)).unwrap();
    let first = snap()
        .args(["--json", "backup"])
        .arg(&src)
        .assert()
        .success();
    let first: serde_json::Value = serde_json::from_slice(&first.get_output().stdout).unwrap();
    let before = f.path("before");
    fs::create_dir_all(&before).unwrap();
    fs::copy(src.join("etc/a.conf"), before.join("a.conf")).unwrap();
    fs::write(src.join("etc/a.conf"), "second").unwrap();
    fs::write(src.join("etc/b.conf"), "new").unwrap();
    snap().arg("backup").arg(&src).assert().success();
    snap()
        .arg("snapshots")
        .assert()
        .success()
        .stdout(predicate::str::contains("2 snapshot(s)"));

    let target = f.path("out");
    let id = first["snapshot_id"].as_str().unwrap();
    snap()
        .args(["restore", id, "--target"])
        .arg(&target)
        .assert()
        .success();
    let back = restored(&target, &src);
    assert_eq!(fs::read(back.join("etc/a.conf")).unwrap(), b"first");
    assert!(!back.join("etc/b.conf").exists());
    assert!(
        fs::read(back.join("data.bin")).unwrap() == fs::read(src.join("data.bin")).unwrap(),
        "data.bin differs after restore"
    );
}

/// Runs `cmd` with `--json` and parses what it prints; it must succeed.
pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.arg("--json").assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// Restores `latest` with `cmd` into `target` and checks it equals `src`.
pub fn restore_latest_matches(cmd: Command, src: &Path, target: &Path) {
    let mut cmd = cmd;
    cmd.args(["restore", "latest", "--target"])
        .arg(target)
        .assert()
        .success();
    assert_same_tree(src, &restored(target, src));
}

/// Every pack file of a local repository with its size, smallest first.
pub fn packs(repo: &Path) -> Vec<(u64, PathBuf)> {
    let mut packs = Vec::new();
    for d in fs::read_dir(repo.join("data")).unwrap() {
        for p in fs::read_dir(d.unwrap().path()).unwrap() {
            let p = p.unwrap().path();
            packs.push((fs::metadata(&p).unwrap().len(), p));
        }
    }
    packs.sort();
    packs
}

/// A bench's size setting: the environment variable `name` or `full` when
/// run by `cargo bench` (`--bench`), else `smoke` (a quick run under
/// `cargo test`).
pub fn bench_size(name: &str, full: usize, smoke: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(full)
    } else {
        smoke
    }
}

/// Runs a command of a bench: (seconds, peak RSS in KiB if GNU time,
/// `/usr/bin/time`, is there). Panics with its stderr if it fails.
pub fn measured(mut cmd: std::process::Command) -> (f64, Option<u64>) {
    use std::process::Command as Std;
    let gnu_time = Path::new("/usr/bin/time").exists();
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let mut run = if gnu_time {
        let mut wrapped = Std::new("/usr/bin/time");
        wrapped
            .args(["-f", "%M", "-o"])
            .arg(rss_file.path())
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        wrapped
    } else {
        std::mem::replace(&mut cmd, Std::new("true"))
    };
    let start = std::time::Instant::now();
    let out = run.output().expect("cannot run the command");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{run:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss = fs::read_to_string(rss_file.path())
        .ok()
        .and_then(|t| t.lines().last()?.trim().parse().ok());
    (secs, rss)
}

/// Runs a command and panics with its stderr if it fails.
pub fn run_ok(mut cmd: std::process::Command) {
    let out = cmd.output().expect("cannot run the command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `snap -r REPO ARGS` as benches run it: the built binary, password "bench".
pub fn bench_snap(repo: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_snap"));
    cmd.env("SNAP_PASSWORD", "bench")
        .arg("-r")
        .arg(repo)
        .args(args);
    cmd
}

/// A value as kube-apiserver stores it: `k8s\0` and a protobuf
/// `runtime.Unknown` with the TypeMeta (apiVersion, kind) and the object's bytes.
pub fn k8s_value(api_version: &str, kind: &str, body: &[u8]) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push(number << 3 | 2);
        let mut len = bytes.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(bytes);
    }
    let mut type_meta = Vec::new();
    field(&mut type_meta, 1, api_version.as_bytes());
    field(&mut type_meta, 2, kind.as_bytes());
    let mut v = b"k8s\0".to_vec();
    field(&mut v, 1, &type_meta);
    field(&mut v, 2, body);
    v
}

/// Runs git in `dir` with a fixed identity and default branch `main`;
/// panics with git's message when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git (Debian: apt-get install git)");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

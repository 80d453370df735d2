//! A repository that cannot be written to (a read-only medium; here a
//! local repository made read-only with `chmod -R a-w`, read by a user
//! other than root, who could write anyway) can be read with `--no-lock`
//! (README, "Read-only repositories"; format-spec §9).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{assert_same_tree, restored, Fixture, PASSWORD};
use predicates::prelude::*;

/// A read-only repository with two snapshots, readable by `nobody`, and a
/// folder `nobody` may restore into.
struct ReadOnly {
    f: Fixture,
    src: PathBuf,
    password_file: PathBuf,
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(cmd: &str, args: &[&str]) {
    let out = std::process::Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl ReadOnly {
    fn new() -> ReadOnly {
        let f = Fixture::new();
        let src = f.path("src");
        fs::create_dir_all(src.join("etc")).unwrap();
        fs::write(src.join("etc/a.conf"), "first").unwrap();
        fs::write(src.join("data.bin"), common::noise(5, 300_000)).unwrap();
        f.backup_json(&src, &[]);
        fs::write(src.join("etc/a.conf"), "second").unwrap();
        f.backup_json(&src, &[]);
        let password_file = f.path("password");
        fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        fs::set_permissions(&password_file, fs::Permissions::from_mode(0o444)).unwrap();
        // The other user must reach the folder; the repository is theirs
        // (its files are 0600), and then nobody's to write.
        fs::set_permissions(f.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let repo = f.repo().display().to_string();
        if as_root() {
            run("chown", &["-R", "nobody:nogroup", &repo]);
        }
        run("chmod", &["-R", "a-w", &repo]);
        ReadOnly {
            f,
            src,
            password_file,
        }
    }

    /// `snap -r REPO --password-file FILE`, as `nobody` when run as root.
    fn snap(&self) -> Command {
        let mut cmd = if as_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_snap"));
            c
        } else {
            Command::cargo_bin("snap").unwrap()
        };
        for (k, _) in std::env::vars() {
            if k.starts_with("SNAP_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.f.dir.path())
            .arg("-r")
            .arg(self.f.repo())
            .arg("--password-file")
            .arg(&self.password_file);
        cmd
    }

    /// A new folder the reading user may write to.
    fn target(&self, name: &str) -> PathBuf {
        let t = self.f.path(name);
        fs::create_dir(&t).unwrap();
        if as_root() {
            run("chown", &["nobody:nogroup", &t.display().to_string()]);
        }
        t
    }

    /// Every file of the repository with its size and mode.
    fn files(&self) -> Vec<(PathBuf, u64, u32)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, u32)>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                out.push((e.path(), m.len(), m.permissions().mode()));
                if m.is_dir() {
                    walk(&e.path(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.f.repo(), &mut out);
        out.sort();
        out
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        // Writable again, so the temporary folder can be removed.
        let _ = std::process::Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(self.f.repo())
            .status();
    }
}

#[test]
fn without_no_lock_restore_and_check_fail_and_say_so() {
    let r = ReadOnly::new();
    let target = r.target("out");
    for args in [
        vec!["restore", "latest", "--target", target.to_str().unwrap()],
        vec!["check"],
    ] {
        r.snap().args(&args).assert().code(11).stderr(
            predicate::str::contains("its lock file cannot be written")
                .and(predicate::str::contains("use --no-lock")),
        );
    }
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
}

#[test]
fn every_read_command_works_with_no_lock_and_writes_nothing() {
    let r = ReadOnly::new();
    let before = r.files();
    let target = r.target("out");
    r.snap()
        .args(["--no-lock", "restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success();
    assert_same_tree(&r.src, &restored(&target, &r.src));
    r.snap()
        .args(["--no-lock", "check", "--read-data"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no errors"));
    let list = r
        .snap()
        .args(["--no-lock", "--json", "snapshots"])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    let first = rows[0]["id"].as_str().unwrap().to_string();
    let file = format!("{}/etc/a.conf", r.src.display());
    for args in [
        vec!["ls", "latest"],
        vec!["dump", "latest", &file],
        vec!["diff", &first, "latest"],
        vec!["find", "a.conf"],
        vec!["stats"],
        vec!["cat", "snapshot", "latest"],
        vec!["cat", "config"],
        vec!["key", "list"],
    ] {
        r.snap().arg("--no-lock").args(&args).assert().success();
    }
    r.snap()
        .args(["--no-lock", "dump", "latest", &file])
        .assert()
        .stdout("second");
    assert_eq!(r.files(), before, "the repository changed");
}

#[test]
fn commands_that_write_refuse_no_lock() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    f.backup_json(&src, &[]);
    let src_s = src.to_str().unwrap();
    for args in [
        vec!["backup", src_s],
        vec!["forget", "--keep-last", "1"],
        vec!["prune"],
        vec!["tag", "latest", "--add", "x"],
        vec!["unlock"],
        vec!["key", "remove", "abcd"],
    ] {
        f.snap()
            .arg("--no-lock")
            .args(&args)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("--no-lock is only for commands that read")
                    .and(predicate::str::contains(format!("`snap {}`", args[0]))),
            );
    }
    assert_eq!(fs::read_dir(f.repo().join("snapshots")).unwrap().count(), 1);
}

#[test]
fn a_pack_deleted_under_a_reader_without_lock_fails_the_read_naming_it() {
    // What a concurrent prune can do to a reader that took no lock: the
    // read fails cleanly and the damaged file is not left looking complete.
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("big.bin"), common::noise(9, 200_000)).unwrap();
    f.backup_json(&src, &[]);
    let (_, pack) = common::packs(&f.repo()).pop().unwrap();
    fs::remove_file(&pack).unwrap();
    let name = pack.file_name().unwrap().to_string_lossy().into_owned();
    let target = f.path("out");
    f.snap()
        .args(["--no-lock", "restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .failure()
        .stderr(predicate::str::contains(&name));
    assert!(!restored(&target, &src).join("big.bin").exists());
}

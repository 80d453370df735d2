//! `snap backup git:PATH` and restoring the repositories, against real git:
//! branches, lightweight and annotated tags, notes, merges, a symbolic HEAD,
//! bare and non-bare repositories found in nested folders; restores are
//! `git fsck --full` clean with identical refs; a second backup after one
//! commit stores kilobytes; pushes during backups never tear a snapshot.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{git, json_of, noise, Fixture};

fn commit_file(dir: &Path, name: &str, content: &[u8], message: &str) {
    std::fs::write(dir.join(name), content).unwrap();
    git(dir, &["add", name]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// A repository with branches, a merge, tags of both kinds, notes and a
/// remote-tracking ref with a symbolic remote HEAD.
fn rich_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    commit_file(dir, "README.md", b"# app\n", "first");
    commit_file(dir, "data.bin", &noise(1, 300_000), "data");
    git(dir, &["checkout", "-q", "-b", "feature"]);
    commit_file(dir, "feature.txt", b"feature\n", "feature work");
    git(dir, &["checkout", "-q", "main"]);
    commit_file(dir, "main.txt", b"main\n", "main work");
    git(dir, &["merge", "-q", "--no-edit", "feature"]);
    git(dir, &["tag", "v1.0"]);
    git(dir, &["tag", "-a", "v1.1", "-m", "release 1.1"]);
    git(dir, &["notes", "add", "-m", "reviewed", "HEAD"]);
    let head = git(dir, &["rev-parse", "HEAD"]);
    git(
        dir,
        &["update-ref", "refs/remotes/origin/main", head.trim()],
    );
    git(
        dir,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/main",
        ],
    );
}

/// Refs as `git for-each-ref` and `HEAD` show them.
fn refs(git_dir: &Path) -> String {
    let mut out = git(
        git_dir,
        &[
            "for-each-ref",
            "--format=%(objectname) %(refname) %(symref)",
        ],
    );
    out.push_str(&git(git_dir, &["symbolic-ref", "HEAD"]));
    out
}

fn fsck(git_dir: &Path) {
    git(git_dir, &["fsck", "--full", "--strict", "--no-dangling"]);
}

#[test]
fn repositories_come_back_with_identical_refs_and_objects() {
    let f = Fixture::new();
    let root = f.path("git");
    rich_repo(&root.join("apps/shop"));
    std::fs::create_dir_all(root.join("infra")).unwrap();
    git(
        &root,
        &["clone", "-q", "--bare", "apps/shop", "infra/config.git"],
    );
    let config = root.join("infra/config.git");
    git(&config, &["symbolic-ref", "HEAD", "refs/heads/feature"]);

    let report = json_of(
        f.snap()
            .args(["--json", "backup"])
            .arg(format!("git:{}", root.display())),
    );
    let source = &report["sources"][0];
    assert_eq!(source["kind"], "git");
    assert_eq!(source["resources"], 2);
    assert!(report["git_objects"].as_u64().unwrap() > 10);

    // ls lists each repository and its refs.
    let ls = json_of(f.snap().args(["--json", "ls", "latest"]));
    let repos: Vec<&serde_json::Value> = ls
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "gitrepo")
        .collect();
    assert_eq!(repos.len(), 2);
    assert_eq!(repos[0]["path"], "/@git/apps/shop");
    let shop_refs = repos[0]["git"]["refs"].as_array().unwrap();
    let main = git(&root.join("apps/shop"), &["rev-parse", "refs/heads/main"]);
    assert!(shop_refs
        .iter()
        .any(|r| r["name"] == "refs/heads/main" && r["target"] == main.trim()));
    assert!(shop_refs
        .iter()
        .any(|r| r["name"] == "HEAD" && r["target"] == "refs/heads/main" && r["symbolic"] == true));
    let text = String::from_utf8(f.snap().args(["ls", "latest"]).output().unwrap().stdout).unwrap();
    assert!(
        text.contains("gitref   /@git/infra/config.git  HEAD => refs/heads/feature"),
        "{text}"
    );

    let out = f.path("restored");
    let r = json_of(
        f.snap()
            .args(["--json", "restore", "latest", "--target"])
            .arg(&out),
    );
    assert_eq!(r["git"].as_array().unwrap().len(), 2);
    for (restored, original) in [
        (out.join("apps/shop.git"), root.join("apps/shop/.git")),
        (out.join("infra/config.git"), config.clone()),
    ] {
        fsck(&restored);
        assert_eq!(refs(&restored), refs(&original), "{}", restored.display());
        let objects = |d: &Path| {
            let mut l: Vec<String> = git(d, &["rev-list", "--objects", "--all"])
                .lines()
                .map(|l| l.split(' ').next().unwrap().to_string())
                .collect();
            l.sort();
            l
        };
        assert_eq!(objects(&restored), objects(&original));
        assert_eq!(
            git(&restored, &["rev-parse", "--is-bare-repository"]).trim(),
            "true"
        );
    }
    // The notes came back.
    assert_eq!(
        git(&out.join("apps/shop.git"), &["notes", "show", "main"]).trim(),
        "reviewed"
    );
    // A folder in use is refused.
    let again = f
        .snap()
        .args(["restore", "latest", "--target"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[test]
fn a_second_backup_after_one_commit_stores_kilobytes() {
    let f = Fixture::new();
    let repo = f.path("history");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    for i in 0..40u64 {
        commit_file(
            &repo,
            &format!("f{}.bin", i % 10),
            &noise(i, 100_000),
            &format!("c{i}"),
        );
    }
    git(&repo, &["gc", "-q"]);
    let loc = format!("git:{}", repo.display());
    let first = json_of(f.snap().args(["--json", "backup", &loc]));
    assert!(first["data_added"].as_u64().unwrap() > 3_000_000);
    commit_file(&repo, "small.txt", b"one more line\n", "small");
    let second = json_of(f.snap().args(["--json", "backup", &loc]));
    let added = second["data_added_stored"].as_u64().unwrap();
    assert!(added < 64_000, "second backup stored {added} bytes");
    let diff = f
        .snap()
        .args(["diff"])
        .arg(first["snapshot_id"].as_str().unwrap())
        .arg("latest")
        .output()
        .unwrap();
    let diff = String::from_utf8(diff.stdout).unwrap();
    assert!(diff.contains("M  /@git/history/refs/heads/main"), "{diff}");
}

#[test]
fn pushes_during_backups_never_tear_a_snapshot() {
    let f = Fixture::new();
    let work = f.path("work");
    rich_repo(&work);
    let server = f.path("server.git");
    git(
        f.dir.path(),
        &["clone", "-q", "--bare", "work", "server.git"],
    );
    git(
        &work,
        &["remote", "add", "server", server.to_str().unwrap()],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (stop, work) = (Arc::clone(&stop), work.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                commit_file(
                    &work,
                    "live.bin",
                    &noise(1000 + n, 20_000),
                    &format!("live {n}"),
                );
                git(
                    &work,
                    &[
                        "push",
                        "-q",
                        "--force",
                        "server",
                        "main",
                        &format!("main:refs/heads/b{}", n % 3),
                    ],
                );
                n += 1;
            }
            n
        })
    };
    let loc = format!("git:{}", server.display());
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = json_of(f.snap().args(["--json", "backup", &loc]));
        ids.push(r["snapshot_id"].as_str().unwrap().to_string());
    }
    stop.store(true, Ordering::Relaxed);
    assert!(pusher.join().unwrap() > 0);
    for (i, id) in ids.iter().enumerate() {
        let out = f.path(&format!("restored-{i}"));
        f.snap()
            .args(["restore", id, "--target"])
            .arg(&out)
            .assert()
            .success();
        fsck(&out.join("server.git"));
    }
}

/// A bare copy of `original` at `server`, then made dirty: an extra branch,
/// `main` moved elsewhere, a tag deleted.
fn dirty_server(original: &Path, server: &Path) {
    let parent = server.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    git(
        parent,
        &[
            "clone",
            "-q",
            "--bare",
            original.to_str().unwrap(),
            server.to_str().unwrap(),
        ],
    );
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join("w");
    git(
        scratch.path(),
        &["clone", "-q", server.to_str().unwrap(), "w"],
    );
    commit_file(&work, "junk.txt", b"junk\n", "junk");
    git(
        &work,
        &[
            "push",
            "-q",
            "origin",
            "HEAD:refs/heads/junk",
            "+HEAD:refs/heads/main",
        ],
    );
    git(server, &["tag", "-d", "v1.0"]);
}

#[test]
fn restored_repositories_are_pushed_as_mirrors_over_file_and_git_daemon() {
    let f = Fixture::new();
    let root = f.path("git");
    let original = root.join("shop");
    rich_repo(&original);
    f.snap()
        .arg("backup")
        .arg(format!("git:{}", root.display()))
        .assert()
        .success();
    let want = refs(&original.join(".git"));
    let want = want
        .lines()
        .filter(|l| !l.contains("refs/remotes/"))
        .collect::<Vec<_>>();
    let refs_of = |server: &Path| {
        refs(server)
            .lines()
            .filter(|l| !l.contains("refs/remotes/"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };

    // file://: a dirty server ends identical; a missing one is created.
    let srv = f.path("srv");
    dirty_server(&original, &srv.join("shop.git"));
    let template = format!("file://{}/{{repo}}.git", srv.display());
    let r = json_of(
        f.snap()
            .args(["--json", "restore", "latest", "--git-push", &template]),
    );
    let push = &r["git"][0]["push"];
    assert_eq!(
        push["deleted"],
        serde_json::json!(["refs/heads/junk"]),
        "{push}"
    );
    assert!(
        push["updated"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "refs/heads/main"),
        "{push}"
    );
    assert!(
        push["created"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "refs/tags/v1.0"),
        "{push}"
    );
    // A mirror push also carries remote-tracking refs; compare the rest.
    assert_eq!(refs_of(&srv.join("shop.git")), want);
    fsck(&srv.join("shop.git"));
    let fresh = f.path("fresh");
    let template = format!("file://{}/{{repo}}.git", fresh.display());
    f.snap()
        .args(["restore", "latest", "--git-push", &template])
        .assert()
        .success();
    assert_eq!(refs_of(&fresh.join("shop.git")), want);

    // git daemon on loopback, receive-pack enabled.
    let base = f.path("daemon");
    dirty_server(&original, &base.join("shop.git"));
    let port = common::servers::free_port();
    // git-daemon itself, not `git daemon`: killing the `git` wrapper would
    // leave the daemon running, holding the test's output open.
    let exec_path = git(&base, &["--exec-path"]);
    let mut daemon = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
        .args([
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(&base)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "git daemon did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = f
        .snap()
        .args([
            "restore",
            "latest",
            "--git-push",
            &format!("git://127.0.0.1:{port}/{{repo}}.git"),
        ])
        .output()
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-  refs/heads/junk"), "{text}");
    let server = base.join("shop.git");
    // A push cannot set a remote server's HEAD: compare the refs (the
    // lines with an object ID; the last line is HEAD's target).
    let plain = |v: Vec<String>| {
        v.into_iter()
            .filter(|l| l.contains(' '))
            .collect::<Vec<_>>()
    };
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    assert_eq!(plain(refs_of(&server)), plain(want));
    fsck(&server);
}

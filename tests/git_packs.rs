//! git repositories stored as chains of packs (format-spec §15.4), against
//! real git: increments after pushes, a `git gc` and a force-push that drops
//! commits; a bounded chain; unchanged refs reusing the parent; copies of
//! one repository and a fork building on its chain; a damaged repository
//! among healthy ones (exit 3, recorded as failed, the others restore); a
//! lost pack cut by `repair snapshots`; a damaged git pack stopping a
//! profile restore before any file changes.

mod common;

use std::path::Path;

use common::{git, json_of, noise, Fixture};

fn commit_file(dir: &Path, name: &str, content: &[u8], message: &str) {
    std::fs::write(dir.join(name), content).unwrap();
    git(dir, &["add", name]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// A bare server and a work clone pushing to it: branches, both kinds of
/// tags, notes, a merge.
fn server_and_work(f: &Fixture) -> (std::path::PathBuf, std::path::PathBuf) {
    let work = f.path("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q"]);
    commit_file(&work, "README.md", b"# app\n", "first");
    commit_file(&work, "data.bin", &noise(7, 200_000), "data");
    git(&work, &["checkout", "-q", "-b", "feature"]);
    commit_file(&work, "feature.txt", b"feature\n", "feature");
    git(&work, &["checkout", "-q", "main"]);
    commit_file(&work, "main.txt", b"main\n", "main");
    git(&work, &["merge", "-q", "--no-edit", "feature"]);
    git(&work, &["tag", "v1"]);
    git(&work, &["tag", "-a", "v2", "-m", "release 2"]);
    git(&work, &["notes", "add", "-m", "reviewed", "HEAD"]);
    let server = f.path("srv/app.git");
    std::fs::create_dir_all(f.path("srv")).unwrap();
    git(&f.path("srv"), &["init", "-q", "--bare", "app.git"]);
    git(&work, &["push", "-q", "--mirror", server.to_str().unwrap()]);
    (server, work)
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

fn backup(f: &Fixture, location: &Path) -> serde_json::Value {
    json_of(
        f.snap()
            .args(["--json", "backup"])
            .arg(format!("git:{}", location.display())),
    )
}

/// The repository entries of `snap ls --json ID`.
fn repos(f: &Fixture, id: &str) -> Vec<serde_json::Value> {
    json_of(f.snap().args(["--json", "ls", id]))
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "gitrepo")
        .cloned()
        .collect()
}

fn restore_into(f: &Fixture, id: &str, out: &Path) {
    f.snap()
        .args(["restore", id, "--target"])
        .arg(out)
        .assert()
        .success();
}

#[test]
fn increments_after_pushes_gc_and_a_force_push_restore_exactly() {
    let f = Fixture::new();
    let (server, work) = server_and_work(&f);
    let root = f.path("srv");
    let mut expect = Vec::new();

    let first = backup(&f, &root);
    assert_eq!(repos(&f, "latest")[0]["git_packs"], 1);
    expect.push((
        first["snapshot_id"].as_str().unwrap().to_string(),
        refs(&server),
    ));

    // A push: one thin pack of the new objects.
    commit_file(&work, "small.txt", b"one more line\n", "small");
    git(&work, &["push", "-q", "--mirror", server.to_str().unwrap()]);
    let second = backup(&f, &root);
    let added = second["data_added_stored"].as_u64().unwrap();
    assert!(added < 20_000, "an increment stored {added} bytes");
    assert_eq!(repos(&f, "latest")[0]["git_packs"], 2);
    expect.push((
        second["snapshot_id"].as_str().unwrap().to_string(),
        refs(&server),
    ));

    // Nothing changed: the parent's node, nothing read, nothing stored
    // beyond the snapshot's own trees.
    let same = backup(&f, &root);
    assert_eq!(same["git_objects"].as_u64().unwrap_or(0), 0);
    assert!(same["data_added_stored"].as_u64().unwrap() < 2_000);

    // A gc repacks everything; the next increment is still only what is new.
    git(&server, &["gc", "-q", "--aggressive"]);
    commit_file(&work, "after-gc.txt", b"after gc\n", "after gc");
    git(&work, &["push", "-q", "--mirror", server.to_str().unwrap()]);
    let third = backup(&f, &root);
    let added = third["data_added_stored"].as_u64().unwrap();
    assert!(added < 20_000, "after gc an increment stored {added} bytes");
    expect.push((
        third["snapshot_id"].as_str().unwrap().to_string(),
        refs(&server),
    ));

    // A force-push drops two commits and a branch; gc prunes them.
    git(&work, &["reset", "-q", "--hard", "HEAD~2"]);
    git(&work, &["branch", "-q", "-D", "feature"]);
    commit_file(&work, "rewritten.txt", b"rewritten\n", "rewritten");
    git(
        &work,
        &[
            "push",
            "-q",
            "--mirror",
            "--force",
            server.to_str().unwrap(),
        ],
    );
    git(
        &server,
        &["-c", "gc.reflogExpire=now", "gc", "-q", "--prune=now"],
    );
    let fourth = backup(&f, &root);
    expect.push((
        fourth["snapshot_id"].as_str().unwrap().to_string(),
        refs(&server),
    ));
    let diff = f
        .snap()
        .args(["diff"])
        .arg(third["snapshot_id"].as_str().unwrap())
        .arg("latest")
        .output()
        .unwrap();
    let diff = String::from_utf8(diff.stdout).unwrap();
    assert!(
        diff.contains("-  /@git/app.git/refs/heads/feature"),
        "{diff}"
    );
    assert!(diff.contains("M  /@git/app.git/refs/heads/main"), "{diff}");

    for (i, (id, want)) in expect.iter().enumerate() {
        let out = f.path(&format!("restored-{i}"));
        restore_into(&f, id, &out);
        let repo = out.join("app.git");
        fsck(&repo);
        assert_eq!(&refs(&repo), want, "snapshot {i}");
        assert_eq!(git(&repo, &["notes", "show", "v1"]).trim(), "reviewed");
    }
    // The last restore has exactly the snapshot's refs: the dropped branch
    // and commits are not reachable from any of them.
    let last = f.path("restored-3/app.git");
    assert!(!refs(&last).contains("refs/heads/feature"));
    f.snap().args(["check", "--read-data"]).assert().success();
}

#[test]
fn the_chain_is_bounded_and_copies_share_their_blobs() {
    let f = Fixture::new();
    let (server, work) = server_and_work(&f);
    let root = f.path("srv");
    let mut lengths = Vec::new();
    for i in 0..18u64 {
        if i > 0 {
            commit_file(&work, "log.txt", format!("entry {i}\n").as_bytes(), "log");
            git(&work, &["push", "-q", "--mirror", server.to_str().unwrap()]);
        }
        backup(&f, &root);
        lengths.push(repos(&f, "latest")[0]["git_packs"].as_u64().unwrap());
    }
    // 16 packs at most: the 17th capture starts a new chain.
    assert_eq!(
        &lengths[..16],
        &(1..=16).collect::<Vec<u64>>()[..],
        "{lengths:?}"
    );
    assert_eq!(&lengths[16..], &[1, 2], "{lengths:?}");
    let out = f.path("restored");
    restore_into(&f, "latest", &out);
    fsck(&out.join("app.git"));
    assert_eq!(refs(&out.join("app.git")), refs(&server));

    // Two more copies of the (packed) repository in one snapshot cost far
    // less than a copy each: git writes the same pack for each, cut into
    // the same blobs.
    git(&server, &["gc", "-q"]);
    let g = Fixture::new();
    let one = backup(&g, &root)["data_added_stored"].as_u64().unwrap();
    for copy in ["copy-a.git", "copy-b.git"] {
        git(
            &root,
            &["clone", "-q", "--mirror", "--no-hardlinks", "app.git", copy],
        );
    }
    // A fork cloned over git's protocol (packed its own way) with a commit
    // of its own: a thin pack on the chain of the repository it shares
    // refs with.
    git(
        &root,
        &[
            "clone",
            "-q",
            "--mirror",
            "--no-local",
            "app.git",
            "fork.git",
        ],
    );
    let scratch = f.path("fork-work");
    git(
        &f.path("."),
        &[
            "clone",
            "-q",
            root.join("fork.git").to_str().unwrap(),
            "fork-work",
        ],
    );
    commit_file(&scratch, "fork.txt", b"fork only\n", "fork");
    git(&scratch, &["push", "-q", "origin", "main"]);
    let h = Fixture::new();
    let four = backup(&h, &root)["data_added_stored"].as_u64().unwrap();
    let listed = repos(&h, "latest");
    assert_eq!(listed.len(), 4);
    assert!(
        four < one + one / 4,
        "one repository stored {one} bytes, it with two copies and a fork {four}"
    );
    let fork = listed
        .iter()
        .find(|r| r["path"] == "/@git/fork.git")
        .unwrap();
    assert_eq!(fork["git_packs"], 2, "{fork}");
    let out = f.path("restored-forks");
    restore_into(&h, "latest", &out);
    for name in ["app.git", "copy-a.git", "copy-b.git", "fork.git"] {
        fsck(&out.join(name));
        assert_eq!(refs(&out.join(name)), refs(&root.join(name)), "{name}");
    }
}

#[test]
fn a_damaged_repository_is_recorded_as_failed_and_the_others_restore() {
    let f = Fixture::new();
    let (server, work) = server_and_work(&f);
    let root = f.path("srv");
    // A second repository whose newest blob is lost (a loose object, as a
    // push leaves it).
    let broken = root.join("broken.git");
    git(&root, &["clone", "-q", "--bare", "app.git", "broken.git"]);
    commit_file(&work, "lost.txt", b"this blob will be lost\n", "lost");
    git(&work, &["push", "-q", "--mirror", broken.to_str().unwrap()]);
    let blob = git(&work, &["rev-parse", "HEAD:lost.txt"]);
    let blob = blob.trim();
    std::fs::remove_file(broken.join("objects").join(&blob[..2]).join(&blob[2..])).unwrap();

    let out = f
        .snap()
        .arg("backup")
        .arg(format!("git:{}", root.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("broken.git"), "{stderr}");
    assert!(stderr.contains("git fsck"), "{stderr}");

    let listed = repos(&f, "latest");
    let failed = listed
        .iter()
        .find(|r| r["path"] == "/@git/broken.git")
        .unwrap();
    assert!(
        failed["git"]["error"].as_str().unwrap().contains(blob),
        "{failed}"
    );
    let ls = String::from_utf8(f.snap().args(["ls", "latest"]).output().unwrap().stdout).unwrap();
    assert!(ls.contains("not captured"), "{ls}");
    let rows = json_of(f.snap().args(["--json", "snapshots"]));
    assert_eq!(
        rows[0]["sources"][0]["failed"],
        serde_json::json!(["broken.git"])
    );
    let text = String::from_utf8(f.snap().arg("snapshots").output().unwrap().stdout).unwrap();
    assert!(text.contains("1 git repository failed"), "{text}");

    let target = f.path("restored");
    let out = f
        .snap()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("broken.git"), "{stderr}");
    fsck(&target.join("app.git"));
    assert_eq!(refs(&target.join("app.git")), refs(&server));
    assert!(!target.join("broken.git").exists());

    // A clean repository never makes a backup partial.
    std::fs::remove_dir_all(&broken).unwrap();
    f.snap()
        .arg("backup")
        .arg(format!("git:{}", root.display()))
        .assert()
        .code(0);
}

#[test]
fn repair_snapshots_cuts_a_repository_whose_pack_is_lost() {
    let f = Fixture::new();
    let (_server, _work) = server_and_work(&f);
    let first = backup(&f, &f.path("srv"));
    // The largest pack holds the git pack's blobs (200 KB of noise); trees
    // are small and packed apart.
    let packs = common::packs(&f.repo());
    std::fs::remove_file(&packs.last().unwrap().1).unwrap();
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(f.path("x"))
        .assert()
        .failure();
    let r = json_of(f.snap().args(["--json", "repair", "snapshots"]));
    let repaired = &r["repaired"][0];
    assert_eq!(repaired["snapshot"], first["snapshot_id"]);
    let cut = repaired["cut"].as_array().unwrap();
    assert_eq!(cut.len(), 1, "{r}");
    assert!(cut[0].as_str().unwrap().contains("/@git/app.git"), "{r}");
    let target = f.path("out");
    restore_into(&f, repaired["repaired_as"].as_str().unwrap(), &target);
    assert!(!target.join("app.git").exists());
}

#[test]
fn a_damaged_git_pack_stops_a_profile_restore_before_any_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf")).unwrap();
    std::fs::write(root.join("conf/app.yaml"), b"replicas: 3\n").unwrap();
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q"]);
    // Noise that compresses to nothing: the git pack is the largest pack.
    commit_file(&work, "data.bin", &noise(11, 400_000), "data");
    std::fs::create_dir_all(root.join("git")).unwrap();
    git(
        &root.join("git"),
        &["clone", "-q", "--bare", work.to_str().unwrap(), "app.git"],
    );
    std::fs::write(root.join("password"), format!("{}\n", common::PASSWORD)).unwrap();
    let profile = root.join("p.toml");
    std::fs::write(
        &profile,
        "[repository]\nlocation = \"repo\"\npassword_file = \"password\"\n\
         [git]\npath = \"git\"\nrestore_dir = \"restored-git\"\n\
         [[files]]\npath = \"conf\"\n",
    )
    .unwrap();
    common::snap(root.join("repo"))
        .args(common::FAST_INIT)
        .assert()
        .success();
    // The profile names the repository and its password.
    let snap = || {
        let mut c = assert_cmd::Command::cargo_bin("snap").unwrap();
        for (k, _) in std::env::vars() {
            if k.starts_with("SNAP_") {
                c.env_remove(k);
            }
        }
        c
    };
    snap()
        .args(["backup", "--profile"])
        .arg(&profile)
        .assert()
        .success();
    std::fs::write(root.join("conf/app.yaml"), b"replicas: 5\n").unwrap();
    let packs = common::packs(&root.join("repo"));
    let path = &packs.last().unwrap().1;
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
    let out = snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("git repository app.git"), "{err}");
    assert_eq!(
        std::fs::read(root.join("conf/app.yaml")).unwrap(),
        b"replicas: 5\n"
    );
    assert!(!root.join("restored-git/app.git").exists());
}

#[test]
fn a_sha256_repository_comes_back_with_its_increments() {
    let f = Fixture::new();
    let work = f.path("work256");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "--object-format=sha256"]);
    commit_file(&work, "a.txt", b"first\n", "first");
    git(&work, &["tag", "-a", "v1", "-m", "one"]);
    let root = f.path("git256");
    std::fs::create_dir_all(&root).unwrap();
    git(
        &root,
        &["clone", "-q", "--mirror", work.to_str().unwrap(), "app.git"],
    );
    backup(&f, &root);
    commit_file(&work, "b.txt", b"second\n", "second");
    git(
        &root.join("app.git"),
        &["fetch", "-q", "--prune", "origin", "+refs/*:refs/*"],
    );
    backup(&f, &root);
    let listed = repos(&f, "latest");
    assert_eq!(listed[0]["git"]["object_format"], "sha256");
    assert_eq!(listed[0]["git_packs"], 2);
    let out = f.path("restored256");
    restore_into(&f, "latest", &out);
    fsck(&out.join("app.git"));
    assert_eq!(refs(&out.join("app.git")), refs(&root.join("app.git")));
}

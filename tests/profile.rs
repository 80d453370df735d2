//! `snap backup --profile` and `snap restore --profile` against a real etcd,
//! real git repositories and real files: one snapshot of the whole platform,
//! a dirty platform put back exactly (files in place, etcd keys, git refs on
//! the server), `--dry-run` changing nothing, `--only` restoring a subset,
//! and a freshly installed platform restored from nothing.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use common::servers::{etcd, EtcdNode};
use common::{etcd_kv, git, noise, PASSWORD};
use snap::etcd::{EtcdClient, Op};

/// `snap` with no SNAP_* variable but a wrong SNAP_REPOSITORY: the profile
/// must name the repository and the password file.
fn snap() -> Command {
    let mut cmd = Command::cargo_bin("snap").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("SNAP_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SNAP_REPOSITORY", "/nonexistent/not-this-one");
    cmd
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn client(node: &EtcdNode) -> EtcdClient {
    etcd_kv::client(&node.endpoint)
}

fn keyspace(c: &EtcdClient) -> BTreeMap<Vec<u8>, Vec<u8>> {
    etcd_kv::keyspace(c, b"", 0)
}

fn put(c: &EtcdClient, key: &str, value: &[u8]) {
    etcd_kv::put(c, key, value, 0);
}

/// A sample platform under `root`: a config folder, a certificate folder, a
/// single key file, and a git server folder with two bare repositories.
struct Platform {
    root: PathBuf,
}

impl Platform {
    fn build(root: &Path) -> Platform {
        let etc = root.join("etc/platform");
        std::fs::create_dir_all(etc.join("conf.d")).unwrap();
        std::fs::write(etc.join("platform.yaml"), b"replicas: 3\n").unwrap();
        std::fs::write(etc.join("conf.d/ingress.yaml"), b"hosts: [a, b]\n").unwrap();
        std::fs::write(etc.join("conf.d/big.bin"), noise(7, 3 << 20)).unwrap();
        std::fs::write(etc.join("editor.swp"), b"swap").unwrap();
        std::os::unix::fs::symlink("conf.d/ingress.yaml", etc.join("current")).unwrap();
        let pki = root.join("pki");
        std::fs::create_dir_all(&pki).unwrap();
        std::fs::write(pki.join("ca.crt"), noise(1, 1500)).unwrap();
        std::fs::write(pki.join("server.key"), noise(2, 1700)).unwrap();
        std::fs::set_permissions(
            pki.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::write(root.join("node.key"), noise(3, 300)).unwrap();

        let work = root.join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q"]);
        for i in 0..3 {
            std::fs::write(work.join("app.txt"), format!("version {i}\n")).unwrap();
            git(&work, &["add", "app.txt"]);
            git(&work, &["commit", "-q", "-m", &format!("change {i}")]);
        }
        git(&work, &["tag", "-a", "v1", "-m", "release 1"]);
        git(&work, &["branch", "feature", "HEAD~1"]);
        let server = root.join("git");
        std::fs::create_dir_all(&server).unwrap();
        for name in ["apps", "infra"] {
            let bare = server.join(format!("{name}.git"));
            git(
                root,
                &[
                    "clone",
                    "-q",
                    "--mirror",
                    work.to_str().unwrap(),
                    bare.to_str().unwrap(),
                ],
            );
        }
        Platform {
            root: root.to_path_buf(),
        }
    }

    /// Every path under the file sources with its type, mode and content
    /// hash, and every ref of both repositories.
    fn state(&self) -> String {
        let mut out = String::new();
        for top in ["etc/platform", "pki", "node.key"] {
            let mut stack = vec![self.root.join(top)];
            let mut seen = Vec::new();
            while let Some(p) = stack.pop() {
                // Excluded from backups, so not part of the platform's state.
                if p.extension().is_some_and(|e| e == "swp") {
                    continue;
                }
                let m = std::fs::symlink_metadata(&p).unwrap();
                let what = if m.file_type().is_symlink() {
                    format!("-> {}", std::fs::read_link(&p).unwrap().display())
                } else if m.is_dir() {
                    for e in std::fs::read_dir(&p).unwrap() {
                        stack.push(e.unwrap().path());
                    }
                    "dir".to_string()
                } else {
                    blake3::hash(&std::fs::read(&p).unwrap())
                        .to_hex()
                        .to_string()
                };
                let rel = p.strip_prefix(&self.root).unwrap().display().to_string();
                seen.push(format!("{rel} {:o} {what}\n", m.mode() & 0o7777));
            }
            seen.sort();
            out.extend(seen);
        }
        for name in ["apps", "infra"] {
            let dir = self.root.join(format!("git/{name}.git"));
            out.push_str(&git(
                &dir,
                &["for-each-ref", "--format=%(objectname) %(refname)"],
            ));
            out.push_str(&git(&dir, &["symbolic-ref", "HEAD"]));
        }
        out
    }

    fn profile(&self, etcd: &str, extra_git: &str) -> PathBuf {
        let file = self.root.join("platform.toml");
        std::fs::write(self.root.join("password"), format!("{PASSWORD}\n")).unwrap();
        std::fs::write(
            &file,
            format!(
                r#"
name = "test"
[repository]
location = "repo"
password_file = "password"
[snapshot]
host = "platform-test"
tags = ["platform"]
[etcd]
location = "{etcd}"
[git]
path = "git"
{extra_git}
[[files]]
path = "etc/platform"
exclude = ["*.swp"]
[[files]]
path = "pki"
[[files]]
path = "node.key"
"#
            ),
        )
        .unwrap();
        file
    }
}

/// Writes `dir/p.toml` naming the repository `dir/REPO` (created), the
/// password in `dir/password`, and `files` (TOML of `[[files]]` entries).
fn files_profile(dir: &Path, repo: &str, files: &str) -> PathBuf {
    std::fs::write(dir.join("password"), format!("{PASSWORD}\n")).unwrap();
    let profile = dir.join("p.toml");
    let text =
        format!("[repository]\nlocation = \"{repo}\"\npassword_file = \"password\"\n{files}");
    std::fs::write(&profile, text).unwrap();
    init(&dir.join(repo));
    profile
}

/// A repository at `repo` with the test password and cheap key derivation.
fn init(repo: &Path) {
    let mut cmd = snap();
    cmd.env("SNAP_PASSWORD", PASSWORD)
        .arg("-r")
        .arg(repo)
        .args(common::FAST_INIT);
    run(&mut cmd);
}

#[test]
fn a_dirty_platform_goes_back_to_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let node = etcd();
    let c = client(&node);
    for i in 0..50 {
        put(
            &c,
            &format!("/registry/configmaps/default/cm-{i}"),
            format!("{{\"n\":{i}}}").as_bytes(),
        );
    }
    let platform = Platform::build(dir.path());
    let location = node.endpoint.replace("http://", "etcd://");
    let server = platform.root.join("git");
    let profile = platform.profile(
        &location,
        &format!("push = \"file://{}/{{repo}}.git\"", server.display()),
    );
    init(&platform.root.join("repo"));
    let before = platform.state();
    let keys_before = keyspace(&c);

    let report: serde_json::Value = serde_json::from_str(&run(snap()
        .args(["--json", "backup", "--profile"])
        .arg(&profile)))
    .unwrap();
    let id = report["snapshot_id"].as_str().unwrap().to_string();
    // One snapshot, every source with its kind, version and resource count.
    let sources = report["sources"].as_array().unwrap();
    let kinds: Vec<&str> = sources
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["etcd", "git", "files", "files", "files"],
        "{report}"
    );
    assert_eq!(sources[0]["resources"], 50);
    assert!(sources[0]["version"]
        .as_str()
        .unwrap()
        .starts_with("etcd 3."));
    assert_eq!(sources[1]["resources"], 2);
    assert!(sources[1]["version"]
        .as_str()
        .unwrap()
        .starts_with("git version"));
    let files: BTreeMap<String, u64> = sources[2..]
        .iter()
        .map(|s| {
            let loc = s["location"].as_str().unwrap();
            let rel = Path::new(loc).strip_prefix(&platform.root).unwrap();
            (rel.display().to_string(), s["resources"].as_u64().unwrap())
        })
        .collect();
    // etc/platform: itself, conf.d, 3 files, the link (not the .swp).
    let expected: BTreeMap<String, u64> = [("etc/platform", 6), ("node.key", 1), ("pki", 3)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(files, expected);
    let snapshots = run(snap()
        .env("SNAP_PASSWORD", PASSWORD)
        .arg("-r")
        .arg(platform.root.join("repo"))
        .args(["snapshots", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&snapshots).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["hostname"], "platform-test");

    // Break every part.
    let etc = platform.root.join("etc/platform");
    let untouched = std::fs::metadata(etc.join("conf.d/big.bin")).unwrap().ino();
    std::fs::write(etc.join("platform.yaml"), b"replicas: 0\n").unwrap();
    std::fs::remove_file(platform.root.join("pki/server.key")).unwrap();
    std::fs::set_permissions(
        platform.root.join("pki/ca.crt"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    std::fs::create_dir_all(etc.join("stray/deep")).unwrap();
    std::fs::write(etc.join("stray/deep/x.conf"), b"x").unwrap();
    std::fs::write(etc.join("new.conf"), b"new").unwrap();
    std::fs::write(etc.join("editor.swp"), b"changed swap, kept").unwrap();
    std::fs::write(etc.join("other.swp"), b"new swap, kept").unwrap();
    std::fs::remove_file(etc.join("current")).unwrap();
    std::fs::write(etc.join("current"), b"not a link any more").unwrap();
    std::fs::write(platform.root.join("node.key"), b"rotated by mistake").unwrap();
    let apps = server.join("apps.git");
    let head = git(&apps, &["rev-parse", "main~2"]);
    git(&apps, &["update-ref", "refs/heads/main", head.trim()]);
    git(&apps, &["tag", "-d", "v1"]);
    git(&apps, &["branch", "hotfix", "main"]);
    put(&c, "/registry/configmaps/default/cm-3", b"broken");
    put(&c, "/registry/configmaps/default/intruder", b"x");
    c.txn(
        &[],
        &[Op::Delete {
            key: b"/registry/configmaps/default/cm-7".to_vec(),
        }],
    )
    .unwrap();
    let broken = platform.state();
    let keys_broken = keyspace(&c);
    assert_ne!(broken, before);

    // The dry run shows the whole plan and changes nothing.
    let plan = run(snap()
        .args(["restore", &id[..8], "--dry-run", "--profile"])
        .arg(&profile));
    for line in [
        "would update  ",
        "etc/platform/platform.yaml",
        "would create  ",
        "pki/server.key",
        "would delete  ",
        "etc/platform/new.conf",
        "etc/platform/stray\n",
        "update  /registry/configmaps/default/cm-3",
        "delete  /registry/configmaps/default/intruder",
        "create  /registry/configmaps/default/cm-7",
        "  +  refs/tags/v1",
        "  M  refs/heads/main",
        "  -  refs/heads/hotfix",
    ] {
        assert!(
            plan.contains(line),
            "{line:?} missing from the plan:\n{plan}"
        );
    }
    assert!(!plan.contains(".swp"), "{plan}");
    assert_eq!(platform.state(), broken);
    assert_eq!(keyspace(&c), keys_broken);

    // --only files puts the files back and leaves etcd and git alone.
    run(snap()
        .args(["restore", &id, "--only", "files", "--profile"])
        .arg(&profile));
    assert_eq!(keyspace(&c), keys_broken);
    assert!(git(&apps, &["for-each-ref"]).contains("refs/heads/hotfix"));

    // The whole platform.
    let text = run(snap()
        .args(["restore", &id[..8], "--profile"])
        .arg(&profile));
    assert!(text.contains("platform restored to snapshot"), "{text}");
    assert_eq!(platform.state(), before);
    assert_eq!(keyspace(&c), keys_before);
    for name in ["apps", "infra"] {
        git(
            &server.join(format!("{name}.git")),
            &["fsck", "--full", "--strict", "--no-dangling"],
        );
    }
    // Files the backup excluded stay as they were; files already equal are
    // not rewritten.
    assert_eq!(
        std::fs::read(etc.join("editor.swp")).unwrap(),
        b"changed swap, kept"
    );
    assert_eq!(
        std::fs::read(etc.join("other.swp")).unwrap(),
        b"new swap, kept"
    );
    assert_eq!(
        std::fs::metadata(etc.join("conf.d/big.bin")).unwrap().ino(),
        untouched
    );

    // Restoring again changes nothing.
    let again: serde_json::Value = serde_json::from_str(&run(snap()
        .args(["--json", "restore", &id, "--profile"])
        .arg(&profile)))
    .unwrap();
    for f in again["files"].as_array().unwrap() {
        for what in ["create", "update", "delete"] {
            assert_eq!(f[what].as_array().unwrap().len(), 0, "{again}");
        }
    }
    assert_eq!(again["etcd"]["puts"], 0, "{again}");
    assert_eq!(again["etcd"]["deletes"], 0, "{again}");
    for g in again["git"].as_array().unwrap() {
        assert_eq!(g["push"]["created"].as_array().unwrap().len(), 0, "{again}");
        assert_eq!(g["push"]["updated"].as_array().unwrap().len(), 0, "{again}");
        assert_eq!(g["push"]["deleted"].as_array().unwrap().len(), 0, "{again}");
    }
}

#[test]
fn a_freshly_installed_platform_is_restored_from_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = etcd();
    let c = client(&old);
    for i in 0..20 {
        put(
            &c,
            &format!("/registry/secrets/kube-system/s-{i}"),
            &noise(i, 100),
        );
    }
    let platform = Platform::build(dir.path());
    let location = old.endpoint.replace("http://", "etcd://");
    let restored_git = platform.root.join("git-restored");
    let profile = platform.profile(
        &location,
        &format!("restore_dir = \"{}\"", restored_git.display()),
    );
    init(&platform.root.join("repo"));
    let before = platform.state();
    let keys = keyspace(&c);
    run(snap().args(["backup", "--profile"]).arg(&profile));

    // A new machine: no config files, an empty new etcd cluster.
    std::fs::remove_dir_all(platform.root.join("etc")).unwrap();
    std::fs::remove_dir_all(platform.root.join("pki")).unwrap();
    std::fs::remove_file(platform.root.join("node.key")).unwrap();
    let new = etcd();
    let to = new.endpoint.replace("http://", "etcd://");

    // Another cluster is refused unless asked for, before any file changes.
    let refused = snap()
        .args(["restore", "latest", "--to", &to, "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--any-cluster"), "{err}");
    assert!(!platform.root.join("etc").exists());

    let text = run(snap()
        .args([
            "restore",
            "latest",
            "--to",
            &to,
            "--any-cluster",
            "--profile",
        ])
        .arg(&profile));
    assert!(text.contains("verified"), "{text}");
    assert_eq!(keyspace(&client(&new)), keys);
    // The repositories were recreated bare in restore_dir, refs identical.
    for name in ["apps", "infra"] {
        let got = restored_git.join(format!("{name}.git"));
        let want = platform.root.join(format!("git/{name}.git"));
        let refs = |d: &Path| git(d, &["for-each-ref", "--format=%(objectname) %(refname)"]);
        assert_eq!(refs(&got), refs(&want));
        git(&got, &["fsck", "--full", "--strict", "--no-dangling"]);
    }
    assert_eq!(platform.state(), before);
}

#[test]
fn profile_mistakes_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf")).unwrap();
    std::fs::write(root.join("conf/a"), b"a").unwrap();
    std::fs::write(root.join("password"), format!("{PASSWORD}\n")).unwrap();
    let profile = root.join("p.toml");
    let write = |text: &str| std::fs::write(&profile, text).unwrap();
    let fails = |cmd: &mut Command, expected: &str, code: i32| {
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains(expected), "{expected:?} not in {err}");
        assert!(!err.contains(PASSWORD), "{err}");
    };

    write("[[files]]\npath = \"conf\"\nexclude = 3\n");
    fails(
        snap().args(["backup", "--profile"]).arg(&profile),
        "p.toml is invalid",
        1,
    );
    write("[repository]\nlocation = \"repo\"\npassword_file = \"password\"\n[[files]]\npath = \"conf\"\n");
    init(&root.join("repo"));
    run(snap().args(["backup", "--profile"]).arg(&profile));
    fails(
        snap()
            .args(["restore", "latest", "--only", "etcd", "--profile"])
            .arg(&profile),
        "names no etcd source",
        1,
    );
    fails(
        snap()
            .args(["restore", "latest", "--only", "disks", "--profile"])
            .arg(&profile),
        "the kinds are files, etcd and git",
        1,
    );
    // A profile that gained a path since the snapshot.
    std::fs::create_dir_all(root.join("later")).unwrap();
    write("[repository]\nlocation = \"repo\"\npassword_file = \"password\"\n[[files]]\npath = \"conf\"\n[[files]]\npath = \"later\"\n");
    fails(
        snap()
            .args(["restore", "latest", "--profile"])
            .arg(&profile),
        "the snapshot holds no",
        1,
    );
    // Nothing was touched by the refused restore.
    assert_eq!(std::fs::read(root.join("conf/a")).unwrap(), b"a");
    // Paths with a profile are refused.
    fails(
        snap().args(["backup", "/etc", "--profile"]).arg(&profile),
        "cannot be used with",
        2,
    );
}

#[test]
fn a_repository_excluded_files_kept_entries_and_sockets_inside_a_restored_folder_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    std::fs::create_dir_all(root.join("conf")).unwrap();
    std::fs::write(root.join("conf/a"), b"a").unwrap();
    std::fs::write(root.join("conf/scratch.tmp"), b"t").unwrap();
    std::fs::create_dir_all(root.join("keep")).unwrap();
    let profile = files_profile(
        dir.path(),
        "srv/repo",
        "[[files]]\npath = \"srv\"\n[[files]]\npath = \"srv/conf\"\nexclude = [\"*.tmp\"]\n\
         [[files]]\npath = \"srv/keep\"\ndelete_extra = false\n",
    );
    let report: serde_json::Value = serde_json::from_str(&run(snap()
        .args(["--json", "backup", "--profile"])
        .arg(&profile)))
    .unwrap();
    // srv, conf, conf/a, keep: nothing of the repository, nor the excluded file.
    assert_eq!(report["sources"][0]["resources"], 4, "{report}");
    std::fs::write(root.join("stray"), b"x").unwrap();
    std::fs::write(root.join("keep/extra"), b"x").unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("conf/app.sock")).unwrap();
    let text = run(snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile));
    assert!(text.contains("1 deleted"), "{text}");
    assert!(!root.join("stray").exists());
    // An entry inside another: the outer one keeps what the inner excludes.
    assert!(root.join("conf/scratch.tmp").exists());
    // ... and what an inner entry with delete_extra = false holds; sockets
    // of running services are never deleted.
    assert!(root.join("keep/extra").exists());
    assert!(root.join("conf/app.sock").exists());
    run(snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile));
    assert!(root.join("repo/config").exists());
}

#[test]
fn a_symlink_in_place_of_a_restored_folder_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf/sub")).unwrap();
    std::fs::write(root.join("conf/a"), b"a").unwrap();
    let profile = files_profile(root, "repo", "[[files]]\npath = \"conf\"\n");
    run(snap().args(["backup", "--profile"]).arg(&profile));
    // The folder and one inside it become symlinks to folders with files
    // the snapshot does not have: those files must survive.
    std::fs::create_dir_all(root.join("elsewhere")).unwrap();
    std::fs::write(root.join("elsewhere/precious"), b"p").unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::write(root.join("other/precious"), b"q").unwrap();
    std::fs::remove_dir_all(root.join("conf/sub")).unwrap();
    std::os::unix::fs::symlink(root.join("other"), root.join("conf/sub")).unwrap();
    std::fs::rename(root.join("conf"), root.join("moved")).unwrap();
    std::os::unix::fs::symlink(root.join("elsewhere"), root.join("conf")).unwrap();
    run(snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile));
    assert!(std::fs::symlink_metadata(root.join("conf"))
        .unwrap()
        .is_dir());
    assert_eq!(std::fs::read(root.join("conf/a")).unwrap(), b"a");
    assert!(std::fs::symlink_metadata(root.join("conf/sub"))
        .unwrap()
        .is_dir());
    assert_eq!(
        std::fs::read(root.join("elsewhere/precious")).unwrap(),
        b"p"
    );
    assert_eq!(std::fs::read(root.join("other/precious")).unwrap(), b"q");
    // A folder where the snapshot has a file is listed, then replaced.
    std::fs::remove_file(root.join("conf/a")).unwrap();
    std::fs::create_dir_all(root.join("conf/a/inner")).unwrap();
    let plan = run(snap()
        .args(["restore", "latest", "--dry-run", "--profile"])
        .arg(&profile));
    assert!(plan.contains("would delete  "), "{plan}");
    assert!(root.join("conf/a/inner").is_dir());
    run(snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile));
    assert_eq!(std::fs::read(root.join("conf/a")).unwrap(), b"a");
    // Into the real folder again, with a symlink inside: replaced too.
    std::fs::remove_dir_all(root.join("conf/sub")).unwrap();
    std::os::unix::fs::symlink(root.join("other"), root.join("conf/sub")).unwrap();
    run(snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile));
    assert!(std::fs::symlink_metadata(root.join("conf/sub"))
        .unwrap()
        .is_dir());
    assert_eq!(std::fs::read(root.join("other/precious")).unwrap(), b"q");
}

#[test]
fn a_failed_restore_leaves_the_files_it_would_have_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf")).unwrap();
    std::fs::write(root.join("conf/a"), noise(5, 5000)).unwrap();
    let profile = files_profile(root, "repo", "[[files]]\npath = \"conf\"\n");
    run(snap().args(["backup", "--profile"]).arg(&profile));
    std::fs::write(root.join("conf/a"), b"live config").unwrap();
    // The pack holding the file's data (the largest: trees are small and
    // packed apart) is gone.
    let mut packs = common::packs(&root.join("repo"));
    packs.sort();
    std::fs::remove_file(&packs.last().unwrap().1).unwrap();
    let out = snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("so no file there was replaced"), "{err}");
    assert!(err.contains("conf/a: blob"), "{err}");
    assert_eq!(std::fs::read(root.join("conf/a")).unwrap(), b"live config");
    let names: Vec<String> = std::fs::read_dir(root.join("conf"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a"]);
}

/// Flips one byte in the middle of the largest pack (file data and etcd
/// values; trees are small and packed apart).
fn damage_largest_pack(repo: &Path) {
    let mut packs = common::packs(repo);
    packs.sort();
    let path = &packs.last().unwrap().1;
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_blob_leaves_live_files_and_etcd_exactly_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let node = etcd();
    let c = client(&node);
    for i in 0..400 {
        put(
            &c,
            &format!("/registry/configmaps/default/cm-{i:03}"),
            &noise(i, 700),
        );
    }
    std::fs::create_dir_all(root.join("conf")).unwrap();
    std::fs::write(root.join("conf/a"), noise(5, 5000)).unwrap();
    let location = node.endpoint.replace("http://", "etcd://");
    let profile = files_profile(
        root,
        "repo",
        &format!("[etcd]\nlocation = \"{location}\"\n\n[[files]]\npath = \"conf\"\n"),
    );
    run(snap().args(["backup", "--profile"]).arg(&profile));

    // The platform drifts: a file changes, one appears, every key changes
    // or goes (so every stored blob is needed to restore it).
    std::fs::write(root.join("conf/a"), b"live config").unwrap();
    std::fs::write(root.join("conf/extra"), b"added since").unwrap();
    for i in 0..400 {
        let key = format!("/registry/configmaps/default/cm-{i:03}");
        if i % 10 == 0 {
            etcd_kv::delete(&c, &key);
        } else {
            put(&c, &key, b"live");
        }
    }
    let keys_before = keyspace(&c);
    let revision_before = c.status().unwrap().revision;
    damage_largest_pack(&root.join("repo"));

    let out = snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing was changed") || err.contains("no file there was replaced"),
        "{err}"
    );
    assert!(err.contains("pack "), "the message names the pack: {err}");
    assert_eq!(std::fs::read(root.join("conf/a")).unwrap(), b"live config");
    assert_eq!(
        std::fs::read(root.join("conf/extra")).unwrap(),
        b"added since"
    );
    let mut names: Vec<String> = std::fs::read_dir(root.join("conf"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "extra"], "no temporary file is left");
    assert!(
        keyspace(&c) == keys_before,
        "the cluster's keys are as they were"
    );
    assert_eq!(
        c.status().unwrap().revision,
        revision_before,
        "not one write"
    );

    // The etcd part alone refuses the same way (the damaged byte is among
    // the values: they fill most of the pack, captured before the files).
    let out = snap()
        .args(["restore", "latest", "--only", "etcd", "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("nothing was changed in etcd"), "{err}");
    assert!(keyspace(&c) == keys_before);
    assert_eq!(c.status().unwrap().revision, revision_before);
    assert_eq!(
        std::fs::read(root.join("conf/extra")).unwrap(),
        b"added since"
    );
}

#[test]
fn a_damaged_file_blob_stops_an_in_place_restore_before_any_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf/sub")).unwrap();
    std::fs::write(root.join("conf/a"), noise(6, 300_000)).unwrap();
    std::fs::write(root.join("conf/sub/b"), b"small").unwrap();
    let profile = files_profile(root, "repo", "[[files]]\npath = \"conf\"\n");
    run(snap().args(["backup", "--profile"]).arg(&profile));
    std::fs::write(root.join("conf/a"), b"live config").unwrap();
    std::fs::write(root.join("conf/extra"), b"would be deleted").unwrap();
    std::fs::remove_dir_all(root.join("conf/sub")).unwrap();
    std::fs::write(root.join("conf/sub"), b"a file where a folder was").unwrap();
    damage_largest_pack(&root.join("repo"));
    let out = snap()
        .args(["restore", "latest", "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("conf/a") && err.contains("pack "), "{err}");
    assert_eq!(std::fs::read(root.join("conf/a")).unwrap(), b"live config");
    assert_eq!(
        std::fs::read(root.join("conf/extra")).unwrap(),
        b"would be deleted"
    );
    assert_eq!(
        std::fs::read(root.join("conf/sub")).unwrap(),
        b"a file where a folder was"
    );
}

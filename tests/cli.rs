//! End-to-end tests of the `snap` binary on a local repository.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::*;
use predicates::prelude::*;

fn sample_tree(root: &std::path::Path) {
    fs::create_dir_all(root.join("etc/ssl")).unwrap();
    fs::create_dir_all(root.join("empty/nested")).unwrap();
    fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    fs::write(root.join("etc/ssl/key.pem"), noise(1, 3000)).unwrap();
    fs::set_permissions(
        root.join("etc/ssl/key.pem"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(root.join("big.bin"), noise(2, 3 << 20)).unwrap();
    fs::write(root.join("zeros"), vec![0u8; 2 << 20]).unwrap();
    fs::write(root.join("empty-file"), b"").unwrap();
    std::os::unix::fs::symlink("etc/hosts", root.join("hosts-link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();
    fs::hard_link(root.join("etc/hosts"), root.join("hosts-hard")).unwrap();
    let odd = std::ffi::OsStr::new("caf\u{e9} & spaces");
    fs::write(root.join(odd), "odd").unwrap();
    let raw = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"raw-\xff\xfe");
    fs::write(root.join(raw), "not utf-8").unwrap();
    let fifo = std::ffi::CString::new(root.join("pipe").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    fs::set_permissions(root.join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
}

#[test]
fn backup_and_restore_round_trip() {
    let f = Fixture::new();
    let src = f.path("src");
    sample_tree(&src);
    let report = f.backup_json(&src, &["--tag", "first"]);
    let id = report["snapshot_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    assert_eq!(report["files_new"], 8);

    let target = f.path("out");
    f.snap()
        .args(["restore", &id[..8], "--target"])
        .arg(&target)
        .assert()
        .success();
    let back = restored(&target, &src);
    assert_same_tree(&src, &back);
    // Hard links come back as links to one inode.
    let (a, b) = (
        fs::metadata(back.join("etc/hosts")).unwrap(),
        fs::metadata(back.join("hosts-hard")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert!(fs::symlink_metadata(back.join("pipe"))
        .unwrap()
        .file_type()
        .is_fifo_like());
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}
impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[test]
fn listings_and_json() {
    let f = Fixture::new();
    let src = f.path("src");
    sample_tree(&src);
    f.backup_json(&src, &["--tag", "a", "--host", "h1"]);
    f.backup_json(&src, &["--tag", "b", "--host", "h2"]);

    let out = f.snap().args(["snapshots", "--json"]).assert().success();
    let rows: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    let out = f
        .snap()
        .args(["snapshots", "--json", "--host", "h2"])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["tags"][0], "b");
    f.snap()
        .args(["snapshots", "--tag", "a"])
        .assert()
        .success()
        .stdout(predicate::str::contains("h1").and(predicate::str::contains("h2").not()));

    let out = f.snap().args(["ls", "latest", "--json"]).assert().success();
    let nodes: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let paths: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    let hosts = format!("{}/etc/hosts", src.display());
    assert!(paths.contains(&hosts.as_str()), "{paths:?}");
    f.snap()
        .args(["ls", "latest"])
        .assert()
        .success()
        .stdout(predicate::str::contains("hosts-link -> etc/hosts"));
}

#[test]
fn second_backup_reads_nothing_and_adds_little() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(src.join("many")).unwrap();
    // 1 GiB: 60 large files and 4,000 small ones.
    for i in 0..60 {
        fs::write(src.join(format!("large-{i}")), noise(i, 17 << 20)).unwrap();
    }
    for i in 0..4000u64 {
        fs::write(
            src.join("many").join(format!("f{i}")),
            noise(1000 + i, 1024 + (i as usize % 7) * 100),
        )
        .unwrap();
    }
    let first = f.backup_json(&src, &[]);
    assert!(first["total_bytes"].as_u64().unwrap() > 1 << 30);
    let before = f.repo_size();
    let second = f.backup_json(&src, &[]);
    let added = f.repo_size() - before;
    assert_eq!(second["bytes_read"], 0, "{second}");
    assert_eq!(second["files_unchanged"], 4060);
    assert!(added < 1 << 20, "second backup added {added} bytes");

    // Touching one file re-reads just that file.
    fs::write(src.join("many/f7"), "changed").unwrap();
    let third = f.backup_json(&src, &[]);
    assert_eq!(third["files_changed"], 1);
    assert_eq!(third["bytes_read"], 7);
}

#[test]
fn wrong_password_exits_12() {
    let f = Fixture::new();
    f.snap()
        .env("SNAP_PASSWORD", "wrong")
        .arg("snapshots")
        .assert()
        .code(12)
        .stderr(
            predicate::str::contains("wrong password")
                .and(predicate::function(|s: &str| s.lines().count() == 1)),
        );
}

#[test]
fn missing_repository_exits_10() {
    let f = Fixture::empty();
    f.snap().arg("snapshots").assert().code(10).stderr(
        predicate::str::contains("no repository").and(predicate::str::contains("snap init")),
    );
}

#[test]
fn init_twice_refuses() {
    let f = Fixture::new();
    f.snap()
        .args(FAST_INIT)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
}

#[test]
fn password_file_and_command() {
    let f = Fixture::new();
    let pw = f.path("pw");
    fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    f.snap()
        .env_remove("SNAP_PASSWORD")
        .env("SNAP_PASSWORD_FILE", &pw)
        .arg("snapshots")
        .assert()
        .success();
    f.snap()
        .env_remove("SNAP_PASSWORD")
        .args([
            "--password-command",
            &format!("echo '{PASSWORD}'"),
            "snapshots",
        ])
        .assert()
        .success();
    // No password and no terminal: a clear error, not a hang.
    f.snap()
        .env_remove("SNAP_PASSWORD")
        .arg("snapshots")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("SNAP_PASSWORD"));
}

#[test]
fn locked_repository_exits_11() {
    use std::sync::Arc;
    let f = Fixture::new();
    let backend = Arc::new(snap::backend::LocalBackend::new(f.repo()));
    let repo = snap::repo::Repository::open(backend, PASSWORD.as_bytes()).unwrap();
    let guard = repo.lock(snap::repo::LockKind::Exclusive).unwrap();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    f.snap()
        .arg("backup")
        .arg(&src)
        .assert()
        .code(11)
        .stderr(predicate::str::contains("locked exclusively"));
    drop(guard);
    f.snap().arg("backup").arg(&src).assert().success();
}

#[test]
fn unreadable_file_exits_3_and_keeps_the_rest() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("ok"), "fine").unwrap();
    // /proc/self/mem reads fail with EIO at offset 0, even for root.
    let out = f
        .snap()
        .arg("--json")
        .arg("backup")
        .arg(&src)
        .arg("/proc/self/mem")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("/proc/self/mem"));
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["files_unreadable"], 1);
    let target = f.path("out");
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success();
    assert_eq!(
        fs::read(restored(&target, &src).join("ok")).unwrap(),
        b"fine"
    );
}

#[test]
fn flipped_byte_in_pack_fails_restore_naming_pack_and_blob() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("data"), noise(9, 5 << 20)).unwrap();
    f.backup_json(&src, &[]);
    // The data pack is the largest.
    let (_, pack) = common::packs(&f.repo()).pop().unwrap();
    let mut bytes = fs::read(&pack).unwrap();
    bytes[100] ^= 0x40;
    fs::write(&pack, bytes).unwrap();
    let pack_name = pack.file_name().unwrap().to_str().unwrap().to_string();

    let target = f.path("out");
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(&pack_name).and(predicate::str::contains("blob ")));
    assert!(
        !restored(&target, &src).join("data").exists(),
        "a damaged file was left behind"
    );
}

#[test]
fn restore_include_exclude_and_prefixes() {
    let f = Fixture::new();
    let src = f.path("src");
    sample_tree(&src);
    let id = f.backup_json(&src, &["--exclude", "*.bin"])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();

    let target = f.path("only-etc");
    let inc = format!("{}/etc", src.display());
    f.snap()
        .args([
            "restore",
            &id,
            "--include",
            &inc,
            "--exclude",
            "key.pem",
            "--target",
        ])
        .arg(&target)
        .assert()
        .success();
    let back = restored(&target, &src);
    assert!(back.join("etc/hosts").exists());
    assert!(!back.join("etc/ssl/key.pem").exists());
    assert!(!back.join("zeros").exists());

    let all = f.path("all");
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&all)
        .assert()
        .success();
    assert!(
        !restored(&all, &src).join("big.bin").exists(),
        "--exclude at backup time"
    );

    f.snap()
        .args(["restore", "ab", "--target"])
        .arg(&all)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("at least 4 hex"));
    f.snap()
        .args(["restore", "0000000", "--target"])
        .arg(&all)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no snapshot matches"));
}

#[test]
fn unsafe_names_in_a_tree_are_refused() {
    use snap::pack::BlobKind;
    use snap::snapshot::*;
    use std::sync::Arc;
    let f = Fixture::new();
    let backend = Arc::new(snap::backend::LocalBackend::new(f.repo()));
    let mut repo = snap::repo::Repository::open(backend, PASSWORD.as_bytes()).unwrap();
    repo.load_index().unwrap();
    let evil = Node {
        name: NodeName(b"..".to_vec()),
        node_type: NodeType::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime_ns: 0,
        ctime_ns: 0,
        inode: 0,
        device: 0,
        links: 1,
        size: 0,
        content: Some(vec![]),
        subtree: None,
        link_target: None,
        rdev: 0,
        etcd: None,
        git: None,
        git_type: None,
        git_pack: None,
    };
    let saver = repo.blob_saver(1);
    let (tree, _) = saver
        .save(BlobKind::Tree, &Tree::new(vec![evil]).encode())
        .unwrap();
    saver.finish().unwrap();
    let manifest = SnapshotManifest {
        version: 1,
        time: chrono::Utc::now(),
        hostname: "h".into(),
        username: "u".into(),
        tags: vec![],
        paths: vec![],
        sources: vec![],
        parent: None,
        tree,
        summary: Default::default(),
        program: "test".into(),
        original: None,
    };
    save_snapshot(&repo, &manifest).unwrap();
    let target = f.path("deep/out");
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unsafe node name"));
    // Nothing was written: not in the target, not beside it.
    assert!(fs::read_dir(&target).map(|d| d.count()).unwrap_or(0) == 0);
    let beside: Vec<_> = fs::read_dir(f.path("deep"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(beside.iter().all(|n| n == "out"), "{beside:?}");
}

#[test]
fn restore_never_writes_through_a_symlink_in_the_target() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/passwd"), "from the snapshot").unwrap();
    f.backup_json(&src, &[]);
    // The target already has a symlink where the snapshot has a folder.
    let target = f.path("out");
    let outside = f.path("outside");
    fs::create_dir_all(&outside).unwrap();
    let back = restored(&target, &src);
    fs::create_dir_all(&back).unwrap();
    std::os::unix::fs::symlink(&outside, back.join("etc")).unwrap();
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success();
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "wrote outside the target"
    );
    assert_eq!(
        fs::read(back.join("etc/passwd")).unwrap(),
        b"from the snapshot"
    );
    assert!(fs::symlink_metadata(back.join("etc")).unwrap().is_dir());
}

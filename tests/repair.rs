//! Damaged repositories come back: `snap repair index` after lost or
//! damaged index files, `snap repair snapshots` after lost packs; index
//! files brought back from an old copy and planted key or index files
//! (through an append-only server) neither block nor mislead commands.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{noise, Fixture};
use predicates::prelude::*;

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A tree of a few files of several sizes.
fn source(f: &Fixture) -> PathBuf {
    let src = f.path("src");
    fs::create_dir_all(src.join("etc/app")).unwrap();
    fs::write(src.join("etc/app/app.conf"), "listen = 8080\n").unwrap();
    fs::write(src.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    fs::write(src.join("data.bin"), noise(7, 3 << 20)).unwrap();
    fs::write(src.join("log.bin"), noise(8, 1 << 20)).unwrap();
    src
}

fn json_of(cmd: &mut assert_cmd::Command) -> serde_json::Value {
    let out = cmd.assert().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out));
    })
}

#[test]
fn removing_every_index_file_is_recovered_by_repair_index() {
    let f = Fixture::new();
    let src = source(&f);
    f.backup_json(&src, &[]);
    fs::write(src.join("etc/hosts"), "10.0.0.1 db\n").unwrap();
    f.backup_json(&src, &[]);
    for file in files_in(&f.repo().join("index")) {
        fs::remove_file(file).unwrap();
    }
    f.snap()
        .arg("check")
        .assert()
        .code(4)
        .stdout(predicate::str::contains("snap repair index"));

    let dry = json_of(f.snap().args(["--json", "repair", "index", "--dry-run"]));
    assert_eq!(dry["dry_run"], true);
    assert!(
        files_in(&f.repo().join("index")).is_empty(),
        "a dry run writes nothing"
    );
    let r = json_of(f.snap().args(["--json", "repair", "index"]));
    assert_eq!(r["packs"], r["headers_read"], "{r}");
    assert_eq!(r["packs"], r["packs_added"], "{r}");
    assert!(r["blobs"].as_u64().unwrap() > 4, "{r}");

    f.snap().args(["check", "--read-data"]).assert().success();
    common::restore_latest_matches(f.snap(), &src, &f.path("out"));
    // Both snapshots restore, the older one too.
    let listed = json_of(f.snap().args(["--json", "snapshots"]));
    let first = listed[0]["id"].as_str().unwrap().to_string();
    f.snap()
        .args(["restore", &first, "--target"])
        .arg(f.path("old"))
        .assert()
        .success();
    assert_eq!(
        fs::read(common::restored(&f.path("old"), &src).join("etc/hosts")).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    // Repairing a healthy index reads no header again.
    let again = json_of(f.snap().args(["--json", "repair", "index"]));
    assert_eq!(again["headers_read"], 0, "{again}");
    f.snap().args(["check"]).assert().success();
}

#[test]
fn a_garbage_index_file_is_skipped_with_a_warning_and_repaired_away() {
    let f = Fixture::new();
    let src = source(&f);
    f.backup_json(&src, &[]);
    // What a client with only HTTP credentials could upload to an
    // append-only server: 100 random bytes, correctly named.
    let garbage = noise(99, 100);
    let name = sha256_hex(&garbage);
    fs::write(f.repo().join("index").join(&name), &garbage).unwrap();

    for args in [vec!["ls", "latest"], vec!["stats"], vec!["find", "*.conf"]] {
        f.snap().args(&args).assert().success().stderr(
            predicate::str::contains(format!("index file {name}"))
                .and(predicate::str::contains("snap repair index")),
        );
    }
    common::restore_latest_matches(f.snap(), &src, &f.path("out"));
    fs::write(src.join("new.txt"), "new").unwrap();
    f.snap().arg("backup").arg(&src).assert().success();
    f.snap()
        .arg("check")
        .assert()
        .code(4)
        .stdout(predicate::str::contains(format!(
            "index file {name} cannot be read"
        )));

    let r = json_of(f.snap().args(["--json", "repair", "index"]));
    assert_eq!(
        r["index_files_unreadable"].as_array().unwrap().len(),
        1,
        "{r}"
    );
    assert!(!f.repo().join("index").join(&name).exists());
    f.snap()
        .args(["check", "--read-data"])
        .assert()
        .success()
        .stderr("");
    common::restore_latest_matches(f.snap(), &src, &f.path("out2"));
}

/// Packs that a prune deleted must not hide the copies it kept, when an old
/// index file comes back (a copy merged with `rsync` without `--delete`),
/// even after further prunes superseded the files that superseded it.
#[test]
fn an_old_index_file_brought_back_after_prunes_does_not_shadow_live_packs() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("keep.bin"), noise(1, 1 << 20)).unwrap();
    fs::write(src.join("drop.bin"), noise(2, 1 << 20)).unwrap();
    let first = f.backup_json(&src, &[]);
    let saved: Vec<(PathBuf, Vec<u8>)> = files_in(&f.repo().join("index"))
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    fs::remove_file(src.join("drop.bin")).unwrap();
    f.backup_json(&src, &[]);
    f.snap()
        .args(["forget", first["snapshot_id"].as_str().unwrap()])
        .assert()
        .success();
    // Half the pack is unused: keep.bin moves to a new pack, the old goes.
    let pruned = json_of(f.snap().args(["--json", "prune", "--grace", "0"]));
    assert_eq!(pruned["packs_repacked"], 1, "{pruned}");
    // A second round, so the file that superseded the old one is gone too.
    fs::write(src.join("more.bin"), noise(3, 1 << 20)).unwrap();
    let third = f.backup_json(&src, &[]);
    fs::remove_file(src.join("more.bin")).unwrap();
    f.backup_json(&src, &[]);
    f.snap()
        .args(["forget", third["snapshot_id"].as_str().unwrap()])
        .assert()
        .success();
    f.snap().args(["prune", "--grace", "0"]).assert().success();

    for (path, bytes) in &saved {
        fs::write(path, bytes).unwrap();
    }
    common::restore_latest_matches(f.snap(), &src, &f.path("out"));
    let report = json_of(f.snap().args(["--json", "check", "--read-data"]));
    assert_eq!(report["errors"].as_array().unwrap().len(), 0, "{report}");
    assert!(
        report["warnings"].to_string().contains("no snapshot needs"),
        "{report}"
    );
    f.snap().args(["prune", "--grace", "0"]).assert().success();
    let after = json_of(f.snap().args(["--json", "check", "--read-data"]));
    assert_eq!(after["errors"].as_array().unwrap().len(), 0, "{after}");
    assert_eq!(after["warnings"].as_array().unwrap().len(), 0, "{after}");
    common::restore_latest_matches(f.snap(), &src, &f.path("out2"));
}

#[test]
fn a_lost_pack_is_cut_out_by_repair_snapshots_and_named() {
    let f = Fixture::new();
    let src = source(&f);
    let first = f.backup_json(&src, &[]);
    // The second snapshot adds one file in a pack of its own.
    fs::write(src.join("extra.bin"), noise(9, 2 << 20)).unwrap();
    let second = f.backup_json(&src, &[]);
    let packs_before: Vec<PathBuf> = common::packs(&f.repo())
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    // The pack holding extra.bin: the data pack the first backup did not write.
    let first_packs = first["data_added_stored"].as_u64().unwrap();
    let lost = packs_before
        .iter()
        .find(|p| {
            let size = fs::metadata(p).unwrap().len();
            size > (2 << 20) && size < (3 << 20) && first_packs > 0
        })
        .expect("the pack of extra.bin")
        .clone();
    fs::remove_file(&lost).unwrap();

    let check = f.snap().arg("check").assert().code(4);
    let out = String::from_utf8_lossy(&check.get_output().stdout).to_string();
    let short = &second["snapshot_id"].as_str().unwrap()[..8];
    assert!(
        out.contains(&format!("snapshot {short} cannot be fully restored")),
        "{out}"
    );
    assert!(out.contains("extra.bin"), "{out}");
    assert!(out.contains("snap repair snapshots"), "{out}");

    let dry = json_of(
        f.snap()
            .args(["--json", "repair", "snapshots", "--dry-run"]),
    );
    assert_eq!(dry["repaired"].as_array().unwrap().len(), 1, "{dry}");
    let r = json_of(f.snap().args(["--json", "repair", "snapshots", "--forget"]));
    let repaired = &r["repaired"][0];
    assert_eq!(repaired["snapshot"], second["snapshot_id"]);
    let cut = repaired["cut"].as_array().unwrap();
    assert_eq!(cut.len(), 1, "{r}");
    assert!(cut[0].as_str().unwrap().contains("extra.bin"), "{r}");
    assert_eq!(repaired["bytes_lost"], 2 << 20);
    assert_eq!(repaired["forgotten"], true);

    // What is left checks clean once the stale index entries are dropped.
    f.snap().args(["repair", "index"]).assert().success();
    f.snap().args(["check", "--read-data"]).assert().success();
    let listed = json_of(f.snap().args(["--json", "snapshots"]));
    let new = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == repaired["repaired_as"])
        .expect("the repaired snapshot is listed");
    assert!(new["tags"].to_string().contains("repaired"), "{new}");
    let target = f.path("out");
    f.snap()
        .args([
            "restore",
            repaired["repaired_as"].as_str().unwrap(),
            "--target",
        ])
        .arg(&target)
        .assert()
        .success();
    let out = common::restored(&target, &src);
    common::assert_same_tree(&src.join("etc"), &out.join("etc"));
    for name in ["data.bin", "log.bin"] {
        assert!(fs::read(src.join(name)).unwrap() == fs::read(out.join(name)).unwrap());
    }
    assert!(
        !out.join("extra.bin").exists(),
        "the file that lost content is cut"
    );
}

fn key_file(f: &Fixture) -> (String, serde_json::Value) {
    let path = files_in(&f.repo().join("keys")).pop().unwrap();
    let json = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    (
        path.file_name().unwrap().to_string_lossy().into_owned(),
        json,
    )
}

fn plant_key(f: &Fixture, key: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec_pretty(key).unwrap();
    let name = sha256_hex(&bytes);
    fs::write(f.repo().join("keys").join(&name), bytes).unwrap();
    name
}

#[test]
fn planted_key_files_are_not_tried_unasked_and_damaged_ones_are_reported() {
    let f = Fixture::new();
    let src = source(&f);
    f.backup_json(&src, &[]);
    let (real, json) = key_file(&f);
    // A key file as costly as the format allows (1 GiB, 20 passes): trying
    // it would take minutes and a GiB per command.
    let mut costly = json.clone();
    costly["kdf"]["memory_kib"] = 1_048_576.into();
    costly["kdf"]["iterations"] = 20.into();
    let planted = plant_key(&f, &costly);
    // And garbage.
    let garbage = noise(5, 100);
    let garbage_name = sha256_hex(&garbage);
    fs::write(f.repo().join("keys").join(&garbage_name), garbage).unwrap();

    let started = std::time::Instant::now();
    f.snap().arg("snapshots").assert().success().stderr(
        predicate::str::contains(format!("key file {planted}"))
            .and(predicate::str::contains("was not tried"))
            .and(predicate::str::contains(garbage_name.as_str())),
    );
    // Not a timing test: trying the planted key would take minutes.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));

    let check = json_of(f.snap().args(["--json", "check"]));
    let errors = check["errors"].to_string();
    assert!(
        errors.contains(&format!("key file {garbage_name} is damaged")),
        "{check}"
    );
    assert!(!errors.contains(&real), "{check}");
    assert!(check["warnings"].to_string().contains(&planted), "{check}");

    // A wrong password names what was not tried.
    f.snap()
        .env("SNAP_PASSWORD", "not the password")
        .arg("snapshots")
        .assert()
        .code(12)
        .stderr(predicate::str::contains("--key-hint"));
}

#[test]
fn more_keys_than_snap_tries_need_a_key_hint() {
    let f = Fixture::new();
    let (first, _) = key_file(&f);
    for i in 0..21 {
        let pw = f.path(&format!("pw{i}"));
        fs::write(&pw, format!("password number {i}\n")).unwrap();
        f.snap()
            .args(["--key-hint", &first[..8], "key", "add"])
            .args(["--kdf-memory-kib", "64", "--kdf-iterations", "1"])
            .args(["--kdf-parallelism", "1", "--new-password-file"])
            .arg(&pw)
            .assert()
            .success();
    }
    let keys = files_in(&f.repo().join("keys"));
    assert_eq!(keys.len(), 22);
    // Ties in cost go by name: the key of the original password may come
    // after 20 others. With a hint it is tried first, whatever its name.
    f.snap()
        .args(["--key-hint", &first[..8], "snapshots"])
        .assert()
        .success();
    f.snap()
        .args(["--key-hint", "ffffffff", "snapshots"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no key file ffffffff"));
    let mut names: Vec<String> = keys
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let position = names.iter().position(|n| *n == first).unwrap();
    let plain = f.snap().arg("snapshots").assert();
    if position >= 20 {
        plain.code(12).stderr(
            predicate::str::contains("were not tried").and(predicate::str::contains("--key-hint")),
        );
    } else {
        plain.success();
    }
}

//! A damaged snapshot file is never taken for absent (format-spec §10):
//! every command that lists snapshots or resolves `latest` fails naming it,
//! unless `--skip-damaged-snapshots` is given; then each one skipped is
//! named on stderr and in `--json` output.

mod common;

use std::fs;

use common::{json_of, restored, Fixture};
use predicates::prelude::*;

/// Two snapshots of `src` (`a.txt` "old", then "new"), the newer one's file
/// with a flipped byte. Returns the fixture and both IDs (older, newer).
fn damaged_newest() -> (Fixture, String, String) {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a.txt"), "old").unwrap();
    let older = f.backup_json(&src, &[])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(src.join("a.txt"), "new").unwrap();
    let newer = f.backup_json(&src, &[])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    flip_a_byte(&f.repo().join("snapshots").join(&newer));
    (f, older, newer)
}

fn flip_a_byte(path: &std::path::Path) {
    let mut bytes = fs::read(path).unwrap();
    bytes[40] ^= 1;
    fs::write(path, bytes).unwrap();
}

/// The error every refusing command prints: the file, and what to do.
fn names_the_damaged_file(newer: &str) -> impl Predicate<str> {
    predicate::str::contains(format!("snapshots/{newer}"))
        .and(predicate::str::contains("is damaged"))
        .and(predicate::str::contains("snap check"))
        .and(predicate::str::contains(format!("snap forget {newer}")))
        .and(predicate::str::contains("--skip-damaged-snapshots"))
}

/// The warning of a command that skipped it.
fn warns_of(newer: &str) -> impl Predicate<str> {
    predicate::str::contains(format!(
        "snap: warning: skipping damaged snapshot file snapshots/{newer}"
    ))
}

fn skipped_ids(v: &serde_json::Value) -> Vec<&str> {
    v["skipped_snapshots"]
        .as_array()
        .unwrap_or_else(|| panic!("no skipped_snapshots in {v}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}

#[test]
fn restore_latest_refuses_a_damaged_newest_snapshot_instead_of_restoring_an_older_one() {
    let (f, _, newer) = damaged_newest();
    let target = f.path("out");
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .code(1)
        .stderr(names_the_damaged_file(&newer));
    assert!(!target.exists(), "nothing may be restored");

    // Skipping: the older snapshot, and it says so.
    let out = f
        .snap()
        .args([
            "--skip-damaged-snapshots",
            "--json",
            "restore",
            "latest",
            "--target",
        ])
        .arg(&target)
        .assert()
        .success()
        .stderr(warns_of(&newer));
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(skipped_ids(&report), [newer.as_str()]);
    assert!(report["skipped_snapshots"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("does not match its name"));
    let back = restored(&target, &f.path("src"));
    assert_eq!(fs::read_to_string(back.join("a.txt")).unwrap(), "old");

    // Named by its ID, a damaged snapshot is an error even when skipping.
    f.snap()
        .args([
            "--skip-damaged-snapshots",
            "restore",
            &newer[..8],
            "--target",
        ])
        .arg(f.path("out2"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!("snapshots/{newer}"))
                .and(predicate::str::contains(format!("snap forget {newer}"))),
        );
}

#[test]
fn snapshots_fails_or_shows_the_damaged_file_as_damaged() {
    let (f, older, newer) = damaged_newest();
    f.snap()
        .arg("snapshots")
        .assert()
        .code(1)
        .stdout("")
        .stderr(names_the_damaged_file(&newer));
    f.snap()
        .args(["--skip-damaged-snapshots", "snapshots"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(&older[..8])
                .and(predicate::str::contains(format!(
                    "{}  damaged: its content does not match its name",
                    &newer[..8]
                )))
                .and(predicate::str::contains("1 snapshot(s), and 1 damaged")),
        );
    let rows = json_of(f.snap().args(["--skip-damaged-snapshots", "snapshots"]));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], older.as_str());
    assert!(rows[0].get("damaged").is_none());
    assert_eq!(rows[1]["id"], newer.as_str());
    assert_eq!(rows[1]["short_id"], &newer[..8]);
    assert!(rows[1]["damaged"].as_str().unwrap().contains("SHA-256"));
    assert!(
        rows[1].get("time").is_none(),
        "a damaged file has no manifest"
    );
    // `check` reports it too.
    f.snap()
        .arg("check")
        .assert()
        .code(4)
        .stdout(predicate::str::contains(&newer));
}

#[test]
fn every_command_that_considers_all_snapshots_refuses_then_skips() {
    let (f, older, newer) = damaged_newest();
    let src = f.path("src");
    let target = f.path("copy-target");
    common::snap(&target)
        .args(common::FAST_INIT)
        .assert()
        .success();
    let src_s = src.to_str().unwrap().to_string();
    let target_s = target.to_str().unwrap().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["ls", "latest"],
        vec!["diff", &older, "latest"],
        vec!["find", "a.txt"],
        vec!["dump", "latest", "/"],
        vec!["stats"],
        vec!["stats", "latest"],
        vec!["cat", "snapshot", "latest"],
        vec!["tag", "latest", "--add", "x"],
        vec!["forget", "--keep-last", "1", "--dry-run"],
        vec!["copy", "--to", &target_s],
        vec!["backup", &src_s],
    ];
    for args in &commands {
        f.snap()
            .env("SNAP_TO_PASSWORD", common::PASSWORD)
            .args(args)
            .assert()
            .code(1)
            .stderr(names_the_damaged_file(&newer));
    }
    // No command above changed anything.
    assert_eq!(fs::read_dir(f.repo().join("snapshots")).unwrap().count(), 2);
    assert_eq!(fs::read_dir(target.join("snapshots")).unwrap().count(), 0);

    let skip = |args: &[&str]| {
        let mut cmd = f.snap();
        cmd.env("SNAP_TO_PASSWORD", common::PASSWORD)
            .arg("--skip-damaged-snapshots")
            .args(args);
        cmd
    };
    // Array outputs open with the skipped element (`diff` finds `latest`
    // to be the older snapshot itself, so nothing follows). `tag` goes
    // last: it replaces the older snapshot.
    for (args, elements) in [
        (vec!["ls", "latest"], None),
        (vec!["diff", &older, "latest"], Some(1)),
        (vec!["find", "a.txt"], Some(2)),
        (vec!["tag", "latest", "--add", "x"], Some(2)),
    ] {
        let v = json_of(&mut skip(&args));
        assert_eq!(skipped_ids(&v[0]), [newer.as_str()], "{args:?}: {v}");
        let n = v.as_array().unwrap().len();
        assert!(elements.map_or(n > 2, |e| n == e), "{args:?}: {v}");
    }
    // Object outputs carry the member.
    for args in [
        vec!["stats"],
        vec!["copy", "--to", &target_s],
        vec!["backup", &src_s],
    ] {
        let v = json_of(&mut skip(&args));
        assert_eq!(skipped_ids(&v), [newer.as_str()], "{args:?}: {v}");
    }
    // The copy copied the one usable snapshot.
    skip(&["dump", "latest", "/"])
        .assert()
        .success()
        .stderr(warns_of(&newer));
    assert_eq!(fs::read_dir(target.join("snapshots")).unwrap().count(), 1);
    // Without --json, a warning on stderr names the file.
    skip(&["ls", "latest"])
        .assert()
        .success()
        .stderr(warns_of(&newer));
}

#[test]
fn forget_never_removes_a_damaged_snapshot_by_policy_only_by_id() {
    let (f, older, newer) = damaged_newest();
    let damaged = f.repo().join("snapshots").join(&newer);
    f.snap()
        .args(["forget", "--keep-last", "1"])
        .assert()
        .code(1)
        .stderr(names_the_damaged_file(&newer));
    // Skipping: the policy judges the others only, and leaves the damaged
    // file alone.
    let v = json_of(f.snap().args([
        "--skip-damaged-snapshots",
        "forget",
        "--keep-last",
        "1",
        "--group-by",
        "",
    ]));
    assert_eq!(skipped_ids(&v[0]), [newer.as_str()]);
    assert_eq!(v[1]["keep"][0]["id"], older.as_str());
    assert!(damaged.exists());
    // Prune refuses while it exists, flag or not.
    for flags in [vec![], vec!["--skip-damaged-snapshots"]] {
        f.snap()
            .args(&flags)
            .args(["prune", "--grace", "0"])
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains(format!("snapshot file snapshots/{newer}"))
                    .and(predicate::str::contains("snap forget")),
            );
    }
    // Named by its ID, it goes.
    let v = json_of(f.snap().args(["forget", &newer[..10]]));
    assert_eq!(v[0]["remove"][0]["id"], newer.as_str());
    assert!(v[0]["remove"][0]["damaged"]
        .as_str()
        .unwrap()
        .contains("does not match its name"));
    assert!(!damaged.exists());
    f.snap()
        .arg("snapshots")
        .assert()
        .success()
        .stdout(predicate::str::contains("1 snapshot(s)"));
    f.snap().args(["prune", "--grace", "0"]).assert().success();
}

#[test]
fn an_undecryptable_snapshot_sealed_with_another_key_is_damaged_too() {
    // A snapshot of another repository copied in: its name matches its
    // bytes, but it does not open with this repository's key.
    let (f, _, newer) = damaged_newest();
    fs::remove_file(f.repo().join("snapshots").join(&newer)).unwrap();
    let other = Fixture::new();
    let id = other.backup_json(&f.path("src"), &[])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::copy(
        other.repo().join("snapshots").join(&id),
        f.repo().join("snapshots").join(&id),
    )
    .unwrap();
    f.snap().args(["ls", "latest"]).assert().code(1).stderr(
        predicate::str::contains(format!("snapshots/{id}"))
            .and(predicate::str::contains("failed authentication")),
    );
    let v = json_of(f.snap().args(["--skip-damaged-snapshots", "ls", "latest"]));
    assert_eq!(skipped_ids(&v[0]), vec![id.as_str()]);
}

#[test]
fn restore_profile_resolves_latest_the_same_way() {
    let f = Fixture::new();
    let conf = f.path("conf");
    fs::create_dir_all(&conf).unwrap();
    fs::write(conf.join("app.conf"), "old").unwrap();
    let password = f.path("password");
    fs::write(&password, format!("{}\n", common::PASSWORD)).unwrap();
    let profile = f.path("p.toml");
    fs::write(
        &profile,
        format!(
            "[repository]\nlocation = \"{}\"\npassword_file = \"{}\"\n[[files]]\npath = \"conf\"\n",
            f.repo().display(),
            password.display()
        ),
    )
    .unwrap();
    let backup = || {
        let v = json_of(f.snap().arg("backup").arg("--profile").arg(&profile));
        v["snapshot_id"].as_str().unwrap().to_string()
    };
    let older = backup();
    fs::write(conf.join("app.conf"), "new").unwrap();
    let newer = backup();
    flip_a_byte(&f.repo().join("snapshots").join(&newer));
    let restore = |skip: bool| {
        let mut cmd = f.snap();
        if skip {
            cmd.arg("--skip-damaged-snapshots");
        }
        cmd.args(["restore", "latest", "--dry-run", "--profile"])
            .arg(&profile);
        cmd
    };
    restore(false)
        .assert()
        .code(1)
        .stderr(names_the_damaged_file(&newer));
    let v = json_of(&mut restore(true));
    assert_eq!(v["snapshot_id"], older.as_str());
    assert_eq!(skipped_ids(&v), vec![newer.as_str()]);
    // A dry run changes nothing.
    assert_eq!(fs::read_to_string(conf.join("app.conf")).unwrap(), "new");
}

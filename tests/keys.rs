//! `snap key`: several passwords open one repository; the key in use cannot
//! be removed; `passwd` swaps the password without a moment with no key.

mod common;

use common::{Fixture, FAST_INIT};
use predicates::prelude::*;

/// The cheap key derivation of `FAST_INIT`, without the `init`.
const KDF: &[&str] = FAST_INIT.split_at(1).1;

fn keys(f: &Fixture, password: &str) -> Vec<serde_json::Value> {
    let out = f
        .snap()
        .env("SNAP_PASSWORD", password)
        .args(["--json", "key", "list"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn add_list_remove_and_change_passwords() {
    let f = Fixture::empty();
    f.snap().args(FAST_INIT).assert().success();
    let first = keys(&f, common::PASSWORD);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["current"], true);
    let first_id = first[0]["id"].as_str().unwrap().to_string();

    // A second password, from a file.
    let file = f.path("new-pass");
    std::fs::write(&file, "second password\n").unwrap();
    f.snap()
        .args(["key", "add", "--new-password-file"])
        .arg(&file)
        .args(KDF)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("added key "));
    let both = keys(&f, "second password");
    assert_eq!(both.len(), 2);
    let second_id = both.iter().find(|k| k["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(second_id, first_id);

    // The key in use cannot go; another can, by prefix.
    f.snap()
        .args(["key", "remove", &first_id[..10]])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("opened the repository with"));
    f.snap()
        .args(["key", "remove", "zz"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no key file zz"));
    f.snap()
        .env("SNAP_PASSWORD", "second password")
        .args(["key", "remove", &first_id[..10]])
        .assert()
        .success();
    f.snap().arg("snapshots").assert().code(12);

    // passwd: the new password opens it, the old one no longer does, and
    // exactly one key remains.
    f.snap()
        .env("SNAP_PASSWORD", "second password")
        .env("SNAP_NEW_PASSWORD", "third password")
        .args(["key", "passwd"])
        .args(KDF)
        .assert()
        .success()
        .stdout(predicate::str::contains("changed password"));
    f.snap()
        .env("SNAP_PASSWORD", "second password")
        .arg("snapshots")
        .assert()
        .code(12);
    let last = keys(&f, "third password");
    assert_eq!(last.len(), 1);
    assert_eq!(last[0]["current"], true);
    // The only key is the one in use: it cannot be removed.
    let only = last[0]["id"].as_str().unwrap().to_string();
    f.snap()
        .env("SNAP_PASSWORD", "third password")
        .args(["key", "remove", &only])
        .assert()
        .code(1);
}

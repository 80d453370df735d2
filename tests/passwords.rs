//! Where passwords come from (README, "Passwords"): a flag beats a
//! profile, which beats the environment; two sources of one tier are
//! refused (exit 2); a rejected password names where it came from, never
//! the password.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{Fixture, FAST_INIT, PASSWORD};
use predicates::prelude::*;

/// A secret that must never appear in any output.
const WRONG: &str = "not-the-password-8d1f";

/// `snap` with no SNAP_* variable and no -r.
fn bare() -> Command {
    let mut cmd = Command::cargo_bin("snap").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("SNAP_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// `snap -r REPO` with no password anywhere.
fn no_password(repo: &Path) -> Command {
    let mut cmd = bare();
    cmd.arg("-r").arg(repo);
    cmd
}

fn write(f: &Fixture, name: &str, text: &str) -> PathBuf {
    let path = f.path(name);
    fs::write(&path, format!("{text}\n")).unwrap();
    path
}

fn never_shows(secret: &'static str) -> impl Predicate<str> {
    predicate::str::contains(secret).not()
}

#[test]
fn a_flag_beats_the_environment() {
    let f = Fixture::new();
    let right = write(&f, "right", PASSWORD);
    let wrong = write(&f, "wrong", WRONG);
    // SNAP_PASSWORD used to win over --password-file.
    no_password(&f.repo())
        .env("SNAP_PASSWORD", WRONG)
        .arg("--password-file")
        .arg(&right)
        .arg("snapshots")
        .assert()
        .success();
    no_password(&f.repo())
        .env("SNAP_PASSWORD_FILE", &wrong)
        .args([
            "--password-command",
            &format!("echo '{PASSWORD}'"),
            "snapshots",
        ])
        .assert()
        .success();
    // Flags make the environment irrelevant, even when it is ambiguous.
    no_password(&f.repo())
        .env("SNAP_PASSWORD", WRONG)
        .env("SNAP_PASSWORD_FILE", &wrong)
        .arg("--password-file")
        .arg(&right)
        .arg("snapshots")
        .assert()
        .success();
}

#[test]
fn two_flags_or_two_variables_are_refused() {
    let f = Fixture::new();
    let right = write(&f, "right", PASSWORD);
    no_password(&f.repo())
        .arg("--password-file")
        .arg(&right)
        .args(["--password-command", "echo x", "snapshots"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--password-command"));
    for (a, b) in [
        ("SNAP_PASSWORD", "SNAP_PASSWORD_FILE"),
        ("SNAP_PASSWORD_FILE", "SNAP_PASSWORD_COMMAND"),
        ("SNAP_PASSWORD", "SNAP_PASSWORD_COMMAND"),
    ] {
        let value = |name: &str| {
            if name == "SNAP_PASSWORD_FILE" {
                right.display().to_string()
            } else if name == "SNAP_PASSWORD_COMMAND" {
                format!("echo '{PASSWORD}'")
            } else {
                PASSWORD.to_string()
            }
        };
        no_password(&f.repo())
            .env(a, value(a))
            .env(b, value(b))
            .arg("snapshots")
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains(a)
                    .and(predicate::str::contains(b))
                    .and(predicate::str::contains("unclear which password"))
                    .and(never_shows(PASSWORD)),
            );
    }
}

#[test]
fn a_rejected_password_names_its_source_and_never_the_password() {
    let f = Fixture::new();
    let wrong = write(&f, "wrong", WRONG);
    let repo = f.repo().display().to_string();
    no_password(&f.repo())
        .arg("--password-file")
        .arg(&wrong)
        .arg("snapshots")
        .assert()
        .code(12)
        .stderr(
            predicate::str::contains(format!(
                "the password from --password-file {} opens none of the 1 key(s) of {repo}",
                wrong.display()
            ))
            .and(never_shows(WRONG)),
        );
    no_password(&f.repo())
        .env("SNAP_PASSWORD", WRONG)
        .arg("snapshots")
        .assert()
        .code(12)
        .stderr(
            predicate::str::contains("the password from SNAP_PASSWORD opens none")
                .and(never_shows(WRONG)),
        );
    // A command's text may hold the password: only the flag is named.
    no_password(&f.repo())
        .args(["--password-command", &format!("echo {WRONG}"), "snapshots"])
        .assert()
        .code(12)
        .stderr(
            predicate::str::contains("the password from --password-command opens none")
                .and(never_shows(WRONG)),
        );
    no_password(&f.repo())
        .env("SNAP_PASSWORD_FILE", &wrong)
        .arg("snapshots")
        .assert()
        .code(12)
        .stderr(predicate::str::contains(format!(
            "the password from SNAP_PASSWORD_FILE ({})",
            wrong.display()
        )));
}

#[test]
fn a_profile_beats_the_environment_and_a_flag_beats_the_profile() {
    let f = Fixture::new();
    let conf = f.path("conf");
    fs::create_dir_all(&conf).unwrap();
    fs::write(conf.join("app.conf"), "x").unwrap();
    let right = write(&f, "right", PASSWORD);
    let wrong = write(&f, "wrong", WRONG);
    let profile = |password_file: &Path| {
        let p = f.path("p.toml");
        fs::write(
            &p,
            format!(
                "[repository]\nlocation = \"{}\"\npassword_file = \"{}\"\n[[files]]\npath = \"conf\"\n",
                f.repo().display(),
                password_file.display()
            ),
        )
        .unwrap();
        p
    };
    // The profile's file beats SNAP_PASSWORD (which used to come first).
    bare()
        .env("SNAP_PASSWORD", WRONG)
        .arg("backup")
        .arg("--profile")
        .arg(profile(&right))
        .assert()
        .success();
    // A flag beats the profile.
    bare()
        .arg("--password-file")
        .arg(&right)
        .arg("backup")
        .arg("--profile")
        .arg(profile(&wrong))
        .assert()
        .success();
    // A wrong password from the profile names the profile.
    let p = profile(&wrong);
    bare()
        .env("SNAP_PASSWORD", PASSWORD)
        .arg("backup")
        .arg("--profile")
        .arg(&p)
        .assert()
        .code(12)
        .stderr(
            predicate::str::contains(format!(
                "the password from password_file {} of profile {}",
                wrong.display(),
                p.display()
            ))
            .and(never_shows(WRONG)),
        );
}

#[test]
fn a_copy_target_password_follows_the_same_order() {
    let f = Fixture::new();
    let target = f.path("target");
    common::snap(&target).args(FAST_INIT).assert().success();
    let right = write(&f, "right", PASSWORD);
    let copy = || {
        let mut c = f.snap();
        c.args(["copy", "--to"]).arg(&target);
        c
    };
    copy()
        .env("SNAP_TO_PASSWORD", WRONG)
        .arg("--to-password-file")
        .arg(&right)
        .assert()
        .success();
    copy()
        .arg("--to-password-file")
        .arg(&right)
        .args(["--to-password-command", "echo x"])
        .assert()
        .code(2);
    copy()
        .env("SNAP_TO_PASSWORD", PASSWORD)
        .env("SNAP_TO_PASSWORD_FILE", &right)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("SNAP_TO_PASSWORD and SNAP_TO_PASSWORD_FILE")
                .and(never_shows(PASSWORD)),
        );
    copy()
        .env("SNAP_TO_PASSWORD", WRONG)
        .assert()
        .code(12)
        .stderr(
            predicate::str::contains("target repository")
                .and(predicate::str::contains(
                    "the password from SNAP_TO_PASSWORD opens none",
                ))
                .and(never_shows(WRONG)),
        );
}

#[test]
fn a_new_key_password_follows_the_same_order() {
    let f = Fixture::new();
    let new = write(&f, "new", "the new password");
    let kdf = &FAST_INIT[1..];
    f.snap()
        .env("SNAP_NEW_PASSWORD", WRONG)
        .args(["key", "add", "--new-password-file"])
        .arg(&new)
        .args(kdf)
        .assert()
        .success();
    // The file's password was added, not the variable's.
    f.snap()
        .env("SNAP_PASSWORD", "the new password")
        .arg("snapshots")
        .assert()
        .success();
    f.snap()
        .env("SNAP_NEW_PASSWORD", "another")
        .env("SNAP_NEW_PASSWORD_FILE", &new)
        .args(["key", "add"])
        .args(kdf)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "SNAP_NEW_PASSWORD and SNAP_NEW_PASSWORD_FILE",
        ));
    f.snap()
        .env("SNAP_NEW_PASSWORD_FILE", &new)
        .args(["key", "add"])
        .args(kdf)
        .assert()
        .success();
}

//! `snap tag` (manifests replaced, never edited; `original` kept) and
//! `snap dump` (a file byte-exact, a folder as a tar that GNU tar extracts).

mod common;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};

use common::{json_of, noise, Fixture};
use predicates::prelude::*;

#[test]
fn tags_change_by_replacing_the_manifest() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a"), "alpha").unwrap();
    let first = f.backup_json(&src, &["--tag", "nightly"]);
    let old = first["snapshot_id"].as_str().unwrap().to_string();

    let r = json_of(
        f.snap()
            .args(["tag", &old[..8], "--add", "golden", "--add", "q4"]),
    );
    let new = r[0]["new_id"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(r[0]["tags"], serde_json::json!(["nightly", "golden", "q4"]));
    assert!(!f.repo().join("snapshots").join(&old).exists());
    let manifest = json_of(f.snap().args(["cat", "snapshot", &new]));
    assert_eq!(manifest["original"], old.as_str());

    // A second change keeps pointing at the first snapshot of the chain.
    let r = json_of(f.snap().args(["tag", "latest", "--remove", "nightly"]));
    let newer = r[0]["new_id"].as_str().unwrap().to_string();
    assert_eq!(r[0]["tags"], serde_json::json!(["golden", "q4"]));
    assert_eq!(
        json_of(f.snap().args(["cat", "snapshot", &newer]))["original"],
        old.as_str()
    );
    f.snap()
        .args(["snapshots", "--tag", "golden"])
        .assert()
        .success()
        .stdout(predicate::str::contains(&newer[..8]));

    // Asking for what is already there changes nothing.
    f.snap()
        .args(["tag", "latest", "--add", "golden"])
        .assert()
        .success()
        .stdout(predicate::str::contains("unchanged"));
    assert!(f.repo().join("snapshots").join(&newer).exists());

    // --set '' clears, and the snapshot still restores.
    let r = json_of(f.snap().args(["tag", "latest", "--set", ""]));
    assert_eq!(r[0]["tags"], serde_json::json!([]));
    let target = f.path("out");
    f.snap()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success();
    assert_eq!(
        fs::read(common::restored(&target, &src).join("a")).unwrap(),
        b"alpha"
    );
    assert_eq!(fs::read_dir(f.repo().join("snapshots")).unwrap().count(), 1);

    for (args, says) in [
        (vec!["tag", "latest"], "--add, --remove or --set"),
        (
            vec!["tag", "latest", "--set", "a", "--add", "b"],
            "cannot be combined",
        ),
        (vec!["tag", "latest", "--add", "a,b"], "commas"),
        (vec!["tag", "ffffffff", "--add", "a"], "ffffffff"),
    ] {
        f.snap()
            .args(&args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(says));
    }
}

#[test]
fn dump_writes_a_file_or_a_folder_as_tar() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(src.join("etc/ssl")).unwrap();
    let big = noise(9, 5 << 20);
    fs::write(src.join("big.bin"), &big).unwrap();
    fs::write(src.join("etc/app.conf"), "port = 8080\n").unwrap();
    fs::write(src.join("etc/ssl/key.pem"), "secret").unwrap();
    fs::set_permissions(
        src.join("etc/ssl/key.pem"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(src.join("empty"), "").unwrap();
    symlink("etc/app.conf", src.join("link")).unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9");
    fs::write(src.join(odd), "latin-1 name").unwrap();
    let long = "d".repeat(120);
    fs::create_dir_all(src.join(&long)).unwrap();
    fs::write(src.join(&long).join("deep.txt"), "long path").unwrap();
    f.backup_json(&src, &[]);
    let root = src.to_str().unwrap();

    // One file, byte for byte, however many blobs it has.
    let out = f
        .snap()
        .args(["dump", "latest", &format!("{root}/big.bin")])
        .assert()
        .success();
    assert!(out.get_output().stdout == big, "big.bin differs");
    f.snap()
        .args(["dump", "latest", &format!("{root}/empty")])
        .assert()
        .success()
        .stdout(predicate::eq(&b""[..]));

    // A folder as tar, extracted by GNU tar.
    let out = f.snap().args(["dump", "latest", root]).assert().success();
    let archive = f.path("src.tar");
    fs::write(&archive, &out.get_output().stdout).unwrap();
    let x = f.path("x");
    fs::create_dir_all(&x).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(status.success());
    let back = x.join("src");
    assert!(fs::read(back.join("big.bin")).unwrap() == big);
    assert_eq!(
        fs::read(back.join("etc/app.conf")).unwrap(),
        b"port = 8080\n"
    );
    let key = fs::metadata(back.join("etc/ssl/key.pem")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(back.join("etc/app.conf"))
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        fs::metadata(src.join("etc/app.conf"))
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    assert_eq!(
        fs::read_link(back.join("link")).unwrap().to_str(),
        Some("etc/app.conf")
    );
    assert_eq!(fs::read(back.join(odd)).unwrap(), b"latin-1 name");
    assert_eq!(
        fs::read(back.join(&long).join("deep.txt")).unwrap(),
        b"long path"
    );

    // The whole snapshot: entries are relative to /.
    let out = f.snap().args(["dump", "latest", "/"]).assert().success();
    let listing = std::process::Command::new("tar")
        .arg("-t")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(&out.get_output().stdout)?;
            child.wait_with_output()
        })
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    let rel = root.trim_start_matches('/');
    assert!(names.contains(&format!("{rel}/etc/ssl/key.pem")), "{names}");

    // What cannot be dumped says so.
    f.snap()
        .args(["dump", "latest", &format!("{root}/nope")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nope").and(predicate::str::contains("snap ls")));
    f.snap()
        .args(["dump", "latest", &format!("{root}/link")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("symlink"));
}

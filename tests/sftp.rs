#![cfg(feature = "sftp")]
//! The SFTP backend against a real OpenSSH server started for the test.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::servers::sshd;
use predicates::prelude::*;
use snap::backend::{conformance, Backend, SftpBackend, SftpOptions};

fn options(server: &common::servers::Sshd) -> SftpOptions {
    SftpOptions {
        key_file: Some(server.key.clone()),
        known_hosts: Some(server.known_hosts.clone()),
        accept_new_host: false,
    }
}

#[test]
fn conformance_against_sshd() {
    let server = sshd();
    let dir = tempfile::tempdir().unwrap();
    let backend =
        SftpBackend::new(&server.location(&dir.path().join("repo")), options(&server)).unwrap();
    conformance::run(&backend);
}

#[test]
fn backup_and_restore_through_sshd() {
    let server = sshd();
    let f = common::Fixture::empty();
    let repo = server.location(&f.path("remote/repo"));
    let snap = || {
        let mut cmd = common::snap(&repo);
        cmd.env("SNAP_SFTP_KEY_FILE", &server.key)
            .arg("--sftp-known-hosts")
            .arg(&server.known_hosts);
        cmd
    };
    common::backend_round_trip(&f, &[], snap);
    // The scp-like form (port 22 implied) names the same repository; with a
    // user-level ssh config it is what operators type. Here only the URL form
    // can carry the test port, so check the scp form parses to the same path.
    let scp = snap::backend::SftpLocation::parse(&format!(
        "sftp:{}@127.0.0.1:{}",
        server.user,
        f.path("remote/repo").display()
    ))
    .unwrap();
    let url = snap::backend::SftpLocation::parse(&repo).unwrap();
    assert_eq!((scp.user, scp.path), (url.user, url.path));
}

#[test]
fn unknown_and_changed_host_keys_are_refused() {
    let server = sshd();
    let f = common::Fixture::empty();
    let repo = server.location(&f.path("repo"));
    let empty = f.path("known_hosts");
    let snap = |known: &std::path::Path| {
        let mut cmd = common::snap(&repo);
        cmd.arg("--sftp-key")
            .arg(&server.key)
            .arg("--sftp-known-hosts")
            .arg(known);
        cmd
    };
    // Unknown: refused with the fingerprint and the way forward.
    snap(&empty)
        .args(common::FAST_INIT)
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("not a known host")
                .and(predicate::str::contains("SHA256:"))
                .and(predicate::str::contains("--sftp-accept-new-host")),
        );
    // Accepted explicitly: recorded, and known from then on.
    snap(&empty)
        .arg("--sftp-accept-new-host")
        .args(common::FAST_INIT)
        .assert()
        .success();
    assert!(fs::read_to_string(&empty)
        .unwrap()
        .starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", server.port)));
    snap(&empty).arg("snapshots").assert().success();

    // Changed: another key for the same host is always refused.
    let other = f.path("other_key");
    common::servers::ssh_keygen(&other);
    let other_pub = fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut fields = other_pub.split_whitespace();
    let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
    let wrong = f.path("wrong_known_hosts");
    fs::write(
        &wrong,
        format!("[127.0.0.1]:{} {kind} {key}\n", server.port),
    )
    .unwrap();
    snap(&wrong)
        .arg("--sftp-accept-new-host")
        .arg("snapshots")
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .failure()
        .stderr(predicate::str::contains("HAS CHANGED"));
}

#[test]
fn refused_key_and_unwritable_folder_are_permanent_errors() {
    let server = sshd();
    let f = common::Fixture::empty();
    let stranger = f.path("stranger");
    common::servers::ssh_keygen(&stranger);
    let mut opts = options(&server);
    opts.key_file = Some(stranger);
    let backend = SftpBackend::new(&server.location(&f.path("repo")), opts).unwrap();
    let err = backend.create().unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("--sftp-key"), "{err}");

    // A folder the user may not write (only meaningful when not root).
    if unsafe { libc::getuid() } != 0 {
        let locked = f.path("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();
        let backend =
            SftpBackend::new(&server.location(&locked.join("repo")), options(&server)).unwrap();
        let err = backend.create().unwrap_err();
        assert!(!err.is_transient(), "{err}");
    }
}

#[test]
fn a_dropped_connection_is_reopened() {
    let server = sshd();
    let dir = tempfile::tempdir().unwrap();
    let backend =
        SftpBackend::new(&server.location(&dir.path().join("repo")), options(&server)).unwrap();
    backend.create().unwrap();
    backend.write(snap::id::FileKind::Lock, "aa", b"x").unwrap();
    // Kill every session process the server forked for us: the pooled
    // connection is dead, the next call fails transiently, the one after
    // reconnects.
    let sshd = server.server.pid();
    let mut killed = 0;
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: the parent is the second field after ')'.
        let after = &stat[stat.rfind(')').unwrap() + 1..];
        let ppid: u32 = after.split_whitespace().nth(1).unwrap().parse().unwrap();
        if ppid == sshd {
            let pid: i32 = entry.file_name().to_str().unwrap().parse().unwrap();
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed += 1;
        }
    }
    assert!(killed > 0, "no session process of sshd {sshd} found");
    std::thread::sleep(std::time::Duration::from_millis(200));
    match backend.read(snap::id::FileKind::Lock, "aa") {
        Ok(data) => assert_eq!(data, b"x"),
        Err(e) => assert!(e.is_transient(), "{e}"),
    }
    assert_eq!(backend.read(snap::id::FileKind::Lock, "aa").unwrap(), b"x");
}

#[test]
fn default_key_files_and_the_ssh_agent_authenticate() {
    let server = sshd();
    let f = common::Fixture::empty();
    let repo = server.location(&f.path("repo"));
    // A home whose ~/.ssh holds the key under its default name.
    let home = f.path("home");
    fs::create_dir_all(home.join(".ssh")).unwrap();
    fs::copy(&server.key, home.join(".ssh/id_ed25519")).unwrap();
    fs::set_permissions(
        home.join(".ssh/id_ed25519"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let snap = |home: &std::path::Path| {
        let mut cmd = common::snap(&repo);
        cmd.env("HOME", home)
            .env_remove("SSH_AUTH_SOCK")
            .arg("--sftp-known-hosts")
            .arg(&server.known_hosts);
        cmd
    };
    snap(&home).args(common::FAST_INIT).assert().success();

    // No key files at all, but an agent holding the key.
    let bare = f.path("bare-home");
    fs::create_dir_all(&bare).unwrap();
    snap(&bare)
        .arg("snapshots")
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .failure()
        .stderr(predicate::str::contains("no key was found"));
    let sock = f.path("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "ssh-agent did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(&server.key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let result = snap(&bare)
        .env("SSH_AUTH_SOCK", &sock)
        .arg("snapshots")
        .assert();
    let _ = agent.kill();
    let _ = agent.wait();
    result
        .success()
        .stdout(predicate::str::contains("0 snapshot(s)"));
}

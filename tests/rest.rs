//! The REST backend against a real server: `rclone serve restic`.

mod common;

use common::servers::rclone_restic;
use predicates::prelude::*;
use snap::backend::{conformance, Backend, RestBackend};

#[test]
fn conformance_against_rclone() {
    let server = rclone_restic(None);
    let backend = RestBackend::new(&format!("http://{}/repo/", server.addr)).unwrap();
    conformance::run(&backend);
}

#[test]
fn backup_and_restore_through_rclone_with_auth() {
    let server = rclone_restic(Some(("operator", "s3cret")));
    let f = common::Fixture::empty();
    let repo = format!("rest:http://operator:s3cret@{}/platform/", server.addr);
    common::backend_round_trip(&f, &[], || common::snap(&repo));

    // Wrong credentials: a permanent error, at once, naming the location but
    // never the password.
    let wrong = format!("rest:http://operator:nope@{}/platform/", server.addr);
    common::snap(&wrong)
        .arg("snapshots")
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("credentials").and(predicate::str::contains("nope").not()),
        );
}

#[test]
fn unreachable_server_fails_with_a_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let backend = RestBackend::new(&format!("http://127.0.0.1:{port}/x/")).unwrap();
    let err = backend.list(snap::id::FileKind::Snapshot).unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

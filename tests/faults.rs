//! Fault injection: transient backend failures during a backup are retried and
//! the snapshot is complete; a permanent failure stops the backup cleanly and
//! leaves the repository as it was (earlier snapshots restore, no new one).

mod common;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use snap::archiver::{backup, BackupOptions};
use snap::backend::{Backend, FaultyBackend, LocalBackend, RetryBackend, RetryPolicy};
use snap::crypto::KdfParams;
use snap::id::FileKind;
use snap::repo::{InitOptions, Repository};
use snap::restore::{restore_to_dir, RestoreFilter, RestorePlan};

fn quick() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_elapsed: Duration::from_secs(10),
        notify: None,
    }
}

fn source(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    for i in 0..40u64 {
        fs::write(
            src.join("d").join(format!("f{i}")),
            common::noise(i, 20_000 + i as usize * 997),
        )
        .unwrap();
    }
    fs::write(src.join("big"), common::noise(99, 3 << 20)).unwrap();
    src
}

fn init(backend: Arc<dyn Backend>) {
    let options = InitOptions {
        kdf: KdfParams::insecure_fast(),
        pack_size: 1 << 20,
        ..Default::default()
    };
    Repository::init(backend, b"pw", &options).unwrap();
}

fn restore_and_compare(
    backend: Arc<dyn Backend>,
    tree: &snap::id::BlobId,
    src: &std::path::Path,
    out: &std::path::Path,
) {
    let mut repo = Repository::open(backend, b"pw").unwrap();
    repo.load_index().unwrap();
    let plan = RestorePlan::build(&repo, tree, &RestoreFilter::default()).unwrap();
    restore_to_dir(&repo, &plan, out, 2, &Default::default()).unwrap();
    common::assert_same_tree(src, &common::restored(out, src));
}

#[test]
fn transient_faults_during_backup_still_give_a_complete_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let local: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path().join("repo")));
    init(local.clone());
    // Every 4th request fails with a connection reset.
    let faulty = Arc::new(FaultyBackend::new(local.clone(), 4, true));
    let backend: Arc<dyn Backend> = Arc::new(RetryBackend::new(faulty.clone(), quick()));
    let mut repo = Repository::open(backend.clone(), b"pw").unwrap();
    repo.load_index().unwrap();
    let result = backup(
        &repo,
        &BackupOptions {
            paths: vec![src.clone()],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        faulty.injected() >= 3,
        "only {} faults injected",
        faulty.injected()
    );
    restore_and_compare(local, &result.manifest.tree, &src, &dir.path().join("out"));
}

#[test]
fn a_permanent_fault_stops_the_backup_and_keeps_the_repository_intact() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let local: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path().join("repo")));
    init(local.clone());
    let mut repo = Repository::open(local.clone(), b"pw").unwrap();
    repo.load_index().unwrap();
    let first = backup(
        &repo,
        &BackupOptions {
            paths: vec![src.clone()],
            ..Default::default()
        },
    )
    .unwrap();

    // Every other request is refused for good (permission denied): the
    // backup must fail, naming the repository, and store no snapshot.
    fs::write(src.join("new-file"), common::noise(7, 2 << 20)).unwrap();
    let faulty: Arc<dyn Backend> = Arc::new(RetryBackend::new(
        Arc::new(FaultyBackend::new(local.clone(), 2, false)),
        quick(),
    ));
    let err = match Repository::open(faulty, b"pw") {
        Ok(mut r) => match r.load_index() {
            Ok(_) => backup(
                &r,
                &BackupOptions {
                    paths: vec![src.clone()],
                    force: true,
                    ..Default::default()
                },
            )
            .map(|_| ())
            .unwrap_err()
            .to_string(),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    assert!(err.contains("injected fault"), "{err}");
    assert!(
        err.contains(&local.location()),
        "the message names the repository: {err}"
    );
    assert_eq!(
        local.list(FileKind::Snapshot).unwrap().len(),
        1,
        "no new snapshot"
    );

    // The first snapshot still restores, byte for byte.
    let mut repo = Repository::open(local, b"pw").unwrap();
    repo.load_index().unwrap();
    let plan = RestorePlan::build(&repo, &first.manifest.tree, &RestoreFilter::default()).unwrap();
    let out = dir.path().join("out");
    restore_to_dir(&repo, &plan, &out, 2, &Default::default()).unwrap();
    let back = common::restored(&out, &src);
    assert!(!back.join("new-file").exists());
    assert_eq!(
        fs::read(back.join("big")).unwrap(),
        fs::read(src.join("big")).unwrap()
    );
    for i in 0..40 {
        let rel = format!("d/f{i}");
        assert_eq!(
            fs::read(back.join(&rel)).unwrap(),
            fs::read(src.join(&rel)).unwrap(),
            "{rel}"
        );
    }
}

/// Backs up through a proxy that cuts the first connections mid-transfer
/// to `repo_via_proxy`, then restores straight from the server (`repo`).
fn backup_through_cuts(
    repo: &str,
    repo_via_proxy: &str,
    proxy: &common::proxy::CuttingProxy,
    cmd: impl Fn(&str) -> assert_cmd::Command,
) {
    let f = common::Fixture::empty();
    let src = source(f.dir.path());
    cmd(repo).args(common::FAST_INIT).assert().success();
    let out = cmd(repo_via_proxy)
        .args(["--json", "backup"])
        .arg(&src)
        .timeout(Duration::from_secs(240))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        proxy.cuts.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the proxy cut nothing"
    );
    assert!(stderr.contains("retrying"), "no retry announced: {stderr}");
    common::restore_latest_matches(cmd(repo), &src, &f.path("out"));
}

#[test]
fn cut_connections_to_a_rest_server_are_retried() {
    let server = common::servers::rclone_restic(None);
    let proxy = common::proxy::CuttingProxy::start(&server.addr, 300_000, 3);
    backup_through_cuts(
        &format!("rest:http://{}/repo/", server.addr),
        &format!("rest:http://{}/repo/", proxy.addr),
        &proxy,
        |repo| common::snap(repo),
    );
}

#[cfg(feature = "s3")]
#[test]
fn cut_connections_to_an_s3_store_are_retried() {
    use common::servers::S3_BUCKET;
    let server = common::servers::garage();
    let proxy = common::proxy::CuttingProxy::start(&server.server.addr, 300_000, 3);
    // The first request may race garage's creation of its default bucket:
    // init retries nothing that is not transient, so wait for it.
    common::servers::wait_for_bucket(&server);
    backup_through_cuts(
        &format!("s3:{}/{S3_BUCKET}/faults", server.endpoint),
        &format!("s3:http://{}/{S3_BUCKET}/faults", proxy.addr),
        &proxy,
        common::servers::snap_s3,
    );
}

#[cfg(feature = "sftp")]
#[test]
fn cut_connections_to_an_sftp_server_are_reopened() {
    let server = common::servers::sshd();
    let proxy = common::proxy::CuttingProxy::start(&server.server.addr, 300_000, 3);
    let dir = tempfile::tempdir().unwrap();
    let direct = server.location(&dir.path().join("repo"));
    let via = direct.replace(&server.server.addr, &proxy.addr);
    // The proxy is another host:port to known_hosts: list both.
    let known = dir.path().join("known_hosts");
    let line = fs::read_to_string(&server.known_hosts).unwrap();
    let port = proxy.addr.rsplit(':').next().unwrap();
    let aliased = line.replace(&format!("]:{} ", server.port), &format!("]:{port} "));
    fs::write(&known, format!("{line}{aliased}")).unwrap();
    backup_through_cuts(&direct, &via, &proxy, |repo| {
        let mut cmd = common::snap(repo);
        cmd.arg("--sftp-key")
            .arg(&server.key)
            .arg("--sftp-known-hosts")
            .arg(&known);
        cmd
    });
}

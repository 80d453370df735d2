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

//! The backend conformance suite: every backend must pass it unchanged (the
//! memory and local backends in unit tests, the real servers in `tests/`).
//! A test kit, not used by snap itself (built for tests and with the
//! `testing` feature). Each check is named and runs on its own, so one
//! failure does not hide the others; [`run`] reports every failed check.
//! Files are named by the SHA-256 of their content, as in a repository, so
//! servers that verify names (restic's rest-server, `snap serve`) accept them.

use super::{Backend, FileInfo};
use crate::id::{FileKind, Id};

fn name_of(data: &[u8]) -> String {
    Id::sha256(data).to_hex()
}

/// One conformance check.
pub type Check = fn(&dyn Backend);

/// The named checks, in the order [`run`] runs them. Each uses its own
/// file kinds or names, so they do not depend on each other.
pub const CHECKS: &[(&str, Check)] = &[
    ("created empty", created_empty),
    ("missing files", missing_files),
    ("write, read, ranges, stat, list", write_read_ranges),
    ("write if absent", write_if_absent),
    ("parts are one file", parts_are_one_file),
    ("config at the root", config_at_root),
    ("concurrent writers", concurrent_writers),
    ("empty file and delete", empty_file_and_delete),
    ("a large file", large_file),
];

/// Runs every check against a freshly created, empty backend; panics
/// naming every check that failed, with its message.
pub fn run(backend: &dyn Backend) {
    backend.create().unwrap();
    let mut failed = Vec::new();
    for (name, check) in CHECKS {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(backend)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{name}: {message}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} conformance checks failed at {}:\n{}",
        failed.len(),
        CHECKS.len(),
        backend.location(),
        failed.join("\n")
    );
}

fn created_empty(backend: &dyn Backend) {
    for kind in FileKind::ALL {
        if kind != FileKind::Config {
            assert!(backend.list(kind).unwrap().is_empty(), "{kind:?} not empty");
        }
    }
}

fn missing_files(backend: &dyn Backend) {
    let absent = name_of(b"absent");
    assert!(backend
        .read(FileKind::Index, &absent)
        .unwrap_err()
        .is_not_found());
    assert!(backend
        .stat(FileKind::Index, &absent)
        .unwrap_err()
        .is_not_found());
    assert!(backend
        .read_range(FileKind::Index, &absent, 0, 1)
        .unwrap_err()
        .is_not_found());
    backend.remove(FileKind::Index, &absent).unwrap();
}

fn test_data() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

fn write_read_ranges(backend: &dyn Backend) {
    let data = test_data();
    let name = name_of(&data);
    backend.write(FileKind::Pack, &name, &data).unwrap();
    assert_eq!(backend.read(FileKind::Pack, &name).unwrap(), data);
    assert_eq!(
        backend.stat(FileKind::Pack, &name).unwrap(),
        data.len() as u64
    );
    assert_eq!(
        backend.read_range(FileKind::Pack, &name, 10, 5).unwrap(),
        &data[10..15]
    );
    assert_eq!(
        backend
            .read_range(FileKind::Pack, &name, 99_990, 10)
            .unwrap(),
        &data[99_990..]
    );
    assert!(backend
        .read_range(FileKind::Pack, &name, 99_990, 11)
        .is_err());
    let mut buf = vec![1, 2, 3];
    backend
        .read_range_into(FileKind::Pack, &name, 0, 4, &mut buf)
        .unwrap();
    assert_eq!(buf, &data[..4]);
    assert!(backend.list(FileKind::Pack).unwrap().contains(&FileInfo {
        name: name.clone(),
        size: 100_000
    }));
}

fn write_if_absent(backend: &dyn Backend) {
    // The same name again is accepted and keeps the content.
    let data = test_data();
    let name = name_of(&data);
    backend.write(FileKind::Pack, &name, &data).unwrap();
    backend.write(FileKind::Pack, &name, &data).unwrap();
    assert_eq!(backend.read(FileKind::Pack, &name).unwrap(), data);
}

fn parts_are_one_file(backend: &dyn Backend) {
    let parts: [&[u8]; 3] = [b"one ", b"two ", b"three"];
    let joined = parts.concat();
    backend
        .write_parts(FileKind::Index, &name_of(&joined), &parts)
        .unwrap();
    assert_eq!(
        backend.read(FileKind::Index, &name_of(&joined)).unwrap(),
        joined
    );
}

fn config_at_root(backend: &dyn Backend) {
    backend.write(FileKind::Config, "", b"cfg").unwrap();
    assert_eq!(backend.read(FileKind::Config, "").unwrap(), b"cfg");
}

fn concurrent_writers(backend: &dyn Backend) {
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for i in 0..50 {
                    let content = format!("snapshot {t} {i}");
                    backend
                        .write(
                            FileKind::Snapshot,
                            &name_of(content.as_bytes()),
                            content.as_bytes(),
                        )
                        .unwrap();
                }
            });
        }
    });
    let listed = backend.list(FileKind::Snapshot).unwrap();
    assert_eq!(listed.len(), 200);
    let probe = b"snapshot 3 49";
    assert_eq!(
        backend.read(FileKind::Snapshot, &name_of(probe)).unwrap(),
        probe
    );
    assert!(listed.iter().all(|f| f.size >= 12));
}

fn empty_file_and_delete(backend: &dyn Backend) {
    let empty = name_of(b"");
    backend.write(FileKind::Lock, &empty, b"").unwrap();
    assert_eq!(backend.read(FileKind::Lock, &empty).unwrap(), b"");
    backend.remove(FileKind::Lock, &empty).unwrap();
    assert!(backend.list(FileKind::Lock).unwrap().is_empty());
    assert!(backend
        .stat(FileKind::Lock, &empty)
        .unwrap_err()
        .is_not_found());
}

fn large_file(backend: &dyn Backend) {
    let big: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 253) as u8).collect();
    let big_name = name_of(&big);
    backend.write(FileKind::Pack, &big_name, &big).unwrap();
    assert_eq!(
        backend.stat(FileKind::Pack, &big_name).unwrap(),
        big.len() as u64
    );
    assert!(backend.read(FileKind::Pack, &big_name).unwrap() == big);
    assert!(backend
        .list(FileKind::Pack)
        .unwrap()
        .iter()
        .any(|f| f.name == big_name));
}

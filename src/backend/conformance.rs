//! The backend conformance suite: every backend must pass it unchanged (the
//! memory and local backends in unit tests, the real servers in `tests/`).
//! A test kit, not used by snap itself: it panics on the first deviation.
//! Files are named by the SHA-256 of their content, as in a repository, so
//! servers that verify names (restic's rest-server, `snap serve`) accept them.

use super::{Backend, FileInfo};
use crate::id::{FileKind, Id};

fn name_of(data: &[u8]) -> String {
    Id::sha256(data).to_hex()
}

/// Runs every check against a freshly created, empty backend.
pub fn run(backend: &dyn Backend) {
    backend.create().unwrap();
    for kind in FileKind::ALL {
        if kind != FileKind::Config {
            assert!(backend.list(kind).unwrap().is_empty(), "{kind:?} not empty");
        }
    }
    // Missing files.
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

    // Write, read, ranged read, stat, list.
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
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
    assert_eq!(
        backend.list(FileKind::Pack).unwrap(),
        vec![FileInfo {
            name: name.clone(),
            size: 100_000
        }]
    );
    // Write-if-absent: the same name again is accepted and keeps the content.
    backend.write(FileKind::Pack, &name, &data).unwrap();
    assert_eq!(backend.read(FileKind::Pack, &name).unwrap(), data);
    // Parts are one file.
    let parts: [&[u8]; 3] = [b"one ", b"two ", b"three"];
    let joined = parts.concat();
    backend
        .write_parts(FileKind::Index, &name_of(&joined), &parts)
        .unwrap();
    assert_eq!(
        backend.read(FileKind::Index, &name_of(&joined)).unwrap(),
        joined
    );

    // Config lives at the root.
    backend.write(FileKind::Config, "", b"cfg").unwrap();
    assert_eq!(backend.read(FileKind::Config, "").unwrap(), b"cfg");

    // Many files, from concurrent writers.
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

    // Empty file, and delete.
    let empty = name_of(b"");
    backend.write(FileKind::Lock, &empty, b"").unwrap();
    assert_eq!(backend.read(FileKind::Lock, &empty).unwrap(), b"");
    backend.remove(FileKind::Lock, &empty).unwrap();
    assert!(backend.list(FileKind::Lock).unwrap().is_empty());
    assert!(backend
        .stat(FileKind::Lock, &empty)
        .unwrap_err()
        .is_not_found());

    // A large file.
    let big: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 253) as u8).collect();
    let big_name = name_of(&big);
    backend.write(FileKind::Pack, &big_name, &big).unwrap();
    assert_eq!(
        backend.stat(FileKind::Pack, &big_name).unwrap(),
        big.len() as u64
    );
    assert!(backend.read(FileKind::Pack, &big_name).unwrap() == big);
    assert_eq!(backend.list(FileKind::Pack).unwrap().len(), 2);
}

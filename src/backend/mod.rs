//! Backends store named files and nothing else (spec §2).
//!
//! A backend never sees keys or plaintext: it lists, stats, reads (whole or a
//! range), writes atomically and deletes files named by [`FileKind`] and a name.
//! The trait is deliberately narrow, with whole-file writes and ranged reads, so it
//! maps onto high-latency object stores with one request per call.

mod faulty;
mod local;
mod memory;
mod retry;

pub use faulty::FaultyBackend;
pub use local::LocalBackend;
pub use memory::MemoryBackend;
pub use retry::{RetryBackend, RetryPolicy};

use crate::id::FileKind;

/// Opens a repository location: a path, or `local:PATH`.
///
/// Remote schemes are recognised so the message can say they are not
/// available in this build rather than creating a folder named `s3:...`.
pub fn from_location(location: &str) -> Result<std::sync::Arc<dyn Backend>, BackendError> {
    let retried = |b: std::sync::Arc<dyn Backend>| -> std::sync::Arc<dyn Backend> {
        std::sync::Arc::new(RetryBackend::new(b, RetryPolicy::default()))
    };
    if let Some(path) = location.strip_prefix("local:") {
        return Ok(retried(std::sync::Arc::new(LocalBackend::new(path))));
    }
    for scheme in ["s3:", "sftp:", "rest:"] {
        if location.starts_with(scheme) {
            return Err(BackendError::Unsupported {
                location: location
                    .split('@')
                    .next_back()
                    .unwrap_or(location)
                    .to_string(),
                scheme: scheme.trim_end_matches(':').to_string(),
            });
        }
    }
    Ok(retried(std::sync::Arc::new(LocalBackend::new(location))))
}

/// A stored file's name and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// The file's name within its kind's folder (no folder part).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Errors of a backend, naming the location and the file.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The file does not exist.
    #[error("{location}: {path} does not exist")]
    NotFound {
        /// The repository location.
        location: String,
        /// The file's path in the repository.
        path: String,
    },
    /// An I/O operation failed.
    #[error("{location}: cannot {action} {path}: {source}")]
    Io {
        /// The repository location.
        location: String,
        /// What was being done (`read`, `write`, `list`...).
        action: &'static str,
        /// The file's path in the repository.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The location's scheme is not supported by this build.
    #[error("{location}: the {scheme} backend is not available in this version of snap; use a local path")]
    Unsupported {
        /// The location (without credentials).
        location: String,
        /// The scheme.
        scheme: String,
    },
    /// A ranged read asked for bytes past the end of the file.
    #[error("{location}: {path} is {size} bytes, shorter than the range {offset}+{len} asked for; the file is truncated")]
    ShortRead {
        /// The repository location.
        location: String,
        /// The file's path in the repository.
        path: String,
        /// Its actual size.
        size: u64,
        /// Requested start.
        offset: u64,
        /// Requested length.
        len: u64,
    },
}

impl BackendError {
    /// True when the error means the file is absent.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BackendError::NotFound { .. })
    }

    /// True when trying again may succeed: timeouts, dropped connections,
    /// interrupted transfers. Absent files, refused permissions, full disks
    /// and malformed requests are permanent and fail at once.
    pub fn is_transient(&self) -> bool {
        use std::io::ErrorKind as K;
        match self {
            BackendError::Io { source, .. } => matches!(
                source.kind(),
                K::TimedOut
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::ConnectionRefused
                    | K::NotConnected
                    | K::BrokenPipe
                    | K::Interrupted
                    | K::WouldBlock
                    | K::UnexpectedEof
            ),
            _ => false,
        }
    }
}

/// A store of named files; see the module documentation.
pub trait Backend: Send + Sync {
    /// Where the files live, for messages (never contains credentials).
    fn location(&self) -> String;

    /// How many uploads should run at once by default: high-latency stores
    /// want several, a local disk one (each pack held in memory costs).
    fn preferred_connections(&self) -> usize {
        4
    }

    /// Prepares an empty repository location (folders, buckets).
    fn create(&self) -> Result<(), BackendError>;

    /// Every file of one kind, in no particular order. Files being written
    /// (temporary names) are never listed.
    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, BackendError>;

    /// The size of one file.
    fn stat(&self, kind: FileKind, name: &str) -> Result<u64, BackendError>;

    /// A whole file.
    fn read(&self, kind: FileKind, name: &str) -> Result<Vec<u8>, BackendError>;

    /// `len` bytes starting at `offset`; fails with `ShortRead` if the file ends
    /// before that.
    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, BackendError>;

    /// As [`Backend::read_range`], into `buf` (replacing its content), so a
    /// caller can reuse one buffer for many reads.
    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        *buf = self.read_range(kind, name, offset, len)?;
        Ok(())
    }

    /// Stores a file atomically: readers see either nothing or all of `data`.
    /// Names are content hashes, so writing a name that exists is a no-op.
    fn write(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<(), BackendError>;

    /// As [`Backend::write`] for a file given as consecutive parts, so large
    /// files need not be copied into one buffer first.
    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        self.write(kind, name, &parts.concat())
    }

    /// Deletes a file; deleting an absent file is not an error.
    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError>;
}

#[cfg(test)]
pub(crate) mod conformance {
    //! The backend conformance suite: every backend must pass it unchanged.
    use super::*;

    /// Runs every check against a freshly created, empty backend.
    pub fn run(backend: &dyn Backend) {
        backend.create().unwrap();
        for kind in FileKind::ALL {
            if kind != FileKind::Config {
                assert!(backend.list(kind).unwrap().is_empty(), "{kind:?} not empty");
            }
        }
        // Missing files.
        assert!(backend
            .read(FileKind::Index, "00aa")
            .unwrap_err()
            .is_not_found());
        assert!(backend
            .stat(FileKind::Index, "00aa")
            .unwrap_err()
            .is_not_found());
        backend.remove(FileKind::Index, "00aa").unwrap();
        // Write, read, ranged read, stat.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        backend.write(FileKind::Pack, "abcdef", &data).unwrap();
        assert_eq!(backend.read(FileKind::Pack, "abcdef").unwrap(), data);
        assert_eq!(
            backend.stat(FileKind::Pack, "abcdef").unwrap(),
            data.len() as u64
        );
        assert_eq!(
            backend.read_range(FileKind::Pack, "abcdef", 10, 5).unwrap(),
            &data[10..15]
        );
        assert_eq!(
            backend
                .read_range(FileKind::Pack, "abcdef", 99_990, 10)
                .unwrap(),
            &data[99_990..]
        );
        assert!(backend
            .read_range(FileKind::Pack, "abcdef", 99_990, 11)
            .is_err());
        assert_eq!(
            backend.list(FileKind::Pack).unwrap(),
            vec![FileInfo {
                name: "abcdef".into(),
                size: 100_000
            }]
        );
        // Write-if-absent: the same name again is accepted and keeps the content.
        backend.write(FileKind::Pack, "abcdef", &data).unwrap();
        assert_eq!(backend.read(FileKind::Pack, "abcdef").unwrap(), data);
        // Config lives at the root.
        backend.write(FileKind::Config, "", b"cfg").unwrap();
        assert_eq!(backend.read(FileKind::Config, "").unwrap(), b"cfg");
        // Many files, concurrently.
        std::thread::scope(|s| {
            for t in 0..4 {
                s.spawn(move || {
                    for i in 0..50 {
                        let name = format!("{t:02x}{i:04x}");
                        backend
                            .write(FileKind::Snapshot, &name, name.as_bytes())
                            .unwrap();
                    }
                });
            }
        });
        let mut names: Vec<_> = backend
            .list(FileKind::Snapshot)
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.sort();
        assert_eq!(names.len(), 200);
        assert_eq!(
            backend.read(FileKind::Snapshot, "030031").unwrap(),
            b"030031"
        );
        // Empty file and delete.
        backend.write(FileKind::Lock, "e0", b"").unwrap();
        assert_eq!(backend.read(FileKind::Lock, "e0").unwrap(), b"");
        backend.remove(FileKind::Lock, "e0").unwrap();
        assert!(backend.list(FileKind::Lock).unwrap().is_empty());
        // Large file.
        let big = vec![7u8; 20 << 20];
        backend.write(FileKind::Pack, "ffee", &big).unwrap();
        assert_eq!(
            backend.read(FileKind::Pack, "ffee").unwrap().len(),
            big.len()
        );
    }
}

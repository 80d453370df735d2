//! Backends store named files and nothing else (spec §2).
//!
//! A backend never sees keys or plaintext: it lists, stats, reads (whole or a
//! range), writes atomically and deletes files named by [`FileKind`] and a name.
//! The trait is deliberately narrow, with whole-file writes and ranged reads, so it
//! maps onto high-latency object stores with one request per call.

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
mod faulty;
mod local;
mod memory;
mod rest;
mod retry;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "sftp")]
mod sftp;

#[cfg(any(test, feature = "testing"))]
pub use faulty::FaultyBackend;
pub use local::LocalBackend;
pub use memory::MemoryBackend;
pub use rest::RestBackend;
pub use retry::{RetryBackend, RetryPolicy};
#[cfg(feature = "s3")]
pub use s3::{S3Backend, S3Location, MULTIPART_THRESHOLD as S3_MULTIPART_THRESHOLD};
#[cfg(feature = "sftp")]
pub use sftp::{SftpBackend, SftpLocation};

use crate::id::FileKind;

/// How to open a location: the retry policy for every backend, and the
/// SFTP options.
#[derive(Clone, Debug, Default)]
pub struct BackendOptions {
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// Keys and host-key checking for `sftp:` locations.
    pub sftp: SftpOptions,
}

/// Opens a repository location: a path, `local:PATH`,
/// `rest:http(s)://[USER:PASS@]HOST:PORT/PATH/`, `s3:...` or `sftp:...`;
/// transient failures are retried by `options.retry`.
pub fn from_location(
    location: &str,
    options: &BackendOptions,
) -> Result<std::sync::Arc<dyn Backend>, BackendError> {
    use std::sync::Arc;
    let inner: Arc<dyn Backend> = if let Some(path) = location.strip_prefix("local:") {
        Arc::new(LocalBackend::new(path))
    } else if let Some(url) = location.strip_prefix("rest:") {
        Arc::new(RestBackend::new(url)?)
    } else if let Some(_rest) = location.strip_prefix("s3:") {
        #[cfg(feature = "s3")]
        {
            Arc::new(S3Backend::new(_rest)?)
        }
        #[cfg(not(feature = "s3"))]
        return Err(not_built(location, "s3"));
    } else if location.starts_with("sftp:") {
        #[cfg(feature = "sftp")]
        {
            Arc::new(SftpBackend::new(location, options.sftp.clone())?)
        }
        #[cfg(not(feature = "sftp"))]
        return Err(not_built(location, "sftp"));
    } else {
        Arc::new(LocalBackend::new(location))
    };
    Ok(Arc::new(RetryBackend::new(inner, options.retry)))
}

#[cfg(not(all(feature = "s3", feature = "sftp")))]
fn not_built(location: &str, feature: &str) -> BackendError {
    BackendError::Location {
        location: location.to_string(),
        reason: format!("this snap was built without the `{feature}` feature"),
    }
}

/// How to authenticate and check an SFTP server (see the `sftp` backend).
#[derive(Clone, Debug, Default)]
pub struct SftpOptions {
    /// A private key file to authenticate with (instead of agent and defaults).
    pub key_file: Option<std::path::PathBuf>,
    /// The known-hosts file (default `~/.ssh/known_hosts`).
    pub known_hosts: Option<std::path::PathBuf>,
    /// Trust and record the host key of a server not yet known.
    pub accept_new_host: bool,
}

/// An error and its causes as one line, each cause once: libraries'
/// top-level messages are often generic ("error sending request",
/// "dispatch failure") with the useful part further down the chain.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = c.source();
    }
    message
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
    /// The repository location cannot be parsed.
    #[error("repository location {location} is invalid: {reason}")]
    Location {
        /// The location (without credentials).
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A server answered with an error status.
    #[error("{location}: cannot {action} {path}: HTTP {message}")]
    Http {
        /// The repository location.
        location: String,
        /// What was being done.
        action: &'static str,
        /// The file's path in the repository.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The status, the server's words and what to check.
        message: String,
    },
    /// The server accepted the credentials but its policy forbids the
    /// request (HTTP 403): an append-only server refusing a delete or an
    /// overwrite, or another user's private repository. Never retried.
    #[error("{location}: cannot {action} {path}: forbidden by the server (HTTP 403): {message}")]
    Forbidden {
        /// The repository location.
        location: String,
        /// What was being done.
        action: &'static str,
        /// The file's path in the repository.
        path: String,
        /// The server's words and what to do.
        message: String,
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
    /// An `Io` error made from a kind and a message (the kind decides
    /// whether it is transient, see [`BackendError::is_transient`]).
    pub fn io(
        location: String,
        action: &'static str,
        path: &str,
        kind: std::io::ErrorKind,
        message: String,
    ) -> BackendError {
        BackendError::Io {
            location,
            action,
            path: path.to_string(),
            source: std::io::Error::new(kind, message),
        }
    }

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
            BackendError::Http { status, .. } => matches!(status, 408 | 429 | 500..=599),
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

    /// `len` bytes starting at `offset` into `buf` (replacing its content),
    /// so a caller can reuse one buffer for many reads; fails with
    /// `ShortRead` if the file ends before that.
    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError>;

    /// As [`Backend::read_range_into`], into a new buffer.
    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, BackendError> {
        let mut buf = Vec::new();
        self.read_range_into(kind, name, offset, len, &mut buf)?;
        Ok(buf)
    }

    /// Stores a file given as consecutive parts (so large files need not be
    /// copied into one buffer first) atomically: readers see either nothing
    /// or all of it. Names are content hashes, so writing a name that exists
    /// is a no-op.
    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError>;

    /// As [`Backend::write_parts`] for a file in one piece.
    fn write(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<(), BackendError> {
        self.write_parts(kind, name, &[data])
    }

    /// Deletes a file; deleting an absent file is not an error.
    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError>;

    /// Deletes temporary files of writes that never finished (a killed
    /// process's `.tmp-*` files) whose last change is older than
    /// `older_than`: a write in progress keeps changing its file, so it is
    /// never that old. Returns how many went. Stores whose uploads are
    /// atomic by themselves (S3, REST) have none.
    fn remove_stale_temporaries(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, BackendError> {
        let _ = older_than;
        Ok(0)
    }
}

/// Temporary files younger than this are left alone by
/// [`Backend::remove_stale_temporaries`] when backups and prune call it.
pub const STALE_TEMPORARY_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The prefix of temporary files of local and SFTP writes.
pub const TEMPORARY_PREFIX: &str = ".tmp-";

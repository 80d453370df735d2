//! `FaultyBackend`: a fault-injecting wrapper for tests of retries and of
//! what a failed backup leaves behind. Every `every`-th call fails before it
//! reaches the inner backend, so nothing partial is ever stored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Backend, BackendError, FileInfo};
use crate::id::FileKind;

/// Fails every `every`-th call, with a transient (connection reset) or a
/// permanent (permission denied) error.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    every: u64,
    transient: bool,
    calls: AtomicU64,
    injected: AtomicU64,
}

impl FaultyBackend {
    /// Wraps `inner`; `every` = 1 fails every call.
    pub fn new(inner: Arc<dyn Backend>, every: u64, transient: bool) -> FaultyBackend {
        FaultyBackend {
            inner,
            every: every.max(1),
            transient,
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        }
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn gate(&self, action: &'static str, path: String) -> Result<(), BackendError> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if n % self.every != 0 {
            return Ok(());
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        let kind = if self.transient {
            std::io::ErrorKind::ConnectionReset
        } else {
            std::io::ErrorKind::PermissionDenied
        };
        Err(BackendError::Io {
            location: self.inner.location(),
            action,
            path,
            source: std::io::Error::new(kind, "injected fault"),
        })
    }
}

impl Backend for FaultyBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> Result<(), BackendError> {
        self.gate("create", String::new())?;
        self.inner.create()
    }

    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, BackendError> {
        self.gate("list", kind.dir().into())?;
        self.inner.list(kind)
    }

    fn stat(&self, kind: FileKind, name: &str) -> Result<u64, BackendError> {
        self.gate("stat", kind.path(name))?;
        self.inner.stat(kind, name)
    }

    fn read(&self, kind: FileKind, name: &str) -> Result<Vec<u8>, BackendError> {
        self.gate("read", kind.path(name))?;
        self.inner.read(kind, name)
    }

    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        self.gate("read", kind.path(name))?;
        self.inner.read_range_into(kind, name, offset, len, buf)
    }

    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        self.gate("write", kind.path(name))?;
        self.inner.write_parts(kind, name, parts)
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError> {
        self.gate("delete", kind.path(name))?;
        self.inner.remove(kind, name)
    }
}

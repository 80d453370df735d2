//! An in-memory backend, for tests and fault injection.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Backend, BackendError, FileInfo};
use crate::id::FileKind;

/// Files kept in a map; nothing survives the process.
#[derive(Default)]
pub struct MemoryBackend {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock leaves a consistent map.
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn not_found(path: String) -> BackendError {
        BackendError::NotFound {
            location: "memory".into(),
            path,
        }
    }
}

impl Backend for MemoryBackend {
    fn location(&self) -> String {
        "memory".into()
    }

    fn create(&self) -> Result<(), BackendError> {
        Ok(())
    }

    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, BackendError> {
        let prefix = format!("{}/", kind.dir());
        Ok(self
            .lock()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| FileInfo {
                name: k.rsplit('/').next().unwrap_or_default().to_string(),
                size: v.len() as u64,
            })
            .collect())
    }

    fn stat(&self, kind: FileKind, name: &str) -> Result<u64, BackendError> {
        let path = kind.path(name);
        self.lock()
            .get(&path)
            .map(|v| v.len() as u64)
            .ok_or_else(|| Self::not_found(path))
    }

    fn read(&self, kind: FileKind, name: &str) -> Result<Vec<u8>, BackendError> {
        let path = kind.path(name);
        self.lock()
            .get(&path)
            .cloned()
            .ok_or_else(|| Self::not_found(path))
    }

    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        let path = kind.path(name);
        let files = self.lock();
        let data = files
            .get(&path)
            .ok_or_else(|| Self::not_found(path.clone()))?;
        let end = offset.checked_add(len).filter(|&e| e <= data.len() as u64);
        match end {
            Some(end) => {
                buf.clear();
                buf.extend_from_slice(&data[offset as usize..end as usize]);
                Ok(())
            }
            None => Err(BackendError::ShortRead {
                location: "memory".into(),
                path,
                size: data.len() as u64,
                offset,
                len,
            }),
        }
    }

    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        self.lock()
            .entry(kind.path(name))
            .or_insert_with(|| parts.concat());
        Ok(())
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError> {
        self.lock().remove(&kind.path(name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        crate::backend::conformance::run(&super::MemoryBackend::new());
    }
}

//! The local file-system backend.
//!
//! Writes go to a hidden temporary file in the destination folder, are fsync'ed,
//! then renamed into place and the folder fsync'ed, so a crash leaves either the
//! whole file or nothing under the final name (leftover `.tmp-*` files are never
//! listed, and backups and prune remove those an hour old).

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::{Backend, BackendError, FileInfo};
use crate::id::FileKind;

/// A repository in a local folder.
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    /// A backend rooted at `root` (which need not exist before `create`).
    pub fn new(root: impl Into<PathBuf>) -> LocalBackend {
        LocalBackend { root: root.into() }
    }

    fn err(&self, action: &'static str, path: &str, source: std::io::Error) -> BackendError {
        if source.kind() == ErrorKind::NotFound && action != "write" {
            BackendError::NotFound {
                location: self.location(),
                path: path.to_string(),
            }
        } else {
            BackendError::Io {
                location: self.location(),
                action,
                path: path.to_string(),
                source,
            }
        }
    }

    fn write_new(&self, full: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
        let dir = full.parent().unwrap_or(&self.root);
        let mut tmp = tempfile::Builder::new()
            .prefix(super::TEMPORARY_PREFIX)
            .tempfile_in(dir)?;
        for part in parts {
            tmp.write_all(part)?;
        }
        tmp.as_file().sync_data()?;
        // `persist_noclobber` refuses to replace: names are content hashes, so an
        // existing file already holds these bytes.
        match tmp.persist_noclobber(full) {
            Ok(_) => {}
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(e.error),
        }
        fs::File::open(dir)?.sync_all()
    }
}

impl Backend for LocalBackend {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    /// Two: hashing, writing and fsync-ing one pack while the next is
    /// finished keeps a first backup from waiting on the disk's flushes.
    fn preferred_connections(&self) -> usize {
        2
    }

    fn create(&self) -> Result<(), BackendError> {
        for kind in FileKind::ALL {
            let dir = self.root.join(kind.dir());
            fs::create_dir_all(&dir).map_err(|e| self.err("write", kind.dir(), e))?;
        }
        Ok(())
    }

    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, BackendError> {
        let dir = self.root.join(kind.dir());
        let mut out = Vec::new();
        let mut folders = vec![dir];
        while let Some(folder) = folders.pop() {
            let entries = match fs::read_dir(&folder) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err("list", kind.dir(), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.err("list", kind.dir(), e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let meta = entry
                    .metadata()
                    .map_err(|e| self.err("list", kind.dir(), e))?;
                if meta.is_dir() {
                    // Only packs live in sub-folders (data/ab/...).
                    if kind == FileKind::Pack {
                        folders.push(entry.path());
                    }
                } else {
                    out.push(FileInfo {
                        name,
                        size: meta.len(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn stat(&self, kind: FileKind, name: &str) -> Result<u64, BackendError> {
        let path = kind.path(name);
        fs::metadata(self.root.join(&path))
            .map(|m| m.len())
            .map_err(|e| self.err("stat", &path, e))
    }

    fn read(&self, kind: FileKind, name: &str) -> Result<Vec<u8>, BackendError> {
        let path = kind.path(name);
        fs::read(self.root.join(&path)).map_err(|e| self.err("read", &path, e))
    }

    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        use std::os::unix::fs::FileExt;
        let path = kind.path(name);
        let file = fs::File::open(self.root.join(&path)).map_err(|e| self.err("read", &path, e))?;
        let size = file
            .metadata()
            .map_err(|e| self.err("read", &path, e))?
            .len();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(BackendError::ShortRead {
                location: self.location(),
                path,
                size,
                offset,
                len,
            });
        }
        buf.clear();
        buf.resize(len as usize, 0);
        file.read_exact_at(buf, offset)
            .map_err(|e| self.err("read", &path, e))
    }

    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        let path = kind.path(name);
        let full = self.root.join(&path);
        if full.exists() {
            return Ok(());
        }
        let result = match self.write_new(&full, parts) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // The pack sub-folder is made on first use.
                let parent = full.parent().unwrap_or(&self.root);
                fs::create_dir_all(parent).and_then(|_| self.write_new(&full, parts))
            }
            other => other,
        };
        result.map_err(|e| self.err("write", &path, e))
    }

    fn remove_stale_temporaries(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, BackendError> {
        let mut removed = 0;
        let mut folders: Vec<PathBuf> = FileKind::ALL
            .iter()
            .map(|k| self.root.join(k.dir()))
            .collect();
        while let Some(folder) = folders.pop() {
            let Ok(entries) = fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let name = entry.file_name();
                if meta.is_dir() {
                    folders.push(entry.path());
                    continue;
                }
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age >= older_than);
                let temporary = name.to_string_lossy().starts_with(super::TEMPORARY_PREFIX);
                if temporary && old && fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError> {
        let path = kind.path(name);
        match fs::remove_file(self.root.join(&path)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(self.err("delete", &path, e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        crate::backend::conformance::run(&super::LocalBackend::new(dir.path().join("repo")));
    }
}

//! Staging: every blob a live change will write, read and authenticated
//! before the first change, so a damaged blob leaves the destination as it
//! was (a running etcd cluster above all). Blobs are kept in memory up to
//! [`MEMORY_BUDGET`], the rest in one spool file that is unlinked as soon as
//! it is created (nothing is left behind, even after a kill) in the cache
//! folder ([`spool_dir`]).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::fetch::fetch_blobs;
use super::RestoreError;
use crate::id::BlobId;
use crate::repo::Repository;

/// Plaintext bytes kept in memory before spilling to the spool file.
pub const MEMORY_BUDGET: u64 = 64 << 20;

enum Place {
    Memory(Vec<u8>),
    Spool { offset: u64, len: u32 },
}

/// Blobs read ahead; see the module documentation.
pub struct BlobStage {
    places: HashMap<BlobId, Place>,
    spool: Option<File>,
    /// Bytes staged in all.
    pub bytes: u64,
    /// Bytes of them in the spool file.
    pub spooled: u64,
}

/// Where spool files go: `SNAP_CACHE_DIR`, else `$XDG_CACHE_HOME/snap`, else
/// `~/.cache/snap`, else the system's temporary folder.
pub fn spool_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SNAP_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("snap");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache/snap");
    }
    std::env::temp_dir()
}

/// The first blob that could not be staged, and how many could not.
#[derive(Debug)]
pub struct StageFailure {
    /// The blob.
    pub blob: BlobId,
    /// Why (not indexed, pack missing or unreadable, damaged).
    pub reason: String,
    /// Blobs that failed in all.
    pub count: usize,
}

impl BlobStage {
    /// Reads and authenticates every blob of `ids`. `Ok(Err(_))` names the
    /// first blob that failed: nothing may be changed then.
    pub fn fill(
        repo: &Repository,
        ids: &[BlobId],
        threads: usize,
    ) -> Result<Result<BlobStage, StageFailure>, RestoreError> {
        let in_memory = AtomicU64::new(0);
        let spooled = AtomicU64::new(0);
        let spool: Mutex<Option<File>> = Mutex::new(None);
        let places: Mutex<HashMap<BlobId, Place>> = Mutex::new(HashMap::new());
        let failures: Mutex<Vec<(BlobId, String)>> = Mutex::new(Vec::new());
        fetch_blobs(repo, ids, threads, &|id, plain| {
            let plain = match plain {
                Ok(p) => p,
                Err(why) => {
                    lock(&failures).push((*id, why));
                    return Ok(());
                }
            };
            let len = plain.len() as u64;
            let place = if in_memory.fetch_add(len, Ordering::Relaxed) + len <= MEMORY_BUDGET {
                Place::Memory(plain.to_vec())
            } else {
                in_memory.fetch_sub(len, Ordering::Relaxed);
                let offset = spooled.fetch_add(len, Ordering::Relaxed);
                let mut file = lock(&spool);
                if file.is_none() {
                    let dir = spool_dir();
                    std::fs::create_dir_all(&dir).map_err(|e| spool_err(&dir, e))?;
                    *file = Some(tempfile::tempfile_in(&dir).map_err(|e| spool_err(&dir, e))?);
                }
                let f = file.as_ref().expect("created above");
                // Writes at distinct offsets need no lock; holding it is
                // simpler and the disk is the limit anyway.
                f.write_all_at(plain, offset)
                    .map_err(|e| spool_err(&spool_dir(), e))?;
                Place::Spool {
                    offset,
                    len: len as u32,
                }
            };
            lock(&places).insert(*id, place);
            Ok(())
        })?;
        let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
        if !failures.is_empty() {
            failures.sort_by_key(|(b, _)| *b);
            let count = failures.len();
            let (blob, reason) = failures.swap_remove(0);
            return Ok(Err(StageFailure {
                blob,
                reason,
                count,
            }));
        }
        let spooled = spooled.into_inner();
        Ok(Ok(BlobStage {
            places: places.into_inner().unwrap_or_else(|e| e.into_inner()),
            spool: spool.into_inner().unwrap_or_else(|e| e.into_inner()),
            bytes: in_memory.into_inner() + spooled,
            spooled,
        }))
    }

    /// Appends a staged blob's plaintext to `out`.
    pub fn append(&self, id: &BlobId, out: &mut Vec<u8>) -> Result<(), RestoreError> {
        match self.places.get(id) {
            Some(Place::Memory(bytes)) => out.extend_from_slice(bytes),
            Some(Place::Spool { offset, len }) => {
                let at = out.len();
                out.resize(at + *len as usize, 0);
                let file = self.spool.as_ref().ok_or_else(|| RestoreError::Unsafe {
                    path: id.to_hex(),
                    reason: "a spooled blob without a spool file".into(),
                })?;
                file.read_exact_at(&mut out[at..], *offset)
                    .map_err(|e| spool_err(&spool_dir(), e))?;
            }
            None => {
                return Err(RestoreError::Unsafe {
                    path: id.to_hex(),
                    reason: "a blob used without being staged first".into(),
                })
            }
        }
        Ok(())
    }
}

fn spool_err(dir: &std::path::Path, e: std::io::Error) -> RestoreError {
    RestoreError::Io {
        action: "stage data in a spool file under",
        path: dir.display().to_string(),
        source: e,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemoryBackend;
    use crate::crypto::KdfParams;
    use crate::repo::InitOptions;

    #[test]
    fn blobs_past_the_memory_budget_go_to_the_spool_and_come_back() {
        let options = InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let backend = std::sync::Arc::new(MemoryBackend::new());
        let mut repo = Repository::init(backend, b"pw", &options).unwrap();
        let saver = repo.blob_saver(1);
        let mut ids = Vec::new();
        let mut values = Vec::new();
        // 80 distinct 1 MiB blobs: 64 in memory, 16 spooled.
        for i in 0..80u32 {
            let value: Vec<u8> = (0..1 << 20)
                .map(|j: u32| (j.wrapping_mul(i + 1) >> 3) as u8)
                .collect();
            let (id, _) = saver.save(crate::pack::BlobKind::Data, &value).unwrap();
            ids.push(id);
            values.push(value);
        }
        saver.finish().unwrap();
        repo.load_index().unwrap();
        let stage = BlobStage::fill(&repo, &ids, 2).unwrap().unwrap();
        assert_eq!(stage.bytes, 80 << 20);
        assert!(stage.spooled >= 16 << 20, "{}", stage.spooled);
        for (id, value) in ids.iter().zip(&values) {
            let mut out = Vec::new();
            stage.append(id, &mut out).unwrap();
            assert!(out == *value);
        }
        // A blob that is not in the repository fails the whole stage.
        let mut with_missing = ids[..2].to_vec();
        with_missing.push(BlobId(crate::id::Id([7; 32])));
        let failed = BlobStage::fill(&repo, &with_missing, 2)
            .unwrap()
            .err()
            .unwrap();
        assert_eq!(failed.count, 1);
        assert!(
            failed.reason.contains("not in the index"),
            "{}",
            failed.reason
        );
    }
}

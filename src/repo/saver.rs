//! `BlobSaver`: deduplicates, seals and packs new blobs, uploads finished packs
//! on background threads, and indexes them as they land (spec §8: packs,
//! then index, then snapshot).
//!
//! Index files are written during the session, so an interrupted backup
//! (Ctrl-C, a kill, a lost connection) leaves most of what it uploaded
//! indexed, and the next backup reuses it instead of uploading it again
//! (spec §8.1). The packs of one **generation** (up to
//! [`MAX_BLOBS_PER_INDEX_FILE`] blobs) are listed in one cumulative file,
//! rewritten when the packs not yet indexed reach an eighth of it (at least
//! [`INDEX_EVERY_PACKS`]) or [`INDEX_EVERY`] has passed; each rewrite
//! supersedes the one before, which is then deleted. So at most one index
//! file per generation remains, and rewrites cost a few times its size.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::{Receiver, Sender};

use super::{RepoError, Repository};
use crate::backend::Backend;
use crate::crypto::{MasterKey, SealKind};
use crate::id::{BlobId, FileKind, IndexId};
use crate::index::{IndexFile, IndexPack, MAX_BLOBS_PER_INDEX_FILE};
use crate::pack::{seal_blob_with, BlobKind, BlobScratch, FinishedPack, PackEntry, PackWriter};

/// What a save session stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaveStats {
    /// New blobs stored.
    pub blobs_added: u64,
    /// Their plaintext bytes.
    pub raw_bytes_added: u64,
    /// Bytes written to the backend (packs and index files).
    pub stored_bytes_added: u64,
    /// Packs written.
    pub packs_written: u64,
    /// Index files written.
    pub index_files: Vec<IndexId>,
}

/// Packs stored before the first index file of a generation is written
/// (and the least between rewrites).
pub const INDEX_EVERY_PACKS: usize = 4;

/// Longest time packs wait to be indexed.
pub const INDEX_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Largest sealing buffer a slot keeps between blobs.
const SEALED_KEEP: usize = 2 << 20;

/// What one blob's compression and sealing needs: a zstd context and two
/// buffers, reused, one per thread. Memory stays bounded without making
/// threads wait for each other: large blobs come only from large files,
/// whose reads the archiver's byte budget already limits, and large buffers
/// are not kept between blobs.
#[derive(Default)]
struct SealSlot {
    scratch: BlobScratch,
    sealed: Vec<u8>,
}

thread_local! {
    static SLOT: std::cell::RefCell<SealSlot> = std::cell::RefCell::new(SealSlot::default());
}

struct Shared {
    /// Buffers of uploaded packs, reused for new ones: a fresh 16 MiB buffer
    /// costs thousands of page faults.
    spare: Mutex<Vec<Vec<u8>>>,
    index: Mutex<IndexState>,
    error: Mutex<Option<RepoError>>,
    stored_bytes: AtomicU64,
    packs_written: AtomicU64,
    backend: Arc<dyn Backend>,
    key: MasterKey,
    locks: Arc<super::lock::HeldLocks>,
}

/// The index of the packs stored so far.
struct IndexState {
    /// The current generation's packs, all of them.
    current: IndexFile,
    /// Its blobs.
    blobs: usize,
    /// The file that lists the generation's packs so far, if written.
    written: Option<IndexId>,
    /// Packs of the generation not in `written` yet.
    pending: usize,
    /// When `written` was stored (or the generation began).
    since: std::time::Instant,
    /// Files of full generations.
    done: Vec<IndexId>,
}

impl Shared {
    /// Records a stored pack, and indexes what is pending when it is time.
    fn stored(&self, pack: IndexPack) -> Result<(), RepoError> {
        let mut state = lock(&self.index);
        state.blobs += pack.blobs.len();
        state.current.packs.push(pack);
        state.pending += 1;
        let full = state.blobs >= MAX_BLOBS_PER_INDEX_FILE;
        let due = state.pending >= INDEX_EVERY_PACKS.max(state.current.packs.len() / 8)
            || state.since.elapsed() >= INDEX_EVERY;
        if full || due {
            self.write_index(&mut state)?;
        }
        if full {
            let id = state.written.take().expect("just written");
            state.done.push(id);
            state.current = IndexFile::default();
            state.blobs = 0;
        }
        Ok(())
    }

    /// Writes the generation's file, superseding the one before, then
    /// deletes that one (spec §7.1 order).
    fn write_index(&self, state: &mut IndexState) -> Result<(), RepoError> {
        if state.pending == 0 {
            return Ok(());
        }
        state.current.supersedes = state.written.into_iter().collect();
        let plain = state.current.encode_plaintext();
        let id = IndexId(super::store_sealed(
            &*self.backend,
            &self.key,
            &self.locks,
            FileKind::Index,
            SealKind::Index,
            &plain,
        )?);
        self.stored_bytes.fetch_add(
            (plain.len() + crate::crypto::SEAL_OVERHEAD) as u64,
            Ordering::Relaxed,
        );
        if let Some(old) = state.written.replace(id) {
            // Superseded: harmless if left behind by a crash.
            let _ = self.backend.remove(FileKind::Index, &old.to_hex());
        }
        state.pending = 0;
        state.since = std::time::Instant::now();
        Ok(())
    }
}

/// The blobs saved in this session: a sorted vector (32 bytes a blob, so a
/// backup of millions of new files stays lean) and a small hash set of the
/// latest, merged into the vector when it grows.
#[derive(Default)]
struct SeenBlobs {
    sorted: Vec<BlobId>,
    recent: HashSet<BlobId>,
}

/// Blobs kept in the hash set before a merge.
const SEEN_RECENT: usize = 1 << 16;

impl SeenBlobs {
    fn contains(&self, id: &BlobId) -> bool {
        self.recent.contains(id) || self.sorted.binary_search(id).is_ok()
    }

    /// Adds `id`; false if it was there.
    fn insert(&mut self, id: BlobId) -> bool {
        if self.sorted.binary_search(&id).is_ok() || !self.recent.insert(id) {
            return false;
        }
        if self.recent.len() >= SEEN_RECENT {
            self.sorted.extend(self.recent.drain());
            self.sorted.sort_unstable();
        }
        true
    }
}

/// Stores new blobs for one backup; see the module documentation.
///
/// Blobs already in the loaded index, or saved earlier in this session, are
/// skipped. Call [`BlobSaver::finish`] to flush; dropping it without finishing
/// leaves only unindexed packs, which are harmless (spec §8).
pub struct BlobSaver<'r> {
    repo: &'r Repository,
    seen: Mutex<SeenBlobs>,
    data: Mutex<PackWriter>,
    tree: Mutex<PackWriter>,
    sender: Option<Sender<PackWriter>>,
    uploaders: Vec<thread::JoinHandle<()>>,
    shared: Arc<Shared>,
    blobs_added: AtomicU64,
    raw_bytes_added: AtomicU64,
}

impl<'r> BlobSaver<'r> {
    pub(super) fn new(repo: &'r Repository, connections: usize) -> BlobSaver<'r> {
        // A rendezvous channel: a full pack waits for a free uploader, which
        // bounds memory to one pack per uploader plus the open ones.
        let (tx, rx) = crossbeam_channel::bounded::<PackWriter>(0);
        let shared = Arc::new(Shared {
            spare: Mutex::new(Vec::new()),
            index: Mutex::new(IndexState {
                current: IndexFile::default(),
                blobs: 0,
                written: None,
                pending: 0,
                since: std::time::Instant::now(),
                done: Vec::new(),
            }),
            error: Mutex::new(None),
            stored_bytes: AtomicU64::new(0),
            packs_written: AtomicU64::new(0),
            backend: Arc::clone(&repo.backend),
            key: repo.key.clone(),
            locks: Arc::clone(&repo.locks),
        });
        let uploaders = (0..connections.max(1))
            .map(|_| {
                let rx = rx.clone();
                let shared = Arc::clone(&shared);
                thread::spawn(move || upload_loop(rx, shared))
            })
            .collect();
        BlobSaver {
            repo,
            seen: Mutex::new(SeenBlobs::default()),
            data: Mutex::new(PackWriter::new(BlobKind::Data)),
            tree: Mutex::new(PackWriter::new(BlobKind::Tree)),
            sender: Some(tx),
            uploaders,
            shared,
            blobs_added: AtomicU64::new(0),
            raw_bytes_added: AtomicU64::new(0),
        }
    }

    /// The ID `plain` has in this repository.
    pub fn blob_id(&self, plain: &[u8]) -> BlobId {
        self.repo.key.blob_id(plain)
    }

    /// True if the blob is stored already or was saved in this session.
    pub fn is_known(&self, id: &BlobId) -> bool {
        self.repo.index.is_live(id) || lock(&self.seen).contains(id)
    }

    /// Saves a blob unless known; returns its ID and whether it was new.
    pub fn save(&self, kind: BlobKind, plain: &[u8]) -> Result<(BlobId, bool), RepoError> {
        let id = self.blob_id(plain);
        let new = self.save_with_id(kind, id, plain)?;
        Ok((id, new))
    }

    /// As [`BlobSaver::save`] with the ID already computed.
    pub fn save_with_id(
        &self,
        kind: BlobKind,
        id: BlobId,
        plain: &[u8],
    ) -> Result<bool, RepoError> {
        // A lost lock stops the backup at its next blob, stored or not, and
        // so does Ctrl-C.
        self.repo.check_locks()?;
        if crate::interrupt::requested() {
            return Err(RepoError::Interrupted);
        }
        if plain.len() > crate::pack::MAX_BLOB_SIZE as usize {
            return Err(RepoError::Config {
                reason: format!(
                    "a {kind:?} blob of {} bytes exceeds the {} byte limit (a folder with too many entries?)",
                    plain.len(),
                    crate::pack::MAX_BLOB_SIZE
                ),
            });
        }
        if self.repo.index.is_live(&id) || !lock(&self.seen).insert(id) {
            return Ok(false);
        }
        self.check_error()?;
        let pack_size = self.repo.config.pack_size as usize;
        let level = self.repo.config.compression_level;
        let full = SLOT.with(|cell| {
            let mut slot = cell.borrow_mut();
            let SealSlot { scratch, sealed } = &mut *slot;
            sealed.clear();
            let compression = seal_blob_with(&self.repo.key, kind, plain, level, scratch, sealed);
            let packer = match kind {
                BlobKind::Data => &self.data,
                BlobKind::Tree => &self.tree,
            };
            let mut p = lock(packer);
            if p.is_empty() && kind == BlobKind::Data {
                p.reserve(pack_size + (1 << 20));
            }
            p.add(id, compression, plain.len() as u32, sealed);
            let full = p.size() >= pack_size as u64;
            let full = full.then(|| {
                let spare = lock(&self.shared.spare).pop().unwrap_or_default();
                std::mem::replace(&mut *p, PackWriter::with_buffer(kind, spare))
            });
            drop(p);
            if sealed.capacity() > SEALED_KEEP {
                *sealed = Vec::new();
            }
            full
        });
        self.blobs_added.fetch_add(1, Ordering::Relaxed);
        self.raw_bytes_added
            .fetch_add(plain.len() as u64, Ordering::Relaxed);
        if let Some(pack) = full {
            self.send(pack)?;
        }
        Ok(true)
    }

    /// Stores an already sealed blob as it is (prune moving a blob to a new
    /// pack): no index check, no compression, just packing. The caller has
    /// verified it.
    pub fn save_sealed(&self, entry: &PackEntry, sealed: &[u8]) -> Result<bool, RepoError> {
        self.repo.check_locks()?;
        if !lock(&self.seen).insert(entry.id) {
            return Ok(false);
        }
        self.check_error()?;
        let pack_size = self.repo.config.pack_size as u64;
        let packer = match entry.kind {
            BlobKind::Data => &self.data,
            BlobKind::Tree => &self.tree,
        };
        let full = {
            let mut p = lock(packer);
            p.add(entry.id, entry.compression, entry.raw_len, sealed);
            (p.size() >= pack_size).then(|| {
                let spare = lock(&self.shared.spare).pop().unwrap_or_default();
                std::mem::replace(&mut *p, PackWriter::with_buffer(entry.kind, spare))
            })
        };
        self.blobs_added.fetch_add(1, Ordering::Relaxed);
        self.raw_bytes_added
            .fetch_add(entry.raw_len as u64, Ordering::Relaxed);
        if let Some(pack) = full {
            self.send(pack)?;
        }
        Ok(true)
    }

    fn send(&self, pack: PackWriter) -> Result<(), RepoError> {
        let sent = self
            .sender
            .as_ref()
            .map(|s| s.send(pack).is_ok())
            .unwrap_or(false);
        if !sent {
            self.check_error()?;
        }
        Ok(())
    }

    fn check_error(&self) -> Result<(), RepoError> {
        match lock(&self.shared.error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Flushes open packs, waits for every upload, then indexes what is
    /// not indexed yet. Also the way to end an interrupted session: what
    /// was stored is indexed, for the next backup to reuse.
    pub fn finish(mut self) -> Result<SaveStats, RepoError> {
        self.repo.check_locks()?;
        for packer in [&self.data, &self.tree] {
            let pack = std::mem::replace(&mut *lock(packer), PackWriter::new(BlobKind::Data));
            if !pack.is_empty() {
                self.send(pack)?;
            }
        }
        drop(self.sender.take());
        for t in self.uploaders.drain(..) {
            let _ = t.join();
        }
        self.check_error()?;
        let mut state = lock(&self.shared.index);
        self.shared.write_index(&mut state)?;
        let mut index_files = std::mem::take(&mut state.done);
        index_files.extend(state.written);
        drop(state);
        Ok(SaveStats {
            blobs_added: self.blobs_added.load(Ordering::Relaxed),
            raw_bytes_added: self.raw_bytes_added.load(Ordering::Relaxed),
            stored_bytes_added: self.shared.stored_bytes.load(Ordering::Relaxed),
            packs_written: self.shared.packs_written.load(Ordering::Relaxed),
            index_files,
        })
    }

    /// Bytes stored so far (packs and index files).
    pub fn stored_bytes(&self) -> u64 {
        self.shared.stored_bytes.load(Ordering::Relaxed)
    }
}

impl Drop for BlobSaver<'_> {
    fn drop(&mut self) {
        drop(self.sender.take());
        for t in self.uploaders.drain(..) {
            let _ = t.join();
        }
    }
}

fn upload_loop(rx: Receiver<PackWriter>, shared: Arc<Shared>) {
    for pack in rx {
        if lock(&shared.error).is_some() {
            continue;
        }
        if let Err(lost) = shared.locks.check(|| shared.backend.location()) {
            lock(&shared.error).get_or_insert(lost);
            continue;
        }
        let finished = pack.finish(&shared.key);
        let name = finished.id.to_hex();
        let stored = shared
            .backend
            .write_parts(FileKind::Pack, &name, &finished.parts())
            .map_err(RepoError::from)
            .and_then(|()| {
                shared
                    .stored_bytes
                    .fetch_add(finished.len(), Ordering::Relaxed);
                shared.packs_written.fetch_add(1, Ordering::Relaxed);
                let FinishedPack { id, entries, .. } = &finished;
                shared.stored(IndexPack {
                    id: *id,
                    blobs: entries.clone(),
                })
            });
        match stored {
            Ok(()) => {
                let mut spare = lock(&shared.spare);
                if spare.is_empty() {
                    spare.push(finished.into_buffer());
                }
            }
            Err(e) => {
                lock(&shared.error).get_or_insert(e);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A worker that panicked holding the lock left consistent data behind:
    // every critical section here is a single insert or swap.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;

    fn blob(n: u32) -> BlobId {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&n.to_le_bytes());
        BlobId(Id(id))
    }

    #[test]
    fn seen_blobs_stay_found_across_merges() {
        let mut seen = SeenBlobs::default();
        let n = SEEN_RECENT as u32 * 2 + 17;
        for i in 0..n {
            assert!(seen.insert(blob(i)), "{i} is new");
        }
        assert!(seen.recent.len() < SEEN_RECENT, "merged into the vector");
        for i in (0..n).step_by(97) {
            assert!(seen.contains(&blob(i)));
            assert!(!seen.insert(blob(i)), "{i} was seen");
        }
        assert!(!seen.contains(&blob(n)));
    }
}

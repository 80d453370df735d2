//! Reading many blobs: grouped by pack, neighbours fetched together in
//! ranges of a few MiB, packs read in parallel, each blob authenticated
//! (§6.1) before its plaintext is handed on.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rayon::prelude::*;

use super::RestoreError;
use crate::id::{BlobId, FileKind, PackId};
use crate::index::BlobLocation;
use crate::pack::open_blob_into;
use crate::repo::{blob_err, RepoError, Repository};

/// Largest single read from a pack; neighbouring blobs are fetched together
/// up to this size, so most packs are read in a few requests.
const MAX_READ: u64 = 4 << 20;

/// Largest plaintext buffer a thread keeps between blobs.
const PLAIN_KEEP: usize = 2 << 20;

thread_local! {
    static PLAIN: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    // One pack range per thread, at most MAX_READ bytes (or one blob).
    static RANGE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What [`fetch_blobs`] calls with each blob: its verified plaintext, or
/// why it cannot be had.
pub type BlobVisitor<'a> =
    dyn Fn(&BlobId, Result<&[u8], String>) -> Result<(), RestoreError> + Sync + 'a;

/// Reads every blob of `ids` (duplicates are read once) on `threads`
/// threads and calls `visit` with each blob's verified plaintext, or with
/// why it cannot be had (not indexed, pack unreadable, damaged). An error
/// `visit` returns stops the reading and is returned; so does Ctrl-C
/// ([`RestoreError::Interrupted`]).
pub fn fetch_blobs<'i>(
    repo: &Repository,
    ids: impl IntoIterator<Item = &'i BlobId>,
    threads: usize,
    visit: &BlobVisitor<'_>,
) -> Result<(), RestoreError> {
    let mut by_pack: BTreeMap<PackId, Vec<(BlobId, BlobLocation)>> = BTreeMap::new();
    let mut unindexed = Vec::new();
    for id in ids {
        match repo.index().get(id) {
            Some(loc) => by_pack.entry(loc.pack).or_default().push((*id, loc)),
            None => unindexed.push(*id),
        }
    }
    unindexed.sort_unstable();
    unindexed.dedup();
    for id in &unindexed {
        visit(id, Err(RepoError::MissingBlob { blob: *id }.to_string()))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| RestoreError::Io {
            action: "start threads for",
            path: "reading packs".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let fatal: Mutex<Option<RestoreError>> = Mutex::new(None);
    pool.install(|| {
        by_pack.par_iter_mut().for_each(|(pack, blobs)| {
            let stop = || fatal.lock().unwrap_or_else(|e| e.into_inner()).is_some();
            if stop() {
                return;
            }
            let result = if crate::interrupt::requested() {
                Err(RestoreError::Interrupted)
            } else {
                blobs.sort_unstable_by_key(|(id, l)| (l.offset, *id));
                blobs.dedup_by_key(|(id, _)| *id);
                read_pack(repo, pack, blobs, visit)
            };
            if let Err(e) = result {
                fatal
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(e);
            }
        })
    });
    match fatal.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Reads one pack's blobs in ranges and hands each on.
fn read_pack(
    repo: &Repository,
    pack: &PackId,
    blobs: &[(BlobId, BlobLocation)],
    visit: &BlobVisitor<'_>,
) -> Result<(), RestoreError> {
    let name = pack.to_hex();
    let mut i = 0;
    while i < blobs.len() {
        // Extend the range while blobs are close together and it stays small.
        let start = blobs[i].1.offset as u64;
        let mut end = start + blobs[i].1.stored_len as u64;
        let mut j = i + 1;
        while j < blobs.len() {
            let l = &blobs[j].1;
            let next_end = l.offset as u64 + l.stored_len as u64;
            if (l.offset as u64) > end + (256 << 10) || next_end - start > MAX_READ {
                break;
            }
            end = end.max(next_end);
            j += 1;
        }
        // A damaged or truncated pack damages only what needs it.
        let mut buf = RANGE.with(|c| std::mem::take(&mut *c.borrow_mut()));
        let data = repo
            .backend()
            .read_range_into(FileKind::Pack, &name, start, end - start, &mut buf)
            .map(|_| buf)
            .map_err(|e| e.to_string());
        for (id, loc) in &blobs[i..j] {
            match &data {
                Ok(d) => {
                    let from = (loc.offset as u64 - start) as usize;
                    let sealed = &d[from..from + loc.stored_len as usize];
                    PLAIN.with(|cell| {
                        let mut plain = cell.borrow_mut();
                        let opened = open_blob_into(
                            repo.key(),
                            loc.kind,
                            loc.compression,
                            loc.raw_len,
                            id,
                            sealed,
                            &mut plain,
                        );
                        let result = match opened {
                            Ok(()) => visit(id, Ok(&plain)),
                            Err(e) => visit(id, Err(blob_err(*pack, *id, e).to_string())),
                        };
                        if plain.capacity() > PLAIN_KEEP {
                            *plain = Vec::new();
                        }
                        result
                    })?
                }
                Err(why) => visit(
                    id,
                    Err(format!("blob {id} in pack {pack} cannot be read: {why}")),
                )?,
            }
        }
        if let Ok(buf) = data {
            RANGE.with(|c| *c.borrow_mut() = buf);
        }
        i = j;
    }
    Ok(())
}

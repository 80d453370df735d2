//! `snap repair index`: rebuild the index from the packs (spec §7.1).
//!
//! Every pack the backend lists is indexed again: from the entries of a
//! readable index file when that file lists it with exactly the pack's size
//! (nothing to read), else from the pack's own header, read alone from the
//! end of the pack. Marks of packs prune marked for deletion are kept. The
//! new index files supersede every index file there was; they are stored
//! before the old ones are deleted, so a crash leaves the old index or both,
//! never neither. Entries for packs that are gone are dropped. Packs whose
//! header cannot be read stay where they are and are reported: their blobs
//! cannot be found, and `snap repair snapshots` cuts what needs them.
//!
//! Takes an exclusive lock: it deletes index files other commands may be
//! about to read.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::crypto::SealKind;
use crate::id::{FileKind, Id, IndexId, PackId};
use crate::index::{IndexFile, IndexPack, MarkedPack, MAX_BLOBS_PER_INDEX_FILE};
use crate::ops::OpError;
use crate::pack::{header_len, PackEntry};
use crate::repo::{LockKind, RepoError, Repository};

/// How to rebuild.
#[derive(Clone, Copy, Debug, Default)]
pub struct RepairIndexOptions {
    /// Read every pack's header, even where a good index file lists the pack.
    pub read_all_packs: bool,
    /// Report what would change; write and delete nothing.
    pub dry_run: bool,
}

/// What the rebuild found and did.
#[derive(Debug, Default, Serialize)]
pub struct RepairIndexReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Packs the backend lists.
    pub packs: usize,
    /// Packs indexed from a readable index file's entries.
    pub packs_from_index: usize,
    /// Packs whose header was read.
    pub headers_read: usize,
    /// Packs that were in no readable index file and are indexed now.
    pub packs_added: usize,
    /// Blobs in the new index.
    pub blobs: usize,
    /// Index files that could not be read (replaced now).
    pub index_files_unreadable: Vec<String>,
    /// Packs indexed before that no longer exist (their entries dropped).
    pub packs_gone: Vec<String>,
    /// Packs whose header cannot be read: left in place, not indexed.
    pub packs_unreadable: Vec<String>,
    /// Index files written.
    pub index_files_written: usize,
    /// Index files deleted (superseded).
    pub index_files_removed: usize,
}

/// Rebuilds the index; see the module documentation.
pub fn repair_index(
    repo: &mut Repository,
    options: &RepairIndexOptions,
) -> Result<RepairIndexReport, OpError> {
    let _lock = repo.lock(LockKind::Exclusive)?;
    let mut report = RepairIndexReport {
        dry_run: options.dry_run,
        ..Default::default()
    };
    let backend = std::sync::Arc::clone(repo.backend());
    let listed: HashMap<PackId, u64> = backend
        .list(FileKind::Pack)
        .map_err(RepoError::from)?
        .into_iter()
        .filter_map(|f| Id::from_hex(&f.name).ok().map(|id| (PackId(id), f.size)))
        .collect();
    report.packs = listed.len();
    let old_files = repo.list_ids(FileKind::Index)?;

    // What the readable index files say, to spare reading headers.
    let read: Vec<(Id, Result<IndexFile, String>)> = old_files
        .par_iter()
        .map(|id| {
            let file = repo
                .load_file(FileKind::Index, &id.to_hex(), SealKind::Index)
                .map_err(|e| e.to_string())
                .and_then(|p| IndexFile::decode_plaintext(&p).map_err(|e| e.to_string()));
            (*id, file)
        })
        .collect();
    let mut known: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
    let mut marks: HashMap<PackId, i64> = HashMap::new();
    let mut live_somewhere: std::collections::HashSet<PackId> = Default::default();
    for (id, file) in read {
        match file {
            Ok(file) => {
                for p in file.packs {
                    live_somewhere.insert(p.id);
                    known.entry(p.id).or_insert(p.blobs);
                }
                for m in file.marked {
                    let at = marks.entry(m.id).or_insert(m.marked_at);
                    *at = (*at).max(m.marked_at);
                    if !m.blobs.is_empty() {
                        known.entry(m.id).or_insert(m.blobs);
                    }
                }
            }
            Err(e) => report
                .index_files_unreadable
                .push(format!("{} ({e})", id.to_hex())),
        }
    }
    let mut gone: Vec<String> = known
        .keys()
        .filter(|p| !listed.contains_key(p))
        .map(|p| p.to_hex())
        .collect();
    gone.sort();
    report.packs_gone = gone;

    // Every listed pack: entries that fit its size, or its header.
    let mut packs: Vec<(&PackId, &u64)> = listed.iter().collect();
    packs.sort();
    let rebuilt: Vec<(PackId, Result<Found, String>)> = packs
        .par_iter()
        .map(|(pack, size)| {
            if !options.read_all_packs {
                if let Some(entries) = known.get(pack).filter(|e| fits(e, **size)) {
                    return (**pack, Ok((entries.clone(), false)));
                }
            }
            let header = repo
                .load_pack_header(pack, **size)
                .map(|entries| (entries, true))
                .map_err(|e| e.to_string());
            (**pack, header)
        })
        .collect();
    let mut file = IndexFile::default();
    let mut files = Vec::new();
    let mut count = 0;
    for (pack, result) in rebuilt {
        let (blobs, from_header) = match result {
            Ok(r) => r,
            Err(e) => {
                report
                    .packs_unreadable
                    .push(format!("{} ({e})", pack.to_hex()));
                continue;
            }
        };
        if from_header {
            report.headers_read += 1;
        } else {
            report.packs_from_index += 1;
        }
        if !known.contains_key(&pack) {
            report.packs_added += 1;
        }
        report.blobs += blobs.len();
        count += blobs.len().max(1);
        match marks.get(&pack) {
            // A pack live in any file is live (§7.2).
            Some(&marked_at) if !live_somewhere.contains(&pack) => file.marked.push(MarkedPack {
                id: pack,
                marked_at,
                blobs,
            }),
            _ => file.packs.push(IndexPack { id: pack, blobs }),
        }
        if count >= MAX_BLOBS_PER_INDEX_FILE {
            files.push(std::mem::take(&mut file));
            count = 0;
        }
    }
    file.supersedes = old_files.iter().map(|id| IndexId(*id)).collect();
    if !(file.packs.is_empty() && file.marked.is_empty() && file.supersedes.is_empty()) {
        files.push(file);
    }
    report.index_files_written = files.len();
    report.index_files_removed = old_files.len();
    if options.dry_run {
        return Ok(report);
    }
    let mut written = Vec::new();
    for f in &files {
        written.push(repo.save_file(FileKind::Index, SealKind::Index, &f.encode_plaintext())?);
    }
    // Only once the whole new set is stored (§7.1).
    for id in old_files.iter().filter(|id| !written.contains(id)) {
        repo.check_locks()?;
        backend
            .remove(FileKind::Index, &id.to_hex())
            .map_err(RepoError::from)?;
    }
    repo.load_index()?;
    Ok(report)
}

/// A pack's entries, and whether they came from its header.
type Found = (Vec<PackEntry>, bool);

/// True when `entries` describe a pack of exactly `size` bytes (§6.2).
fn fits(entries: &[PackEntry], size: u64) -> bool {
    let end = entries
        .iter()
        .map(|e| e.offset as u64 + e.stored_len as u64)
        .max()
        .unwrap_or(0);
    end + header_len(entries.len()) + 4 == size
}

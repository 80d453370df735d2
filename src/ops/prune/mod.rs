//! `snap prune`: frees the space that no snapshot uses (spec §7.4).
//!
//! The plan comes from the index alone plus the trees of every snapshot; no
//! data blob is read unless it moves. Packs without a used blob, packs in no
//! index and packs emptied by repacking are not deleted at once: they are
//! **marked** in the new index, and a later prune deletes them once the grace
//! period has passed and no snapshot needs them. A backup that started before
//! the mark and relies on a marked pack finishes long before that (the grace
//! period is longer than any backup), its snapshot then uses the pack, and
//! prune makes the pack live again. So prune runs beside backups under a
//! shared lock; `--grace 0` deletes at once and takes an exclusive lock.

mod plan;

pub use plan::{BlobBits, MaxUnused};

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rayon::prelude::*;
use serde::Serialize;

use super::OpError;
use crate::crypto::SealKind;
use crate::id::{BlobId, FileKind, Id, IndexId, PackId};
use crate::index::{Index, IndexFile, IndexPack, MarkedPack, MAX_BLOBS_PER_INDEX_FILE};
use crate::pack::{open_blob, PackEntry};
use crate::repo::{blob_err, LockKind, RepoError, Repository};
use crate::snapshot::{list_snapshots_checked, load_tree};

/// What prune may do.
#[derive(Clone, Copy, Debug)]
pub struct PruneOptions {
    /// Unused space to tolerate in kept packs.
    pub max_unused: MaxUnused,
    /// How long a marked pack waits before deletion; zero deletes at once
    /// (and needs an exclusive lock).
    pub grace: Duration,
    /// Plan and report, change nothing.
    pub dry_run: bool,
    /// Parallel backend connections for reading and writing packs.
    pub connections: usize,
}

/// The default grace period: longer than any backup should take.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Errors particular to prune. Each stops it before anything is deleted.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// A snapshot or index file cannot be read, so the used set is unknown.
    #[error("prune needs every snapshot and index file, and {what} cannot be read ({reason}); run `snap check`, and `snap forget` the damaged snapshot if it cannot be recovered")]
    Unreadable {
        /// Which file.
        what: String,
        /// Why.
        reason: String,
    },
    /// A snapshot needs a blob that is in no index.
    #[error("blob {blob} is used by a snapshot but is in no index: the repository is damaged; prune stopped without changing anything; run `snap check`")]
    Unindexed {
        /// The blob.
        blob: BlobId,
    },
    /// Packs the index lists are gone and snapshots need their blobs.
    #[error("{count} blob(s) that snapshots use are only in pack(s) that are missing ({packs}); prune stopped without changing anything; run `snap check` to see which snapshots are affected")]
    LostBlobs {
        /// How many blobs.
        count: usize,
        /// The missing packs.
        packs: String,
    },
}

/// What prune found and did (or, with `dry_run`, would do).
#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// The grace period in seconds.
    pub grace_seconds: u64,
    /// Snapshots whose blobs are kept.
    pub snapshots: usize,
    /// Index files read (and replaced, unless nothing changed).
    pub index_files_read: usize,
    /// Index files written.
    pub index_files_written: usize,
    /// Packs and bytes in the repository before.
    pub packs_before: usize,
    /// Bytes of all packs before.
    pub bytes_before: u64,
    /// Stored bytes of used blobs.
    pub used_bytes: u64,
    /// Unused bytes in packs that stay, before and after repacking.
    pub unused_bytes_before: u64,
    /// Unused bytes in packs that stay after this prune.
    pub unused_bytes_after: u64,
    /// Packs whose used blobs moved to new packs.
    pub packs_repacked: usize,
    /// Bytes read and written by repacking.
    pub bytes_repacked: u64,
    /// New packs written by repacking.
    pub packs_written: u64,
    /// Packs marked for deletion by this run (unused, repacked or in no index).
    pub packs_marked: usize,
    /// Their bytes.
    pub bytes_marked: u64,
    /// Marked packs a snapshot needs again, now live.
    pub packs_unmarked: usize,
    /// Marked packs still in their grace period.
    pub packs_waiting: usize,
    /// Their bytes.
    pub bytes_waiting: u64,
    /// Packs deleted.
    pub packs_deleted: usize,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// Temporary files of killed writes (an hour old or more) removed.
    pub temporaries_removed: usize,
    /// Things worth knowing that lose nothing.
    pub warnings: Vec<String>,
}

/// Runs prune; see the module documentation.
pub fn prune(repo: &mut Repository, options: &PruneOptions) -> Result<PruneReport, OpError> {
    let instant = options.grace.is_zero();
    let _lock = repo.lock(if instant {
        LockKind::Exclusive
    } else {
        LockKind::Shared
    })?;
    let now = chrono::Utc::now().timestamp();
    let mut report = PruneReport {
        dry_run: options.dry_run,
        grace_seconds: options.grace.as_secs(),
        ..Default::default()
    };
    if !options.dry_run {
        // Leftovers of killed writes, never of running ones (spec §8).
        report.temporaries_removed = repo
            .backend()
            .remove_stale_temporaries(crate::backend::STALE_TEMPORARY_AGE)
            .map_err(RepoError::from)?;
    }

    // Index files: every one must open, or the plan could drop live packs.
    let index_names = repo.list_ids(FileKind::Index)?;
    report.index_files_read = index_names.len();
    let files: Vec<Result<IndexFile, OpError>> = index_names
        .par_iter()
        .map(|id| {
            let plain = repo
                .load_file(FileKind::Index, &id.to_hex(), SealKind::Index)
                .map_err(|e| unreadable(format!("index file {}", id.to_hex()), e))?;
            IndexFile::decode_plaintext(&plain)
                .map_err(|e| unreadable(format!("index file {}", id.to_hex()), e))
        })
        .collect();
    let mut live: Vec<(PackId, Vec<PackEntry>)> = Vec::new();
    let mut live_ids: HashSet<PackId> = HashSet::new();
    let mut marked: HashMap<PackId, MarkedPack> = HashMap::new();
    for file in files {
        let file = file?;
        for p in file.packs {
            if live_ids.insert(p.id) {
                live.push((p.id, p.blobs));
            }
        }
        for m in file.marked {
            // Marked twice (two prunes at once): the later mark waits longer.
            match marked.get_mut(&m.id) {
                Some(old) if old.marked_at >= m.marked_at => {}
                Some(old) if m.blobs.is_empty() => old.marked_at = m.marked_at,
                _ => {
                    marked.insert(m.id, m);
                }
            }
        }
    }
    // Live wins: a pack a backup indexed after a prune marked it is live.
    let marked: Vec<MarkedPack> = marked
        .into_values()
        .filter(|m| !live_ids.contains(&m.id))
        .collect();

    let listed: HashMap<PackId, u64> = repo
        .backend()
        .list(FileKind::Pack)
        .map_err(RepoError::from)?
        .into_iter()
        .filter_map(|f| Id::from_hex(&f.name).ok().map(|id| (PackId(id), f.size)))
        .collect();
    report.packs_before = listed.len();
    report.bytes_before = listed.values().sum();

    let mut index = Index::new();
    for (id, entries) in &live {
        index.add_pack(*id, entries);
    }
    for m in &marked {
        index.add_marked_pack(m.id, &m.blobs);
    }
    // A blob listed in a pack that is gone and in one that is not (an old
    // index file brought back) is read from the one that exists.
    index.sort_resolving(|contested| {
        contested
            .iter()
            .filter(|p| !listed.contains_key(p))
            .copied()
            .collect()
    });
    repo.replace_index(index);

    // Every blob some snapshot reaches.
    // Never skips a damaged snapshot: what it uses is unknown (spec §10).
    let listing = list_snapshots_checked(repo)?;
    if let Some(d) = listing.damaged.first() {
        return Err(unreadable(format!("snapshot file {}", d.file()), &d.reason));
    }
    let snapshots = listing.snapshots;
    report.snapshots = snapshots.len();
    let roots: Vec<BlobId> = snapshots.iter().map(|(_, m)| m.tree).collect();
    let used = used_blobs(repo, roots)?;

    let plan = plan::plan(&plan::PlanInput {
        live: &live,
        marked: &marked,
        listed: &listed,
        index: repo.index(),
        used: &used,
        now,
        grace: i64::try_from(options.grace.as_secs()).unwrap_or(i64::MAX),
        max_unused: options.max_unused,
    });
    drop(used);
    if !plan.lost_blobs.is_empty() {
        let packs: Vec<String> = plan.missing.iter().map(|p| p.to_hex()).collect();
        return Err(PruneError::LostBlobs {
            count: plan.lost_blobs.len(),
            packs: packs.join(", "),
        }
        .into());
    }
    for p in &plan.missing {
        report.warnings.push(format!(
            "pack {} is listed in the index but missing; no snapshot needs its blobs, so its entries are dropped",
            p.to_hex()
        ));
    }
    let size = |p: &PackId| listed.get(p).copied().unwrap_or(0);
    report.used_bytes = plan.used_bytes;
    report.unused_bytes_before = plan.unused_bytes_before_repack;
    report.unused_bytes_after = plan.unused_bytes;
    report.packs_repacked = plan.repack.len();
    report.bytes_repacked = plan
        .repack
        .iter()
        .flat_map(|(_, e)| e)
        .map(|e| e.stored_len as u64)
        .sum();
    report.packs_unmarked = plan.unmark.len();

    // Packs that stop being live now; marked, or deleted at once.
    let newly_unneeded: Vec<(PackId, Vec<PackEntry>)> = plan
        .mark
        .iter()
        .chain(plan.repack.iter().map(|(at, _)| at))
        .map(|&at| (live[at].0, std::mem::take(&mut live[at].1)))
        .chain(plan.unindexed.iter().map(|id| (*id, Vec::new())))
        .collect();
    let mut delete: Vec<PackId> = plan.expired.clone();
    let mut new_marks: Vec<MarkedPack> = Vec::new();
    if instant {
        delete.extend(newly_unneeded.iter().map(|(id, _)| *id));
    } else {
        report.packs_marked = newly_unneeded.len();
        report.bytes_marked = newly_unneeded.iter().map(|(id, _)| size(id)).sum();
        new_marks = newly_unneeded
            .into_iter()
            .map(|(id, blobs)| MarkedPack {
                id,
                marked_at: now,
                blobs,
            })
            .collect();
    }
    report.packs_waiting = plan.waiting.len();
    report.bytes_waiting = plan.waiting.iter().map(|&at| size(&marked[at].id)).sum();
    report.packs_deleted = delete.len();
    report.bytes_deleted = delete.iter().map(size).sum();

    let changed = !plan.unmark.is_empty()
        || !plan.repack.is_empty()
        || !plan.missing.is_empty()
        || !new_marks.is_empty()
        || !delete.is_empty()
        || index_names.len() > 1;
    if options.dry_run || !changed {
        return Ok(report);
    }

    // 1. Repack: new packs and their index files are stored first; the
    // combined index below lists those packs again and replaces the files.
    let mut superseded = index_names;
    let mut repacked = Vec::new();
    if !plan.repack.is_empty() {
        let saver = repo.blob_saver(options.connections);
        plan.repack
            .par_iter()
            .with_max_len(1)
            .try_for_each(|(at, blobs)| repack(repo, &saver, &live[*at].0, blobs))?;
        let stats = saver.finish()?;
        report.packs_written = stats.packs_written;
        for id in stats.index_files {
            let plain = repo.load_file(FileKind::Index, &id.to_hex(), SealKind::Index)?;
            let file = IndexFile::decode_plaintext(&plain)
                .map_err(|e| unreadable(format!("index file {}", id.to_hex()), e))?;
            repacked.extend(file.packs.into_iter().map(|p| (p.id, p.blobs)));
            superseded.push(id.0);
        }
    }

    // 2. One index of everything that stays, superseding every file read.
    let mut file = IndexFile::default();
    let mut written = Vec::new();
    let mut count = 0;
    let mut marked = marked;
    let unmarked: Vec<(PackId, Vec<PackEntry>)> = plan
        .unmark
        .iter()
        .map(|&at| (marked[at].id, std::mem::take(&mut marked[at].blobs)))
        .collect();
    let kept: Vec<(PackId, Vec<PackEntry>)> = plan
        .keep
        .iter()
        .map(|&at| (live[at].0, std::mem::take(&mut live[at].1)))
        .collect();
    drop(live);
    let packs = kept.into_iter().chain(unmarked).chain(repacked);
    for (id, blobs) in packs {
        count += blobs.len().max(1);
        file.packs.push(IndexPack { id, blobs });
        if count >= MAX_BLOBS_PER_INDEX_FILE {
            written.push(save_index(repo, &std::mem::take(&mut file))?);
            count = 0;
        }
    }
    let waiting: Vec<MarkedPack> = plan
        .waiting
        .iter()
        .map(|&at| std::mem::replace(&mut marked[at], placeholder()))
        .collect();
    drop(marked);
    for m in waiting.into_iter().chain(new_marks) {
        count += m.blobs.len().max(1);
        file.marked.push(m);
        if count >= MAX_BLOBS_PER_INDEX_FILE {
            written.push(save_index(repo, &std::mem::take(&mut file))?);
            count = 0;
        }
    }
    file.supersedes = superseded.iter().map(|id| IndexId(*id)).collect();
    written.push(save_index(repo, &file)?);
    report.index_files_written += written.len();

    // 3. The files it replaces, then 4. the packs only they named (§7.1).
    let backend = repo.backend();
    superseded
        .par_iter()
        .filter(|id| !written.contains(&IndexId(**id)))
        .try_for_each(|id| {
            repo.check_locks()?;
            Ok::<_, RepoError>(backend.remove(FileKind::Index, &id.to_hex())?)
        })?;
    // A prune frozen past its lock's age may find backups running that rely
    // on these packs: it deletes nothing once the lock is lost (§9).
    delete.par_iter().try_for_each(|id| {
        repo.check_locks()?;
        Ok::<_, RepoError>(backend.remove(FileKind::Pack, &id.to_hex())?)
    })?;
    Ok(report)
}

fn placeholder() -> MarkedPack {
    MarkedPack {
        id: PackId(Id([0; 32])),
        marked_at: 0,
        blobs: Vec::new(),
    }
}

fn unreadable(what: String, e: impl std::fmt::Display) -> OpError {
    PruneError::Unreadable {
        what,
        reason: e.to_string(),
    }
    .into()
}

fn save_index(repo: &Repository, file: &IndexFile) -> Result<IndexId, RepoError> {
    Ok(IndexId(repo.save_file(
        FileKind::Index,
        SealKind::Index,
        &file.encode_plaintext(),
    )?))
}

/// Marks every blob reachable from `roots`, one tree level at a time so
/// trees load in parallel; each tree is read once however many snapshots
/// share it.
fn used_blobs(repo: &Repository, roots: Vec<BlobId>) -> Result<BlobBits, OpError> {
    let index = repo.index();
    let mut used = BlobBits::new(index.len());
    let mut frontier = Vec::new();
    let visit = |id: &BlobId, used: &mut BlobBits| -> Result<bool, OpError> {
        let pos = index
            .position(id)
            .ok_or(PruneError::Unindexed { blob: *id })?;
        Ok(used.insert(pos))
    };
    for root in roots {
        if visit(&root, &mut used)? {
            frontier.push(root);
        }
    }
    while !frontier.is_empty() {
        let trees: Vec<_> = frontier
            .par_iter()
            .map(|id| load_tree(repo, id))
            .collect::<Result<_, _>>()?;
        frontier = Vec::new();
        for tree in trees {
            for node in tree.nodes {
                for blob in node.content.iter().flatten() {
                    visit(blob, &mut used)?;
                }
                if let Some(sub) = node.subtree {
                    if visit(&sub, &mut used)? {
                        frontier.push(sub);
                    }
                }
            }
        }
    }
    Ok(used)
}

/// Largest gap between two wanted blobs that is read through rather than
/// split into two requests.
const READ_GAP: u64 = 256 << 10;

/// Moves `blobs` (the used ones) of `pack` into new packs: reads only their
/// byte ranges, verifies each blob, and stores it sealed as it was.
fn repack(
    repo: &Repository,
    saver: &crate::repo::BlobSaver<'_>,
    pack: &PackId,
    blobs: &[PackEntry],
) -> Result<(), OpError> {
    let mut blobs = blobs.to_vec();
    blobs.sort_by_key(|e| e.offset);
    let name = pack.to_hex();
    let mut i = 0;
    while i < blobs.len() {
        let start = blobs[i].offset as u64;
        let mut end = start + blobs[i].stored_len as u64;
        let mut j = i + 1;
        while j < blobs.len() && (blobs[j].offset as u64) <= end + READ_GAP {
            end = end.max(blobs[j].offset as u64 + blobs[j].stored_len as u64);
            j += 1;
        }
        let bytes = repo
            .backend()
            .read_range(FileKind::Pack, &name, start, end - start)
            .map_err(RepoError::from)?;
        for e in &blobs[i..j] {
            let at = (e.offset as u64 - start) as usize;
            let sealed =
                bytes
                    .get(at..at + e.stored_len as usize)
                    .ok_or_else(|| RepoError::Blob {
                        pack: *pack,
                        blob: e.id,
                        reason: "the pack is shorter than its index says".into(),
                    })?;
            // A damaged blob must not be copied where it would look sound.
            open_blob(repo.key(), e.kind, e.compression, e.raw_len, &e.id, sealed)
                .map_err(|err| blob_err(*pack, e.id, err))?;
            saver.save_sealed(e, sealed)?;
        }
        i = j;
    }
    Ok(())
}

//! `snap check`: verifies a repository's structure and, on request, its data.
//!
//! Structure (always): every file is named by an ID; every index file opens;
//! every pack an index lists exists with the size its blobs and header make;
//! every snapshot opens and every tree and data blob it references is in the
//! index; trees open and parse. Packs that no index lists are warnings: an
//! interrupted backup leaves them, and a running one writes them before its
//! index. Data (`--read-data`, or a deterministic subset): every selected pack
//! is downloaded, its SHA-256 compared with its name, its header opened and
//! compared with the index, and every blob decrypted and hashed.
//!
//! A shared lock is enough: backups may run meanwhile, and nothing is changed.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use super::OpError;
use crate::crypto::{SealKind, SEAL_OVERHEAD};
use crate::id::{BlobId, FileKind, Id, PackId, SnapshotId};
use crate::index::{Index, IndexFile};
use crate::pack::{decode_header, header_location, open_blob, PackEntry, HEADER_ENTRY_LEN};
use crate::repo::{LockKind, Repository};
use crate::snapshot::{load_snapshot, load_tree};

/// Which packs `--read-data` reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DataSubset {
    /// Every pack.
    All,
    /// Part `n` of `m` (1-based): packs whose ID's first byte is `n-1` modulo `m`.
    Part {
        /// Which part.
        n: u32,
        /// Of how many.
        m: u32,
    },
    /// About this percentage of packs: those whose ID's first four bytes,
    /// read as a number, fall in the lowest share.
    Percent(f64),
}

impl DataSubset {
    /// Parses `N/M` or `X%`.
    pub fn parse(text: &str) -> Result<DataSubset, String> {
        if let Some(pct) = text.strip_suffix('%') {
            let p: f64 = pct
                .trim()
                .parse()
                .map_err(|_| format!("{text}: expected a percentage such as 10%"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!(
                    "{text}: the percentage must be above 0 and at most 100"
                ));
            }
            return Ok(DataSubset::Percent(p));
        }
        let (n, m) = text
            .split_once('/')
            .ok_or_else(|| format!("{text}: expected N/M (such as 1/5) or a percentage"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{text}: N is not a number"))?;
        let m: u32 = m
            .trim()
            .parse()
            .map_err(|_| format!("{text}: M is not a number"))?;
        if m == 0 || n == 0 || n > m || m > 256 {
            return Err(format!("{text}: need 1 <= N <= M <= 256"));
        }
        Ok(DataSubset::Part { n, m })
    }

    fn contains(&self, pack: &PackId) -> bool {
        let b = pack.as_bytes();
        match *self {
            DataSubset::All => true,
            DataSubset::Part { n, m } => u32::from(b[0]) % m == n - 1,
            DataSubset::Percent(p) => {
                let x = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64;
                x < p / 100.0 * 4_294_967_296.0
            }
        }
    }
}

/// What to check beyond the structure.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions {
    /// Read and verify the packs of this subset.
    pub read_data: Option<DataSubset>,
}

/// What `check` found.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// Problems that lose or endanger data, each naming the file, pack or
    /// blob and what it means.
    pub errors: Vec<String>,
    /// Things worth knowing that lose nothing.
    pub warnings: Vec<String>,
    /// Snapshots checked.
    pub snapshots: usize,
    /// Index files read.
    pub index_files: usize,
    /// Packs listed by the index.
    pub packs: usize,
    /// Packs whose data was read.
    pub packs_read: usize,
    /// Blobs in the index.
    pub blobs: usize,
}

/// Checks the repository; see the module documentation.
pub fn check(repo: &mut Repository, options: &CheckOptions) -> Result<CheckReport, OpError> {
    let lock = repo.lock(LockKind::Shared)?;
    let mut report = CheckReport::default();
    let backend = repo.backend();

    // Names; the listings of packs, index files and snapshots are kept.
    let mut listed = HashMap::new();
    let (mut index_names, mut snapshot_ids) = (Vec::new(), Vec::new());
    for kind in [
        FileKind::Key,
        FileKind::Pack,
        FileKind::Index,
        FileKind::Snapshot,
        FileKind::Lock,
    ] {
        for file in backend.list(kind).map_err(crate::repo::RepoError::from)? {
            match Id::from_hex(&file.name) {
                Ok(id) if kind == FileKind::Pack => {
                    listed.insert(PackId(id), file.size);
                }
                Ok(id) if kind == FileKind::Index => index_names.push(id),
                Ok(id) if kind == FileKind::Snapshot => snapshot_ids.push(SnapshotId(id)),
                Ok(_) => {}
                Err(_) => report.errors.push(format!(
                    "{} {} has a name that is not an ID: snap did not write it; move it out of the repository",
                    kind.noun(),
                    kind.path(&file.name)
                )),
            }
        }
    }

    // Index files, each on its own so one damaged file does not hide the rest.
    report.index_files = index_names.len();
    let files: Vec<(Id, Result<IndexFile, String>)> = index_names
        .par_iter()
        .map(|id| {
            let result = repo
                .load_file(FileKind::Index, &id.to_hex(), SealKind::Index)
                .map_err(|e| e.to_string())
                .and_then(|plain| IndexFile::decode_plaintext(&plain).map_err(|e| e.to_string()));
            (*id, result)
        })
        .collect();
    let mut index = Index::new();
    let mut packs: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
    // Packs prune marked without knowing their blobs (they were in no index).
    let mut marked_unlisted = HashSet::new();
    for (id, result) in files {
        match result {
            Ok(file) => {
                index.add_file(&file);
                for pack in file.packs {
                    packs.entry(pack.id).or_insert(pack.blobs);
                }
                for pack in file.marked {
                    if pack.blobs.is_empty() {
                        marked_unlisted.insert(pack.id);
                    } else {
                        packs.entry(pack.id).or_insert(pack.blobs);
                    }
                }
            }
            Err(e) => report.errors.push(format!(
                "index file {} cannot be read ({e}): the blobs it lists are unknown, so snapshots that use them report missing blobs below",
                id.to_hex()
            )),
        }
    }
    index.sort();
    report.packs = packs.len();
    report.blobs = index.len();

    // Packs against the listing.
    let mut pack_ids: Vec<&PackId> = packs.keys().collect();
    pack_ids.sort();
    for pack in &pack_ids {
        let entries = &packs[*pack];
        let expected = expected_pack_size(entries);
        match listed.get(*pack) {
            None => report.errors.push(format!(
                "pack {} is missing: its {} blob(s) are lost; snapshots that use them cannot be fully restored",
                pack.to_hex(),
                entries.len()
            )),
            Some(&size) if size != expected => report.errors.push(format!(
                "pack {} is {size} bytes but its index entries make {expected}: it is truncated or damaged",
                pack.to_hex()
            )),
            Some(_) => {}
        }
    }
    let mut unindexed: Vec<&PackId> = listed
        .keys()
        .filter(|p| !packs.contains_key(p) && !marked_unlisted.contains(*p))
        .collect();
    unindexed.sort();
    for pack in unindexed {
        report.warnings.push(format!(
            "pack {} is in no index: left by an interrupted backup, or being written by a running one; no snapshot uses it",
            pack.to_hex()
        ));
    }

    // Snapshots and their trees.
    let mut seen_trees = HashSet::new();
    let mut missing = HashSet::new();
    repo.replace_index(index);
    snapshot_ids.sort();
    report.snapshots = snapshot_ids.len();
    for id in snapshot_ids {
        match load_snapshot(repo, &id) {
            Ok(manifest) => walk(
                repo,
                &id,
                &manifest.tree,
                "/",
                &mut seen_trees,
                &mut missing,
                &mut report.errors,
            ),
            Err(e) => report.errors.push(format!(
                "snapshot {} cannot be read ({e}): it cannot be restored",
                id.to_hex()
            )),
        }
    }

    // Data.
    if let Some(subset) = options.read_data {
        let selected: Vec<&PackId> = pack_ids
            .iter()
            .copied()
            .filter(|p| subset.contains(p) && listed.contains_key(*p))
            .collect();
        report.packs_read = selected.len();
        let problems: Vec<Vec<String>> = selected
            .par_iter()
            .map(|pack| read_pack(repo, pack, &packs[*pack]))
            .collect();
        report.errors.extend(problems.into_iter().flatten());
    }
    drop(lock);
    Ok(report)
}

/// A pack's size from its entries: the blobs, the sealed header (a version
/// byte and one entry per blob) and the 4-byte header length (spec §6.2).
fn expected_pack_size(entries: &[PackEntry]) -> u64 {
    let blobs: u64 = entries
        .iter()
        .map(|e| e.offset as u64 + e.stored_len as u64)
        .max()
        .unwrap_or(0);
    blobs + (1 + entries.len() * HEADER_ENTRY_LEN + SEAL_OVERHEAD) as u64 + 4
}

fn walk(
    repo: &Repository,
    snapshot: &SnapshotId,
    tree: &BlobId,
    path: &str,
    seen: &mut HashSet<BlobId>,
    missing: &mut HashSet<BlobId>,
    errors: &mut Vec<String>,
) {
    if !seen.insert(*tree) {
        return;
    }
    let Some(loc) = repo.index().get(tree) else {
        errors.push(format!(
            "snapshot {}: the tree of {path} (blob {}) is not in the index: that folder cannot be restored",
            snapshot.short(),
            tree.to_hex()
        ));
        return;
    };
    let nodes = match load_tree(repo, tree) {
        Ok(t) => t.nodes,
        Err(e) => {
            errors.push(format!(
                "snapshot {}: the tree of {path} (blob {} in pack {}) cannot be read: {e}",
                snapshot.short(),
                tree.to_hex(),
                loc.pack.to_hex()
            ));
            return;
        }
    };
    for node in nodes {
        let child = format!("{}{}", path, node.name.display());
        for blob in node.content.iter().flatten() {
            if !repo.index().contains(blob) && missing.insert(*blob) {
                errors.push(format!(
                    "snapshot {}: data blob {} of {child} is not in the index: that file cannot be restored",
                    snapshot.short(),
                    blob.to_hex()
                ));
            }
        }
        if let Some(sub) = &node.subtree {
            walk(
                repo,
                snapshot,
                sub,
                &format!("{child}/"),
                seen,
                missing,
                errors,
            );
        }
    }
}

/// Downloads one pack and verifies its name, header and every blob.
fn read_pack(repo: &Repository, pack: &PackId, indexed: &[PackEntry]) -> Vec<String> {
    let name = pack.to_hex();
    let bytes = match repo.backend().read(FileKind::Pack, &name) {
        Ok(b) => b,
        Err(e) => return vec![format!("pack {name} cannot be read: {e}")],
    };
    let mut problems = Vec::new();
    if Id::sha256(&bytes) != pack.0 {
        problems.push(format!(
            "pack {name}: its content does not match its name (SHA-256): it was damaged after it was written"
        ));
    }
    let trailer: [u8; 4] = match bytes.len().checked_sub(4).map(|at| &bytes[at..]) {
        Some(t) => [t[0], t[1], t[2], t[3]],
        None => {
            problems.push(format!("pack {name} is shorter than a pack can be"));
            return problems;
        }
    };
    let header = header_location(bytes.len() as u64, trailer).and_then(|(offset, len)| {
        decode_header(
            repo.key(),
            &bytes[offset as usize..(offset + len) as usize],
            offset,
        )
    });
    match header {
        Ok(mut entries) => {
            let mut expected = indexed.to_vec();
            entries.sort_by_key(|e| e.offset);
            expected.sort_by_key(|e| e.offset);
            if entries != expected {
                problems.push(format!(
                    "pack {name}: its header lists {} blob(s) that differ from the {} its index entry lists",
                    entries.len(),
                    expected.len()
                ));
            }
        }
        Err(e) => problems.push(format!("pack {name}: its header cannot be read: {e}")),
    }
    for e in indexed {
        let start = e.offset as usize;
        let end = start + e.stored_len as usize;
        let result = bytes
            .get(start..end)
            .ok_or_else(|| "it lies past the end of the pack".to_string())
            .and_then(|sealed| {
                open_blob(repo.key(), e.kind, e.compression, e.raw_len, &e.id, sealed)
                    .map(|_| ())
                    .map_err(|err| err.to_string())
            });
        if let Err(err) = result {
            problems.push(format!(
                "pack {name}: blob {} is damaged ({err}): files that use it cannot be restored",
                e.id.to_hex()
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_parse_and_split_packs() {
        assert_eq!(
            DataSubset::parse("2/5"),
            Ok(DataSubset::Part { n: 2, m: 5 })
        );
        assert_eq!(DataSubset::parse("10%"), Ok(DataSubset::Percent(10.0)));
        for bad in ["0/5", "6/5", "1/0", "x/2", "0%", "101%", "half"] {
            assert!(DataSubset::parse(bad).is_err(), "{bad}");
        }
        // Parts of one split cover every pack exactly once.
        let packs: Vec<PackId> = (0..=255u8).map(|b| PackId(Id::sha256(&[b]))).collect();
        for p in &packs {
            let hits = (1..=3)
                .filter(|n| DataSubset::Part { n: *n, m: 3 }.contains(p))
                .count();
            assert_eq!(hits, 1);
        }
        let share = packs
            .iter()
            .filter(|p| DataSubset::Percent(25.0).contains(p))
            .count();
        assert!((40..=90).contains(&share), "{share}");
        assert!(packs.iter().all(|p| DataSubset::All.contains(p)));
    }
}

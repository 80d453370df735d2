//! `snap check`: verifies a repository's structure and, on request, its data.
//!
//! What each level proves (README "Checking a repository"):
//!
//! - **Always** (structure): every file is named by an ID; every key file
//!   matches its name and parses; every index file opens; every pack an
//!   index lists exists with the size its entries make, and its **header**
//!   (read alone, from the end of the pack) authenticates and lists exactly
//!   the blobs the index lists; every snapshot opens; every tree it reaches
//!   is read and authenticated; every data blob it names is indexed in a
//!   pack that exists. A damaged blob's bytes inside a pack are not read.
//! - **`--read-data-subset`**: as above, and the selected packs are read
//!   whole: SHA-256 against the name, and every blob decrypted, decompressed
//!   and hashed against its ID.
//! - **`--read-data`**: every pack so, which proves every snapshot restores.
//!
//! Each problem names the snapshots and paths it affects and the command
//! that repairs it. A blob counts as lost only if the copy the index reads
//! is (another copy in a good pack still restores). Packs that no index
//! lists are summed in one warning: an interrupted backup leaves them, a
//! running one writes them before its index, and prune removes them.
//!
//! A shared lock is enough: backups may run meanwhile, and nothing is changed.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use super::OpError;
use crate::crypto::{KeyFile, SealKind};
use crate::id::{BlobId, FileKind, Id, PackId, SnapshotId};
use crate::index::{Index, IndexFile};
use crate::pack::{decode_header, header_len, header_location, open_blob, PackEntry};
use crate::repo::{check_name, LockKind, Repository};
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
    /// blob, what it means, what it affects and what repairs it.
    pub errors: Vec<String>,
    /// Things worth knowing that lose nothing.
    pub warnings: Vec<String>,
    /// Snapshots checked.
    pub snapshots: usize,
    /// Index files read.
    pub index_files: usize,
    /// Packs listed by the index.
    pub packs: usize,
    /// Packs whose header was read and compared with the index.
    pub headers_read: usize,
    /// Packs whose data was read.
    pub packs_read: usize,
    /// Blobs in the index.
    pub blobs: usize,
    /// Packs in no index (left by interrupted backups or being written).
    pub unindexed_packs: usize,
    /// Their bytes.
    pub unindexed_bytes: u64,
    /// Snapshots that cannot be restored completely, and what they lose.
    pub damaged_snapshots: Vec<DamagedSnapshot>,
    /// Commands that repair what was found, in the order to run them.
    pub repair: Vec<String>,
}

/// A snapshot some of whose files cannot be restored.
#[derive(Debug, Default, Serialize)]
pub struct DamagedSnapshot {
    /// Its full ID.
    pub snapshot: String,
    /// How many paths (files, folders, keys, repositories) lose content.
    pub paths_affected: usize,
    /// The first of them (at most [`PATHS_SHOWN`]).
    pub paths: Vec<String>,
}

/// How many affected paths a report names per snapshot.
pub const PATHS_SHOWN: usize = 20;

const REPAIR_INDEX: &str = "snap repair index";
const REPAIR_SNAPSHOTS: &str = "snap repair snapshots";
const PRUNE: &str = "snap prune";

/// What is wrong with a blob a snapshot may need.
struct Lost {
    why: String,
    /// The pack at fault.
    pack: PackId,
}

/// Checks the repository; see the module documentation.
pub fn check(repo: &mut Repository, options: &CheckOptions) -> Result<CheckReport, OpError> {
    let lock = repo.lock(LockKind::Shared)?;
    let mut report = CheckReport::default();
    let backend = repo.backend();

    // Names; the listings of packs, index files and snapshots are kept.
    let mut listed = HashMap::new();
    let (mut index_names, mut snapshot_ids, mut key_names) = (Vec::new(), Vec::new(), Vec::new());
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
                Ok(_) if kind == FileKind::Key => key_names.push(file.name),
                Ok(_) => {}
                Err(_) => report.errors.push(format!(
                    "{} {} has a name that is not an ID: snap did not write it; move it out of the repository",
                    kind.noun(),
                    kind.path(&file.name)
                )),
            }
        }
    }
    check_keys(repo, &key_names, &mut report);

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
            Err(e) => {
                report.errors.push(format!(
                    "index file {} cannot be read ({e}): the blobs it lists are unknown to every command (snapshots that use them are listed below); `{REPAIR_INDEX}` rebuilds the index from the packs",
                    id.to_hex()
                ));
                add_repair(&mut report, REPAIR_INDEX);
            }
        }
    }
    index.sort_resolving(|contested| {
        contested
            .iter()
            .filter(|p| !listed.contains_key(p))
            .copied()
            .collect()
    });
    report.packs = packs.len();
    report.blobs = index.len();
    repo.replace_index(index);

    // Packs: against the listing, then their headers (or all their data).
    let mut pack_ids: Vec<PackId> = packs.keys().copied().collect();
    pack_ids.sort();
    let mut lost: HashMap<BlobId, Lost> = HashMap::new();
    let mut missing_packs = Vec::new();
    let mut pack_problems: Vec<String> = Vec::new();
    for pack in &pack_ids {
        let entries = &packs[pack];
        let expected = expected_pack_size(entries);
        match listed.get(pack) {
            None => {
                missing_packs.push(*pack);
                for e in entries {
                    lost.insert(
                        e.id,
                        Lost {
                            why: format!("pack {} is missing", pack.short()),
                            pack: *pack,
                        },
                    );
                }
            }
            Some(&size) if size != expected => {
                pack_problems.push(format!(
                    "pack {} is {size} bytes but its index entries make {expected}: it is truncated or damaged",
                    pack.to_hex()
                ));
                for e in entries
                    .iter()
                    .filter(|e| e.offset as u64 + e.stored_len as u64 > size)
                {
                    lost.insert(
                        e.id,
                        Lost {
                            why: format!("pack {} is truncated", pack.short()),
                            pack: *pack,
                        },
                    );
                }
            }
            Some(_) => {}
        }
    }
    let present: Vec<&PackId> = pack_ids
        .iter()
        .filter(|p| listed.contains_key(*p))
        .collect();
    let read_all = matches!(options.read_data, Some(DataSubset::All));
    if !read_all {
        let problems: Vec<Option<String>> = present
            .par_iter()
            .map(|pack| check_header(repo, pack, listed[*pack], &packs[*pack]))
            .collect();
        report.headers_read = present.len();
        pack_problems.extend(problems.into_iter().flatten());
    }
    if let Some(subset) = options.read_data {
        let selected: Vec<&&PackId> = present.iter().filter(|p| subset.contains(p)).collect();
        report.packs_read = selected.len();
        if read_all {
            report.headers_read = selected.len();
        }
        let results: Vec<PackReading> = selected
            .par_iter()
            .map(|pack| read_pack(repo, pack, &packs[**pack]))
            .collect();
        for r in results {
            pack_problems.extend(r.problems);
            for (blob, why) in r.damaged {
                lost.insert(blob, Lost { why, pack: *r.pack });
            }
        }
    }
    // A blob is lost only if the copy the index resolves to is: another
    // copy in a good pack still restores.
    lost.retain(|blob, l| repo.index().get(blob).is_some_and(|loc| loc.pack == l.pack));
    report.errors.extend(pack_problems);

    let mut unindexed: Vec<(&PackId, &u64)> = listed
        .iter()
        .filter(|(p, _)| !packs.contains_key(p) && !marked_unlisted.contains(*p))
        .collect();
    unindexed.sort();
    report.unindexed_packs = unindexed.len();
    report.unindexed_bytes = unindexed.iter().map(|(_, s)| **s).sum();
    if !unindexed.is_empty() {
        report.warnings.push(format!(
            "{} pack(s) ({} bytes) are in no index: left by interrupted backups, or being written by a running one; no snapshot uses them, and `{PRUNE}` removes them after its grace period (first: {})",
            unindexed.len(),
            report.unindexed_bytes,
            unindexed[0].0.to_hex()
        ));
    }

    // Snapshots and their trees.
    let mut walker = Walker {
        repo,
        lost: &lost,
        seen: HashSet::new(),
        damage_under: HashMap::new(),
    };
    snapshot_ids.sort();
    report.snapshots = snapshot_ids.len();
    let mut needed_from_missing: HashSet<PackId> = HashSet::new();
    for id in &snapshot_ids {
        match load_snapshot(walker.repo, id) {
            Ok(manifest) => {
                let mut damage = Damage::default();
                walker.walk(&manifest.tree, "/", &mut damage);
                if damage.count > 0 {
                    needed_from_missing.extend(damage.packs.iter().copied());
                    report.errors.push(format!(
                        "snapshot {} cannot be fully restored: {} path(s) lose content ({}): {}{}; `{REPAIR_SNAPSHOTS}` writes a copy without them (or bring the lost packs back from a copy, then `{REPAIR_INDEX}`)",
                        id.short(),
                        damage.count,
                        damage.reasons.iter().cloned().collect::<Vec<_>>().join("; "),
                        damage.paths.join(", "),
                        if damage.count > damage.paths.len() {
                            format!(" and {} more", damage.count - damage.paths.len())
                        } else {
                            String::new()
                        }
                    ));
                    add_repair(&mut report, REPAIR_SNAPSHOTS);
                    report.damaged_snapshots.push(DamagedSnapshot {
                        snapshot: id.to_hex(),
                        paths_affected: damage.count,
                        paths: damage.paths,
                    });
                }
            }
            Err(e) => report.errors.push(format!(
                "snapshot {} cannot be read ({e}): it cannot be restored; `snap forget {}` removes it",
                id.to_hex(),
                id.short()
            )),
        }
    }
    for pack in &missing_packs {
        let blobs = packs[pack].len();
        if needed_from_missing.contains(pack) {
            report.errors.push(format!(
                "pack {} is missing: {blobs} blob(s) it held are lost; the snapshots above that need them name the paths",
                pack.to_hex()
            ));
        } else {
            report.warnings.push(format!(
                "pack {} is listed in the index but missing; no snapshot needs its {blobs} blob(s) from it (an old index file, or a copy elsewhere), so nothing is lost; `{REPAIR_INDEX}` or `{PRUNE}` drops the stale entries",
                pack.to_hex()
            ));
        }
    }
    if !report.damaged_snapshots.is_empty() && report.unindexed_packs > 0 {
        // The lost blobs may be in packs that no index lists.
        add_repair(&mut report, REPAIR_INDEX);
    }
    if report.repair.contains(&REPAIR_SNAPSHOTS.to_string()) {
        // Rebuilding the index first can find blobs that a damaged index
        // file hid; only then is cutting files out needed.
        report.repair.sort_by_key(|c| c != REPAIR_INDEX);
    }
    drop(lock);
    Ok(report)
}

fn add_repair(report: &mut CheckReport, command: &str) {
    if !report.repair.iter().any(|c| c == command) {
        report.repair.push(command.to_string());
    }
}

/// Key files: each must match its name and parse; a key dearer than snap
/// tries unasked is worth a warning (it opens only with --key-hint).
fn check_keys(repo: &Repository, names: &[String], report: &mut CheckReport) {
    for name in names {
        let bytes = match repo.backend().read(FileKind::Key, name) {
            Ok(b) => b,
            Err(e) => {
                report
                    .errors
                    .push(format!("key file {name} cannot be read: {e}"));
                continue;
            }
        };
        let problem = match check_name(FileKind::Key, name, &bytes) {
            Err(_) => Some("its content does not match its name".to_string()),
            Ok(()) => match KeyFile::decode(&bytes) {
                Err(e) => Some(e.to_string()),
                Ok(file) if !file.kdf_params().tried_unasked() => {
                    let p = file.kdf_params();
                    report.warnings.push(format!(
                        "key file {name} asks for {} KiB × {} passes of Argon2id, more than snap tries unasked: its password opens the repository only with --key-hint {}; if nobody made it, remove it with `snap key remove {}`",
                        p.memory_kib,
                        p.iterations,
                        &name[..8],
                        &name[..8]
                    ));
                    None
                }
                Ok(_) => None,
            },
        };
        if let Some(why) = problem {
            let ours = repo.key_id().0.to_hex() == *name;
            report.errors.push(format!(
                "key file {name} is damaged ({why}): the password it holds no longer opens the repository{}",
                if ours {
                    ""
                } else {
                    "; add a new key with `snap key add` while another key works, then remove this one with `snap key remove`"
                }
            ));
        }
    }
}

/// A pack's size from its entries: the blobs, the sealed header (a version
/// byte and one entry per blob) and the 4-byte header length (spec §6.2).
fn expected_pack_size(entries: &[PackEntry]) -> u64 {
    let blobs: u64 = entries
        .iter()
        .map(|e| e.offset as u64 + e.stored_len as u64)
        .max()
        .unwrap_or(0);
    blobs + header_len(entries.len()) + 4
}

/// Reads a pack's header alone and compares it with its index entries.
fn check_header(
    repo: &Repository,
    pack: &PackId,
    size: u64,
    indexed: &[PackEntry],
) -> Option<String> {
    match repo.load_pack_header(pack, size) {
        Ok(entries) => compare_header(pack, entries, indexed),
        Err(e) => Some(format!(
            "pack {}: its header cannot be read ({e}); restores still find its blobs through the index, but `{REPAIR_INDEX}` could not rebuild them from it",
            pack.to_hex()
        )),
    }
}

fn compare_header(
    pack: &PackId,
    mut entries: Vec<PackEntry>,
    indexed: &[PackEntry],
) -> Option<String> {
    let mut expected = indexed.to_vec();
    entries.sort_by_key(|e| e.offset);
    expected.sort_by_key(|e| e.offset);
    (entries != expected).then(|| {
        format!(
            "pack {}: its header lists {} blob(s) that differ from the {} its index entry lists",
            pack.to_hex(),
            entries.len(),
            expected.len()
        )
    })
}

/// What affects one snapshot.
#[derive(Default)]
struct Damage {
    count: usize,
    paths: Vec<String>,
    reasons: std::collections::BTreeSet<String>,
    packs: HashSet<PackId>,
}

/// One damaged path: where, why, and the pack at fault if one is.
type Found = (String, String, Option<PackId>);

impl Damage {
    fn add(&mut self, (path, why, pack): Found) {
        self.count += 1;
        if self.paths.len() < PATHS_SHOWN {
            self.paths.push(path);
        }
        self.reasons.insert(why);
        self.packs.extend(pack);
    }
}

struct Walker<'a> {
    repo: &'a Repository,
    lost: &'a HashMap<BlobId, Lost>,
    /// Trees already walked: a tree shared by snapshots is read once.
    seen: HashSet<BlobId>,
    /// Damage found under each damaged tree, for the snapshots that share it.
    damage_under: HashMap<BlobId, Vec<Found>>,
}

impl Walker<'_> {
    fn walk(&mut self, tree: &BlobId, path: &str, damage: &mut Damage) {
        let mut found = Vec::new();
        self.walk_tree(tree, path, &mut found);
        for f in found {
            damage.add(f);
        }
    }

    /// Appends to `found` every damaged path under `tree`.
    fn walk_tree(&mut self, tree: &BlobId, path: &str, found: &mut Vec<Found>) {
        if !self.seen.insert(*tree) {
            if let Some(known) = self.damage_under.get(tree) {
                found.extend(known.iter().cloned());
            }
            return;
        }
        let mut here = Vec::new();
        if let Some(l) = self.lost.get(tree) {
            here.push((path.to_string(), l.why.clone(), Some(l.pack)));
        } else if self.repo.index().get(tree).is_none() {
            here.push((
                path.to_string(),
                format!("tree {} is in no index", tree.short()),
                None,
            ));
        } else {
            match load_tree(self.repo, tree) {
                Err(e) => here.push((
                    path.to_string(),
                    format!("its tree cannot be read: {e}"),
                    self.repo.index().get(tree).map(|l| l.pack),
                )),
                Ok(t) => {
                    for node in t.nodes {
                        let child = format!("{}{}", path, node.name.display());
                        let bad = node.content.iter().flatten().find_map(|blob| {
                            if let Some(l) = self.lost.get(blob) {
                                Some((l.why.clone(), Some(l.pack)))
                            } else if !self.repo.index().contains(blob) {
                                Some((format!("data blob {} is in no index", blob.short()), None))
                            } else {
                                None
                            }
                        });
                        if let Some((why, pack)) = bad {
                            here.push((child.clone(), why, pack));
                        }
                        if let Some(sub) = &node.subtree {
                            self.walk_tree(sub, &format!("{child}/"), &mut here);
                        }
                    }
                }
            }
        }
        if !here.is_empty() {
            self.damage_under.insert(*tree, here.clone());
        }
        found.extend(here);
    }
}

/// What reading one pack found.
struct PackReading<'p> {
    pack: &'p PackId,
    problems: Vec<String>,
    damaged: Vec<(BlobId, String)>,
}

/// Downloads one pack and verifies its name, header and every blob.
fn read_pack<'p>(repo: &Repository, pack: &'p PackId, indexed: &[PackEntry]) -> PackReading<'p> {
    let name = pack.to_hex();
    let mut reading = PackReading {
        pack,
        problems: Vec::new(),
        damaged: Vec::new(),
    };
    let bytes = match repo.backend().read(FileKind::Pack, &name) {
        Ok(b) => b,
        Err(e) => {
            reading
                .problems
                .push(format!("pack {name} cannot be read: {e}"));
            return reading;
        }
    };
    if Id::sha256(&bytes) != pack.0 {
        reading.problems.push(format!(
            "pack {name}: its content does not match its name (SHA-256): it was damaged after it was written"
        ));
    }
    let trailer: [u8; 4] = match bytes.len().checked_sub(4).map(|at| &bytes[at..]) {
        Some(t) => [t[0], t[1], t[2], t[3]],
        None => {
            reading
                .problems
                .push(format!("pack {name} is shorter than a pack can be"));
            return reading;
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
        Ok(entries) => reading
            .problems
            .extend(compare_header(pack, entries, indexed)),
        Err(e) => reading
            .problems
            .push(format!("pack {name}: its header cannot be read: {e}")),
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
            reading.problems.push(format!(
                "pack {name}: blob {} is damaged ({err})",
                e.id.to_hex()
            ));
            reading.damaged.push((
                e.id,
                format!("blob {} in pack {} is damaged", e.id.short(), pack.short()),
            ));
        }
    }
    reading
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

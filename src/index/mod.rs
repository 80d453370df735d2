//! Index files (encode/decode, pure) and the compact in-memory [`Index`] (spec §7).
//!
//! An index file maps blob IDs to pack, offset and lengths. The in-memory index
//! keeps one fixed-size record per blob in a sorted vector, 52 bytes per blob and
//! no per-blob heap allocation, and answers lookups by binary search.

mod file;

pub use file::{IndexFile, IndexPack, MarkedPack, MAX_BLOBS_PER_INDEX_FILE};

use std::collections::{HashMap, HashSet};

use crate::blob::{BlobKind, Compression, PackEntry};
use crate::id::{BlobId, Id, PackId};

/// Errors of index decoding.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The index file's plaintext is malformed.
    #[error("index file is malformed: {reason}")]
    Format {
        /// What is wrong.
        reason: String,
    },
    /// Decryption failed.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

const MARKED: u8 = 4;

#[derive(Clone, Copy)]
struct Record {
    id: [u8; 32],
    pack: u32,
    offset: u32,
    stored_len: u32,
    raw_len: u32,
    // bit 0: tree blob; bit 1: zstd; bit 2: in a pack marked for deletion.
    flags: u8,
}

/// Where a blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    /// The pack holding it.
    pub pack: PackId,
    /// Data or tree.
    pub kind: BlobKind,
    /// How its plaintext was stored.
    pub compression: Compression,
    /// Start of its sealed bytes in the pack.
    pub offset: u32,
    /// Sealed length.
    pub stored_len: u32,
    /// Plaintext length.
    pub raw_len: u32,
    /// The pack is marked for deletion (§7.4): readable, but not to be
    /// relied on by new snapshots.
    pub marked: bool,
}

/// Every known blob's location; see the module documentation.
#[derive(Default)]
pub struct Index {
    packs: Vec<PackId>,
    pack_numbers: HashMap<PackId, u32>,
    records: Vec<Record>,
    sorted: bool,
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index {
            sorted: true,
            ..Default::default()
        }
    }

    /// Adds every blob of one pack. Call [`Index::sort`] before lookups.
    pub fn add_pack(&mut self, pack: PackId, entries: &[PackEntry]) {
        self.add(pack, entries, 0);
    }

    /// Adds every blob of a pack marked for deletion: found by lookups when
    /// no live pack holds the blob, never by [`Index::is_live`].
    pub fn add_marked_pack(&mut self, pack: PackId, entries: &[PackEntry]) {
        self.add(pack, entries, MARKED);
    }

    fn add(&mut self, pack: PackId, entries: &[PackEntry], extra_flags: u8) {
        let next = self.packs.len() as u32;
        let number = *self.pack_numbers.entry(pack).or_insert(next);
        if number == next {
            self.packs.push(pack);
        }
        self.records.reserve(entries.len());
        for e in entries {
            self.records.push(Record {
                id: *e.id.as_bytes(),
                pack: number,
                offset: e.offset,
                stored_len: e.stored_len,
                raw_len: e.raw_len,
                flags: (e.kind == BlobKind::Tree) as u8
                    | (((e.compression == Compression::Zstd) as u8) << 1)
                    | extra_flags,
            });
        }
        self.sorted = false;
    }

    /// Adds every pack of a decoded index file, live and marked.
    pub fn add_file(&mut self, file: &IndexFile) {
        for p in &file.packs {
            self.add_pack(p.id, &p.blobs);
        }
        for p in &file.marked {
            self.add_marked_pack(p.id, &p.blobs);
        }
    }

    /// Sorts records by ID and drops duplicates, making lookups possible. A
    /// blob stored twice keeps a live location over a marked one, and
    /// otherwise the first added (the sort is stable).
    pub fn sort(&mut self) {
        self.sort_resolving(|_| HashSet::new());
    }

    /// As [`Index::sort`], but when a blob is listed in more than one pack,
    /// asks `gone` which of those packs (the contested ones, passed once,
    /// usually none) no longer exist, and keeps a location in a pack that
    /// does. An index file brought back from an old copy must not hide a
    /// blob's live copy behind a pack that prune deleted (spec §7.2).
    pub fn sort_resolving(&mut self, gone: impl FnOnce(&[PackId]) -> HashSet<PackId>) {
        if self.sorted {
            return;
        }
        self.records.sort_by_key(|r| (r.id, r.flags & MARKED));
        let mut contested = HashSet::new();
        for pair in self.records.windows(2) {
            if pair[0].id == pair[1].id && pair[0].pack != pair[1].pack {
                contested.insert(pair[0].pack);
                contested.insert(pair[1].pack);
            }
        }
        if !contested.is_empty() {
            let mut asked: Vec<PackId> =
                contested.iter().map(|&n| self.packs[n as usize]).collect();
            asked.sort();
            let gone = gone(&asked);
            let gone: HashSet<u32> = gone
                .iter()
                .filter_map(|p| self.pack_numbers.get(p).copied())
                .collect();
            if !gone.is_empty() {
                self.records
                    .sort_by_key(|r| (r.id, gone.contains(&r.pack), r.flags & MARKED));
            }
        }
        self.records.dedup_by(|a, b| a.id == b.id);
        self.records.shrink_to_fit();
        self.sorted = true;
    }

    /// Where a blob is, if indexed.
    ///
    /// # Panics
    /// If called after `add_*` without [`Index::sort`]: a programming error.
    pub fn get(&self, id: &BlobId) -> Option<BlobLocation> {
        assert!(self.sorted, "Index::sort must run before lookups");
        let i = self
            .records
            .binary_search_by(|r| r.id.cmp(id.as_bytes()))
            .ok()?;
        Some(self.location(&self.records[i]))
    }

    fn location(&self, r: &Record) -> BlobLocation {
        BlobLocation {
            pack: self.packs[r.pack as usize],
            kind: if r.flags & 1 == 1 {
                BlobKind::Tree
            } else {
                BlobKind::Data
            },
            compression: if r.flags & 2 == 2 {
                Compression::Zstd
            } else {
                Compression::None
            },
            offset: r.offset,
            stored_len: r.stored_len,
            raw_len: r.raw_len,
            marked: r.flags & MARKED != 0,
        }
    }

    /// True if the blob is indexed, in a live or a marked pack: it can be read.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.get(id).is_some()
    }

    /// True if the blob is in a live pack: a new snapshot may rely on it
    /// without storing it again (deduplication).
    pub fn is_live(&self, id: &BlobId) -> bool {
        self.get(id).is_some_and(|l| !l.marked)
    }

    /// The blob's position among the sorted records, for bitmaps over the
    /// index (one bit per blob where a set would cost tens of bytes).
    pub fn position(&self, id: &BlobId) -> Option<usize> {
        assert!(self.sorted, "Index::sort must run before lookups");
        self.records
            .binary_search_by(|r| r.id.cmp(id.as_bytes()))
            .ok()
    }

    /// Number of distinct indexed blobs (after sorting).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every pack the index names.
    pub fn packs(&self) -> &[PackId] {
        &self.packs
    }

    /// Heap bytes held, for the memory bar (spec §7.3).
    pub fn heap_bytes(&self) -> usize {
        self.records.capacity() * std::mem::size_of::<Record>()
            + self.packs.capacity() * std::mem::size_of::<PackId>()
            + self.pack_numbers.capacity() * (std::mem::size_of::<PackId>() + 4 + 8)
    }

    /// Every blob ID with its location, in ID order.
    pub fn iter(&self) -> impl Iterator<Item = (BlobId, BlobLocation)> + '_ {
        self.records
            .iter()
            .map(|r| (BlobId(Id(r.id)), self.location(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> PackEntry {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id[31] = (n * 7) as u8;
        PackEntry {
            kind: if n % 3 == 0 {
                BlobKind::Tree
            } else {
                BlobKind::Data
            },
            compression: if n % 2 == 0 {
                Compression::Zstd
            } else {
                Compression::None
            },
            id: BlobId(Id(id)),
            offset: n * 10,
            stored_len: 40 + n,
            raw_len: n,
        }
    }

    #[test]
    fn lookups() {
        let mut index = Index::new();
        let a: Vec<_> = (0..100).map(entry).collect();
        let b: Vec<_> = (100..200).map(entry).collect();
        index.add_pack(PackId(Id([1; 32])), &a);
        index.add_pack(PackId(Id([2; 32])), &b);
        index.add_pack(PackId(Id([3; 32])), &a[..10]);
        index.sort();
        assert_eq!(index.len(), 200);
        let loc = index.get(&entry(150).id).unwrap();
        assert_eq!(loc.pack, PackId(Id([2; 32])));
        assert_eq!((loc.offset, loc.stored_len, loc.raw_len), (1500, 190, 150));
        assert_eq!(loc.kind, BlobKind::Tree);
        assert_eq!(loc.compression, Compression::Zstd);
        assert!(!index.contains(&entry(500).id));
        assert_eq!(index.position(&entry(0).id), Some(0));
    }

    #[test]
    fn live_locations_win_over_marked() {
        let mut index = Index::new();
        let a: Vec<_> = (0..10).map(entry).collect();
        index.add_marked_pack(PackId(Id([1; 32])), &a);
        index.add_pack(PackId(Id([2; 32])), &a[..5]);
        index.sort();
        assert_eq!(index.len(), 10);
        let live = index.get(&entry(1).id).unwrap();
        assert_eq!((live.pack, live.marked), (PackId(Id([2; 32])), false));
        let marked = index.get(&entry(7).id).unwrap();
        assert_eq!((marked.pack, marked.marked), (PackId(Id([1; 32])), true));
        assert!(index.contains(&entry(7).id) && !index.is_live(&entry(7).id));
        assert!(index.is_live(&entry(1).id));
    }

    #[test]
    fn a_copy_in_a_pack_that_exists_wins_over_one_in_a_deleted_pack() {
        let a: Vec<_> = (0..10).map(entry).collect();
        let (deleted, live, other) = (
            PackId(Id([1; 32])),
            PackId(Id([2; 32])),
            PackId(Id([3; 32])),
        );
        let mut index = Index::new();
        // The stale entry comes first, as an old index file listed first would.
        index.add_pack(deleted, &a);
        index.add_pack(live, &a[..6]);
        index.add_pack(other, &[entry(50)]);
        let mut asked = Vec::new();
        index.sort_resolving(|packs| {
            asked = packs.to_vec();
            [deleted].into_iter().collect()
        });
        assert_eq!(
            asked,
            vec![deleted, live],
            "only contested packs are asked about"
        );
        assert_eq!(index.len(), 11);
        assert_eq!(index.get(&entry(3).id).unwrap().pack, live);
        // A blob whose only copy is in the deleted pack keeps that entry.
        assert_eq!(index.get(&entry(8).id).unwrap().pack, deleted);

        // Without duplicates nothing is asked.
        let mut plain = Index::new();
        plain.add_pack(live, &a);
        plain.sort_resolving(|_| panic!("nothing is contested"));
        assert_eq!(plain.len(), 10);
    }

    #[test]
    fn at_most_64_bytes_per_blob() {
        let mut index = Index::new();
        let n = 200_000u32;
        for p in 0..(n / 2000) {
            let entries: Vec<_> = (p * 2000..(p + 1) * 2000).map(entry).collect();
            let mut pid = [0u8; 32];
            pid[..4].copy_from_slice(&p.to_le_bytes());
            index.add_pack(PackId(Id(pid)), &entries);
        }
        index.sort();
        let per_blob = index.heap_bytes() as f64 / n as f64;
        assert!(per_blob <= 64.0, "{per_blob} bytes per blob");
    }
}

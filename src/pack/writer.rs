//! `PackWriter`: collects sealed blobs of one kind and lays out a pack.

use rand::seq::SliceRandom;

use super::{encode_header, BlobKind, Compression, PackEntry};
use crate::crypto::MasterKey;
use crate::id::{BlobId, Id, PackId};

/// A pack being filled. Blobs are held sealed in memory until [`finish`].
///
/// [`finish`]: PackWriter::finish
pub struct PackWriter {
    kind: BlobKind,
    blobs: Vec<(PackEntry, Vec<u8>)>,
    size: u64,
}

/// A complete pack: its bytes, name and entries (with offsets).
pub struct FinishedPack {
    /// SHA-256 of `bytes`: the pack's file name.
    pub id: PackId,
    /// The pack file.
    pub bytes: Vec<u8>,
    /// Every blob, in file order.
    pub entries: Vec<PackEntry>,
}

impl PackWriter {
    /// An empty pack for blobs of `kind`.
    pub fn new(kind: BlobKind) -> PackWriter {
        PackWriter {
            kind,
            blobs: Vec::new(),
            size: 0,
        }
    }

    /// The blob kind this pack holds.
    pub fn kind(&self) -> BlobKind {
        self.kind
    }

    /// Bytes of sealed blobs added so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of blobs added so far.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Adds a sealed blob.
    pub fn add(&mut self, id: BlobId, compression: Compression, raw_len: u32, sealed: Vec<u8>) {
        self.size += sealed.len() as u64;
        let entry = PackEntry {
            kind: self.kind,
            compression,
            id,
            offset: 0,
            stored_len: sealed.len() as u32,
            raw_len,
        };
        self.blobs.push((entry, sealed));
    }

    /// Lays out the pack. Blobs are written in a random order so the sequence
    /// of chunk sizes within a file cannot be read off the pack layout.
    pub fn finish(mut self, key: &MasterKey) -> FinishedPack {
        self.blobs.shuffle(&mut rand::rng());
        let mut bytes = Vec::with_capacity(self.size as usize + 64 + self.blobs.len() * 64);
        let mut entries = Vec::with_capacity(self.blobs.len());
        for (mut entry, sealed) in self.blobs {
            entry.offset = bytes.len() as u32;
            bytes.extend_from_slice(&sealed);
            entries.push(entry);
        }
        bytes.extend_from_slice(&encode_header(key, &entries));
        FinishedPack {
            id: PackId(Id::sha256(&bytes)),
            bytes,
            entries,
        }
    }
}

//! The vocabulary of stored blobs that packs and the index share (spec §6,
//! §7): what a blob is (data or tree), how its plaintext was stored, and
//! where in a pack it lies. Plain values only, so both layers can use them
//! without using each other.

use crate::id::BlobId;

/// The two kinds of blobs; data and tree blobs never share a pack.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BlobKind {
    /// File content.
    Data,
    /// A tree of nodes.
    Tree,
}

impl BlobKind {
    /// The byte stored in headers and index files.
    pub fn code(self) -> u8 {
        match self {
            BlobKind::Data => 0,
            BlobKind::Tree => 1,
        }
    }

    /// Parses the stored byte.
    pub fn from_code(code: u8) -> Option<BlobKind> {
        match code {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::Tree),
            _ => None,
        }
    }
}

/// How a blob's plaintext was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is (compression did not shrink it).
    None,
    /// zstd frame.
    Zstd,
}

impl Compression {
    /// The byte stored in headers and index files.
    pub fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Zstd => 1,
        }
    }

    /// Parses the stored byte.
    pub fn from_code(code: u8) -> Option<Compression> {
        match code {
            0 => Some(Compression::None),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// One blob's place in a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackEntry {
    /// Data or tree.
    pub kind: BlobKind,
    /// How the plaintext was stored.
    pub compression: Compression,
    /// The blob's ID.
    pub id: BlobId,
    /// Where its sealed bytes start in the pack.
    pub offset: u32,
    /// How many sealed bytes it has.
    pub stored_len: u32,
    /// Its plaintext length.
    pub raw_len: u32,
}

//! `PackWriter`: collects sealed blobs of one kind and lays out a pack.

use rand::seq::SliceRandom;

use super::{encode_header, BlobKind, Compression, PackEntry};
use crate::crypto::MasterKey;
use crate::id::{BlobId, Id, PackId};

/// A pack being filled: sealed blobs appended to one buffer, in arrival order.
pub struct PackWriter {
    kind: BlobKind,
    buf: Vec<u8>,
    blobs: Vec<(PackEntry, usize)>,
}

/// A complete pack. Its file is [`FinishedPack::parts`] in order: the blobs
/// (as slices of one buffer, in the shuffled file order) then the header.
pub struct FinishedPack {
    /// SHA-256 of the file: the pack's name.
    pub id: PackId,
    /// Every blob, in file order, with its offset in the file.
    pub entries: Vec<PackEntry>,
    buf: Vec<u8>,
    order: Vec<(usize, usize)>,
    header: Vec<u8>,
}

impl FinishedPack {
    /// The file's bytes as consecutive slices, without copying them together.
    pub fn parts(&self) -> Vec<&[u8]> {
        let mut parts: Vec<&[u8]> = self
            .order
            .iter()
            .map(|&(start, len)| &self.buf[start..start + len])
            .collect();
        parts.push(&self.header);
        parts
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        (self.buf.len() + self.header.len()) as u64
    }

    /// True for a pack without blobs (never written).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Gives back the blob buffer for reuse.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The whole file in one buffer (tests, small packs).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.parts().concat()
    }
}

impl PackWriter {
    /// An empty pack for blobs of `kind`.
    pub fn new(kind: BlobKind) -> PackWriter {
        PackWriter::with_buffer(kind, Vec::new())
    }

    /// An empty pack that fills `buf` (cleared first), to reuse the memory
    /// of a pack already uploaded.
    pub fn with_buffer(kind: BlobKind, mut buf: Vec<u8>) -> PackWriter {
        buf.clear();
        PackWriter {
            kind,
            buf,
            blobs: Vec::new(),
        }
    }

    /// The blob kind this pack holds.
    pub fn kind(&self) -> BlobKind {
        self.kind
    }

    /// Bytes of sealed blobs added so far.
    pub fn size(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Number of blobs added so far.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Reserves room for a pack of about `bytes`, so the buffer is allocated
    /// once instead of growing by doubling.
    pub fn reserve(&mut self, bytes: usize) {
        self.buf.reserve(bytes.saturating_sub(self.buf.len()));
    }

    /// Adds a sealed blob (copied into the pack buffer).
    pub fn add(&mut self, id: BlobId, compression: Compression, raw_len: u32, sealed: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(sealed);
        let entry = PackEntry {
            kind: self.kind,
            compression,
            id,
            offset: 0,
            stored_len: sealed.len() as u32,
            raw_len,
        };
        self.blobs.push((entry, start));
    }

    /// Lays out the pack. Blobs go to the file in a random order so the
    /// sequence of chunk sizes within a file cannot be read off the pack.
    pub fn finish(mut self, key: &MasterKey) -> FinishedPack {
        use sha2::Digest;
        self.blobs.shuffle(&mut rand::rng());
        let mut entries = Vec::with_capacity(self.blobs.len());
        let mut order = Vec::with_capacity(self.blobs.len());
        let mut offset = 0u32;
        for (mut entry, start) in self.blobs {
            entry.offset = offset;
            offset += entry.stored_len;
            order.push((start, entry.stored_len as usize));
            entries.push(entry);
        }
        let header = encode_header(key, &entries);
        let mut hasher = sha2::Sha256::new();
        for &(start, len) in &order {
            hasher.update(&self.buf[start..start + len]);
        }
        hasher.update(&header);
        FinishedPack {
            id: PackId(Id(hasher.finalize().into())),
            entries,
            buf: self.buf,
            order,
            header,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hash_to_the_id_and_decode() {
        let key = MasterKey::from_secret([3; 32]);
        let mut w = PackWriter::new(BlobKind::Data);
        let mut ids = Vec::new();
        for i in 0..20u8 {
            let plain = vec![i; 100 + i as usize];
            let (c, sealed) = super::super::seal_blob(&key, BlobKind::Data, &plain, 3);
            let id = key.blob_id(&plain);
            w.add(id, c, plain.len() as u32, &sealed);
            ids.push((id, plain));
        }
        let pack = w.finish(&key);
        let bytes = pack.to_bytes();
        assert_eq!(pack.id, PackId(Id::sha256(&bytes)));
        assert_eq!(bytes.len() as u64, pack.len());
        let trailer: [u8; 4] = bytes[bytes.len() - 4..].try_into().unwrap();
        let (off, len) = super::super::header_location(bytes.len() as u64, trailer).unwrap();
        let entries =
            super::super::decode_header(&key, &bytes[off as usize..(off + len) as usize], off)
                .unwrap();
        assert_eq!(entries, pack.entries);
        for e in &entries {
            let sealed = &bytes[e.offset as usize..(e.offset + e.stored_len) as usize];
            let plain =
                super::super::open_blob(&key, e.kind, e.compression, e.raw_len, &e.id, sealed)
                    .unwrap();
            assert!(ids.iter().any(|(id, p)| *id == e.id && *p == plain));
        }
    }
}

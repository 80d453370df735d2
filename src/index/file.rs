//! The index file format (spec §7.1): pure encode and decode.

use super::IndexError;
use crate::crypto::{MasterKey, SealKind};
use crate::id::{BlobId, Id, IndexId, PackId};
use crate::pack::{BlobKind, Compression, PackEntry};

const INDEX_VERSION: u8 = 1;
const BLOB_RECORD_LEN: usize = 1 + 1 + 4 + 4 + 4 + 32;

/// Writers start a new index file after this many blobs, so no single file
/// grows past a few MiB.
pub const MAX_BLOBS_PER_INDEX_FILE: usize = 50_000;

/// The blobs of one pack, as an index file lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexPack {
    /// The pack's ID.
    pub id: PackId,
    /// Its blobs with offsets and lengths.
    pub blobs: Vec<PackEntry>,
}

/// One index file's content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexFile {
    /// Index files this one replaces (used by maintenance; empty on backup).
    pub supersedes: Vec<IndexId>,
    /// Packs and their blobs.
    pub packs: Vec<IndexPack>,
}

impl IndexFile {
    /// Number of blobs listed.
    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|p| p.blobs.len()).sum()
    }

    /// The plaintext encoding.
    pub fn encode_plaintext(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(16 + self.blob_count() * BLOB_RECORD_LEN + self.packs.len() * 36);
        out.push(INDEX_VERSION);
        out.extend_from_slice(&(self.supersedes.len() as u32).to_le_bytes());
        for id in &self.supersedes {
            out.extend_from_slice(id.as_bytes());
        }
        out.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for pack in &self.packs {
            out.extend_from_slice(pack.id.as_bytes());
            out.extend_from_slice(&(pack.blobs.len() as u32).to_le_bytes());
            for b in &pack.blobs {
                out.push(b.kind.code());
                out.push(b.compression.code());
                out.extend_from_slice(&b.offset.to_le_bytes());
                out.extend_from_slice(&b.stored_len.to_le_bytes());
                out.extend_from_slice(&b.raw_len.to_le_bytes());
                out.extend_from_slice(b.id.as_bytes());
            }
        }
        out
    }

    /// Sealed for storage.
    pub fn encode(&self, key: &MasterKey) -> Vec<u8> {
        key.seal(SealKind::Index, &self.encode_plaintext())
    }

    /// Opens and parses a stored index file.
    pub fn decode(key: &MasterKey, sealed: &[u8]) -> Result<IndexFile, IndexError> {
        Self::decode_plaintext(&key.open(SealKind::Index, sealed)?)
    }

    /// Parses the plaintext; never panics, never allocates beyond the input.
    pub fn decode_plaintext(plain: &[u8]) -> Result<IndexFile, IndexError> {
        let mut r = Reader {
            data: plain,
            pos: 0,
        };
        let version = r.u8()?;
        if version != INDEX_VERSION {
            return Err(format_err(format!(
                "version {version} is not supported (this snap reads 1)"
            )));
        }
        let n_sup = r.count(32)?;
        let mut supersedes = Vec::with_capacity(n_sup);
        for _ in 0..n_sup {
            supersedes.push(IndexId(r.id()?));
        }
        let n_packs = r.count(36)?;
        let mut packs = Vec::with_capacity(n_packs);
        for _ in 0..n_packs {
            let id = PackId(r.id()?);
            let n_blobs = r.count(BLOB_RECORD_LEN)?;
            let mut blobs = Vec::with_capacity(n_blobs);
            for _ in 0..n_blobs {
                let kind_code = r.u8()?;
                let kind = BlobKind::from_code(kind_code)
                    .ok_or_else(|| format_err(format!("unknown blob type {kind_code}")))?;
                let comp_code = r.u8()?;
                let compression = Compression::from_code(comp_code)
                    .ok_or_else(|| format_err(format!("unknown compression {comp_code}")))?;
                let offset = r.u32()?;
                let stored_len = r.u32()?;
                let raw_len = r.u32()?;
                let id = BlobId(r.id()?);
                blobs.push(PackEntry {
                    kind,
                    compression,
                    id,
                    offset,
                    stored_len,
                    raw_len,
                });
            }
            packs.push(IndexPack { id, blobs });
        }
        if r.pos != plain.len() {
            return Err(format_err(format!(
                "{} trailing bytes",
                plain.len() - r.pos
            )));
        }
        Ok(IndexFile { supersedes, packs })
    }
}

fn format_err(reason: String) -> IndexError {
    IndexError::Format { reason }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], IndexError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format_err(format!("truncated at byte {}", self.pos)))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, IndexError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn id(&mut self) -> Result<Id, IndexError> {
        let mut id = [0u8; 32];
        id.copy_from_slice(self.take(32)?);
        Ok(Id(id))
    }
    /// A count of records of at least `unit` bytes each, checked against the
    /// bytes left so a hostile count cannot make us allocate.
    fn count(&mut self, unit: usize) -> Result<usize, IndexError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(unit) > self.data.len() - self.pos {
            return Err(format_err(format!("count {n} exceeds the remaining bytes")));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let file = IndexFile {
            supersedes: vec![IndexId(Id([4; 32]))],
            packs: vec![IndexPack {
                id: PackId(Id([5; 32])),
                blobs: vec![PackEntry {
                    kind: BlobKind::Tree,
                    compression: Compression::Zstd,
                    id: BlobId(Id([6; 32])),
                    offset: 7,
                    stored_len: 80,
                    raw_len: 9,
                }],
            }],
        };
        let plain = file.encode_plaintext();
        assert_eq!(IndexFile::decode_plaintext(&plain).unwrap(), file);
        for cut in 0..plain.len() {
            assert!(IndexFile::decode_plaintext(&plain[..cut]).is_err());
        }
        let key = MasterKey::from_secret([1; 32]);
        assert_eq!(IndexFile::decode(&key, &file.encode(&key)).unwrap(), file);
    }
}

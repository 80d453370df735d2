//! The index file format (spec §7.1): pure encode and decode.

use super::IndexError;
use crate::blob::{BlobKind, Compression, PackEntry};
use crate::crypto::{MasterKey, SealKind};
use crate::id::{BlobId, Id, IndexId, PackId};

/// Version of files without marked packs; readable by every snap.
const INDEX_VERSION_1: u8 = 1;
/// Version of files that also list packs marked for deletion (§7.4).
const INDEX_VERSION_2: u8 = 2;
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

/// A pack that prune marked for deletion (spec §7.4): still stored, its
/// blobs readable, but never used for deduplication; deleted by a later prune
/// once the grace period has passed, unless a snapshot needs it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkedPack {
    /// The pack's ID.
    pub id: PackId,
    /// When it was marked, in seconds since the Unix epoch (UTC).
    pub marked_at: i64,
    /// Its blobs; empty for a pack that no index listed when it was marked.
    pub blobs: Vec<PackEntry>,
}

/// One index file's content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexFile {
    /// Index files this one replaces (used by maintenance; empty on backup).
    pub supersedes: Vec<IndexId>,
    /// Packs and their blobs.
    pub packs: Vec<IndexPack>,
    /// Packs marked for deletion (index version 2; empty in version 1).
    pub marked: Vec<MarkedPack>,
}

impl IndexFile {
    /// Number of blobs listed (live and marked).
    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|p| p.blobs.len()).sum::<usize>()
            + self.marked.iter().map(|p| p.blobs.len()).sum::<usize>()
    }

    /// The plaintext encoding: version 1 when nothing is marked, so that
    /// older readers keep working, version 2 otherwise.
    pub fn encode_plaintext(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            16 + self.blob_count() * BLOB_RECORD_LEN
                + self.packs.len() * 36
                + self.marked.len() * 44,
        );
        out.push(if self.marked.is_empty() {
            INDEX_VERSION_1
        } else {
            INDEX_VERSION_2
        });
        out.extend_from_slice(&(self.supersedes.len() as u32).to_le_bytes());
        for id in &self.supersedes {
            out.extend_from_slice(id.as_bytes());
        }
        out.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for pack in &self.packs {
            out.extend_from_slice(pack.id.as_bytes());
            encode_blobs(&mut out, &pack.blobs);
        }
        if !self.marked.is_empty() {
            out.extend_from_slice(&(self.marked.len() as u32).to_le_bytes());
            for pack in &self.marked {
                out.extend_from_slice(pack.id.as_bytes());
                out.extend_from_slice(&pack.marked_at.to_le_bytes());
                encode_blobs(&mut out, &pack.blobs);
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
        if version != INDEX_VERSION_1 && version != INDEX_VERSION_2 {
            return Err(format_err(format!(
                "version {version} is not supported (this snap reads 1 and 2); upgrade snap"
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
            let blobs = r.blobs()?;
            packs.push(IndexPack { id, blobs });
        }
        let mut marked = Vec::new();
        if version == INDEX_VERSION_2 {
            let n_marked = r.count(44)?;
            if n_marked == 0 {
                return Err(format_err(
                    "version 2 with no marked packs (writers use version 1)".into(),
                ));
            }
            marked.reserve(n_marked);
            for _ in 0..n_marked {
                let id = PackId(r.id()?);
                let marked_at = r.i64()?;
                let blobs = r.blobs()?;
                marked.push(MarkedPack {
                    id,
                    marked_at,
                    blobs,
                });
            }
        }
        if r.pos != plain.len() {
            return Err(format_err(format!(
                "{} trailing bytes",
                plain.len() - r.pos
            )));
        }
        Ok(IndexFile {
            supersedes,
            packs,
            marked,
        })
    }
}

fn encode_blobs(out: &mut Vec<u8>, blobs: &[PackEntry]) {
    out.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    for b in blobs {
        out.push(b.kind.code());
        out.push(b.compression.code());
        out.extend_from_slice(&b.offset.to_le_bytes());
        out.extend_from_slice(&b.stored_len.to_le_bytes());
        out.extend_from_slice(&b.raw_len.to_le_bytes());
        out.extend_from_slice(b.id.as_bytes());
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
    fn i64(&mut self) -> Result<i64, IndexError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }
    /// A blob count and that many blob records.
    fn blobs(&mut self) -> Result<Vec<PackEntry>, IndexError> {
        let n_blobs = self.count(BLOB_RECORD_LEN)?;
        let mut blobs = Vec::with_capacity(n_blobs);
        for _ in 0..n_blobs {
            let kind_code = self.u8()?;
            let kind = BlobKind::from_code(kind_code)
                .ok_or_else(|| format_err(format!("unknown blob type {kind_code}")))?;
            let comp_code = self.u8()?;
            let compression = Compression::from_code(comp_code)
                .ok_or_else(|| format_err(format!("unknown compression {comp_code}")))?;
            let offset = self.u32()?;
            let stored_len = self.u32()?;
            let raw_len = self.u32()?;
            let id = BlobId(self.id()?);
            blobs.push(PackEntry {
                kind,
                compression,
                id,
                offset,
                stored_len,
                raw_len,
            });
        }
        Ok(blobs)
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
            marked: vec![],
        };
        let mut marked = file.clone();
        marked.marked.push(MarkedPack {
            id: PackId(Id([7; 32])),
            marked_at: 1_790_000_000,
            blobs: file.packs[0].blobs.clone(),
        });
        marked.marked.push(MarkedPack {
            id: PackId(Id([8; 32])),
            marked_at: -1,
            blobs: vec![],
        });
        for file in [file, marked] {
            round_trip(&file);
        }
    }

    fn round_trip(file: &IndexFile) {
        let file = file.clone();
        let plain = file.encode_plaintext();
        assert_eq!(plain[0], if file.marked.is_empty() { 1 } else { 2 });
        assert_eq!(IndexFile::decode_plaintext(&plain).unwrap(), file);
        for cut in 0..plain.len() {
            assert!(IndexFile::decode_plaintext(&plain[..cut]).is_err());
        }
        let key = MasterKey::from_secret([1; 32]);
        assert_eq!(IndexFile::decode(&key, &file.encode(&key)).unwrap(), file);
    }
}

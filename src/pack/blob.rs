//! One blob's stored form: optionally zstd-compressed, then sealed (spec §6.1).

use std::cell::RefCell;

use super::{BlobKind, PackError};
use crate::crypto::MasterKey;
use crate::id::BlobId;

/// The largest plaintext blob accepted when decoding (1 GiB): data blobs are at
/// most the chunker's 16 MiB maximum, but a tree of a huge folder can be larger.
pub const MAX_BLOB_SIZE: u32 = 1 << 30;

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

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// Compresses (when it shrinks the blob) and seals a blob's plaintext.
/// `level` 0 disables compression.
pub fn seal_blob(
    key: &MasterKey,
    kind: BlobKind,
    plain: &[u8],
    level: i32,
) -> (Compression, Vec<u8>) {
    if level != 0 && plain.len() >= 64 {
        let compressed = COMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|(l, _)| *l != level) {
                *slot = zstd::bulk::Compressor::new(level).ok().map(|c| (level, c));
            }
            slot.as_mut().and_then(|(_, c)| c.compress(plain).ok())
        });
        if let Some(c) = compressed.filter(|c| c.len() < plain.len()) {
            return (Compression::Zstd, key.seal(kind.seal_kind(), &c));
        }
    }
    (Compression::None, key.seal(kind.seal_kind(), plain))
}

/// Opens a stored blob and checks that it is exactly the expected plaintext:
/// right length and keyed hash equal to `id`.
pub fn open_blob(
    key: &MasterKey,
    kind: BlobKind,
    compression: Compression,
    raw_len: u32,
    id: &BlobId,
    sealed: &[u8],
) -> Result<Vec<u8>, PackError> {
    if raw_len > MAX_BLOB_SIZE {
        return Err(PackError::Blob {
            reason: format!("declared size {raw_len} exceeds the {MAX_BLOB_SIZE} byte limit"),
        });
    }
    let inner = key.open(kind.seal_kind(), sealed)?;
    let plain = match compression {
        Compression::None => inner,
        Compression::Zstd => {
            zstd::bulk::decompress(&inner, raw_len as usize).map_err(|e| PackError::Blob {
                reason: format!("zstd: {e}"),
            })?
        }
    };
    if plain.len() != raw_len as usize {
        return Err(PackError::Blob {
            reason: format!("plaintext is {} bytes, {} expected", plain.len(), raw_len),
        });
    }
    if key.blob_id(&plain) != *id {
        return Err(PackError::Blob {
            reason: "content does not match its ID".into(),
        });
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_compressible_and_not() {
        let key = MasterKey::from_secret([5; 32]);
        let text = b"abcabcabc".repeat(1000);
        let mut x = 0x9e3779b97f4a7c15u64;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        for (plain, want) in [
            (&text[..], Compression::Zstd),
            (&noise[..], Compression::None),
        ] {
            let (c, sealed) = seal_blob(&key, BlobKind::Data, plain, 3);
            assert_eq!(c, want);
            let id = key.blob_id(plain);
            let back =
                open_blob(&key, BlobKind::Data, c, plain.len() as u32, &id, &sealed).unwrap();
            assert_eq!(back, plain);
            assert!(open_blob(&key, BlobKind::Tree, c, plain.len() as u32, &id, &sealed).is_err());
            assert!(open_blob(
                &key,
                BlobKind::Data,
                c,
                plain.len() as u32 + 1,
                &id,
                &sealed
            )
            .is_err());
        }
    }
}

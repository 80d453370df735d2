//! The pack header: encode and decode, pure (spec §6.2).

use super::{BlobKind, Compression, PackEntry, PackError};
use crate::crypto::{MasterKey, SealKind, SEAL_OVERHEAD};
use crate::id::{BlobId, Id};

/// Bytes per header entry: type, compression, stored length, plaintext length, ID.
pub const HEADER_ENTRY_LEN: usize = 1 + 1 + 4 + 4 + 32;
const HEADER_VERSION: u8 = 1;

/// Encodes and seals the header for `entries` (in file order, offsets
/// contiguous from 0) and appends the 4-byte length trailer.
pub fn encode_header(key: &MasterKey, entries: &[PackEntry]) -> Vec<u8> {
    let plain = header_plaintext(entries);
    let sealed = key.seal(SealKind::PackHeader, &plain);
    finish(sealed)
}

/// As [`encode_header`] with a given salt: deterministic, for test vectors.
pub fn encode_header_with_salt(key: &MasterKey, entries: &[PackEntry], salt: [u8; 16]) -> Vec<u8> {
    finish(key.seal_with_salt(SealKind::PackHeader, salt, &header_plaintext(entries)))
}

fn finish(mut sealed: Vec<u8>) -> Vec<u8> {
    let len = sealed.len() as u32;
    sealed.extend_from_slice(&len.to_le_bytes());
    sealed
}

fn header_plaintext(entries: &[PackEntry]) -> Vec<u8> {
    let mut plain = Vec::with_capacity(1 + entries.len() * HEADER_ENTRY_LEN);
    plain.push(HEADER_VERSION);
    for e in entries {
        plain.push(e.kind.code());
        plain.push(e.compression.code());
        plain.extend_from_slice(&e.stored_len.to_le_bytes());
        plain.extend_from_slice(&e.raw_len.to_le_bytes());
        plain.extend_from_slice(e.id.as_bytes());
    }
    plain
}

/// The sealed length of a header listing `blobs` blobs (without the 4-byte
/// length that follows it).
pub fn header_len(blobs: usize) -> u64 {
    (1 + blobs * HEADER_ENTRY_LEN + crate::crypto::SEAL_OVERHEAD) as u64
}

/// Given a pack's size and its last 4 bytes, where its sealed header lies:
/// `(offset, length)`.
pub fn header_location(pack_len: u64, trailer: [u8; 4]) -> Result<(u64, u64), PackError> {
    let len = u32::from_le_bytes(trailer) as u64;
    let min = (SEAL_OVERHEAD + 1) as u64;
    if pack_len < 4 || len < min || len > pack_len - 4 {
        return Err(PackError::Header {
            reason: format!("header length {len} does not fit a pack of {pack_len} bytes"),
        });
    }
    Ok((pack_len - 4 - len, len))
}

/// Opens and parses a sealed header that starts at `header_offset` in its
/// pack; checks that the blobs exactly fill the bytes before it.
pub fn decode_header(
    key: &MasterKey,
    sealed: &[u8],
    header_offset: u64,
) -> Result<Vec<PackEntry>, PackError> {
    let plain = key.open(SealKind::PackHeader, sealed)?;
    decode_header_plaintext(&plain, header_offset)
}

/// Parses a header's plaintext; see [`decode_header`].
pub fn decode_header_plaintext(
    plain: &[u8],
    header_offset: u64,
) -> Result<Vec<PackEntry>, PackError> {
    let bad = |reason: String| PackError::Header { reason };
    let (&version, body) = plain.split_first().ok_or_else(|| bad("empty".into()))?;
    if version != HEADER_VERSION {
        return Err(bad(format!(
            "version {version} is not supported (this snap reads 1)"
        )));
    }
    if body.len() % HEADER_ENTRY_LEN != 0 {
        return Err(bad(format!(
            "{} bytes is not a whole number of entries",
            body.len()
        )));
    }
    let mut offset = 0u64;
    let mut out = Vec::with_capacity(body.len() / HEADER_ENTRY_LEN);
    for raw in body.chunks_exact(HEADER_ENTRY_LEN) {
        let kind = BlobKind::from_code(raw[0])
            .ok_or_else(|| bad(format!("unknown blob type {}", raw[0])))?;
        let compression = Compression::from_code(raw[1])
            .ok_or_else(|| bad(format!("unknown compression {}", raw[1])))?;
        let stored_len = u32::from_le_bytes([raw[2], raw[3], raw[4], raw[5]]);
        let raw_len = u32::from_le_bytes([raw[6], raw[7], raw[8], raw[9]]);
        let mut id = [0u8; 32];
        id.copy_from_slice(&raw[10..42]);
        if (stored_len as usize) < SEAL_OVERHEAD {
            return Err(bad(format!("blob stored length {stored_len} is too small")));
        }
        out.push(PackEntry {
            kind,
            compression,
            id: BlobId(Id(id)),
            offset: u32::try_from(offset).map_err(|_| bad("offset exceeds 4 GiB".into()))?,
            stored_len,
            raw_len,
        });
        offset += stored_len as u64;
    }
    if offset != header_offset {
        return Err(bad(format!(
            "blobs cover {offset} bytes but the header starts at {header_offset}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = MasterKey::from_secret([9; 32]);
        let entries = vec![
            PackEntry {
                kind: BlobKind::Data,
                compression: Compression::Zstd,
                id: BlobId(Id([1; 32])),
                offset: 0,
                stored_len: 100,
                raw_len: 300,
            },
            PackEntry {
                kind: BlobKind::Data,
                compression: Compression::None,
                id: BlobId(Id([2; 32])),
                offset: 100,
                stored_len: 50,
                raw_len: 18,
            },
        ];
        let bytes = encode_header(&key, &entries);
        let pack_len = 150 + bytes.len() as u64;
        let trailer: [u8; 4] = bytes[bytes.len() - 4..].try_into().unwrap();
        let (off, len) = header_location(pack_len, trailer).unwrap();
        assert_eq!((off, len), (150, bytes.len() as u64 - 4));
        let back = decode_header(&key, &bytes[..bytes.len() - 4], off).unwrap();
        assert_eq!(back, entries);
        assert!(decode_header(&key, &bytes[..bytes.len() - 4], off + 1).is_err());
        assert!(header_location(10, [255, 255, 255, 255]).is_err());
    }
}

//! One blob's stored form: optionally zstd-compressed, then sealed (spec §6.1).

use std::cell::RefCell;

use super::{seal_kind, BlobKind, Compression, PackError};
use crate::crypto::MasterKey;
use crate::id::BlobId;

/// The largest plaintext blob accepted when decoding (1 GiB): data blobs are at
/// most the chunker's 16 MiB maximum, but a tree of a huge folder can be larger.
pub const MAX_BLOB_SIZE: u32 = 1 << 30;

/// A zstd context and output buffer, reused across blobs so sealing
/// allocates nothing. A buffer grown past `KEEP` bytes is released after use
/// so an idle scratch does not hold memory.
#[derive(Default)]
pub struct BlobScratch {
    compressor: Option<(i32, zstd::bulk::Compressor<'static>)>,
    out: Vec<u8>,
}

const KEEP: usize = 2 << 20;

thread_local! {
    static SCRATCH: RefCell<BlobScratch> = RefCell::new(BlobScratch::default());
}

/// Compresses (when it shrinks the blob) and seals a blob's plaintext.
/// `level` 0 disables compression.
pub fn seal_blob(
    key: &MasterKey,
    kind: BlobKind,
    plain: &[u8],
    level: i32,
) -> (Compression, Vec<u8>) {
    let mut out = Vec::new();
    let c = seal_blob_into(key, kind, plain, level, &mut out);
    (c, out)
}

/// As [`seal_blob`], appending the sealed bytes to `out`, with this thread's
/// scratch.
pub fn seal_blob_into(
    key: &MasterKey,
    kind: BlobKind,
    plain: &[u8],
    level: i32,
    out: &mut Vec<u8>,
) -> Compression {
    SCRATCH.with(|cell| seal_blob_with(key, kind, plain, level, &mut cell.borrow_mut(), out))
}

/// As [`seal_blob_into`] with a given scratch (callers that pool them).
pub fn seal_blob_with(
    key: &MasterKey,
    kind: BlobKind,
    plain: &[u8],
    level: i32,
    s: &mut BlobScratch,
    out: &mut Vec<u8>,
) -> Compression {
    if level != 0 && plain.len() >= 64 && !looks_incompressible(plain) {
        if s.compressor.as_ref().is_none_or(|(l, _)| *l != level) {
            s.compressor = zstd::bulk::Compressor::new(level).ok().map(|c| (level, c));
        }
        if let Some((_, comp)) = s.compressor.as_mut() {
            s.out.clear();
            // Only a result smaller than the input is useful: give zstd no
            // more room than that.
            s.out.reserve(plain.len());
            let shrunk = comp
                .compress_to_buffer(plain, &mut s.out)
                .is_ok_and(|n| n < plain.len());
            if shrunk {
                key.seal_into(seal_kind(kind), &s.out, out);
            }
            if s.out.capacity() > KEEP {
                s.out = Vec::new();
            }
            if shrunk {
                return Compression::Zstd;
            }
        }
    }
    key.seal_into(seal_kind(kind), plain, out);
    Compression::None
}

/// True when the order-0 entropy of `data` is so close to 8 bits per byte
/// that zstd cannot shrink it (already compressed or encrypted content).
///
/// Trying zstd on such data costs as much as compressing text and saves
/// nothing; a byte histogram costs a tenth of that. Blocks that repeat within
/// one blob could still compress, but that is rare in high-entropy data.
fn looks_incompressible(data: &[u8]) -> bool {
    if data.len() < 16 * 1024 {
        return false;
    }
    // Four interleaved histograms avoid store-to-load stalls on equal bytes.
    let mut counts = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        counts[0][q[0] as usize] += 1;
        counts[1][q[1] as usize] += 1;
        counts[2][q[2] as usize] += 1;
        counts[3][q[3] as usize] += 1;
    }
    for &b in quads.remainder() {
        counts[0][b as usize] += 1;
    }
    let n = data.len() as f64;
    let [a, b, c, d] = &counts;
    let entropy: f64 = (0..256)
        .map(|i| (a[i] + b[i] + c[i] + d[i]) as f64)
        .filter(|&count| count > 0.0)
        .map(|count| {
            let p = count / n;
            -p * p.log2()
        })
        .sum();
    entropy > 7.97
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
    let mut out = Vec::new();
    open_blob_into(key, kind, compression, raw_len, id, sealed, &mut out)?;
    Ok(out)
}

thread_local! {
    static OPENING: RefCell<(Vec<u8>, Option<zstd::bulk::Decompressor<'static>>)> = const { RefCell::new((Vec::new(), None)) };
}

/// As [`open_blob`], writing the plaintext into `out` (replacing its content)
/// and reusing this thread's decryption buffer and zstd context.
#[allow(clippy::too_many_arguments)] // the blob's index entry, spelled out
pub fn open_blob_into(
    key: &MasterKey,
    kind: BlobKind,
    compression: Compression,
    raw_len: u32,
    id: &BlobId,
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), PackError> {
    if raw_len > MAX_BLOB_SIZE {
        return Err(PackError::Blob {
            reason: format!("declared size {raw_len} exceeds the {MAX_BLOB_SIZE} byte limit"),
        });
    }
    match compression {
        Compression::None => key.open_into(seal_kind(kind), sealed, out)?,
        Compression::Zstd => OPENING.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (inner, dctx) = &mut *guard;
            key.open_into(seal_kind(kind), sealed, inner)?;
            if dctx.is_none() {
                *dctx = Some(
                    zstd::bulk::Decompressor::new().map_err(|e| PackError::Blob {
                        reason: format!("zstd: {e}"),
                    })?,
                );
            }
            out.clear();
            out.reserve(raw_len as usize);
            let result = dctx.as_mut().map(|d| d.decompress_to_buffer(inner, out));
            if inner.capacity() > KEEP {
                *inner = Vec::new();
            }
            match result {
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => Err(PackError::Blob {
                    reason: format!("zstd: {e}"),
                }),
                None => Err(PackError::Blob {
                    reason: "zstd context unavailable".into(),
                }),
            }
        })?,
    }
    if out.len() != raw_len as usize {
        return Err(PackError::Blob {
            reason: format!("plaintext is {} bytes, {} expected", out.len(), raw_len),
        });
    }
    if key.blob_id(out) != *id {
        return Err(PackError::Blob {
            reason: "content does not match its ID".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Incompressible pseudo-random bytes (xorshift).
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn entropy_check() {
        let text = b"level=info msg=served path=/api/v1 ".repeat(2000);
        assert!(!looks_incompressible(&text));
        let noise = noise(1, 100_000);
        assert!(looks_incompressible(&noise));
        assert!(!looks_incompressible(&noise[..1000]), "too small to judge");
    }

    #[test]
    fn round_trip_compressible_and_not() {
        let key = MasterKey::from_secret([5; 32]);
        let text = b"abcabcabc".repeat(1000);
        let noise = noise(0x9e3779b97f4a7c15, 5000);
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

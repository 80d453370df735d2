//! Blob opening (`snap::pack::open_blob`): unseal, optional zstd, length and ID checks.
//!
//! Input: `kind (1) || compression (1) || raw_len (u32 LE) || bytes`.
//! The bytes are opened as given (exercising the seal checks), then sealed under
//! the fixed key and opened again, so zstd decompression and the length and ID
//! checks see arbitrary plaintext too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::crypto::{MasterKey, SealKind};
use snap::pack::{open_blob, BlobKind, Compression, MAX_BLOB_SIZE};

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let key = MasterKey::from_secret([7; 32]);
    let kind = if data[0] & 1 == 0 { BlobKind::Data } else { BlobKind::Tree };
    let seal_kind = if kind == BlobKind::Data { SealKind::DataBlob } else { SealKind::TreeBlob };
    // Unknown codes are rejected by headers and index files before open_blob;
    // map every byte onto a valid one.
    let compression = Compression::from_code(data[1]).unwrap_or(if data[1] & 1 == 0 {
        Compression::None
    } else {
        Compression::Zstd
    });
    let raw_len = u32::from_le_bytes(data[2..6].try_into().unwrap());
    let body = &data[6..];
    let id = key.blob_id(body);

    // As given: practically always an authentication failure; must not panic.
    let _ = open_blob(&key, kind, compression, raw_len, &id, body);

    // Sealed by us: the payload reaches decompression and the checks.
    let sealed = key.seal_with_salt(seal_kind, [3; 16], body);
    if let Ok(plain) = open_blob(&key, kind, compression, raw_len, &id, &sealed) {
        assert!(raw_len <= MAX_BLOB_SIZE);
        assert_eq!(plain.len(), raw_len as usize);
        assert_eq!(key.blob_id(&plain), id);
        if compression == Compression::None {
            assert_eq!(plain, body);
        }
    }
    // Never opens under the other kind.
    let other = if kind == BlobKind::Data { BlobKind::Tree } else { BlobKind::Data };
    assert!(open_blob(&key, other, compression, raw_len, &id, &sealed).is_err());
});

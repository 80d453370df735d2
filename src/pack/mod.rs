//! Packs: blob framing (zstd + seal) and the pack file layout (spec §6).
//!
//! A pack is `sealed blob* || sealed header || header length (u32 LE)`. The header
//! lists every blob in file order: type, compression, stored length, plaintext
//! length and ID; offsets follow from the lengths. Everything here is pure: bytes
//! in, bytes out; the repository stores and fetches them.

mod blob;
mod header;
mod writer;

pub use blob::{
    open_blob, open_blob_into, seal_blob, seal_blob_into, seal_blob_with, BlobScratch,
    MAX_BLOB_SIZE,
};
pub use header::{
    decode_header, decode_header_plaintext, encode_header, encode_header_with_salt, header_len,
    header_location, HEADER_ENTRY_LEN,
};
pub use writer::{FinishedPack, PackWriter};

use crate::crypto::CryptoError;

pub use crate::blob::{BlobKind, Compression, PackEntry};

/// The seal kind a blob of `kind` is sealed with (spec §3.2).
fn seal_kind(kind: BlobKind) -> crate::crypto::SealKind {
    match kind {
        BlobKind::Data => crate::crypto::SealKind::DataBlob,
        BlobKind::Tree => crate::crypto::SealKind::TreeBlob,
    }
}

/// Errors of pack and blob decoding.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The header could not be read.
    #[error("pack header is invalid: {reason}")]
    Header {
        /// What is wrong.
        reason: String,
    },
    /// A blob failed to decrypt or decompress, or does not match its ID.
    #[error("blob is damaged: {reason}")]
    Blob {
        /// What is wrong.
        reason: String,
    },
    /// Decryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

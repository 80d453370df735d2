//! Cryptography: the master key and its derived subkeys, sealing (AES-256-GCM under
//! per-object subkeys), keyed BLAKE3 blob IDs, and password-wrapped key files.
//!
//! This layer turns bytes into bytes. It never touches a backend or a file; the
//! repository decides what gets sealed and where it is stored (spec §3, §4).

mod keyfile;
mod seal;

pub use keyfile::{KdfParams, KeyFile};
pub use seal::{MasterKey, SealKind, SEAL_OVERHEAD};

/// Errors of the crypto layer.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, or the bytes were changed.
    #[error("{what} failed authentication: the data was changed or damaged, or belongs to another repository")]
    Authentication {
        /// What was being opened.
        what: &'static str,
    },
    /// The sealed bytes are shorter than salt + tag.
    #[error("{what} is truncated ({len} bytes, at least {min} expected)")]
    Truncated {
        /// What was being opened.
        what: &'static str,
        /// Bytes found.
        len: usize,
        /// Bytes needed at least.
        min: usize,
    },
    /// A key file could not be parsed.
    #[error("key file is malformed: {reason}; it may be damaged, restore it from a copy")]
    KeyFileFormat {
        /// What is wrong.
        reason: String,
    },
    /// The Argon2id parameters are out of range.
    #[error("key derivation parameters are invalid: {reason}")]
    KdfParams {
        /// What is wrong.
        reason: String,
    },
    /// The password does not open this key file.
    #[error("wrong password for this key file")]
    WrongPassword,
}

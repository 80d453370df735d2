//! The master key and sealing (spec §3).
//!
//! Every sealed object is `salt (16) || ciphertext || tag (16)`. The AES-256-GCM key
//! for one object is `BLAKE3-keyed(encryption key, salt)`, used for that object only,
//! with the all-zero nonce. Because no key ever encrypts two messages, GCM's nonce
//! limits never apply; two objects share a key only if two random 128-bit salts
//! collide (below 2^-48 after 2^40 sealed objects). The associated data binds the
//! format version and the object kind, so a sealed index can never be opened as a
//! tree blob.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;

use super::CryptoError;
use crate::id::BlobId;

/// Bytes a sealed object adds to its plaintext: 16 salt + 16 tag.
pub const SEAL_OVERHEAD: usize = SALT_LEN + TAG_LEN;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;

/// What a sealed object is; bound into the AEAD associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SealKind {
    /// A data blob inside a pack.
    DataBlob = 0,
    /// A tree blob inside a pack.
    TreeBlob = 1,
    /// A pack header.
    PackHeader = 2,
    /// An index file.
    Index = 3,
    /// A snapshot manifest.
    Snapshot = 4,
    /// The repository config.
    Config = 5,
    /// A lock file.
    Lock = 6,
    /// The master key inside a key file.
    MasterKey = 7,
}

impl SealKind {
    fn noun(self) -> &'static str {
        match self {
            SealKind::DataBlob => "data blob",
            SealKind::TreeBlob => "tree blob",
            SealKind::PackHeader => "pack header",
            SealKind::Index => "index file",
            SealKind::Snapshot => "snapshot",
            SealKind::Config => "config",
            SealKind::Lock => "lock file",
            SealKind::MasterKey => "master key",
        }
    }

    fn aad(self) -> [u8; 6] {
        [b's', b'n', b'a', b'p', 1, self as u8]
    }
}

/// Seals `plain` under `key` with the given salt. Pure, for test vectors.
pub(crate) fn seal_with_salt(
    key: &[u8; 32],
    kind: SealKind,
    salt: [u8; 16],
    plain: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
    seal_append(key, kind, salt, plain, &mut out);
    out
}

/// Appends `salt || ciphertext || tag` to `out`, so callers can reuse buffers.
fn seal_append(key: &[u8; 32], kind: SealKind, salt: [u8; 16], plain: &[u8], out: &mut Vec<u8>) {
    out.reserve(plain.len() + SEAL_OVERHEAD);
    out.extend_from_slice(&salt);
    let start = out.len();
    out.extend_from_slice(plain);
    let cipher = object_cipher(key, &salt);
    let nonce = aes_gcm::Nonce::default();
    let tag = cipher
        .encrypt_inout_detached(&nonce, &kind.aad(), (&mut out[start..]).into())
        // Only fails past GCM's 64 GiB plaintext limit, which no object reaches:
        // blobs are at most 1 GiB (spec §6.1) and metadata files are smaller.
        .expect("AES-GCM plaintext limit exceeded");
    out.extend_from_slice(&tag);
}

/// Opens a sealed object in place; returns the plaintext.
pub(crate) fn open_with(
    key: &[u8; 32],
    kind: SealKind,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut plain = Vec::new();
    open_into(key, kind, sealed, &mut plain)?;
    Ok(plain)
}

/// Opens a sealed object into `plain` (replacing its content), so callers
/// can reuse one buffer for many objects.
pub(crate) fn open_into(
    key: &[u8; 32],
    kind: SealKind,
    sealed: &[u8],
    plain: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    plain.clear();
    if sealed.len() < SEAL_OVERHEAD {
        return Err(CryptoError::Truncated {
            what: kind.noun(),
            len: sealed.len(),
            min: SEAL_OVERHEAD,
        });
    }
    let (salt, rest) = sealed.split_at(SALT_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    plain.extend_from_slice(body);
    let cipher = object_cipher(key, salt);
    let nonce = aes_gcm::Nonce::default();
    let tag = aes_gcm::Tag::try_from(tag)
        .map_err(|_| CryptoError::Authentication { what: kind.noun() })?;
    let result = cipher.decrypt_inout_detached(&nonce, &kind.aad(), (&mut plain[..]).into(), &tag);
    if result.is_err() {
        // Never hand out unauthenticated plaintext.
        plain.clear();
        return Err(CryptoError::Authentication { what: kind.noun() });
    }
    Ok(())
}

fn object_cipher(key: &[u8; 32], salt: &[u8]) -> Aes256Gcm {
    let subkey = blake3::keyed_hash(key, salt);
    // A 32-byte slice is always a valid AES-256 key.
    Aes256Gcm::new_from_slice(subkey.as_bytes()).expect("32-byte key")
}

/// The repository's master secret and the keys derived from it.
///
/// The 32-byte master secret is random, made once at `init`, and stored only
/// inside password-wrapped key files. Each use gets its own derived key (BLAKE3
/// `derive_key` with a fixed context string) so no key serves two purposes.
#[derive(Clone)]
pub struct MasterKey {
    secret: [u8; 32],
    encryption: [u8; 32],
    blob_id: [u8; 32],
    chunker_seed: u64,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> MasterKey {
        MasterKey::from_secret(rand::random())
    }

    /// Derives the subkeys from a master secret.
    pub fn from_secret(secret: [u8; 32]) -> MasterKey {
        let seed = blake3::derive_key("snap 2026 v1 chunker seed", &secret);
        let mut first = [0u8; 8];
        first.copy_from_slice(&seed[..8]);
        MasterKey {
            secret,
            encryption: blake3::derive_key("snap 2026 v1 encryption", &secret),
            blob_id: blake3::derive_key("snap 2026 v1 blob id", &secret),
            chunker_seed: u64::from_le_bytes(first),
        }
    }

    /// The master secret, for wrapping into a key file.
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The secret seed XORed into the chunker's gear table (spec §5).
    pub fn chunker_seed(&self) -> u64 {
        self.chunker_seed
    }

    /// The ID of a blob: BLAKE3 keyed with the blob-ID key, over the plaintext.
    pub fn blob_id(&self, plain: &[u8]) -> BlobId {
        BlobId(crate::id::Id(
            *blake3::keyed_hash(&self.blob_id, plain).as_bytes(),
        ))
    }

    /// Seals `plain` with a fresh random salt.
    pub fn seal(&self, kind: SealKind, plain: &[u8]) -> Vec<u8> {
        seal_with_salt(&self.encryption, kind, rand::random(), plain)
    }

    /// Seals `plain` with a fresh random salt, appending to `out`.
    pub fn seal_into(&self, kind: SealKind, plain: &[u8], out: &mut Vec<u8>) {
        seal_append(&self.encryption, kind, rand::random(), plain, out)
    }

    /// Seals with a given salt: deterministic, for test vectors only.
    pub fn seal_with_salt(&self, kind: SealKind, salt: [u8; 16], plain: &[u8]) -> Vec<u8> {
        seal_with_salt(&self.encryption, kind, salt, plain)
    }

    /// Opens a sealed object into `out`, replacing its content.
    pub fn open_into(
        &self,
        kind: SealKind,
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        open_into(&self.encryption, kind, sealed, out)
    }

    /// Opens a sealed object, failing on a wrong key or any changed bit.
    pub fn open(&self, kind: SealKind, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.encryption, kind, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let key = MasterKey::from_secret([7; 32]);
        let sealed = key.seal(SealKind::DataBlob, b"hello");
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(key.open(SealKind::DataBlob, &sealed).unwrap(), b"hello");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(
                key.open(SealKind::DataBlob, &bad).is_err(),
                "flip at {i} undetected"
            );
        }
        assert!(key.open(SealKind::TreeBlob, &sealed).is_err());
        let other = MasterKey::from_secret([8; 32]);
        assert!(other.open(SealKind::DataBlob, &sealed).is_err());
        assert!(key.open(SealKind::DataBlob, &sealed[..10]).is_err());
    }

    #[test]
    fn blob_ids_are_keyed() {
        let a = MasterKey::from_secret([1; 32]);
        let b = MasterKey::from_secret([2; 32]);
        assert_ne!(a.blob_id(b"x"), b.blob_id(b"x"));
        assert_eq!(a.blob_id(b"x"), a.blob_id(b"x"));
        assert_ne!(a.chunker_seed(), b.chunker_seed());
    }
}

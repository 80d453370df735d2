//! Key files: the master secret wrapped under a password-derived key (spec §3.3).
//!
//! A key file is JSON. Its `kdf` object holds the Argon2id parameters and salt; its
//! `master_key` field is the 32-byte master secret sealed (kind `MasterKey`) under
//! the 32-byte Argon2id output. Several key files may wrap the same master secret.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::seal::{open_with, seal_with_salt, SealKind};
use super::{CryptoError, MasterKey};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Argon2id cost parameters, stored in each key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// The largest [`KdfParams::cost`] snap tries without a key hint, and the
/// largest it writes: 4 GiB·passes (1 GiB × 4 passes, 256 MiB × 16), some
/// seconds per key on a current core.
pub const UNASKED_COST_LIMIT: u64 = 4 * 1024 * 1024;

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 4 lanes: about 0.1 s on a current core, and costly to
    /// attack on GPUs.
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 4,
        }
    }
}

impl KdfParams {
    /// The cheapest parameters Argon2id accepts; for tests only.
    pub fn insecure_fast() -> Self {
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// Memory passes (KiB × iterations) of one key file, the measure of what
    /// trying a password on it costs.
    pub fn cost(&self) -> u64 {
        u64::from(self.memory_kib) * u64::from(self.iterations)
    }

    /// True if snap tries this key file when opening a repository without
    /// being told to (spec §3.3): at most [`UNASKED_COST_LIMIT`]. Dearer key
    /// files are tried only when named by a key hint, so key files planted
    /// through an append-only server cannot make every command slow.
    pub fn tried_unasked(&self) -> bool {
        self.cost() <= UNASKED_COST_LIMIT
    }

    /// Checks the parameters before any memory is allocated; refuses more than
    /// 1 GiB or 20 passes so a tampered key file cannot exhaust a small host.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let bad = |reason: String| Err(CryptoError::KdfParams { reason });
        if self.parallelism == 0 || self.parallelism > 64 {
            return bad(format!(
                "parallelism {} is outside 1..=64",
                self.parallelism
            ));
        }
        if self.iterations == 0 || self.iterations > 20 {
            return bad(format!("iterations {} is outside 1..=20", self.iterations));
        }
        if self.memory_kib < 8 * self.parallelism || self.memory_kib > 1024 * 1024 {
            return bad(format!(
                "memory {} KiB is outside {}..=1048576 KiB",
                self.memory_kib,
                8 * self.parallelism
            ));
        }
        Ok(())
    }

    /// Derives the 32-byte wrapping key from a password and salt.
    pub fn derive(&self, password: &[u8], salt: &[u8]) -> Result<[u8; 32], CryptoError> {
        self.validate()?;
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .map_err(|e| CryptoError::KdfParams {
                    reason: e.to_string(),
                })?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = [0u8; 32];
        argon
            .hash_password_into(password, salt, &mut out)
            .map_err(|e| CryptoError::KdfParams {
                reason: e.to_string(),
            })?;
        Ok(out)
    }
}

#[derive(Serialize, Deserialize)]
struct KdfRecord {
    algorithm: String,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

/// One key file, as stored under `keys/`.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    /// Format version of this record; 1.
    pub version: u32,
    /// When the key was added (RFC 3339).
    pub created: String,
    /// Host that added the key.
    pub hostname: String,
    /// User that added the key.
    pub username: String,
    kdf: KdfRecord,
    master_key: String,
}

impl KeyFile {
    /// Wraps `master` under `password`.
    pub fn wrap(
        master: &MasterKey,
        password: &[u8],
        params: KdfParams,
        hostname: &str,
        username: &str,
    ) -> Result<KeyFile, CryptoError> {
        Self::wrap_with(
            master,
            password,
            params,
            hostname,
            username,
            rand::random(),
            rand::random(),
            &now_rfc3339(),
        )
    }

    /// Wraps with given salts and time: deterministic, for test vectors.
    #[allow(clippy::too_many_arguments)] // every input of a deterministic vector
    pub fn wrap_with(
        master: &MasterKey,
        password: &[u8],
        params: KdfParams,
        hostname: &str,
        username: &str,
        kdf_salt: [u8; 16],
        seal_salt: [u8; 16],
        created: &str,
    ) -> Result<KeyFile, CryptoError> {
        if !params.tried_unasked() {
            return Err(CryptoError::KdfParams {
                reason: format!(
                    "memory {} KiB × {} passes is more than snap tries when opening a repository (memory × passes at most {UNASKED_COST_LIMIT} KiB, e.g. 1 GiB × 4)",
                    params.memory_kib, params.iterations
                ),
            });
        }
        let wrapping = params.derive(password, &kdf_salt)?;
        let sealed = seal_with_salt(&wrapping, SealKind::MasterKey, seal_salt, master.secret());
        Ok(KeyFile {
            version: 1,
            created: created.to_string(),
            hostname: hostname.to_string(),
            username: username.to_string(),
            kdf: KdfRecord {
                algorithm: "argon2id".into(),
                params,
                salt: B64.encode(kdf_salt),
            },
            master_key: B64.encode(sealed),
        })
    }

    /// Parses stored bytes; checks version and algorithm, not the password.
    pub fn decode(bytes: &[u8]) -> Result<KeyFile, CryptoError> {
        let file: KeyFile =
            serde_json::from_slice(bytes).map_err(|e| CryptoError::KeyFileFormat {
                reason: e.to_string(),
            })?;
        if file.version != 1 {
            return Err(CryptoError::KeyFileFormat {
                reason: format!(
                    "version {} is not supported (this snap reads version 1); upgrade snap",
                    file.version
                ),
            });
        }
        if file.kdf.algorithm != "argon2id" {
            return Err(CryptoError::KeyFileFormat {
                reason: format!("unknown key derivation '{}'", file.kdf.algorithm),
            });
        }
        file.kdf.params.validate()?;
        Ok(file)
    }

    /// Serializes for storage.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_vec_pretty(self).expect("key file serializes")
    }

    /// The Argon2id parameters of this key.
    pub fn kdf_params(&self) -> KdfParams {
        self.kdf.params
    }

    /// Unwraps the master key with `password`.
    pub fn unwrap(&self, password: &[u8]) -> Result<MasterKey, CryptoError> {
        let salt = B64
            .decode(&self.kdf.salt)
            .map_err(|e| CryptoError::KeyFileFormat {
                reason: format!("salt: {e}"),
            })?;
        let sealed = B64
            .decode(&self.master_key)
            .map_err(|e| CryptoError::KeyFileFormat {
                reason: format!("master_key: {e}"),
            })?;
        let wrapping = self.kdf.params.derive(password, &salt)?;
        let secret = open_with(&wrapping, SealKind::MasterKey, &sealed)
            .map_err(|_| CryptoError::WrongPassword)?;
        let secret: [u8; 32] = secret.try_into().map_err(|_| CryptoError::KeyFileFormat {
            reason: "master key is not 32 bytes".into(),
        })?;
        Ok(MasterKey::from_secret(secret))
    }
}

/// The current time in RFC 3339 with nanoseconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap() {
        let master = MasterKey::from_secret([3; 32]);
        let file = KeyFile::wrap(&master, b"pw", KdfParams::insecure_fast(), "h", "u").unwrap();
        let bytes = file.encode();
        let back = KeyFile::decode(&bytes).unwrap();
        assert_eq!(back.unwrap(b"pw").unwrap().secret(), master.secret());
        assert!(matches!(
            back.unwrap(b"nope"),
            Err(CryptoError::WrongPassword)
        ));
    }

    #[test]
    fn hostile_params_refused() {
        let mut p = KdfParams::insecure_fast();
        p.memory_kib = u32::MAX;
        assert!(p.validate().is_err());
        p = KdfParams::insecure_fast();
        p.parallelism = 0;
        assert!(p.validate().is_err());
    }
}

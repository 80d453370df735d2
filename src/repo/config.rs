//! The repository config (spec §3.4): sealed JSON at `config`.

use serde::{Deserialize, Serialize};

use super::RepoError;
use crate::chunker::ChunkerParams;
use crate::crypto::{KdfParams, MasterKey, SealKind};
use crate::id::Id;

/// Settings fixed at `init`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Config {
    /// Format version of the repository; 1.
    pub version: u32,
    /// A random repository ID.
    pub id: Id,
    /// Chunk sizes.
    pub chunker: ChunkerParams,
    /// zstd level for blobs; 0 stores blobs uncompressed.
    pub compression_level: i32,
    /// Target pack size in bytes.
    pub pack_size: u32,
}

/// What `init` may choose.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Argon2id cost of the first key.
    pub kdf: KdfParams,
    /// Chunk sizes.
    pub chunker: ChunkerParams,
    /// zstd level.
    pub compression_level: i32,
    /// Target pack size.
    pub pack_size: u32,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: KdfParams::default(),
            chunker: ChunkerParams::default(),
            compression_level: 3,
            pack_size: 16 << 20,
        }
    }
}

/// The smallest and largest accepted target pack sizes.
pub const PACK_SIZE_RANGE: std::ops::RangeInclusive<u32> = (1 << 20)..=(1 << 30);

impl Config {
    pub(super) fn new(options: &InitOptions) -> Result<Config, RepoError> {
        let config = Config {
            version: 1,
            id: Id(rand::random()),
            chunker: options.chunker,
            compression_level: options.compression_level,
            pack_size: options.pack_size,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), RepoError> {
        let bad = |reason: String| Err(RepoError::Config { reason });
        if self.version != 1 {
            return bad(format!(
                "version {} is not supported (this snap reads 1); upgrade snap",
                self.version
            ));
        }
        if let Err(e) = self.chunker.validate() {
            return bad(e.to_string());
        }
        if !(0..=19).contains(&self.compression_level) {
            return bad(format!(
                "compression level {} is outside 0..=19",
                self.compression_level
            ));
        }
        if !PACK_SIZE_RANGE.contains(&self.pack_size) {
            return bad(format!(
                "pack size {} is outside 1 MiB..=1 GiB",
                self.pack_size
            ));
        }
        Ok(())
    }

    /// Sealed for storage.
    pub fn encode(&self, key: &MasterKey) -> Vec<u8> {
        // Plain fields always serialize.
        key.seal(
            SealKind::Config,
            &serde_json::to_vec(self).expect("config serializes"),
        )
    }

    /// Opens and validates the stored config.
    pub fn decode(key: &MasterKey, sealed: &[u8]) -> Result<Config, RepoError> {
        let plain = key.open(SealKind::Config, sealed)?;
        let config: Config = serde_json::from_slice(&plain).map_err(|e| RepoError::Config {
            reason: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }
}

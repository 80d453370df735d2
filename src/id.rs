//! Identifiers: the 32-byte [`Id`], its typed wrappers and the kinds of stored files.
//!
//! This module owns naming only. It knows nothing about how IDs are computed (see
//! `crypto` for keyed blob IDs and `repo` for SHA-256 file names) and does no I/O.

use std::fmt;
use std::str::FromStr;

/// A 32-byte identifier, shown as 64 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub [u8; 32]);

/// The hex text given was not a 64-character lower- or upper-case hex string.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{text}' is not a 64-character hex ID")]
pub struct ParseIdError {
    /// The offending text, shortened to at most 80 characters.
    pub text: String,
}

impl Id {
    /// Lower-case hex of all 32 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex characters, as listings show it.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// Parses 64 lower-case hex characters.
    pub fn from_hex(text: &str) -> Result<Id, ParseIdError> {
        let mut out = [0u8; 32];
        // Lower case only: stored names are lower case, and accepting upper
        // case would list names that cannot then be found.
        let lower = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if text.len() != 64 || !lower || hex::decode_to_slice(text, &mut out).is_err() {
            return Err(ParseIdError {
                text: text.chars().take(80).collect(),
            });
        }
        Ok(Id(out))
    }

    /// SHA-256 of `data`: the name every stored file except `config` has.
    pub fn sha256(data: &[u8]) -> Id {
        use sha2::Digest;
        Id(sha2::Sha256::digest(data).into())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}

impl FromStr for Id {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::from_hex(s)
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Id::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Id);

        impl $name {
            /// Lower-case hex of all 32 bytes.
            pub fn to_hex(&self) -> String { self.0.to_hex() }
            /// The first 8 hex characters.
            pub fn short(&self) -> String { self.0.short() }
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] { &self.0 .0 }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { fmt::Display::fmt(&self.0, f) }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.short())
            }
        }
        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Ok($name(Id::from_hex(s)?)) }
        }
    )*};
}

typed_id!(
    /// A blob: keyed BLAKE3 of its plaintext (spec §4).
    BlobId,
    /// A pack file: SHA-256 of its stored bytes.
    PackId,
    /// An index file: SHA-256 of its stored bytes.
    IndexId,
    /// A snapshot file: SHA-256 of its stored bytes.
    SnapshotId,
    /// A key file: SHA-256 of its stored bytes.
    KeyId,
    /// A lock file: SHA-256 of its stored bytes.
    LockId,
);

/// The kinds of files a repository stores, each in its own folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// The single `config` file.
    Config,
    /// `keys/<id>`: password-wrapped master keys.
    Key,
    /// `data/<2 hex>/<id>`: pack files.
    Pack,
    /// `index/<id>`: index files.
    Index,
    /// `snapshots/<id>`: snapshot manifests.
    Snapshot,
    /// `locks/<id>`: lock files.
    Lock,
}

impl FileKind {
    /// Every kind, in the order `init` creates their folders.
    pub const ALL: [FileKind; 6] = [
        FileKind::Config,
        FileKind::Key,
        FileKind::Pack,
        FileKind::Index,
        FileKind::Snapshot,
        FileKind::Lock,
    ];

    /// The folder holding files of this kind (`""` for config).
    pub fn dir(self) -> &'static str {
        match self {
            FileKind::Config => "",
            FileKind::Key => "keys",
            FileKind::Pack => "data",
            FileKind::Index => "index",
            FileKind::Snapshot => "snapshots",
            FileKind::Lock => "locks",
        }
    }

    /// The path of a file of this kind relative to the repository root.
    ///
    /// Packs are spread over 256 folders by their first two hex characters so no
    /// folder grows past what file systems and object listings handle well.
    pub fn path(self, name: &str) -> String {
        match self {
            FileKind::Config => "config".to_string(),
            FileKind::Pack => match name.get(..2) {
                Some(prefix) => format!("data/{prefix}/{name}"),
                None => format!("data/{name}"),
            },
            _ => format!("{}/{}", self.dir(), name),
        }
    }

    /// A human name for messages.
    pub fn noun(self) -> &'static str {
        match self {
            FileKind::Config => "config file",
            FileKind::Key => "key file",
            FileKind::Pack => "pack",
            FileKind::Index => "index file",
            FileKind::Snapshot => "snapshot",
            FileKind::Lock => "lock file",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let id = Id::sha256(b"abc");
        assert_eq!(
            id.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Id::from_hex(&id.to_hex()), Ok(id));
        assert!(Id::from_hex("zz").is_err());
        assert!(Id::from_hex(&"g".repeat(64)).is_err());
        assert!(Id::from_hex(&id.to_hex().to_uppercase()).is_err());
        assert_eq!(FileKind::Pack.path("€"), "data/€");
        assert_eq!(id.short(), "ba7816bf");
    }

    #[test]
    fn paths() {
        assert_eq!(FileKind::Pack.path("abcd"), "data/ab/abcd");
        assert_eq!(FileKind::Index.path("ff"), "index/ff");
        assert_eq!(FileKind::Config.path(""), "config");
    }
}

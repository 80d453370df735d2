//! snap: content-addressed, deduplicating, encrypted backups of whole platforms.
//!
//! Layers, bottom to top (each uses only layers below it): [`id`], [`pattern`],
//! [`failure`], [`blob`], [`interrupt`]; [`crypto`], [`etcd`],
//! [`chunker`], [`backend`]; [`pack`], [`index`]; [`repo`]; [`snapshot`];
//! [`source`], [`archiver`], [`restore`]; [`ops`]; `cli`. The on-disk format is
//! specified in `format-spec/`.
//!
//! ```
//! use std::sync::Arc;
//! use snap::backend::MemoryBackend;
//! use snap::repo::{InitOptions, Repository};
//! use snap::crypto::KdfParams;
//!
//! let backend = Arc::new(MemoryBackend::new());
//! let options = InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() };
//! Repository::init(backend.clone(), b"secret", &options).unwrap();
//! let repo = Repository::open(backend, b"secret").unwrap();
//! assert_eq!(repo.config().version, 1);
//! ```

pub mod archiver;
pub mod backend;
pub mod blob;
pub mod chunker;
pub mod cli;
pub mod crypto;
pub mod etcd;
pub mod failure;
pub mod id;
pub mod index;
pub mod interrupt;
pub mod ops;
pub mod pack;
pub mod pattern;
pub mod repo;
pub mod restore;
#[cfg(feature = "serve")]
pub mod server;
pub mod snapshot;
pub mod source;

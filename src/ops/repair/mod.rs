//! `snap repair`: bring a damaged repository back to one that checks clean.
//!
//! - [`index`]: rebuilds the index from the packs' headers, so a lost or
//!   damaged index file loses nothing that the packs still hold.
//! - [`snapshots`]: writes, for each snapshot that needs blobs that are gone,
//!   a new snapshot without the files, etcd keys and git repositories that
//!   lost content, and says exactly what was cut.

pub mod index;
pub mod snapshots;

//! Restore: a plan computed from a snapshot's trees, then written to a folder.
//!
//! The plan ([`plan`]) lists folders, files with their blobs, links and special
//! files, filtered by include/exclude patterns. The writer ([`write`]) creates
//! files at full size, then reads each pack once (in ranges of at most a few
//! MiB), verifies every blob and writes it to every place it occurs, in
//! parallel; metadata comes last, folders deepest first. A file that received a
//! damaged blob is deleted, never left looking complete.

pub mod etcd;
pub mod git;
pub mod in_place;
pub mod plan;
mod write;

pub use plan::{RestoreFilter, RestorePlan};
pub use write::{restore_to_dir, RestoreProgress, RestoreReport};

/// Errors of restore.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A tree names something unsafe.
    #[error("snapshot tree is unsafe at {path}: {reason}; refusing to restore it")]
    Unsafe {
        /// Where in the snapshot.
        path: String,
        /// Why.
        reason: String,
    },
    /// The target cannot be written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Some blobs were damaged or missing; the affected files were removed.
    #[error("restore incomplete: {count} file(s) could not be restored and were removed: {first}")]
    Damaged {
        /// How many files were affected.
        count: usize,
        /// The first problem.
        first: String,
    },
    /// Some blobs of files to restore in place were damaged or missing.
    #[error("restore of {path} stopped: {count} file(s) cannot be restored from the repository, so no file there was replaced: {first}; `snap check --read-data` lists what is damaged")]
    DamagedInPlace {
        /// The path being restored.
        path: String,
        /// How many files were affected.
        count: usize,
        /// The first problem.
        first: String,
    },
    /// A path to restore in place is not in the snapshot.
    #[error("the snapshot holds no {path}: it was not backed up in that snapshot; pick a snapshot that has it (`snap ls ID`), or leave it out of the profile")]
    NotInSnapshot {
        /// The path.
        path: String,
    },
    /// Restoring into etcd failed or was refused.
    #[error("{0}")]
    Etcd(String),
    /// Recreating a git repository failed or was refused.
    #[error("{0}")]
    Git(String),
    /// The repository's chunker parameters are invalid.
    #[error(transparent)]
    Chunker(#[from] crate::chunker::ChunkerParamsError),
    /// A pattern is invalid.
    #[error(transparent)]
    Pattern(#[from] crate::pattern::PatternError),
    /// A snapshot operation failed.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// A repository operation failed.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
}

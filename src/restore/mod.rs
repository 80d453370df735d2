//! Restore: a plan computed from a snapshot's trees, then written to a folder.
//!
//! The plan ([`plan`]) lists folders, files with their blobs, links and special
//! files, filtered by include/exclude patterns. The writer ([`write`]) creates
//! files at full size, then reads each pack once (in ranges of at most a few
//! MiB), verifies every blob and writes it to every place it occurs, in
//! parallel; metadata comes last, folders deepest first. A file that received a
//! damaged blob is deleted, never left looking complete.

pub mod etcd;
mod fetch;
pub mod git;
mod git_pack;
pub mod in_place;
mod meta;
pub mod plan;
pub mod stage;
mod write;

pub use fetch::fetch_blobs;
pub use plan::{RestoreFilter, RestorePlan};
pub use write::{
    check_available, partial_path, restore_to_dir, restore_tree, RestoreProgress, RestoreReport,
    PARTIAL_PREFIX,
};

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
    /// Some files need blobs that are not indexed or whose packs are gone;
    /// found before anything was written.
    #[error("{count} file(s) need data the repository does not have (first: {first}); nothing was written; `snap check` names what is lost, and `snap repair snapshots` saves a copy of the snapshot without it (or leave those paths out with --exclude)")]
    Unavailable {
        /// How many files.
        count: usize,
        /// The first, with why.
        first: String,
    },
    /// Ctrl-C or SIGTERM stopped the work.
    #[error("interrupted")]
    Interrupted,
    /// Ctrl-C or SIGTERM stopped a restore into a folder.
    #[error("interrupted: {complete} of {total} file(s) are complete under their names; the others were not written (no partial file is left); run the same restore again to finish: complete files are kept")]
    InterruptedRestore {
        /// Files complete.
        complete: u64,
        /// Files planned.
        total: u64,
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
    /// A value to restore into etcd could not be read: nothing was changed.
    #[error("nothing was changed in etcd at {cluster}: the snapshot's value of {key} cannot be read ({reason}; {count} blob(s) in all); `snap check --read-data` names what is damaged, and `snap repair snapshots` saves a copy of the snapshot without those keys")]
    EtcdUnchanged {
        /// The cluster.
        cluster: String,
        /// The first key whose value failed.
        key: String,
        /// Why.
        reason: String,
        /// Blobs that failed.
        count: usize,
    },
    /// Ctrl-C or SIGTERM stopped a restore into etcd between transactions.
    #[error("interrupted: the restore into etcd stopped between transactions; {applied} of {total} change(s) were applied, each transaction whole; run the same restore again to finish")]
    InterruptedEtcd {
        /// Changes applied.
        applied: usize,
        /// Changes planned.
        total: usize,
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

impl RestoreError {
    /// What kind of failure this is, from its cause where it has one.
    pub fn kind(&self) -> crate::failure::ErrorKind {
        match self {
            RestoreError::Interrupted
            | RestoreError::InterruptedRestore { .. }
            | RestoreError::InterruptedEtcd { .. } => crate::failure::ErrorKind::Interrupted,
            RestoreError::Repo(e) => e.kind(),
            RestoreError::Snapshot(e) => e.kind(),
            _ => crate::failure::ErrorKind::Other,
        }
    }
}

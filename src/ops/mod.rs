//! User operations, one file each: options in, a serializable report out.
//!
//! Operations take an open repository (or a backend for `init`), take the lock
//! they need, and never print: the CLI renders their reports as text or JSON.

pub mod backup;
pub mod cat;
pub mod check;
pub mod copy;
pub mod diff;
pub mod dump;
pub mod etcd;
pub mod find;
pub mod forget;
pub mod init;
pub mod key;
pub mod ls;
pub mod profile;
pub mod prune;
pub mod repair;
pub mod restore;
pub mod retention;
pub mod snapshots;
pub mod stats;
pub mod tag;
pub mod unlock;

/// Errors of operations: those of the layers below.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Repository.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
    /// Snapshot lookup or decoding.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// Backup.
    #[error(transparent)]
    Archive(#[from] crate::archiver::ArchiveError),
    /// Restore.
    #[error(transparent)]
    Restore(#[from] crate::restore::RestoreError),
    /// Sources.
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// Key management.
    #[error(transparent)]
    Key(#[from] key::KeyError),
    /// Forget.
    #[error(transparent)]
    Forget(#[from] forget::ForgetError),
    /// Prune.
    #[error(transparent)]
    Prune(#[from] prune::PruneError),
    /// Tag.
    #[error(transparent)]
    Tag(#[from] tag::TagError),
    /// Dump.
    #[error(transparent)]
    Dump(#[from] dump::DumpError),
    /// A platform profile.
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    /// Starting an etcd.
    #[error(transparent)]
    Deploy(#[from] etcd::DeployError),
}

impl OpError {
    /// What kind of failure this is. Every variant is named, so a new one
    /// must decide whether it passes its cause's kind on.
    pub fn kind(&self) -> crate::failure::ErrorKind {
        use crate::failure::ErrorKind as K;
        match self {
            OpError::Repo(e) => e.kind(),
            OpError::Snapshot(e) => e.kind(),
            OpError::Archive(e) => e.kind(),
            OpError::Restore(e) => e.kind(),
            OpError::Source(_)
            | OpError::Key(_)
            | OpError::Forget(_)
            | OpError::Prune(_)
            | OpError::Tag(_)
            | OpError::Dump(_)
            | OpError::Profile(_)
            | OpError::Deploy(_) => K::Other,
        }
    }

    /// True when Ctrl-C or SIGTERM stopped the operation.
    pub fn is_interrupted(&self) -> bool {
        self.kind() == crate::failure::ErrorKind::Interrupted
    }
}

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
    /// True when Ctrl-C or SIGTERM stopped the operation.
    pub fn is_interrupted(&self) -> bool {
        use crate::archiver::ArchiveError as A;
        use crate::restore::RestoreError as R;
        matches!(
            self,
            OpError::Archive(A::Interrupted { .. })
                | OpError::Restore(
                    R::Interrupted | R::InterruptedRestore { .. } | R::InterruptedEtcd { .. }
                )
        ) || self
            .repo_error()
            .is_some_and(|e| matches!(e, crate::repo::RepoError::Interrupted))
    }

    /// The repository error underneath, if any, for exit codes.
    pub fn repo_error(&self) -> Option<&crate::repo::RepoError> {
        use crate::archiver::ArchiveError as A;
        use crate::restore::RestoreError as R;
        use crate::snapshot::SnapshotError as S;
        match self {
            OpError::Repo(e)
            | OpError::Snapshot(S::Repo(e))
            | OpError::Archive(A::Repo(e))
            | OpError::Archive(A::Snapshot(S::Repo(e)))
            | OpError::Restore(R::Repo(e))
            | OpError::Restore(R::Snapshot(S::Repo(e))) => Some(e),
            _ => None,
        }
    }
}

//! Exit codes, as restic documents them, and the one table mapping errors to them.

use crate::ops::OpError;
use crate::repo::RepoError;

/// The process exit codes (documented in README.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// A fatal error.
    Fatal = 1,
    /// Backup finished, but some files could not be read.
    PartialBackup = 3,
    /// `check` found errors in the repository.
    CheckFailed = 4,
    /// A restore into etcd left keys that others changed meanwhile, or
    /// ended with a keyspace that does not match the snapshot.
    EtcdIncomplete = 5,
    /// No repository at the location.
    NoRepository = 10,
    /// The repository could not be locked, or the lock was lost while
    /// working (nothing more was written).
    Locked = 11,
    /// Wrong password.
    WrongPassword = 12,
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

fn from_repo(e: &RepoError) -> Option<ExitCode> {
    match e {
        RepoError::NoRepository { .. } => Some(ExitCode::NoRepository),
        RepoError::Locked { .. } | RepoError::LockLost { .. } => Some(ExitCode::Locked),
        RepoError::WrongPassword { .. } => Some(ExitCode::WrongPassword),
        RepoError::Interrupted => Some(ExitCode::Interrupted),
        _ => None,
    }
}

/// The exit code for an error, from the first classified cause in its chain.
pub fn classify(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if cause
            .downcast_ref::<OpError>()
            .is_some_and(OpError::is_interrupted)
        {
            return ExitCode::Interrupted;
        }
        if let Some(e) = cause.downcast_ref::<RepoError>() {
            if let Some(code) = from_repo(e) {
                return code;
            }
        }
        if let Some(code) = cause
            .downcast_ref::<OpError>()
            .and_then(|e| e.repo_error())
            .and_then(from_repo)
        {
            return code;
        }
    }
    ExitCode::Fatal
}

//! Exit codes, as restic documents them, and the one table mapping errors to them.

use crate::archiver::ArchiveError;
use crate::failure::ErrorKind;
use crate::ops::OpError;
use crate::repo::RepoError;
use crate::restore::RestoreError;
use crate::snapshot::SnapshotError;

/// The process exit codes (documented in README.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// A fatal error.
    Fatal = 1,
    /// A bad command line (clap exits with it too), or an ambiguous
    /// environment.
    Usage = 2,
    /// Backup finished, but some files could not be read.
    PartialBackup = 3,
    /// `check` found errors in the repository.
    CheckFailed = 4,
    /// A restore into etcd left keys that others changed meanwhile, or
    /// ended with a keyspace that does not match the snapshot.
    EtcdIncomplete = 5,
    /// No repository at the location.
    NoRepository = 10,
    /// The repository could not be locked (another process holds it, or
    /// the lock file cannot be written), or the lock was lost while working
    /// (nothing more was written).
    Locked = 11,
    /// Wrong password.
    WrongPassword = 12,
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

/// A command line (or environment) that cannot be acted on: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The one table from failure kinds to exit codes.
fn from_kind(kind: ErrorKind) -> Option<ExitCode> {
    match kind {
        ErrorKind::NoRepository => Some(ExitCode::NoRepository),
        ErrorKind::Locked => Some(ExitCode::Locked),
        ErrorKind::WrongPassword => Some(ExitCode::WrongPassword),
        ErrorKind::Interrupted => Some(ExitCode::Interrupted),
        ErrorKind::Other => None,
    }
}

/// The exit code for an error, from the first classified cause in its chain.
pub fn classify(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if cause.is::<UsageError>() {
            return ExitCode::Usage;
        }
        if cause.is::<super::password::Rejected>() {
            return ExitCode::WrongPassword;
        }
        let kind = if let Some(e) = cause.downcast_ref::<OpError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<RepoError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<SnapshotError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<ArchiveError>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<RestoreError>() {
            e.kind()
        } else {
            ErrorKind::Other
        };
        if let Some(code) = from_kind(kind) {
            return code;
        }
    }
    ExitCode::Fatal
}

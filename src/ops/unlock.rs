//! `snap unlock`: removes stale locks (or, with `remove_all`, every lock).

use chrono::Utc;
use serde::Serialize;

use super::OpError;
use crate::id::FileKind;
use crate::repo::{read_locks, RepoError, Repository};

/// What `unlock` did.
#[derive(Debug, Default, Serialize)]
pub struct UnlockReport {
    /// Locks removed, each described with why.
    pub removed: Vec<String>,
    /// Live locks left in place.
    pub kept: Vec<String>,
}

/// Removes every stale lock: not refreshed for 30 minutes, or held by a
/// process that no longer runs on this host. With `remove_all`, every lock
/// file goes, live or unreadable, for when a holder on another host is known
/// to be dead.
pub fn unlock(repo: &Repository, remove_all: bool) -> Result<UnlockReport, OpError> {
    let mut report = UnlockReport::default();
    let backend = repo.backend();
    if remove_all {
        for f in backend.list(FileKind::Lock).map_err(RepoError::from)? {
            backend
                .remove(FileKind::Lock, &f.name)
                .map_err(RepoError::from)?;
            report.removed.push(format!("lock {}", f.name));
        }
        return Ok(report);
    }
    let now = Utc::now();
    for (name, info) in read_locks(repo, None)? {
        match info.stale_reason(now, &repo.lock_timing()) {
            Some(reason) => {
                backend
                    .remove(FileKind::Lock, &name)
                    .map_err(RepoError::from)?;
                report
                    .removed
                    .push(format!("lock held {} ({reason})", info.describe()));
            }
            None => report.kept.push(format!("lock held {}", info.describe())),
        }
    }
    Ok(report)
}

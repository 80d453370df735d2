//! Repository locks (spec §9): shared for backup and restore, exclusive for
//! maintenance. A lock is a sealed JSON file under `locks/`, refreshed every five
//! minutes while held; one not refreshed for 30 minutes, or held by a process
//! that no longer exists on this host, is stale and does not block anyone.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{hostname, username, RepoError, Repository};
use crate::backend::Backend;
use crate::crypto::{MasterKey, SealKind};
use crate::id::{FileKind, Id};

/// A lock not refreshed for this long is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
/// A holder whose lock was not refreshed for this long stops writing index
/// files and snapshots: soon others may judge the lock stale, and an
/// exclusive operation may already be changing the repository. The margin
/// to [`STALE_AFTER`] covers clock differences between hosts.
pub const LOST_AFTER: Duration = Duration::from_secs(25 * 60);

/// When a held lock was last written, shared by its refresher and the
/// repository that checks it before writing.
#[derive(Debug)]
pub(crate) struct LockHealth {
    refreshed_at: std::sync::atomic::AtomicI64,
}

impl LockHealth {
    fn new() -> LockHealth {
        LockHealth {
            refreshed_at: std::sync::atomic::AtomicI64::new(Utc::now().timestamp()),
        }
    }

    fn refreshed(&self) {
        self.refreshed_at
            .store(Utc::now().timestamp(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Seconds since the lock was last written.
    pub(crate) fn age(&self) -> i64 {
        Utc::now().timestamp() - self.refreshed_at.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Shared or exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    /// Many shared holders at once (backup, restore).
    Shared,
    /// No other holder at all (prune, key removal).
    Exclusive,
}

/// A lock file's content.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockInfo {
    /// Record version; 1.
    pub version: u32,
    /// When written or last refreshed.
    pub time: DateTime<Utc>,
    /// Shared or exclusive.
    pub kind: LockKind,
    /// Host of the holder.
    pub hostname: String,
    /// User of the holder.
    pub username: String,
    /// Process ID of the holder.
    pub pid: u32,
}

impl LockInfo {
    /// Why the lock is stale, or `None` if it is live.
    pub fn stale_reason(&self, now: DateTime<Utc>) -> Option<String> {
        let age = now.signed_duration_since(self.time);
        if age.to_std().is_ok_and(|a| a > STALE_AFTER) {
            return Some(format!("not refreshed for {} minutes", age.num_minutes()));
        }
        if self.hostname == hostname() && !pid_alive(self.pid) {
            return Some(format!("process {} no longer runs on this host", self.pid));
        }
        None
    }

    /// "exclusively by user@host (PID n) since t", for messages.
    pub fn describe(&self) -> String {
        let how = match self.kind {
            LockKind::Shared => "shared",
            LockKind::Exclusive => "exclusively",
        };
        format!(
            "{how} by {}@{} (PID {}) since {}",
            self.username,
            self.hostname,
            self.pid,
            self.time.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A held lock. Dropping it stops the refresher and deletes the lock file.
pub struct LockGuard {
    stop: Option<mpsc::Sender<()>>,
    refresher: Option<thread::JoinHandle<()>>,
    health: Arc<LockHealth>,
    /// Stale locks of others seen while acquiring, for the caller to report.
    pub stale: Vec<(String, String)>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.refresher.take() {
            let _ = t.join();
        }
    }
}

fn write_lock(backend: &dyn Backend, key: &MasterKey, kind: LockKind) -> Result<String, RepoError> {
    let info = LockInfo {
        version: 1,
        time: Utc::now(),
        kind,
        hostname: hostname(),
        username: username(),
        pid: std::process::id(),
    };
    let sealed = key.seal(
        SealKind::Lock,
        &serde_json::to_vec(&info).expect("lock serializes"),
    );
    let name = Id::sha256(&sealed).to_hex();
    backend.write(FileKind::Lock, &name, &sealed)?;
    Ok(name)
}

/// Reads every lock file except `ours`; unreadable ones are skipped (they are
/// from another repository key or damaged, and cannot be judged).
pub fn read_locks(
    repo: &Repository,
    ours: Option<&str>,
) -> Result<Vec<(String, LockInfo)>, RepoError> {
    let mut out = Vec::new();
    for f in repo.backend.list(FileKind::Lock)? {
        if Some(f.name.as_str()) == ours {
            continue;
        }
        let Ok(plain) = repo.load_file(FileKind::Lock, &f.name, SealKind::Lock) else {
            continue;
        };
        if let Ok(info) = serde_json::from_slice::<LockInfo>(&plain) {
            out.push((f.name, info));
        }
    }
    Ok(out)
}

pub(super) fn acquire(repo: &Repository, kind: LockKind) -> Result<LockGuard, RepoError> {
    let ours = write_lock(&*repo.backend, &repo.key, kind)?;
    let now = Utc::now();
    let mut stale = Vec::new();
    let others = match read_locks(repo, Some(&ours)) {
        Ok(o) => o,
        Err(e) => {
            let _ = repo.backend.remove(FileKind::Lock, &ours);
            return Err(e);
        }
    };
    for (name, info) in others {
        if let Some(reason) = info.stale_reason(now) {
            stale.push((name, format!("{} ({reason})", info.describe())));
            continue;
        }
        // A lock of a newer format version is respected as exclusive: its
        // holder may rely on rules this version does not know.
        if kind == LockKind::Exclusive || info.kind == LockKind::Exclusive || info.version != 1 {
            let _ = repo.backend.remove(FileKind::Lock, &ours);
            return Err(RepoError::Locked {
                location: repo.backend.location(),
                holder: info.describe(),
            });
        }
    }
    let (tx, rx) = mpsc::channel::<()>();
    let backend = Arc::clone(&repo.backend);
    let key = repo.key.clone();
    let health = Arc::new(LockHealth::new());
    repo.watch_lock(&health);
    let refreshed = Arc::clone(&health);
    let refresher = thread::spawn(move || {
        let mut current = ours;
        loop {
            match rx.recv_timeout(REFRESH_EVERY) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // A failed refresh is retried at the next interval; the
                    // repository refuses writes once it is too old.
                    if let Ok(fresh) = write_lock(&*backend, &key, kind) {
                        refreshed.refreshed();
                        let _ = backend.remove(FileKind::Lock, &current);
                        current = fresh;
                    }
                }
                _ => {
                    let _ = backend.remove(FileKind::Lock, &current);
                    return;
                }
            }
        }
    });
    Ok(LockGuard {
        stop: Some(tx),
        refresher: Some(refresher),
        health,
        stale,
    })
}

impl LockGuard {
    /// Makes the lock look last written `seconds` ago (tests of lock loss).
    #[doc(hidden)]
    pub fn pretend_refreshed_ago(&self, seconds: i64) {
        self.health.refreshed_at.store(
            Utc::now().timestamp() - seconds,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemoryBackend;
    use crate::crypto::KdfParams;
    use crate::repo::InitOptions;

    fn info(minutes_ago: i64, pid: u32, host: &str) -> LockInfo {
        LockInfo {
            version: 1,
            time: Utc::now() - chrono::Duration::minutes(minutes_ago),
            kind: LockKind::Exclusive,
            hostname: host.into(),
            username: "u".into(),
            pid,
        }
    }

    #[test]
    fn staleness() {
        let me = std::process::id();
        assert!(info(1, me, &hostname()).stale_reason(Utc::now()).is_none());
        assert!(info(31, me, &hostname())
            .stale_reason(Utc::now())
            .unwrap()
            .contains("not refreshed"));
        // PIDs above the kernel's maximum never run.
        let dead = info(1, 4_000_000_000, &hostname())
            .stale_reason(Utc::now())
            .unwrap();
        assert!(dead.contains("no longer runs"), "{dead}");
        // A process on another host is judged by time only.
        assert!(info(1, 4_000_000_000, "elsewhere")
            .stale_reason(Utc::now())
            .is_none());
    }

    #[test]
    fn a_lock_not_refreshed_for_too_long_stops_index_and_snapshot_writes() {
        let backend = std::sync::Arc::new(MemoryBackend::new());
        let options = InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let repo = Repository::init(backend, b"pw", &options).unwrap();
        let guard = repo.lock(LockKind::Shared).unwrap();
        let save = || repo.save_file(FileKind::Snapshot, SealKind::Snapshot, b"{}");
        save().unwrap();
        guard.pretend_refreshed_ago(LOST_AFTER.as_secs() as i64 - 60);
        save().unwrap();
        guard.pretend_refreshed_ago(LOST_AFTER.as_secs() as i64 + 1);
        let err = save().unwrap_err();
        assert!(
            matches!(err, RepoError::LockLost { minutes: 25, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("could not be refreshed"));
        // A blob saver's index write is refused too, so no snapshot follows.
        let saver = repo.blob_saver(1);
        saver
            .save(crate::pack::BlobKind::Data, b"data written meanwhile")
            .unwrap();
        assert!(matches!(saver.finish(), Err(RepoError::LockLost { .. })));
        // Once released, the lost lock no longer matters.
        drop(guard);
        save().unwrap();
    }

    #[test]
    fn shared_locks_coexist_exclusive_ones_do_not_and_stale_ones_are_reported() {
        let backend = std::sync::Arc::new(MemoryBackend::new());
        let options = InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let repo = Repository::init(backend.clone(), b"pw", &options).unwrap();
        let a = repo.lock(LockKind::Shared).unwrap();
        let b = repo.lock(LockKind::Shared).unwrap();
        assert!(matches!(
            repo.lock(LockKind::Exclusive),
            Err(RepoError::Locked { .. })
        ));
        drop((a, b));
        let x = repo.lock(LockKind::Exclusive).unwrap();
        assert!(matches!(
            repo.lock(LockKind::Shared),
            Err(RepoError::Locked { .. })
        ));
        drop(x);
        assert!(
            backend.list(FileKind::Lock).unwrap().is_empty(),
            "locks are removed on drop"
        );

        // A lock left by a dead process does not block, and is reported.
        let dead = info(1, 4_000_000_000, &hostname());
        let sealed = repo
            .key
            .seal(SealKind::Lock, &serde_json::to_vec(&dead).unwrap());
        backend
            .write(FileKind::Lock, &Id::sha256(&sealed).to_hex(), &sealed)
            .unwrap();
        let guard = repo.lock(LockKind::Exclusive).unwrap();
        assert_eq!(guard.stale.len(), 1);
        assert!(guard.stale[0].1.contains("no longer runs"));
    }

    #[test]
    fn several_keys_open_one_repository() {
        let backend = std::sync::Arc::new(MemoryBackend::new());
        let options = InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let repo = Repository::init(backend.clone(), b"first", &options).unwrap();
        repo.add_key(b"second", KdfParams::insecure_fast()).unwrap();
        let a = Repository::open(backend.clone(), b"first").unwrap();
        let b = Repository::open(backend.clone(), b"second").unwrap();
        assert_eq!(a.config().id, b.config().id);
        assert_ne!(a.key_id(), b.key_id());
        assert!(matches!(
            Repository::open(backend, b"third"),
            Err(RepoError::WrongPassword { keys: 2, .. })
        ));
    }
}

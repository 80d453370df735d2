//! Repository locks (spec §9): shared for backup and restore, exclusive for
//! maintenance. A lock is a sealed JSON file under `locks/`, refreshed every five
//! minutes while held; one not refreshed for 30 minutes, or held by a process
//! that no longer exists on this host, is stale and does not block anyone.
//!
//! The holder's side of the rule is what keeps data safe: a lock is **held**
//! only while each new lock file was in place before the previous one was
//! [`LockTiming::lost_after`] old. Once that chain breaks (a refresh that fails
//! for too long, or comes late because the process was frozen, its VM
//! suspended, its container paused) the lock is **lost for good**: the
//! refresher stops, and the repository refuses every further pack, index and
//! snapshot write and every deletion, because another process may already
//! have taken the lock for stale and changed the repository.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{hostname, username, RepoError, Repository};
use crate::backend::Backend;
use crate::crypto::{MasterKey, SealKind};
use crate::id::{FileKind, Id};

/// A lock not refreshed for this long is stale (the default of
/// [`LockTiming::stale_after`]).
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// A holder whose lock was not refreshed for this long stops writing (the
/// default of [`LockTiming::lost_after`]). The margin to [`STALE_AFTER`]
/// covers clock differences between hosts.
pub const LOST_AFTER: Duration = Duration::from_secs(25 * 60);

/// The environment variable that shortens every lock age at once, for tests
/// of lock loss (spec §9): its value is the stale age in seconds. Every
/// process working on one repository must see the same value.
pub const TEST_STALE_ENV: &str = "SNAP_TEST_LOCK_STALE_SECONDS";

/// The ages of the lock rules (spec §9), in a fixed ratio: refreshed every
/// sixth, lost at five sixths, stale at the whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockTiming {
    /// Another process's lock older than this is stale.
    pub stale_after: Duration,
    /// Our lock older than this is lost: we stop writing.
    pub lost_after: Duration,
    /// How often a held lock is rewritten.
    pub refresh_every: Duration,
    /// How soon a failed refresh is tried again.
    pub retry_every: Duration,
}

impl Default for LockTiming {
    fn default() -> LockTiming {
        LockTiming::with_stale_after(STALE_AFTER)
    }
}

impl LockTiming {
    /// The timing whose stale age is `stale_after`.
    pub fn with_stale_after(stale_after: Duration) -> LockTiming {
        LockTiming {
            stale_after,
            lost_after: stale_after / 6 * 5,
            refresh_every: stale_after / 6,
            retry_every: stale_after / 60,
        }
    }

    /// The default timing, or the test timing of [`TEST_STALE_ENV`]
    /// (at least 3 seconds; other values are ignored).
    pub fn from_env() -> LockTiming {
        match std::env::var(TEST_STALE_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(secs) if secs >= 3 => LockTiming::with_stale_after(Duration::from_secs(secs)),
            _ => LockTiming::default(),
        }
    }
}

/// When our newest lock file was written, and whether the lock is lost.
/// Shared by the refresher and every writer that checks it.
#[derive(Debug)]
pub(crate) struct LockHealth {
    /// The time written into our newest lock file, by the wall clock and by
    /// the monotonic clock: a wall clock set back must not hide a freeze.
    written: Mutex<(DateTime<Utc>, Instant)>,
    lost: AtomicBool,
    lost_after: Duration,
}

impl LockHealth {
    fn new(wall: DateTime<Utc>, mono: Instant, lost_after: Duration) -> LockHealth {
        LockHealth {
            written: Mutex::new((wall, mono)),
            lost: AtomicBool::new(false),
            lost_after,
        }
    }

    fn refreshed(&self, wall: DateTime<Utc>, mono: Instant) {
        *self.written.lock().unwrap_or_else(|e| e.into_inner()) = (wall, mono);
    }

    /// How old our newest lock file is: the larger of the two clocks' views.
    fn age(&self) -> Duration {
        let (wall, mono) = *self.written.lock().unwrap_or_else(|e| e.into_inner());
        let by_wall = Utc::now()
            .signed_duration_since(wall)
            .to_std()
            .unwrap_or_default();
        by_wall.max(mono.elapsed())
    }

    /// `Some(age)` once the lock is lost; losing it is permanent.
    pub(crate) fn lost(&self) -> Option<Duration> {
        let age = self.age();
        if self.lost.load(Ordering::Acquire) || age >= self.lost_after {
            self.lost.store(true, Ordering::Release);
            return Some(age);
        }
        None
    }
}

/// The locks this process holds on one repository, checked before writes.
#[derive(Debug, Default)]
pub(crate) struct HeldLocks {
    held: Mutex<Vec<Weak<LockHealth>>>,
}

impl HeldLocks {
    fn watch(&self, health: &Arc<LockHealth>) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|w| w.strong_count() > 0);
        held.push(Arc::downgrade(health));
    }

    /// Fails once any lock held is lost.
    pub(crate) fn check(&self, location: impl FnOnce() -> String) -> Result<(), RepoError> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for health in held.iter().filter_map(Weak::upgrade) {
            if let Some(age) = health.lost() {
                return Err(RepoError::LockLost {
                    location: location(),
                    seconds: age.as_secs(),
                });
            }
        }
        Ok(())
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
    /// Compact JSON, as stored sealed under `locks/` (spec §9).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("lock serializes")
    }

    /// Parses a lock's plaintext. Every `version` is accepted: a live lock
    /// of an unknown version still restricts others, see
    /// [`LockInfo::blocks_as`].
    pub fn decode(plain: &[u8]) -> Result<LockInfo, serde_json::Error> {
        serde_json::from_slice(plain)
    }

    /// What a live lock with this content excludes: its kind, or everything
    /// when its version is not 1, since its holder may rely on rules this
    /// version does not know (spec §9).
    pub fn blocks_as(&self) -> LockKind {
        if self.version == 1 {
            self.kind
        } else {
            LockKind::Exclusive
        }
    }

    /// Why the lock is stale under `timing`, or `None` if it is live.
    pub fn stale_reason(&self, now: DateTime<Utc>, timing: &LockTiming) -> Option<String> {
        let age = now.signed_duration_since(self.time);
        if age.to_std().is_ok_and(|a| a > timing.stale_after) {
            return Some(if age.num_minutes() > 0 {
                format!("not refreshed for {} minutes", age.num_minutes())
            } else {
                format!("not refreshed for {} seconds", age.num_seconds())
            });
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

fn write_lock(
    backend: &dyn Backend,
    key: &MasterKey,
    kind: LockKind,
    time: DateTime<Utc>,
) -> Result<String, RepoError> {
    let info = LockInfo {
        version: 1,
        time,
        kind,
        hostname: hostname(),
        username: username(),
        pid: std::process::id(),
    };
    let sealed = key.seal(SealKind::Lock, &info.encode());
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
        if let Ok(info) = LockInfo::decode(&plain) {
            out.push((f.name, info));
        }
    }
    Ok(out)
}

pub(super) fn acquire(repo: &Repository, kind: LockKind) -> Result<LockGuard, RepoError> {
    let timing = repo.lock_timing;
    let (wall, mono) = (Utc::now(), Instant::now());
    let ours = write_lock(&*repo.backend, &repo.key, kind, wall).map_err(|e| match e {
        RepoError::Backend(source) => RepoError::LockWrite {
            location: repo.backend.location(),
            source: Box::new(source),
        },
        other => other,
    })?;
    let health = Arc::new(LockHealth::new(wall, mono, timing.lost_after));
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
        if let Some(reason) = info.stale_reason(now, &timing) {
            stale.push((name, format!("{} ({reason})", info.describe())));
            continue;
        }
        if kind == LockKind::Exclusive || info.blocks_as() == LockKind::Exclusive {
            let _ = repo.backend.remove(FileKind::Lock, &ours);
            return Err(RepoError::Locked {
                location: repo.backend.location(),
                holder: info.describe(),
            });
        }
    }
    // Acquiring took too long (a freeze between writing and listing): others
    // may have judged our lock stale before they saw it as live.
    if health.lost().is_some() {
        let _ = repo.backend.remove(FileKind::Lock, &ours);
        return Err(RepoError::LockLost {
            location: repo.backend.location(),
            seconds: health.age().as_secs(),
        });
    }
    let (tx, rx) = mpsc::channel::<()>();
    let backend = Arc::clone(&repo.backend);
    let key = repo.key.clone();
    repo.locks.watch(&health);
    let refreshed = Arc::clone(&health);
    let refresher =
        thread::spawn(move || refresh_loop(&*backend, &key, kind, timing, &refreshed, ours, rx));
    Ok(LockGuard {
        stop: Some(tx),
        refresher: Some(refresher),
        health,
        stale,
    })
}

/// Rewrites the lock until told to stop (or the channel closes), then
/// deletes it. A refresh is good only if the new file is in place before
/// the previous one is `lost_after` old; otherwise, or once refreshes have
/// failed that long, the lock is lost and the loop deletes its file and
/// ends: a lost lock is never renewed.
fn refresh_loop(
    backend: &dyn Backend,
    key: &MasterKey,
    kind: LockKind,
    timing: LockTiming,
    health: &LockHealth,
    mut current: String,
    stop: mpsc::Receiver<()>,
) {
    let mut wait = timing.refresh_every;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(wait) {
        if health.lost().is_some() {
            break;
        }
        let (wall, mono) = (Utc::now(), Instant::now());
        match write_lock(backend, key, kind, wall) {
            Ok(fresh) if health.lost().is_some() => {
                // Written too late to count: the chain of files broke.
                let _ = backend.remove(FileKind::Lock, &fresh);
                break;
            }
            Ok(fresh) => {
                health.refreshed(wall, mono);
                let _ = backend.remove(FileKind::Lock, &current);
                current = fresh;
                wait = timing.refresh_every;
            }
            Err(_) => wait = timing.retry_every.max(Duration::from_millis(100)),
        }
    }
    let _ = backend.remove(FileKind::Lock, &current);
}

impl LockGuard {
    /// A guard holding no lock, for a repository read without locks.
    pub(super) fn none() -> LockGuard {
        // Nothing is refreshed, so nothing can be lost.
        let health = LockHealth::new(Utc::now(), Instant::now(), Duration::MAX);
        LockGuard {
            stop: None,
            refresher: None,
            health: Arc::new(health),
            stale: Vec::new(),
        }
    }

    /// Makes the lock look last written `seconds` ago (tests of lock loss).
    #[doc(hidden)]
    pub fn pretend_refreshed_ago(&self, seconds: u64) {
        let ago = Duration::from_secs(seconds);
        let wall = Utc::now() - chrono::Duration::from_std(ago).unwrap_or_default();
        let mono = Instant::now().checked_sub(ago).unwrap_or_else(Instant::now);
        self.health.refreshed(wall, mono);
    }

    /// True once the lock is lost (see the module documentation).
    pub fn is_lost(&self) -> bool {
        self.health.lost().is_some()
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

    fn fresh_repo() -> (Arc<MemoryBackend>, Repository) {
        let backend = Arc::new(MemoryBackend::new());
        let options = InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let repo = Repository::init(backend.clone(), b"pw", &options).unwrap();
        (backend, repo)
    }

    #[test]
    fn staleness() {
        let me = std::process::id();
        let timing = LockTiming::default();
        assert!(info(1, me, &hostname())
            .stale_reason(Utc::now(), &timing)
            .is_none());
        assert!(info(31, me, &hostname())
            .stale_reason(Utc::now(), &timing)
            .unwrap()
            .contains("not refreshed for 31 minutes"));
        // Shortened ages (tests) judge by the shortened age.
        let short = LockTiming::with_stale_after(Duration::from_secs(6));
        assert!(info(1, me, &hostname())
            .stale_reason(Utc::now(), &short)
            .unwrap()
            .contains("not refreshed for 1 minutes"));
        // PIDs above the kernel's maximum never run.
        let dead = info(1, 4_000_000_000, &hostname())
            .stale_reason(Utc::now(), &timing)
            .unwrap();
        assert!(dead.contains("no longer runs"), "{dead}");
        // A process on another host is judged by time only.
        assert!(info(1, 4_000_000_000, "elsewhere")
            .stale_reason(Utc::now(), &timing)
            .is_none());
    }

    #[test]
    fn timing_keeps_its_ratios_and_the_margin_between_lost_and_stale() {
        let t = LockTiming::default();
        assert_eq!(t.stale_after, STALE_AFTER);
        assert_eq!(t.lost_after, LOST_AFTER);
        assert_eq!(t.refresh_every, Duration::from_secs(300));
        assert_eq!(t.retry_every, Duration::from_secs(30));
        let short = LockTiming::with_stale_after(Duration::from_secs(12));
        assert_eq!(short.lost_after, Duration::from_secs(10));
        assert_eq!(short.refresh_every, Duration::from_secs(2));
    }

    #[test]
    fn a_lock_not_refreshed_for_too_long_stops_index_and_snapshot_writes() {
        let (_, repo) = fresh_repo();
        let guard = repo.lock(LockKind::Shared).unwrap();
        let save = || repo.save_file(FileKind::Snapshot, SealKind::Snapshot, b"{}");
        save().unwrap();
        guard.pretend_refreshed_ago(LOST_AFTER.as_secs() - 60);
        save().unwrap();
        guard.pretend_refreshed_ago(LOST_AFTER.as_secs() + 1);
        let err = save().unwrap_err();
        assert!(matches!(err, RepoError::LockLost { .. }), "{err}");
        assert!(err.to_string().contains("25 minutes"), "{err}");
        // Losing is permanent: a refresh afterwards does not make it held.
        guard.pretend_refreshed_ago(0);
        assert!(guard.is_lost());
        assert!(matches!(save(), Err(RepoError::LockLost { .. })));
        // A blob saver refuses new blobs and its index write.
        let saver = repo.blob_saver(1);
        assert!(matches!(
            saver.save(crate::pack::BlobKind::Data, b"data written meanwhile"),
            Err(RepoError::LockLost { .. })
        ));
        assert!(matches!(saver.finish(), Err(RepoError::LockLost { .. })));
        // Once released, the lost lock no longer matters.
        drop(guard);
        save().unwrap();
    }

    #[test]
    fn a_refresh_that_comes_late_loses_the_lock_and_deletes_its_file() {
        let (backend, mut repo) = fresh_repo();
        repo.set_lock_timing(LockTiming::with_stale_after(Duration::from_secs(3)));
        let guard = repo.lock(LockKind::Shared).unwrap();
        // Refreshes happen every half second and keep the lock.
        thread::sleep(Duration::from_millis(1200));
        assert!(!guard.is_lost());
        assert_eq!(backend.list(FileKind::Lock).unwrap().len(), 1);
        // As if frozen past the lost age: the refresher must not renew it.
        guard.pretend_refreshed_ago(3);
        thread::sleep(Duration::from_millis(800));
        assert!(guard.is_lost());
        assert!(
            backend.list(FileKind::Lock).unwrap().is_empty(),
            "a lost lock's file is removed, never renewed"
        );
        assert!(matches!(
            repo.save_file(FileKind::Snapshot, SealKind::Snapshot, b"{}"),
            Err(RepoError::LockLost { .. })
        ));
    }

    #[test]
    fn shared_locks_coexist_exclusive_ones_do_not_and_stale_ones_are_reported() {
        let (backend, repo) = fresh_repo();
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
    fn a_repository_read_without_locks_writes_no_lock_and_refuses_writes() {
        let (backend, mut repo) = fresh_repo();
        repo.set_unlocked();
        let guard = repo.lock(LockKind::Shared).unwrap();
        assert!(backend.list(FileKind::Lock).unwrap().is_empty());
        assert!(!guard.is_lost());
        assert!(matches!(
            repo.lock(LockKind::Exclusive),
            Err(RepoError::Unlocked { .. })
        ));
        assert!(matches!(
            repo.save_file(FileKind::Snapshot, SealKind::Snapshot, b"{}"),
            Err(RepoError::Unlocked { .. })
        ));
        assert!(backend.list(FileKind::Snapshot).unwrap().is_empty());
    }

    #[test]
    fn several_keys_open_one_repository() {
        let (backend, repo) = fresh_repo();
        repo.add_key(b"second", KdfParams::insecure_fast()).unwrap();
        let a = Repository::open(backend.clone(), b"pw").unwrap();
        let b = Repository::open(backend.clone(), b"second").unwrap();
        assert_eq!(a.config().id, b.config().id);
        assert_ne!(a.key_id(), b.key_id());
        assert!(matches!(
            Repository::open(backend, b"third"),
            Err(RepoError::WrongPassword { keys: 2, .. })
        ));
    }
}

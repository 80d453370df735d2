//! HTTP basic auth against an htpasswd file of bcrypt entries, as Apache's
//! `htpasswd -B` writes them. A bcrypt check costs tens of milliseconds, so a
//! password that passed is remembered (as its SHA-256) for that user.
//!
//! [`Users`] keeps the file current without a restart: it is read again on
//! SIGHUP ([`Users::reload`]) and when it changed on disk. The change is
//! noticed on requests, by comparing the file's inode, size, mtime and ctime
//! at most once per [`RECHECK`], rather than by a watcher thread: it needs
//! no inotify dependency, follows editors and tools that replace the file by
//! a rename (the path is what is checked), costs one `stat` per second under
//! load and nothing when idle, and the users matter only when a request
//! comes. A file that no longer loads keeps the users loaded before, and the
//! error is logged once per change.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest;

/// Errors reading an htpasswd file.
#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    /// The file cannot be read.
    #[error("cannot read htpasswd file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `user:bcrypt-hash`.
    #[error("htpasswd file {path}, line {line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No user at all.
    #[error("htpasswd file {path} has no users; add one with `htpasswd -B {path} USER`")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The user and password of an `Authorization: Basic ...` header value
/// (RFC 7617), or `None` when it is not one. Pure: untrusted input.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The users of an htpasswd file.
pub struct Htpasswd {
    path: PathBuf,
    users: HashMap<String, String>,
    verified: Mutex<HashMap<String, [u8; 32]>>,
}

impl Htpasswd {
    /// Reads `path`: one `user:hash` per line, bcrypt hashes only (`$2y$`,
    /// `$2b$`, `$2a$`); blank lines and `#` comments are skipped.
    pub fn load(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| HtpasswdError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                reason: reason.to_string(),
            };
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected USER:HASH"))?;
            if user.is_empty() {
                return Err(bad("the user name is empty"));
            }
            if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
                return Err(bad(
                    "only bcrypt hashes are accepted; write the entry with `htpasswd -B`",
                ));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        if users.is_empty() {
            return Err(HtpasswdError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Htpasswd {
            path: path.to_path_buf(),
            users,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Where it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many users it has.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True without users (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user an `Authorization: Basic ...` header authenticates, if any.
    /// Blocking (bcrypt): call it off the async threads.
    pub fn check(&self, header: Option<&str>) -> Option<String> {
        let (user, password) = basic_credentials(header?)?;
        let (user, password) = (user.as_str(), password.as_str());
        let hash = self.users.get(user)?;
        let digest: [u8; 32] = sha2::Sha256::digest(password.as_bytes()).into();
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .is_some_and(|d| *d == digest);
        if known || bcrypt::verify(password, hash).unwrap_or(false) {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(user.to_string(), digest);
            return Some(user.to_string());
        }
        None
    }
}

impl Htpasswd {
    /// Keeps what `old` verified for the users whose hash is unchanged, so
    /// a reload does not cost every user a bcrypt check again.
    fn adopt_verified(&self, old: &Htpasswd) {
        let known = old.verified.lock().unwrap_or_else(|e| e.into_inner());
        let mut mine = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        for (user, digest) in known.iter() {
            if old
                .users
                .get(user)
                .is_some_and(|h| self.users.get(user) == Some(h))
            {
                mine.insert(user.clone(), *digest);
            }
        }
    }
}

/// How often, at most, requests check whether the htpasswd file changed.
pub const RECHECK: Duration = Duration::from_secs(1);

/// What identifies one version of the file: a rewrite changes the mtime
/// and ctime, a rename over it the inode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

struct Watch {
    /// The version last loaded or last found broken (`None`: missing).
    seen: Option<Stamp>,
    checked: Instant,
}

/// The users of an htpasswd file, reloaded when it changes (see the module
/// documentation). Blocking (file reads, bcrypt): use it off async threads.
pub struct Users {
    current: RwLock<Arc<Htpasswd>>,
    watch: Mutex<Watch>,
}

impl Users {
    /// Watches the file `loaded` was read from, as it is now (the server
    /// starts right after loading it).
    pub fn new(loaded: Htpasswd) -> Users {
        let seen = stamp(&loaded.path);
        Users {
            current: RwLock::new(Arc::new(loaded)),
            watch: Mutex::new(Watch {
                seen,
                checked: Instant::now(),
            }),
        }
    }

    fn current(&self) -> Arc<Htpasswd> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The user an `Authorization` header authenticates, with the file
    /// reloaded first if it changed.
    pub fn check(&self, header: Option<&str>) -> Option<String> {
        self.reload_if_changed();
        self.current().check(header)
    }

    /// Reads the file again now (SIGHUP): the number of users, or the
    /// error, in which case the users loaded before stay.
    pub fn reload(&self) -> Result<usize, HtpasswdError> {
        let mut watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        watch.checked = Instant::now();
        self.load_into(&mut watch)
    }

    fn reload_if_changed(&self) {
        // One request checks; the others go on with the users they have.
        let Ok(mut watch) = self.watch.try_lock() else {
            return;
        };
        if watch.checked.elapsed() < RECHECK {
            return;
        }
        watch.checked = Instant::now();
        let path = self.current().path.clone();
        if stamp(&path) == watch.seen {
            return;
        }
        match self.load_into(&mut watch) {
            Ok(n) => eprintln!(
                "snap serve: {} changed: reloaded, {n} user(s)",
                path.display()
            ),
            Err(e) => eprintln!("snap serve: {e}; keeping the users loaded before"),
        }
    }

    fn load_into(&self, watch: &mut Watch) -> Result<usize, HtpasswdError> {
        let old = self.current();
        // The stamp before the read: a change during the read is seen next time.
        watch.seen = stamp(&old.path);
        let new = Htpasswd::load(&old.path)?;
        new.adopt_verified(&old);
        let n = new.len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        let raw = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn bcrypt_entries_authenticate_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(&path, format!("# operators\n\nalice:{hash}\n")).unwrap();
        let h = Htpasswd::load(&path).unwrap();
        assert_eq!(h.len(), 1);
        let good = header("alice", "s3cret");
        assert_eq!(h.check(Some(&good)).as_deref(), Some("alice"));
        // Again, from the cache.
        assert_eq!(h.check(Some(&good)).as_deref(), Some("alice"));
        assert_eq!(h.check(Some(&header("alice", "wrong"))), None);
        assert_eq!(h.check(Some(&header("bob", "s3cret"))), None);
        assert_eq!(h.check(Some("Bearer x")), None);
        assert_eq!(h.check(None), None);

        std::fs::write(&path, "alice:{SHA}abc\n").unwrap();
        let err = Htpasswd::load(&path).err().unwrap().to_string();
        assert!(
            err.contains("line 1") && err.contains("htpasswd -B"),
            "{err}"
        );
        std::fs::write(&path, "# nobody\n").unwrap();
        assert!(matches!(
            Htpasswd::load(&path),
            Err(HtpasswdError::Empty { .. })
        ));
    }

    #[test]
    fn users_follow_the_file_and_keep_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let entry = |u: &str, p: &str| format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap());
        let alice = entry("alice", "a");
        std::fs::write(&path, &alice).unwrap();
        let users = Users::new(Htpasswd::load(&path).unwrap());
        assert_eq!(
            users.check(Some(&header("alice", "a"))).as_deref(),
            Some("alice")
        );
        // Replaced by a rename, as editors do: seen after RECHECK.
        let next = dir.path().join("next");
        std::fs::write(&next, alice + &entry("bob", "b")).unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(
            users.check(Some(&header("bob", "b"))),
            None,
            "checked at most once per RECHECK"
        );
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert_eq!(
            users.check(Some(&header("bob", "b"))).as_deref(),
            Some("bob")
        );
        // The cache survives for an unchanged entry.
        let cached = users
            .current()
            .verified
            .lock()
            .unwrap()
            .contains_key("alice");
        assert!(cached);
        // A broken file: the error, and the users before stay.
        std::fs::write(&path, "bob:{SHA}x\n").unwrap();
        assert!(users.reload().is_err());
        assert_eq!(
            users.check(Some(&header("bob", "b"))).as_deref(),
            Some("bob")
        );
        std::fs::write(&path, entry("carol", "c")).unwrap();
        assert_eq!(users.reload().unwrap(), 1);
        assert_eq!(users.check(Some(&header("bob", "b"))), None);
        assert_eq!(
            users.check(Some(&header("carol", "c"))).as_deref(),
            Some("carol")
        );
    }
}

//! HTTP basic auth against an htpasswd file of bcrypt entries, as Apache's
//! `htpasswd -B` writes them. A bcrypt check costs tens of milliseconds, so a
//! password that passed is remembered (as its SHA-256) for that user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
        let encoded = header?.strip_prefix("Basic ")?.trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
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
}

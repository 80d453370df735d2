//! The repository: config, keys, loading and saving sealed files and blobs,
//! the write order, and locks (spec §2, §8, §9).
//!
//! This layer knows how bytes are stored but not what they mean: trees and
//! snapshots are the `snapshot` layer's business.

mod config;
mod lock;
mod saver;

pub use config::{Config, InitOptions};
pub use lock::{
    read_locks, LockGuard, LockInfo, LockKind, LockTiming, LOST_AFTER, STALE_AFTER, TEST_STALE_ENV,
};
pub use saver::{BlobSaver, SaveStats};

use std::sync::Arc;

use crate::backend::{Backend, BackendError};
use crate::crypto::{CryptoError, KeyFile, MasterKey, SealKind};
use crate::id::{BlobId, FileKind, Id, KeyId, PackId};
use crate::index::{Index, IndexFile};
use crate::pack::{open_blob, BlobKind, PackError};

/// Errors of the repository layer. Each names the repository file involved.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No config file at the location.
    #[error(
        "no repository at {location}: run `snap init` there first, or check -r/SNAP_REPOSITORY"
    )]
    NoRepository {
        /// Where we looked.
        location: String,
    },
    /// `init` found a repository already.
    #[error("a repository already exists at {location}; refusing to overwrite it")]
    AlreadyExists {
        /// Where.
        location: String,
    },
    /// No key file opened with the password.
    #[error("wrong password: none of the {keys} key(s) of {location} opens with it")]
    WrongPassword {
        /// Where.
        location: String,
        /// How many key files were tried.
        keys: usize,
    },
    /// Every key file is damaged.
    #[error("no key file of {location} can be read ({problems}); restore keys/ from a copy")]
    NoUsableKey {
        /// Where.
        location: String,
        /// What is wrong with each.
        problems: String,
    },
    /// Another process holds a conflicting lock.
    #[error("repository {location} is locked {holder}; wait for it to finish, or if that process is gone run `snap unlock`")]
    Locked {
        /// Where.
        location: String,
        /// Who holds it, when.
        holder: String,
    },
    /// The lock file could not be written (a read-only repository, or one
    /// this user may not write to, or the backend failed).
    #[error("cannot lock the repository, since its lock file cannot be written ({source}); if the repository is read-only (a read-only medium or mount, or files this user may not change), commands that only read it (snapshots, ls, restore, check, dump, diff, find, stats, cat) work without a lock: use --no-lock")]
    LockWrite {
        /// Where (the source names it too).
        location: String,
        /// Why (boxed: errors stay small).
        #[source]
        source: Box<BackendError>,
    },
    /// A write was attempted on a repository opened without locks.
    #[error(
        "{location} was opened without a lock (--no-lock), which only reads; nothing was written"
    )]
    Unlocked {
        /// Where.
        location: String,
    },
    /// This process's lock was not refreshed for too long (the process was
    /// frozen or suspended, or the repository unreachable): others may take
    /// it for stale, so nothing more is written.
    #[error("the lock on {location} was last refreshed {} ago (was this process suspended or frozen, or the repository unreachable?); other snap processes may have treated it as stale and changed the repository meanwhile, so this operation stopped without writing anything more (no index, no snapshot); run it again", age_text(*seconds))]
    LockLost {
        /// Where.
        location: String,
        /// How long since the last refresh.
        seconds: u64,
    },
    /// A stored file's name is not the SHA-256 of its bytes.
    #[error("{noun} {name} is damaged: its content does not match its name (SHA-256 {actual}); restore it from a copy or run `snap check`")]
    NameMismatch {
        /// What kind of file.
        noun: &'static str,
        /// The stored name.
        name: String,
        /// The hash of what was read.
        actual: String,
    },
    /// A stored file failed to decrypt or parse.
    #[error("{noun} {name} cannot be read: {source}")]
    File {
        /// What kind of file.
        noun: &'static str,
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A blob could not be loaded.
    #[error("blob {blob} in pack {pack} is damaged: {reason}; run `snap check --read-data`")]
    Blob {
        /// The pack.
        pack: PackId,
        /// The blob.
        blob: BlobId,
        /// Why.
        reason: String,
    },
    /// A blob the snapshot needs is not in any index.
    #[error("blob {blob} is not in the index: the repository is incomplete; run `snap check`")]
    MissingBlob {
        /// The blob.
        blob: BlobId,
    },
    /// No file of a kind matches an ID or prefix.
    #[error("no {noun} {query} in {location}: give its full ID or a unique prefix of at least 4 hex characters")]
    NoSuchId {
        /// What kind of file.
        noun: &'static str,
        /// What was asked for.
        query: String,
        /// The repository.
        location: String,
    },
    /// Several files of a kind match a prefix.
    #[error("{query} matches {count} {noun}s in {location}: give more characters")]
    AmbiguousId {
        /// What kind of file.
        noun: &'static str,
        /// What was asked for.
        query: String,
        /// How many matched.
        count: usize,
        /// The repository.
        location: String,
    },
    /// The config is invalid.
    #[error("repository config is invalid: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A backend operation failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A crypto operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// An open repository: its backend, master key and config; optionally its index.
pub struct Repository {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    config: Config,
    key_id: KeyId,
    index: Index,
    /// Names of the index files in `index` (sorted), so loading again
    /// reads nothing when the repository's index files are the same.
    index_files: Vec<String>,
    /// Locks this process holds on the repository, checked before writes.
    locks: Arc<lock::HeldLocks>,
    /// The ages of the lock rules (spec §9).
    lock_timing: LockTiming,
    /// Opened to read without locks (spec §9): `lock` takes none, and
    /// every write is refused.
    unlocked: bool,
}

impl Repository {
    /// Creates a repository at an empty location, protected by `password`.
    pub fn init(
        backend: Arc<dyn Backend>,
        password: &[u8],
        options: &InitOptions,
    ) -> Result<Repository, RepoError> {
        match backend.stat(FileKind::Config, "") {
            Ok(_) => {
                return Err(RepoError::AlreadyExists {
                    location: backend.location(),
                })
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        let config = Config::new(options)?;
        backend.create()?;
        let key = MasterKey::generate();
        let key_id = add_key(&*backend, &key, password, options.kdf)?;
        backend.write(FileKind::Config, "", &config.encode(&key))?;
        Ok(Repository {
            backend,
            key,
            config,
            key_id,
            index: Index::new(),
            index_files: Vec::new(),
            locks: Default::default(),
            lock_timing: LockTiming::from_env(),
            unlocked: false,
        })
    }

    /// Opens a repository with a password, trying every key file.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> Result<Repository, RepoError> {
        let config_bytes = match backend.read(FileKind::Config, "") {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                return Err(RepoError::NoRepository {
                    location: backend.location(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let keys = backend.list(FileKind::Key)?;
        let mut damaged = Vec::new();
        for info in &keys {
            // One damaged key file must not stop another from opening.
            let file = match backend.read(FileKind::Key, &info.name) {
                Ok(bytes) if check_name(FileKind::Key, &info.name, &bytes).is_err() => {
                    damaged.push(format!("{}: content does not match its name", info.name));
                    continue;
                }
                Ok(bytes) => match KeyFile::decode(&bytes) {
                    Ok(f) => f,
                    Err(e) => {
                        damaged.push(format!("{}: {e}", info.name));
                        continue;
                    }
                },
                Err(e) => {
                    damaged.push(e.to_string());
                    continue;
                }
            };
            match file.unwrap(password) {
                Ok(key) => {
                    let config = Config::decode(&key, &config_bytes)?;
                    let key_id = KeyId(parse_name(FileKind::Key, &info.name)?);
                    return Ok(Repository {
                        backend,
                        key,
                        config,
                        key_id,
                        index: Index::new(),
                        index_files: Vec::new(),
                        locks: Default::default(),
                        lock_timing: LockTiming::from_env(),
                        unlocked: false,
                    });
                }
                Err(CryptoError::WrongPassword) => continue,
                Err(e) => damaged.push(format!("{}: {e}", info.name)),
            }
        }
        if !damaged.is_empty() && damaged.len() == keys.len() {
            return Err(RepoError::NoUsableKey {
                location: backend.location(),
                problems: damaged.join("; "),
            });
        }
        Err(RepoError::WrongPassword {
            location: backend.location(),
            keys: keys.len(),
        })
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The master key.
    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The key file this session opened with.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Loads every index file into memory; returns how many there are.
    /// Index files never change under a name, so when the listing names
    /// the files already loaded, nothing is read again.
    pub fn load_index(&mut self) -> Result<usize, RepoError> {
        let files = self.backend.list(FileKind::Index)?;
        let mut names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        names.sort();
        if !names.is_empty() && names == self.index_files {
            return Ok(files.len());
        }
        let results: Vec<Result<IndexFile, RepoError>> = {
            use rayon::prelude::*;
            files
                .par_iter()
                .map(|f| {
                    let plain = self.load_file(FileKind::Index, &f.name, SealKind::Index)?;
                    IndexFile::decode_plaintext(&plain)
                        .map_err(|e| file_err(FileKind::Index, &f.name, e))
                })
                .collect()
        };
        let mut index = Index::new();
        for r in results {
            index.add_file(&r?);
        }
        index.sort();
        self.index = index;
        self.index_files = names;
        Ok(files.len())
    }

    /// Uses `index` instead of loading one: `check` builds it file by file,
    /// so one damaged index file does not hide the others.
    pub fn replace_index(&mut self, index: Index) {
        self.index = index;
        self.index_files.clear();
    }

    /// The in-memory index (empty until [`Repository::load_index`]).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The ages of the lock rules this process applies (spec §9).
    pub fn lock_timing(&self) -> LockTiming {
        self.lock_timing
    }

    /// Uses other lock ages (tests; every process on one repository must
    /// agree on them).
    #[doc(hidden)]
    pub fn set_lock_timing(&mut self, timing: LockTiming) {
        self.lock_timing = timing;
    }

    /// Reads without locks from now on (spec §9, `--no-lock`): [`Repository::lock`]
    /// writes no lock file, so a read-only repository can be read, and every
    /// write and deletion that checks the locks is refused. A concurrent
    /// prune may then delete what is being read: reads fail, naming what is
    /// missing, and never return other data (everything read is verified).
    pub fn set_unlocked(&mut self) {
        self.unlocked = true;
    }

    /// Fails once a lock this process holds is lost (spec §9): the
    /// repository may no longer be safe to write to, or to delete from.
    /// Always fails on a repository read without locks.
    pub fn check_locks(&self) -> Result<(), RepoError> {
        if self.unlocked {
            return Err(RepoError::Unlocked {
                location: self.backend.location(),
            });
        }
        self.locks.check(|| self.backend.location())
    }

    /// Seals and stores a metadata file named by the SHA-256 of its bytes.
    /// Refused once a held lock is lost (see [`Repository::check_locks`]):
    /// index files and snapshots must not appear in a repository that
    /// maintenance may be changing.
    ///
    /// The lock is checked again once the file is stored: a process frozen
    /// during the write may find its lock lost afterwards, and then removes
    /// what it wrote, since maintenance may have started meanwhile.
    pub fn save_file(&self, kind: FileKind, seal: SealKind, plain: &[u8]) -> Result<Id, RepoError> {
        self.check_locks()?;
        let sealed = self.key.seal(seal, plain);
        let id = Id::sha256(&sealed);
        self.backend.write(kind, &id.to_hex(), &sealed)?;
        if let Err(lost) = self.check_locks() {
            let _ = self.backend.remove(kind, &id.to_hex());
            return Err(lost);
        }
        Ok(id)
    }

    /// Reads a stored file, checks its name against its SHA-256, and opens it.
    pub fn load_file(
        &self,
        kind: FileKind,
        name: &str,
        seal: SealKind,
    ) -> Result<Vec<u8>, RepoError> {
        let sealed = self.backend.read(kind, name)?;
        check_name(kind, name, &sealed)?;
        self.key
            .open(seal, &sealed)
            .map_err(|e| file_err(kind, name, e))
    }

    /// Names of every file of a kind, parsed as IDs; badly named files are
    /// skipped (they are reported by `snap check`).
    pub fn list_ids(&self, kind: FileKind) -> Result<Vec<Id>, RepoError> {
        Ok(self
            .backend
            .list(kind)?
            .into_iter()
            .filter_map(|f| Id::from_hex(&f.name).ok())
            .collect())
    }

    /// The file of `kind` named by a full ID or a unique prefix of at least 4
    /// hex characters.
    pub fn find_id(&self, kind: FileKind, query: &str) -> Result<Id, RepoError> {
        let location = self.backend.location();
        let lower = query.to_ascii_lowercase();
        if lower.len() < 4 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RepoError::NoSuchId {
                noun: kind.noun(),
                query: query.to_string(),
                location,
            });
        }
        let matches: Vec<Id> = self
            .list_ids(kind)?
            .into_iter()
            .filter(|id| id.to_hex().starts_with(&lower))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(RepoError::NoSuchId {
                noun: kind.noun(),
                query: query.to_string(),
                location,
            }),
            many => Err(RepoError::AmbiguousId {
                noun: kind.noun(),
                query: query.to_string(),
                count: many.len(),
                location,
            }),
        }
    }

    /// Loads one blob through the index and verifies it.
    pub fn load_blob(&self, id: &BlobId) -> Result<Vec<u8>, RepoError> {
        let loc = self
            .index
            .get(id)
            .ok_or(RepoError::MissingBlob { blob: *id })?;
        let sealed = self.backend.read_range(
            FileKind::Pack,
            &loc.pack.to_hex(),
            loc.offset as u64,
            loc.stored_len as u64,
        )?;
        open_blob(
            &self.key,
            loc.kind,
            loc.compression,
            loc.raw_len,
            id,
            &sealed,
        )
        .map_err(|e| blob_err(loc.pack, *id, e))
    }

    /// A saver for new blobs; see [`BlobSaver`].
    pub fn blob_saver(&self, connections: usize) -> BlobSaver<'_> {
        BlobSaver::new(self, connections)
    }

    /// Takes a shared or exclusive lock; see [`LockGuard`]. Without locks
    /// ([`Repository::set_unlocked`]) a shared one is a guard holding
    /// nothing, and an exclusive one (which only writers take) is refused.
    pub fn lock(&self, kind: LockKind) -> Result<LockGuard, RepoError> {
        match (self.unlocked, kind) {
            (false, _) => lock::acquire(self, kind),
            (true, LockKind::Shared) => Ok(LockGuard::none()),
            (true, LockKind::Exclusive) => Err(RepoError::Unlocked {
                location: self.backend.location(),
            }),
        }
    }

    /// Adds another key file for the same master key; returns its ID.
    pub fn add_key(
        &self,
        password: &[u8],
        params: crate::crypto::KdfParams,
    ) -> Result<KeyId, RepoError> {
        add_key(&*self.backend, &self.key, password, params)
    }

    /// The blob kind an indexed blob has, if indexed.
    pub fn blob_kind(&self, id: &BlobId) -> Option<BlobKind> {
        self.index.get(id).map(|l| l.kind)
    }
}

fn add_key(
    backend: &dyn Backend,
    key: &MasterKey,
    password: &[u8],
    params: crate::crypto::KdfParams,
) -> Result<KeyId, RepoError> {
    let file = KeyFile::wrap(key, password, params, &hostname(), &username())?;
    let bytes = file.encode();
    let id = Id::sha256(&bytes);
    backend.write(FileKind::Key, &id.to_hex(), &bytes)?;
    Ok(KeyId(id))
}

/// Verifies that a stored file's name is the SHA-256 of its bytes.
pub fn check_name(kind: FileKind, name: &str, bytes: &[u8]) -> Result<(), RepoError> {
    let actual = Id::sha256(bytes).to_hex();
    if actual != name {
        return Err(RepoError::NameMismatch {
            noun: kind.noun(),
            name: name.to_string(),
            actual,
        });
    }
    Ok(())
}

fn parse_name(kind: FileKind, name: &str) -> Result<Id, RepoError> {
    Id::from_hex(name).map_err(|e| file_err(kind, name, e))
}

pub(crate) fn file_err(
    kind: FileKind,
    name: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> RepoError {
    RepoError::File {
        noun: kind.noun(),
        name: name.to_string(),
        source: Box::new(e),
    }
}

/// The error for a blob that failed to open, naming pack and blob.
pub fn blob_err(pack: PackId, blob: BlobId, e: PackError) -> RepoError {
    let reason = match e {
        PackError::Crypto(_) => "it fails authentication (damaged or altered bytes)".to_string(),
        other => other.to_string(),
    };
    RepoError::Blob { pack, blob, reason }
}

/// "25 minutes", "1 minute 30 seconds", "12 seconds".
fn age_text(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match (seconds / 60, seconds % 60) {
        (0, s) => plural(s, "second"),
        (m, 0) => plural(m, "minute"),
        (m, s) => format!("{} {}", plural(m, "minute"), plural(s, "second")),
    }
}

/// This machine's host name (empty if unknown).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The current user's name, from the environment or the numeric UID.
pub fn username() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        // SAFETY: getuid has no preconditions.
        .unwrap_or_else(|_| format!("uid{}", unsafe { libc::getuid() }))
}

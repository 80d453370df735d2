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
use crate::pack::{decode_header, header_location, open_blob, BlobKind, PackEntry, PackError};

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
    #[error("wrong password: none of the {keys} key(s) of {location} tried opens with it{}", untried_text(*untried))]
    WrongPassword {
        /// Where.
        location: String,
        /// How many key files were tried.
        keys: usize,
        /// Key files not tried: beyond [`MAX_KEYS_TRIED`], or dearer than
        /// snap tries unasked (spec §3.3).
        untried: usize,
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
    /// A pack's header cannot be read or opened.
    #[error("the header of pack {pack} is damaged: {reason}; its blobs cannot be found from the pack alone (see `snap check`)")]
    PackHeader {
        /// The pack.
        pack: PackId,
        /// Why.
        reason: String,
    },
    /// Ctrl-C or SIGTERM: stopped between blobs.
    #[error("interrupted")]
    Interrupted,
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

impl RepoError {
    /// What kind of failure this is, for exit codes.
    pub fn kind(&self) -> crate::failure::ErrorKind {
        use crate::failure::ErrorKind as K;
        match self {
            RepoError::NoRepository { .. } => K::NoRepository,
            RepoError::Locked { .. } | RepoError::LockLost { .. } | RepoError::LockWrite { .. } => {
                K::Locked
            }
            RepoError::WrongPassword { .. } => K::WrongPassword,
            RepoError::Interrupted => K::Interrupted,
            _ => K::Other,
        }
    }
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
    /// Problems that lose nothing but are worth telling (a damaged key or
    /// index file skipped).
    warnings: Arc<Warnings>,
    /// Opened to read without locks (spec §9): `lock` takes none, and
    /// every write is refused.
    unlocked: bool,
}

/// At most this many key files are tried with one password (restic tries 20
/// too); more need a key hint.
pub const MAX_KEYS_TRIED: usize = 20;

/// Warnings collected, and where to send them as they come.
#[derive(Default)]
struct Warnings {
    list: std::sync::Mutex<Vec<String>>,
    sink: std::sync::Mutex<Option<WarningSink>>,
}

/// Where warnings go as they come (the CLI prints them).
type WarningSink = Box<dyn Fn(&str) + Send + Sync>;

impl Warnings {
    fn with(list: Vec<String>) -> Warnings {
        Warnings {
            list: std::sync::Mutex::new(list),
            sink: Default::default(),
        }
    }
}

/// The part of a wrong-password message about key files not tried.
pub fn untried_text(untried: usize) -> String {
    if untried == 0 {
        return String::new();
    }
    format!(
        "; {untried} more key file(s) were not tried (beyond {MAX_KEYS_TRIED} keys, or a key derivation dearer than snap tries unasked): if the password belongs to one of them, name it with --key-hint ID (its file name under keys/)"
    )
}

/// Reads and decodes every key file: the good ones with their names, and
/// a description of each damaged one.
fn read_key_files(
    backend: &dyn Backend,
    names: &[String],
) -> (Vec<(String, KeyFile)>, Vec<String>) {
    use rayon::prelude::*;
    let results: Vec<Result<(String, KeyFile), String>> = names
        .par_iter()
        .map(|name| {
            let bytes = backend
                .read(FileKind::Key, name)
                .map_err(|e| e.to_string())?;
            check_name(FileKind::Key, name, &bytes)
                .map_err(|_| format!("{name} is damaged: its content does not match its name"))?;
            let file =
                KeyFile::decode(&bytes).map_err(|e| format!("{name} cannot be read: {e}"))?;
            Ok((name.clone(), file))
        })
        .collect();
    let mut good = Vec::new();
    let mut damaged = Vec::new();
    for r in results {
        match r {
            Ok(g) => good.push(g),
            Err(d) => damaged.push(d),
        }
    }
    (good, damaged)
}

/// The one name in `names` that `query` (a full ID or a prefix of at least
/// 4 hex characters) names.
fn unique_match(
    backend: &Arc<dyn Backend>,
    kind: FileKind,
    names: &[String],
    query: &str,
) -> Result<String, RepoError> {
    let lower = query.to_ascii_lowercase();
    let valid = lower.len() >= 4 && lower.bytes().all(|b| b.is_ascii_hexdigit());
    let matches: Vec<&String> = names
        .iter()
        .filter(|n| valid && n.starts_with(&lower))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(RepoError::NoSuchId {
            noun: kind.noun(),
            query: query.to_string(),
            location: backend.location(),
        }),
        many => Err(RepoError::AmbiguousId {
            noun: kind.noun(),
            query: query.to_string(),
            count: many.len(),
            location: backend.location(),
        }),
    }
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
            warnings: Default::default(),
            unlocked: false,
        })
    }

    /// Opens a repository with a password, trying key files as
    /// [`Repository::open_with_hint`] does without a hint.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> Result<Repository, RepoError> {
        Repository::open_with_hint(backend, password, None)
    }

    /// Fails with [`RepoError::NoRepository`] unless `backend` holds a
    /// repository config: callers check this before asking for a password.
    pub fn require_exists(backend: &dyn Backend) -> Result<(), RepoError> {
        match backend.stat(FileKind::Config, "") {
            Err(e) if e.is_not_found() => Err(RepoError::NoRepository {
                location: backend.location(),
            }),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Opens a repository with a password (spec §3.3). The key file named by
    /// `key_hint` (a full ID or a unique prefix) is tried first; then the
    /// others from the cheapest key derivation up, at most [`MAX_KEYS_TRIED`]
    /// in all, skipping those dearer than snap tries unasked. Damaged key
    /// files are skipped with a warning ([`Repository::warnings`]): one
    /// planted or broken key file must neither stop nor stall the others.
    pub fn open_with_hint(
        backend: Arc<dyn Backend>,
        password: &[u8],
        key_hint: Option<&str>,
    ) -> Result<Repository, RepoError> {
        let config_bytes = match backend.read(FileKind::Config, "") {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                return Err(RepoError::NoRepository {
                    location: backend.location(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let names: Vec<String> = backend
            .list(FileKind::Key)?
            .into_iter()
            .map(|f| f.name)
            .collect();
        let hinted = match key_hint {
            Some(hint) => Some(unique_match(&backend, FileKind::Key, &names, hint)?),
            None => None,
        };
        let (mut candidates, damaged) = read_key_files(&*backend, &names);
        let mut warnings: Vec<String> = damaged
            .iter()
            .map(|d| format!("key file {d}; it was not tried"))
            .collect();
        candidates.sort_by(|(a, fa), (b, fb)| {
            let first = |n: &String| Some(n) != hinted.as_ref();
            (first(a), fa.kdf_params().cost(), a).cmp(&(first(b), fb.kdf_params().cost(), b))
        });
        let costly: Vec<&String> = candidates
            .iter()
            .filter(|(name, file)| {
                Some(name) != hinted.as_ref() && !file.kdf_params().tried_unasked()
            })
            .map(|(name, _)| name)
            .collect();
        let mut tried = 0;
        let mut untried = costly.len();
        let mut problems = Vec::new();
        for (name, file) in &candidates {
            if costly.contains(&name) {
                continue;
            }
            if tried >= MAX_KEYS_TRIED {
                untried += 1;
                continue;
            }
            tried += 1;
            match file.unwrap(password) {
                Ok(key) => {
                    let config = Config::decode(&key, &config_bytes)?;
                    let key_id = KeyId(parse_name(FileKind::Key, name)?);
                    for name in costly {
                        warnings.push(format!(
                            "key file {name} asks for a key derivation dearer than snap tries unasked (spec §3.3) and was not tried; if nobody you know made it, remove it with `snap key remove {}`",
                            &name[..name.len().min(8)]
                        ));
                    }
                    return Ok(Repository {
                        backend,
                        key,
                        config,
                        key_id,
                        index: Index::new(),
                        index_files: Vec::new(),
                        locks: Default::default(),
                        lock_timing: LockTiming::from_env(),
                        warnings: Arc::new(Warnings::with(warnings)),
                        unlocked: false,
                    });
                }
                Err(CryptoError::WrongPassword) => {}
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        }
        if candidates.is_empty() || (tried == problems.len() && untried == 0) {
            let mut all = damaged;
            all.extend(problems);
            return Err(RepoError::NoUsableKey {
                location: backend.location(),
                problems: if all.is_empty() {
                    "there are no key files".to_string()
                } else {
                    all.join("; ")
                },
            });
        }
        Err(RepoError::WrongPassword {
            location: backend.location(),
            keys: tried,
            untried,
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

    /// Loads every index file into memory; returns how many were used.
    /// Index files never change under a name, so when the listing names
    /// the files already loaded, nothing is read again.
    ///
    /// An index file that cannot be read or opened is skipped with a
    /// warning (its blobs are unknown: backups store them again, restores
    /// that need them fail naming them, `snap repair index` rebuilds it);
    /// it is never trusted. Files that another present file supersedes are
    /// ignored (spec §7.1), and a blob listed in several packs is looked up
    /// in one that exists (§7.2).
    pub fn load_index(&mut self) -> Result<usize, RepoError> {
        let files = self.backend.list(FileKind::Index)?;
        let mut names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        names.sort();
        if !names.is_empty() && names == self.index_files {
            return Ok(files.len());
        }
        let (mut index, mut used, superseded) =
            self.read_index_files(&names, &Default::default(), true)?;
        if names.iter().any(|n| superseded.contains(n)) {
            // A crash left a superseded file beside the one that replaced it
            // (rare): read again without it.
            (index, used, _) = self.read_index_files(&names, &superseded, false)?;
        }
        let backend = Arc::clone(&self.backend);
        index.sort_resolving(|contested| missing_packs(&*backend, contested));
        self.index = index;
        self.index_files = names;
        Ok(used)
    }

    /// Reads the index files `names` except `skip` into one index, a few at
    /// a time so only those few are held decoded beside it; returns it, how
    /// many files it holds, and the files they supersede.
    fn read_index_files(
        &self,
        names: &[String],
        skip: &std::collections::HashSet<String>,
        warn: bool,
    ) -> Result<(Index, usize, std::collections::HashSet<String>), RepoError> {
        use rayon::prelude::*;
        let mut index = Index::new();
        let mut used = 0;
        let mut superseded = std::collections::HashSet::new();
        let wanted: Vec<&String> = names.iter().filter(|n| !skip.contains(*n)).collect();
        let at_once = rayon::current_num_threads().max(2) * 2;
        for chunk in wanted.chunks(at_once) {
            let results: Vec<(&String, Result<IndexFile, RepoError>)> = chunk
                .par_iter()
                .map(|name| {
                    let file = self
                        .load_file(FileKind::Index, name, SealKind::Index)
                        .and_then(|plain| {
                            IndexFile::decode_plaintext(&plain)
                                .map_err(|e| file_err(FileKind::Index, name, e))
                        });
                    (*name, file)
                })
                .collect();
            for (_, result) in results {
                match result {
                    Ok(file) => {
                        superseded.extend(file.supersedes.iter().map(|id| id.0.to_hex()));
                        index.add_file(&file);
                        used += 1;
                    }
                    // Deleted since the listing (a prune superseded it).
                    Err(RepoError::Backend(e)) if e.is_not_found() => {}
                    // A backend that fails is not damage: stop.
                    Err(RepoError::Backend(e)) => return Err(RepoError::Backend(e)),
                    Err(e) if warn => self.warn(format!(
                        "{e}; it is ignored, so the blobs it lists count as not stored (run `snap repair index` to rebuild the index from the packs)"
                    )),
                    Err(_) => {}
                }
            }
        }
        Ok((index, used, superseded))
    }

    /// Which of `packs` the backend does not have: a `stat` each, or one
    /// listing when there are many. Restores ask before their first write.
    pub fn missing_packs(&self, packs: &[PackId]) -> std::collections::HashSet<PackId> {
        missing_packs(&*self.backend, packs)
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

    /// Reports a problem that loses nothing: kept for [`Repository::warnings`]
    /// and passed to the sink set by [`Repository::on_warning`].
    pub fn warn(&self, message: String) {
        if let Some(sink) = &*self.warnings.sink.lock().unwrap_or_else(|e| e.into_inner()) {
            sink(&message);
        }
        self.warnings
            .list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }

    /// Every warning so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends warnings to `sink` as they come, starting with those so far.
    pub fn on_warning(&self, sink: impl Fn(&str) + Send + Sync + 'static) {
        for w in self.warnings() {
            sink(&w);
        }
        *self.warnings.sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(sink));
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
        store_sealed(&*self.backend, &self.key, &self.locks, kind, seal, plain)
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
        let names: Vec<String> = self.list_ids(kind)?.iter().map(Id::to_hex).collect();
        let name = unique_match(&self.backend, kind, &names, query)?;
        parse_name(kind, &name)
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

    /// Reads and opens a pack's header (spec §6.2), reading only the end of
    /// the pack: one range read of its last 64 KiB, and a second one when
    /// the header is longer. `size` is the pack's size from a listing.
    pub fn load_pack_header(&self, pack: &PackId, size: u64) -> Result<Vec<PackEntry>, RepoError> {
        const TAIL: u64 = 64 << 10;
        let name = pack.to_hex();
        let bad = |e: PackError| RepoError::PackHeader {
            pack: *pack,
            reason: e.to_string(),
        };
        let start = size.saturating_sub(TAIL);
        let tail = self
            .backend
            .read_range(FileKind::Pack, &name, start, size - start)?;
        let trailer: [u8; 4] = tail
            .len()
            .checked_sub(4)
            .and_then(|at| tail[at..].try_into().ok())
            .ok_or_else(|| {
                bad(PackError::Header {
                    reason: format!("the pack is {size} bytes, shorter than a pack can be"),
                })
            })?;
        let (offset, len) = header_location(size, trailer).map_err(bad)?;
        let sealed = if offset >= start {
            let at = (offset - start) as usize;
            tail[at..at + len as usize].to_vec()
        } else {
            self.backend
                .read_range(FileKind::Pack, &name, offset, len)?
        };
        decode_header(&self.key, &sealed, offset).map_err(bad)
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

/// [`Repository::save_file`] for those that hold its parts, not the
/// repository (the saver's upload threads).
pub(crate) fn store_sealed(
    backend: &dyn Backend,
    key: &MasterKey,
    locks: &lock::HeldLocks,
    kind: FileKind,
    seal: SealKind,
    plain: &[u8],
) -> Result<Id, RepoError> {
    locks.check(|| backend.location())?;
    let sealed = key.seal(seal, plain);
    let id = Id::sha256(&sealed);
    backend.write(kind, &id.to_hex(), &sealed)?;
    if let Err(lost) = locks.check(|| backend.location()) {
        let _ = backend.remove(kind, &id.to_hex());
        return Err(lost);
    }
    Ok(id)
}

/// Which of `packs` the backend no longer has: a stat each, or one listing
/// when there are many. A pack that cannot be checked counts as present.
fn missing_packs(backend: &dyn Backend, packs: &[PackId]) -> std::collections::HashSet<PackId> {
    use rayon::prelude::*;
    if packs.len() > 64 {
        if let Ok(listed) = backend.list(FileKind::Pack) {
            let listed: std::collections::HashSet<String> =
                listed.into_iter().map(|f| f.name).collect();
            return packs
                .iter()
                .filter(|p| !listed.contains(&p.to_hex()))
                .copied()
                .collect();
        }
    }
    packs
        .par_iter()
        .filter(|p| {
            backend
                .stat(FileKind::Pack, &p.to_hex())
                .is_err_and(|e| e.is_not_found())
        })
        .copied()
        .collect()
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

/// "512 B", "3.4 MiB", "1.20 GiB", for messages.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
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

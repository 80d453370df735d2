//! `snap key list|add|remove|passwd`: the password-wrapped copies of the
//! master key (spec §3.3). Removing and changing take an exclusive lock; the
//! key in use cannot be removed, so the last key never is.

use serde::Serialize;

use super::OpError;
use crate::crypto::{KdfParams, KeyFile};
use crate::id::{FileKind, KeyId};
use crate::repo::{LockKind, RepoError, Repository};

/// One key file.
#[derive(Debug, Serialize)]
pub struct KeyRow {
    /// Its ID.
    pub id: String,
    /// True for the key this process opened the repository with.
    pub current: bool,
    /// When it was added.
    pub created: String,
    /// Host that added it.
    pub hostname: String,
    /// User that added it.
    pub username: String,
}

/// Errors particular to keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key in use.
    #[error("key {id} is the one this command opened the repository with: open it with another key's password to remove this one, or use `snap key passwd` to change its password")]
    Current {
        /// Its ID.
        id: String,
    },
}

/// Every key file, the current one marked; unreadable files as problems.
pub fn list(repo: &Repository) -> Result<(Vec<KeyRow>, Vec<String>), OpError> {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for id in repo.list_ids(FileKind::Key)? {
        let name = id.to_hex();
        match repo
            .backend()
            .read(FileKind::Key, &name)
            .map_err(|e| e.to_string())
            .and_then(|b| KeyFile::decode(&b).map_err(|e| e.to_string()))
        {
            Ok(file) => rows.push(KeyRow {
                current: KeyId(id) == repo.key_id(),
                id: name,
                created: file.created,
                hostname: file.hostname,
                username: file.username,
            }),
            Err(e) => problems.push(format!("key file {name} cannot be read: {e}")),
        }
    }
    rows.sort_by(|a, b| a.created.cmp(&b.created));
    Ok((rows, problems))
}

/// Adds a key for `password`; returns its ID.
pub fn add(repo: &Repository, password: &[u8], params: KdfParams) -> Result<KeyId, OpError> {
    Ok(repo.add_key(password, params)?)
}

/// Removes the key `query` names (a full ID or a unique prefix of 4 or more
/// hex characters); returns its ID.
pub fn remove(repo: &Repository, query: &str) -> Result<KeyId, OpError> {
    let _lock = repo.lock(LockKind::Exclusive)?;
    let id = KeyId(repo.find_id(FileKind::Key, query)?);
    if id == repo.key_id() {
        return Err(KeyError::Current { id: id.to_hex() }.into());
    }
    repo.backend()
        .remove(FileKind::Key, &id.to_hex())
        .map_err(RepoError::from)?;
    Ok(id)
}

/// Replaces the current key by one for `password`: the new key is written
/// before the old one is removed, so a crash leaves both, never neither.
pub fn passwd(
    repo: &Repository,
    password: &[u8],
    params: KdfParams,
) -> Result<(KeyId, KeyId), OpError> {
    let _lock = repo.lock(LockKind::Exclusive)?;
    let new = repo.add_key(password, params)?;
    let old = repo.key_id();
    repo.backend()
        .remove(FileKind::Key, &old.to_hex())
        .map_err(RepoError::from)?;
    Ok((new, old))
}

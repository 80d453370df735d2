//! `snap cat`: one stored object, decrypted, for debugging: the config, a
//! snapshot, an index file, a pack's header, a key file, a lock (as JSON),
//! or a blob's plaintext (raw bytes).

use serde_json::{json, Value};

use super::OpError;
use crate::crypto::SealKind;
use crate::id::{BlobId, FileKind, Id, LockId, PackId};
use crate::index::IndexFile;
use crate::pack::PackEntry;
use crate::repo::{LockInfo, RepoError, Repository};
use crate::snapshot::{Selection, SnapshotError};

/// What to show.
#[derive(Clone, Debug)]
pub enum CatTarget {
    /// The config.
    Config,
    /// A snapshot manifest (ID, prefix or `latest`).
    Snapshot(String),
    /// An index file (ID or prefix).
    Index(String),
    /// A pack's header (ID or prefix).
    Pack(String),
    /// A key file (ID or prefix), as stored: its master key stays wrapped.
    Key(String),
    /// A lock (ID or prefix).
    Lock(String),
    /// A blob's plaintext (full ID; needs the index).
    Blob(String),
}

/// What `cat` produced.
pub enum CatOutput {
    /// A JSON document.
    Json(Value),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

fn entries_json(entries: &[PackEntry]) -> Value {
    entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id.to_hex(),
                "type": format!("{:?}", e.kind).to_lowercase(),
                "compression": format!("{:?}", e.compression).to_lowercase(),
                "offset": e.offset,
                "stored_length": e.stored_len,
                "length": e.raw_len,
            })
        })
        .collect()
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Loads and decodes what `target` names (a snapshot's `latest` as
/// `selection` resolves it).
pub fn cat(
    repo: &mut Repository,
    target: &CatTarget,
    selection: &Selection,
) -> Result<CatOutput, OpError> {
    let json = match target {
        CatTarget::Config => to_json(repo.config()),
        CatTarget::Snapshot(q) => {
            let (id, manifest) = selection.find(repo, q, |_| true)?;
            let mut v = to_json(&manifest);
            v["id"] = Value::String(id.to_hex());
            v
        }
        CatTarget::Index(q) => {
            let id = repo.find_id(FileKind::Index, q)?;
            let plain = repo.load_file(FileKind::Index, &id.to_hex(), SealKind::Index)?;
            let file = IndexFile::decode_plaintext(&plain).map_err(|e| SnapshotError::Format {
                what: format!("index file {}", id.to_hex()),
                reason: e.to_string(),
            })?;
            json!({
                "id": id.to_hex(),
                "supersedes": file.supersedes.iter().map(|s| s.to_hex()).collect::<Vec<_>>(),
                "packs": file.packs.iter().map(|p| json!({
                    "id": p.id.to_hex(),
                    "blobs": entries_json(&p.blobs),
                })).collect::<Vec<_>>(),
                "marked": file.marked.iter().map(|m| json!({
                    "id": m.id.to_hex(),
                    "marked_at": chrono::DateTime::from_timestamp(m.marked_at, 0)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| m.marked_at.to_string()),
                    "blobs": entries_json(&m.blobs),
                })).collect::<Vec<_>>(),
            })
        }
        CatTarget::Pack(q) => {
            let id = repo.find_id(FileKind::Pack, q)?;
            let name = id.to_hex();
            let backend = repo.backend();
            let size = backend
                .stat(FileKind::Pack, &name)
                .map_err(RepoError::from)?;
            let entries = repo.load_pack_header(&PackId(id), size)?;
            let offset = size - 4 - crate::pack::header_len(entries.len());
            json!({ "id": name, "size": size, "header_offset": offset, "blobs": entries_json(&entries) })
        }
        CatTarget::Key(q) => {
            let id = repo.find_id(FileKind::Key, q)?;
            let bytes = repo
                .backend()
                .read(FileKind::Key, &id.to_hex())
                .map_err(RepoError::from)?;
            serde_json::from_slice(&bytes).map_err(|e| SnapshotError::Format {
                what: format!("key file {}", id.to_hex()),
                reason: e.to_string(),
            })?
        }
        CatTarget::Lock(q) => {
            let id = LockId(repo.find_id(FileKind::Lock, q)?);
            let plain = repo.load_file(FileKind::Lock, &id.to_hex(), SealKind::Lock)?;
            let info: LockInfo =
                serde_json::from_slice(&plain).map_err(|e| SnapshotError::Format {
                    what: format!("lock {}", id.to_hex()),
                    reason: e.to_string(),
                })?;
            to_json(&info)
        }
        CatTarget::Blob(q) => {
            let id = Id::from_hex(q).map_err(|_| RepoError::NoSuchId {
                noun: "blob",
                query: q.clone(),
                location: repo.backend().location(),
            })?;
            repo.load_index()?;
            return Ok(CatOutput::Bytes(repo.load_blob(&BlobId(id))?));
        }
    };
    Ok(CatOutput::Json(json))
}

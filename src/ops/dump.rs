//! `snap dump`: writes one file of a snapshot as it was, or a folder as a tar
//! stream, to any writer (stdout in the CLI). Blobs are loaded one at a time
//! and verified, so memory stays at one blob whatever the size.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::OpError;
use crate::id::BlobId;
use crate::repo::Repository;
use crate::snapshot::{find_node, load_tree, Node, NodeType, Selection};

/// Errors particular to `dump`.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The path is not in the snapshot.
    #[error("{path} is not in snapshot {snapshot}; list it with `snap ls {snapshot}`")]
    NotFound {
        /// The path asked for.
        path: String,
        /// The snapshot's short ID.
        snapshot: String,
    },
    /// The path names something with no content to write.
    #[error("{path} is a {kind}, which has no content to dump; dump a file or a folder")]
    NotDumpable {
        /// The path.
        path: String,
        /// What it is.
        kind: String,
    },
    /// A file's blobs do not add up to its size: the tree is damaged.
    #[error(
        "{path}: its blobs hold {actual} bytes but the snapshot records {size}; run `snap check`"
    )]
    SizeMismatch {
        /// The file.
        path: String,
        /// Recorded size.
        size: u64,
        /// What the blobs hold.
        actual: u64,
    },
    /// A blob of a file could not be loaded.
    #[error("cannot read {path} from the repository: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Io(#[from] io::Error),
}

/// What was dumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dumped {
    /// A single file's bytes.
    File,
    /// A folder as a tar archive.
    Tar,
}

/// What `path` names in snapshot `query`: a file or a folder (the root is `/`).
pub fn resolve(
    repo: &mut Repository,
    query: &str,
    path: &str,
    selection: &Selection,
) -> Result<Node, OpError> {
    let (id, manifest) = selection.find(repo, query, |_| true)?;
    repo.load_index()?;
    let not_found = || DumpError::NotFound {
        path: path.to_string(),
        snapshot: id.short(),
    };
    let parts = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::as_bytes);
    Ok(find_node(repo, &manifest.tree, parts)?.ok_or_else(not_found)?)
}

/// Writes `node` (from [`resolve`]) to `out`: a file's content, or a folder
/// as a tar archive whose entries start with the folder's name (none for
/// the root).
pub fn dump(
    repo: &Repository,
    path: &str,
    node: &Node,
    out: &mut dyn Write,
) -> Result<Dumped, OpError> {
    match node.node_type {
        NodeType::File => {
            let mut reader = content_reader(repo, path, node)?;
            io::copy(&mut reader, out).map_err(|e| unwrap_io(e, path))?;
            out.flush().map_err(DumpError::from)?;
            Ok(Dumped::File)
        }
        NodeType::Dir => {
            let mut tar = tar::Builder::new(out);
            tar.follow_symlinks(false);
            let top = Path::new(OsStr::from_bytes(node.name.as_bytes())).to_path_buf();
            if !node.name.as_bytes().is_empty() {
                append(repo, &mut tar, &top, node)?;
            }
            append_children(repo, &mut tar, &top, node)?;
            tar.into_inner()
                .and_then(|w| w.flush())
                .map_err(DumpError::from)?;
            Ok(Dumped::Tar)
        }
        other => Err(DumpError::NotDumpable {
            path: path.to_string(),
            kind: format!("{other:?}").to_lowercase(),
        }
        .into()),
    }
}

fn append_children(
    repo: &Repository,
    tar: &mut tar::Builder<&mut dyn Write>,
    dir: &Path,
    node: &Node,
) -> Result<(), OpError> {
    let Some(subtree) = node.subtree else {
        return Ok(());
    };
    for child in load_tree(repo, &subtree)?.nodes {
        let path = dir.join(OsStr::from_bytes(child.name.as_bytes()));
        append(repo, tar, &path, &child)?;
        if child.node_type == NodeType::Dir {
            append_children(repo, tar, &path, &child)?;
        }
    }
    Ok(())
}

fn append(
    repo: &Repository,
    tar: &mut tar::Builder<&mut dyn Write>,
    path: &PathBuf,
    node: &Node,
) -> Result<(), OpError> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(node.mode);
    header.set_uid(node.uid as u64);
    header.set_gid(node.gid as u64);
    header.set_mtime(node.mtime_ns.div_euclid(1_000_000_000).max(0) as u64);
    header.set_size(0);
    let shown = path.to_string_lossy().into_owned();
    let io_err = |e| OpError::from(DumpError::Io(e));
    match node.node_type {
        NodeType::File => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(node.size);
            let reader = content_reader(repo, &shown, node)?;
            tar.append_data(&mut header, path, reader)
                .map_err(|e| unwrap_io(e, &shown))?;
        }
        NodeType::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            tar.append_data(&mut header, path, io::empty())
                .map_err(io_err)?;
        }
        NodeType::Symlink => {
            header.set_entry_type(tar::EntryType::Symlink);
            let target = node.link_target.clone().unwrap_or_default();
            tar.append_link(&mut header, path, OsStr::from_bytes(target.as_bytes()))
                .map_err(io_err)?;
        }
        NodeType::Chardev | NodeType::Blockdev => {
            header.set_entry_type(if node.node_type == NodeType::Chardev {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            let (major, minor) = (libc::major(node.rdev), libc::minor(node.rdev));
            header.set_device_major(major).map_err(io_err)?;
            header.set_device_minor(minor).map_err(io_err)?;
            tar.append_data(&mut header, path, io::empty())
                .map_err(io_err)?;
        }
        NodeType::Fifo => {
            header.set_entry_type(tar::EntryType::Fifo);
            tar.append_data(&mut header, path, io::empty())
                .map_err(io_err)?;
        }
        // tar has no sockets; restore does not recreate them either. An
        // etcd keyspace is not a folder (`snap restore --to etcd://`).
        NodeType::Socket
        | NodeType::Etcd
        | NodeType::EtcdRange
        | NodeType::EtcdKey
        | NodeType::Git
        | NodeType::GitRepo
        | NodeType::GitRange
        | NodeType::GitObject
        | NodeType::GitPack => {}
    }
    Ok(())
}

/// A reader over a file's blobs, checked against its recorded size first:
/// a tar header announces the size before the bytes follow.
fn content_reader<'r>(
    repo: &'r Repository,
    path: &str,
    node: &'r Node,
) -> Result<ContentReader<'r>, OpError> {
    let blobs = node.content.as_deref().unwrap_or_default();
    let mut actual = 0u64;
    for id in blobs {
        let loc = repo
            .index()
            .get(id)
            .ok_or(crate::repo::RepoError::MissingBlob { blob: *id })?;
        actual += loc.raw_len as u64;
    }
    if actual != node.size {
        return Err(DumpError::SizeMismatch {
            path: path.to_string(),
            size: node.size,
            actual,
        }
        .into());
    }
    Ok(ContentReader {
        repo,
        blobs,
        next: 0,
        buf: Vec::new(),
        pos: 0,
    })
}

struct ContentReader<'r> {
    repo: &'r Repository,
    blobs: &'r [BlobId],
    next: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            let Some(id) = self.blobs.get(self.next) else {
                return Ok(0);
            };
            self.buf = self.repo.load_blob(id).map_err(io::Error::other)?;
            self.pos = 0;
            self.next += 1;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A blob that failed to load comes back through `io::Read` as an
/// `io::Error` carrying a repository error; tell it from a write error.
fn unwrap_io(e: io::Error, path: &str) -> OpError {
    match e.get_ref() {
        Some(inner) if inner.is::<crate::repo::RepoError>() => DumpError::Read {
            path: path.to_string(),
            reason: inner.to_string(),
        }
        .into(),
        _ => DumpError::Io(e).into(),
    }
}

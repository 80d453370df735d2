//! The archiver: source → chunks → blobs → trees → snapshot manifest.
//!
//! Folders are walked depth-first with their entries processed in parallel on a
//! rayon pool wider than the CPU count, so many file reads are in flight while
//! other threads chunk, hash, compress and seal; a byte budget bounds the file
//! data held in memory. A file whose size, mtime, ctime and inode equal its node
//! in the parent snapshot is not read again: its content list is reused.

mod budget;
pub mod etcd;
pub mod git;
mod git_pack;
mod ranges;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use rayon::prelude::*;

use budget::ByteBudget;

use crate::chunker::Chunker;
use crate::id::{BlobId, SnapshotId};
use crate::pack::BlobKind;
use crate::repo::{BlobSaver, RepoError, Repository};
use crate::snapshot::{
    self, Node, NodeType, SnapshotError, SnapshotManifest, SourceRecord, Summary, Tree,
};
use crate::source::files::{self, Excludes};
use crate::source::SourceError;

/// Errors that stop a backup. Unreadable files do not: they become warnings.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Nothing to back up.
    #[error("nothing to back up: name at least one file, folder, etcd:// cluster or git: repository folder")]
    NoPaths,
    /// A given path does not exist.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A repository operation failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A snapshot operation failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The chunker config is invalid.
    #[error(transparent)]
    Chunker(#[from] crate::chunker::ChunkerParamsError),
    /// etcd could not be read.
    #[error(transparent)]
    Etcd(#[from] crate::etcd::EtcdError),
    /// Compaction kept overtaking the read.
    #[error("etcd compacted the revision snap was reading {attempts} times in a row (last: {revision}); the keyspace takes longer to read than the cluster keeps history: retry when compaction is less frequent (kube-apiserver --etcd-compaction-interval, etcd --auto-compaction-retention)")]
    EtcdCompactedRepeatedly {
        /// The last revision lost.
        revision: i64,
        /// Reads tried.
        attempts: u32,
    },
    /// A backed-up path has the name a source's node takes in the root.
    #[error("the path /{name} has the name snap gives the {kind} source in a snapshot; back it up in a separate snapshot")]
    NameClash {
        /// The name.
        name: String,
        /// The source kind.
        kind: String,
    },
    /// Ctrl-C or SIGTERM stopped the backup; no snapshot was written.
    #[error("interrupted: no snapshot was saved; {} in {packs} pack(s) were stored and indexed, and the next backup of these sources reuses them instead of uploading them again", crate::repo::bytes_text(*bytes))]
    Interrupted {
        /// Bytes stored (packs and index files).
        bytes: u64,
        /// Packs stored.
        packs: u64,
    },
    /// The worker pool could not start.
    #[error("cannot start worker threads: {0}")]
    Pool(String),
}

impl ArchiveError {
    /// What kind of failure this is, from its cause where it has one.
    pub fn kind(&self) -> crate::failure::ErrorKind {
        match self {
            ArchiveError::Interrupted { .. } => crate::failure::ErrorKind::Interrupted,
            ArchiveError::Repo(e) => e.kind(),
            ArchiveError::Snapshot(e) => e.kind(),
            _ => crate::failure::ErrorKind::Other,
        }
    }
}

/// What to back up and how.
#[derive(Clone, Debug, Default)]
pub struct BackupOptions {
    /// Files and folders.
    pub paths: Vec<PathBuf>,
    /// Tags for the snapshot.
    pub tags: Vec<String>,
    /// Host name to record (defaults to this machine's).
    pub hostname: Option<String>,
    /// Exclude patterns.
    pub excludes: Vec<String>,
    /// Use this parent instead of the latest matching snapshot.
    pub parent: Option<SnapshotId>,
    /// Read every file even if unchanged.
    pub force: bool,
    /// Threads reading and processing files (0: automatic).
    pub threads: usize,
    /// Parallel uploads (0: the backend's preference).
    pub connections: usize,
    /// Where to publish live counts, if anyone watches.
    pub progress: Option<Arc<BackupProgress>>,
    /// An etcd cluster to capture too.
    pub etcd: Option<etcd::EtcdBackupOptions>,
    /// Git repositories to capture too.
    pub git: Option<git::GitBackupOptions>,
    /// How the search for the parent treats damaged snapshot files.
    pub selection: snapshot::Selection,
}

/// A finished backup.
#[derive(Debug)]
pub struct BackupResult {
    /// The new snapshot's ID.
    pub id: SnapshotId,
    /// Its manifest.
    pub manifest: SnapshotManifest,
    /// Files that could not be read, or changed while read, with why.
    pub warnings: Vec<String>,
    /// Things worth knowing that left nothing out (a parent snapshot that
    /// could not be used, a time that cannot be stored exactly).
    pub notes: Vec<String>,
}

/// Live counts of a running backup, for progress displays; the final
/// values become the snapshot's summary.
#[derive(Default, Debug)]
pub struct BackupProgress {
    /// Files seen for the first time.
    pub files_new: AtomicU64,
    /// Files changed since the parent.
    pub files_changed: AtomicU64,
    /// Files unchanged since the parent.
    pub files_unchanged: AtomicU64,
    /// Folders.
    pub dirs: AtomicU64,
    /// Files that could not be read.
    pub unreadable: AtomicU64,
    /// Bytes of the files seen so far.
    pub total_bytes: AtomicU64,
    /// Bytes read so far.
    pub bytes_read: AtomicU64,
    /// etcd keys read so far.
    pub etcd_keys: AtomicU64,
    /// git objects captured.
    pub git_objects: AtomicU64,
}

impl BackupProgress {
    /// Files handled so far.
    pub fn files(&self) -> u64 {
        self.files_new.load(Ordering::Relaxed)
            + self.files_changed.load(Ordering::Relaxed)
            + self.files_unchanged.load(Ordering::Relaxed)
    }
}

struct Archiver<'r> {
    repo: &'r Repository,
    saver: BlobSaver<'r>,
    chunker: Chunker,
    excludes: Excludes,
    budget: ByteBudget,
    counters: Arc<BackupProgress>,
    warnings: Mutex<Vec<String>>,
    notes: Mutex<Vec<String>>,
    stream_buffers: Mutex<Vec<Vec<u8>>>,
    /// The given paths, and how many files, folders and links each holds.
    roots: Vec<(PathBuf, AtomicU64)>,
}

/// Largest small-file buffer a worker thread keeps between files.
const READ_BUF_KEEP: usize = 256 << 10;

thread_local! {
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest file data held in memory at once by all readers together.
const READ_BUDGET: u64 = 16 << 20;

/// Backs up `options.paths` into `repo` (whose index must be loaded) and
/// writes the snapshot: packs, then index, then manifest.
pub fn backup(repo: &Repository, options: &BackupOptions) -> Result<BackupResult, ArchiveError> {
    let started = Utc::now();
    let clock = Instant::now();
    if options.paths.is_empty() && options.etcd.is_none() && options.git.is_none() {
        return Err(ArchiveError::NoPaths);
    }
    let paths = normalize_paths(&options.paths)?;
    let hostname = options
        .hostname
        .clone()
        .unwrap_or_else(crate::repo::hostname);
    let path_strings: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();

    let mut early_notes = Vec::new();
    let parent = find_parent(repo, options, &hostname, &path_strings)?;
    let parent_tree = match &parent {
        Some((id, m)) if !options.force => match snapshot::load_tree(repo, &m.tree) {
            Ok(tree) => Some(tree),
            // A concurrent prune, or damage: read everything instead.
            Err(e) => {
                early_notes.push(format!(
                    "the parent snapshot {} cannot be read ({e}): every file is read again",
                    id.short()
                ));
                None
            }
        },
        _ => None,
    };

    // Mostly waiting on reads when small files are cold in the cache: many
    // in flight keep the disk busy (the byte budget bounds their memory).
    let threads = if options.threads == 0 {
        (std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            * 8)
        .max(16)
    } else {
        options.threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| ArchiveError::Pool(e.to_string()))?;
    let chunker = Chunker::new(repo.config().chunker, repo.key().chunker_seed())?;
    let budget_bytes = READ_BUDGET.max(chunker.params().max_size as u64 * 2);
    let archiver = Archiver {
        repo,
        saver: repo.blob_saver(match options.connections {
            0 => repo.backend().preferred_connections(),
            n => n,
        }),
        chunker,
        excludes: Excludes::new(&options.excludes)?,
        budget: ByteBudget::new(budget_bytes),
        counters: options.progress.clone().unwrap_or_default(),
        warnings: Mutex::new(Vec::new()),
        notes: Mutex::new(early_notes),
        stream_buffers: Mutex::new(Vec::new()),
        roots: paths
            .iter()
            .map(|p| (p.clone(), AtomicU64::new(0)))
            .collect(),
    };

    // Sources in a fixed order: etcd first (one revision), then files.
    let mut records = Vec::new();
    let captured = (|| {
        let mut extra = Vec::new();
        if let Some(etcd_options) = &options.etcd {
            let captured = pool.install(|| {
                etcd::capture(
                    &archiver.saver,
                    &archiver.chunker,
                    etcd_options,
                    &archiver.counters,
                )
            })?;
            extra.push(captured.node);
            records.push(captured.record);
        }
        if let Some(git_options) = &options.git {
            // The parent's repositories: unchanged ones are reused, the
            // others captured as increments on their chains (§15.4).
            let parent_git = parent_tree
                .as_ref()
                .and_then(|t| t.find(git::GIT_NODE_NAME.as_bytes()));
            let ctx = git::GitContext {
                repo,
                saver: &archiver.saver,
                chunker: &archiver.chunker,
                progress: &archiver.counters,
                threads: options.threads,
            };
            let captured = pool.install(|| git::capture(&ctx, git_options, parent_git))?;
            for w in captured.warnings {
                archiver.warn(w);
            }
            extra.push(captured.node);
            records.push(captured.record);
        }
        pool.install(|| archiver.archive_roots(&paths, parent_tree.as_ref(), extra))
    })();
    let root = match captured {
        Ok(root) => root,
        // Ctrl-C: what was stored is indexed for the next backup to reuse.
        Err(e) if is_interrupted(&e) => {
            let stats = archiver.saver.finish()?;
            return Err(ArchiveError::Interrupted {
                bytes: stats.stored_bytes_added,
                packs: stats.packs_written,
            });
        }
        Err(e) => return Err(e),
    };
    let Archiver {
        saver,
        counters,
        warnings,
        notes,
        roots,
        ..
    } = archiver;
    let stats = saver.finish()?;
    let c = &counters;
    let summary = Summary {
        files_new: c.files_new.load(Ordering::Relaxed),
        files_changed: c.files_changed.load(Ordering::Relaxed),
        files_unchanged: c.files_unchanged.load(Ordering::Relaxed),
        dirs: c.dirs.load(Ordering::Relaxed),
        files_unreadable: c.unreadable.load(Ordering::Relaxed),
        total_bytes: c.total_bytes.load(Ordering::Relaxed),
        bytes_read: c.bytes_read.load(Ordering::Relaxed),
        etcd_keys: c.etcd_keys.load(Ordering::Relaxed),
        git_objects: c.git_objects.load(Ordering::Relaxed),
        blobs_added: stats.blobs_added,
        data_added: stats.raw_bytes_added,
        data_added_stored: stats.stored_bytes_added,
        started: Some(started),
        duration_seconds: clock.elapsed().as_secs_f64(),
    };
    let manifest = SnapshotManifest {
        version: 1,
        time: started,
        hostname,
        username: crate::repo::username(),
        tags: options.tags.clone(),
        sources: records
            .into_iter()
            .chain(
                path_strings
                    .iter()
                    .zip(&roots)
                    .map(|(p, (_, count))| SourceRecord {
                        kind: "files".into(),
                        location: p.clone(),
                        resources: count.load(Ordering::Relaxed),
                        node: None,
                        version: None,
                        etcd: None,
                        failed: Vec::new(),
                    }),
            )
            .collect(),
        paths: path_strings,
        parent: parent.map(|(id, _)| id),
        tree: root,
        summary,
        program: format!("snap {}", env!("CARGO_PKG_VERSION")),
        original: None,
    };
    let id = snapshot::save_snapshot(repo, &manifest)?;
    Ok(BackupResult {
        id,
        manifest,
        warnings: warnings.into_inner().unwrap_or_else(|e| e.into_inner()),
        notes: notes.into_inner().unwrap_or_else(|e| e.into_inner()),
    })
}

/// Absolute, cleaned, sorted paths with any path inside another dropped.
fn normalize_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ArchiveError> {
    let mut out = Vec::new();
    for p in paths {
        let abs = files::absolute(p)?;
        // Fail early and clearly on a path that does not exist.
        std::fs::symlink_metadata(&abs).map_err(|e| SourceError::Io {
            action: "back up",
            path: abs.display().to_string(),
            source: e,
        })?;
        out.push(abs);
    }
    out.sort();
    out.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for p in out {
        if !kept.iter().any(|k| p.starts_with(k)) {
            kept.push(p);
        }
    }
    Ok(kept)
}

fn find_parent(
    repo: &Repository,
    options: &BackupOptions,
    hostname: &str,
    paths: &[String],
) -> Result<Option<(SnapshotId, SnapshotManifest)>, ArchiveError> {
    if let Some(id) = options.parent {
        return Ok(Some((id, snapshot::load_snapshot(repo, &id)?)));
    }
    let found = options
        .selection
        .list(repo)?
        .into_iter()
        .rfind(|(_, m)| m.hostname == hostname && m.paths == paths);
    Ok(found)
}

/// A folder made only to hold given paths (like `/home` for `/home/a`).
#[derive(Default)]
struct VirtualDir {
    children: BTreeMap<Vec<u8>, VirtualChild>,
}

enum VirtualChild {
    Dir(PathBuf, VirtualDir),
    Real(PathBuf),
}

impl Archiver<'_> {
    /// The root tree: the first components of `paths`, and `extra` (the
    /// nodes of other sources).
    fn archive_roots(
        &self,
        paths: &[PathBuf],
        parent: Option<&Tree>,
        extra: Vec<Node>,
    ) -> Result<BlobId, ArchiveError> {
        let mut root = VirtualDir::default();
        for p in paths {
            let comps: Vec<&[u8]> = p
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(n) => {
                        Some(std::os::unix::ffi::OsStrExt::as_bytes(n))
                    }
                    _ => None,
                })
                .collect();
            let mut dir = &mut root;
            let mut so_far = PathBuf::from("/");
            for (i, c) in comps.iter().enumerate() {
                so_far.push(files::os_name(c));
                if i + 1 == comps.len() {
                    dir.children
                        .insert(c.to_vec(), VirtualChild::Real(so_far.clone()));
                } else {
                    let entry = dir.children.entry(c.to_vec()).or_insert_with(|| {
                        VirtualChild::Dir(so_far.clone(), VirtualDir::default())
                    });
                    dir = match entry {
                        VirtualChild::Dir(_, d) => d,
                        // A path inside another path was dropped earlier.
                        VirtualChild::Real(_) => break,
                    };
                }
            }
        }
        let mut nodes = if paths.is_empty() {
            Vec::new()
        } else if paths.iter().any(|p| p == Path::new("/")) {
            self.dir_nodes(Path::new("/"), parent)?
        } else {
            self.virtual_nodes(&root, parent)?
        };
        for node in extra {
            if let Some(clash) = nodes.iter().flatten().find(|n| n.name == node.name) {
                return Err(ArchiveError::NameClash {
                    name: clash.name.display(),
                    kind: format!("{:?}", node.node_type).to_lowercase(),
                });
            }
            nodes.push(Some(node));
        }
        self.save_tree(nodes)
    }

    fn archive_virtual(
        &self,
        dir: &VirtualDir,
        parent: Option<&Tree>,
    ) -> Result<BlobId, ArchiveError> {
        let nodes = self.virtual_nodes(dir, parent)?;
        self.save_tree(nodes)
    }

    fn virtual_nodes(
        &self,
        dir: &VirtualDir,
        parent: Option<&Tree>,
    ) -> Result<Vec<Option<Node>>, ArchiveError> {
        dir.children
            .par_iter()
            .map(|(name, child)| {
                let parent_node = parent.and_then(|t| t.find(name));
                match child {
                    VirtualChild::Real(path) => {
                        let meta = std::fs::symlink_metadata(path);
                        self.archive_path(path, name, meta, parent_node)
                    }
                    VirtualChild::Dir(path, sub) => {
                        let mut node = files::stat_node(path, name)?;
                        let parent_sub = self.parent_subtree(parent_node)?;
                        node.subtree = Some(self.archive_virtual(sub, parent_sub.as_ref())?);
                        Ok(Some(node))
                    }
                }
            })
            .collect::<Result<_, ArchiveError>>()
    }

    fn save_tree(&self, nodes: Vec<Option<Node>>) -> Result<BlobId, ArchiveError> {
        let tree = Tree::new(nodes.into_iter().flatten().collect());
        Ok(snapshot::save_tree(&self.saver, &tree)?)
    }

    /// The parent's tree of a folder; one that cannot be read (a prune
    /// deleted its pack meanwhile, or damage) means reading the folder's
    /// files again, with a note, not failing the backup.
    fn parent_subtree(&self, parent: Option<&Node>) -> Result<Option<Tree>, ArchiveError> {
        match parent.and_then(|n| n.subtree) {
            Some(id) if n_is_dir(parent) => match snapshot::load_tree(self.repo, &id) {
                Ok(tree) => Ok(Some(tree)),
                Err(e) => {
                    self.note(format!(
                        "a folder's tree in the parent snapshot cannot be read ({e}): its files are read again"
                    ));
                    Ok(None)
                }
            },
            _ => Ok(None),
        }
    }

    /// A file or folder left out: counted as unreadable, and a warning.
    fn warn(&self, message: String) {
        self.counters.unreadable.fetch_add(1, Ordering::Relaxed);
        self.inconsistent(message);
    }

    /// A file stored, but perhaps not as any one moment saw it: a warning
    /// (exit 3), as for files left out.
    fn inconsistent(&self, message: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }

    /// Something worth knowing that left nothing out.
    fn note(&self, message: String) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }

    /// One path; `Ok(None)` when excluded or unreadable (warned).
    fn archive_path(
        &self,
        path: &Path,
        name: &[u8],
        meta: std::io::Result<std::fs::Metadata>,
        parent: Option<&Node>,
    ) -> Result<Option<Node>, ArchiveError> {
        if self.excludes.is_excluded(path) {
            return Ok(None);
        }
        let node = meta
            .map_err(|e| SourceError::Io {
                action: "stat",
                path: path.display().to_string(),
                source: e,
            })
            .and_then(|m| files::node_from_metadata(path, name, &m));
        let mut node = match node {
            Ok(n) => n,
            Err(e) => {
                self.warn(e.to_string());
                return Ok(None);
            }
        };
        if let Some(note) = files::time_note(path, &node) {
            self.note(note);
        }
        match node.node_type {
            NodeType::File => {
                self.counters
                    .total_bytes
                    .fetch_add(node.size, Ordering::Relaxed);
                match self.archive_file(path, &node, parent) {
                    Ok((content, size, changed)) => {
                        // The file may have changed size since lstat: record
                        // what was actually stored.
                        if changed {
                            self.inconsistent(format!(
                                "{} changed while it was read: the snapshot holds the {size} bytes read, which may mix old and new content; back it up again once it is quiet (or snapshot the file system first)",
                                path.display()
                            ));
                        }
                        node.size = size;
                        node.content = Some(content);
                    }
                    Err(FileError::Source(e)) => {
                        self.warn(e.to_string());
                        return Ok(None);
                    }
                    Err(FileError::Io(e)) => {
                        self.warn(read_err(path, e).to_string());
                        return Ok(None);
                    }
                    Err(FileError::Fatal(e)) => return Err(e),
                }
            }
            NodeType::Dir => {
                let parent_sub = self.parent_subtree(parent)?;
                match self.archive_dir_contents(path, parent_sub.as_ref()) {
                    Ok(id) => node.subtree = Some(id),
                    Err(ArchiveError::Source(e)) => {
                        self.warn(e.to_string());
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => {}
        }
        if let Some((_, count)) = self.roots.iter().find(|(r, _)| path.starts_with(r)) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Some(node))
    }

    fn archive_dir_contents(
        &self,
        path: &Path,
        parent: Option<&Tree>,
    ) -> Result<BlobId, ArchiveError> {
        let nodes = self.dir_nodes(path, parent)?;
        self.save_tree(nodes)
    }

    fn dir_nodes(
        &self,
        path: &Path,
        parent: Option<&Tree>,
    ) -> Result<Vec<Option<Node>>, ArchiveError> {
        self.counters.dirs.fetch_add(1, Ordering::Relaxed);
        let entries = files::list_dir(path)?;
        entries
            .into_par_iter()
            .map(|item| {
                let parent_node = parent.and_then(|t| t.find(&item.name));
                self.archive_path(&item.path, &item.name, item.meta, parent_node)
            })
            .collect::<Result<_, _>>()
    }

    /// The file's content blobs, the number of bytes they hold, and whether
    /// the file changed while it was read.
    fn archive_file(
        &self,
        path: &Path,
        node: &Node,
        parent: Option<&Node>,
    ) -> Result<(Vec<BlobId>, u64, bool), FileError> {
        if let Some(p) = parent {
            let same = p.node_type == NodeType::File
                && p.size == node.size
                && p.mtime_ns == node.mtime_ns
                && p.ctime_ns == node.ctime_ns
                && p.inode == node.inode;
            if same {
                if let Some(content) = &p.content {
                    if content.iter().all(|id| self.saver.is_known(id)) {
                        self.counters
                            .files_unchanged
                            .fetch_add(1, Ordering::Relaxed);
                        return Ok((content.clone(), p.size, false));
                    }
                }
            }
            self.counters.files_changed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.files_new.fetch_add(1, Ordering::Relaxed);
        }
        let file = files::open_file(path)?;
        let max = self.chunker.params().max_size as u64;
        let mut content = Vec::new();
        if node.size < max {
            // Small files: one read into this thread's reused buffer, then cut.
            let _permit = self.budget.acquire(node.size + 1);
            let result = READ_BUF.with(|cell| {
                let mut data = cell.borrow_mut();
                data.clear();
                data.reserve(node.size as usize + 1);
                (&file)
                    .take(max)
                    .read_to_end(&mut data)
                    .map_err(|e| read_err(path, e))?;
                if data.len() as u64 >= max {
                    return Ok(None);
                }
                self.counters
                    .bytes_read
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                for (offset, len) in self.chunker.cut(&data) {
                    content.push(self.save_chunk(&data[offset..offset + len])?);
                }
                let size = data.len() as u64;
                if data.capacity() > READ_BUF_KEEP {
                    *data = Vec::new();
                }
                Ok::<_, FileError>(Some(size))
            })?;
            match result {
                Some(size) => Ok((
                    content,
                    size,
                    size != node.size || changed_since(&file, node),
                )),
                // It grew while we looked: go the streaming way.
                None => self.stream_file(path, node),
            }
        } else {
            drop(file);
            self.stream_file(path, node)
        }
    }

    fn stream_file(&self, path: &Path, node: &Node) -> Result<(Vec<BlobId>, u64, bool), FileError> {
        let file = files::open_file(path)?;
        let _permit = self.budget.acquire(self.chunker.params().max_size as u64);
        let mut content = Vec::new();
        // Buffers of max chunk size are pooled: the budget permit above bounds
        // how many exist, and reuse spares the page faults of fresh ones.
        let mut buf = self
            .stream_buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let read = self
            .chunker
            .for_each_chunk_in::<_, FileError>(&file, &mut buf, |chunk| {
                content.push(self.save_chunk(chunk)?);
                Ok(())
            });
        let mut pool = self
            .stream_buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Keep one for the next large file; more would sit idle between them.
        if pool.is_empty() {
            pool.push(buf);
        }
        drop(pool);
        let read = read.map_err(|e| match e {
            FileError::Io(e) => FileError::Source(read_err(path, e)),
            other => other,
        })?;
        self.counters.bytes_read.fetch_add(read, Ordering::Relaxed);
        Ok((
            content,
            read,
            read != node.size || changed_since(&file, node),
        ))
    }

    fn save_chunk(&self, chunk: &[u8]) -> Result<BlobId, FileError> {
        let (id, _) = self
            .saver
            .save(BlobKind::Data, chunk)
            .map_err(|e| FileError::Fatal(e.into()))?;
        Ok(id)
    }
}

/// True when the open file's size, mtime or ctime differ from `node`'s
/// (taken before reading): someone wrote to it while it was read.
fn changed_since(file: &std::fs::File, node: &Node) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().is_ok_and(|m| {
        m.len() != node.size
            || files::nanos(m.mtime(), m.mtime_nsec()) != node.mtime_ns
            || files::nanos(m.ctime(), m.ctime_nsec()) != node.ctime_ns
    })
}

/// True when the error is Ctrl-C reaching the saver.
fn is_interrupted(e: &ArchiveError) -> bool {
    matches!(
        e,
        ArchiveError::Repo(RepoError::Interrupted)
            | ArchiveError::Snapshot(SnapshotError::Repo(RepoError::Interrupted))
    )
}

fn n_is_dir(node: Option<&Node>) -> bool {
    node.is_some_and(|n| n.node_type == NodeType::Dir)
}

fn read_err(path: &Path, e: std::io::Error) -> SourceError {
    SourceError::Io {
        action: "read",
        path: path.display().to_string(),
        source: e,
    }
}

/// Why one file could not be archived: its own problem (a warning) or the
/// repository's (fatal).
enum FileError {
    Source(SourceError),
    Io(std::io::Error),
    Fatal(ArchiveError),
}

impl From<SourceError> for FileError {
    fn from(e: SourceError) -> Self {
        FileError::Source(e)
    }
}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> Self {
        FileError::Io(e)
    }
}

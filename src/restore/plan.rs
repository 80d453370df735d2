//! The restore plan: what to create, from a snapshot's trees. No writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::RestoreError;
use crate::id::BlobId;
use crate::pattern::PathPatterns;
use crate::repo::Repository;
use crate::snapshot::{load_tree, Node, NodeType};

/// Include and exclude patterns over snapshot paths (`/etc/hosts`), with the
/// rule of [`crate::pattern`]. An included folder includes everything in it;
/// an excluded one excludes all.
#[derive(Default)]
pub struct RestoreFilter {
    include: PathPatterns,
    exclude: PathPatterns,
}

impl RestoreFilter {
    /// Builds the filter.
    pub fn new(includes: &[String], excludes: &[String]) -> Result<RestoreFilter, RestoreError> {
        Ok(RestoreFilter {
            include: PathPatterns::new(includes)?,
            exclude: PathPatterns::new(excludes)?,
        })
    }

    fn excluded(&self, path: &Path) -> bool {
        self.exclude.matches(path)
    }

    fn included(&self, path: &Path) -> bool {
        self.include.is_empty() || self.include.matches(path)
    }
}

/// A file to write: only what the writer needs, so plans of millions of
/// files stay small (about 100 bytes each plus the path and blob list).
pub struct PlannedFile {
    /// Path relative to the target.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Data blobs, in order.
    pub content: Box<[BlobId]>,
    /// Metadata to apply once written.
    pub meta: Meta,
}

/// The metadata a restore applies to a created path.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// What it is (symlinks get no mode).
    pub node_type: NodeType,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

impl From<&Node> for Meta {
    fn from(n: &Node) -> Meta {
        Meta {
            node_type: n.node_type,
            mode: n.mode,
            uid: n.uid,
            gid: n.gid,
            mtime_ns: n.mtime_ns,
        }
    }
}

/// Everything a restore will create.
#[derive(Default)]
pub struct RestorePlan {
    /// Folders, parents before children.
    pub dirs: Vec<(PathBuf, Node)>,
    /// Regular files with content.
    pub files: Vec<PlannedFile>,
    /// Symlinks, devices, fifos.
    pub specials: Vec<(PathBuf, Node)>,
    /// Hard links: (new path, existing planned path).
    pub hardlinks: Vec<(PathBuf, PathBuf, Node)>,
    /// Total bytes of file content.
    pub total_bytes: u64,
}

impl RestorePlan {
    /// Walks the snapshot's trees from `root` and plans what passes `filter`.
    pub fn build(
        repo: &Repository,
        root: &BlobId,
        filter: &RestoreFilter,
    ) -> Result<RestorePlan, RestoreError> {
        let mut plan = RestorePlan::default();
        walk_plan(repo, root, filter, &mut plan)?;
        Ok(plan)
    }

    /// Plans everything inside the folder `node`, with paths relative to it.
    pub fn build_subtree(repo: &Repository, node: &Node) -> Result<RestorePlan, RestoreError> {
        let mut plan = RestorePlan::default();
        let Some(subtree) = node.subtree else {
            return Err(RestoreError::Unsafe {
                path: node.name.display(),
                reason: "folder without a subtree".into(),
            });
        };
        let mut inodes = HashMap::new();
        let filter = RestoreFilter::default();
        walk(
            repo,
            &subtree,
            Path::new(""),
            true,
            &filter,
            &mut inodes,
            &mut plan,
        )?;
        Ok(plan)
    }

    /// Plans one file, symlink or special file, named as in the snapshot.
    pub fn single(node: Node) -> RestorePlan {
        let mut plan = RestorePlan::default();
        let path = PathBuf::from(node.name.as_os_str());
        match node.node_type {
            NodeType::File => {
                plan.total_bytes = node.size;
                plan.files.push(PlannedFile {
                    path,
                    size: node.size,
                    meta: Meta::from(&node),
                    content: node.content.unwrap_or_default().into_boxed_slice(),
                });
            }
            NodeType::Dir | NodeType::Socket | NodeType::Etcd | NodeType::Git => {}
            t if t.is_source_inner() => {}
            _ => plan.specials.push((path, node)),
        }
        plan
    }
}

/// What a walk of a snapshot's trees finds, in tree order: a folder is
/// entered before what is inside it and left after, `kept` when it holds
/// something planned or is itself included. A plan collects everything;
/// a folder restore streams it in batches so memory does not grow with
/// the number of files.
pub(crate) trait PlanSink {
    /// A folder, before its contents.
    fn enter(&mut self, rel: &Path, node: &Node) -> Result<(), RestoreError>;
    /// The same folder, after them.
    fn leave(&mut self, rel: &Path, node: Node, kept: bool) -> Result<(), RestoreError>;
    /// A regular file.
    fn file(&mut self, file: PlannedFile) -> Result<(), RestoreError>;
    /// A symlink, device or fifo.
    fn special(&mut self, rel: PathBuf, node: Node) -> Result<(), RestoreError>;
    /// A further name of a file planned before (`first`).
    fn hardlink(&mut self, rel: PathBuf, first: PathBuf, node: Node) -> Result<(), RestoreError>;
}

impl PlanSink for RestorePlan {
    fn enter(&mut self, rel: &Path, node: &Node) -> Result<(), RestoreError> {
        self.dirs.push((rel.to_path_buf(), node.clone()));
        Ok(())
    }

    fn leave(&mut self, rel: &Path, _: Node, kept: bool) -> Result<(), RestoreError> {
        if !kept {
            // Nothing inside was wanted: the folder and its (empty)
            // sub-folders go again.
            if let Some(at) = self.dirs.iter().rposition(|(p, _)| p == rel) {
                self.dirs.truncate(at);
            }
        }
        Ok(())
    }

    fn file(&mut self, file: PlannedFile) -> Result<(), RestoreError> {
        self.total_bytes += file.size;
        self.files.push(file);
        Ok(())
    }

    fn special(&mut self, rel: PathBuf, node: Node) -> Result<(), RestoreError> {
        self.specials.push((rel, node));
        Ok(())
    }

    fn hardlink(&mut self, rel: PathBuf, first: PathBuf, node: Node) -> Result<(), RestoreError> {
        self.hardlinks.push((rel, first, node));
        Ok(())
    }
}

/// Walks the snapshot's trees from `root` into `sink`, planning what
/// passes `filter`.
pub(crate) fn walk_plan(
    repo: &Repository,
    root: &BlobId,
    filter: &RestoreFilter,
    sink: &mut dyn PlanSink,
) -> Result<(), RestoreError> {
    let mut inodes: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(repo, root, Path::new(""), false, filter, &mut inodes, sink)?;
    Ok(())
}

/// Returns whether anything under this tree was planned.
fn walk(
    repo: &Repository,
    tree_id: &BlobId,
    rel: &Path,
    parent_included: bool,
    filter: &RestoreFilter,
    inodes: &mut HashMap<(u64, u64), PathBuf>,
    sink: &mut dyn PlanSink,
) -> Result<bool, RestoreError> {
    let tree = load_tree(repo, tree_id)?;
    let mut any = false;
    for node in tree.nodes {
        node.check_name().map_err(|reason| RestoreError::Unsafe {
            path: format!("/{}", rel.display()),
            reason,
        })?;
        let path = rel.join(node.name.as_os_str());
        let snap_path = Path::new("/").join(&path);
        if filter.excluded(&snap_path) {
            continue;
        }
        let included = parent_included || filter.included(&snap_path);
        match node.node_type {
            // An etcd keyspace is restored with --to etcd://, git
            // repositories as bare repositories: not as files.
            NodeType::Etcd | NodeType::Git => continue,
            t if t.is_source_inner() => {
                return Err(RestoreError::Unsafe {
                    path: snap_path.display().to_string(),
                    reason: format!("a {t:?} node outside its source's tree"),
                })
            }
            NodeType::Dir => {
                let Some(sub) = node.subtree else {
                    return Err(RestoreError::Unsafe {
                        path: snap_path.display().to_string(),
                        reason: "folder without a subtree".into(),
                    });
                };
                sink.enter(&path, &node)?;
                let inner = walk(repo, &sub, &path, included, filter, inodes, sink)?;
                let kept = included || inner;
                sink.leave(&path, node, kept)?;
                any |= kept;
            }
            _ if !included => {}
            NodeType::File => {
                any = true;
                if node.links > 1 && node.inode != 0 {
                    if let Some(first) = inodes.get(&(node.device, node.inode)) {
                        sink.hardlink(path, first.clone(), node)?;
                        continue;
                    }
                    inodes.insert((node.device, node.inode), path.clone());
                }
                sink.file(PlannedFile {
                    path,
                    size: node.size,
                    meta: Meta::from(&node),
                    content: node.content.unwrap_or_default().into_boxed_slice(),
                })?;
            }
            NodeType::Socket => {}
            _ => {
                any = true;
                sink.special(path, node)?;
            }
        }
    }
    Ok(any)
}

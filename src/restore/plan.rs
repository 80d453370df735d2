//! The restore plan: what to create, from a snapshot's trees. No writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::RestoreError;
use crate::id::BlobId;
use crate::pattern::PathPatterns;
use crate::repo::Repository;
use crate::snapshot::{load_tree, Node, NodeType};
use crate::source::files::os_name;

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
        let mut inodes: HashMap<(u64, u64), PathBuf> = HashMap::new();
        plan.walk(repo, root, Path::new(""), false, filter, &mut inodes)?;
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
        plan.walk(repo, &subtree, Path::new(""), true, &filter, &mut inodes)?;
        Ok(plan)
    }

    /// Plans one file, symlink or special file, named as in the snapshot.
    pub fn single(node: Node) -> RestorePlan {
        let mut plan = RestorePlan::default();
        let path = super::in_place::file_name_of(&node);
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

    /// Returns whether anything under this tree was planned.
    fn walk(
        &mut self,
        repo: &Repository,
        tree_id: &BlobId,
        rel: &Path,
        parent_included: bool,
        filter: &RestoreFilter,
        inodes: &mut HashMap<(u64, u64), PathBuf>,
    ) -> Result<bool, RestoreError> {
        let tree = load_tree(repo, tree_id)?;
        let mut any = false;
        for node in tree.nodes {
            node.check_name().map_err(|reason| RestoreError::Unsafe {
                path: format!("/{}", rel.display()),
                reason,
            })?;
            let path = rel.join(os_name(node.name.as_bytes()));
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
                    let index = self.dirs.len();
                    self.dirs.push((path.clone(), node));
                    let inner = self.walk(repo, &sub, &path, included, filter, inodes)?;
                    if included || inner {
                        any = true;
                    } else {
                        // Nothing inside was wanted: drop the folder again.
                        self.dirs.truncate(index);
                    }
                }
                _ if !included => {}
                NodeType::File => {
                    any = true;
                    if node.links > 1 && node.inode != 0 {
                        if let Some(first) = inodes.get(&(node.device, node.inode)) {
                            self.hardlinks.push((path, first.clone(), node));
                            continue;
                        }
                        inodes.insert((node.device, node.inode), path.clone());
                    }
                    self.total_bytes += node.size;
                    self.files.push(PlannedFile {
                        path,
                        size: node.size,
                        meta: Meta::from(&node),
                        content: node.content.unwrap_or_default().into_boxed_slice(),
                    });
                }
                NodeType::Socket => {}
                _ => {
                    any = true;
                    self.specials.push((path, node));
                }
            }
        }
        Ok(any)
    }
}

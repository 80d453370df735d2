//! `snap diff`: what changed between two snapshots, path by path. Trees are
//! compared by name; identical subtrees (same blob ID) are skipped without
//! being read, so diffs of mostly unchanged snapshots are cheap.

use serde::Serialize;

use super::ls::etcd_key_path;
use super::OpError;
use crate::id::BlobId;
use crate::repo::Repository;
use crate::snapshot::{for_each_etcd_key, load_tree, Node, NodeName, NodeType, Selection};

/// How a path changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only in the second snapshot.
    Added,
    /// Only in the first.
    Removed,
    /// Same type, other content (or link target, or device).
    Modified,
    /// Same content, other metadata (mode, owner, times).
    Metadata,
    /// Another type (a file became a folder...).
    Type,
}

impl Change {
    /// The one-letter mark restic uses: `+ - M U T`.
    pub fn mark(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Modified => 'M',
            Change::Metadata => 'U',
            Change::Type => 'T',
        }
    }
}

/// One changed path.
#[derive(Debug, Serialize)]
pub struct Difference {
    /// The path.
    pub path: String,
    /// How it changed.
    pub change: Change,
}

/// Compares snapshot `old` with `new` (IDs, prefixes or `latest`); `emit` is
/// called per changed path in path order. Returns the full IDs.
pub fn diff(
    repo: &mut Repository,
    old: &str,
    new: &str,
    selection: &Selection,
    mut emit: impl FnMut(&Difference),
) -> Result<(String, String), OpError> {
    let (old_id, old_m) = selection.find(repo, old, |_| true)?;
    let (new_id, new_m) = selection.find(repo, new, |_| true)?;
    repo.load_index()?;
    compare(repo, Some(&old_m.tree), Some(&new_m.tree), "", &mut emit)?;
    Ok((old_id.to_hex(), new_id.to_hex()))
}

fn nodes(repo: &Repository, tree: Option<&BlobId>) -> Result<Vec<Node>, OpError> {
    Ok(match tree {
        Some(id) => load_tree(repo, id)?.nodes,
        None => Vec::new(),
    })
}

fn compare(
    repo: &Repository,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
    prefix: &str,
    emit: &mut impl FnMut(&Difference),
) -> Result<(), OpError> {
    if old.is_some() && old == new {
        return Ok(());
    }
    let (a, b) = (nodes(repo, old)?, nodes(repo, new)?);
    // Both are sorted by name bytes: merge.
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.name.as_bytes().cmp(y.name.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                whole(repo, &a[i], prefix, Change::Removed, emit)?;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                whole(repo, &b[j], prefix, Change::Added, emit)?;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (&a[i], &b[j]);
                let path = format!("{prefix}/{}", x.name.display());
                if x.node_type != y.node_type {
                    emit(&Difference {
                        path: path.clone(),
                        change: Change::Type,
                    });
                    // What was under the old folder went; what is under the
                    // new one came.
                    if let Some(sub) = &x.subtree {
                        compare(repo, Some(sub), None, &path, emit)?;
                    }
                    if let Some(sub) = &y.subtree {
                        compare(repo, None, Some(sub), &path, emit)?;
                    }
                } else if x.node_type == NodeType::Etcd {
                    compare_etcd(repo, x.subtree.as_ref(), y.subtree.as_ref(), &path, emit)?;
                } else if x.node_type == NodeType::Git {
                    compare_git(repo, x.subtree.as_ref(), y.subtree.as_ref(), &path, emit)?;
                } else {
                    let content = x.content != y.content
                        || x.link_target != y.link_target
                        || x.rdev != y.rdev
                        || x.size != y.size;
                    let meta = x.mode != y.mode
                        || x.uid != y.uid
                        || x.gid != y.gid
                        || x.mtime_ns != y.mtime_ns;
                    if content {
                        emit(&Difference {
                            path: path.clone(),
                            change: Change::Modified,
                        });
                    } else if meta && x.node_type != NodeType::Dir {
                        emit(&Difference {
                            path: path.clone(),
                            change: Change::Metadata,
                        });
                    }
                    if x.node_type == NodeType::Dir {
                        compare(repo, x.subtree.as_ref(), y.subtree.as_ref(), &path, emit)?;
                    }
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}

/// Reports `node` and everything under it as added or removed.
fn whole(
    repo: &Repository,
    node: &Node,
    prefix: &str,
    change: Change,
    emit: &mut impl FnMut(&Difference),
) -> Result<(), OpError> {
    let path = format!("{prefix}/{}", node.name.display());
    emit(&Difference {
        path: path.clone(),
        change,
    });
    if node.node_type == NodeType::Git {
        let (old, new) = match change {
            Change::Removed => (node.subtree.as_ref(), None),
            _ => (None, node.subtree.as_ref()),
        };
        return compare_git(repo, old, new, &path, emit);
    }
    if node.node_type == NodeType::Etcd {
        let (old, new) = match change {
            Change::Removed => (node.subtree.as_ref(), None),
            _ => (None, node.subtree.as_ref()),
        };
        return compare_etcd(repo, old, new, &path, emit);
    }
    if let Some(sub) = &node.subtree {
        let (old, new) = match change {
            Change::Removed => (Some(sub), None),
            _ => (None, Some(sub)),
        };
        compare(repo, old, new, &path, emit)?;
    }
    Ok(())
}

/// Compares two etcd keyspaces key by key: `+`/`-` for keys added or
/// removed, `M` for another value, `U` for the same value with other
/// revisions or lease (the key was written again).
fn compare_etcd(
    repo: &Repository,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
    prefix: &str,
    emit: &mut impl FnMut(&Difference),
) -> Result<(), OpError> {
    if old.is_some() && old == new {
        return Ok(());
    }
    let keys = |tree: Option<&BlobId>| -> Result<Vec<Node>, OpError> {
        let mut out = Vec::new();
        if let Some(id) = tree {
            for_each_etcd_key(repo, id, b"", &mut |n| {
                out.push(n);
                Ok(())
            })?;
        }
        Ok(out)
    };
    let (a, b) = (keys(old)?, keys(new)?);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.name.cmp(&y.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (node, change) = match order {
            std::cmp::Ordering::Less => {
                i += 1;
                (&a[i - 1], Some(Change::Removed))
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (&b[j - 1], Some(Change::Added))
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (&a[i], &b[j]);
                i += 1;
                j += 1;
                let change = match (&x.etcd, &y.etcd) {
                    (Some(mx), Some(my)) if mx.value_hash != my.value_hash => {
                        Some(Change::Modified)
                    }
                    (Some(mx), Some(my)) if mx != my => Some(Change::Metadata),
                    _ => None,
                };
                (y, change)
            }
        };
        if let Some(change) = change {
            emit(&Difference {
                path: etcd_key_path(prefix, &node.name),
                change,
            });
        }
    }
    Ok(())
}

/// Compares two sets of git repositories: `+`/`-` for repositories and
/// refs added or removed (`/@git/REPO/refs/heads/main`), `M` for a ref
/// that moved or a repository whose objects changed.
fn compare_git(
    repo: &Repository,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
    prefix: &str,
    emit: &mut impl FnMut(&Difference),
) -> Result<(), OpError> {
    if old.is_some() && old == new {
        return Ok(());
    }
    let (a, b) = (nodes(repo, old)?, nodes(repo, new)?);
    let names: std::collections::BTreeSet<&NodeName> =
        a.iter().chain(b.iter()).map(|n| &n.name).collect();
    for name in names {
        let x = a.iter().find(|n| &n.name == name);
        let y = b.iter().find(|n| &n.name == name);
        let path = format!("{prefix}/{}", name.display());
        let refs = |n: Option<&Node>| -> std::collections::BTreeMap<String, String> {
            n.and_then(|n| n.git.as_ref())
                .map(|g| {
                    g.refs
                        .iter()
                        .map(|r| (r.name.clone(), r.target.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let change = match (x, y) {
            (Some(_), None) => Some(Change::Removed),
            (None, Some(_)) => Some(Change::Added),
            (Some(x), Some(y)) if x.subtree != y.subtree || x.git != y.git => {
                Some(Change::Modified)
            }
            _ => None,
        };
        let Some(change) = change else { continue };
        emit(&Difference {
            path: path.clone(),
            change,
        });
        let (ra, rb) = (refs(x), refs(y));
        let all: std::collections::BTreeSet<&String> = ra.keys().chain(rb.keys()).collect();
        for r in all {
            let change = match (ra.get(r), rb.get(r)) {
                (Some(_), None) => Change::Removed,
                (None, Some(_)) => Change::Added,
                (Some(p), Some(q)) if p != q => Change::Modified,
                _ => continue,
            };
            emit(&Difference {
                path: format!("{path}/{r}"),
                change,
            });
        }
    }
    Ok(())
}

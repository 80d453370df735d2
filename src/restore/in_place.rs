//! Restoring one captured path back where it was (`restore --profile`):
//! the folder or file at its original path ends as the snapshot holds it.
//! Files whose content, mode and owner already match are left untouched (so
//! programs watching them see no change); paths the snapshot lacks are
//! deleted, except those the backup excluded on purpose.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::meta::apply_metadata;
use super::plan::RestorePlan;
use super::write::{restore_to_dir, RestoreProgress};
use super::RestoreError;
use crate::chunker::Chunker;
use crate::id::BlobId;
use crate::pattern::PathPatterns;
use crate::repo::Repository;
use crate::snapshot::{find_node, Node, NodeType};

/// What restoring one path changes, computed without writing.
#[derive(Debug, Default, Serialize)]
pub struct InPlaceChanges {
    /// The path restored (absolute).
    pub path: String,
    /// Paths the snapshot has and the disk lacks.
    pub create: Vec<String>,
    /// Paths whose content, type, mode or owner differ.
    pub update: Vec<String>,
    /// Paths on disk the snapshot lacks (a folder stands for all inside).
    pub delete: Vec<String>,
    /// Files and folders already as in the snapshot.
    pub unchanged: u64,
    /// Warnings from applying metadata.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A planned in-place restore of one path.
pub struct InPlacePlan {
    /// The changes, for reports and `--dry-run`.
    pub changes: InPlaceChanges,
    /// Where the plan's paths are relative to: the path itself for a
    /// folder, its parent for a file.
    base: PathBuf,
    /// The snapshot's folder node for the path itself (its metadata).
    root: Option<Node>,
    /// What to write: files already equal are taken out.
    plan: RestorePlan,
    /// Absolute paths to delete first.
    delete: Vec<PathBuf>,
}

/// Finds the node at absolute `path` in the tree `root`.
pub fn find_path(repo: &Repository, root: &BlobId, path: &Path) -> Result<Node, RestoreError> {
    let missing = || RestoreError::NotInSnapshot {
        path: path.display().to_string(),
    };
    let parts = path.components().filter_map(|c| match c {
        std::path::Component::Normal(n) => Some(std::os::unix::ffi::OsStrExt::as_bytes(n)),
        _ => None,
    });
    find_node(repo, root, parts)?.ok_or_else(missing)
}

/// Plans restoring the snapshot's `path` (absolute) onto the same path on
/// disk. `keep` are the backup's exclude patterns: disk paths matching them
/// are never deleted. With `delete_extra` false nothing is deleted.
pub fn plan_in_place(
    repo: &Repository,
    chunker: &Chunker,
    tree: &BlobId,
    path: &Path,
    keep: &[String],
    delete_extra: bool,
) -> Result<InPlacePlan, RestoreError> {
    let node = find_path(repo, tree, path)?;
    let keep = PathPatterns::new(keep)?;
    let (base, mut plan, root) = match node.node_type {
        NodeType::Dir => {
            let plan = RestorePlan::build_subtree(repo, &node)?;
            (path.to_path_buf(), plan, Some(node))
        }
        _ => {
            let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
            (parent, RestorePlan::single(node), None)
        }
    };
    let mut changes = InPlaceChanges {
        path: path.display().to_string(),
        ..Default::default()
    };
    let shown = |rel: &Path| base.join(rel).display().to_string();
    let as_root = unsafe_geteuid() == 0;

    // The path itself, when it is a folder that is missing or not a folder.
    if let Some(root) = &root {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                if same_meta(&m, root.mode, root.uid, root.gid, as_root) {
                    changes.unchanged += 1;
                } else {
                    changes.update.push(shown(Path::new("")));
                }
            }
            Ok(_) => changes.update.push(shown(Path::new(""))),
            Err(_) => changes.create.push(shown(Path::new(""))),
        }
    }
    for (rel, dir) in &plan.dirs {
        match fs::symlink_metadata(base.join(rel)) {
            Ok(m) if m.is_dir() && same_meta(&m, dir.mode, dir.uid, dir.gid, as_root) => {
                changes.unchanged += 1
            }
            Ok(_) => changes.update.push(shown(rel)),
            Err(_) => changes.create.push(shown(rel)),
        }
    }
    // Every blob must be there before anything on disk is touched.
    for f in &plan.files {
        if let Some(id) = f.content.iter().find(|id| !repo.index().contains(id)) {
            return Err(RestoreError::Repo(crate::repo::RepoError::MissingBlob {
                blob: *id,
            }));
        }
    }
    // A real folder standing where the snapshot has a file, link or
    // special file is deleted first (and listed so).
    let mut delete = Vec::new();
    let non_dirs = plan
        .files
        .iter()
        .map(|f| f.path.as_path())
        .chain(plan.specials.iter().map(|(p, _)| p.as_path()))
        .chain(plan.hardlinks.iter().map(|(p, _, _)| p.as_path()));
    for rel in non_dirs {
        let at = base.join(rel);
        if fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
            delete.push(at);
        }
    }
    let mut equal = HashSet::new();
    for (i, f) in plan.files.iter().enumerate() {
        let at = base.join(&f.path);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_file() && m.len() == f.size => {
                let same = same_meta(&m, f.meta.mode, f.meta.uid, f.meta.gid, as_root)
                    && content_ids(repo, chunker, &at).is_ok_and(|ids| *ids == *f.content);
                if same {
                    changes.unchanged += 1;
                    equal.insert(i);
                } else {
                    changes.update.push(shown(&f.path));
                }
            }
            Ok(_) => changes.update.push(shown(&f.path)),
            Err(_) => changes.create.push(shown(&f.path)),
        }
    }
    let mut equal_specials = HashSet::new();
    for (i, (rel, node)) in plan.specials.iter().enumerate() {
        let at = base.join(rel);
        let same_link = node.node_type == NodeType::Symlink
            && fs::read_link(&at).is_ok_and(|t| {
                std::os::unix::ffi::OsStrExt::as_bytes(t.as_os_str())
                    == node.link_target.clone().unwrap_or_default().as_bytes()
            });
        match fs::symlink_metadata(&at) {
            Ok(_) if same_link => {
                changes.unchanged += 1;
                equal_specials.insert(i);
            }
            Ok(_) => changes.update.push(shown(rel)),
            Err(_) => changes.create.push(shown(rel)),
        }
    }
    for (rel, _, _) in &plan.hardlinks {
        match fs::symlink_metadata(base.join(rel)) {
            Ok(_) => changes.update.push(shown(rel)),
            Err(_) => changes.create.push(shown(rel)),
        }
    }

    // What is on disk and not in the snapshot.
    // Only inside a real folder: through a symlink at the path, deletions
    // would land wherever it points (the symlink itself is replaced).
    let real_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if delete_extra && root.is_some() && real_dir {
        let planned: HashSet<&Path> = plan
            .dirs
            .iter()
            .map(|(p, _)| p.as_path())
            .chain(plan.files.iter().map(|f| f.path.as_path()))
            .chain(plan.specials.iter().map(|(p, _)| p.as_path()))
            .chain(plan.hardlinks.iter().map(|(p, _, _)| p.as_path()))
            .collect();
        let dirs: HashSet<&Path> = plan.dirs.iter().map(|(p, _)| p.as_path()).collect();
        extras(path, Path::new(""), (&planned, &dirs), &keep, &mut delete);
    }
    changes.delete = delete.iter().map(|p| p.display().to_string()).collect();
    changes.create.sort();
    changes.update.sort();

    let mut index = 0;
    plan.specials.retain(|_| {
        index += 1;
        !equal_specials.contains(&(index - 1))
    });
    let mut index = 0;
    plan.files.retain(|f| {
        let keep = !equal.contains(&index);
        index += 1;
        if !keep {
            plan.total_bytes -= f.size;
        }
        keep
    });
    Ok(InPlacePlan {
        changes,
        base,
        root,
        plan,
        delete,
    })
}

/// Reads and authenticates every blob the plans will write, before any of
/// them changes anything: a damaged or missing blob stops the restore with
/// every live file as it was, naming the file and the pack.
pub fn verify_plans(
    repo: &Repository,
    plans: &[InPlacePlan],
    threads: usize,
) -> Result<(), RestoreError> {
    for p in plans {
        super::write::check_available(repo, &p.plan).map_err(|e| match e {
            RestoreError::Unavailable { count, first } => RestoreError::DamagedInPlace {
                path: p.changes.path.clone(),
                count,
                first: format!("{}{}", p.base.display(), first),
            },
            other => other,
        })?;
    }
    let failed: std::sync::Mutex<Option<(BlobId, String)>> = Default::default();
    let blobs = plans
        .iter()
        .flat_map(|p| p.plan.files.iter().flat_map(|f| f.content.iter()));
    super::fetch::fetch_blobs(repo, blobs, threads, &|id, plain| {
        if let Err(why) = plain {
            failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert((*id, why));
        }
        Ok(())
    })?;
    let Some((blob, why)) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) else {
        return Ok(());
    };
    for p in plans {
        let users: Vec<&super::plan::PlannedFile> = p
            .plan
            .files
            .iter()
            .filter(|f| f.content.contains(&blob))
            .collect();
        if let Some(first) = users.first() {
            return Err(RestoreError::DamagedInPlace {
                path: p.changes.path.clone(),
                count: users.len(),
                first: format!("{}: {why}", p.base.join(&first.path).display()),
            });
        }
    }
    Err(RestoreError::Unsafe {
        path: blob.to_hex(),
        reason: why,
    })
}

/// Carries out a plan: deletes what the snapshot lacks, writes what
/// differs, sets metadata.
pub fn apply_in_place(
    repo: &Repository,
    mut planned: InPlacePlan,
    threads: usize,
    progress: &RestoreProgress,
) -> Result<InPlaceChanges, RestoreError> {
    for p in &planned.delete {
        // A folder on the way swapped for a symlink since planning would
        // send the deletion elsewhere.
        if !real_folders_between(&planned.base, p) {
            return Err(RestoreError::Unsafe {
                path: p.display().to_string(),
                reason: "a folder above it became a symlink during the restore".into(),
            });
        }
        let result = match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(p),
            Ok(_) => fs::remove_file(p),
            Err(_) => Ok(()),
        };
        result.map_err(|e| RestoreError::Io {
            action: "delete",
            path: p.display().to_string(),
            source: e,
        })?;
    }
    // The folder itself must be a folder before anything goes inside it.
    if planned.root.is_some() {
        if let Ok(m) = fs::symlink_metadata(&planned.base) {
            if !m.is_dir() {
                fs::remove_file(&planned.base).map_err(|e| RestoreError::Io {
                    action: "replace",
                    path: planned.base.display().to_string(),
                    source: e,
                })?;
            }
        }
    }
    // Files are written under temporary names beside their places and
    // renamed over them once complete, so a program reading a config file
    // sees the old one or the new one, and a failed restore (a damaged
    // blob, a full disk) leaves the old one.
    let pid = std::process::id();
    let mut renames = Vec::new();
    for (i, f) in planned.plan.files.iter_mut().enumerate() {
        let temporary = f.path.with_file_name(format!(".snap-restore-{pid}-{i}"));
        renames.push((temporary.clone(), std::mem::replace(&mut f.path, temporary)));
    }
    let temporary_of: std::collections::HashMap<PathBuf, PathBuf> = renames
        .iter()
        .map(|(t, f)| (f.clone(), t.clone()))
        .collect();
    for (_, first, _) in planned.plan.hardlinks.iter_mut() {
        if let Some(t) = temporary_of.get(first) {
            *first = t.clone();
        }
    }
    let base = &planned.base;
    let written = restore_to_dir(repo, &planned.plan, base, threads, progress).and_then(|r| {
        for (temporary, place) in &renames {
            fs::rename(base.join(temporary), base.join(place)).map_err(|e| RestoreError::Io {
                action: "rename into place",
                path: base.join(place).display().to_string(),
                source: e,
            })?;
        }
        Ok(r)
    });
    let report = match written {
        Ok(r) => r,
        Err(e) => {
            for (temporary, _) in &renames {
                let _ = fs::remove_file(base.join(temporary));
            }
            return Err(match e {
                RestoreError::Damaged { count, mut first } => {
                    for (temporary, place) in &renames {
                        let t = base.join(temporary).display().to_string();
                        first = first.replace(&t, &base.join(place).display().to_string());
                    }
                    RestoreError::DamagedInPlace {
                        path: planned.changes.path.clone(),
                        count,
                        first,
                    }
                }
                other => other,
            });
        }
    };
    planned.changes.warnings = report.warnings;
    if let Some(root) = &planned.root {
        apply_metadata(
            &planned.base,
            &super::plan::Meta::from(root),
            &mut planned.changes.warnings,
        )?;
    }
    Ok(planned.changes)
}

/// Collects, under `dir` (absolute; `rel` relative to the restored path),
/// disk paths that are not planned and not kept; a folder not planned is
/// listed alone, not what is inside it.
fn extras(
    dir: &Path,
    rel: &Path,
    (planned, dirs): (&HashSet<&Path>, &HashSet<&Path>),
    keep: &PathPatterns,
    out: &mut Vec<PathBuf>,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let abs = entry.path();
        let r = rel.join(entry.file_name());
        // Sockets belong to running services; a backup records but never
        // restores them.
        let socket = entry
            .file_type()
            .is_ok_and(|t| std::os::unix::fs::FileTypeExt::is_socket(&t));
        if keep.matches(&abs) || socket {
            continue;
        }
        if !planned.contains(r.as_path()) {
            out.push(abs);
        } else if dirs.contains(r.as_path()) && entry.file_type().is_ok_and(|t| t.is_dir()) {
            extras(&abs, &r, (planned, dirs), keep, out);
        }
    }
}

/// Whether every folder from `base` (included) down to `path`'s parent is a
/// real folder, not a symlink.
fn real_folders_between(base: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(base) else {
        return false;
    };
    let mut at = base.to_path_buf();
    if !fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
        return false;
    }
    let mut parts: Vec<_> = rel.components().collect();
    parts.pop();
    for part in parts {
        at.push(part);
        if !fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
            return false;
        }
    }
    true
}

/// The blob IDs a file's content would have, cut as a backup cuts it.
fn content_ids(
    repo: &Repository,
    chunker: &Chunker,
    path: &Path,
) -> Result<Vec<BlobId>, std::io::Error> {
    let file = fs::File::open(path)?;
    let mut ids = Vec::new();
    chunker.for_each_chunk::<_, std::io::Error>(file, |chunk| {
        ids.push(repo.key().blob_id(chunk));
        Ok(())
    })?;
    Ok(ids)
}

/// Mode bits equal, and owner too when running as root (others cannot
/// change owners, so a difference would be reported on every restore).
fn same_meta(m: &fs::Metadata, mode: u32, uid: u32, gid: u32, as_root: bool) -> bool {
    m.mode() & 0o7777 == mode & 0o7777 && (!as_root || (m.uid() == uid && m.gid() == gid))
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

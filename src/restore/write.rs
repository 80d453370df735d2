//! Writing a restore plan into a folder.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use super::plan::{Meta, RestorePlan};
use super::RestoreError;
use crate::id::{BlobId, FileKind, PackId};
use crate::index::BlobLocation;
use crate::pack::open_blob_into;
use crate::repo::{blob_err, RepoError, Repository};
use crate::snapshot::{Node, NodeType};

/// Largest single read from a pack; neighbouring blobs are fetched together
/// up to this size, so most packs are read in a few requests.
const MAX_READ: u64 = 4 << 20;

/// Live counts of a running restore, for progress displays.
#[derive(Debug, Default)]
pub struct RestoreProgress {
    /// Content bytes to write.
    pub total: AtomicU64,
    /// Content bytes written so far.
    pub done: AtomicU64,
}

/// What a restore did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// Files written.
    pub files: u64,
    /// Folders created.
    pub dirs: u64,
    /// Symlinks, devices and fifos created.
    pub specials: u64,
    /// Hard links created.
    pub hardlinks: u64,
    /// Content bytes written.
    pub bytes: u64,
    /// Metadata that could not be applied (ownership as non-root, say).
    pub warnings: Vec<String>,
}

/// Where each blob goes: (blob, file number in the plan, offset), sorted by
/// blob. Flat and small (48 bytes per occurrence) so restores of millions of
/// files stay lean; paths are built only when writing.
struct Targets<'a> {
    list: Vec<(BlobId, u32, u64)>,
    plan: &'a RestorePlan,
    root: &'a Path,
}

struct Target {
    path: PathBuf,
    offset: u64,
}

impl Targets<'_> {
    fn of(&self, id: &BlobId) -> impl Iterator<Item = Target> + '_ {
        let id = *id;
        let start = self.list.partition_point(|(b, _, _)| *b < id);
        self.list[start..]
            .iter()
            .take_while(move |(b, _, _)| *b == id)
            .map(|&(_, file, offset)| Target {
                path: self.root.join(&self.plan.files[file as usize].path),
                offset,
            })
    }

    fn blobs(&self) -> impl Iterator<Item = &BlobId> + '_ {
        let mut last = None;
        self.list.iter().filter_map(move |(b, _, _)| {
            let new = last != Some(b);
            last = Some(b);
            new.then_some(b)
        })
    }
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> RestoreError {
    RestoreError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Restores `plan` under `target`; `threads` pack readers run in parallel.
pub fn restore_to_dir(
    repo: &Repository,
    plan: &RestorePlan,
    target: &Path,
    threads: usize,
    progress: &RestoreProgress,
) -> Result<RestoreReport, RestoreError> {
    let mut report = RestoreReport::default();
    // Into a new or empty folder nothing can be in the way, so files are
    // created by their first write; otherwise each path is checked first.
    let fresh = fs::read_dir(target)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true);
    fs::create_dir_all(target).map_err(|e| io("create", target, e))?;
    for (rel, _) in &plan.dirs {
        let path = target.join(rel);
        // Folders are made parents first, and anything in the way that is not
        // a real folder (a symlink above all) is replaced, so no later write
        // can be redirected outside the target.
        if !fresh {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => fs::remove_file(&path).map_err(|e| io("replace", &path, e))?,
                Err(_) => {}
            }
        }
        fs::create_dir(&path).map_err(|e| io("create folder", &path, e))?;
        report.dirs += 1;
    }

    // Create every file at full size, and collect where each blob goes.
    let failed: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());
    let mut list = Vec::new();
    for (number, f) in plan.files.iter().enumerate() {
        let path = target.join(&f.path);
        if !fresh || f.size == 0 {
            create_file(&path, f.size)?;
        }
        let mut offset = 0u64;
        for id in f.content.iter() {
            let loc = repo.index().get(id);
            list.push((*id, number as u32, offset));
            offset += loc.map(|l| l.raw_len as u64).unwrap_or(0);
        }
        if offset != f.size && f.content.iter().all(|id| repo.index().contains(id)) {
            let why = format!(
                "its blobs hold {offset} bytes but the snapshot records {}",
                f.size
            );
            failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((path, why));
        }
    }

    list.sort_unstable();
    let targets = Targets {
        list,
        plan,
        root: target,
    };

    // Group blobs by pack; a blob missing from the index damages its files.
    let mut by_pack: BTreeMap<PackId, Vec<(BlobId, BlobLocation)>> = BTreeMap::new();
    for id in targets.blobs() {
        match repo.index().get(id) {
            Some(loc) => by_pack.entry(loc.pack).or_default().push((*id, loc)),
            None => {
                let why = RepoError::MissingBlob { blob: *id }.to_string();
                let mut f = failed.lock().unwrap_or_else(|e| e.into_inner());
                for t in targets.of(id) {
                    f.push((t.path, why.clone()));
                }
            }
        }
    }
    progress.total.store(plan.total_bytes, Ordering::Relaxed);
    let bytes = &progress.done;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| {
            io(
                "start threads",
                target,
                std::io::Error::other(e.to_string()),
            )
        })?;
    let fatal: Mutex<Option<RestoreError>> = Mutex::new(None);
    pool.install(|| {
        by_pack.par_iter_mut().for_each(|(pack, blobs)| {
            blobs.sort_by_key(|(_, l)| l.offset);
            if let Err(e) = restore_pack(repo, pack, blobs, &targets, &failed, bytes) {
                fatal
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(e);
            }
        })
    });
    if let Some(e) = fatal.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    report.bytes = bytes.load(Ordering::Relaxed);

    // Files that got a bad blob are removed, never left looking complete.
    let failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    let bad: HashSet<&PathBuf> = failed.iter().map(|(p, _)| p).collect();
    for p in &bad {
        let _ = fs::remove_file(p);
    }

    for f in &plan.files {
        let path = target.join(&f.path);
        if bad.contains(&path) {
            continue;
        }
        apply_metadata(&path, &f.meta, &mut report.warnings)?;
        report.files += 1;
    }
    let mut damaged_links = 0;
    for (rel, first, _) in &plan.hardlinks {
        let (path, existing) = (target.join(rel), target.join(first));
        if bad.contains(&existing) {
            damaged_links += 1;
            continue;
        }
        let _ = fs::remove_file(&path);
        fs::hard_link(&existing, &path).map_err(|e| io("hard link", &path, e))?;
        report.hardlinks += 1;
    }
    for (rel, node) in &plan.specials {
        let path = target.join(rel);
        create_special(&path, node)?;
        apply_metadata(&path, &Meta::from(node), &mut report.warnings)?;
        report.specials += 1;
    }
    // Deepest folders first, so setting a child's mtime does not change the
    // parent's after it was set.
    for (rel, node) in plan.dirs.iter().rev() {
        apply_metadata(&target.join(rel), &Meta::from(node), &mut report.warnings)?;
    }
    if let Some((path, why)) = failed.first() {
        return Err(RestoreError::Damaged {
            count: bad.len() + damaged_links,
            first: format!("{}: {why}", path.display()),
        });
    }
    Ok(report)
}

fn create_file(path: &Path, size: u64) -> Result<(), RestoreError> {
    // Never write through something already at this name (a symlink, say).
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(|e| io("replace", path, e))?,
        Ok(_) => fs::remove_file(path).map_err(|e| io("replace", path, e))?,
        Err(_) => {}
    }
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create", path, e))?;
    file.set_len(size).map_err(|e| io("size", path, e))
}

/// Reads one pack's needed blobs in ranges and writes them out.
fn restore_pack(
    repo: &Repository,
    pack: &PackId,
    blobs: &[(BlobId, BlobLocation)],
    targets: &Targets<'_>,
    failed: &Mutex<Vec<(PathBuf, String)>>,
    bytes: &AtomicU64,
) -> Result<(), RestoreError> {
    let name = pack.to_hex();
    let mut i = 0;
    while i < blobs.len() {
        // Extend the range while blobs are close together and it stays small.
        let start = blobs[i].1.offset as u64;
        let mut end = start + blobs[i].1.stored_len as u64;
        let mut j = i + 1;
        while j < blobs.len() {
            let l = &blobs[j].1;
            let next_end = l.offset as u64 + l.stored_len as u64;
            if (l.offset as u64) > end + (256 << 10) || next_end - start > MAX_READ {
                break;
            }
            end = end.max(next_end);
            j += 1;
        }
        // A missing or truncated pack damages only the files that need it.
        let mut buf = RANGE.with(|c| std::mem::take(&mut *c.borrow_mut()));
        let data = repo
            .backend()
            .read_range_into(FileKind::Pack, &name, start, end - start, &mut buf)
            .map(|_| buf)
            .map_err(|e| e.to_string());
        for (id, loc) in &blobs[i..j] {
            let plain = match &data {
                Ok(d) => {
                    let from = (loc.offset as u64 - start) as usize;
                    let sealed = &d[from..from + loc.stored_len as usize];
                    PLAIN.with(|cell| {
                        let mut plain = cell.borrow_mut();
                        let opened = open_blob_into(
                            repo.key(),
                            loc.kind,
                            loc.compression,
                            loc.raw_len,
                            id,
                            sealed,
                            &mut plain,
                        );
                        let result = match opened {
                            Ok(()) => targets
                                .of(id)
                                .try_for_each(|t| {
                                    bytes.fetch_add(plain.len() as u64, Ordering::Relaxed);
                                    write_at(&t.path, t.offset, &plain)
                                })
                                .map(Ok),
                            Err(e) => Ok(Err(blob_err(*pack, *id, e).to_string())),
                        };
                        if plain.capacity() > PLAIN_KEEP {
                            *plain = Vec::new();
                        }
                        result
                    })?
                }
                Err(why) => Err(format!("blob {id} in pack {pack} cannot be read: {why}")),
            };
            match plain {
                Ok(()) => {}
                Err(why) => {
                    let mut f = failed.lock().unwrap_or_else(|e| e.into_inner());
                    for t in targets.of(id) {
                        f.push((t.path, why.clone()));
                    }
                }
            }
        }
        if let Ok(buf) = data {
            RANGE.with(|c| *c.borrow_mut() = buf);
        }
        i = j;
    }
    Ok(())
}

/// Largest plaintext buffer a restore thread keeps between blobs.
const PLAIN_KEEP: usize = 2 << 20;

thread_local! {
    static PLAIN: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    // One pack range per restore thread, at most MAX_READ bytes (or one blob).
    static RANGE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes `data` at `offset`, creating the file on first write (into a
/// fresh target) without ever following a symlink at its name.
fn write_at(path: &Path, offset: u64, data: &[u8]) -> Result<(), RestoreError> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io("open", path, e))?;
    file.write_all_at(data, offset)
        .map_err(|e| io("write", path, e))
}

fn cpath(path: &Path) -> Result<std::ffi::CString, RestoreError> {
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io("encode", path, std::io::Error::other("path contains NUL")))
}

fn create_special(path: &Path, node: &Node) -> Result<(), RestoreError> {
    if fs::symlink_metadata(path).is_ok() {
        fs::remove_file(path).map_err(|e| io("replace", path, e))?;
    }
    match node.node_type {
        NodeType::Symlink => {
            let target = node.link_target.clone().unwrap_or_default();
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target.as_bytes()), path)
                .map_err(|e| io("create symlink", path, e))
        }
        NodeType::Fifo | NodeType::Chardev | NodeType::Blockdev => {
            let kind = match node.node_type {
                NodeType::Fifo => libc::S_IFIFO,
                NodeType::Chardev => libc::S_IFCHR,
                _ => libc::S_IFBLK,
            };
            let c = cpath(path)?;
            // SAFETY: c is a valid NUL-terminated path.
            let rc = unsafe {
                libc::mknod(
                    c.as_ptr(),
                    kind | (node.mode & 0o7777),
                    node.rdev as libc::dev_t,
                )
            };
            if rc != 0 {
                return Err(io("create", path, std::io::Error::last_os_error()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Ownership (when permitted), mode and times. Symlinks get ownership and
/// times only, without following them.
pub(super) fn apply_metadata(
    path: &Path,
    node: &Meta,
    warnings: &mut Vec<String>,
) -> Result<(), RestoreError> {
    let c = cpath(path)?;
    let is_link = node.node_type == NodeType::Symlink;
    // SAFETY: c is a valid NUL-terminated path; lchown does not follow links.
    let rc = unsafe { libc::lchown(c.as_ptr(), node.uid, node.gid) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // Unprivileged restores cannot give files away; that is expected.
        if err.raw_os_error() != Some(libc::EPERM) {
            warnings.push(format!("cannot set owner of {}: {err}", path.display()));
        }
    }
    if !is_link {
        fs::set_permissions(path, fs::Permissions::from_mode(node.mode))
            .map_err(|e| io("set mode of", path, e))?;
    }
    let ts = |ns: i64| libc::timespec {
        tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: ns.rem_euclid(1_000_000_000) as libc::c_long,
    };
    let times = [ts(node.mtime_ns), ts(node.mtime_ns)];
    // SAFETY: c is valid and times points to two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        warnings.push(format!(
            "cannot set times of {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

//! Writing a restore plan into a folder.
//!
//! Before the first write, every blob the plan needs must be indexed in a
//! pack the backend has: a restore that could not finish does not start.
//! Each file is written under a temporary name beside its place
//! (`.snap-partial-` and 16 hex digits of the name's hash), pack by pack, and
//! renamed into place the moment its last blob is written; its metadata
//! follows at once. So a restore cut off at any point (Ctrl-C, a kill, a
//! full disk) leaves under the real names only complete, correct files; a
//! re-run removes the temporary leftovers and keeps files already complete
//! and correct (same size and, cut and hashed with the repository key, the
//! same blobs). Blobs of zeros are not written: the file keeps a hole there,
//! so sparse files come back sparse.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use super::fetch::fetch_blobs;
use super::meta::{apply_metadata, create_special};
use super::plan::{Meta, PlannedFile, RestorePlan};
use super::RestoreError;
use crate::chunker::Chunker;
use crate::id::{BlobId, PackId};
use crate::repo::Repository;

/// The prefix of a file being written.
pub const PARTIAL_PREFIX: &str = ".snap-partial-";

/// Live counts of a running restore, for progress displays.
#[derive(Debug, Default)]
pub struct RestoreProgress {
    /// Content bytes to write.
    pub total: AtomicU64,
    /// Content bytes written so far.
    pub done: AtomicU64,
    /// Files to write.
    pub files_total: AtomicU64,
    /// Files complete so far.
    pub files_done: AtomicU64,
}

/// What a restore did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// Files written.
    pub files: u64,
    /// Files already complete and correct in the target, left as they were.
    pub files_kept: u64,
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
struct Targets {
    list: Vec<(BlobId, u32, u64)>,
}

impl Targets {
    fn of(&self, id: &BlobId) -> impl Iterator<Item = (u32, u64)> + '_ {
        let id = *id;
        let start = self.list.partition_point(|(b, _, _)| *b < id);
        self.list[start..]
            .iter()
            .take_while(move |(b, _, _)| *b == id)
            .map(|&(_, file, offset)| (file, offset))
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

/// The temporary name a file is written under, beside its place.
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    let hash = blake3::hash(name);
    path.with_file_name(format!("{PARTIAL_PREFIX}{}", &hash.to_hex()[..16]))
}

/// The files of one restore and how far each is.
struct Files<'a> {
    plan: &'a RestorePlan,
    root: &'a Path,
    /// Blob occurrences still to write, per file.
    remaining: Vec<AtomicU32>,
    /// A blob of the file failed: it is not renamed into place.
    damaged: Vec<AtomicBool>,
    /// Why, for the first few and the count.
    failures: Mutex<Vec<(PathBuf, String)>>,
    warnings: Mutex<Vec<String>>,
    complete: AtomicU64,
    progress: &'a RestoreProgress,
}

impl Files<'_> {
    fn path(&self, file: u32) -> PathBuf {
        self.root.join(&self.plan.files[file as usize].path)
    }

    fn fail(&self, file: u32, why: String) {
        if !self.damaged[file as usize].swap(true, Ordering::AcqRel) {
            lock(&self.failures).push((self.path(file), why));
        }
    }

    /// One blob occurrence of `file` is written (or failed); the last one
    /// completes the file.
    fn done(&self, file: u32) -> Result<(), RestoreError> {
        if self.remaining[file as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish(file)?;
        }
        Ok(())
    }

    /// Renames a complete file into place and sets its metadata; a damaged
    /// one is removed, and so is whatever stood at its name, so nothing
    /// there looks restored.
    fn finish(&self, file: u32) -> Result<(), RestoreError> {
        let f: &PlannedFile = &self.plan.files[file as usize];
        let path = self.path(file);
        let partial = partial_path(&path);
        if self.damaged[file as usize].load(Ordering::Acquire) {
            let _ = fs::remove_file(&partial);
            if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
                let _ = fs::remove_file(&path);
            }
            return Ok(());
        }
        let out = open_partial(&partial)?;
        // Holes left for blobs of zeros, up to the end too.
        let len = out.metadata().map_err(|e| io("stat", &partial, e))?.len();
        if len != f.size {
            out.set_len(f.size).map_err(|e| io("size", &partial, e))?;
        }
        drop(out);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                fs::remove_dir_all(&path).map_err(|e| io("replace", &path, e))?
            }
            _ => {}
        }
        fs::rename(&partial, &path).map_err(|e| io("rename into place", &path, e))?;
        let mut warnings = Vec::new();
        apply_metadata(&path, &f.meta, &mut warnings)?;
        if !warnings.is_empty() {
            lock(&self.warnings).extend(warnings);
        }
        self.complete.fetch_add(1, Ordering::Relaxed);
        self.progress.files_done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes the temporary files of every file not finished (after a
    /// fatal error or an interruption).
    fn discard_unfinished(&self) {
        for (i, r) in self.remaining.iter().enumerate() {
            if r.load(Ordering::Acquire) > 0 {
                let _ = fs::remove_file(partial_path(&self.path(i as u32)));
            }
        }
    }
}

/// Checks, writing nothing, that every blob the plan's files need is
/// indexed and in a pack the backend has; names the first file that
/// cannot be restored and how many cannot.
pub fn check_available(repo: &Repository, plan: &RestorePlan) -> Result<(), RestoreError> {
    let mut packs: HashSet<PackId> = HashSet::new();
    for f in &plan.files {
        for id in f.content.iter() {
            match repo.index().get(id) {
                Some(loc) => {
                    packs.insert(loc.pack);
                }
                None => return Err(unavailable(repo, plan, &HashSet::new())),
            }
        }
    }
    let packs: Vec<PackId> = packs.into_iter().collect();
    let gone = repo.missing_packs(&packs);
    if gone.is_empty() {
        return Ok(());
    }
    Err(unavailable(repo, plan, &gone))
}

fn unavailable(repo: &Repository, plan: &RestorePlan, gone: &HashSet<PackId>) -> RestoreError {
    let why = |id: &BlobId| match repo.index().get(id) {
        None => Some(format!("blob {} is in no index", id.short())),
        Some(loc) if gone.contains(&loc.pack) => Some(format!(
            "blob {} is in pack {}, which is missing",
            id.short(),
            loc.pack.to_hex()
        )),
        Some(_) => None,
    };
    let mut count = 0;
    let mut first = String::new();
    for f in &plan.files {
        if let Some(reason) = f.content.iter().find_map(why) {
            if count == 0 {
                first = format!("/{}: {reason}", f.path.display());
            }
            count += 1;
        }
    }
    RestoreError::Unavailable { count, first }
}

/// Restores `plan` under `target`; `threads` pack readers run in parallel.
pub fn restore_to_dir(
    repo: &Repository,
    plan: &RestorePlan,
    target: &Path,
    threads: usize,
    progress: &RestoreProgress,
) -> Result<RestoreReport, RestoreError> {
    check_available(repo, plan)?;
    let mut report = RestoreReport::default();
    // Into a new or empty folder nothing can be in the way, nor left over.
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
    if !fresh {
        remove_partials(target, plan);
    }

    // Files already complete and correct (a re-run) are kept.
    let kept: Vec<bool> = if fresh {
        Vec::new()
    } else {
        let chunker = Chunker::new(repo.config().chunker, repo.key().chunker_seed())?;
        plan.files
            .par_iter()
            .map(|f| already_restored(repo, &chunker, &target.join(&f.path), f))
            .collect()
    };
    let files = Files {
        plan,
        root: target,
        remaining: plan
            .files
            .iter()
            .map(|f| AtomicU32::new(f.content.len() as u32))
            .collect(),
        damaged: plan.files.iter().map(|_| AtomicBool::new(false)).collect(),
        failures: Mutex::new(Vec::new()),
        warnings: Mutex::new(Vec::new()),
        complete: AtomicU64::new(0),
        progress,
    };
    let mut list = Vec::new();
    let mut total = 0;
    for (number, f) in plan.files.iter().enumerate() {
        let number = number as u32;
        if kept.get(number as usize).copied().unwrap_or(false) {
            let path = files.path(number);
            apply_metadata(&path, &f.meta, &mut report.warnings)?;
            files.remaining[number as usize].store(0, Ordering::Relaxed);
            report.files_kept += 1;
            continue;
        }
        total += f.size;
        let mut offset = 0u64;
        for id in f.content.iter() {
            list.push((*id, number, offset));
            offset += repo.index().get(id).map_or(0, |l| l.raw_len as u64);
        }
        if offset != f.size {
            files.fail(
                number,
                format!(
                    "its blobs hold {offset} bytes but the snapshot records {}",
                    f.size
                ),
            );
        }
        if f.content.is_empty() {
            files.finish(number)?;
        }
    }
    list.sort_unstable();
    let targets = Targets { list };

    progress.total.store(total, Ordering::Relaxed);
    progress.files_total.store(
        plan.files.len() as u64 - report.files_kept,
        Ordering::Relaxed,
    );
    let fetched = fetch_blobs(repo, targets.blobs(), threads, &|id, plain| match plain {
        Ok(plain) => write_blob(&targets, &files, id, plain),
        Err(why) => {
            for (file, _) in targets.of(id) {
                files.fail(file, why.clone());
                files.done(file)?;
            }
            Ok(())
        }
    });
    if let Err(e) = fetched {
        files.discard_unfinished();
        return Err(match e {
            RestoreError::Interrupted => RestoreError::InterruptedRestore {
                complete: files.complete.load(Ordering::Relaxed) + report.files_kept,
                total: plan.files.len() as u64,
            },
            other => other,
        });
    }
    report.bytes = progress.done.load(Ordering::Relaxed);
    report.files = files.complete.load(Ordering::Relaxed);
    report.warnings.extend(
        files
            .warnings
            .into_inner()
            .unwrap_or_else(|e| e.into_inner()),
    );

    let damaged: HashSet<PathBuf> = lock(&files.failures)
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    let mut damaged_links = 0;
    for (rel, first, _) in &plan.hardlinks {
        let (path, existing) = (target.join(rel), target.join(first));
        if damaged.contains(&existing) {
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
    let failures = files
        .failures
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((path, why)) = failures.first() {
        return Err(RestoreError::Damaged {
            count: failures.len() + damaged_links,
            first: format!("{}: {why}", path.display()),
        });
    }
    Ok(report)
}

/// Removes temporary files a cut-off restore left in the planned folders.
fn remove_partials(target: &Path, plan: &RestorePlan) {
    let dirs =
        std::iter::once(target.to_path_buf()).chain(plan.dirs.iter().map(|(r, _)| target.join(r)));
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let partial = e
                .file_name()
                .as_bytes()
                .starts_with(PARTIAL_PREFIX.as_bytes());
            if partial && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// True when `path` is a regular file of the planned size whose content,
/// cut and hashed as a backup would, is the planned blobs.
fn already_restored(repo: &Repository, chunker: &Chunker, path: &Path, f: &PlannedFile) -> bool {
    let Ok(m) = fs::symlink_metadata(path) else {
        return false;
    };
    if !m.is_file() || m.len() != f.size {
        return false;
    }
    let Ok(file) = fs::File::open(path) else {
        return false;
    };
    let mut at = 0;
    let same = chunker.for_each_chunk::<_, std::io::Error>(file, |chunk| {
        let ok = f.content.get(at) == Some(&repo.key().blob_id(chunk));
        at += 1;
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::other("differs"))
        }
    });
    same.is_ok() && at == f.content.len()
}

fn open_partial(path: &Path) -> Result<fs::File, RestoreError> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io("open", path, e))
}

/// Writes one verified blob to every place it occurs; blobs of zeros stay
/// holes.
fn write_blob(
    targets: &Targets,
    files: &Files<'_>,
    id: &BlobId,
    plain: &[u8],
) -> Result<(), RestoreError> {
    let zeros = plain.iter().all(|&b| b == 0);
    for (file, offset) in targets.of(id) {
        if !zeros && !files.damaged[file as usize].load(Ordering::Relaxed) {
            let partial = partial_path(&files.path(file));
            open_partial(&partial)?
                .write_all_at(plain, offset)
                .map_err(|e| io("write", &partial, e))?;
        }
        files
            .progress
            .done
            .fetch_add(plain.len() as u64, Ordering::Relaxed);
        files.done(file)?;
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

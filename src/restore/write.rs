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
use super::meta::{apply_metadata, apply_metadata_fd, create_special};
use super::plan::{walk_plan, Meta, PlanSink, PlannedFile, RestorePlan};
use super::RestoreError;
use crate::chunker::Chunker;
use crate::id::{BlobId, PackId};
use crate::repo::Repository;
use crate::snapshot::Node;

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
    /// Nothing was in the target: nothing can stand at a file's name.
    fresh: bool,
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
    /// completes the file, through `open` when the writer still holds it.
    fn done(&self, file: u32, open: Option<fs::File>) -> Result<(), RestoreError> {
        if self.remaining[file as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish_with(file, open)?;
        }
        Ok(())
    }

    fn finish(&self, file: u32) -> Result<(), RestoreError> {
        self.finish_with(file, None)
    }

    /// Renames a complete file into place and sets its metadata; a damaged
    /// one is removed, and so is whatever stood at its name, so nothing
    /// there looks restored.
    fn finish_with(&self, file: u32, open: Option<fs::File>) -> Result<(), RestoreError> {
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
        let out = match open {
            Some(out) => out,
            None => open_partial(&partial)?,
        };
        // Holes left for blobs of zeros, up to the end too.
        let len = out.metadata().map_err(|e| io("stat", &partial, e))?.len();
        if len != f.size {
            out.set_len(f.size).map_err(|e| io("size", &partial, e))?;
        }
        let mut warnings = Vec::new();
        apply_metadata_fd(&out, &path, &f.meta, &mut warnings)?;
        drop(out);
        if !self.fresh && fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir_all(&path).map_err(|e| io("replace", &path, e))?;
        }
        fs::rename(&partial, &path).map_err(|e| io("rename into place", &path, e))?;
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

/// Restores a whole `plan` (an in-place restore's, already in memory)
/// under `target`; `threads` pack readers run in parallel.
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
    let fresh = is_fresh(target);
    fs::create_dir_all(target).map_err(|e| io("create", target, e))?;
    for (rel, _) in &plan.dirs {
        if make_dir(target, rel, fresh)? {
            report.dirs += 1;
        }
    }
    progress.total.store(plan.total_bytes, Ordering::Relaxed);
    progress
        .files_total
        .store(plan.files.len() as u64, Ordering::Relaxed);
    let mut batch = Batches::new(repo, target, fresh, threads, progress);
    batch.write(plan, &mut report)?;
    // Deepest folders first, so setting a child's mtime does not change the
    // parent's after it was set.
    for (rel, node) in plan.dirs.iter().rev() {
        apply_metadata(&target.join(rel), &Meta::from(node), &mut report.warnings)?;
    }
    batch.finish(report)
}

/// Restores the snapshot tree `root` (what passes `filter`) under
/// `target`, streaming: the trees are walked once to check that every blob
/// is there (nothing is written otherwise), then again, writing files in
/// batches of [`BATCH_FILES`], so memory does not grow with the number of
/// files; folders are created as files need them.
pub fn restore_tree(
    repo: &Repository,
    root: &BlobId,
    filter: &super::plan::RestoreFilter,
    target: &Path,
    threads: usize,
    progress: &RestoreProgress,
) -> Result<RestoreReport, RestoreError> {
    let mut census = Census::new(repo);
    walk_plan(repo, root, filter, &mut census)?;
    census.check()?;
    progress.total.store(census.bytes, Ordering::Relaxed);
    progress.files_total.store(census.files, Ordering::Relaxed);
    let fresh = is_fresh(target);
    fs::create_dir_all(target).map_err(|e| io("create", target, e))?;
    let mut sink = StreamSink {
        batches: Batches::new(repo, target, fresh, threads, progress),
        batch: RestorePlan::default(),
        pending: Vec::new(),
        done_dirs: Vec::new(),
        report: RestoreReport::default(),
    };
    walk_plan(repo, root, filter, &mut sink)?;
    sink.flush()?;
    let StreamSink {
        batches,
        done_dirs,
        mut report,
        ..
    } = sink;
    // Folders were left children first: their times stay as set.
    for (rel, meta) in &done_dirs {
        apply_metadata(&target.join(rel), meta, &mut report.warnings)?;
    }
    batches.finish(report)
}

/// Files written per batch of a streaming restore.
pub const BATCH_FILES: usize = 8192;
/// Blob occurrences per batch (large files have many).
const BATCH_BLOBS: usize = 1 << 16;

fn is_fresh(target: &Path) -> bool {
    fs::read_dir(target)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// Makes the folder `rel` under `target` a real folder: anything in the way
/// that is not one (a symlink above all) is replaced, so no later write can
/// be redirected outside the target. True if it was created.
fn make_dir(target: &Path, rel: &Path, fresh: bool) -> Result<bool, RestoreError> {
    let path = target.join(rel);
    if !fresh {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => return Ok(false),
            Ok(_) => fs::remove_file(&path).map_err(|e| io("replace", &path, e))?,
            Err(_) => {}
        }
    }
    fs::create_dir(&path).map_err(|e| io("create folder", &path, e))?;
    Ok(true)
}

/// The first walk of a streaming restore: counts, and where each needed
/// blob lives, without holding the files.
struct Census<'r> {
    repo: &'r Repository,
    files: u64,
    bytes: u64,
    /// Per pack needed: the first file that needs it, and how many do.
    packs: std::collections::HashMap<PackId, (PathBuf, usize)>,
    /// A file whose blob is in no index, and how many such files.
    unindexed: Option<(PathBuf, BlobId)>,
    unindexed_files: usize,
}

impl<'r> Census<'r> {
    fn new(repo: &'r Repository) -> Census<'r> {
        Census {
            repo,
            files: 0,
            bytes: 0,
            packs: Default::default(),
            unindexed: None,
            unindexed_files: 0,
        }
    }

    fn check(&self) -> Result<(), RestoreError> {
        if let Some((path, blob)) = &self.unindexed {
            return Err(RestoreError::Unavailable {
                count: self.unindexed_files,
                first: format!("/{}: blob {} is in no index", path.display(), blob.short()),
            });
        }
        let packs: Vec<PackId> = self.packs.keys().copied().collect();
        let gone = self.repo.missing_packs(&packs);
        let mut gone: Vec<&PackId> = gone.iter().collect();
        gone.sort();
        match gone.first() {
            None => Ok(()),
            Some(pack) => {
                let (first, _) = &self.packs[*pack];
                Err(RestoreError::Unavailable {
                    count: gone.iter().map(|p| self.packs[*p].1).sum(),
                    first: format!(
                        "/{}: it has data in pack {}, which is missing",
                        first.display(),
                        pack.to_hex()
                    ),
                })
            }
        }
    }
}

impl PlanSink for Census<'_> {
    fn enter(&mut self, _: &Path, _: &Node) -> Result<(), RestoreError> {
        Ok(())
    }
    fn leave(&mut self, _: &Path, _: Node, _: bool) -> Result<(), RestoreError> {
        Ok(())
    }
    fn file(&mut self, file: PlannedFile) -> Result<(), RestoreError> {
        self.files += 1;
        self.bytes += file.size;
        let mut packs: Vec<PackId> = Vec::new();
        let mut unindexed = None;
        for id in file.content.iter() {
            match self.repo.index().get(id) {
                Some(loc) if !packs.contains(&loc.pack) => packs.push(loc.pack),
                Some(_) => {}
                None => unindexed = unindexed.or(Some(*id)),
            }
        }
        for pack in packs {
            self.packs
                .entry(pack)
                .or_insert_with(|| (file.path.clone(), 0))
                .1 += 1;
        }
        if let Some(blob) = unindexed {
            self.unindexed_files += 1;
            self.unindexed.get_or_insert((file.path, blob));
        }
        Ok(())
    }
    fn special(&mut self, _: PathBuf, _: Node) -> Result<(), RestoreError> {
        Ok(())
    }
    fn hardlink(&mut self, _: PathBuf, _: PathBuf, _: Node) -> Result<(), RestoreError> {
        Ok(())
    }
}

/// The second walk: folders made when something inside needs them, files
/// gathered into batches and written.
struct StreamSink<'a, 'r> {
    batches: Batches<'a, 'r>,
    batch: RestorePlan,
    /// Folders entered: path, metadata, whether made yet.
    pending: Vec<(PathBuf, Meta, bool)>,
    /// Folders made, children before parents, for their metadata.
    done_dirs: Vec<(PathBuf, Meta)>,
    report: RestoreReport,
}

impl StreamSink<'_, '_> {
    fn make_pending(&mut self) -> Result<(), RestoreError> {
        for (rel, _, made) in self.pending.iter_mut().filter(|(_, _, made)| !*made) {
            if make_dir(self.batches.target, rel, self.batches.fresh)? {
                self.report.dirs += 1;
            }
            *made = true;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), RestoreError> {
        let batch = std::mem::take(&mut self.batch);
        self.batches.write(&batch, &mut self.report)
    }

    fn maybe_flush(&mut self) -> Result<(), RestoreError> {
        let blobs: usize = self.batch.files.iter().map(|f| f.content.len()).sum();
        if self.batch.files.len() >= BATCH_FILES || blobs >= BATCH_BLOBS {
            self.flush()?;
        }
        Ok(())
    }
}

impl PlanSink for StreamSink<'_, '_> {
    fn enter(&mut self, rel: &Path, node: &Node) -> Result<(), RestoreError> {
        self.pending
            .push((rel.to_path_buf(), Meta::from(node), false));
        Ok(())
    }

    fn leave(&mut self, _: &Path, _: Node, kept: bool) -> Result<(), RestoreError> {
        if kept {
            // An included folder is made even when empty.
            self.make_pending()?;
        }
        if let Some((rel, meta, made)) = self.pending.pop() {
            if made {
                self.done_dirs.push((rel, meta));
            }
        }
        Ok(())
    }

    fn file(&mut self, file: PlannedFile) -> Result<(), RestoreError> {
        self.make_pending()?;
        self.batch.total_bytes += file.size;
        self.batch.files.push(file);
        self.maybe_flush()
    }

    fn special(&mut self, rel: PathBuf, node: Node) -> Result<(), RestoreError> {
        self.make_pending()?;
        self.batch.specials.push((rel, node));
        Ok(())
    }

    fn hardlink(&mut self, rel: PathBuf, first: PathBuf, node: Node) -> Result<(), RestoreError> {
        self.make_pending()?;
        self.batch.hardlinks.push((rel, first, node));
        Ok(())
    }
}

/// Writes batches of files (and the specials and hard links with them),
/// keeping the failures and counts across batches.
struct Batches<'a, 'r> {
    repo: &'r Repository,
    target: &'a Path,
    fresh: bool,
    threads: usize,
    progress: &'a RestoreProgress,
    chunker: Option<Chunker>,
    /// Files that could not be restored: path and why (the first few).
    failures: Vec<(PathBuf, String)>,
    failed: usize,
    /// Names of files not restored, for hard links to them.
    damaged: HashSet<PathBuf>,
}

impl<'a, 'r> Batches<'a, 'r> {
    fn new(
        repo: &'r Repository,
        target: &'a Path,
        fresh: bool,
        threads: usize,
        progress: &'a RestoreProgress,
    ) -> Batches<'a, 'r> {
        Batches {
            repo,
            target,
            fresh,
            threads,
            progress,
            chunker: None,
            failures: Vec::new(),
            failed: 0,
            damaged: HashSet::new(),
        }
    }

    /// Writes one batch: its files, then its specials and hard links.
    fn write(
        &mut self,
        plan: &RestorePlan,
        report: &mut RestoreReport,
    ) -> Result<(), RestoreError> {
        let (repo, target) = (self.repo, self.target);
        if !self.fresh {
            remove_partials(target, plan);
            if self.chunker.is_none() {
                self.chunker = Some(Chunker::new(
                    repo.config().chunker,
                    repo.key().chunker_seed(),
                )?);
            }
        }
        // Files already complete and correct (a re-run) are kept.
        let kept: Vec<bool> = match &self.chunker {
            None => Vec::new(),
            Some(chunker) => plan
                .files
                .par_iter()
                .map(|f| already_restored(repo, chunker, &target.join(&f.path), f))
                .collect(),
        };
        let files = Files {
            plan,
            root: target,
            fresh: self.fresh,
            remaining: plan
                .files
                .iter()
                .map(|f| AtomicU32::new(f.content.len() as u32))
                .collect(),
            damaged: plan.files.iter().map(|_| AtomicBool::new(false)).collect(),
            failures: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            complete: AtomicU64::new(0),
            progress: self.progress,
        };
        let mut list = Vec::new();
        for (number, f) in plan.files.iter().enumerate() {
            let number = number as u32;
            if kept.get(number as usize).copied().unwrap_or(false) {
                apply_metadata(&files.path(number), &f.meta, &mut report.warnings)?;
                files.remaining[number as usize].store(0, Ordering::Relaxed);
                report.files_kept += 1;
                self.progress.files_done.fetch_add(1, Ordering::Relaxed);
                self.progress.done.fetch_add(f.size, Ordering::Relaxed);
                continue;
            }
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
        let fetched = fetch_blobs(
            repo,
            targets.blobs(),
            self.threads,
            &|id, plain| match plain {
                Ok(plain) => write_blob(&targets, &files, id, plain),
                Err(why) => {
                    for (file, _) in targets.of(id) {
                        files.fail(file, why.clone());
                        files.done(file, None)?;
                    }
                    Ok(())
                }
            },
        );
        let complete = files.complete.load(Ordering::Relaxed);
        report.files += complete;
        report.warnings.extend(lock(&files.warnings).drain(..));
        if let Err(e) = fetched {
            files.discard_unfinished();
            return Err(match e {
                RestoreError::Interrupted => RestoreError::InterruptedRestore {
                    complete: report.files + report.files_kept,
                    total: self.progress.files_total.load(Ordering::Relaxed),
                },
                other => other,
            });
        }
        let failures = files
            .failures
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        self.failed += failures.len();
        self.damaged.extend(failures.iter().map(|(p, _)| p.clone()));
        self.failures.extend(failures.into_iter().take(8));

        for (rel, first, _) in &plan.hardlinks {
            let (path, existing) = (target.join(rel), target.join(first));
            if self.damaged.contains(&existing) {
                self.failed += 1;
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
        Ok(())
    }

    /// The report, or the error naming what could not be restored.
    fn finish(self, mut report: RestoreReport) -> Result<RestoreReport, RestoreError> {
        report.bytes = self.progress.done.load(Ordering::Relaxed);
        if let Some((path, why)) = self.failures.first() {
            return Err(RestoreError::Damaged {
                count: self.failed,
                first: format!("{}: {why}", path.display()),
            });
        }
        Ok(report)
    }
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
        let mut open = None;
        if !zeros && !files.damaged[file as usize].load(Ordering::Relaxed) {
            let partial = partial_path(&files.path(file));
            let out = open_partial(&partial)?;
            out.write_all_at(plain, offset)
                .map_err(|e| io("write", &partial, e))?;
            // The last write hands the file on: small files are finished
            // without opening them again.
            if files.remaining[file as usize].load(Ordering::Acquire) == 1 {
                open = Some(out);
            }
        }
        files
            .progress
            .done
            .fetch_add(plain.len() as u64, Ordering::Relaxed);
        files.done(file, open)?;
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

//! git repositories at real size, side by side with git and restic: time,
//! peak RSS and stored bytes of `snap backup git:PATH` (first, nothing
//! changed, after 10 commits, after a `git gc`, with a fork beside it) and
//! of `snap restore --target`, against `git bundle create --all`, `git
//! clone --mirror` of that bundle, and restic backing up and restoring the
//! bare folder.
//!
//! The repository is generated with `git fast-import` (30,000 commits
//! changing 3 of 2,000 files each, 11 objects per commit: about 330,000
//! objects, 32 refs), then `git gc` as a server would. Not timed.
//!
//! `cargo bench --bench git`: 30,000 commits (`SNAP_BENCH_GIT_COMMITS`
//! changes it; 91,000 gives a million objects). Under `cargo test` it runs
//! once on 300 commits as a smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{bench_snap as snap, dir_size, measured, run_ok};

/// Files in the generated tree: `dNN/eN/fN.txt`.
const DIRS: usize = 40;
const SUBDIRS: usize = 10;
const FILES: usize = 5;
const LINES: usize = 24;

/// A deterministic history in `git fast-import`'s language: `commits`
/// commits on main from `first` on (continuing `from` when given), each
/// changing one line of 3 files in different top folders; every
/// `commits / 16` commits a branch and a tag are set there.
struct History {
    files: Vec<Vec<String>>,
    state: u64,
    mark: u64,
}

impl History {
    fn new() -> History {
        let files = (0..DIRS * SUBDIRS * FILES)
            .map(|f| {
                (0..LINES)
                    .map(|l| {
                        format!("file {f} line {l}: the quick brown fox jumps over the lazy dog")
                    })
                    .collect()
            })
            .collect();
        History {
            files,
            state: 0x9e37_79b9_7f4a_7c15,
            mark: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn path(f: usize) -> String {
        let (d, rest) = (f / (SUBDIRS * FILES), f % (SUBDIRS * FILES));
        format!("d{d:02}/e{}/f{}.txt", rest / FILES, rest % FILES)
    }

    /// Writes `commits` commits (numbered from `first`) to `out`; with
    /// `refs`, 15 branches and 16 tags along the way.
    fn write(&mut self, out: &mut dyn Write, first: usize, commits: usize, refs: bool) {
        let every = (commits / 16).max(1);
        for c in first..first + commits {
            let mut changed = Vec::new();
            for k in 0..3 {
                let d = (self.next() as usize % (DIRS / 3)) * 3 + k;
                let f = d * SUBDIRS * FILES + self.next() as usize % (SUBDIRS * FILES);
                let line = self.next() as usize % LINES;
                self.files[f][line] = format!("file {f} line {line}: changed by commit {c}");
                let body = self.files[f].join("\n") + "\n";
                self.mark += 1;
                write!(
                    out,
                    "blob\nmark :{}\ndata {}\n{body}\n",
                    self.mark,
                    body.len()
                )
                .unwrap();
                changed.push((f, self.mark));
            }
            let msg = format!("commit {c}\n");
            write!(
                out,
                "commit refs/heads/main\ncommitter Bench <bench@example.invalid> {} +0000\ndata {}\n{msg}",
                1_700_000_000 + c as u64 * 60,
                msg.len()
            )
            .unwrap();
            if c == first && first > 0 {
                // A later run continues main where the repository has it.
                writeln!(out, "from refs/heads/main^0").unwrap();
            }
            for (f, mark) in changed {
                writeln!(out, "M 100644 :{mark} {}", Self::path(f)).unwrap();
            }
            writeln!(out).unwrap();
            if refs && (c - first + 1) % every == 0 && (c - first + 1) / every <= 16 {
                let n = (c - first + 1) / every;
                if n < 16 {
                    writeln!(
                        out,
                        "reset refs/heads/release-{n:02}\nfrom refs/heads/main\n"
                    )
                    .unwrap();
                }
                writeln!(out, "reset refs/tags/v{n}\nfrom refs/heads/main\n").unwrap();
            }
        }
    }
}

/// `git fast-import` into `repo` (created bare when new), fed by `write`.
fn fast_import(repo: &Path, feed: impl FnOnce(&mut dyn Write)) {
    if !repo.exists() {
        run_ok(
            git(
                repo.parent().unwrap(),
                &["init", "-q", "--bare", "-b", "main"],
            )
            .arg(repo)
            .0,
        );
    }
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        feed(&mut stdin);
        stdin.flush().unwrap();
    }
    assert!(child.wait().unwrap().success(), "git fast-import failed");
}

/// A git command (a wrapper so `.arg()` chains read well).
struct Git(Command);

impl Git {
    fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Git {
        self.0.arg(a);
        self
    }
}

/// `git -C DIR ARGS`: `measured` runs commands through GNU time, which
/// keeps arguments but not a working folder.
fn git(dir: &Path, args: &[&str]) -> Git {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir).args(args);
    Git(c)
}

fn output(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn refs(git_dir: &Path) -> String {
    output(
        git_dir,
        &["for-each-ref", "--format=%(objectname) %(refname)"],
    )
}

fn restic(repo: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("restic");
    c.env("RESTIC_PASSWORD", "bench")
        .arg("-r")
        .arg(repo)
        .arg("--cache-dir")
        .arg(repo.with_extension("cache"))
        .args(args);
    c
}

fn mb(b: u64) -> String {
    if b < 1_000_000 {
        format!("{:.1} KB", b as f64 / 1e3)
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

fn rss(r: Option<u64>) -> String {
    r.map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
        .unwrap_or_default()
}

fn row(name: &str, (secs, r): (f64, Option<u64>), stored: &str) {
    println!("| {name} | {secs:.2} | {} | {stored} |", rss(r));
}

/// Backs up `location` into `repo` and returns (time, RSS) and bytes stored.
fn backup(repo: &Path, location: &str) -> ((f64, Option<u64>), u64) {
    let before = dir_size(repo);
    let r = measured(snap(repo, &["-q", "backup", location]));
    (r, dir_size(repo) - before)
}

fn main() {
    let commits = common::bench_size("SNAP_BENCH_GIT_COMMITS", 30_000, 300);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let origin = w.join("git/origin.git");
    std::fs::create_dir_all(w.join("git")).unwrap();
    let mut history = History::new();
    fast_import(&origin, |out| history.write(out, 0, commits, true));
    run_ok(git(&origin, &["gc", "-q"]).0);
    let objects: u64 = output(&origin, &["count-objects", "-v"])
        .lines()
        .filter_map(|l| {
            l.strip_prefix("in-pack: ")
                .or_else(|| l.strip_prefix("count: "))
        })
        .map(|n| n.trim().parse::<u64>().unwrap())
        .sum();
    let nrefs = refs(&origin).lines().count();
    println!(
        "repository: {commits} commits, {objects} objects, {nrefs} refs, {} on disk after git gc; {}",
        mb(dir_size(&origin)),
        output(w, &["--version"]).trim()
    );
    println!("| operation | seconds | peak RSS | stored |");
    println!("|---|---:|---:|---:|");

    // git: a bundle of everything, and a mirror clone of it.
    let bundle = w.join("all.bundle");
    let r = measured(
        git(&origin, &["bundle", "create", "-q"])
            .arg(&bundle)
            .arg("--all")
            .0,
    );
    let bundle_size = std::fs::metadata(&bundle).unwrap().len();
    row("git bundle create --all", r, &mb(bundle_size));
    let mirror = w.join("mirror.git");
    let r = measured(
        git(w, &["clone", "-q", "--mirror"])
            .arg(&bundle)
            .arg(&mirror)
            .0,
    );
    row("git clone --mirror of the bundle", r, "");
    assert_eq!(refs(&mirror), refs(&origin));

    // snap.
    let repo = w.join("snap");
    run_ok(snap(&repo, &["init"]));
    let location = format!("git:{}", w.join("git").display());
    let (r, stored) = backup(&repo, &location);
    row("snap backup (first)", r, &format!("+{}", mb(stored)));
    let (r, stored) = backup(&repo, &location);
    row(
        "snap backup, nothing changed",
        r,
        &format!("+{}", mb(stored)),
    );
    fast_import(&origin, |out| history.write(out, commits, 10, false));
    let (r, stored) = backup(&repo, &location);
    row(
        "snap backup after 10 commits",
        r,
        &format!("+{}", mb(stored)),
    );
    run_ok(git(&origin, &["gc", "-q"]).0);
    let (r, stored) = backup(&repo, &location);
    row("snap backup after git gc", r, &format!("+{}", mb(stored)));

    // The chain limit, or --force, writes a full pack again: after the gc
    // it shares most blobs with the packs already stored.
    let before = dir_size(&repo);
    let r = measured(snap(&repo, &["-q", "backup", "--force", &location]));
    row(
        "snap backup --force (a full pack again, after the gc)",
        r,
        &format!("+{}", mb(dir_size(&repo) - before)),
    );

    let target = w.join("restored");
    let r = measured(snap(&repo, &["-q", "restore", "latest", "--target"]).arg_path(&target));
    row("snap restore --target (bare, refs set)", r, "");
    assert_eq!(refs(&target.join("origin.git")), refs(&origin));
    if commits <= 1000 {
        run_ok(
            git(
                &target.join("origin.git"),
                &["fsck", "--full", "--strict", "--no-dangling"],
            )
            .0,
        );
    }

    // A fork beside the original: cloned over git's protocol (its own
    // packing), with 10 commits of its own.
    let fork = w.join("git/fork.git");
    run_ok(
        git(w, &["clone", "-q", "--bare", "--no-local"])
            .arg(&origin)
            .arg(&fork)
            .0,
    );
    fast_import(&fork, |out| history.write(out, commits + 10, 10, false));
    let forks = w.join("snap-forks");
    run_ok(snap(&forks, &["init"]));
    let (r, stored) = backup(&forks, &location);
    row(
        "snap backup of the repository and its fork (fresh repository)",
        r,
        &format!("+{}", mb(stored)),
    );
    let alone = w.join("snap-alone");
    run_ok(snap(&alone, &["init"]));
    let (_, alone_stored) = backup(&alone, &format!("git:{}", origin.display()));
    println!(
        "(the fork costs {} beside the repository alone, which stores {})",
        mb(stored.saturating_sub(alone_stored)),
        mb(alone_stored)
    );
    std::fs::remove_dir_all(&fork).unwrap();

    // restic on the bare folder.
    if Command::new("restic").arg("version").output().is_ok() {
        let rrepo = w.join("restic");
        run_ok(restic(&rrepo, &["init", "-q"]));
        let r = measured(restic(&rrepo, &["backup", "-q"]).arg_path(&origin));
        row("restic backup of the bare folder", r, &mb(dir_size(&rrepo)));
        let rtarget = w.join("restic-restored");
        let r =
            measured(restic(&rrepo, &["restore", "-q", "latest", "--target"]).arg_path(&rtarget));
        row("restic restore", r, "");
    } else {
        println!("| restic (not installed) | | | |");
    }
}

/// `.arg(path)` on a std Command, returning it (for `measured`).
trait ArgPath {
    fn arg_path(self, p: &Path) -> Command;
}

impl ArgPath for Command {
    fn arg_path(mut self, p: &Path) -> Command {
        self.arg(p);
        self
    }
}

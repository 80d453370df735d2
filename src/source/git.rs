//! The git source: `git:PATH` names a repository (bare or with a work
//! tree) or a folder holding many, found recursively. Everything is read
//! through the `git` program: refs once (`for-each-ref`, `HEAD`), then the
//! objects reachable from exactly those refs as one pack stream that git
//! writes (`pack-objects --revs --stdout`, thin against what an earlier
//! capture holds). A push during the backup moves refs that were already
//! read, so the captured set is never torn.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::SourceError;

/// Whether a backup argument names git repositories.
pub fn is_git_location(text: &str) -> bool {
    text.starts_with("git:")
}

/// One repository found under a `git:` location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundRepo {
    /// Its git folder (the repository itself when bare, else its `.git`).
    pub git_dir: PathBuf,
    /// Path relative to the location (`""` when the location is the
    /// repository), with `/` separators.
    pub relative: String,
    /// Whether it is bare.
    pub bare: bool,
}

/// A ref as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitRefValue {
    /// Full name (`refs/heads/main`, `HEAD`).
    pub name: String,
    /// The object it names (hex), or for a symbolic ref the ref it points to.
    pub target: String,
    /// Whether `target` is a ref name.
    pub symbolic: bool,
}

fn git_err(what: &str, path: &Path, reason: impl std::fmt::Display) -> SourceError {
    SourceError::Location {
        location: path.display().to_string(),
        reason: format!("git {what}: {reason}"),
    }
}

fn git(git_dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("--git-dir").arg(git_dir);
    // Never ask for credentials or consult a pager.
    c.env("GIT_TERMINAL_PROMPT", "0").env("GIT_PAGER", "cat");
    c
}

/// Runs git and returns stdout.
fn output(git_dir: &Path, what: &str, args: &[&str]) -> Result<Vec<u8>, SourceError> {
    let out = git(git_dir).args(args).output().map_err(|e| {
        git_err(
            what,
            git_dir,
            format!("{e}; is git installed (Debian: apt-get install git)?"),
        )
    })?;
    if !out.status.success() {
        return Err(git_err(
            what,
            git_dir,
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    Ok(out.stdout)
}

/// `git --version`'s answer (`git version 2.47.0`), for the manifest.
pub fn git_version() -> Result<String, SourceError> {
    let out = Command::new("git")
        .arg("--version")
        .output()
        .map_err(|e| git_err("run", Path::new("git"), e))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Finds the repositories at or under `root`: `root` itself if it is one,
/// else every repository below it (not looking inside repositories).
pub fn find_repos(root: &Path) -> Result<Vec<FoundRepo>, SourceError> {
    let meta = std::fs::metadata(root).map_err(|e| SourceError::Io {
        action: "back up",
        path: root.display().to_string(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(SourceError::Location {
            location: format!("git:{}", root.display()),
            reason: "not a folder: give a git repository or a folder holding some".into(),
        });
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    if out.is_empty() {
        return Err(SourceError::Location {
            location: format!("git:{}", root.display()),
            reason: "no git repository found there".into(),
        });
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<FoundRepo>) -> Result<(), SourceError> {
    let relative = dir
        .strip_prefix(root)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    if dir.join(".git").is_dir() {
        out.push(FoundRepo {
            git_dir: dir.join(".git"),
            relative,
            bare: false,
        });
        return Ok(());
    }
    if dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir() {
        out.push(FoundRepo {
            git_dir: dir.to_path_buf(),
            relative,
            bare: true,
        });
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| SourceError::Io {
        action: "list",
        path: dir.display().to_string(),
        source: e,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        walk(root, &d, out)?;
    }
    Ok(())
}

/// `sha1` or `sha256`.
pub fn object_format(git_dir: &Path) -> Result<String, SourceError> {
    let out = output(git_dir, "rev-parse", &["rev-parse", "--show-object-format"])?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Every ref, read once: `HEAD` (symbolic or detached), then all refs under
/// `refs/` in name order, symbolic ones with their targets.
pub fn read_refs(git_dir: &Path) -> Result<Vec<GitRefValue>, SourceError> {
    let mut refs = Vec::new();
    let head = git(git_dir)
        .args(["symbolic-ref", "-q", "HEAD"])
        .output()
        .map_err(|e| git_err("symbolic-ref", git_dir, e))?;
    if head.status.success() {
        refs.push(GitRefValue {
            name: "HEAD".into(),
            target: String::from_utf8_lossy(&head.stdout).trim().to_string(),
            symbolic: true,
        });
    } else if let Ok(oid) = output(
        git_dir,
        "rev-parse",
        &["rev-parse", "-q", "--verify", "HEAD"],
    ) {
        refs.push(GitRefValue {
            name: "HEAD".into(),
            target: String::from_utf8_lossy(&oid).trim().to_string(),
            symbolic: false,
        });
    }
    let list = output(
        git_dir,
        "for-each-ref",
        &[
            "for-each-ref",
            "--format=%(objectname) %(refname) %(symref)",
            "refs/",
        ],
    )?;
    for line in String::from_utf8_lossy(&list).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(oid), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        let symref = parts.next().unwrap_or("").trim();
        refs.push(if symref.is_empty() {
            GitRefValue {
                name: name.to_string(),
                target: oid.to_string(),
                symbolic: false,
            }
        } else {
            GitRefValue {
                name: name.to_string(),
                target: symref.to_string(),
                symbolic: true,
            }
        });
    }
    Ok(refs)
}

/// Which of `oids` the repository has (`git cat-file --batch-check`), in
/// the order given.
pub fn existing_objects(git_dir: &Path, oids: &[String]) -> Result<Vec<String>, SourceError> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = git(git_dir)
        .args(["cat-file", "--batch-check=%(objectname) %(objecttype)"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_err("cat-file", git_dir, e))?;
    let input = oids.join("\n") + "\n";
    let writer = child
        .stdin
        .take()
        .map(|mut stdin| std::thread::spawn(move || stdin.write_all(input.as_bytes())));
    let out = child
        .wait_with_output()
        .map_err(|e| git_err("cat-file", git_dir, e))?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    if !out.status.success() {
        return Err(git_err(
            "cat-file",
            git_dir,
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    // "<oid> <type>" for each present object, "<oid> missing" otherwise.
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.ends_with(" missing"))
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect())
}

/// Settings for `git pack-objects` that bound its memory whatever the
/// repository's size: caches of deltas it computes and of delta bases it
/// expands (256 MiB and 96 MiB by default). Deltas already on disk are
/// reused as they are, so these cost little time.
const PACK_LIMITS: [&str; 6] = [
    "-c",
    "pack.deltaCacheSize=16m",
    "-c",
    "core.deltaBaseCacheLimit=16m",
    "-c",
    "pack.windowMemory=64m",
];

/// A running `git pack-objects --revs --stdout` (§15.4): the pack of the
/// objects `tips` reach and `exclude` do not, thin (deltas against excluded
/// objects) when `exclude` is not empty. Read it to its end with
/// [`PackStream::reader`], then [`PackStream::finish`] says whether git
/// read everything.
pub struct PackStream {
    child: Child,
    stdout: Option<ChildStdout>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    git_dir: PathBuf,
    empty: std::io::Empty,
}

impl PackStream {
    /// Starts git; the revisions are written to it from a thread, so a
    /// long list cannot block against its output.
    pub fn start(
        git_dir: &Path,
        tips: &[String],
        exclude: &[String],
    ) -> Result<PackStream, SourceError> {
        let mut cmd = Command::new("git");
        cmd.args(PACK_LIMITS)
            .arg("--git-dir")
            .arg(git_dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .args([
                "pack-objects",
                "--revs",
                "--stdout",
                "-q",
                "--delta-base-offset",
            ]);
        if !exclude.is_empty() {
            cmd.arg("--thin");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                git_err(
                    "pack-objects",
                    git_dir,
                    format!("{e}; is git installed (Debian: apt-get install git)?"),
                )
            })?;
        let mut input = String::new();
        for t in tips {
            input.push_str(t);
            input.push('\n');
        }
        for e in exclude {
            input.push('^');
            input.push_str(e);
            input.push('\n');
        }
        let writer = child
            .stdin
            .take()
            .map(|mut stdin| std::thread::spawn(move || stdin.write_all(input.as_bytes())));
        // Keep what git says (a few KiB at most) for the error message.
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = (&mut e).take(16 << 10).read_to_end(&mut text);
                let _ = std::io::copy(&mut e, &mut std::io::sink());
                text
            })
        });
        Ok(PackStream {
            stdout: child.stdout.take(),
            child,
            writer,
            stderr,
            git_dir: git_dir.to_path_buf(),
            empty: std::io::empty(),
        })
    }

    /// The pack's bytes as git writes them.
    pub fn reader(&mut self) -> &mut dyn Read {
        match &mut self.stdout {
            Some(s) => s,
            None => &mut self.empty,
        }
    }

    /// Waits for git; an error when it failed (a missing or damaged
    /// object), with what it said.
    pub fn finish(mut self) -> Result<(), SourceError> {
        drop(self.stdout.take());
        let status = self
            .child
            .wait()
            .map_err(|e| git_err("pack-objects", &self.git_dir, e))?;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let said = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if !status.success() {
            return Err(git_err(
                "pack-objects",
                &self.git_dir,
                format!("{} ({status})", String::from_utf8_lossy(&said).trim()),
            ));
        }
        Ok(())
    }
}

impl Drop for PackStream {
    fn drop(&mut self) {
        // Stopped early (Ctrl-C, a full repository): git must not linger.
        if self.stdout.is_some() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The object count of a pack from its 12-byte header (`PACK`, version 2
/// or 3, count, big-endian).
pub fn pack_object_count(header: &[u8]) -> Result<u64, SourceError> {
    let bad = || SourceError::Location {
        location: "git pack-objects".into(),
        reason: format!(
            "wrote no valid pack header ({} bytes); is git older than 1.5?",
            header.len()
        ),
    };
    let h: &[u8; 12] = header
        .get(..12)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(bad)?;
    if &h[..4] != b"PACK" || !matches!(u32::from_be_bytes([h[4], h[5], h[6], h[7]]), 2 | 3) {
        return Err(bad());
    }
    Ok(u64::from(u32::from_be_bytes([h[8], h[9], h[10], h[11]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert!(is_git_location("git:/srv/git"));
        assert!(!is_git_location("/srv/git"));
    }
}

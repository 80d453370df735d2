//! The git source: `git:PATH` names a repository (bare or with a work
//! tree) or a folder holding many, found recursively. Everything is read
//! through the `git` program: refs once (`for-each-ref`, `HEAD`), then the
//! objects reachable from exactly those refs (`rev-list --objects`), their
//! contents streamed by `cat-file --batch`. A push during the backup moves
//! refs that were already read, so the captured set is never torn.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

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

/// The IDs of every object reachable from `tips`, each once.
pub fn reachable_objects(git_dir: &Path, tips: &[String]) -> Result<Vec<String>, SourceError> {
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = git(git_dir)
        .args(["rev-list", "--objects", "--no-object-names", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_err("rev-list", git_dir, e))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = tips.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| git_err("rev-list", git_dir, e))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(git_err(
            "rev-list",
            git_dir,
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Streams object contents: `git cat-file --batch`.
pub struct ObjectReader {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    git_dir: PathBuf,
}

/// One object's type (`commit`, `tree`, `blob`, `tag`) and content.
pub struct GitObject {
    /// Object type.
    pub kind: String,
    /// Its bytes, without git's `type size\0` header.
    pub content: Vec<u8>,
}

impl ObjectReader {
    /// Starts `git cat-file --batch` on the repository.
    pub fn open(git_dir: &Path) -> Result<ObjectReader, SourceError> {
        let mut child = git(git_dir)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| git_err("cat-file", git_dir, e))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped"));
        Ok(ObjectReader {
            child,
            stdin,
            stdout,
            git_dir: git_dir.to_path_buf(),
        })
    }

    /// Reads one object.
    pub fn read(&mut self, oid: &str) -> Result<GitObject, SourceError> {
        let err = |e: String| git_err("cat-file", &self.git_dir, e);
        let stdin = self.stdin.as_mut().ok_or_else(|| err("closed".into()))?;
        writeln!(stdin, "{oid}")
            .and_then(|_| stdin.flush())
            .map_err(|e| err(e.to_string()))?;
        let mut header = String::new();
        self.stdout
            .read_line(&mut header)
            .map_err(|e| err(e.to_string()))?;
        // "<oid> <type> <size>\n", or "<oid> missing\n".
        let parts: Vec<&str> = header.split_whitespace().collect();
        let (kind, size) = match parts.as_slice() {
            [_, kind, size] => (
                kind.to_string(),
                size.parse::<usize>()
                    .map_err(|_| err(format!("bad header {header:?}")))?,
            ),
            _ => {
                return Err(err(format!(
                    "object {oid} is missing: the repository is damaged (run git fsck)"
                )))
            }
        };
        let mut content = vec![0; size];
        self.stdout
            .read_exact(&mut content)
            .map_err(|e| err(e.to_string()))?;
        let mut newline = [0u8; 1];
        self.stdout
            .read_exact(&mut newline)
            .map_err(|e| err(e.to_string()))?;
        Ok(GitObject { kind, content })
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
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

//! Restoring captured git repositories (spec §15.3): each as a new bare
//! repository under the target folder, its objects fed to git (a chain of
//! packs to `git index-pack`, §15.4; objects stored one by one, format
//! v1.3-v1.4, as loose objects checked against their IDs, then `git
//! repack`), the refs set as they were; repositories in parallel, all of
//! them before the first mirror push.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rayon::prelude::*;
use serde::Serialize;

use super::git_pack::{self, Layout};
use super::RestoreError;
use crate::id::BlobId;
use crate::repo::Repository;
use crate::snapshot::{for_each_range_leaf, load_tree, GitRepoMeta, NodeType, SnapshotManifest};

/// One restored repository.
#[derive(Debug, Serialize)]
pub struct GitRepoRestored {
    /// Its name in the snapshot.
    pub name: String,
    /// Where it was created.
    pub path: String,
    /// Refs set.
    pub refs: usize,
    /// Objects written.
    pub objects: u64,
    /// What pushing it to a server changed (`--git-push`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<GitPushReport>,
    /// Why it was not restored: the backup could not read it (§15.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_captured: Option<String>,
}

/// What a mirror push changed on the server.
#[derive(Debug, Default, Serialize)]
pub struct GitPushReport {
    /// Where it was pushed.
    pub url: String,
    /// Refs created on the server.
    pub created: Vec<String>,
    /// Refs moved (fast-forward or forced).
    pub updated: Vec<String>,
    /// Refs deleted (the snapshot lacks them).
    pub deleted: Vec<String>,
    /// Refs already as in the snapshot.
    pub unchanged: usize,
}

/// Restores every repository of the snapshot's git source under `target`
/// (`threads` at once), and with `push` (a URL template with `{repo}`)
/// pushes each as a mirror. A snapshot without git repositories restores
/// nothing; a repository the backup could not read is reported, not
/// restored.
pub fn restore_git(
    repo: &Repository,
    manifest: &SnapshotManifest,
    target: &Path,
    push: Option<&str>,
    dry_run: bool,
    threads: usize,
) -> Result<Vec<GitRepoRestored>, RestoreError> {
    let captured = captured_repos(repo, manifest)?;
    let mut plans = Vec::new();
    for (name, meta, subtree) in captured {
        let dest = match &meta.error {
            Some(_) => None,
            None => Some(destination(target, &name, meta.bare)?),
        };
        plans.push((name, meta, subtree, dest));
    }
    // One repository per core at most: each `git index-pack` runs threads
    // of its own, and holds memory that grows with its repository.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.min(cores).clamp(1, plans.len().max(1)))
        .build()
        .map_err(|e| io_err("start threads for", target, std::io::Error::other(e)))?;
    // Every repository is recreated (each object checked against its ID)
    // before the first push, so a damaged object leaves every server as
    // it was.
    pool.install(|| {
        plans
            .par_iter()
            .try_for_each(|(name, meta, subtree, dest)| match dest {
                Some(dest) => restore_one(repo, name, meta, subtree, dest),
                None => Ok(()),
            })
    })?;
    let mut out = Vec::new();
    for (repo_name, meta, _, dest) in plans {
        let Some(dest) = dest else {
            out.push(GitRepoRestored {
                path: String::new(),
                refs: meta.refs.len(),
                objects: 0,
                push: None,
                not_captured: meta.error.clone(),
                name: repo_name,
            });
            continue;
        };
        let push = match push {
            Some(template) => Some(push_mirror(
                &dest,
                &push_url(template, &repo_name),
                &meta,
                dry_run,
            )?),
            None => None,
        };
        out.push(GitRepoRestored {
            name: repo_name,
            path: dest.display().to_string(),
            refs: meta.refs.len(),
            objects: meta.objects,
            push,
            not_captured: None,
        });
    }
    Ok(out)
}

/// Reads and authenticates every object of the snapshot's repositories,
/// writing nothing: a restore that changes other things first (a platform
/// profile's files and etcd) checks that its git part can be done.
pub fn verify_objects(
    repo: &Repository,
    manifest: &SnapshotManifest,
    threads: usize,
) -> Result<(), RestoreError> {
    let mut owner: Vec<(BlobId, String)> = Vec::new();
    for (name, meta, subtree) in captured_repos(repo, manifest)? {
        if meta.error.is_some() {
            continue;
        }
        match git_pack::layout(repo, &subtree, &name)? {
            Layout::Packs(packs) => {
                owner.extend(git_pack::chain_blobs(&packs).map(|id| (*id, name.clone())));
            }
            Layout::Objects(objects) => for_each_range_leaf(
                repo,
                &objects,
                b"",
                (NodeType::GitRange, NodeType::GitObject),
                &mut |n| {
                    for id in n.content.iter().flatten() {
                        owner.push((*id, name.clone()));
                    }
                    Ok(())
                },
            )?,
        }
    }
    let failed: std::sync::Mutex<Option<(BlobId, String)>> = Default::default();
    super::fetch::fetch_blobs(
        repo,
        owner.iter().map(|(id, _)| id),
        threads,
        &|id, plain| {
            if let Err(why) = plain {
                failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert((*id, why));
            }
            Ok(())
        },
    )?;
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        None => Ok(()),
        Some((blob, why)) => {
            let name = owner
                .iter()
                .find(|(b, _)| *b == blob)
                .map(|(_, n)| n.clone())
                .unwrap_or_default();
            Err(RestoreError::Git(format!(
                "git repository {name} of the snapshot cannot be restored ({why}); nothing was changed; `snap repair snapshots` saves a copy of the snapshot without it"
            )))
        }
    }
}

/// Checks, writing nothing, that every repository of the snapshot can be
/// recreated under `target` (its folder is new or empty).
pub fn check_destinations(
    repo: &Repository,
    manifest: &SnapshotManifest,
    target: &Path,
) -> Result<(), RestoreError> {
    for (name, meta, _) in captured_repos(repo, manifest)? {
        if meta.error.is_none() {
            destination(target, &name, meta.bare)?;
        }
    }
    Ok(())
}

/// The snapshot's repositories: name, metadata and object range tree.
fn captured_repos(
    repo: &Repository,
    manifest: &SnapshotManifest,
) -> Result<Vec<(String, GitRepoMeta, BlobId)>, RestoreError> {
    let Some(record) = manifest.sources.iter().find(|s| s.kind == "git") else {
        return Ok(Vec::new());
    };
    let name = record.node.clone().unwrap_or_default();
    let root = load_tree(repo, &manifest.tree)?;
    let Some(subtree) = root
        .find(name.as_bytes())
        .filter(|n| n.node_type == NodeType::Git)
        .and_then(|n| n.subtree)
    else {
        return Err(RestoreError::Unsafe {
            path: format!("/{name}"),
            reason: "the snapshot's git record names no git node".into(),
        });
    };
    let mut out = Vec::new();
    for node in load_tree(repo, &subtree)?.nodes {
        let (Some(meta), Some(objects), NodeType::GitRepo) =
            (node.git, node.subtree, node.node_type)
        else {
            return Err(RestoreError::Unsafe {
                path: format!("/{name}/{}", node.name.display()),
                reason: "not a git repository node".into(),
            });
        };
        out.push((node.name.display(), meta, objects));
    }
    Ok(out)
}

/// `TARGET/NAME`, with `.git` added to a repository that had a work tree;
/// refuses names that could leave the target and folders in use.
fn destination(target: &Path, name: &str, bare: bool) -> Result<PathBuf, RestoreError> {
    let unsafe_name = |reason: &str| RestoreError::Unsafe {
        path: name.to_string(),
        reason: reason.to_string(),
    };
    let mut dest = target.to_path_buf();
    for part in name.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\0') {
            return Err(unsafe_name(
                "a repository name must be relative, without . or ..",
            ));
        }
        dest.push(part);
    }
    if !bare && !name.ends_with(".git") {
        let mut with = dest.into_os_string();
        with.push(".git");
        dest = PathBuf::from(with);
    }
    if std::fs::read_dir(&dest).is_ok_and(|mut d| d.next().is_some()) {
        return Err(RestoreError::Git(format!(
            "{} exists and is not empty: restore git repositories into an empty folder",
            dest.display()
        )));
    }
    Ok(dest)
}

/// The template with `{repo}` replaced by the repository's name without a
/// trailing `.git` (`ssh://git@host/{repo}.git`).
pub fn push_url(template: &str, name: &str) -> String {
    template.replace("{repo}", name.strip_suffix(".git").unwrap_or(name))
}

/// `git push --mirror`: the server's refs become the snapshot's, refs it
/// has beyond them are deleted. A local server (`file://` or a path) that
/// does not exist is created bare, and its HEAD is set as captured. With
/// `dry_run` the server is not changed: the report says what would be.
fn push_mirror(
    dest: &Path,
    url: &str,
    meta: &GitRepoMeta,
    dry_run: bool,
) -> Result<GitPushReport, RestoreError> {
    let local = url
        .strip_prefix("file://")
        .or_else(|| url.starts_with('/').then_some(url))
        .map(PathBuf::from);
    if let Some(path) = &local {
        if !path.exists() && dry_run {
            // Nothing to compare with: every ref would be created.
            return Ok(GitPushReport {
                url: url.to_string(),
                created: meta
                    .refs
                    .iter()
                    .filter(|r| !r.symbolic)
                    .map(|r| r.name.clone())
                    .collect(),
                ..Default::default()
            });
        }
        if !path.exists() {
            init_bare(path, &meta.object_format)?;
        }
    }
    let mut args = vec!["push", "--mirror", "--porcelain"];
    if dry_run {
        args.push("--dry-run");
    }
    args.push(url);
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(dest)
        .args(&args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| io_err("run git push from", dest, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(RestoreError::Git(format!(
            "git push --mirror to {url} failed: {} {}; the restored repository is at {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            text.trim(),
            dest.display()
        )));
    }
    let mut report = GitPushReport {
        url: url.to_string(),
        ..Default::default()
    };
    // Porcelain lines: FLAG \t FROM:TO \t SUMMARY.
    for line in text.lines() {
        let mut parts = line.split('\t');
        let (Some(flag), Some(refs)) = (parts.next(), parts.next()) else {
            continue;
        };
        let name = refs.rsplit(':').next().unwrap_or(refs).to_string();
        match flag {
            "*" => report.created.push(name),
            " " | "+" => report.updated.push(name),
            "-" => report.deleted.push(name),
            "=" => report.unchanged += 1,
            _ => {}
        }
    }
    if let (Some(path), Some(head), false) = (
        &local,
        meta.refs.iter().find(|r| r.name == "HEAD" && r.symbolic),
        dry_run,
    ) {
        run_git(path, &["symbolic-ref", "HEAD", &head.target], None)?;
    }
    Ok(report)
}

/// `git init --bare` with the captured object format.
fn init_bare(path: &Path, object_format: &str) -> Result<(), RestoreError> {
    let out = Command::new("git")
        .args(["init", "--bare", "-q"])
        .arg(format!("--object-format={object_format}"))
        .arg(path)
        .output()
        .map_err(|e| io_err("run git init in", path, e))?;
    if !out.status.success() {
        return Err(RestoreError::Git(format!(
            "git init in {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn run_git(dest: &Path, args: &[&str], input: Option<&[u8]>) -> Result<(), RestoreError> {
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(dest)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io_err("run git", dest, e))?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(data)
            .map_err(|e| io_err("write to git", dest, e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| io_err("run git", dest, e))?;
    if !out.status.success() {
        return Err(RestoreError::Git(format!(
            "git {} in {} failed: {}",
            args.join(" "),
            dest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn io_err(action: &'static str, path: &Path, e: std::io::Error) -> RestoreError {
    RestoreError::Io {
        action,
        path: path.display().to_string(),
        source: e,
    }
}

fn restore_one(
    repo: &Repository,
    name: &str,
    meta: &GitRepoMeta,
    subtree: &BlobId,
    dest: &Path,
) -> Result<(), RestoreError> {
    std::fs::create_dir_all(dest).map_err(|e| io_err("create", dest, e))?;
    init_bare(dest, &meta.object_format)?;
    match git_pack::layout(repo, subtree, name)? {
        Layout::Packs(packs) => {
            git_pack::write_packs(repo, &packs, dest)?;
            set_refs(dest, meta)
        }
        Layout::Objects(objects) => {
            write_loose_objects(repo, meta, &objects, dest)?;
            set_refs(dest, meta)?;
            run_git(dest, &["repack", "-a", "-d", "-q"], None)
        }
    }
}

/// Plain refs in one transaction, then symbolic ones (HEAD last).
fn set_refs(dest: &Path, meta: &GitRepoMeta) -> Result<(), RestoreError> {
    let mut updates = String::new();
    for r in meta.refs.iter().filter(|r| !r.symbolic && r.name != "HEAD") {
        updates.push_str(&format!("update {} {}\n", r.name, r.target));
    }
    run_git(dest, &["update-ref", "--stdin"], Some(updates.as_bytes()))?;
    for r in &meta.refs {
        match (r.symbolic, r.name.as_str()) {
            (true, name) => run_git(dest, &["symbolic-ref", name, &r.target], None)?,
            (false, "HEAD") => {
                run_git(dest, &["update-ref", "--no-deref", "HEAD", &r.target], None)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// Objects stored one by one (format v1.3-v1.4): each written as a loose
/// object once its hash matches its ID.
fn write_loose_objects(
    repo: &Repository,
    meta: &GitRepoMeta,
    objects: &BlobId,
    dest: &Path,
) -> Result<(), RestoreError> {
    let mut nodes = Vec::new();
    for_each_range_leaf(
        repo,
        objects,
        b"",
        (NodeType::GitRange, NodeType::GitObject),
        &mut |n| {
            nodes.push(n);
            Ok(())
        },
    )?;
    let sha256 = meta.object_format == "sha256";
    nodes.par_iter().try_for_each(|node| {
        let oid = node.name.display();
        let kind = node.git_type.clone().unwrap_or_default();
        let mut data = format!("{kind} {}\0", node.size).into_bytes();
        for id in node.content.iter().flatten() {
            data.extend(repo.load_blob(id)?);
        }
        let computed = if sha256 {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&data))
        } else {
            use sha1::Digest;
            hex::encode(sha1::Sha1::digest(&data))
        };
        if computed != oid || !matches!(kind.as_str(), "commit" | "tree" | "blob" | "tag") {
            return Err(RestoreError::Unsafe {
                path: format!("{}/{oid}", dest.display()),
                reason: format!(
                    "the stored {kind} hashes to {computed}, not its ID; run `snap check --read-data`"
                ),
            });
        }
        let dir = dest.join("objects").join(&oid[..2]);
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        let path = dir.join(&oid[2..]);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&data).map_err(|e| io_err("compress", &path, e))?;
        let compressed = z.finish().map_err(|e| io_err("compress", &path, e))?;
        std::fs::write(&path, compressed).map_err(|e| io_err("write", &path, e))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_urls() {
        assert_eq!(
            push_url("ssh://git@host/{repo}.git", "team/app.git"),
            "ssh://git@host/team/app.git"
        );
        assert_eq!(
            push_url("file:///srv/{repo}.git", "app"),
            "file:///srv/app.git"
        );
    }

    #[test]
    fn destinations_stay_inside_the_target() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(
            destination(t.path(), "team/app", false).unwrap(),
            t.path().join("team/app.git")
        );
        assert_eq!(
            destination(t.path(), "infra.git", true).unwrap(),
            t.path().join("infra.git")
        );
        for bad in ["../x", "a/../../x", "/abs", "a//b", "."] {
            assert!(destination(t.path(), bad, true).is_err(), "{bad}");
        }
    }
}

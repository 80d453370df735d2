//! Restoring a repository stored as a chain of git packs (spec §15.4,
//! format v1.5): each pack's blobs, read and authenticated in order, are fed
//! to `git index-pack --stdin --fix-thin` in the new repository, which
//! checks every object against its ID and completes thin packs from the
//! packs before them. Nothing here sets refs or pushes (`git.rs` does).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use super::RestoreError;
use crate::id::BlobId;
use crate::repo::Repository;
use crate::snapshot::{load_tree, Node, NodeType};

/// How a repository's objects are held: one by one in range trees (format
/// v1.3-v1.4), or as a chain of packs (v1.5).
pub(super) enum Layout {
    /// The top range tree of `gitobject` nodes.
    Objects(BlobId),
    /// The `gitpack` nodes, base first.
    Packs(Vec<Node>),
}

/// Tells the layouts apart by the repository tree's nodes; a tree with
/// none holds no objects in either, and reads as an empty chain.
pub(super) fn layout(
    repo: &Repository,
    subtree: &BlobId,
    name: &str,
) -> Result<Layout, RestoreError> {
    let tree = load_tree(repo, subtree)?;
    let Some(first) = tree.nodes.first() else {
        return Ok(Layout::Packs(Vec::new()));
    };
    if matches!(first.node_type, NodeType::GitRange | NodeType::GitObject) {
        return Ok(Layout::Objects(*subtree));
    }
    let unsafe_chain = |reason: &str| RestoreError::Unsafe {
        path: format!("/@git/{name}"),
        reason: reason.to_string(),
    };
    if tree.nodes.iter().any(|n| n.node_type != NodeType::GitPack) {
        return Err(unsafe_chain(
            "a repository's tree mixes packs with other nodes",
        ));
    }
    if tree.nodes[0].git_pack.as_ref().is_some_and(|p| p.thin) {
        return Err(unsafe_chain(
            "its first pack is thin: the chain has no base",
        ));
    }
    Ok(Layout::Packs(tree.nodes))
}

/// Every data blob of a chain, in order.
pub(super) fn chain_blobs(packs: &[Node]) -> impl Iterator<Item = &BlobId> {
    packs.iter().flat_map(|p| p.content.iter().flatten())
}

/// Feeds each pack of the chain to `git index-pack` in the bare repository
/// `dest`, in order; returns the objects git indexed.
pub(super) fn write_packs(
    repo: &Repository,
    packs: &[Node],
    dest: &Path,
) -> Result<u64, RestoreError> {
    let mut objects = 0;
    for pack in packs {
        if crate::interrupt::requested() {
            return Err(RestoreError::Interrupted);
        }
        objects += index_pack(repo, pack, dest)?;
    }
    Ok(objects)
}

fn git_failed(what: &str, dest: &Path, said: &str) -> RestoreError {
    RestoreError::Git(format!(
        "git {what} in {} failed: {}; the stored pack may be damaged: run `snap check --read-data`",
        dest.display(),
        said.trim()
    ))
}

fn index_pack(repo: &Repository, pack: &Node, dest: &Path) -> Result<u64, RestoreError> {
    let io = |action: &'static str, e: std::io::Error| RestoreError::Io {
        action,
        path: dest.display().to_string(),
        source: e,
    };
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(dest)
        .args(["index-pack", "--stdin", "--fix-thin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io("run git index-pack in", e))?;
    // Its errors are a few lines: read them on the side, so the pipe
    // cannot fill while the pack goes in.
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = (&mut e).take(16 << 10).read_to_end(&mut text);
            text
        })
    });
    let fed = (|| {
        let Some(mut stdin) = child.stdin.take() else {
            return Ok(());
        };
        for id in pack.content.iter().flatten() {
            let data = repo.load_blob(id)?;
            if stdin.write_all(&data).is_err() {
                // git stopped reading: its status and message say why.
                break;
            }
        }
        Ok::<(), RestoreError>(())
    })();
    let status = child.wait().map_err(|e| io("run git index-pack in", e))?;
    let said = stderr
        .and_then(|h| h.join().ok())
        .map(|t| String::from_utf8_lossy(&t).into_owned())
        .unwrap_or_default();
    fed?;
    if !status.success() {
        return Err(git_failed("index-pack", dest, &said));
    }
    Ok(pack.git_pack.as_ref().map_or(0, |p| p.objects))
}

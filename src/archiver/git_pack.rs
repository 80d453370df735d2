//! One git pack stream into blobs (spec §15.4): `git pack-objects` read
//! through the repository's chunker, each chunk saved as a data blob as it
//! comes, the pack's header and checksum kept for its node. Deciding what
//! the pack holds is `git.rs`'s.

use std::sync::atomic::Ordering;

use super::git::GitContext;
use crate::id::BlobId;
use crate::pack::BlobKind;
use crate::repo::RepoError;
use crate::snapshot::{GitPackMeta, Node, NodeName, NodeType};
use crate::source::git::{self as source, PackStream};
use crate::source::SourceError;

/// Why a pack could not be written: the repository's fault (a warning) or
/// the snap repository's (fatal).
pub(super) enum PackError {
    /// git could not write it (a missing or damaged object).
    Source(SourceError),
    /// The snap repository could not store it.
    Repo(RepoError),
}

impl From<std::io::Error> for PackError {
    fn from(e: std::io::Error) -> Self {
        PackError::Source(SourceError::Io {
            action: "read the pack git writes for",
            path: "a repository".into(),
            source: e,
        })
    }
}

/// Streams `git pack-objects` through the chunker into data blobs: the
/// objects `tips` reach and `exclude` do not (a thin pack when `exclude` is
/// given). `None` when there are no such objects.
pub(super) fn write_pack(
    ctx: &GitContext<'_, '_>,
    git_dir: &std::path::Path,
    object_format: &str,
    tips: &[String],
    exclude: &[String],
    position: usize,
) -> Result<Option<Node>, PackError> {
    let mut stream = PackStream::start(git_dir, tips, exclude).map_err(PackError::Source)?;
    let mut content = Vec::new();
    let mut header = Vec::with_capacity(12);
    let mut tail = Vec::with_capacity(64);
    let mut buf = Vec::new();
    let read = ctx
        .chunker
        .for_each_chunk_in::<_, PackError>(stream.reader(), &mut buf, |chunk| {
            if header.len() < 12 {
                let want = (12 - header.len()).min(chunk.len());
                header.extend_from_slice(&chunk[..want]);
            }
            // The checksum is the pack's last 20 (SHA-1) or 32 (SHA-256)
            // bytes; keep the last 32 seen.
            tail.extend_from_slice(&chunk[chunk.len().saturating_sub(32)..]);
            let cut = tail.len().saturating_sub(32);
            tail.drain(..cut);
            let (id, _) = ctx
                .saver
                .save(BlobKind::Data, chunk)
                .map_err(PackError::Repo)?;
            content.push(id);
            ctx.progress
                .bytes_read
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Ok(())
        });
    // A read error may be git dying: its exit status says more.
    let finished = stream.finish();
    let read = match (read, finished) {
        (Err(PackError::Repo(e)), _) => return Err(PackError::Repo(e)),
        (_, Err(e)) => return Err(PackError::Source(e)),
        (Err(e), Ok(())) => return Err(e),
        (Ok(n), Ok(())) => n,
    };
    let objects = source::pack_object_count(&header).map_err(PackError::Source)?;
    if objects == 0 {
        return Ok(None);
    }
    ctx.progress.total_bytes.fetch_add(read, Ordering::Relaxed);
    ctx.progress
        .git_objects
        .fetch_add(objects, Ordering::Relaxed);
    let hash_len = if object_format == "sha256" { 32 } else { 20 };
    let checksum = hex::encode(&tail[tail.len().saturating_sub(hash_len)..]);
    let mut node = Node::dir_of(BlobId::default());
    node.name = NodeName::from(format!("{position:04}").as_str());
    node.node_type = NodeType::GitPack;
    node.mode = 0;
    node.subtree = None;
    node.size = read;
    node.content = Some(content);
    node.git_pack = Some(GitPackMeta {
        objects,
        thin: !exclude.is_empty(),
        checksum,
    });
    Ok(Some(node))
}

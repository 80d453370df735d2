//! `snap find`: which snapshots hold paths matching patterns, using the same
//! pattern rule as backup excludes and restore filters (`src/pattern.rs`).

use serde::Serialize;

use super::ls::walk_nodes;
use super::snapshots::SnapshotFilter;
use super::OpError;
use crate::pattern::PathPatterns;
use crate::repo::Repository;
use crate::snapshot::{NodeType, Selection};

/// One match.
#[derive(Debug, Serialize)]
pub struct Found {
    /// The snapshot's ID.
    pub snapshot: String,
    /// When it was taken (RFC 3339).
    pub time: String,
    /// The matching path.
    pub path: String,
    /// What it is.
    #[serde(rename = "type")]
    pub node_type: NodeType,
    /// Its size (files).
    pub size: u64,
    /// Its modification time (RFC 3339).
    pub mtime: String,
}

/// Every path matching `patterns` in every snapshot `filter` accepts, oldest
/// snapshot first; `emit` is called as matches are found. Damaged snapshot
/// files fail the search unless `selection` skips them.
pub fn find(
    repo: &mut Repository,
    patterns: &[String],
    filter: &SnapshotFilter,
    selection: &Selection,
    mut emit: impl FnMut(&Found),
) -> Result<usize, OpError> {
    let patterns = PathPatterns::new(patterns).map_err(crate::source::SourceError::from)?;
    let list = selection.list(repo)?;
    repo.load_index()?;
    let mut count = 0;
    for (id, manifest) in list.iter().filter(|(_, m)| filter.matches(m)) {
        walk_nodes(repo, &manifest.tree, "", &mut |path, node| {
            if patterns.matches(std::path::Path::new(path)) {
                count += 1;
                emit(&Found {
                    snapshot: id.to_hex(),
                    time: manifest.time.to_rfc3339(),
                    path: path.to_string(),
                    node_type: node.node_type,
                    size: node.size,
                    mtime: chrono::DateTime::from_timestamp_nanos(node.mtime_ns).to_rfc3339(),
                });
            }
        })?;
    }
    Ok(count)
}

//! Content-defined grouping of many sorted nodes into range trees (spec
//! §14.1; etcd keys and git objects).

use super::ArchiveError;
use crate::id::BlobId;
use crate::repo::BlobSaver;
use crate::snapshot::{self, Node, NodeType, Tree};

/// Average nodes per tree: a tree ends after a node whose hash is 0 modulo this.
const FANOUT: u16 = 64;
/// Most nodes (or ranges) in one tree.
const MAX_TREE_NODES: usize = 512;

/// Builds the trees of a large sorted set of nodes (etcd keys, git objects)
/// from nodes pushed in ascending name order.
///
/// Level 0 holds the nodes, level n+1 holds range nodes (of the type given)
/// for trees of level n. A tree ends after a node whose name hashes to a
/// boundary (a different hash per level) or when it is full, so boundaries
/// move only where names change. The top level becomes the source's subtree.
pub(super) struct RangeTreeBuilder<'s, 'r> {
    saver: &'s BlobSaver<'r>,
    range_type: NodeType,
    levels: Vec<Vec<Node>>,
}

impl<'s, 'r> RangeTreeBuilder<'s, 'r> {
    pub fn new(saver: &'s BlobSaver<'r>, range_type: NodeType) -> Self {
        RangeTreeBuilder {
            saver,
            range_type,
            levels: vec![Vec::new()],
        }
    }

    pub fn push(&mut self, level: usize, node: Node) -> Result<(), ArchiveError> {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        let boundary = is_boundary(node.name.as_bytes(), level);
        self.levels[level].push(node);
        if boundary || self.levels[level].len() >= MAX_TREE_NODES {
            self.close(level)?;
        }
        Ok(())
    }

    /// Saves level `level`'s open tree and pushes its range node above.
    fn close(&mut self, level: usize) -> Result<(), ArchiveError> {
        let nodes = std::mem::take(&mut self.levels[level]);
        let Some(first) = nodes.first() else {
            return Ok(());
        };
        let name = first.name.clone();
        let size = nodes.iter().map(|n| n.size).sum();
        let id = snapshot::save_tree(self.saver, &Tree::new(nodes))?;
        let mut range = Node::dir_of(id);
        range.name = name;
        range.node_type = self.range_type;
        range.mode = 0;
        range.size = size;
        self.push(level + 1, range)
    }

    /// Saves what is open; returns the top tree.
    pub fn finish(mut self) -> Result<BlobId, ArchiveError> {
        let mut level = 0;
        loop {
            if level + 1 == self.levels.len() {
                let nodes = std::mem::take(&mut self.levels[level]);
                return Ok(snapshot::save_tree(self.saver, &Tree::new(nodes))?);
            }
            self.close(level)?;
            level += 1;
        }
    }
}

fn is_boundary(name: &[u8], level: usize) -> bool {
    let mut h = blake3::Hasher::new();
    h.update(&(level as u64).to_le_bytes());
    h.update(name);
    let bytes = h.finalize();
    let v = u16::from_le_bytes([bytes.as_bytes()[0], bytes.as_bytes()[1]]);
    v % FANOUT == 0
}

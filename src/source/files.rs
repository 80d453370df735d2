//! The file-system source: metadata of paths as nodes, folder listings, and
//! exclude patterns.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use super::SourceError;
use crate::pattern::PathPatterns;
use crate::snapshot::{Node, NodeName, NodeType};

fn io(action: &'static str, path: &Path, source: std::io::Error) -> SourceError {
    SourceError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// A node for `path` from `lstat`, without content or subtree.
pub fn stat_node(path: &Path, name: &[u8]) -> Result<Node, SourceError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io("stat", path, e))?;
    node_from_metadata(path, name, &meta)
}

/// A node from metadata already read (`lstat` semantics), without content or
/// subtree; reads the link target of symlinks.
pub fn node_from_metadata(
    path: &Path,
    name: &[u8],
    meta: &fs::Metadata,
) -> Result<Node, SourceError> {
    let ft = meta.file_type();
    let node_type = if ft.is_file() {
        NodeType::File
    } else if ft.is_dir() {
        NodeType::Dir
    } else if ft.is_symlink() {
        NodeType::Symlink
    } else if ft.is_char_device() {
        NodeType::Chardev
    } else if ft.is_block_device() {
        NodeType::Blockdev
    } else if ft.is_fifo() {
        NodeType::Fifo
    } else {
        NodeType::Socket
    };
    let link_target = if node_type == NodeType::Symlink {
        let t = fs::read_link(path).map_err(|e| io("read link", path, e))?;
        Some(NodeName(t.as_os_str().as_bytes().to_vec()))
    } else {
        None
    };
    Ok(Node {
        name: NodeName(name.to_vec()),
        node_type,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
        ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
        inode: meta.ino(),
        device: meta.dev(),
        links: if node_type == NodeType::Dir {
            0
        } else {
            meta.nlink()
        },
        size: if node_type == NodeType::File {
            meta.len()
        } else {
            0
        },
        content: None,
        subtree: None,
        link_target,
        rdev: if matches!(node_type, NodeType::Chardev | NodeType::Blockdev) {
            meta.rdev()
        } else {
            0
        },
        etcd: None,
        git: None,
        git_type: None,
        git_pack: None,
    })
}

/// A note for a file whose modification time lies beyond what a node holds
/// (nanoseconds in 64 bits: 1677-09-21 to 2262-04-11): it is stored as the
/// nearest time that fits.
pub fn time_note(path: &Path, node: &Node) -> Option<String> {
    (node.mtime_ns == i64::MAX || node.mtime_ns == i64::MIN).then(|| {
        format!(
            "{} has a modification time outside 1677-2262, which a snapshot cannot hold: it is stored as {}",
            path.display(),
            if node.mtime_ns == i64::MAX { "2262-04-11" } else { "1677-09-21" }
        )
    })
}

/// Seconds and nanoseconds as nanoseconds since the epoch, saturating for
/// times outside the years 1677-2262 rather than overflowing.
pub fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// One entry of a folder listing.
pub struct DirItem {
    /// Its name.
    pub name: Vec<u8>,
    /// Its full path.
    pub path: PathBuf,
    /// Its metadata (not following symlinks), or why it could not be read.
    pub meta: std::io::Result<fs::Metadata>,
}

/// The entries of a folder, sorted by name bytes, with their metadata.
///
/// Metadata comes from `fstatat` relative to the open folder, which spares
/// the kernel a walk of the whole path for every entry.
pub fn list_dir(path: &Path) -> Result<Vec<DirItem>, SourceError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| io("list", path, e))? {
        let entry = entry.map_err(|e| io("list", path, e))?;
        out.push(DirItem {
            name: entry.file_name().as_bytes().to_vec(),
            path: entry.path(),
            meta: entry.metadata(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Opens a file for reading without updating its access time where allowed.
pub fn open_file(path: &Path) -> Result<fs::File, SourceError> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)
        .or_else(|_| fs::File::open(path))
        .map_err(|e| io("open", path, e))
}

/// `path` made absolute and cleaned of `.` and `..` without resolving links.
pub fn absolute(path: &Path) -> Result<PathBuf, SourceError> {
    let abs = std::path::absolute(path).map_err(|e| io("resolve", path, e))?;
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Exclude patterns over absolute paths, with the rule of [`crate::pattern`].
#[derive(Clone, Default)]
pub struct Excludes(PathPatterns);

impl Excludes {
    /// Builds the matcher from patterns; lines of exclude files that are
    /// empty or start with `#` are ignored by the caller.
    pub fn new(patterns: &[String]) -> Result<Excludes, SourceError> {
        Ok(Excludes(PathPatterns::new(patterns)?))
    }

    /// Reads patterns from a file, one per line.
    pub fn read_file(path: &Path) -> Result<Vec<String>, SourceError> {
        let text = fs::read_to_string(path).map_err(|e| io("read exclude file", path, e))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect())
    }

    /// True if `path` (absolute) is excluded.
    pub fn is_excluded(&self, path: &Path) -> bool {
        self.0.matches(path)
    }
}

/// Convenience: a name as an `OsStr`.
pub fn os_name(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes() {
        let e = Excludes::new(&[
            "*.tmp".into(),
            "/var/cache/**".into(),
            "node_modules".into(),
        ])
        .unwrap();
        assert!(e.is_excluded(Path::new("/a/b.tmp")));
        assert!(e.is_excluded(Path::new("/var/cache/x/y")));
        assert!(e.is_excluded(Path::new("/src/node_modules")));
        assert!(!e.is_excluded(Path::new("/src/main.rs")));
        assert!(Excludes::new(&["[".into()]).is_err());
    }

    #[test]
    fn absolute_cleans() {
        assert_eq!(
            absolute(Path::new("/a/./b/../c")).unwrap(),
            PathBuf::from("/a/c")
        );
    }
}

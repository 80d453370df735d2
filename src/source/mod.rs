//! Sources: where resources come from. Today: the local file system
//! ([`files`]); etcd and git sources follow the same shape.
//!
//! A source turns a location into nodes with metadata and content readers; it
//! never talks to a repository (the archiver does).

pub mod files;

/// Errors of reading a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A path could not be read.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An exclude pattern is invalid.
    #[error("exclude {0}")]
    Pattern(#[from] crate::pattern::PatternError),
}

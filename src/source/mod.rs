//! Sources: where resources come from: the local file system ([`files`]),
//! etcd clusters ([`etcd`]) and git repositories ([`git`]).
//!
//! A source turns a location into nodes with metadata and content readers; it
//! never talks to a repository (the archiver does).

pub mod etcd;
pub mod files;
pub mod git;

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
    /// A source location is malformed.
    #[error("{location}: {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// An exclude pattern is invalid.
    #[error("exclude {0}")]
    Pattern(#[from] crate::pattern::PatternError),
}

//! One file per command: each turns its arguments into a library call and
//! renders the report it gets back.

pub mod backup;
pub mod cat;
pub mod check;
pub mod copy;
pub mod diff;
pub mod dump;
pub mod find;
pub mod forget;
pub mod init;
pub mod key;
pub mod ls;
pub mod prune;
pub mod repair;
pub mod restore;
#[cfg(feature = "serve")]
pub mod serve;
pub mod snapshots;
pub mod stats;
pub mod tag;
pub mod unlock;

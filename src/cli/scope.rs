//! What the global flags that widen or narrow a command's reach mean:
//! `--no-lock` (only for commands that read the repository, format-spec
//! §9) and `--skip-damaged-snapshots` (how snapshots are selected, §10).

use anyhow::Result;

use super::args::{Cli, Command, KeyCommand};
use super::exit::UsageError;
use crate::snapshot::{DamagedSnapshot, Selection};

/// Refuses `--no-lock` for commands that write to the repository: they
/// need their lock, so that maintenance and they do not interfere.
pub fn check_no_lock(cli: &Cli) -> Result<()> {
    if !cli.no_lock {
        return Ok(());
    }
    let writes = match &cli.command {
        Command::Snapshots(_)
        | Command::Ls(_)
        | Command::Restore(_)
        | Command::Check(_)
        | Command::Dump { .. }
        | Command::Diff { .. }
        | Command::Find(_)
        | Command::Stats { .. }
        | Command::Cat(_)
        | Command::Key(KeyCommand::List) => return Ok(()),
        Command::Init(_) => "init",
        Command::Backup(_) => "backup",
        Command::Unlock(_) => "unlock",
        #[cfg(feature = "serve")]
        Command::Serve(_) => "serve",
        Command::Copy(_) => "copy",
        Command::Tag(_) => "tag",
        Command::Prune(_) => "prune",
        Command::Forget(_) => "forget",
        Command::Key(_) => "key",
        Command::Repair(_) => "repair",
    };
    Err(UsageError(format!(
        "--no-lock is only for commands that read the repository (snapshots, ls, restore, check, dump, diff, find, stats, cat, key list); `snap {writes}` changes it and needs its lock: leave out --no-lock"
    ))
    .into())
}

/// How damaged snapshot files are treated: refused, or with
/// `--skip-damaged-snapshots` skipped with a warning.
pub fn selection(cli: &Cli) -> Selection {
    if cli.skip_damaged_snapshots {
        Selection::skipping(Some(warn_skipped))
    } else {
        Selection::refusing()
    }
}

fn warn_skipped(d: &DamagedSnapshot) {
    eprintln!(
        "snap: warning: skipping damaged snapshot file {} in {} ({}); `snap check` says more, `snap forget {}` removes it",
        d.file(),
        d.repository,
        d.reason,
        d.id
    );
}

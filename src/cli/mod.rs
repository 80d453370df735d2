//! The command line: clap definitions, password resolution, rendering of
//! reports as text or JSON, and exit codes. The only layer using `anyhow`.

mod args;
mod cmd;
mod etcd;
mod exit;
mod open;
mod password;
mod profile;
mod progress;
mod render;
mod scope;

use std::io::Write;

use anyhow::{Context, Result};
use clap::Parser;

use args::{Cli, Command};
pub use exit::ExitCode;

/// Runs the CLI with the process arguments; returns the exit code.
pub fn run() -> i32 {
    tune_allocator();
    let cli = Cli::parse();
    match dispatch(&cli) {
        Ok(code) => code as i32,
        Err(err) => {
            // A reader that stopped early (`snap ls | head`) is not an error.
            let closed = err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if closed {
                return 0;
            }
            let code = exit::classify(&err);
            let mut msg = format!("{err}");
            for cause in err.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("snap: error: {msg}");
            code as i32
        }
    }
}

/// glibc raises its mmap threshold each time a large buffer is freed, after
/// which pack-sized buffers come from arenas and are never given back; many
/// threads also get many arenas. A fixed threshold and few arenas keep peak
/// memory near what is actually in use.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tunables; called before any
    // thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

fn dispatch(cli: &Cli) -> Result<ExitCode> {
    scope::check_no_lock(cli)?;
    let out = &mut std::io::stdout().lock();
    // Long writes stop cleanly on Ctrl-C (what was stored is kept and
    // indexed, no partial file is left, the lock goes); other commands keep
    // the default of ending at once.
    if matches!(cli.command, Command::Backup(_) | Command::Restore(_)) {
        crate::interrupt::install().context("cannot install the Ctrl-C handler")?;
    }
    let selection = &scope::selection(cli);
    let code = match &cli.command {
        Command::Init(a) => cmd::init::run(cli, a, selection, out)?,
        Command::Backup(a) => cmd::backup::run(cli, a, selection, out)?,
        Command::Snapshots(a) => cmd::snapshots::run(cli, a, selection, out)?,
        Command::Ls(a) => cmd::ls::run(cli, a, selection, out)?,
        Command::Restore(a) => cmd::restore::run(cli, a, selection, out)?,
        Command::Key(k) => cmd::key::run(cli, k, selection, out)?,
        Command::Forget(a) => cmd::forget::run(cli, a, selection, out)?,
        Command::Tag(a) => cmd::tag::run(cli, a, selection, out)?,
        Command::Dump { snapshot, path } => cmd::dump::run(cli, snapshot, path, selection, out)?,
        #[cfg(feature = "serve")]
        Command::Serve(a) => cmd::serve::run(cli, a)?,
        Command::Copy(a) => cmd::copy::run(cli, a, selection, out)?,
        Command::Prune(a) => cmd::prune::run(cli, a, selection, out)?,
        Command::Diff { old, new } => cmd::diff::run(cli, old, new, selection, out)?,
        Command::Stats { snapshot } => cmd::stats::run(cli, snapshot.as_deref(), selection, out)?,
        Command::Find(a) => cmd::find::run(cli, a, selection, out)?,
        Command::Cat(c) => cmd::cat::run(cli, c, selection, out)?,
        Command::Repair(c) => {
            let mut repo = open::open_repo(cli)?;
            cmd::repair::run(&mut repo, c, out, cli.json, cli.quiet)?
        }
        Command::Unlock(a) => cmd::unlock::run(cli, a, selection, out)?,
        Command::Check(a) => cmd::check::run(cli, a, selection, out)?,
    };
    out.flush()?;
    Ok(code)
}

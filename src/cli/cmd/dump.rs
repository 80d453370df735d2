//! `snap dump`: writes one file (or a folder as tar) of a snapshot to stdout.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap dump`.
pub fn run(
    cli: &Cli,
    snapshot: &str,
    path: &str,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let mut repo = open_repo(cli)?;
    let node = ops::dump::resolve(&mut repo, snapshot, path, selection)?;
    if node.node_type == crate::snapshot::NodeType::Dir
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        anyhow::bail!(
            "{path} is a folder: its tar archive would go to the terminal; redirect stdout to a file or a pipe (snap dump {snapshot} {path} > out.tar)"
        );
    }
    let mut stdout = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
    ops::dump::dump(&repo, path, &node, &mut stdout)?;
    Ok(ExitCode::Ok)
}

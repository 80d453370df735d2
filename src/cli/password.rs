//! Where the password comes from: `SNAP_PASSWORD`, a password file, a password
//! command, or a prompt on a terminal. The password is never echoed or logged.

use std::io::IsTerminal;
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::args::Cli;

/// Finds the password; `confirm` asks twice when prompting (for `init`).
pub fn resolve(cli: &Cli, confirm: bool) -> Result<String> {
    resolve_from(
        &Source {
            env: "SNAP_PASSWORD",
            file: cli.password_file.as_deref(),
            command: cli.password_command.as_deref(),
            flags: "SNAP_PASSWORD, SNAP_PASSWORD_FILE or SNAP_PASSWORD_COMMAND",
            prompt: "enter password for repository: ",
        },
        confirm,
    )
}

/// Where one repository's password may come from.
pub struct Source<'a> {
    /// The variable holding the password itself.
    pub env: &'static str,
    /// A file whose first line is the password.
    pub file: Option<&'a std::path::Path>,
    /// A command printing it.
    pub command: Option<&'a str>,
    /// How to give it, for the error when none is given.
    pub flags: &'static str,
    /// The terminal prompt.
    pub prompt: &'static str,
}

/// Finds a password from `source`, or asks on a terminal.
pub fn resolve_from(source: &Source<'_>, confirm: bool) -> Result<String> {
    if let Ok(p) = std::env::var(source.env) {
        return non_empty(p, source.env);
    }
    if let Some(path) = source.file {
        return first_line_of(path, "the password file");
    }
    if let Some(cmd) = source.command {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("cannot run the password command")?;
        if !out.status.success() {
            bail!(
                "the password command failed ({}); check {}",
                out.status,
                source.flags
            );
        }
        let text = String::from_utf8(out.stdout)
            .context("the password command printed non-UTF-8 output")?;
        return non_empty(
            text.lines().next().unwrap_or("").to_string(),
            "the password command's output",
        );
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "no password given: set {}, or run on a terminal to be asked",
            source.flags
        );
    }
    prompt(
        source.prompt,
        confirm.then_some("the passwords do not match; nothing was created"),
        "the password",
    )
}

/// The first line of `path`, which must not be empty.
fn first_line_of(path: &std::path::Path, what: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    non_empty(text.lines().next().unwrap_or("").to_string(), what)
}

/// Asks on the terminal without echo; with `mismatch`, asks twice and fails
/// with that message when the answers differ.
fn prompt(label: &str, mismatch: Option<&str>, what: &str) -> Result<String> {
    let first = rpassword::prompt_password(label).context("cannot read the password")?;
    if let Some(message) = mismatch {
        let again =
            rpassword::prompt_password("enter it again: ").context("cannot read the password")?;
        if again != first {
            bail!("{message}");
        }
    }
    non_empty(first, what)
}

fn non_empty(p: String, source: &str) -> Result<String> {
    if p.is_empty() {
        bail!("{source} is empty: an empty password is not allowed");
    }
    Ok(p)
}

/// The password for a new key: `--new-password-file`/`SNAP_NEW_PASSWORD_FILE`,
/// `SNAP_NEW_PASSWORD`, or a prompt asked twice.
pub fn resolve_new(file: Option<&std::path::Path>) -> Result<String> {
    if let Ok(p) = std::env::var("SNAP_NEW_PASSWORD") {
        return non_empty(p, "SNAP_NEW_PASSWORD");
    }
    if let Some(path) = file {
        return first_line_of(path, "the new password file");
    }
    if !std::io::stdin().is_terminal() {
        bail!("no new password given: use --new-password-file or SNAP_NEW_PASSWORD, or run on a terminal to be asked");
    }
    prompt(
        "enter the new password: ",
        Some("the new passwords do not match; nothing was changed"),
        "the new password",
    )
}

//! Where a password comes from. Every password (the repository's, a copy
//! target's, a new key's, an etcd user's) is looked for in the same order,
//! and the first tier that gives one is used (README, "Passwords"):
//!
//! 1. flags (`--password-file`, `--password-command`, ...): two at once
//!    are a usage error, since either could be the one meant;
//! 2. a platform profile's `[repository] password_file`/`password_command`;
//! 3. the environment (`SNAP_PASSWORD`, `SNAP_PASSWORD_FILE`,
//!    `SNAP_PASSWORD_COMMAND`, ...): two set at once are a usage error too
//!    (restic refuses a file and a command together; a value beside either
//!    is just as ambiguous);
//! 4. a prompt, when stdin is a terminal.
//!
//! So what is written on the command line beats what a profile says, which
//! beats what a shell happened to export. The password is never echoed,
//! logged or put in a message; messages name where it came from (a flag or
//! variable, a file's path), never a command's text, which may hold secrets.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::exit::UsageError;

/// How one source gives a password.
#[derive(Clone, Debug)]
pub enum Method {
    /// The password itself (an environment variable).
    Value(String),
    /// A file whose first line is the password.
    File(PathBuf),
    /// A shell command whose first line of output is the password.
    Command(String),
}

/// One place a password may come from.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Where, for messages: `--password-file /x`, `SNAP_PASSWORD`.
    pub label: String,
    /// How it gives the password.
    pub method: Method,
}

impl Candidate {
    /// A flag's value, if given: a file flag shows its path, a command flag
    /// only its name.
    pub fn flag_file(flag: &str, path: Option<&Path>) -> Option<Candidate> {
        path.map(|p| Candidate {
            label: format!("{flag} {}", p.display()),
            method: Method::File(p.to_path_buf()),
        })
    }

    /// A command flag's value, if given.
    pub fn flag_command(flag: &str, command: Option<&str>) -> Option<Candidate> {
        command.map(|c| Candidate {
            label: flag.to_string(),
            method: Method::Command(c.to_string()),
        })
    }
}

/// The environment variables of one password, by what they hold.
#[derive(Clone, Copy, Debug)]
pub struct EnvNames {
    /// The password itself.
    pub value: &'static str,
    /// A password file.
    pub file: Option<&'static str>,
    /// A password command.
    pub command: Option<&'static str>,
}

impl EnvNames {
    /// The variables that are set (even to an empty value), as candidates.
    fn candidates(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        if let Some(v) = std::env::var_os(self.value) {
            out.push(Candidate {
                label: self.value.to_string(),
                method: Method::Value(v.to_string_lossy().into_owned()),
            });
        }
        if let Some(name) = self.file {
            if let Some(v) = std::env::var_os(name) {
                let path = PathBuf::from(v);
                out.push(Candidate {
                    label: format!("{name} ({})", path.display()),
                    method: Method::File(path),
                });
            }
        }
        if let Some(name) = self.command {
            if let Some(v) = std::env::var_os(name) {
                out.push(Candidate {
                    label: name.to_string(),
                    method: Method::Command(v.to_string_lossy().into_owned()),
                });
            }
        }
        out
    }
}

/// Every source of one password, by tier (see the module documentation).
pub struct Sources<'a> {
    /// Given on the command line.
    pub flags: Vec<Candidate>,
    /// Given by a profile.
    pub profile: Vec<Candidate>,
    /// The environment variables to look at.
    pub env: EnvNames,
    /// How to give a password, for the error when none is given.
    pub hint: &'a str,
    /// The terminal prompt.
    pub prompt: &'a str,
}

/// A password and where it came from.
pub struct Password {
    /// The password; never printed.
    pub secret: String,
    /// Where it came from, for messages.
    pub origin: String,
}

/// The main repository's flags and variables.
pub fn repository_sources<'a>(
    file: Option<&Path>,
    command: Option<&str>,
    profile: Vec<Candidate>,
    hint: &'a str,
) -> Sources<'a> {
    Sources {
        flags: Candidate::flag_file("--password-file", file)
            .into_iter()
            .chain(Candidate::flag_command("--password-command", command))
            .collect(),
        profile,
        env: EnvNames {
            value: "SNAP_PASSWORD",
            file: Some("SNAP_PASSWORD_FILE"),
            command: Some("SNAP_PASSWORD_COMMAND"),
        },
        hint,
        prompt: "enter password for repository: ",
    }
}

/// Finds the password; `confirm` asks twice when prompting (`init`, new keys).
pub fn resolve(sources: &Sources<'_>, confirm: Option<&str>) -> Result<Password> {
    let tiers = [
        ("on the command line", &sources.flags),
        ("in the profile", &sources.profile),
    ];
    for (tier, given) in tiers {
        if let Some(c) = single(given, tier)? {
            return read(c);
        }
    }
    let env = sources.env.candidates();
    if let Some(c) = single(&env, "in the environment")? {
        return read(c);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "no password given: {}, or run on a terminal to be asked",
            sources.hint
        );
    }
    let secret = prompt(sources.prompt, confirm, "the password")?;
    Ok(Password {
        secret,
        origin: "the terminal".into(),
    })
}

/// The one candidate of a tier, none, or a usage error for several.
fn single<'c>(given: &'c [Candidate], tier: &str) -> Result<Option<&'c Candidate>> {
    match given {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => {
            let names: Vec<&str> = many.iter().map(|c| c.label.as_str()).collect();
            let advice = if tier == "in the environment" {
                "unset all but one, or give --password-file or --password-command, which beat the environment"
            } else {
                "give only one"
            };
            Err(UsageError(format!(
                "{} password sources were given {tier}: {}; it is unclear which password is meant, so none is used: {advice}",
                many.len(),
                names.join(" and ")
            ))
            .into())
        }
    }
}

fn read(c: &Candidate) -> Result<Password> {
    let secret = match &c.method {
        Method::Value(v) => non_empty(v.clone(), &c.label)?,
        Method::File(path) => first_line_of(path, &c.label)?,
        Method::Command(cmd) => run_command(cmd, &c.label)?,
    };
    Ok(Password {
        secret,
        origin: c.label.clone(),
    })
}

fn run_command(cmd: &str, label: &str) -> Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run the password command given by {label}"))?;
    if !out.status.success() {
        bail!(
            "the password command given by {label} failed ({}); check it",
            out.status
        );
    }
    let text = String::from_utf8(out.stdout).with_context(|| {
        format!("the password command given by {label} printed non-UTF-8 output")
    })?;
    non_empty(
        text.lines().next().unwrap_or("").to_string(),
        &format!("the output of the password command given by {label}"),
    )
}

/// The first line of `path`, which must not be empty.
fn first_line_of(path: &Path, label: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the password file given by {label}"))?;
    non_empty(
        text.lines().next().unwrap_or("").to_string(),
        &format!("the password file given by {label}"),
    )
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

/// The password for a new key (`key add`, `key passwd`):
/// `--new-password-file`, else `SNAP_NEW_PASSWORD` or
/// `SNAP_NEW_PASSWORD_FILE` (not both), else a prompt asked twice.
pub fn resolve_new(file: Option<&Path>) -> Result<String> {
    let sources = Sources {
        flags: Candidate::flag_file("--new-password-file", file)
            .into_iter()
            .collect(),
        profile: Vec::new(),
        env: EnvNames {
            value: "SNAP_NEW_PASSWORD",
            file: Some("SNAP_NEW_PASSWORD_FILE"),
            command: None,
        },
        hint: "use --new-password-file, SNAP_NEW_PASSWORD or SNAP_NEW_PASSWORD_FILE",
        prompt: "enter the new password: ",
    };
    Ok(resolve(
        &sources,
        Some("the new passwords do not match; nothing was changed"),
    )?
    .secret)
}

/// A password that opened no key, naming where it came from (never the
/// password itself).
#[derive(Debug, thiserror::Error)]
#[error("wrong password: the password from {origin} opens none of the {keys} key(s) of {location} tried; check it, or give the right one ({hint}){}", crate::repo::untried_text(*untried))]
pub struct Rejected {
    /// Where the password came from.
    pub origin: String,
    /// How many key files were tried.
    pub keys: usize,
    /// Key files not tried (beyond 20, or dearer than snap tries unasked).
    pub untried: usize,
    /// The repository.
    pub location: String,
    /// How to give a password.
    pub hint: String,
}

//! The etcd parts of `backup` and `restore`: connection flags, the
//! `etcd://` argument, and rendering a restore into etcd.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};

use super::args::{EtcdArgs, RestoreArgs};
use super::exit::ExitCode;
use super::password;
use crate::archiver::etcd::EtcdBackupOptions;
use crate::archiver::git::GitBackupOptions;
use crate::etcd::EtcdOptions;
use crate::etcd::{is_etcd_location, parse_location, EtcdLocation};
use crate::ops;
use crate::ops::etcd::EtcdRestoreOpReport;
use crate::repo::Repository;
use crate::restore::etcd::EtcdRestoreOptions;
use crate::snapshot::Selection;

/// TLS files and login from the flags; the password from
/// `--etcd-password-file` (or the profile's `password_file`, which a flag
/// beats), else `SNAP_ETCD_PASSWORD`, else a prompt.
pub fn client_options(a: &EtcdArgs) -> Result<EtcdOptions> {
    let user = match &a.etcd_user {
        Some(user) => {
            let password = password::resolve(
                &password::Sources {
                    flags: password::Candidate::flag_file(
                        "the etcd password file",
                        a.etcd_password_file.as_deref(),
                    )
                    .into_iter()
                    .collect(),
                    profile: Vec::new(),
                    env: password::EnvNames {
                        value: "SNAP_ETCD_PASSWORD",
                        file: None,
                        command: None,
                    },
                    hint: "use --etcd-password-file or SNAP_ETCD_PASSWORD",
                    prompt: "enter the etcd user's password: ",
                },
                None,
            )?;
            Some((user.clone(), password.secret))
        }
        None => None,
    };
    Ok(EtcdOptions {
        endpoints: Vec::new(),
        user,
        ca_cert: a.etcd_cacert.clone(),
        client_cert: a.etcd_cert.clone(),
        client_key: a.etcd_key.clone(),
    })
}

/// What one `backup` captures: paths, at most one etcd cluster, at most
/// one `git:` folder.
pub struct BackupSources {
    /// Files and folders.
    pub paths: Vec<PathBuf>,
    /// The etcd cluster.
    pub etcd: Option<EtcdBackupOptions>,
    /// The git repositories.
    pub git: Option<GitBackupOptions>,
}

/// Splits backup arguments into paths, etcd and git sources.
pub fn backup_sources(args: &[PathBuf], etcd: &EtcdArgs) -> Result<BackupSources> {
    let mut paths = Vec::new();
    let mut location: Option<EtcdLocation> = None;
    let mut git = None;
    for arg in args {
        let text = arg.to_str().unwrap_or_default();
        if is_etcd_location(text) {
            if location.is_some() {
                bail!("give one etcd cluster per backup (its endpoints separated by commas: etcd://a:2379,b:2379)");
            }
            location = Some(parse_location(text)?);
        } else if let Some(folder) = text.strip_prefix("git:") {
            if git.is_some() {
                bail!("give one git: folder per backup (a folder holding several repositories is searched)");
            }
            let root =
                std::path::absolute(folder).map_err(|e| anyhow::anyhow!("git:{folder}: {e}"))?;
            git = Some(GitBackupOptions {
                location: format!("git:{}", root.display()),
                root,
            });
        } else {
            paths.push(arg.clone());
        }
    }
    let Some(location) = location else {
        if etcd.etcd_prefix.is_some() || etcd.etcd_user.is_some() {
            bail!("--etcd-prefix and --etcd-user need an etcd://HOST:PORT argument");
        }
        return Ok(BackupSources {
            paths,
            etcd: None,
            git,
        });
    };
    Ok(BackupSources {
        paths,
        etcd: Some(EtcdBackupOptions {
            location,
            client: client_options(etcd)?,
            prefix: etcd.etcd_prefix.clone().unwrap_or_default().into_bytes(),
        }),
        git,
    })
}

/// `snap restore --to etcd://...` or `--etcd-deploy`.
pub fn restore(
    out: &mut impl Write,
    json: bool,
    quiet: bool,
    repo: &mut Repository,
    a: &RestoreArgs,
    selection: &Selection,
) -> Result<ExitCode> {
    let report = restore_report(repo, a, selection, false)?;
    render(out, json, quiet, &report)?;
    Ok(exit_code(&report))
}

/// Exit 5 when a restore left keys unlike the snapshot.
pub fn exit_code(report: &EtcdRestoreOpReport) -> ExitCode {
    let r = &report.report;
    if !r.dry_run && (!r.conflicts.is_empty() || !r.verified) {
        return ExitCode::EtcdIncomplete;
    }
    ExitCode::Ok
}

/// Restores into the cluster `--to` names, or one `--etcd-deploy` starts.
/// With `--dry-run` and `verify_values`, the values to put are read and
/// authenticated too.
pub fn restore_report(
    repo: &mut Repository,
    a: &RestoreArgs,
    selection: &Selection,
    verify_values: bool,
) -> Result<EtcdRestoreOpReport> {
    if a.dry_run && a.etcd_deploy {
        bail!("--dry-run changes nothing, but --etcd-deploy would start an etcd: preview against a running cluster with --to, or leave out --dry-run");
    }
    let deployed = match (&a.to, a.etcd_deploy) {
        (_, true) => {
            let dir = a.etcd_data_dir.clone().unwrap_or_default();
            Some(ops::etcd::deploy_etcd(&dir, &a.etcd_listen)?)
        }
        _ => None,
    };
    let location = match (&a.to, &deployed) {
        (Some(to), _) => parse_location(to)?,
        (None, Some(d)) => parse_location(&format!("etcd://{}", a.etcd_listen)).map(|mut l| {
            l.endpoints = vec![d.client_url.clone()];
            l
        })?,
        (None, None) => bail!("give --to etcd://HOST:PORT or --etcd-deploy"),
    };
    let options = EtcdRestoreOptions {
        location,
        client: client_options(&a.etcd)?,
        prefix: a.etcd.etcd_prefix.clone().map(String::into_bytes),
        dry_run: a.dry_run,
        force: a.force,
        ignore_version: a.ignore_version,
        // A cluster snap just created has a new ID by nature.
        any_cluster: a.any_cluster || deployed.is_some(),
        audit: a.audit.clone(),
        max_txn_ops: a.etcd_max_txn_ops,
        max_txn_bytes: a.etcd_max_txn_bytes,
        verify_in_dry_run: verify_values,
    };
    let result = ops::etcd::restore_etcd(repo, &a.snapshot, &a.host, &options, selection);
    let mut report = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(d) = &deployed {
                eprintln!(
                    "snap: the etcd started for the restore still runs (pid {}, {}); stop it with `kill {}`",
                    d.pid, d.client_url, d.pid
                );
            }
            return Err(e.into());
        }
    };
    report.deployed = deployed;
    Ok(report)
}

/// Prints what a restore into etcd did (or would do).
pub fn render(
    out: &mut impl Write,
    json: bool,
    quiet: bool,
    x: &EtcdRestoreOpReport,
) -> Result<()> {
    if json {
        return super::render::json(out, x);
    }
    let r = &x.report;
    if r.dry_run {
        for c in &r.changes {
            match c.action {
                "put" if c.old_hash.is_some() => {
                    writeln!(out, "would update  {} ({} bytes)", c.key.display(), c.size)?
                }
                "put" => writeln!(out, "would create  {} ({} bytes)", c.key.display(), c.size)?,
                _ => writeln!(out, "would delete  {}", c.key.display())?,
            }
        }
    }
    for k in &r.conflicts {
        writeln!(
            out,
            "conflict  {}: changed by someone else during the restore and left as it is; restore again, or give --force to overwrite",
            k.display()
        )?;
    }
    if quiet && r.conflicts.is_empty() && r.verified {
        return Ok(());
    }
    let prefix = if r.prefix.as_bytes().is_empty() {
        "the whole keyspace".to_string()
    } else {
        format!("keys under {:?}", r.prefix.display())
    };
    let verb = if r.dry_run { "would put" } else { "put" };
    writeln!(
        out,
        "{} snapshot {} (etcd revision {}) into cluster {} (etcd {}), {prefix}: {verb} {}, {} {}, {} unchanged",
        if r.dry_run { "dry run: restoring" } else { "restored" },
        &x.snapshot_id[..8],
        r.snapshot_revision,
        r.cluster_id,
        r.server_version,
        r.puts,
        if r.dry_run { "would delete" } else { "deleted" },
        r.deletes,
        r.unchanged
    )?;
    if !r.dry_run {
        writeln!(
            out,
            "revision {} -> {}; leases granted {}, reused {}",
            r.revision_before, r.revision_after, r.leases_granted, r.leases_reused
        )?;
        if r.verified {
            writeln!(
                out,
                "verified: the cluster holds the snapshot's {} keys, digest {}",
                r.keys,
                r.digest.short()
            )?;
        } else {
            writeln!(out, "NOT verified: the cluster's keys under the prefix differ from the snapshot's {} keys (see the conflicts above, or writes by others since)", r.keys)?;
        }
    }
    if let Some(d) = &x.deployed {
        writeln!(
            out,
            "etcd runs with the restored keyspace: pid {}, clients at {}, data in {}, log {}; stop it with `kill {}`",
            d.pid, d.client_url, d.data_dir, d.log, d.pid
        )?;
    }
    Ok(())
}

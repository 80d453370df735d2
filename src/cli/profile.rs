//! `backup --profile` and `restore --profile`: every source a platform
//! profile names, in one snapshot and back.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::args::{Cli, EtcdArgs, RestoreArgs};
use super::exit::ExitCode;
use super::{etcd, password, render};
use crate::archiver::etcd::EtcdBackupOptions;
use crate::archiver::git::GitBackupOptions;
use crate::ops;
use crate::ops::profile::{PlatformProfile, KINDS, RESTORE_ORDER};
use crate::repo::Repository;
use crate::snapshot::Selection;

/// Reads the profile `--profile` names.
pub fn load(path: &Path) -> Result<PlatformProfile> {
    Ok(PlatformProfile::load(path)?)
}

/// The repository: `-r` beats the profile, which beats `SNAP_REPOSITORY`
/// (a variable left in a shell must not redirect a platform's backups).
fn location(cli: &Cli, profile: &PlatformProfile) -> Result<String> {
    let from_env = std::env::var("SNAP_REPOSITORY").ok();
    from_flag(&cli.repo, "SNAP_REPOSITORY")
        .or_else(|| profile.repository.as_ref().map(|r| r.location.clone()))
        .or(from_env)
        .with_context(|| {
            format!(
                "no repository given: add [repository] location = \"...\" to {}, or pass -r/--repo",
                profile.file.display()
            )
        })
}

/// A repository in a local folder, as a pattern: a backup leaves it out and
/// a restore never deletes it, even inside a files entry's path.
fn local_repository(location: &str) -> Option<String> {
    let path = location.strip_prefix("local:").unwrap_or(location);
    if path.contains(':') {
        return None;
    }
    let abs = std::path::absolute(path).ok()?;
    Some(globset::escape(
        abs.display().to_string().trim_end_matches('/'),
    ))
}

/// A flag's value unless it only repeats its environment variable (which a
/// profile overrides).
fn from_flag<T: Clone + AsRef<std::ffi::OsStr>>(value: &Option<T>, env: &str) -> Option<T> {
    value
        .clone()
        .filter(|v| std::env::var_os(env).as_deref() != Some(v.as_ref()))
}

/// Opens the repository the profile (or `-r`) names. The password comes
/// from the flags, else the profile's `password_file` or
/// `password_command`, else the environment (see `password`).
pub fn open_repo(cli: &Cli, profile: &PlatformProfile) -> Result<Repository> {
    let backend = super::open::open_backend_at(cli, &location(cli, profile)?)?;
    let section = profile.repository.as_ref();
    let file = profile.file.display();
    let from_profile: Vec<password::Candidate> = section
        .into_iter()
        .flat_map(|r| {
            let f = r.password_file.as_ref().map(|p| password::Candidate {
                label: format!("password_file {} of profile {file}", p.display()),
                method: password::Method::File(p.clone()),
            });
            let c = r.password_command.as_ref().map(|c| password::Candidate {
                label: format!("password_command of profile {file}"),
                method: password::Method::Command(c.clone()),
            });
            f.into_iter().chain(c)
        })
        .collect();
    let sources = password::repository_sources(
        cli.password_file.as_deref(),
        cli.password_command.as_deref(),
        from_profile,
        "--password-file, --password-command, password_file or password_command under [repository] in the profile, SNAP_PASSWORD, SNAP_PASSWORD_FILE or SNAP_PASSWORD_COMMAND",
    );
    let mut repo = super::open::open_repo_with(backend, cli.key_hint.as_deref(), &sources)?;
    if cli.no_lock {
        repo.set_unlocked();
    }
    Ok(repo)
}

/// The etcd flags, completed from the profile's `[etcd]` (flags win).
fn etcd_args(cli: &EtcdArgs, profile: &PlatformProfile) -> EtcdArgs {
    let Some(e) = &profile.etcd else {
        return cli.clone();
    };
    EtcdArgs {
        etcd_cacert: cli.etcd_cacert.clone().or(e.cacert.clone()),
        etcd_cert: cli.etcd_cert.clone().or(e.cert.clone()),
        etcd_key: cli.etcd_key.clone().or(e.key.clone()),
        etcd_user: cli.etcd_user.clone().or(e.user.clone()),
        etcd_password_file: cli.etcd_password_file.clone().or(e.password_file.clone()),
        etcd_prefix: cli.etcd_prefix.clone().or(e.prefix.clone()),
    }
}

/// What `backup --profile` captures.
pub struct ProfileSources {
    /// Files and folders.
    pub paths: Vec<std::path::PathBuf>,
    /// The etcd cluster.
    pub etcd: Option<EtcdBackupOptions>,
    /// The git repositories.
    pub git: Option<GitBackupOptions>,
    /// Exclude patterns of the files entries.
    pub excludes: Vec<String>,
}

/// The profile's sources as backup options.
pub fn backup_sources(
    cli: &Cli,
    flags: &EtcdArgs,
    profile: &PlatformProfile,
) -> Result<ProfileSources> {
    let etcd = match (&profile.etcd, profile.etcd_location()) {
        (Some(_), Some(location)) => {
            let args = etcd_args(flags, profile);
            Some(EtcdBackupOptions {
                location,
                client: etcd::client_options(&args)?,
                prefix: args.etcd_prefix.unwrap_or_default().into_bytes(),
            })
        }
        _ => None,
    };
    let git = profile.git.as_ref().map(|g| GitBackupOptions {
        root: g.path.clone(),
        location: format!("git:{}", g.path.display()),
    });
    Ok(ProfileSources {
        paths: profile.files.iter().map(|f| f.path.clone()).collect(),
        etcd,
        git,
        excludes: profile
            .backup_excludes()
            .into_iter()
            .chain(local_repository(&location(cli, profile)?))
            .collect(),
    })
}

/// `snap restore ID --profile FILE [--only KIND] [--dry-run]`.
pub fn restore(
    out: &mut impl Write,
    cli: &Cli,
    a: &RestoreArgs,
    profile: &PlatformProfile,
    selection: &Selection,
) -> Result<ExitCode> {
    if !a.include.is_empty() || !a.exclude.is_empty() {
        bail!("--include and --exclude pick paths of a restore into --target; with --profile, the [[files]] entries name the paths (and --only the kinds)");
    }
    let mut kinds: Vec<&str> = Vec::new();
    for kind in &a.only {
        let Some(k) = KINDS.iter().find(|k| **k == kind.as_str()) else {
            bail!("--only {kind}: the kinds are files, etcd and git");
        };
        if !profile.has(k) {
            bail!(
                "--only {kind}: the profile {} names no {kind} source",
                profile.file.display()
            );
        }
        kinds.push(k);
    }
    if kinds.is_empty() {
        kinds = profile.kinds();
    }
    let repo_location = location(cli, profile)?;
    let mut repo = open_repo(cli, profile)?;
    let hosts: Vec<String> = if a.host.is_empty() {
        profile.snapshot.host.iter().cloned().collect()
    } else {
        a.host.clone()
    };
    // One snapshot for every part, even if `latest` moves meanwhile.
    let (id, manifest) = selection.find(&repo, &a.snapshot, |m| {
        hosts.is_empty() || hosts.contains(&m.hostname)
    })?;
    for kind in ["etcd", "git"] {
        if kinds.contains(&kind) && !manifest.sources.iter().any(|s| s.kind == kind) {
            let others: Vec<&str> = kinds.iter().copied().filter(|k| *k != kind).collect();
            bail!(
                "snapshot {} has no {kind} source; restore the rest with --only {}",
                id.short(),
                others.join(",")
            );
        }
    }
    let id_hex = id.to_hex();
    let (json, quiet, dry) = (cli.json, cli.quiet, a.dry_run);
    if !json && !quiet {
        writeln!(
            out,
            "{}snapshot {} of {} taken {} with profile {}: {}",
            if dry {
                "dry run (nothing is changed): restoring "
            } else {
                "restoring "
            },
            id.short(),
            manifest.hostname,
            manifest.time.format("%Y-%m-%d %H:%M:%S UTC"),
            profile.file.display(),
            RESTORE_ORDER
                .iter()
                .filter(|k| kinds.contains(k))
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    // Where git repositories go, checked before anything is written.
    let git_push = a
        .git_push
        .clone()
        .or(profile.git.as_ref().and_then(|g| g.push.clone()));
    if let (true, Some(g)) = (kinds.contains(&"git"), &profile.git) {
        match (&git_push, &g.restore_dir) {
            (Some(push), _) if !push.contains("{repo}") => bail!(
                "--git-push {push} has no {{repo}}: every repository would be pushed to the same URL; write it like file:///srv/git/{{repo}}.git"
            ),
            (Some(_), _) => {}
            (None, Some(dir)) => {
                repo.load_index()?;
                crate::restore::git::check_destinations(&repo, &manifest, dir)?;
            }
            (None, None) => bail!(
                "the profile {} says nowhere to restore git repositories to: add push = \"URL/{{repo}}.git\" or restore_dir = \"FOLDER\" under [git], or pass --git-push",
                profile.file.display()
            ),
        }
    }
    // Files go first; a cluster that would refuse the restore (another
    // cluster ID or version, a prefix wider than captured, unreachable),
    // a value or git object that cannot be read, must stop it before any
    // file changes. (Each part also checks its own data before its first
    // change: files and etcd values are read ahead, git repositories are
    // recreated before any push.)
    let later_parts = kinds.contains(&"files") as usize + kinds.contains(&"etcd") as usize;
    if !dry && !a.etcd_deploy && kinds.contains(&"files") && kinds.contains(&"etcd") {
        if let Some(mut ea) = etcd_restore_args(a, profile, &id_hex) {
            ea.dry_run = true;
            ea.audit = None;
            etcd::restore_report(&mut repo, &ea, &Selection::refusing(), true)
                .context("checking etcd before restoring anything")?;
        }
    }
    if !dry && kinds.contains(&"git") && later_parts > 0 {
        repo.load_index()?;
        crate::restore::git::verify_objects(&repo, &manifest, 8)
            .context("checking the git repositories before restoring anything")?;
    }
    let mut doc = json!({"snapshot_id": id_hex, "dry_run": dry});
    let mut code = ExitCode::Ok;
    for kind in RESTORE_ORDER.iter().filter(|k| kinds.contains(k)) {
        match *kind {
            "files" => {
                // No repository is ever deleted, neither the one in use nor
                // the profile's.
                let keep: Vec<String> = profile
                    .restore_keeps()
                    .into_iter()
                    .chain(local_repository(&repo_location))
                    .chain(
                        profile
                            .repository
                            .as_ref()
                            .and_then(|r| local_repository(&r.location)),
                    )
                    .collect();
                let targets: Vec<ops::restore::InPlaceTarget> = profile
                    .files
                    .iter()
                    .map(|f| ops::restore::InPlaceTarget {
                        path: f.path.clone(),
                        keep: keep.clone(),
                        delete_extra: f.delete_extra,
                    })
                    .collect();
                let changes =
                    ops::restore::restore_in_place(&mut repo, &id_hex, &targets, dry, a.threads)?;
                if !json {
                    render_files(out, quiet, dry, &changes)?;
                }
                doc["files"] = serde_json::to_value(&changes)?;
            }
            "etcd" => {
                let Some(ea) = etcd_restore_args(a, profile, &id_hex) else {
                    continue;
                };
                // By its full ID now: nothing more is skipped.
                let report = etcd::restore_report(&mut repo, &ea, &Selection::refusing(), false)?;
                if !json {
                    etcd::render(out, false, quiet, &report)?;
                }
                code = etcd::exit_code(&report);
                doc["etcd"] = serde_json::to_value(&report)?;
            }
            "git" => {
                let Some(g) = &profile.git else { continue };
                let push = git_push.clone();
                let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
                // Checked above: a push, or a restore_dir. A push, and a dry
                // run, recreate the repositories aside first.
                let target = match (&push, &g.restore_dir) {
                    (None, Some(dir)) if !dry => dir.clone(),
                    _ => scratch.path().to_path_buf(),
                };
                let options = ops::restore::RestoreOptions {
                    snapshot: id_hex.clone(),
                    target,
                    git_push: push,
                    git_only: true,
                    dry_run: dry,
                    threads: a.threads,
                    ..Default::default()
                };
                let report = ops::restore::restore(&mut repo, &options)?;
                if !json && !quiet {
                    if dry && options.git_push.is_none() {
                        for r in &report.git {
                            let dir = g.restore_dir.clone().unwrap_or_default();
                            writeln!(
                                out,
                                "would create git repository {} ({} refs, {} objects)",
                                dir.join(Path::new(&r.path).strip_prefix(&options.target)?)
                                    .display(),
                                r.refs,
                                r.objects
                            )?;
                        }
                    } else {
                        render::git_repos(out, &report.git, dry)?;
                    }
                }
                doc["git"] = serde_json::to_value(&report.git)?;
            }
            _ => {}
        }
    }
    let skipped = selection.skipped();
    if !skipped.is_empty() {
        doc["skipped_snapshots"] = serde_json::to_value(&skipped)?;
    }
    if json {
        render::json(out, &doc)?;
    } else if !quiet && !dry && code == ExitCode::Ok {
        writeln!(out, "platform restored to snapshot {}", id.short())?;
    } else if !dry && code != ExitCode::Ok {
        writeln!(
            out,
            "platform restored to snapshot {} except the etcd keys reported above",
            id.short()
        )?;
    }
    Ok(code)
}

/// The restore flags for the profile's etcd: its cluster unless `--to` or
/// `--etcd-deploy` says otherwise, its TLS files and login, `any_cluster`
/// and `audit`.
fn etcd_restore_args(
    a: &RestoreArgs,
    profile: &PlatformProfile,
    id_hex: &str,
) -> Option<RestoreArgs> {
    let e = profile.etcd.as_ref()?;
    let mut ea = a.clone();
    ea.snapshot = id_hex.to_string();
    ea.host = Vec::new();
    if !a.etcd_deploy && ea.to.is_none() {
        ea.to = Some(e.restore.to.clone().unwrap_or(e.location.clone()));
    }
    ea.etcd = etcd_args(&a.etcd, profile);
    ea.any_cluster |= e.restore.any_cluster;
    ea.audit = a.audit.clone().or(e.restore.audit.clone());
    Some(ea)
}

/// What an in-place restore of files changed, a line per path.
fn render_files(
    out: &mut impl Write,
    quiet: bool,
    dry: bool,
    changes: &[crate::restore::in_place::InPlaceChanges],
) -> Result<()> {
    for c in changes {
        for w in &c.warnings {
            eprintln!("snap: warning: {w}");
        }
        if quiet {
            continue;
        }
        let (create, update, delete) = if dry {
            ("would create", "would update", "would delete")
        } else {
            ("created", "updated", "deleted")
        };
        for (verb, list) in [
            (create, &c.create),
            (update, &c.update),
            (delete, &c.delete),
        ] {
            for p in list.iter() {
                writeln!(out, "{verb}  {p}")?;
            }
        }
        writeln!(
            out,
            "files {}: {} {create}, {} {update}, {} {delete}, {} unchanged",
            c.path,
            c.create.len(),
            c.update.len(),
            c.delete.len(),
            c.unchanged
        )?;
    }
    Ok(())
}

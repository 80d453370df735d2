//! The command line: clap definitions, password resolution, rendering of
//! reports as text or JSON, and exit codes. The only layer using `anyhow`.

mod args;
mod etcd;
mod exit;
mod password;
mod profile;
mod progress;
mod render;
mod repair;
mod scope;

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

use args::{CatCommand, Cli, Command, KeyCommand};
pub use exit::ExitCode;

use crate::archiver::BackupOptions;
use crate::backend;
use crate::ops;
use crate::repo::{InitOptions, Repository};

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

#[cfg(feature = "serve")]
fn serve(cli: &Cli, a: &args::ServeArgs) -> Result<()> {
    use crate::server::{Htpasswd, ServeOptions};
    let htpasswd = a
        .htpasswd
        .clone()
        .or_else(|| Some(a.path.join(".htpasswd")).filter(|p| p.exists()));
    let auth = match (&htpasswd, a.no_auth) {
        (Some(path), false) => Some(Htpasswd::load(path)?),
        (None, true) => None,
        (Some(_), true) => anyhow::bail!(
            "--no-auth was given but {} exists; remove it or drop --no-auth",
            a.path.join(".htpasswd").display()
        ),
        (None, false) => anyhow::bail!(
            "no users: give --htpasswd FILE (create it with `htpasswd -B -c FILE USER`), put one at {}, or serve without authentication with --no-auth",
            a.path.join(".htpasswd").display()
        ),
    };
    let auth_text = match &auth {
        Some(h) => format!("{} user(s) from {}", h.len(), h.path().display()),
        None => "none (--no-auth)".to_string(),
    };
    let scheme = if a.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let mut modes = Vec::new();
    if a.append_only {
        modes.push("append-only");
    }
    if a.private_repos {
        modes.push("private repositories");
    }
    let options = ServeOptions {
        root: a.path.clone(),
        listen: a.listen.clone(),
        auth,
        private_repos: a.private_repos,
        append_only: a.append_only,
        tls: a.tls_cert.clone().zip(a.tls_key.clone()),
        metrics_no_auth: a.metrics_no_auth,
        metrics_admins: a.metrics_admin.clone(),
        max_size: a.max_size,
        limits: crate::server::Limits {
            header_timeout: a.header_timeout,
            idle_timeout: a.idle_timeout,
            body_timeout: a.body_timeout,
            max_connections: a.max_connections as usize,
        },
    };
    let quiet = cli.quiet;
    let root = a.path.display().to_string();
    crate::server::serve(options, |addr| {
        // The first line names the address: scripts and tests read it.
        println!("snap serve: listening on {scheme}://{addr}/");
        if !quiet {
            println!(
                "repositories under {root}; auth: {auth_text}{}{}",
                if modes.is_empty() { "" } else { "; " },
                modes.join(", ")
            );
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}

fn prune_options(
    repo: &Repository,
    a: &args::PruneOptionArgs,
    dry_run: bool,
) -> ops::prune::PruneOptions {
    ops::prune::PruneOptions {
        max_unused: a.max_unused,
        grace: a.grace,
        dry_run,
        connections: match a.connections {
            0 => repo.backend().preferred_connections(),
            n => n,
        },
    }
}

fn open_backend(cli: &Cli) -> Result<Arc<dyn backend::Backend>> {
    let location = cli.repo.as_deref().context(
        "no repository given: pass -r/--repo LOCATION or set SNAP_REPOSITORY (a folder path, local:PATH, rest:URL, s3:... or sftp:...)",
    )?;
    open_backend_at(cli, location)
}

fn open_backend_at(cli: &Cli, location: &str) -> Result<Arc<dyn backend::Backend>> {
    let options = backend::BackendOptions {
        retry: backend::RetryPolicy {
            notify: Some(|err, delay| {
                eprintln!("snap: retrying in {:.1}s after: {err}", delay.as_secs_f64())
            }),
            ..Default::default()
        },
        sftp: backend::SftpOptions {
            key_file: cli.sftp_key.clone(),
            known_hosts: cli.sftp_known_hosts.clone(),
            accept_new_host: cli.sftp_accept_new_host,
        },
    };
    Ok(backend::from_location(location, &options)?)
}

/// Where the main repository's password may come from, besides a profile.
const PASSWORD_HINT: &str =
    "--password-file, --password-command, SNAP_PASSWORD, SNAP_PASSWORD_FILE or SNAP_PASSWORD_COMMAND";

fn open_repo(cli: &Cli) -> Result<Repository> {
    let backend = open_backend(cli)?;
    let sources = password::repository_sources(
        cli.password_file.as_deref(),
        cli.password_command.as_deref(),
        Vec::new(),
        PASSWORD_HINT,
    );
    let mut repo = open_repo_with(backend, cli.key_hint.as_deref(), &sources)?;
    if cli.no_lock {
        repo.set_unlocked();
    }
    Ok(repo)
}

/// Opens the repository at `backend` with the password `sources` give,
/// asked for only once the repository is known to exist.
fn open_repo_with(
    backend: Arc<dyn backend::Backend>,
    key_hint: Option<&str>,
    sources: &password::Sources<'_>,
) -> Result<Repository> {
    // Fail with "no repository" before asking for a password.
    match backend.stat(crate::id::FileKind::Config, "") {
        Err(e) if e.is_not_found() => {
            return Err(crate::repo::RepoError::NoRepository {
                location: backend.location(),
            }
            .into())
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    let password = password::resolve(sources, None)?;
    match Repository::open_with_hint(backend, password.secret.as_bytes(), key_hint) {
        Ok(repo) => {
            repo.on_warning(|w| eprintln!("snap: warning: {w}"));
            Ok(repo)
        }
        Err(crate::repo::RepoError::WrongPassword {
            location,
            keys,
            untried,
        }) => Err(password::Rejected {
            origin: password.origin,
            keys,
            untried,
            location,
            hint: sources.hint.to_string(),
        }
        .into()),
        Err(e) => Err(e.into()),
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
    let selection = scope::selection(cli);
    match &cli.command {
        Command::Init(a) => {
            let backend = open_backend(cli)?;
            let password = password::resolve(
                &password::repository_sources(
                    cli.password_file.as_deref(),
                    cli.password_command.as_deref(),
                    Vec::new(),
                    PASSWORD_HINT,
                ),
                Some("the passwords do not match; nothing was created"),
            )?
            .secret;
            let options = InitOptions {
                kdf: a.kdf.params(),
                compression_level: a.compression_level,
                pack_size: a.pack_size_mib.saturating_mul(1 << 20),
                ..Default::default()
            };
            let report = ops::init::init(backend, password.as_bytes(), &options)?;
            render::init(out, cli.json, &report)?;
        }
        Command::Backup(a) => {
            let mut excludes = a.exclude.clone();
            for f in &a.exclude_file {
                excludes.extend(crate::source::files::Excludes::read_file(f)?);
            }
            let mut tags = a.tag.clone();
            let mut hostname = a.host.clone();
            let (mut repo, sources) = match &a.profile {
                Some(file) => {
                    let p = profile::load(file)?;
                    let repo = profile::open_repo(cli, &p)?;
                    let s = profile::backup_sources(cli, &a.etcd, &p)?;
                    excludes.extend(s.excludes);
                    tags.extend(p.snapshot.tags.iter().cloned());
                    hostname = hostname.or(p.snapshot.host.clone());
                    let sources = etcd::BackupSources {
                        paths: s.paths,
                        etcd: s.etcd,
                        git: s.git,
                    };
                    (repo, sources)
                }
                None => (open_repo(cli)?, etcd::backup_sources(&a.paths, &a.etcd)?),
            };
            let mut options = BackupOptions {
                paths: sources.paths,
                etcd: sources.etcd,
                git: sources.git,
                tags,
                hostname,
                excludes,
                parent: a.parent,
                force: a.force,
                threads: a.threads,
                connections: a.connections,
                progress: None,
                selection: selection.clone(),
            };
            let display = progress::wanted(cli.quiet, cli.json).then(|| {
                let p = Arc::new(crate::archiver::BackupProgress::default());
                options.progress = Some(p.clone());
                progress::backup(p)
            });
            let report = ops::backup::backup(&mut repo, &options);
            drop(display);
            let report = report?;
            for w in &report.warnings {
                eprintln!("snap: warning: {w}");
            }
            for n in &report.notes {
                eprintln!("snap: note: {n}");
            }
            for l in &report.stale_locks {
                eprintln!("snap: note: ignored a stale lock held {l}; `snap unlock` removes it");
            }
            render::backup(out, cli.json, cli.quiet, &report)?;
            if !report.warnings.is_empty() {
                return Ok(ExitCode::PartialBackup);
            }
        }
        Command::Snapshots(a) => {
            let repo = open_repo(cli)?;
            let filter = ops::snapshots::SnapshotFilter {
                hosts: a.host.clone(),
                tags: a.tag.clone(),
            };
            let rows = ops::snapshots::snapshots(&repo, &filter, &selection)?;
            render::snapshots(out, cli.json, &rows)?;
        }
        Command::Ls(a) => {
            let mut repo = open_repo(cli)?;
            render::ls(out, cli.json, &|| selection.skipped(), |emit| {
                ops::ls::ls(&mut repo, &a.snapshot, &selection, emit)
            })?;
        }
        Command::Restore(a) => {
            if let Some(file) = &a.profile {
                let p = profile::load(file)?;
                let code = profile::restore(out, cli, a, &p, &selection)?;
                out.flush()?;
                return Ok(code);
            }
            if a.dry_run && a.target.is_some() {
                anyhow::bail!("--dry-run previews changes to etcd (--to), git servers (--git-push) and a platform (--profile); a restore into --target only creates files there: leave out --dry-run, or list the snapshot with `snap ls`");
            }
            let mut repo = open_repo(cli)?;
            if a.to.is_some() || a.etcd_deploy {
                let code = etcd::restore(out, cli.json, cli.quiet, &mut repo, a, &selection)?;
                if a.target.is_none() || code != ExitCode::Ok {
                    return Ok(code);
                }
            }
            // A push without --target restores the repositories into a
            // temporary folder first.
            let scratch;
            let (target, git_only) = match (&a.target, &a.git_push) {
                (Some(t), _) => (t.clone(), false),
                (None, Some(_)) => {
                    scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
                    (scratch.path().to_path_buf(), true)
                }
                (None, None) => return Ok(ExitCode::Ok),
            };
            let mut options = ops::restore::RestoreOptions {
                snapshot: a.snapshot.clone(),
                target,
                git_push: a.git_push.clone(),
                git_only,
                dry_run: a.dry_run,
                includes: a.include.clone(),
                excludes: a.exclude.clone(),
                threads: a.threads,
                hosts: a.host.clone(),
                progress: None,
                selection: selection.clone(),
            };
            let display = progress::wanted(cli.quiet, cli.json).then(|| {
                let p = Arc::new(crate::restore::RestoreProgress::default());
                options.progress = Some(p.clone());
                progress::restore(p)
            });
            let report = ops::restore::restore(&mut repo, &options);
            drop(display);
            let report = report?;
            for w in &report.report.warnings {
                eprintln!("snap: warning: {w}");
            }
            render::restore(out, cli.json, cli.quiet, &report)?;
        }
        Command::Key(k) => {
            let repo = open_repo(cli)?;
            match k {
                KeyCommand::List => {
                    let (rows, problems) = ops::key::list(&repo)?;
                    for p in &problems {
                        eprintln!("snap: warning: {p}");
                    }
                    render::keys(out, cli.json, &rows)?;
                }
                KeyCommand::Add(a) => {
                    let password = password::resolve_new(a.new_password_file.as_deref())?;
                    let id = ops::key::add(&repo, password.as_bytes(), a.kdf.params())?;
                    render::line(
                        out,
                        cli.json,
                        cli.quiet,
                        "added",
                        &format!("key {}", id.to_hex()),
                    )?;
                }
                KeyCommand::Remove { id } => {
                    let id = ops::key::remove(&repo, id)?;
                    render::line(
                        out,
                        cli.json,
                        cli.quiet,
                        "removed",
                        &format!("key {}", id.to_hex()),
                    )?;
                }
                KeyCommand::Passwd(a) => {
                    let password = password::resolve_new(a.new_password_file.as_deref())?;
                    let (new, old) = ops::key::passwd(&repo, password.as_bytes(), a.kdf.params())?;
                    render::line(
                        out,
                        cli.json,
                        cli.quiet,
                        "changed",
                        &format!(
                            "password: key {} replaces key {}",
                            new.to_hex(),
                            old.to_hex()
                        ),
                    )?;
                }
            }
        }
        Command::Forget(a) => {
            let repo = open_repo(cli)?;
            let options = ops::forget::ForgetOptions {
                ids: a.ids.clone(),
                policy: ops::retention::RetentionPolicy {
                    last: a.keep_last,
                    hourly: a.keep_hourly,
                    daily: a.keep_daily,
                    weekly: a.keep_weekly,
                    monthly: a.keep_monthly,
                    yearly: a.keep_yearly,
                    within: a.keep_within,
                    tags: a.keep_tag.clone(),
                },
                group_by: a.group_by,
                hosts: a.host.clone(),
                dry_run: a.dry_run,
                selection: selection.clone(),
            };
            let mut repo = repo;
            let report = ops::forget::forget(&repo, &options)?;
            let skipped = selection.skipped();
            if a.prune {
                let options = prune_options(&repo, &a.prune_options, a.dry_run);
                let pruned = ops::prune::prune(&mut repo, &options)?;
                if cli.json {
                    let mut doc = serde_json::json!({"forget": report, "prune": pruned});
                    if !skipped.is_empty() {
                        doc["skipped_snapshots"] = serde_json::to_value(&skipped)?;
                    }
                    render::json(out, &doc)?;
                } else {
                    render::forget(out, false, cli.quiet, a.dry_run, true, &report, &skipped)?;
                    render::prune(out, cli.quiet, &pruned)?;
                }
            } else {
                render::forget(
                    out, cli.json, cli.quiet, a.dry_run, false, &report, &skipped,
                )?;
            }
        }
        Command::Tag(a) => {
            let repo = open_repo(cli)?;
            let change = ops::tag::TagChange {
                set: a.set.clone(),
                add: a.add.clone(),
                remove: a.remove.clone(),
            };
            let report = ops::tag::tag(&repo, &a.ids, &change, &selection)?;
            render::tag(out, cli.json, cli.quiet, &report, &selection.skipped())?;
        }
        Command::Dump { snapshot, path } => {
            let mut repo = open_repo(cli)?;
            let node = ops::dump::resolve(&mut repo, snapshot, path, &selection)?;
            if node.node_type == crate::snapshot::NodeType::Dir
                && std::io::IsTerminal::is_terminal(&std::io::stdout())
            {
                anyhow::bail!(
                    "{path} is a folder: its tar archive would go to the terminal; redirect stdout to a file or a pipe (snap dump {snapshot} {path} > out.tar)"
                );
            }
            let mut stdout = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
            ops::dump::dump(&repo, path, &node, &mut stdout)?;
        }
        #[cfg(feature = "serve")]
        Command::Serve(a) => serve(cli, a)?,
        Command::Copy(a) => {
            let mut source = open_repo(cli)?;
            let target_backend = open_backend_at(cli, &a.to)?;
            let sources = password::Sources {
                flags: password::Candidate::flag_file(
                    "--to-password-file",
                    a.to_password_file.as_deref(),
                )
                .into_iter()
                .chain(password::Candidate::flag_command(
                    "--to-password-command",
                    a.to_password_command.as_deref(),
                ))
                .collect(),
                profile: Vec::new(),
                env: password::EnvNames {
                    value: "SNAP_TO_PASSWORD",
                    file: Some("SNAP_TO_PASSWORD_FILE"),
                    command: Some("SNAP_TO_PASSWORD_COMMAND"),
                },
                hint: "--to-password-file, --to-password-command, SNAP_TO_PASSWORD, SNAP_TO_PASSWORD_FILE or SNAP_TO_PASSWORD_COMMAND for the target repository",
                prompt: "enter password for the target repository: ",
            };
            let mut target = open_repo_with(target_backend, None, &sources)
                .context("cannot open the target repository (--to)")?;
            let connections = match a.connections {
                0 => target.backend().preferred_connections(),
                n => n,
            };
            let report =
                ops::copy::copy(&mut source, &mut target, &a.ids, connections, &selection)?;
            render::copy(out, cli.json, cli.quiet, &report)?;
        }
        Command::Prune(a) => {
            let mut repo = open_repo(cli)?;
            let options = prune_options(&repo, &a.options, a.dry_run);
            let report = ops::prune::prune(&mut repo, &options)?;
            if cli.json {
                render::json(out, &report)?;
            } else {
                render::prune(out, cli.quiet, &report)?;
            }
        }
        Command::Diff { old, new } => {
            let mut repo = open_repo(cli)?;
            render::diff(out, cli.json, &|| selection.skipped(), |emit| {
                ops::diff::diff(&mut repo, old, new, &selection, emit)
            })?;
        }
        Command::Stats { snapshot } => {
            let mut repo = open_repo(cli)?;
            let stats = ops::stats::stats(&mut repo, snapshot.as_deref(), &selection)?;
            render::stats(out, cli.json, &stats)?;
        }
        Command::Find(a) => {
            let mut repo = open_repo(cli)?;
            let filter = ops::snapshots::SnapshotFilter {
                hosts: a.host.clone(),
                tags: a.tag.clone(),
            };
            render::find(out, cli.json, &|| selection.skipped(), |emit| {
                ops::find::find(&mut repo, &a.patterns, &filter, &selection, emit)
            })?;
        }
        Command::Cat(c) => {
            use ops::cat::CatTarget as T;
            let target = match c {
                CatCommand::Config => T::Config,
                CatCommand::Snapshot { id } => T::Snapshot(id.clone()),
                CatCommand::Index { id } => T::Index(id.clone()),
                CatCommand::Pack { id } => T::Pack(id.clone()),
                CatCommand::Key { id } => T::Key(id.clone()),
                CatCommand::Lock { id } => T::Lock(id.clone()),
                CatCommand::Blob { id } => T::Blob(id.clone()),
            };
            let mut repo = open_repo(cli)?;
            match ops::cat::cat(&mut repo, &target, &selection)? {
                ops::cat::CatOutput::Json(v) => {
                    serde_json::to_writer_pretty(&mut *out, &v)?;
                    writeln!(out)?;
                }
                ops::cat::CatOutput::Bytes(b) => out.write_all(&b)?,
            }
        }
        Command::Repair(command) => {
            let mut repo = open_repo(cli)?;
            return repair::run(&mut repo, command, out, cli.json, cli.quiet);
        }
        Command::Unlock(a) => {
            let repo = open_repo(cli)?;
            let report = ops::unlock::unlock(&repo, a.remove_all)?;
            render::unlock(out, cli.json, cli.quiet, &report)?;
        }
        Command::Check(a) => {
            let mut repo = open_repo(cli)?;
            let options = ops::check::CheckOptions {
                read_data: if a.read_data {
                    Some(ops::check::DataSubset::All)
                } else {
                    a.read_data_subset
                },
            };
            let report = ops::check::check(&mut repo, &options)?;
            render::check(out, cli.json, cli.quiet, &report)?;
            if !report.errors.is_empty() {
                out.flush()?;
                eprintln!(
                    "snap: error: check found {} error(s) in {}",
                    report.errors.len(),
                    repo.backend().location()
                );
                return Ok(ExitCode::CheckFailed);
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

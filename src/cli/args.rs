//! clap definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::crypto::KdfParams;
use crate::id::SnapshotId;

/// Encrypted, deduplicating backups of whole platforms.
#[derive(Parser, Debug)]
#[command(name = "snap", version, about, long_about = None)]
pub struct Cli {
    /// Repository location: a folder path, local:PATH, rest:URL,
    /// s3:https://HOST/BUCKET[/PREFIX], s3:s3.amazonaws.com/BUCKET[/PREFIX],
    /// sftp:[USER@]HOST:PATH or sftp://[USER@]HOST[:PORT]/PATH.
    #[arg(short = 'r', long = "repo", env = "SNAP_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// Read the password from the first line of this file. Beats a
    /// profile's password source, which beats SNAP_PASSWORD,
    /// SNAP_PASSWORD_FILE and SNAP_PASSWORD_COMMAND (only one of which may
    /// be set).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "password_command"
    )]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use the first line it prints as password
    /// (same order as --password-file).
    #[arg(long, global = true, value_name = "COMMAND")]
    pub password_command: Option<String>,
    /// Try this key file first (its ID or a unique prefix, as `snap key
    /// list` shows): needed when a repository has more than 20 keys, or a
    /// key with a costlier key derivation than snap tries unasked.
    #[arg(long, env = "SNAP_KEY_HINT", global = true, value_name = "KEY_ID")]
    pub key_hint: Option<String>,
    /// SFTP: authenticate with this private key (instead of the ssh agent and
    /// ~/.ssh/id_*); SNAP_SFTP_KEY_PASSPHRASE unlocks an encrypted one.
    #[arg(long, env = "SNAP_SFTP_KEY_FILE", global = true, value_name = "FILE")]
    pub sftp_key: Option<PathBuf>,
    /// SFTP: check host keys against this file instead of ~/.ssh/known_hosts.
    #[arg(
        long,
        env = "SNAP_SFTP_KNOWN_HOSTS",
        global = true,
        value_name = "FILE"
    )]
    pub sftp_known_hosts: Option<PathBuf>,
    /// SFTP: trust a server whose host key is not yet known, and record it.
    #[arg(long, global = true)]
    pub sftp_accept_new_host: bool,
    /// Go on without damaged snapshot files (they fail authentication, do
    /// not match their names or do not parse) where every snapshot is
    /// considered: listings, `latest`, policies, copy, a backup's parent.
    /// Each one skipped is named on stderr and in --json output; without
    /// this flag they stop the command.
    #[arg(long, global = true)]
    pub skip_damaged_snapshots: bool,
    /// Read without writing a lock file, so that a repository on a
    /// read-only medium can be read: snapshots, ls, restore, check, dump,
    /// diff, find, stats, cat, key list (refused by commands that write).
    /// A prune running meanwhile may delete what is being read; the
    /// command then fails, naming what is missing.
    #[arg(long, global = true)]
    pub no_lock: bool,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print less.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository.
    Init(InitArgs),
    /// Back up files and folders into a new snapshot.
    Backup(BackupArgs),
    /// List snapshots.
    Snapshots(SnapshotsArgs),
    /// List every file and folder of a snapshot.
    Ls(LsArgs),
    /// Restore a snapshot into a folder.
    Restore(RestoreArgs),
    /// Verify the repository's structure and, with --read-data, its data.
    Check(CheckArgs),
    /// Remove stale locks left by processes that died.
    Unlock(UnlockArgs),
    /// Show what changed between two snapshots (+ added, - removed,
    /// M content, U metadata, T type).
    Diff {
        /// The older snapshot (ID, prefix or latest).
        old: String,
        /// The newer snapshot.
        new: String,
    },
    /// Serve repositories under a folder over restic's REST protocol, for
    /// snap and restic clients.
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
    /// Copy snapshots into another repository (with its own password),
    /// storing only the blobs it lacks.
    Copy(CopyArgs),
    /// Change the tags of snapshots.
    Tag(TagArgs),
    /// Write a file of a snapshot to stdout, or a folder as a tar archive.
    Dump {
        /// The snapshot (ID, prefix or latest).
        snapshot: String,
        /// The file or folder, as `snap ls` shows it (`/` for everything).
        path: String,
    },
    /// Free the space no snapshot uses: delete unused packs, repack partly
    /// used ones (safe beside running backups, see --grace).
    Prune(PruneArgs),
    /// Sizes: restored, deduplicated, stored; of one snapshot or all.
    Stats {
        /// One snapshot (ID, prefix or latest); all when omitted.
        snapshot: Option<String>,
    },
    /// Find paths matching patterns in every snapshot.
    Find(FindArgs),
    /// Print one stored object, decrypted, for debugging.
    #[command(subcommand)]
    Cat(CatCommand),
    /// Remove snapshots by ID or by a retention policy (data stays until a prune).
    Forget(ForgetArgs),
    /// Manage the passwords (keys) that open the repository.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Repair a damaged repository: rebuild the index from the packs, or
    /// save copies of damaged snapshots without what they lost.
    #[command(subcommand)]
    Repair(RepairCommand),
}

/// `snap repair ...`.
#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// Rebuild the index from the packs' headers (after index files were
    /// lost or damaged); reads only the headers of packs no good index file
    /// describes.
    Index {
        /// Read every pack's header, also where an index file describes it.
        #[arg(long)]
        read_all_packs: bool,
        /// Show what would change; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// For each snapshot that needs lost blobs, save a copy (tagged
    /// `repaired`) without the files, etcd keys and git repositories that
    /// lost content, and list them. Run `snap repair index` first.
    Snapshots {
        /// Snapshots to repair (IDs or prefixes); all when none is given.
        ids: Vec<String>,
        /// Remove each damaged snapshot once its copy is saved.
        #[arg(long)]
        forget: bool,
        /// Show what would be cut; write nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// Also read every data blob, so damaged blobs (not only missing
        /// ones) are cut: reads all the data the snapshots use.
        #[arg(long)]
        read_data: bool,
    },
}

/// Argon2id parameters for a new key (`init`, `key add`, `key passwd`).
#[derive(Args, Debug)]
pub struct KdfArgs {
    /// Argon2id memory for the key, in KiB.
    #[arg(long, default_value_t = KdfParams::default().memory_kib)]
    pub kdf_memory_kib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = KdfParams::default().iterations)]
    pub kdf_iterations: u32,
    /// Argon2id lanes.
    #[arg(long, default_value_t = KdfParams::default().parallelism)]
    pub kdf_parallelism: u32,
}

impl KdfArgs {
    /// The key derivation parameters asked for.
    pub fn params(&self) -> KdfParams {
        KdfParams {
            memory_kib: self.kdf_memory_kib,
            iterations: self.kdf_iterations,
            parallelism: self.kdf_parallelism,
        }
    }
}

/// `snap init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Key derivation.
    #[command(flatten)]
    pub kdf: KdfArgs,
    /// zstd level for blobs (0 disables compression).
    #[arg(long, default_value_t = 3)]
    pub compression_level: i32,
    /// Target pack size in MiB.
    #[arg(long, default_value_t = 16)]
    pub pack_size_mib: u32,
}

/// `snap backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and folders to back up, and an etcd cluster as
    /// etcd://HOST:PORT[,HOST:PORT...] (etcds:// for TLS).
    #[arg(
        required_unless_present = "profile",
        conflicts_with = "profile",
        value_name = "PATH|etcd://HOST:PORT|git:PATH"
    )]
    pub paths: Vec<PathBuf>,
    /// Back up every source a platform profile names (etcd, git
    /// repositories, files) into one snapshot; the profile may also name the
    /// repository and its password source.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// How to reach etcd.
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Tag the snapshot (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Record this host name instead of the machine's.
    #[arg(long)]
    pub host: Option<String>,
    /// Skip paths matching this glob (repeatable); without `/` it matches
    /// names. With --profile, excludes go in the profile, where restores see
    /// them too.
    #[arg(long, conflicts_with = "profile")]
    pub exclude: Vec<String>,
    /// Read exclude globs from a file, one per line.
    #[arg(long, conflicts_with = "profile")]
    pub exclude_file: Vec<PathBuf>,
    /// Compare against this snapshot instead of the latest of this host and paths.
    #[arg(long)]
    pub parent: Option<SnapshotId>,
    /// Read every file, even those unchanged since the parent.
    #[arg(long)]
    pub force: bool,
    /// Worker threads (0: automatic).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Parallel uploads (0: the backend's default: 1 for local folders).
    #[arg(long, default_value_t = 0)]
    pub connections: usize,
}

/// `snap snapshots`.
#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    /// Only snapshots of this host (repeatable).
    #[arg(long)]
    pub host: Vec<String>,
    /// Only snapshots with this tag (repeatable; all must match).
    #[arg(long)]
    pub tag: Vec<String>,
}

/// `snap ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot: `latest`, an ID, or a unique prefix of at least 4 hex characters.
    pub snapshot: String,
}

/// `snap restore`.
#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// Snapshot: `latest`, an ID, or a unique prefix of at least 4 hex characters.
    pub snapshot: String,
    /// Folder to restore files into (created if missing).
    #[arg(long, short = 't', required_unless_present_any = ["to", "etcd_deploy", "git_push", "profile"], conflicts_with = "profile")]
    pub target: Option<PathBuf>,
    /// Restore every source of a platform profile where it names: files to
    /// their paths (what the snapshot lacks there is deleted), etcd into its
    /// cluster, git repositories to their server. With --dry-run, show the
    /// whole plan and change nothing.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// With --profile: restore only these kinds (files, etcd, git; repeatable
    /// or comma-separated).
    #[arg(long, value_name = "KIND", value_delimiter = ',', requires = "profile")]
    pub only: Vec<String>,
    /// Push each restored git repository as a mirror to this URL, `{repo}`
    /// replaced by its name (`ssh://git@host/{repo}.git`, `file:///srv/{repo}.git`):
    /// the server's refs become the snapshot's; refs it lacks are deleted.
    #[arg(long, value_name = "URL_TEMPLATE")]
    pub git_push: Option<String>,
    /// Restore the snapshot's etcd keyspace into this running cluster
    /// (etcd://HOST:PORT[,...]): put what differs, delete what the snapshot
    /// lacks, under the prefix.
    #[arg(long, value_name = "etcd://HOST:PORT", conflicts_with = "etcd_deploy")]
    pub to: Option<String>,
    /// Start a new single-member etcd on --etcd-data-dir and restore into it.
    #[arg(long, requires = "etcd_data_dir")]
    pub etcd_deploy: bool,
    /// Data folder of the etcd that --etcd-deploy starts (must be empty or new).
    #[arg(long, value_name = "DIR")]
    pub etcd_data_dir: Option<PathBuf>,
    /// Client address of the etcd that --etcd-deploy starts (its peer port is the next one).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:2379")]
    pub etcd_listen: String,
    /// Show what would change (in etcd, on git servers, and with --profile
    /// in files); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Overwrite etcd keys that someone else changed during the restore.
    #[arg(long)]
    pub force: bool,
    /// Write one JSON line per etcd change to FILE.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Restore into an etcd whose major.minor version differs from the snapshot's.
    #[arg(long)]
    pub ignore_version: bool,
    /// Restore into an etcd cluster other than the one captured.
    #[arg(long)]
    pub any_cluster: bool,
    /// Operations per etcd transaction (the cluster's --max-txn-ops).
    #[arg(long, default_value_t = crate::restore::etcd::DEFAULT_MAX_TXN_OPS)]
    pub etcd_max_txn_ops: usize,
    /// Key and value bytes per etcd transaction (below the cluster's --max-request-bytes).
    #[arg(long, default_value_t = crate::restore::etcd::DEFAULT_MAX_TXN_BYTES)]
    pub etcd_max_txn_bytes: usize,
    /// How to reach etcd.
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Restore only paths matching this glob, and what is inside them (repeatable).
    #[arg(long)]
    pub include: Vec<String>,
    /// Do not restore paths matching this glob (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// With `latest`: only consider snapshots of this host.
    #[arg(long)]
    pub host: Vec<String>,
    /// Parallel pack readers (0: automatic).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// How to reach an etcd cluster, and which part of its keyspace.
#[derive(Args, Debug, Clone, Default)]
pub struct EtcdArgs {
    /// CA certificate (PEM) that signed the etcds:// servers' certificates.
    #[arg(long, value_name = "FILE")]
    pub etcd_cacert: Option<PathBuf>,
    /// Client certificate (PEM) for etcds://.
    #[arg(long, value_name = "FILE", requires = "etcd_key")]
    pub etcd_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "FILE", requires = "etcd_cert")]
    pub etcd_key: Option<PathBuf>,
    /// etcd user; its password comes from SNAP_ETCD_PASSWORD,
    /// --etcd-password-file or a prompt.
    #[arg(long, value_name = "USER")]
    pub etcd_user: Option<String>,
    /// A file whose first line is the etcd user's password.
    #[arg(long, value_name = "FILE", requires = "etcd_user")]
    pub etcd_password_file: Option<PathBuf>,
    /// Only keys starting with this prefix (backup: what is captured;
    /// restore: what is compared, put and deleted).
    #[arg(long, value_name = "PREFIX")]
    pub etcd_prefix: Option<String>,
}

/// `snap check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Also download every pack and verify every blob.
    #[arg(long)]
    pub read_data: bool,
    /// Verify the data of a deterministic subset of packs: N/M (part N of M,
    /// so M runs with N = 1..M cover everything once) or X% (about X percent).
    #[arg(long, value_name = "N/M|X%", conflicts_with = "read_data", value_parser = parse_subset)]
    pub read_data_subset: Option<crate::ops::check::DataSubset>,
}

fn parse_subset(text: &str) -> Result<crate::ops::check::DataSubset, String> {
    crate::ops::check::DataSubset::parse(text)
}

/// `snap unlock`.
#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove every lock, also live ones: only when their holders are known
    /// to be gone (a lock of another host cannot be checked from here).
    #[arg(long)]
    pub remove_all: bool,
}

/// `snap key ...`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List the keys; the one in use is marked.
    List,
    /// Add a key with a new password (from --new-password-file,
    /// SNAP_NEW_PASSWORD, or a prompt).
    Add(NewKeyArgs),
    /// Remove a key (not the one in use).
    Remove {
        /// The key's ID or a unique prefix of at least 4 hex characters.
        id: String,
    },
    /// Change the password: add a key for the new one, remove the one in use.
    Passwd(NewKeyArgs),
}

/// A new key's password and derivation.
#[derive(Args, Debug)]
pub struct NewKeyArgs {
    /// Read the new password from the first line of this file (beats
    /// SNAP_NEW_PASSWORD and SNAP_NEW_PASSWORD_FILE, only one of which may
    /// be set).
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    /// Key derivation.
    #[command(flatten)]
    pub kdf: KdfArgs,
}

/// `snap forget`.
#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Snapshots to remove (IDs or unique prefixes); no policy applies then.
    pub ids: Vec<String>,
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_last: u32,
    /// Keep the newest snapshot of each of the N most recent hours (UTC).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_hourly: u32,
    /// ... of each of the N most recent days (UTC).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_daily: u32,
    /// ... of each of the N most recent ISO weeks.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_weekly: u32,
    /// ... of each of the N most recent months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_monthly: u32,
    /// ... of each of the N most recent years.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_yearly: u32,
    /// Keep everything taken within this span before the group's newest
    /// snapshot: numbers followed by y, m, d or h (e.g. 1y6m, 14d, 36h).
    #[arg(long, value_name = "SPAN", value_parser = parse_span)]
    pub keep_within: Option<crate::ops::retention::Span>,
    /// Keep every snapshot with this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub keep_tag: Vec<String>,
    /// Apply the policy to each group of snapshots with the same values of
    /// these: host, paths, tags (comma-separated; "" for one group).
    #[arg(long, default_value = "host,paths", value_parser = parse_group_by)]
    pub group_by: crate::ops::forget::GroupBy,
    /// Only consider snapshots of this host (repeatable).
    #[arg(long)]
    pub host: Vec<String>,
    /// Show what would be removed; remove nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Then run `snap prune` with the options below.
    #[arg(long)]
    pub prune: bool,
    /// With --prune: as `snap prune`.
    #[command(flatten)]
    pub prune_options: PruneOptionArgs,
}

/// `snap serve`.
#[cfg(feature = "serve")]
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The folder holding the repositories (each at most two folders deep).
    #[arg(long)]
    pub path: PathBuf,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// Users and bcrypt password hashes (`htpasswd -B -c FILE USER`);
    /// default: PATH/.htpasswd if it exists.
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// Serve without authentication: anyone who reaches the port can read
    /// (encrypted) and write repositories.
    #[arg(long, conflicts_with = "htpasswd")]
    pub no_auth: bool,
    /// Each user may only use repositories under /USER/.
    #[arg(long)]
    pub private_repos: bool,
    /// Files may be added but never deleted or overwritten (locks excepted),
    /// so a client's credentials cannot destroy existing backups.
    #[arg(long)]
    pub append_only: bool,
    /// PEM certificate chain for HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve /metrics without authentication (with --private-repos an
    /// anonymous request sees server-wide counters only, no repository).
    #[arg(long)]
    pub metrics_no_auth: bool,
    /// With --private-repos, this user sees all of /metrics (for a
    /// Prometheus scraper); other users see only their own repositories.
    /// Repeatable.
    #[arg(long, value_name = "USER", conflicts_with = "no_auth")]
    pub metrics_admin: Vec<String>,
    /// Refuse request bodies larger than this many bytes (413).
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<u64>,
    /// Close a connection whose request header is not complete this long
    /// after the server began waiting for it (also bounds TLS handshakes).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub header_timeout: std::time::Duration,
    /// Close a connection that sends and receives nothing this long while no
    /// request is in progress (idle keep-alive connections).
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = positive_duration)]
    pub idle_timeout: std::time::Duration,
    /// Cut a request whose body pauses this long (408), or a response the
    /// client stops reading for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive_duration)]
    pub body_timeout: std::time::Duration,
    /// Most connections open at once; past it new ones get 503 with
    /// Retry-After at once (TLS ones are closed).
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

/// A duration such as `30s`, `2m` or `500ms`, more than zero.
#[cfg(feature = "serve")]
fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (write e.g. 30s, 2m, 500ms)"))?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

/// `snap copy`.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Snapshots to copy (IDs, prefixes or latest); all when none given.
    pub ids: Vec<String>,
    /// The target repository (any location -r takes); it must exist (`snap init`).
    #[arg(long, env = "SNAP_TO_REPOSITORY", value_name = "LOCATION")]
    pub to: String,
    /// The target's password: first line of this file. Beats
    /// SNAP_TO_PASSWORD, SNAP_TO_PASSWORD_FILE and SNAP_TO_PASSWORD_COMMAND
    /// (only one of which may be set).
    #[arg(long, value_name = "FILE", conflicts_with = "to_password_command")]
    pub to_password_file: Option<PathBuf>,
    /// The target's password: first line this shell command prints.
    #[arg(long, value_name = "COMMAND")]
    pub to_password_command: Option<String>,
    /// Parallel uploads to the target (0: its backend's default).
    #[arg(long, default_value_t = 0)]
    pub connections: usize,
}

/// `snap tag`.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// Snapshots (IDs, prefixes or latest).
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Add this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub add: Vec<String>,
    /// Remove this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub remove: Vec<String>,
    /// Replace all tags with these (repeatable; --set '' removes every tag).
    #[arg(long, value_name = "TAG")]
    pub set: Option<Vec<String>>,
}

/// `snap prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Show what would be repacked, marked and deleted; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// The options.
    #[command(flatten)]
    pub options: PruneOptionArgs,
}

/// Options shared by `prune` and `forget --prune`.
#[derive(Args, Debug)]
pub struct PruneOptionArgs {
    /// Unused space to leave in packs rather than repack them: a share of
    /// the repository (5%), a size (200M, 1G) or "unlimited".
    #[arg(long, default_value = "5%", value_name = "LIMIT", value_parser = parse_max_unused)]
    pub max_unused: crate::ops::prune::MaxUnused,
    /// Packs no snapshot needs are marked, and deleted by a prune at least
    /// this long after (24h, 90m, 7d): longer than any backup takes, so
    /// backups may run during prune. 0 deletes at once, and waits for no
    /// other snap process to hold the repository (exclusive lock).
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = parse_grace)]
    pub grace: std::time::Duration,
    /// Parallel backend connections (0: the backend's default).
    #[arg(long, default_value_t = 0)]
    pub connections: usize,
}

fn parse_max_unused(text: &str) -> Result<crate::ops::prune::MaxUnused, String> {
    crate::ops::prune::MaxUnused::parse(text)
}

fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text}: {e}; use a duration such as 24h, 90m or 7d, or 0"))
}

fn parse_span(text: &str) -> Result<crate::ops::retention::Span, String> {
    crate::ops::retention::Span::parse(text)
}

fn parse_group_by(text: &str) -> Result<crate::ops::forget::GroupBy, String> {
    crate::ops::forget::GroupBy::parse(text)
}

/// `snap cat ...`: IDs may be unique prefixes of at least 4 hex characters.
#[derive(Subcommand, Debug)]
pub enum CatCommand {
    /// The repository config (JSON).
    Config,
    /// A snapshot manifest (JSON); `latest` works.
    Snapshot {
        /// The snapshot.
        id: String,
    },
    /// An index file (JSON).
    Index {
        /// The index file.
        id: String,
    },
    /// A pack's header (JSON).
    Pack {
        /// The pack.
        id: String,
    },
    /// A key file as stored (JSON; the master key stays wrapped).
    Key {
        /// The key.
        id: String,
    },
    /// A lock (JSON).
    Lock {
        /// The lock.
        id: String,
    },
    /// A blob's plaintext, raw, to stdout.
    Blob {
        /// The blob's full ID.
        id: String,
    },
}

/// `snap find`.
#[derive(Args, Debug)]
pub struct FindArgs {
    /// Patterns: with a `/` they match the whole path (`/etc/**/*.conf`),
    /// without one the last component (`*.pem`, `id_rsa`).
    #[arg(required = true)]
    pub patterns: Vec<String>,
    /// Only snapshots of this host (repeatable).
    #[arg(long)]
    pub host: Vec<String>,
    /// Only snapshots with this tag (repeatable: all must match).
    #[arg(long)]
    pub tag: Vec<String>,
}

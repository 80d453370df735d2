//! The SFTP backend, through `ssh2` (libssh2).
//!
//! Locations use restic's syntax: `sftp:[USER@]HOST:PATH` (scp-like) and
//! `sftp://[USER@]HOST[:PORT]/PATH`, where in the URL form `/PATH` is relative
//! to the login folder and `//PATH` is absolute. The user defaults to the local
//! one.
//!
//! Authentication is by key only: the file given with `--sftp-key` /
//! `SNAP_SFTP_KEY_FILE` (and `SNAP_SFTP_KEY_PASSPHRASE` if it is encrypted), or
//! else the ssh agent, then `~/.ssh/id_ed25519`, `id_ecdsa` and `id_rsa`. The
//! server's host key must be in `~/.ssh/known_hosts` (or the file given with
//! `--sftp-known-hosts`); an unknown host is refused unless
//! `--sftp-accept-new-host` is given, and a changed key is always refused.
//!
//! Connections are pooled, one per concurrent operation. A connection that
//! fails at the transport level is dropped, the error is transient, and the
//! retry layer's next try opens a fresh one: that is how a backup survives a
//! dropped link. Writes go to a hidden `.tmp-*` file in the destination folder,
//! are fsync'ed and renamed into place without overwriting, so nothing partial
//! is ever visible under a final name.

use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;
use ssh2::{CheckResult, KnownHostFileKind, OpenFlags, OpenType, RenameFlags, Session, Sftp};

use super::{Backend, BackendError, FileInfo, SftpOptions};
use crate::id::FileKind;

/// A parsed `sftp:` location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SftpLocation {
    /// The login user.
    pub user: String,
    /// The host name or address (IPv6 without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The repository folder on the server (relative to the login folder
    /// unless absolute).
    pub path: String,
}

impl SftpLocation {
    /// Parses `sftp:[USER@]HOST:PATH` or `sftp://[USER@]HOST[:PORT]/PATH`.
    pub fn parse(text: &str) -> Result<SftpLocation, String> {
        let usage = "expected sftp:[USER@]HOST:PATH or sftp://[USER@]HOST[:PORT]/PATH";
        let (authority, path, url) = if let Some(rest) = text.strip_prefix("sftp://") {
            let (authority, path) = rest.split_once('/').ok_or(usage)?;
            (authority, path.to_string(), true)
        } else if let Some(rest) = text.strip_prefix("sftp:") {
            // The host ends at the first ':' outside IPv6 brackets.
            let host_end = match rest.find('[') {
                Some(open) => rest[open..].find(']').map(|c| open + c + 1).ok_or(usage)?,
                None => rest.find(':').ok_or(usage)?,
            };
            let path = rest[host_end..].strip_prefix(':').ok_or(usage)?;
            (&rest[..host_end], path.to_string(), false)
        } else {
            return Err(usage.into());
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((user, hostport)) => (user.to_string(), hostport),
            None => (local_user(), authority),
        };
        if user.contains(':') {
            return Err("passwords are not accepted in the location: sftp uses keys (--sftp-key or the ssh agent)".into());
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(usage)?;
            match after.strip_prefix(':') {
                Some(port) if url => (host, Some(port)),
                None if after.is_empty() => (host, None),
                _ => return Err(usage.into()),
            }
        } else {
            match hostport.split_once(':') {
                Some((host, port)) if url => (host, Some(port)),
                None => (hostport, None),
                _ => return Err(usage.into()),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("{p} is not a valid port"))?,
            None => 22,
        };
        if host.is_empty() || user.is_empty() {
            return Err(usage.into());
        }
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Err("the repository folder is missing".into());
        }
        Ok(SftpLocation {
            user,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The name of the host in `known_hosts` (`[host]:port` off port 22).
    fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

fn local_user() -> String {
    if let Ok(user) = std::env::var("USER") {
        if !user.is_empty() {
            return user;
        }
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied out at once, before any other call could reuse it.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// One authenticated connection with its SFTP channel.
struct Connection {
    session: Session,
    sftp: Sftp,
}

/// A repository on an SFTP server; see the module documentation.
pub struct SftpBackend {
    location: SftpLocation,
    options: SftpOptions,
    shown: String,
    root: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SftpBackend {
    /// Parses `location` (with its `sftp:` scheme); connects on first use.
    pub fn new(location: &str, options: SftpOptions) -> Result<SftpBackend, BackendError> {
        let parsed = SftpLocation::parse(location).map_err(|reason| BackendError::Location {
            location: location.to_string(),
            reason,
        })?;
        let shown = format!(
            "sftp://{}@{}:{}/{}",
            parsed.user,
            if parsed.host.contains(':') {
                format!("[{}]", parsed.host)
            } else {
                parsed.host.clone()
            },
            parsed.port,
            parsed.path
        );
        Ok(SftpBackend {
            root: PathBuf::from(&parsed.path),
            location: parsed,
            options,
            shown,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn fail(
        &self,
        action: &'static str,
        path: &str,
        kind: ErrorKind,
        message: String,
    ) -> BackendError {
        BackendError::Io {
            location: self.shown.clone(),
            action,
            path: path.to_string(),
            source: std::io::Error::new(kind, message),
        }
    }

    fn connect(&self) -> Result<Connection, BackendError> {
        let loc = &self.location;
        let fail = |kind, message: String| self.fail("connect to", "/", kind, message);
        let addrs: Vec<_> = (loc.host.as_str(), loc.port)
            .to_socket_addrs()
            .map_err(|e| {
                fail(
                    ErrorKind::ConnectionRefused,
                    format!("cannot resolve {}: {e}", loc.host),
                )
            })?
            .collect();
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(15)) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            let e = last.unwrap_or_else(|| std::io::Error::new(ErrorKind::NotFound, "no address"));
            fail(transient_kind(e.kind()), e.to_string())
        })?;
        let _ = tcp.set_nodelay(true);
        let mut session = Session::new().map_err(|e| fail(ErrorKind::Other, e.to_string()))?;
        session.set_tcp_stream(tcp);
        // No blocking call may hang forever; a timeout is transient.
        session.set_timeout(120_000);
        session.handshake().map_err(|e| {
            fail(
                ErrorKind::ConnectionReset,
                format!("SSH handshake failed: {}", e.message()),
            )
        })?;
        self.check_host_key(&session)?;
        self.authenticate(&session)?;
        session.set_keepalive(false, 30);
        let sftp = session.sftp().map_err(|e| {
            fail(
                ErrorKind::ConnectionReset,
                format!(
                    "the server did not start SFTP ({}); is its sftp subsystem enabled?",
                    e.message()
                ),
            )
        })?;
        Ok(Connection { session, sftp })
    }

    fn check_host_key(&self, session: &Session) -> Result<(), BackendError> {
        let loc = &self.location;
        let refuse =
            |message: String| self.fail("connect to", "/", ErrorKind::PermissionDenied, message);
        let (key, key_type) = session
            .host_key()
            .ok_or_else(|| refuse("the server sent no host key".into()))?;
        let fingerprint = format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha2::Sha256::digest(key))
        );
        let user_file = self
            .options
            .known_hosts
            .clone()
            .unwrap_or_else(|| home().join(".ssh/known_hosts"));
        let mut known = session
            .known_hosts()
            .map_err(|e| refuse(e.message().to_string()))?;
        let mut files = vec![user_file.clone()];
        if self.options.known_hosts.is_none() {
            files.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        }
        for file in &files {
            // A missing or partly unreadable file only means fewer known hosts.
            let _ = known.read_file(file, KnownHostFileKind::OpenSSH);
        }
        let name = loc.known_hosts_name();
        match known.check_port(&loc.host, loc.port, key) {
            CheckResult::Match => Ok(()),
            CheckResult::Mismatch => Err(refuse(format!(
                "THE HOST KEY OF {name} HAS CHANGED (now {fingerprint}): someone may be intercepting the connection. If the server was reinstalled, check the new fingerprint with its administrator, then remove the old key with `ssh-keygen -R '{name}' -f {}`",
                user_file.display()
            ))),
            CheckResult::NotFound if self.options.accept_new_host => {
                let key_name = match key_type {
                    ssh2::HostKeyType::Rsa => "ssh-rsa",
                    ssh2::HostKeyType::Dss => "ssh-dss",
                    ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
                    ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
                    ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
                    ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
                    ssh2::HostKeyType::Unknown => {
                        return Err(refuse("the server's host key is of an unknown type".into()))
                    }
                };
                let line = format!(
                    "{name} {key_name} {}\n",
                    base64::engine::general_purpose::STANDARD.encode(key)
                );
                append_known_host(&user_file, &line).map_err(|e| {
                    refuse(format!("cannot record the host key in {}: {e}", user_file.display()))
                })?;
                eprintln!(
                    "snap: added {name} ({key_name} {fingerprint}) to {}",
                    user_file.display()
                );
                Ok(())
            }
            CheckResult::NotFound => Err(refuse(format!(
                "{name} is not a known host (its key is {fingerprint}). Check the fingerprint with the server's administrator, then connect once with `ssh -p {} {}@{}` or run again with --sftp-accept-new-host",
                loc.port, loc.user, loc.host
            ))),
            CheckResult::Failure => Err(refuse(format!(
                "cannot check the host key of {name} against {}",
                user_file.display()
            ))),
        }
    }

    fn authenticate(&self, session: &Session) -> Result<(), BackendError> {
        let user = &self.location.user;
        let passphrase = std::env::var("SNAP_SFTP_KEY_PASSPHRASE").ok();
        let mut tried = Vec::new();
        if let Some(key) = &self.options.key_file {
            if !key.is_file() {
                return Err(self.fail(
                    "connect to",
                    "/",
                    ErrorKind::NotFound,
                    format!("the key file {} does not exist", key.display()),
                ));
            }
            let _ = session.userauth_pubkey_file(user, None, key, passphrase.as_deref());
            tried.push(key.display().to_string());
        } else {
            if std::env::var_os("SSH_AUTH_SOCK").is_some() {
                let _ = session.userauth_agent(user);
                tried.push("the ssh agent".to_string());
            }
            for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                if session.authenticated() {
                    break;
                }
                let key = home().join(".ssh").join(name);
                if key.is_file() {
                    let _ = session.userauth_pubkey_file(user, None, &key, passphrase.as_deref());
                    tried.push(key.display().to_string());
                }
            }
        }
        if session.authenticated() {
            return Ok(());
        }
        let tried = if tried.is_empty() {
            "no key was found".to_string()
        } else {
            format!("tried {}", tried.join(", "))
        };
        Err(self.fail(
            "connect to",
            "/",
            ErrorKind::PermissionDenied,
            format!(
                "the server refused to authenticate {user} ({tried}): give the key with --sftp-key FILE or SNAP_SFTP_KEY_FILE, or load it into ssh-agent"
            ),
        ))
    }

    /// Runs `op` on a pooled connection (opening one if none is idle). A
    /// connection whose operation failed at the transport level is dropped.
    fn with_sftp<T>(
        &self,
        action: &'static str,
        path: &str,
        op: impl FnOnce(&Sftp) -> std::io::Result<T>,
    ) -> Result<T, BackendError> {
        let pooled = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        // Sends a keep-alive only when one is due.
        let _ = conn.session.keepalive_send();
        match op(&conn.sftp) {
            Ok(v) => {
                self.give_back(conn);
                Ok(v)
            }
            Err(e) => {
                let transport = matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::TimedOut | ErrorKind::BrokenPipe
                );
                if !transport {
                    self.give_back(conn);
                }
                Err(if e.kind() == ErrorKind::NotFound && action != "write" {
                    BackendError::NotFound {
                        location: self.shown.clone(),
                        path: path.to_string(),
                    }
                } else {
                    BackendError::Io {
                        location: self.shown.clone(),
                        action,
                        path: path.to_string(),
                        source: hint(e),
                    }
                })
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    fn full(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

fn append_known_host(file: &Path, line: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(line.as_bytes())
}

fn transient_kind(kind: ErrorKind) -> ErrorKind {
    match kind {
        ErrorKind::TimedOut | ErrorKind::ConnectionRefused => kind,
        _ => ErrorKind::ConnectionRefused,
    }
}

/// The SFTP status codes (draft-ietf-secsh-filexfer-02 and later).
const FX_NO_SUCH_FILE: i32 = 2;
const FX_PERMISSION_DENIED: i32 = 3;
const FX_NO_CONNECTION: i32 = 6;
const FX_CONNECTION_LOST: i32 = 7;
const FX_NO_SUCH_PATH: i32 = 10;
const FX_FILE_ALREADY_EXISTS: i32 = 11;
const FX_NO_SPACE_ON_FILESYSTEM: i32 = 14;
const FX_QUOTA_EXCEEDED: i32 = 15;

/// An ssh2 error as an `io::Error` whose kind says whether it is the
/// server's answer (permanent) or the connection's failure (transient).
fn sftp_io(e: ssh2::Error) -> std::io::Error {
    let kind = match e.code() {
        ssh2::ErrorCode::SFTP(FX_NO_SUCH_FILE | FX_NO_SUCH_PATH) => ErrorKind::NotFound,
        ssh2::ErrorCode::SFTP(FX_PERMISSION_DENIED) => ErrorKind::PermissionDenied,
        ssh2::ErrorCode::SFTP(FX_FILE_ALREADY_EXISTS) => ErrorKind::AlreadyExists,
        ssh2::ErrorCode::SFTP(FX_NO_SPACE_ON_FILESYSTEM | FX_QUOTA_EXCEEDED) => {
            ErrorKind::StorageFull
        }
        ssh2::ErrorCode::SFTP(FX_NO_CONNECTION | FX_CONNECTION_LOST) => ErrorKind::ConnectionReset,
        ssh2::ErrorCode::SFTP(_) => ErrorKind::Other,
        // LIBSSH2_ERROR_TIMEOUT
        ssh2::ErrorCode::Session(-9) => ErrorKind::TimedOut,
        ssh2::ErrorCode::Session(_) => ErrorKind::ConnectionReset,
    };
    std::io::Error::new(kind, e.message().to_string())
}

/// Errors from reading or writing an open file come through `std::io`,
/// where ssh2 reports a dropped session as `Other`: treat those as the
/// connection's failure.
fn file_io(e: std::io::Error) -> std::io::Error {
    if e.kind() == ErrorKind::Other {
        std::io::Error::new(ErrorKind::ConnectionReset, e.to_string())
    } else {
        e
    }
}

fn hint(e: std::io::Error) -> std::io::Error {
    let extra = match e.kind() {
        ErrorKind::PermissionDenied => {
            ": the server refused access; check the folder's owner and permissions"
        }
        ErrorKind::StorageFull => ": the server has no space or quota left",
        _ => "",
    };
    if extra.is_empty() {
        e
    } else {
        std::io::Error::new(e.kind(), format!("{e}{extra}"))
    }
}

fn mkdir_all(sftp: &Sftp, dir: &Path) -> std::io::Result<()> {
    if sftp.stat(dir).is_ok() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            mkdir_all(sftp, parent)?;
        }
    }
    match sftp.mkdir(dir, 0o700) {
        Ok(()) => Ok(()),
        // Made meanwhile by a concurrent writer?
        Err(_) if sftp.stat(dir).is_ok() => Ok(()),
        Err(e) => Err(sftp_io(e)),
    }
}

fn read_full(
    file: &mut ssh2::File,
    buf: &mut Vec<u8>,
    limit: Option<usize>,
) -> std::io::Result<()> {
    match limit {
        Some(len) => {
            buf.clear();
            buf.resize(len, 0);
            let mut filled = 0;
            while filled < len {
                match file.read(&mut buf[filled..]).map_err(file_io)? {
                    0 => break,
                    n => filled += n,
                }
            }
            buf.truncate(filled);
            Ok(())
        }
        None => {
            buf.clear();
            file.read_to_end(buf).map(|_| ()).map_err(file_io)
        }
    }
}

impl Backend for SftpBackend {
    fn location(&self) -> String {
        self.shown.clone()
    }

    fn preferred_connections(&self) -> usize {
        4
    }

    fn create(&self) -> Result<(), BackendError> {
        self.with_sftp("write", "/", |sftp| {
            for kind in FileKind::ALL {
                mkdir_all(sftp, &self.full(kind.dir()))?;
            }
            Ok(())
        })
    }

    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, BackendError> {
        let dir = kind.dir();
        self.with_sftp("list", dir, |sftp| {
            let mut out = Vec::new();
            let mut folders = vec![self.full(dir)];
            while let Some(folder) = folders.pop() {
                let entries = match sftp.readdir(&folder).map_err(sftp_io) {
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    other => other?,
                };
                for (path, stat) in entries {
                    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned())
                    else {
                        continue;
                    };
                    if name.starts_with('.') {
                        continue;
                    }
                    if stat.is_dir() {
                        // Only packs live in sub-folders (data/ab/...).
                        if kind == FileKind::Pack {
                            folders.push(path);
                        }
                    } else {
                        out.push(FileInfo {
                            name,
                            size: stat.size.unwrap_or(0),
                        });
                    }
                }
            }
            Ok(out)
        })
    }

    fn stat(&self, kind: FileKind, name: &str) -> Result<u64, BackendError> {
        let rel = kind.path(name);
        self.with_sftp("stat", &rel, |sftp| {
            let stat = sftp.stat(&self.full(&rel)).map_err(sftp_io)?;
            Ok(stat.size.unwrap_or(0))
        })
    }

    fn read(&self, kind: FileKind, name: &str) -> Result<Vec<u8>, BackendError> {
        let rel = kind.path(name);
        self.with_sftp("read", &rel, |sftp| {
            let mut file = sftp.open(self.full(&rel)).map_err(sftp_io)?;
            let mut buf = Vec::new();
            read_full(&mut file, &mut buf, None)?;
            Ok(buf)
        })
    }

    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, BackendError> {
        let mut buf = Vec::new();
        self.read_range_into(kind, name, offset, len, &mut buf)?;
        Ok(buf)
    }

    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        let rel = kind.path(name);
        let want = usize::try_from(len).map_err(|_| BackendError::ShortRead {
            location: self.shown.clone(),
            path: rel.clone(),
            size: 0,
            offset,
            len,
        })?;
        self.with_sftp("read", &rel, |sftp| {
            let mut file = sftp.open(self.full(&rel)).map_err(sftp_io)?;
            file.seek(SeekFrom::Start(offset)).map_err(file_io)?;
            read_full(&mut file, buf, Some(want))
        })?;
        if buf.len() != want {
            return Err(BackendError::ShortRead {
                location: self.shown.clone(),
                path: rel,
                size: offset + buf.len() as u64,
                offset,
                len,
            });
        }
        Ok(())
    }

    fn write(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<(), BackendError> {
        self.write_parts(kind, name, &[data])
    }

    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        let rel = kind.path(name);
        let full = self.full(&rel);
        let dir = full.parent().unwrap_or(&self.root).to_path_buf();
        let tmp = dir.join(format!(".tmp-{:016x}", rand::random::<u64>()));
        self.with_sftp("write", &rel, |sftp| {
            let open = |sftp: &Sftp| {
                sftp.open_mode(
                    &tmp,
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
                    0o600,
                    OpenType::File,
                )
            };
            let mut file = match open(sftp).map_err(sftp_io) {
                // The pack sub-folder is made on first use.
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    mkdir_all(sftp, &dir)?;
                    open(sftp).map_err(sftp_io)?
                }
                other => other?,
            };
            let written = (|| {
                for part in parts {
                    file.write_all(part).map_err(file_io)?;
                }
                // fsync@openssh.com; servers without it still get close().
                if let Err(e) = file.fsync() {
                    if !matches!(e.code(), ssh2::ErrorCode::SFTP(_)) {
                        return Err(sftp_io(e));
                    }
                }
                file.close().map_err(sftp_io)
            })();
            if let Err(e) = written {
                let _ = sftp.unlink(&tmp);
                return Err(e);
            }
            // A plain SFTP rename never replaces an existing file: names are
            // content hashes, so one already there holds these bytes.
            match sftp.rename(&tmp, &full, Some(RenameFlags::ATOMIC | RenameFlags::NATIVE)) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let _ = sftp.unlink(&tmp);
                    if sftp.stat(&full).is_ok() {
                        Ok(())
                    } else {
                        Err(sftp_io(e))
                    }
                }
            }
        })
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError> {
        let rel = kind.path(name);
        match self.with_sftp("delete", &rel, |sftp| {
            sftp.unlink(&self.full(&rel)).map_err(sftp_io)
        }) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let scp = SftpLocation::parse("sftp:backup@nas.local:/srv/repo/").unwrap();
        assert_eq!(
            scp,
            SftpLocation {
                user: "backup".into(),
                host: "nas.local".into(),
                port: 22,
                path: "/srv/repo".into()
            }
        );
        let relative = SftpLocation::parse("sftp:u@h:backups").unwrap();
        assert_eq!(relative.path, "backups");
        let url = SftpLocation::parse("sftp://u@127.0.0.1:2222//tmp/r").unwrap();
        assert_eq!((url.port, url.path.as_str()), (2222, "/tmp/r"));
        let home = SftpLocation::parse("sftp://u@h/repo").unwrap();
        assert_eq!((home.port, home.path.as_str()), (22, "repo"));
        let v6 = SftpLocation::parse("sftp://u@[::1]:2022//r").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 2022));
        let v6scp = SftpLocation::parse("sftp:u@[::1]:/r").unwrap();
        assert_eq!((v6scp.host.as_str(), v6scp.path.as_str()), ("::1", "/r"));
        assert_eq!(v6.known_hosts_name(), "[::1]:2022");
        assert_eq!(scp.known_hosts_name(), "nas.local");
        for bad in [
            "sftp:host",
            "sftp://host",
            "sftp://u@h:notaport//r",
            "sftp://u:pw@h//r",
            "sftp:u@h:",
            "ftp://h/r",
        ] {
            assert!(SftpLocation::parse(bad).is_err(), "{bad}");
        }
    }
}

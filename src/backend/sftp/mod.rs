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
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ssh2::{OpenFlags, OpenType, RenameFlags, Sftp};

use super::{Backend, BackendError, FileInfo, SftpOptions};
use crate::id::FileKind;

mod location;
mod session;

pub use location::SftpLocation;
use session::Connection;

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
        BackendError::io(self.shown.clone(), action, path, kind, message)
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

    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        let rel = kind.path(name);
        let full = self.full(&rel);
        let dir = full.parent().unwrap_or(&self.root).to_path_buf();
        let tmp = dir.join(format!(
            "{}{:016x}",
            super::TEMPORARY_PREFIX,
            rand::random::<u64>()
        ));
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

    fn remove_stale_temporaries(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, BackendError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.with_sftp("clean up", "/", |sftp| {
            let mut removed = 0;
            let mut folders: Vec<PathBuf> =
                FileKind::ALL.iter().map(|k| self.full(k.dir())).collect();
            while let Some(folder) = folders.pop() {
                let Ok(entries) = sftp.readdir(&folder) else {
                    continue;
                };
                for (path, stat) in entries {
                    if stat.is_dir() {
                        folders.push(path);
                        continue;
                    }
                    let temporary = path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(super::TEMPORARY_PREFIX));
                    let old = stat
                        .mtime
                        .is_some_and(|m| now.saturating_sub(m) >= older_than.as_secs());
                    if temporary && old && sftp.unlink(&path).is_ok() {
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
    }
}

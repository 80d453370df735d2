//! Opening a connection: TCP, SSH handshake, host-key check against
//! known_hosts, key authentication, then the SFTP channel.

use std::io::{ErrorKind, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;
use ssh2::{CheckResult, KnownHostFileKind, Session, Sftp};

use super::location::home;
use super::SftpBackend;
use crate::backend::BackendError;

/// One authenticated connection with its SFTP channel.
pub(super) struct Connection {
    pub(super) session: Session,
    pub(super) sftp: Sftp,
}

impl SftpBackend {
    pub(super) fn connect(&self) -> Result<Connection, BackendError> {
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

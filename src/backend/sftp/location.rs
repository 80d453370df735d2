//! Parsing `sftp:` locations (restic's syntax).

use std::path::PathBuf;

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
    pub(super) fn known_hosts_name(&self) -> String {
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

pub(super) fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
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

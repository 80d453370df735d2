//! The REST backend: restic's REST protocol, v2 (v1 servers also work), so a
//! repository can live on restic's rest-server, `rclone serve restic`, or
//! `snap serve`.
//!
//! Requests: `POST /?create=true` makes the repository; `GET /{type}/` lists
//! (v2: `[{"name","size"}]`, v1: `["name"]`); `HEAD`, `GET` (with `Range`),
//! `POST` and `DELETE` on `/{type}/{name}`; `/config` for the config. Types are
//! `keys`, `data`, `index`, `snapshots`, `locks`. Credentials come from the
//! URL or `SNAP_REST_USERNAME`/`SNAP_REST_PASSWORD` and never appear in
//! messages.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;

use super::{Backend, BackendError, FileInfo};
use crate::id::FileKind;

const V2: &str = "application/vnd.x.restic.rest.v2";

/// A repository behind a REST server.
pub struct RestBackend {
    base: reqwest::Url,
    shown: String,
    auth: Option<(String, String)>,
    client: Client,
}

impl RestBackend {
    /// Parses `http(s)://[USER:PASS@]HOST:PORT/PATH/` (without the `rest:`).
    pub fn new(url: &str) -> Result<RestBackend, BackendError> {
        let bad = |reason: String| BackendError::Location {
            location: redact(url),
            reason,
        };
        let mut base = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https".into()));
        }
        let mut auth = None;
        if !base.username().is_empty() {
            let user = percent_decode(base.username());
            let pass = percent_decode(base.password().unwrap_or(""));
            auth = Some((user, pass));
            // Neither call can fail on an http(s) URL with a host.
            let _ = base.set_username("");
            let _ = base.set_password(None);
        }
        if let (Ok(user), Ok(pass)) = (
            std::env::var("SNAP_REST_USERNAME"),
            std::env::var("SNAP_REST_PASSWORD"),
        ) {
            auth = Some((user, pass));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(15))
            // A stuck request is cut off; the retry layer tries again.
            .timeout(Duration::from_secs(600))
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(RestBackend {
            shown: format!("rest:{base}"),
            base,
            auth,
            client,
        })
    }

    fn url(&self, kind: FileKind, name: &str) -> reqwest::Url {
        let rel = match kind {
            FileKind::Config => "config".to_string(),
            _ if name.is_empty() => format!("{}/", kind.dir()),
            _ => format!("{}/{}", kind.dir(), name),
        };
        // Joining a relative path of hex names onto a URL ending in '/'
        // cannot fail.
        self.base.join(&rel).unwrap_or_else(|_| self.base.clone())
    }

    fn send(
        &self,
        req: RequestBuilder,
        action: &'static str,
        path: &str,
    ) -> Result<Response, BackendError> {
        let req = match &self.auth {
            Some((u, p)) => req.basic_auth(u, Some(p)),
            None => req,
        };
        let resp = req.send().map_err(|e| self.transport(action, path, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status == StatusCode::NOT_FOUND {
            return Err(BackendError::NotFound {
                location: self.location(),
                path: path.to_string(),
            });
        }
        let body: String = resp.text().unwrap_or_default().chars().take(200).collect();
        Err(self.status_error(status, action, path, body.trim()))
    }

    /// The error for an answer that is neither a success nor a 404.
    fn status_error(
        &self,
        status: StatusCode,
        action: &'static str,
        path: &str,
        body: &str,
    ) -> BackendError {
        // 401 is about the credentials, 403 about what they may do: telling
        // a user of an append-only server to check the password would send
        // them the wrong way.
        if status == StatusCode::FORBIDDEN {
            let words = if body.is_empty() { "" } else { ": " };
            return BackendError::Forbidden {
                location: self.location(),
                action,
                path: path.to_string(),
                message: format!("{body}{words}{FORBIDDEN_HINT}")
                    .trim_start_matches(": ")
                    .to_string(),
            };
        }
        BackendError::Http {
            location: self.location(),
            action,
            path: path.to_string(),
            status: status.as_u16(),
            message: http_hint(status, body),
        }
    }

    fn transport(&self, action: &'static str, path: &str, e: reqwest::Error) -> BackendError {
        let kind = if e.is_timeout() {
            std::io::ErrorKind::TimedOut
        } else if e.is_connect() {
            std::io::ErrorKind::ConnectionRefused
        } else {
            std::io::ErrorKind::ConnectionReset
        };
        // reqwest's own message is generic ("error sending request"): the
        // cause (connection refused, DNS, TLS) is further down the chain.
        // Credentials are sent as a header and appear in none of it.
        let message = super::error_chain(&e.without_url());
        BackendError::Io {
            location: self.location(),
            action,
            path: path.to_string(),
            source: std::io::Error::new(kind, message),
        }
    }
}

/// What a 403 means and what to do about it.
const FORBIDDEN_HINT: &str = "the credentials were accepted, but the server's policy does not allow this: an append-only server (snap serve or rest-server with --append-only) refuses deletes and overwrites, so run forget, prune and key remove against the repository where it is writable (its folder, or a server without --append-only); a server with private repositories lets each user use only repositories under /USER/";

fn http_hint(status: StatusCode, body: &str) -> String {
    let hint = match status.as_u16() {
        401 => "the server refused the credentials: check the user and password",
        413 => "the server refused the size of the upload",
        507 => "the server has no space left",
        429 | 500..=599 => "the server is overloaded or failing; snap retries such errors",
        _ => "",
    };
    [status.to_string(), body.to_string(), hint.to_string()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The location with any password removed, for messages.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => url.split('@').next_back().unwrap_or(url).to_string(),
    }
}

#[derive(serde::Deserialize)]
struct V2Entry {
    name: String,
    size: u64,
}

impl Backend for RestBackend {
    fn location(&self) -> String {
        self.shown.clone()
    }

    fn create(&self) -> Result<(), BackendError> {
        let mut url = self.base.clone();
        url.set_query(Some("create=true"));
        self.send(self.client.post(url), "create", "/")?;
        Ok(())
    }

    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, BackendError> {
        let path = format!("{}/", kind.dir());
        let resp = match self.send(
            self.client
                .get(self.url(kind, ""))
                .header(reqwest::header::ACCEPT, V2),
            "list",
            &path,
        ) {
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            other => other?,
        };
        let v2 = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(V2));
        let body = resp.bytes().map_err(|e| self.transport("list", &path, e))?;
        let parse_err = |e: serde_json::Error| BackendError::Http {
            location: self.location(),
            action: "list",
            path: path.clone(),
            status: 200,
            message: format!("the listing is not valid JSON: {e}"),
        };
        if v2 {
            let entries: Vec<V2Entry> = serde_json::from_slice(&body).map_err(parse_err)?;
            Ok(entries
                .into_iter()
                .map(|e| FileInfo {
                    name: e.name,
                    size: e.size,
                })
                .collect())
        } else {
            // Protocol v1 lists names only: sizes need one HEAD each.
            let names: Vec<String> = serde_json::from_slice(&body).map_err(parse_err)?;
            names
                .into_iter()
                .map(|name| {
                    let size = self.stat(kind, &name)?;
                    Ok(FileInfo { name, size })
                })
                .collect()
        }
    }

    fn stat(&self, kind: FileKind, name: &str) -> Result<u64, BackendError> {
        let path = kind.path(name);
        let resp = self.send(self.client.head(self.url(kind, name)), "stat", &path)?;
        resp.headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| BackendError::Http {
                location: self.location(),
                action: "stat",
                path,
                status: resp.status().as_u16(),
                message: "the server sent no Content-Length".into(),
            })
    }

    fn read(&self, kind: FileKind, name: &str) -> Result<Vec<u8>, BackendError> {
        let path = kind.path(name);
        let resp = self.send(self.client.get(self.url(kind, name)), "read", &path)?;
        Ok(resp
            .bytes()
            .map_err(|e| self.transport("read", &path, e))?
            .to_vec())
    }

    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        let path = kind.path(name);
        out.clear();
        if len == 0 {
            return Ok(());
        }
        let range = format!("bytes={}-{}", offset, offset + len - 1);
        let resp = self.send(
            self.client
                .get(self.url(kind, name))
                .header(reqwest::header::RANGE, range),
            "read",
            &path,
        )?;
        let whole = resp.status() == StatusCode::OK;
        out.reserve(len as usize);
        resp.take(if whole { offset + len } else { len })
            .read_to_end(out)
            .map_err(|e| BackendError::Io {
                location: self.location(),
                action: "read",
                path: path.clone(),
                source: e,
            })?;
        // A server that ignores Range sends the whole file.
        if whole {
            out.drain(..(offset as usize).min(out.len()));
        }
        if out.len() as u64 != len {
            return Err(BackendError::ShortRead {
                location: self.location(),
                path,
                size: offset + out.len() as u64,
                offset,
                len,
            });
        }
        Ok(())
    }

    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        let path = kind.path(name);
        // Names are content hashes: an existing file already holds these
        // bytes, and servers refuse to overwrite (append-only) anyway.
        if kind != FileKind::Config && self.stat(kind, name).is_ok() {
            return Ok(());
        }
        self.send(
            self.client.post(self.url(kind, name)).body(parts.concat()),
            "write",
            &path,
        )?;
        Ok(())
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError> {
        let path = kind.path(name);
        match self.send(self.client.delete(self.url(kind, name)), "delete", &path) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_and_forbidden_say_different_things() {
        let b = RestBackend::new("http://user:pw@127.0.0.1:1/r/").unwrap();
        let e = b.status_error(
            StatusCode::UNAUTHORIZED,
            "list",
            "keys/",
            "authentication required",
        );
        assert!(matches!(e, BackendError::Http { status: 401, .. }), "{e}");
        assert!(e.to_string().contains("check the user and password"), "{e}");
        assert!(!e.is_transient());
        let e = b.status_error(
            StatusCode::FORBIDDEN,
            "delete",
            "snapshots/ab",
            "append-only: files may be added but not deleted",
        );
        assert!(matches!(e, BackendError::Forbidden { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("forbidden by the server (HTTP 403): append-only: files may be added"),
            "{text}"
        );
        assert!(text.contains("without --append-only"), "{text}");
        assert!(
            !text.contains("check the user and password") && !text.contains("pw@"),
            "{text}"
        );
        assert!(!e.is_transient());
        let e = b.status_error(StatusCode::FORBIDDEN, "read", "config", "");
        assert!(
            e.to_string()
                .contains("(HTTP 403): the credentials were accepted"),
            "{e}"
        );
    }
}

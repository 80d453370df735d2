//! Answers one request: auth, route, then the file operation on disk.
//!
//! Uploads stream into a temporary file beside the destination while their
//! SHA-256 is computed; only a complete body whose hash is its name (the
//! config excepted) is fsynced and renamed into place, never over an
//! existing file. A refused, cut or cancelled upload leaves nothing: the
//! temporary file is deleted when its guard drops.

use std::io::{ErrorKind, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::metrics::{self, Cut, View};
use super::range::{self, RangeAnswer};
use super::routes::{self, Route};
use super::State;
use crate::id::FileKind;

/// A response body: small in memory, or a file streamed from disk.
pub type Body = BoxBody<Bytes, std::io::Error>;

const V2: &str = "application/vnd.x.restic.rest.v2";

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(format!("{message}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn bytes(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Who a request was answered for.
#[derive(PartialEq, Eq)]
enum Access {
    /// Refused by auth or by `--private-repos`: counted server-wide only,
    /// never in a repository's series (strangers' probes are not its traffic).
    Refused,
    /// No credentials were needed.
    Anonymous,
    /// An authenticated user.
    User(String),
}

/// Handles a request and records it in the metrics.
pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let mut received = 0u64;
    let method = metrics::method_label(req.method());
    let parsed = routes::parse(req.uri().path());
    let kind = metrics::route_kind(parsed.as_ref().ok());
    let (response, repo) = match parsed {
        Ok(route) => {
            let (response, access) = authorized(&state, &route, req, &mut received).await;
            let repo = (access != Access::Refused && route != Route::Metrics)
                .then(|| route.repo().to_string());
            (response, repo)
        }
        Err(why) => (text(StatusCode::BAD_REQUEST, why), None),
    };
    let status = response.status().as_u16();
    state.metrics.record_request(kind, method, status);
    if let Some(repo) = repo {
        // Only repositories that exist get series: a request to any name
        // would otherwise add one.
        if state.metrics.has_repo(&repo) || is_repository(&state.root.join(&repo)).await {
            let sent = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0);
            state.metrics.record_repo(&repo, status, received, sent);
        }
    }
    response
}

/// A repository is a folder with a `keys/` folder (made by `?create=true`).
async fn is_repository(dir: &Path) -> bool {
    tokio::fs::metadata(dir.join("keys"))
        .await
        .is_ok_and(|m| m.is_dir())
}

async fn authorized(
    state: &Arc<State>,
    route: &Route,
    req: Request<Incoming>,
    received: &mut u64,
) -> (Response<Body>, Access) {
    // With --metrics-no-auth, credentials sent anyway still count: they
    // choose what /metrics shows (and wrong ones are refused as anywhere).
    let needs_auth = state.auth.is_some()
        && (*route != Route::Metrics
            || !state.metrics_no_auth
            || req.headers().contains_key(header::AUTHORIZATION));
    let mut access = Access::Anonymous;
    if needs_auth {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let s = Arc::clone(state);
        let checked = tokio::task::spawn_blocking(move || {
            s.auth.as_ref().and_then(|a| a.check(header.as_deref()))
        })
        .await
        .ok()
        .flatten();
        match checked {
            Some(u) => access = Access::User(u),
            None => {
                let mut r = text(StatusCode::UNAUTHORIZED, "authentication required");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"snap\""),
                );
                return (r, Access::Refused);
            }
        }
    }
    let user = match &access {
        Access::User(u) => Some(u.as_str()),
        _ => None,
    };
    if *route == Route::Metrics {
        if req.method() != Method::GET {
            let r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
            return (r, access);
        }
        let view = metrics_view(state, user);
        let body = state.metrics.render(view).into_bytes();
        return (
            bytes(StatusCode::OK, body, "text/plain; version=0.0.4"),
            access,
        );
    }
    if state.private_repos {
        let own =
            user.is_some_and(|u| route.repo() == u || route.repo().starts_with(&format!("{u}/")));
        if !own {
            let r = text(
                StatusCode::FORBIDDEN,
                "private repositories: each user may only use repositories under /USER/",
            );
            return (r, Access::Refused);
        }
    }
    let response = match dispatch(state, route, req, received).await {
        Ok(r) => r,
        Err(e) => io_error(&e),
    };
    (response, access)
}

/// What `/metrics` shows `user` (format-spec/rest-protocol.md): with
/// private repositories, a user only their own repositories, an anonymous
/// request (possible with --metrics-no-auth) only server-wide counters, and
/// a --metrics-admin user everything; otherwise every user may use every
/// repository, so everything.
fn metrics_view<'a>(state: &State, user: Option<&'a str>) -> View<'a> {
    if !state.private_repos {
        return View::All;
    }
    match user {
        Some(u) if state.metrics_admins.iter().any(|a| a == u) => View::All,
        Some(u) => View::User(u),
        None => View::Server,
    }
}

/// The answer for a failed file operation. Only faults of the server
/// (permissions, I/O errors) are 500: whatever a request's path can cause
/// is the client's (4xx), so a probe cannot fill the log either.
fn io_error(e: &std::io::Error) -> Response<Body> {
    match e.kind() {
        // A file where a folder of the path should be: nothing is there.
        ErrorKind::NotFound | ErrorKind::NotADirectory => text(StatusCode::NOT_FOUND, "not found"),
        // Only a file where a folder should be makes creating one fail so.
        ErrorKind::AlreadyExists => text(
            StatusCode::CONFLICT,
            "a file stands where a folder should be; nothing was changed",
        ),
        ErrorKind::IsADirectory => text(
            StatusCode::CONFLICT,
            "a folder stands where the file should be; nothing was changed",
        ),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => text(
            StatusCode::INSUFFICIENT_STORAGE,
            "the server's disk is full; nothing was stored",
        ),
        // Segments are at most 255 bytes (routes), so only a served
        // folder with a very long path gets here: still the path's fault.
        _ if e.raw_os_error() == Some(libc::ENAMETOOLONG) => text(
            StatusCode::BAD_REQUEST,
            "the path is too long for the server's file system",
        ),
        _ => {
            eprintln!("snap serve: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "server error")
        }
    }
}

async fn dispatch(
    state: &State,
    route: &Route,
    req: Request<Incoming>,
    received: &mut u64,
) -> std::io::Result<Response<Body>> {
    let method = req.method().clone();
    let repo_dir = state.root.join(route.repo());
    Ok(match (route, &method) {
        (Route::Repo { .. }, &Method::POST)
            if req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "create=true")) =>
        {
            match create_repo(&repo_dir).await {
                Ok(()) => text(StatusCode::OK, "created"),
                // A file stands where a folder of the repository should.
                Err(e) if matches!(e.kind(), ErrorKind::AlreadyExists | ErrorKind::NotADirectory) => {
                    text(
                        StatusCode::CONFLICT,
                        "a file stands where the repository's folders should be; nothing was created",
                    )
                }
                Err(e) => return Err(e),
            }
        }
        (Route::Config { .. }, &Method::HEAD | &Method::GET) => {
            read(&repo_dir.join(FileKind::Config.path("")), &req).await?
        }
        (Route::Config { .. }, &Method::POST) => {
            upload(
                state,
                &repo_dir,
                &repo_dir.join(FileKind::Config.path("")),
                None,
                req,
                received,
            )
            .await?
        }
        (Route::Config { .. }, &Method::DELETE) => {
            if state.append_only {
                return Ok(append_only());
            }
            remove(&repo_dir.join(FileKind::Config.path(""))).await?
        }
        (Route::List { kind, .. }, &Method::GET) => list(&repo_dir, *kind, &req).await?,
        (Route::File { kind, name, .. }, &Method::HEAD | &Method::GET) => {
            read(&repo_dir.join(kind.path(name)), &req).await?
        }
        (Route::File { kind, name, .. }, &Method::POST) => {
            let path = repo_dir.join(kind.path(name));
            upload(state, &repo_dir, &path, Some(name), req, received).await?
        }
        (Route::File { kind, name, .. }, &Method::DELETE) => {
            if state.append_only && *kind != FileKind::Lock {
                return Ok(append_only());
            }
            remove(&repo_dir.join(kind.path(name))).await?
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here"),
    })
}

fn append_only() -> Response<Body> {
    text(
        StatusCode::FORBIDDEN,
        "append-only: files may be added but not deleted or overwritten (locks excepted)",
    )
}

async fn create_repo(repo: &Path) -> std::io::Result<()> {
    for kind in FileKind::ALL.into_iter().filter(|k| *k != FileKind::Config) {
        tokio::fs::create_dir_all(repo.join(kind.dir())).await?;
    }
    for b in 0..=255u8 {
        let folder = repo.join(FileKind::Pack.dir()).join(format!("{b:02x}"));
        tokio::fs::create_dir_all(folder).await?;
    }
    Ok(())
}

async fn list(
    repo: &Path,
    kind: FileKind,
    req: &Request<Incoming>,
) -> std::io::Result<Response<Body>> {
    let dir = repo.join(kind.dir());
    let mut folders = vec![dir];
    let mut files: Vec<(String, u64)> = Vec::new();
    while let Some(folder) = folders.pop() {
        let mut entries = tokio::fs::read_dir(&folder).await?;
        while let Some(e) = entries.next_entry().await? {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let meta = e.metadata().await?;
            if meta.is_dir() {
                if kind == FileKind::Pack && name.len() == 2 {
                    folders.push(e.path());
                }
            } else if meta.is_file() {
                files.push((name, meta.len()));
            }
        }
    }
    files.sort();
    let v2 = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(V2));
    let body = if v2 {
        let items: Vec<serde_json::Value> = files
            .iter()
            .map(|(name, size)| serde_json::json!({"name": name, "size": size}))
            .collect();
        serde_json::to_vec(&items)
    } else {
        serde_json::to_vec(&files.iter().map(|(n, _)| n).collect::<Vec<_>>())
    }
    .map_err(std::io::Error::other)?;
    let mut r = bytes(
        StatusCode::OK,
        body,
        if v2 { V2 } else { "application/json" },
    );
    let len = hyper::body::Body::size_hint(r.body()).exact().unwrap_or(0);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(r)
}

async fn read(path: &Path, req: &Request<Incoming>) -> std::io::Result<Response<Body>> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        // A folder opens fine but cannot be read: there is no file here.
        return Ok(text(StatusCode::NOT_FOUND, "not found"));
    }
    let size = meta.len();
    // RFC 9110 §14.2: ranges apply to GET only, and an If-Range condition
    // cannot hold here (no validators are sent), so both get the whole file.
    let range = match req.headers().get(header::RANGE) {
        Some(v) if req.method() == Method::GET && !req.headers().contains_key(header::IF_RANGE) => {
            v.to_str()
                .map_or(RangeAnswer::Full, |v| range::parse(v, size))
        }
        _ => RangeAnswer::Full,
    };
    let (status, offset, len) = match range {
        RangeAnswer::Full => (StatusCode::OK, 0, size),
        RangeAnswer::Partial { offset, len } => (StatusCode::PARTIAL_CONTENT, offset, len),
        RangeAnswer::Unsatisfiable => {
            let mut r = text(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "the range holds no byte of the file",
            );
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).map_err(std::io::Error::other)?,
            );
            return Ok(r);
        }
    };
    let body: Body = if req.method() == Method::HEAD {
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed()
    } else {
        file.seek(SeekFrom::Start(offset)).await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 << 10);
        StreamBody::new(stream.map_ok(Frame::data)).boxed()
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {offset}-{}/{size}", offset + len - 1);
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).map_err(std::io::Error::other)?,
        );
    }
    Ok(r)
}

async fn remove(path: &Path) -> std::io::Result<Response<Body>> {
    tokio::fs::remove_file(path).await?;
    Ok(text(StatusCode::OK, "deleted"))
}

async fn upload(
    state: &State,
    repo: &Path,
    path: &Path,
    name: Option<&String>,
    req: Request<Incoming>,
    received: &mut u64,
) -> std::io::Result<Response<Body>> {
    if tokio::fs::metadata(repo.join("keys")).await.is_err() {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "no repository here: create it first (POST ?create=true)",
        ));
    }
    let declared: Option<u64> = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let too_large = |n: u64| state.max_size.is_some_and(|max| n > max);
    if declared.is_some_and(too_large) {
        return Ok(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than this server accepts (--max-size)",
        ));
    }
    if tokio::fs::try_exists(path).await? {
        return Ok(exists(state));
    }
    let dir = path.parent().unwrap_or(repo).to_path_buf();
    tokio::fs::create_dir_all(&dir).await?;
    let tmp = tempfile::Builder::new()
        .prefix(crate::backend::TEMPORARY_PREFIX)
        .tempfile_in(&dir)?;
    // The guard deletes the file unless it is persisted below.
    let (file, guard) = tmp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = sha2::Sha256::new();
    let mut body = req.into_body();
    loop {
        // A client that stops sending holds a connection and a temporary
        // file: past --body-timeout without a byte, the upload is dropped.
        let frame = match tokio::time::timeout(state.limits.body_timeout, body.frame()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(_) => {
                state.metrics.cut(Cut::Body);
                return Ok(text(
                    StatusCode::REQUEST_TIMEOUT,
                    "the upload stalled (--body-timeout); nothing was stored",
                ));
            }
        };
        let frame = match frame {
            Ok(f) => f,
            // The client went away or sent garbage: discard.
            Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "the upload was cut off")),
        };
        if let Ok(data) = frame.into_data() {
            *received += data.len() as u64;
            if too_large(*received) {
                return Ok(text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the body is larger than this server accepts (--max-size)",
                ));
            }
            hasher.update(&data);
            file.write_all(&data).await?;
        }
    }
    if declared.is_some_and(|d| d != *received) {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "the body is shorter than its Content-Length",
        ));
    }
    if let Some(name) = name {
        let actual = hex::encode(hasher.finalize());
        if actual != *name {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                "the body's SHA-256 does not match the file name; nothing was stored",
            ));
        }
    }
    file.flush().await?;
    file.sync_data().await?;
    drop(file);
    let (dest, dir2) = (path.to_path_buf(), dir.clone());
    let persisted = tokio::task::spawn_blocking(move || match guard.persist_noclobber(&dest) {
        Ok(()) => std::fs::File::open(&dir2)?.sync_all().map(|_| true),
        Err(e) if e.error.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.error),
    })
    .await
    .map_err(std::io::Error::other)??;
    if !persisted {
        return Ok(exists(state));
    }
    Ok(text(StatusCode::OK, "stored"))
}

fn exists(state: &State) -> Response<Body> {
    if state.append_only {
        append_only()
    } else {
        text(
            StatusCode::FORBIDDEN,
            "the file exists already; files are never overwritten",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_system_errors_a_path_can_cause_are_not_500() {
        let status = |e: std::io::Error| io_error(&e).status();
        let os = std::io::Error::from_raw_os_error;
        assert_eq!(status(os(libc::ENOENT)), StatusCode::NOT_FOUND);
        assert_eq!(status(os(libc::ENOTDIR)), StatusCode::NOT_FOUND);
        assert_eq!(status(os(libc::EISDIR)), StatusCode::CONFLICT);
        assert_eq!(status(os(libc::EEXIST)), StatusCode::CONFLICT);
        assert_eq!(status(os(libc::ENAMETOOLONG)), StatusCode::BAD_REQUEST);
        assert_eq!(status(os(libc::ENOSPC)), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(status(os(libc::EDQUOT)), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(status(os(libc::EIO)), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

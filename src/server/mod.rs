//! `snap serve`: serves repositories under one folder over restic's REST
//! protocol v2 (format-spec/rest-protocol.md), so snap and restic clients can
//! both use it. Optional htpasswd auth, per-user private repositories,
//! append-only mode, TLS, Prometheus metrics, users reloaded on SIGHUP or
//! when their file changes (see `auth`), connections bounded in number and
//! in time (see `conn`: slow or silent clients are cut off), and a graceful
//! stop on SIGTERM or SIGINT: the listener closes, requests in flight get up
//! to [`DRAIN_TIMEOUT`] to finish, and an upload cut off then is discarded,
//! never stored half.

pub mod auth;
mod conn;
mod handler;
mod metrics;
pub mod range;
pub mod routes;

pub use auth::{Htpasswd, HtpasswdError, Users};
pub use conn::Limits;
pub use routes::{parse as parse_route, Route};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use metrics::Cut;
use tokio::signal::unix::{signal, SignalKind};

/// How long requests in flight may take to finish after SIGTERM.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What to serve and how.
pub struct ServeOptions {
    /// The folder holding the repositories.
    pub root: PathBuf,
    /// Address to listen on (`127.0.0.1:8000`; port 0 picks a free one).
    pub listen: String,
    /// Users; `None` serves without authentication.
    pub auth: Option<Htpasswd>,
    /// Each user may only use repositories under `/USER/`.
    pub private_repos: bool,
    /// Files may be added, not deleted or overwritten (locks excepted).
    pub append_only: bool,
    /// PEM certificate chain and private key, for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `/metrics` without authentication.
    pub metrics_no_auth: bool,
    /// Users who see all of `/metrics` with `private_repos` (others see
    /// only their own repositories).
    pub metrics_admins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_size: Option<u64>,
    /// Connection cap and timeouts.
    pub limits: Limits,
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The folder is missing or not a folder.
    #[error("cannot serve {path}: {reason}")]
    Root {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}; is another server using it?")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The runtime or signal handlers could not start.
    #[error("cannot start the server: {0}")]
    Start(#[source] std::io::Error),
}

/// Shared by every request.
pub(crate) struct State {
    root: PathBuf,
    auth: Option<Users>,
    private_repos: bool,
    append_only: bool,
    metrics_no_auth: bool,
    metrics_admins: Vec<String>,
    max_size: Option<u64>,
    limits: Limits,
    metrics: metrics::Metrics,
}

/// Serves until SIGTERM or SIGINT; calls `ready` with the bound address
/// once it accepts connections.
pub fn serve(options: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let meta = std::fs::metadata(&options.root).map_err(|e| ServeError::Root {
        path: options.root.clone(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(ServeError::Root {
            path: options.root.clone(),
            reason: "not a folder".into(),
        });
    }
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    conn::ensure_fd_limit(options.limits.max_connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Start)?;
    let state = Arc::new(State {
        root: options.root,
        auth: options.auth.map(Users::new),
        private_repos: options.private_repos,
        append_only: options.append_only,
        metrics_no_auth: options.metrics_no_auth,
        metrics_admins: options.metrics_admins,
        max_size: options.max_size,
        limits: options.limits,
        metrics: metrics::Metrics::default(),
    });
    let result = runtime.block_on(run(state, &options.listen, tls, ready));
    // Whatever did not finish is dropped here: its temporary files go with it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run(
    state: Arc<State>,
    listen: &str,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Start)?;
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Start)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Start)?;
    let mut hup = signal(SignalKind::hangup()).map_err(ServeError::Start)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    ready(addr);
    let slots = Arc::new(Semaphore::new(state.limits.max_connections));
    let refusing = Arc::new(Semaphore::new(conn::MAX_REFUSING));
    let mut accept_failed: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of file descriptors (or another passing failure):
                        // accepting again at once would spin; say so now and then.
                        if accept_failed.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                            eprintln!("snap serve: cannot accept a connection: {e}");
                            accept_failed = Some(tokio::time::Instant::now());
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    state.metrics.refused();
                    if tls.is_none() {
                        if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
                            connections.spawn(async move {
                                conn::refuse(stream).await;
                                drop(permit);
                            });
                        }
                    }
                    continue;
                };
                let (state, tls, stop) = (Arc::clone(&state), tls.clone(), stop_rx.clone());
                connections.spawn(async move {
                    state.metrics.connection(true);
                    serve_connection(&state, stream, tls, stop).await;
                    state.metrics.connection(false);
                    drop(slot);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = hup.recv() => {
                let state = Arc::clone(&state);
                // A file read: off the async threads, and never in the way of accepting.
                tokio::task::spawn_blocking(move || reload_users(&state));
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        eprintln!("snap serve: requests still running after {DRAIN_TIMEOUT:?} were cut off; their uploads were discarded");
    }
    Ok(())
}

/// A connection that has a slot: the TLS handshake (bounded by the header
/// timeout), then HTTP.
async fn serve_connection(
    state: &Arc<State>,
    stream: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let activity = conn::Activity::new();
    let Some(acceptor) = tls else {
        return connection(state, stream, activity, stop).await;
    };
    match tokio::time::timeout(state.limits.header_timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => connection(state, s, activity, stop).await,
        Ok(Err(_)) => {}
        Err(_) => state.metrics.cut(Cut::Tls),
    }
}

/// SIGHUP: reads the htpasswd file again; a broken one keeps the users.
fn reload_users(state: &State) {
    match &state.auth {
        Some(users) => match users.reload() {
            Ok(n) => eprintln!("snap serve: SIGHUP: users reloaded, {n} user(s)"),
            Err(e) => eprintln!("snap serve: SIGHUP: {e}; keeping the users loaded before"),
        },
        None => {
            eprintln!("snap serve: SIGHUP: serving without users (--no-auth), nothing to reload")
        }
    }
}

/// Serves one connection until the client closes it, a timeout cuts it
/// (see `conn`), or the server stops (the request in flight finishes first).
async fn connection<S>(
    state: &Arc<State>,
    stream: S,
    activity: Arc<conn::Activity>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(conn::TrackedIo::new(stream, Arc::clone(&activity)));
    let service = {
        let (state, activity) = (Arc::clone(state), Arc::clone(&activity));
        service_fn(move |req| {
            let state = Arc::clone(&state);
            let request = activity.begin();
            async move {
                let response = handler::handle(state, req).await;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| conn::TrackedBody::new(body, request)),
                )
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let watchdog = activity.watch(state.limits);
    tokio::pin!(watchdog);
    let cut = tokio::select! {
        done = conn.as_mut() => header_timeout(done),
        cut = watchdog.as_mut() => Some(cut),
        _ = stop.changed() => {
            // Finish the request in flight, then close.
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                done = conn.as_mut() => header_timeout(done),
                cut = watchdog.as_mut() => Some(cut),
            }
        }
    };
    // Returning drops the connection: the socket closes, and an upload
    // cut off with it discards its temporary file.
    if let Some(cut) = cut {
        state.metrics.cut(cut);
    }
}

fn header_timeout(done: Result<(), hyper::Error>) -> Option<Cut> {
    done.err()
        .filter(hyper::Error::is_timeout)
        .map(|_| Cut::Header)
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| {
            ServeError::Tls(format!(
                "cannot read certificates from {}: {e}",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "{} holds no PEM certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        ServeError::Tls(format!(
            "cannot read a private key from {}: {e}",
            key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::Tls(format!("the certificate and key do not fit together: {e}"))
        })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

//! Connections: the cap on how many are open, and the timeouts that keep a
//! slow or silent client from holding one (and its file descriptor) forever.
//!
//! - Header: hyper's `header_read_timeout`, counted from when the server
//!   waits for a request (the connection opened, or the previous answer
//!   went out) to the header's end. It also bounds the TLS handshake.
//! - Idle: no byte received or sent while no request is being handled;
//!   hyper has no such timeout, so a watchdog per connection closes it.
//! - Body: the longest pause while receiving a request body (checked by the
//!   upload loop, answered 408) or while a response cannot be written
//!   because the client does not read (the watchdog closes it).
//!
//! Past [`Limits::max_connections`] a new connection is answered 503 with
//! `Retry-After` at once and closed (plain HTTP; a TLS one is only closed),
//! rather than left waiting: a client told to retry can, one whose connect
//! hangs cannot tell why. This module does not know routes or files.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use super::handler::Body;

/// The connection limits and timeouts (CLI flags of `snap serve`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest wait for a complete request header.
    pub header_timeout: Duration,
    /// Longest silence on a connection with no request in progress.
    pub idle_timeout: Duration,
    /// Longest pause in receiving a request body or sending a response.
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// What one connection did last, shared by its I/O, its requests and its
/// watchdog. Times are milliseconds since `base`.
pub struct Activity {
    base: Instant,
    last: AtomicU64,
    in_flight: AtomicUsize,
    /// When a write started to wait for the client, plus one (0: none).
    write_blocked: AtomicU64,
}

impl Activity {
    /// A connection opened now.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            write_blocked: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    /// A request is being handled until the guard (kept by its response
    /// body) drops: the idle timeout does not apply meanwhile.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(Arc::clone(self))
    }

    /// Resolves when the connection has been silent too long (idle), or a
    /// write has waited too long for the client to read (body).
    pub async fn watch(&self, limits: Limits) -> super::metrics::Cut {
        use super::metrics::Cut;
        let idle = millis(limits.idle_timeout);
        let body = millis(limits.body_timeout);
        let tick = (limits.idle_timeout.min(limits.body_timeout) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        loop {
            tokio::time::sleep(tick).await;
            let now = self.now();
            let blocked = self.write_blocked.load(Ordering::Relaxed);
            if blocked != 0 && now.saturating_sub(blocked - 1) >= body {
                return Cut::Body;
            }
            let last = self.last.load(Ordering::Relaxed);
            if self.in_flight.load(Ordering::Relaxed) == 0 && now.saturating_sub(last) >= idle {
                return Cut::Idle;
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Marks a request in progress (see [`Activity::begin`]).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in progress until
/// hyper has taken all of it (or dropped it).
pub struct TrackedBody {
    inner: Body,
    _request: InFlight,
}

impl TrackedBody {
    /// Wraps `inner`.
    pub fn new(inner: Body, request: InFlight) -> TrackedBody {
        TrackedBody {
            inner,
            _request: request,
        }
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A stream that records its progress in an [`Activity`].
pub struct TrackedIo<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> TrackedIo<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> TrackedIo<S> {
        TrackedIo { inner, activity }
    }

    /// Records a write's outcome: bytes taken are activity, a write that
    /// must wait starts the stall clock. A flush that is ready is neither:
    /// hyper flushes whenever its task is polled, the watchdog's ticks too.
    fn wrote<T>(&self, result: Poll<std::io::Result<T>>, took: bool) -> Poll<std::io::Result<T>> {
        match &result {
            Poll::Pending => {
                // Keep the first moment the client stopped taking bytes.
                let now = self.activity.now() + 1;
                let _ = self.activity.write_blocked.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            Poll::Ready(_) => {
                self.activity.write_blocked.store(0, Ordering::Relaxed);
                if took {
                    self.activity.touch();
                }
            }
        }
        result
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TrackedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TrackedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, data);
        let took = matches!(result, Poll::Ready(Ok(n)) if n > 0);
        this.wrote(result, took)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        let took = matches!(result, Poll::Ready(Ok(n)) if n > 0);
        this.wrote(result, took)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.wrote(result, false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// How many refusals may be in progress at once; past that a connection
/// is closed without an answer (each refusal lasts a second at most).
pub const MAX_REFUSING: usize = 64;

/// Answers a connection past the cap with 503 and closes it. The request
/// is read (and dropped) for a moment after the answer, because closing a
/// socket with unread bytes resets it, which can destroy the answer before
/// the client reads it.
pub async fn refuse(mut stream: tokio::net::TcpStream) {
    let answer = refusal();
    let work = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), work).await;
}

fn refusal() -> String {
    let body = "too many connections (--max-connections); try again in a while\n";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Raises the soft open-file limit toward what `max_connections` needs (a
/// socket and a file each, and some to spare), as far as the hard limit
/// allows; warns when that is not enough, since accepting then fails with
/// EMFILE before the cap is reached.
pub fn ensure_fd_limit(max_connections: usize) {
    let needed = (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(MAX_REFUSING as u64 + 64);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    if lim.rlim_cur >= needed {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: needed.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we own; lowering is not possible here.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0;
    let now = if ok { raised.rlim_cur } else { lim.rlim_cur };
    if now < needed {
        eprintln!(
            "snap serve: the open-file limit is {now}, but --max-connections {max_connections} needs about {needed}: lower --max-connections or raise the limit (ulimit -n)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_one_complete_answer() {
        let answer = refusal();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("\r\nRetry-After: 1"));
        assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    }

    #[test]
    fn a_request_in_flight_is_never_idle() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let limits = Limits {
            idle_timeout: Duration::from_millis(100),
            body_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let activity = Activity::new();
        let request = activity.begin();
        let watched = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(400), activity.watch(limits)).await
        });
        assert!(watched.is_err(), "cut while a request was in flight");
        drop(request);
        let cut = rt.block_on(activity.watch(limits));
        assert_eq!(cut, super::super::metrics::Cut::Idle);
    }
}

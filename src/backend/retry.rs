//! `RetryBackend`: retries transient failures of any backend with exponential
//! backoff and jitter, for a bounded time; permanent failures pass at once.
//!
//! Every operation of the `Backend` trait is idempotent (writes are
//! write-if-absent of content-addressed names), so retrying is always safe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Backend, BackendError, FileInfo};
use crate::id::FileKind;

/// How long and how often to retry.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Longest delay between two tries.
    pub max_delay: Duration,
    /// Give up once this much time has passed since the first try.
    pub max_elapsed: Duration,
    /// Told of each retry before its wait (the CLI prints it).
    pub notify: Option<fn(&BackendError, Duration)>,
}

impl Default for RetryPolicy {
    /// 0.5 s doubling up to 30 s, for up to 5 minutes: rides out a restarting
    /// server or a flapping link, and still fails within minutes.
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
            notify: None,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based): exponential, with
    /// "full jitter" so many clients do not retry in lock step.
    fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max_delay);
        base.mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }
}

/// A backend whose transient failures are retried; see the module docs.
pub struct RetryBackend {
    inner: Arc<dyn Backend>,
    policy: RetryPolicy,
}

impl RetryBackend {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Backend>, policy: RetryPolicy) -> RetryBackend {
        RetryBackend { inner, policy }
    }

    fn retry<T>(&self, mut op: impl FnMut() -> Result<T, BackendError>) -> Result<T, BackendError> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            match op() {
                Err(e) if e.is_transient() => {
                    let delay = self.policy.delay(attempt);
                    if start.elapsed() + delay > self.policy.max_elapsed {
                        return Err(e);
                    }
                    if let Some(notify) = self.policy.notify {
                        notify(&e, delay);
                    }
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl Backend for RetryBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn preferred_connections(&self) -> usize {
        self.inner.preferred_connections()
    }

    fn create(&self) -> Result<(), BackendError> {
        self.retry(|| self.inner.create())
    }

    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, BackendError> {
        self.retry(|| self.inner.list(kind))
    }

    fn stat(&self, kind: FileKind, name: &str) -> Result<u64, BackendError> {
        self.retry(|| self.inner.stat(kind, name))
    }

    fn read(&self, kind: FileKind, name: &str) -> Result<Vec<u8>, BackendError> {
        self.retry(|| self.inner.read(kind, name))
    }

    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        self.retry(|| self.inner.read_range_into(kind, name, offset, len, buf))
    }

    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        self.retry(|| self.inner.write_parts(kind, name, parts))
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError> {
        self.retry(|| self.inner.remove(kind, name))
    }
    fn remove_stale_temporaries(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, BackendError> {
        self.retry(|| self.inner.remove_stale_temporaries(older_than))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{FaultyBackend, MemoryBackend};

    fn quick() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_elapsed: Duration::from_secs(5),
            notify: None,
        }
    }

    #[test]
    fn conformance_through_transient_faults() {
        // Every third call fails transiently; the suite must not notice.
        let faulty = Arc::new(FaultyBackend::new(Arc::new(MemoryBackend::new()), 3, true));
        let retry = RetryBackend::new(faulty.clone(), quick());
        crate::backend::conformance::run(&retry);
        assert!(faulty.injected() > 10, "faults were injected");
    }

    #[test]
    fn permanent_faults_fail_at_once_and_retries_are_bounded() {
        let faulty = Arc::new(FaultyBackend::new(Arc::new(MemoryBackend::new()), 1, false));
        let retry = RetryBackend::new(faulty.clone(), quick());
        let started = Instant::now();
        assert!(retry.list(FileKind::Index).is_err());
        assert_eq!(faulty.injected(), 1, "a permanent error is not retried");
        assert!(started.elapsed() < Duration::from_secs(1));

        let always = Arc::new(FaultyBackend::new(Arc::new(MemoryBackend::new()), 1, true));
        let policy = RetryPolicy {
            max_elapsed: Duration::from_millis(50),
            ..quick()
        };
        let retry = RetryBackend::new(always.clone(), policy);
        let err = retry.list(FileKind::Index).unwrap_err();
        assert!(err.is_transient());
        assert!(always.injected() > 3, "retried before giving up");
    }
}

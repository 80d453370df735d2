//! Counters per repository, exposed at `/metrics` in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

#[derive(Default, Clone, Copy)]
struct Counters {
    requests: u64,
    errors: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// A metric's name, help text, and the counter it reads.
type Family = (&'static str, &'static str, fn(&Counters) -> u64);

/// Requests, errors and bytes per repository (`/` for requests that name none).
#[derive(Default)]
pub struct Metrics {
    repos: Mutex<BTreeMap<String, Counters>>,
}

impl Metrics {
    /// Counts one request and its answer.
    pub fn record(&self, repo: &str, status: u16, bytes_in: u64, bytes_out: u64) {
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        let c = repos.entry(repo.to_string()).or_default();
        c.requests += 1;
        c.errors += u64::from(status >= 400);
        c.bytes_in += bytes_in;
        c.bytes_out += bytes_out;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let repos = self.repos.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        let families: [Family; 4] = [
            ("snap_serve_requests_total", "Requests handled.", |c| {
                c.requests
            }),
            (
                "snap_serve_errors_total",
                "Requests answered with a status of 400 or more.",
                |c| c.errors,
            ),
            (
                "snap_serve_received_bytes_total",
                "Bytes of request bodies stored.",
                |c| c.bytes_in,
            ),
            (
                "snap_serve_sent_bytes_total",
                "Bytes of response bodies sent.",
                |c| c.bytes_out,
            ),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (repo, c) in &repos {
                let _ = writeln!(out, "{name}{{repo=\"{}\"}} {}", escape(repo), value(c));
            }
        }
        out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_repository() {
        let m = Metrics::default();
        m.record("alice/prod", 200, 100, 0);
        m.record("alice/prod", 404, 0, 0);
        m.record("/", 401, 0, 12);
        let text = m.render();
        assert!(text.contains("snap_serve_requests_total{repo=\"alice/prod\"} 2"));
        assert!(text.contains("snap_serve_errors_total{repo=\"alice/prod\"} 1"));
        assert!(text.contains("snap_serve_received_bytes_total{repo=\"alice/prod\"} 100"));
        assert!(text.contains("snap_serve_sent_bytes_total{repo=\"/\"} 12"));
        assert!(text.contains("# TYPE snap_serve_requests_total counter"));
    }
}

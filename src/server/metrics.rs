//! Counters exposed at `/metrics` in Prometheus' text format, bounded by
//! construction so that no request can make the exposition grow: paths never
//! become labels. Server-wide counters are labelled by route kind, method and
//! status class (fixed sets, see [`route_kind`], [`method_label`]); the
//! per-repository counters exist only for repositories that exist on disk
//! (the caller checks) and only up to [`MAX_REPOSITORIES`] of them.
//!
//! Who sees which part is the caller's decision ([`View`]): with private
//! repositories a user sees only their own repositories' series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// How many repositories get their own series; requests to more are
/// counted server-wide only (and in `snap_serve_untracked_requests_total`).
pub const MAX_REPOSITORIES: usize = 1000;

/// What one `/metrics` answer shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View<'a> {
    /// Everything (no private repositories, or a `--metrics-admin` user).
    All,
    /// The server-wide series only, no repository names.
    Server,
    /// The series of this user's repositories (`USER` and `USER/...`) only.
    User(&'a str),
}

#[derive(Default, Clone, Copy)]
struct Counters {
    requests: u64,
    errors: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// A metric's name, help text, and the counter it reads.
type Family = (&'static str, &'static str, fn(&Counters) -> u64);

const REPO_FAMILIES: [Family; 4] = [
    (
        "snap_serve_requests_total",
        "Requests handled, per repository (authorized requests only).",
        |c| c.requests,
    ),
    (
        "snap_serve_errors_total",
        "Requests answered with a status of 400 or more, per repository.",
        |c| c.errors,
    ),
    (
        "snap_serve_received_bytes_total",
        "Bytes of request bodies received, per repository.",
        |c| c.bytes_in,
    ),
    (
        "snap_serve_sent_bytes_total",
        "Bytes of response bodies sent, per repository.",
        |c| c.bytes_out,
    ),
];

/// Why the server closed a connection itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cut {
    /// The request header did not arrive in time (`--header-timeout`).
    Header,
    /// Nothing arrived on an idle connection (`--idle-timeout`).
    Idle,
    /// A request body or a response stalled (`--body-timeout`).
    Body,
    /// The TLS handshake did not finish in time.
    Tls,
}

impl Cut {
    fn label(self) -> &'static str {
        match self {
            Cut::Header => "header",
            Cut::Idle => "idle",
            Cut::Body => "body",
            Cut::Tls => "tls",
        }
    }
}

#[derive(Default)]
struct Inner {
    /// (route kind, method, status class) → requests.
    http: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    repos: BTreeMap<String, Counters>,
    untracked: u64,
    open: u64,
    refused: u64,
    cut: BTreeMap<Cut, u64>,
}

/// The counters of one server.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// The route label of a request: a route kind, `metrics`, `repo`, or
/// `other` for paths that do not parse.
pub fn route_kind(route: Option<&super::Route>) -> &'static str {
    use super::Route;
    match route {
        None => "other",
        Some(Route::Metrics) => "metrics",
        Some(Route::Repo { .. }) => "repo",
        Some(Route::Config { .. }) => "config",
        Some(Route::List { kind, .. } | Route::File { kind, .. }) => kind.dir(),
    }
}

/// The method label: the protocol's methods, `other` for any other.
pub fn method_label(method: &hyper::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "DELETE" => "DELETE",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one request server-wide.
    pub fn record_request(&self, route: &'static str, method: &'static str, status: u16) {
        *self
            .lock()
            .http
            .entry((route, method, status_class(status)))
            .or_default() += 1;
    }

    /// True when `repo` has its series already (no need to check the disk).
    pub fn has_repo(&self, repo: &str) -> bool {
        self.lock().repos.contains_key(repo)
    }

    /// Counts one authorized request to `repo`, which the caller found to
    /// exist; past [`MAX_REPOSITORIES`] new ones are counted as untracked.
    pub fn record_repo(&self, repo: &str, status: u16, bytes_in: u64, bytes_out: u64) {
        let mut inner = self.lock();
        let full = inner.repos.len() >= MAX_REPOSITORIES;
        let c = match inner.repos.get_mut(repo) {
            Some(c) => c,
            None if full => {
                inner.untracked += 1;
                return;
            }
            None => inner.repos.entry(repo.to_string()).or_default(),
        };
        c.requests += 1;
        c.errors += u64::from(status >= 400);
        c.bytes_in += bytes_in;
        c.bytes_out += bytes_out;
    }

    /// A connection was accepted (`true`) or has ended (`false`).
    pub fn connection(&self, opened: bool) {
        let mut inner = self.lock();
        if opened {
            inner.open += 1;
        } else {
            inner.open = inner.open.saturating_sub(1);
        }
    }

    /// A connection was refused for `--max-connections`.
    pub fn refused(&self) {
        self.lock().refused += 1;
    }

    /// The server closed a connection for a timeout.
    pub fn cut(&self, why: Cut) {
        *self.lock().cut.entry(why).or_default() += 1;
    }

    /// The text exposition of what `view` may see.
    pub fn render(&self, view: View<'_>) -> String {
        let inner = self.lock();
        let mut out = String::new();
        if view != View::Server {
            let own = |repo: &str| match view {
                View::User(u) => {
                    repo == u || repo.strip_prefix(u).is_some_and(|r| r.starts_with('/'))
                }
                _ => true,
            };
            for (name, help, value) in REPO_FAMILIES {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for (repo, c) in inner.repos.iter().filter(|(r, _)| own(r)) {
                    let label = if repo.is_empty() { "/" } else { repo };
                    let _ = writeln!(out, "{name}{{repo=\"{}\"}} {}", escape(label), value(c));
                }
            }
        }
        if matches!(view, View::User(_)) {
            // Server-wide counters add up every user's traffic.
            return out;
        }
        let name = "snap_serve_http_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests handled, by route kind, method and status class.\n# TYPE {name} counter"
        );
        for ((route, method, status), n) in &inner.http {
            let _ = writeln!(
                out,
                "{name}{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        let mut single = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        single(
            "snap_serve_untracked_requests_total",
            "counter",
            "Requests to repositories past the first 1000, which have no series of their own.",
            inner.untracked,
        );
        single(
            "snap_serve_connections_open",
            "gauge",
            "Connections open now.",
            inner.open,
        );
        single(
            "snap_serve_connections_refused_total",
            "counter",
            "Connections refused because --max-connections were open.",
            inner.refused,
        );
        let name = "snap_serve_connections_cut_total";
        let _ = writeln!(
            out,
            "# HELP {name} Connections the server closed for a timeout, by which.\n# TYPE {name} counter"
        );
        for (why, n) in &inner.cut {
            let _ = writeln!(out, "{name}{{timeout=\"{}\"}} {n}", why.label());
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
    fn counts_per_repository_and_per_route() {
        let m = Metrics::default();
        m.record_repo("alice/prod", 200, 100, 0);
        m.record_repo("alice/prod", 404, 0, 0);
        m.record_repo("", 200, 0, 12);
        m.record_request("data", "POST", 200);
        m.record_request("data", "POST", 201);
        m.record_request("other", "other", 405);
        let text = m.render(View::All);
        assert!(text.contains("snap_serve_requests_total{repo=\"alice/prod\"} 2"));
        assert!(text.contains("snap_serve_errors_total{repo=\"alice/prod\"} 1"));
        assert!(text.contains("snap_serve_received_bytes_total{repo=\"alice/prod\"} 100"));
        assert!(text.contains("snap_serve_sent_bytes_total{repo=\"/\"} 12"));
        assert!(text.contains("# TYPE snap_serve_requests_total counter"));
        assert!(text.contains(
            "snap_serve_http_requests_total{route=\"data\",method=\"POST\",status=\"2xx\"} 2"
        ));
        assert!(text.contains(
            "snap_serve_http_requests_total{route=\"other\",method=\"other\",status=\"4xx\"} 1"
        ));
    }

    #[test]
    fn views_show_only_what_they_may() {
        let m = Metrics::default();
        for repo in ["alice", "alice/prod", "alicex/prod", "bob/prod"] {
            m.record_repo(repo, 200, 1, 1);
        }
        m.record_request("keys", "GET", 200);
        let alice = m.render(View::User("alice"));
        assert!(alice.contains("repo=\"alice\"") && alice.contains("repo=\"alice/prod\""));
        assert!(
            !alice.contains("alicex") && !alice.contains("bob"),
            "{alice}"
        );
        assert!(
            !alice.contains("snap_serve_http_requests_total{"),
            "{alice}"
        );
        let server = m.render(View::Server);
        assert!(!server.contains("repo=\""), "{server}");
        assert!(server.contains("snap_serve_http_requests_total{route=\"keys\""));
    }

    #[test]
    fn repositories_past_the_limit_share_one_counter() {
        let m = Metrics::default();
        for i in 0..MAX_REPOSITORIES + 50 {
            m.record_repo(&format!("r{i}"), 200, 0, 0);
        }
        m.record_repo("r0", 200, 0, 0);
        let text = m.render(View::All);
        assert_eq!(
            text.matches("snap_serve_requests_total{").count(),
            MAX_REPOSITORIES
        );
        assert!(text.contains("snap_serve_requests_total{repo=\"r0\"} 2"));
        assert!(text.contains("snap_serve_untracked_requests_total 50"));
    }
}

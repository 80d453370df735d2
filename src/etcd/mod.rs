//! A client for etcd's v3 API through its JSON gateway (`/v3/...`), enough to
//! read a whole keyspace at one revision and to write it back: ranges with
//! pagination, transactions, leases, cluster status and members.
//!
//! Facts the code relies on, checked against etcd 3.4 (see issue 5): keys and
//! values travel base64-encoded; 64-bit integers arrive as JSON strings;
//! fields with default values are omitted (a failed transaction has no
//! `succeeded`, a key's `version` 0 is absent); the response header carries
//! the store's current revision, not the revision a range read at.
//!
//! It shares the layer of the backends: below sources and restore, which
//! both use it.

mod location;
mod wire;

pub use location::{is_etcd_location, parse_location, EtcdLocation, LocationError};
pub use wire::{KeyValue, Member, Op, Status};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use reqwest::blocking::Client;
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Errors talking to etcd.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered.
    #[error("cannot reach etcd at {endpoints}: {reason}; check the address and that etcd runs")]
    Unreachable {
        /// The endpoints tried.
        endpoints: String,
        /// The last error.
        reason: String,
    },
    /// The revision asked for was compacted away.
    #[error("etcd compacted revision {revision} while it was being read")]
    Compacted {
        /// The revision.
        revision: i64,
    },
    /// etcd refused the request.
    #[error("etcd refused {what}: {message}")]
    Refused {
        /// The request.
        what: &'static str,
        /// etcd's message.
        message: String,
    },
    /// A TLS file could not be used.
    #[error("cannot use {path} for etcd TLS: {reason}")]
    Tls {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An answer that does not parse.
    #[error("etcd sent an answer snap cannot read for {what}: {reason}")]
    Protocol {
        /// The request.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Where etcd is and how to log in.
#[derive(Clone, Debug, Default)]
pub struct EtcdOptions {
    /// Base URLs (`http://127.0.0.1:2379`); the first that answers is used.
    pub endpoints: Vec<String>,
    /// etcd user and password (`--etcd-user`, `SNAP_ETCD_PASSWORD`).
    pub user: Option<(String, String)>,
    /// CA certificate (PEM) that signed the servers' certificates (`--etcd-cacert`).
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS (`--etcd-cert`).
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM) (`--etcd-key`).
    pub client_key: Option<PathBuf>,
}

/// A connection to one etcd cluster.
pub struct EtcdClient {
    client: Client,
    endpoints: Vec<String>,
    user: Option<(String, String)>,
    token: Mutex<Option<String>>,
}

/// One page of a range read.
#[derive(Debug)]
pub struct Page {
    /// The keys, in key order.
    pub kvs: Vec<KeyValue>,
    /// More keys follow.
    pub more: bool,
    /// The store's revision when the page was served.
    pub header_revision: i64,
}

impl Page {
    /// Decodes the gateway's answer to a range request.
    pub fn parse(v: &Value) -> Result<Page, EtcdError> {
        let kvs = v
            .get("kvs")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(KeyValue::parse).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        Ok(Page {
            kvs,
            more: v.get("more").and_then(Value::as_bool).unwrap_or(false),
            header_revision: wire::header_revision(v)?,
        })
    }
}

impl EtcdClient {
    /// Connects (and authenticates, if a user is given).
    pub fn connect(options: &EtcdOptions) -> Result<EtcdClient, EtcdError> {
        let mut builder = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120));
        if let Some(path) = &options.ca_cert {
            let pem = read_pem(path)?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| EtcdError::Tls {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&options.client_cert, &options.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read_pem(cert)?;
                pem.push(b'\n');
                pem.extend(read_pem(key)?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| EtcdError::Tls {
                    path: cert.display().to_string(),
                    reason: format!("{e} (give the certificate and its key, both PEM)"),
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            (Some(p), None) | (None, Some(p)) => {
                return Err(EtcdError::Tls {
                    path: p.display().to_string(),
                    reason:
                        "a client certificate needs its key: give both --etcd-cert and --etcd-key"
                            .into(),
                })
            }
        }
        let client = builder.build().map_err(|e| EtcdError::Unreachable {
            endpoints: options.endpoints.join(","),
            reason: e.to_string(),
        })?;
        let c = EtcdClient {
            client,
            endpoints: options
                .endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect(),
            user: options.user.clone(),
            token: Mutex::new(None),
        };
        c.authenticate()?;
        Ok(c)
    }

    /// Gets a fresh auth token, when a user is given.
    fn authenticate(&self) -> Result<(), EtcdError> {
        let Some((user, password)) = &self.user else {
            return Ok(());
        };
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let v = self.call_once(
            "authentication",
            "/v3/auth/authenticate",
            &json!({"name": user, "password": password}),
        )?;
        let token = wire::string(&v, "token").ok_or_else(|| EtcdError::Protocol {
            what: "authentication",
            reason: "no token".into(),
        })?;
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
        Ok(())
    }

    /// As [`EtcdClient::call`], retrying for up to 15 s while the
    /// cluster elects a leader or times out: only for requests that change
    /// nothing, since a write that timed out may still have been applied.
    fn call_idempotent(
        &self,
        what: &'static str,
        path: &str,
        body: &Value,
    ) -> Result<Value, EtcdError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            match self.call(what, path, body) {
                Err(EtcdError::Refused { message, .. })
                    if is_transient(&message) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// As [`EtcdClient::call_once`], logging in again once when etcd says
    /// the token expired (tokens are short-lived by default).
    fn call(&self, what: &'static str, path: &str, body: &Value) -> Result<Value, EtcdError> {
        match self.call_once(what, path, body) {
            Err(EtcdError::Refused { message, .. })
                if self.user.is_some() && message.contains("invalid auth token") =>
            {
                self.authenticate()?;
                self.call_once(what, path, body)
            }
            other => other,
        }
    }

    /// POSTs `body` to `path` on the first endpoint that answers.
    fn call_once(&self, what: &'static str, path: &str, body: &Value) -> Result<Value, EtcdError> {
        let token = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut last = String::new();
        for endpoint in &self.endpoints {
            let mut req = self
                .client
                .post(format!("{endpoint}{path}"))
                .header("Content-Type", "application/json")
                .body(body.to_string());
            if let Some(t) = &token {
                // etcd's gateway takes the bare token, without "Bearer".
                req = req.header("Authorization", t);
            }
            let resp = match req.send() {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let status = resp.status();
            let v: Value = resp
                .bytes()
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                .map_err(|reason| EtcdError::Protocol { what, reason })?;
            if !status.is_success() || v.get("error").is_some() {
                let message = wire::string(&v, "error")
                    .or_else(|| wire::string(&v, "message"))
                    .unwrap_or_else(|| status.to_string());
                if message.contains("required revision has been compacted") {
                    let revision = body.get("revision").and_then(wire::int_value).unwrap_or(0);
                    return Err(EtcdError::Compacted { revision });
                }
                return Err(EtcdError::Refused { what, message });
            }
            return Ok(v);
        }
        Err(EtcdError::Unreachable {
            endpoints: self.endpoints.join(","),
            reason: last,
        })
    }

    /// Cluster ID, member, revision and server version of the answering member.
    pub fn status(&self) -> Result<Status, EtcdError> {
        let v = self.call_idempotent("status", "/v3/maintenance/status", &json!({}))?;
        Status::parse(&v)
    }

    /// Every member of the cluster.
    pub fn members(&self) -> Result<Vec<Member>, EtcdError> {
        let v = self.call_idempotent("member list", "/v3/cluster/member/list", &json!({}))?;
        Ok(v.get("members")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Member::parse).collect())
            .unwrap_or_default())
    }

    /// Up to `limit` (0: all) keys from `from` (inclusive) to `end`
    /// (exclusive; `[0]`: to the end of the keyspace; empty: the key `from`
    /// alone), at `revision` (0: the current one). No sort order and no
    /// revision filters: etcd would then load the whole range for every page.
    pub fn range(
        &self,
        from: &[u8],
        end: &[u8],
        revision: i64,
        limit: i64,
    ) -> Result<Page, EtcdError> {
        self.range_with(from, end, revision, limit, false)
    }

    /// As [`EtcdClient::range`], without values (which come back empty).
    pub fn range_keys(
        &self,
        from: &[u8],
        end: &[u8],
        revision: i64,
        limit: i64,
    ) -> Result<Page, EtcdError> {
        self.range_with(from, end, revision, limit, true)
    }

    fn range_with(
        &self,
        from: &[u8],
        end: &[u8],
        revision: i64,
        limit: i64,
        keys_only: bool,
    ) -> Result<Page, EtcdError> {
        // etcd refuses an empty key; the smallest key is NUL.
        let from = if from.is_empty() { &[0u8][..] } else { from };
        let mut body = json!({
            "key": B64.encode(from),
            "limit": limit.to_string(),
        });
        if !end.is_empty() {
            body["range_end"] = json!(B64.encode(end));
        }
        if revision > 0 {
            body["revision"] = json!(revision.to_string());
        }
        if keys_only {
            body["keys_only"] = json!(true);
        }
        let v = self.call_idempotent("range", "/v3/kv/range", &body)?;
        Page::parse(&v)
    }

    /// Runs a transaction: `ops` if every key in `unchanged` still has the
    /// given mod revision (0: does not exist). Returns whether it applied,
    /// and the revision after it.
    pub fn txn(&self, unchanged: &[(Vec<u8>, i64)], ops: &[Op]) -> Result<(bool, i64), EtcdError> {
        let compare: Vec<Value> = unchanged
            .iter()
            .map(|(key, rev)| {
                json!({"key": B64.encode(key), "target": "MOD", "result": "EQUAL",
                       "mod_revision": rev.to_string()})
            })
            .collect();
        let success: Vec<Value> = ops.iter().map(Op::to_json).collect();
        let v = self.call(
            "transaction",
            "/v3/kv/txn",
            &json!({"compare": compare, "success": success}),
        )?;
        Ok((
            v.get("succeeded").and_then(Value::as_bool).unwrap_or(false),
            wire::header_revision(&v)?,
        ))
    }

    /// Grants a lease of `ttl` seconds, with the given ID (0: etcd picks).
    pub fn grant_lease(&self, id: i64, ttl: i64) -> Result<i64, EtcdError> {
        let v = self.call(
            "lease grant",
            "/v3/lease/grant",
            &json!({"TTL": ttl.to_string(), "ID": id.to_string()}),
        )?;
        wire::int(&v, "ID").ok_or(EtcdError::Protocol {
            what: "lease grant",
            reason: "no lease ID".into(),
        })
    }

    /// The TTL a lease was granted with, or `None` when it no longer exists.
    pub fn lease_granted_ttl(&self, id: i64) -> Result<Option<i64>, EtcdError> {
        let v = self.call_idempotent(
            "lease time-to-live",
            "/v3/lease/timetolive",
            &json!({"ID": id.to_string()}),
        )?;
        let remaining = wire::int(&v, "TTL").unwrap_or(-1);
        let granted = wire::int(&v, "grantedTTL").unwrap_or(0);
        Ok((remaining >= 0 && granted > 0).then_some(granted))
    }

    /// IDs of the cluster's live leases.
    pub fn leases(&self) -> Result<Vec<i64>, EtcdError> {
        let v = self.call_idempotent("lease list", "/v3/lease/leases", &json!({}))?;
        Ok(v.get("leases")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|l| wire::int(l, "ID")).collect())
            .unwrap_or_default())
    }

    /// Compacts the history up to `revision` (tests and tools).
    pub fn compact(&self, revision: i64) -> Result<(), EtcdError> {
        self.call(
            "compaction",
            "/v3/kv/compaction",
            &json!({"revision": revision.to_string(), "physical": true}),
        )
        .map(|_| ())
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, EtcdError> {
    std::fs::read(path).map_err(|e| EtcdError::Tls {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Errors a cluster gives while it elects a leader or is overloaded.
fn is_transient(message: &str) -> bool {
    [
        "request timed out",
        "leader changed",
        "no leader",
        "too many requests",
        "timed out waiting for read index",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Every key of the range `[from, end)` at one revision, page by page, so
/// memory holds one page at a time and no write after that revision is
/// seen. The first page fixes the revision; `visit` gets each page's keys
/// and returns how many keys the next page may hold, so a caller can keep
/// pages of large values small. Returns the revision read.
pub fn read_at_one_revision<E: From<EtcdError>>(
    client: &EtcdClient,
    from: &[u8],
    end: &[u8],
    mut page_size: i64,
    mut visit: impl FnMut(Vec<KeyValue>) -> Result<i64, E>,
) -> Result<i64, E> {
    let first = client.range(from, end, 0, page_size)?;
    // A read at the current revision is served at the header's revision.
    let revision = first.header_revision;
    let mut next = first.kvs.last().map(|kv| after(&kv.key));
    let mut more = first.more;
    page_size = visit(first.kvs)?.max(1);
    while more {
        let Some(key) = next.take() else { break };
        let page = client.range(&key, end, revision, page_size)?;
        more = page.more;
        next = page.kvs.last().map(|kv| after(&kv.key));
        page_size = visit(page.kvs)?.max(1);
    }
    Ok(revision)
}

/// Keys per segment of [`read_parallel`].
const SEGMENT_KEYS: usize = 2000;
/// Keys per page of the keys-only pass.
const KEYS_PAGE: i64 = 10_000;
/// Value bytes a page aims at, so pages of large values stay small.
const PAGE_BYTES: u64 = 8 << 20;
/// Most keys per page.
const PAGE_KEYS: i64 = 1000;

/// Every key of `[from, end)` at one revision, read by `workers` requests
/// at a time: a keys-only pass fixes the revision and cuts the range into
/// segments of about 2000 keys; then segments are read in parallel, each
/// page by page (about 8 MiB of values per page). `map` turns each page
/// into items on the worker threads; `consume` gets each segment's items in
/// key order, so memory holds a few segments' items and a few pages'
/// values. No sort order, no revision filters. Returns the revision read.
pub fn read_parallel<T: Send, E: From<EtcdError> + Send>(
    client: &EtcdClient,
    from: &[u8],
    end: &[u8],
    workers: usize,
    map: impl Fn(Vec<KeyValue>) -> Result<Vec<T>, E> + Sync,
    mut consume: impl FnMut(Vec<T>) -> Result<(), E>,
) -> Result<i64, E> {
    // Segment starts: `from`, then every SEGMENT_KEYS-th key.
    let mut starts = vec![from.to_vec()];
    let mut seen = 0usize;
    let mut revision = 0;
    let mut next = from.to_vec();
    loop {
        let page = client.range_keys(&next, end, revision, KEYS_PAGE)?;
        if revision == 0 {
            revision = page.header_revision;
        }
        for kv in &page.kvs {
            if seen > 0 && seen % SEGMENT_KEYS == 0 {
                starts.push(kv.key.clone());
            }
            seen += 1;
        }
        match (page.more, page.kvs.last()) {
            (true, Some(last)) => next = after(&last.key),
            _ => break,
        }
    }
    let mut bounds: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(starts.len());
    for (i, start) in starts.iter().enumerate() {
        let stop = starts.get(i + 1).cloned().unwrap_or_else(|| end.to_vec());
        bounds.push((start.clone(), stop));
    }
    let read_segment = |(start, stop): &(Vec<u8>, Vec<u8>)| -> Result<Vec<T>, E> {
        let mut items = Vec::new();
        let mut key = start.clone();
        let mut limit = PAGE_KEYS;
        loop {
            let page = client.range(&key, stop, revision, limit)?;
            let more = page.more;
            let last = page.kvs.last().map(|kv| after(&kv.key));
            let bytes: u64 = page.kvs.iter().map(|kv| kv.value.len() as u64).sum();
            let per_key = (bytes / page.kvs.len().max(1) as u64).max(1);
            limit = (PAGE_BYTES / per_key).clamp(16, PAGE_KEYS as u64) as i64;
            items.extend(map(page.kvs)?);
            match (more, last) {
                (true, Some(k)) => key = k,
                _ => return Ok(items),
            }
        }
    };
    for window in bounds.chunks(workers.max(1)) {
        let results: Vec<Result<Vec<T>, E>> = std::thread::scope(|scope| {
            let handles: Vec<_> = window
                .iter()
                .map(|b| scope.spawn(|| read_segment(b)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for r in results {
            consume(r?)?;
        }
    }
    Ok(revision)
}

/// The smallest key after `key`.
fn after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}

/// The end of the range of keys starting with `prefix`; `[0]` (etcd's "to
/// the end of the keyspace") when no key is greater, as for an empty prefix.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/registry/"), b"/registry0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
        assert_eq!(after(b"k"), b"k\0".to_vec());
    }
}

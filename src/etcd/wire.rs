//! The JSON shapes of etcd's gateway, parsed leniently where etcd omits
//! defaults and strictly where a wrong value would corrupt a restore.

use base64::Engine as _;
use serde_json::{json, Value};

use super::{EtcdError, B64};

/// A string field.
pub(super) fn string(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

/// A 64-bit integer that etcd sends as a string (or, rarely, a number).
pub(super) fn int_value(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|u| u as i64)),
        _ => None,
    }
}

/// An integer field; absent means etcd's default, 0.
pub(super) fn int(v: &Value, field: &str) -> Option<i64> {
    match v.get(field) {
        None => Some(0),
        Some(x) => int_value(x),
    }
}

/// A 64-bit unsigned field (IDs), absent as 0.
fn uint(v: &Value, field: &str) -> Option<u64> {
    match v.get(field) {
        None => Some(0),
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
}

/// The store revision in a response header.
pub(super) fn header_revision(v: &Value) -> Result<i64, EtcdError> {
    v.get("header")
        .and_then(|h| int(h, "revision"))
        .filter(|r| *r > 0)
        .ok_or(EtcdError::Protocol {
            what: "response header",
            reason: "no revision".into(),
        })
}

fn bytes(v: &Value, field: &str) -> Result<Vec<u8>, EtcdError> {
    match v.get(field).and_then(Value::as_str) {
        None => Ok(Vec::new()),
        Some(s) => B64.decode(s).map_err(|e| EtcdError::Protocol {
            what: "range",
            reason: format!("{field} is not base64: {e}"),
        }),
    }
}

/// One key with its value and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Revision of the key's creation.
    pub create_revision: i64,
    /// Revision of its last change.
    pub mod_revision: i64,
    /// Changes since creation (1 for a new key).
    pub version: i64,
    /// Attached lease, 0 for none.
    pub lease: i64,
}

impl KeyValue {
    /// Decodes one entry of a range answer's `kvs`.
    pub fn parse(v: &Value) -> Result<KeyValue, EtcdError> {
        let bad = |field: &str| EtcdError::Protocol {
            what: "range",
            reason: format!("{field} is not an integer"),
        };
        let key = bytes(v, "key")?;
        if key.is_empty() {
            return Err(EtcdError::Protocol {
                what: "range",
                reason: "a key without a name".into(),
            });
        }
        Ok(KeyValue {
            key,
            value: bytes(v, "value")?,
            create_revision: int(v, "create_revision").ok_or_else(|| bad("create_revision"))?,
            mod_revision: int(v, "mod_revision").ok_or_else(|| bad("mod_revision"))?,
            version: int(v, "version").ok_or_else(|| bad("version"))?,
            lease: int(v, "lease").ok_or_else(|| bad("lease"))?,
        })
    }
}

/// A cluster member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its ID.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Where its peers reach it.
    pub peer_urls: Vec<String>,
    /// Where clients reach it.
    pub client_urls: Vec<String>,
}

impl Member {
    /// Decodes one entry of a member list answer (absent fields as defaults).
    pub fn parse(v: &Value) -> Member {
        let urls = |field: &str| {
            v.get(field)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Member {
            id: uint(v, "ID").unwrap_or(0),
            name: string(v, "name").unwrap_or_default(),
            peer_urls: urls("peerURLs"),
            client_urls: urls("clientURLs"),
        }
    }
}

/// What a member says about itself and the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The cluster's ID.
    pub cluster_id: u64,
    /// The answering member's ID.
    pub member_id: u64,
    /// The store's current revision.
    pub revision: i64,
    /// etcd's version, such as `3.4.23`.
    pub version: String,
    /// The leader's member ID.
    pub leader: u64,
}

impl Status {
    /// Decodes the gateway's answer to a status request.
    pub fn parse(v: &Value) -> Result<Status, EtcdError> {
        let header = v.get("header").ok_or(EtcdError::Protocol {
            what: "status",
            reason: "no header".into(),
        })?;
        Ok(Status {
            cluster_id: uint(header, "cluster_id").unwrap_or(0),
            member_id: uint(header, "member_id").unwrap_or(0),
            revision: header_revision(v)?,
            version: string(v, "version").unwrap_or_default(),
            leader: uint(v, "leader").unwrap_or(0),
        })
    }
}

/// One write of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set a key, attached to a lease (0: none).
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The lease.
        lease: i64,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl Op {
    pub(super) fn to_json(&self) -> Value {
        match self {
            Op::Put { key, value, lease } => {
                let mut put = json!({"key": B64.encode(key), "value": B64.encode(value)});
                if *lease != 0 {
                    put["lease"] = json!(lease.to_string());
                }
                json!({ "request_put": put })
            }
            Op::Delete { key } => json!({"request_delete_range": {"key": B64.encode(key)}}),
        }
    }

    /// Bytes this operation adds to a request, for etcd's request size limit.
    pub fn size(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => key.len() + value.len() + 32,
            Op::Delete { key } => key.len() + 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_omitted_and_integers_are_strings() {
        let kv = KeyValue::parse(&json!({
            "key": "L2Ev", "create_revision": "5", "mod_revision": "7", "version": "3"
        }))
        .unwrap();
        assert_eq!(kv.key, b"/a/");
        assert!(kv.value.is_empty());
        assert_eq!(
            (kv.create_revision, kv.mod_revision, kv.version, kv.lease),
            (5, 7, 3, 0)
        );
        assert!(KeyValue::parse(&json!({"key": "!!"})).is_err());
        assert!(KeyValue::parse(&json!({"value": "eA=="})).is_err());
        assert!(KeyValue::parse(&json!({"key": "YQ==", "version": "x"})).is_err());
        let s = Status::parse(&json!({
            "header": {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
                       "revision": "42", "raft_term": "2"},
            "version": "3.4.23", "leader": "10276657743932975437"
        }))
        .unwrap();
        assert_eq!(s.cluster_id, 14841639068965178418);
        assert_eq!(s.revision, 42);
        assert_eq!(s.version, "3.4.23");
        assert!(Status::parse(&json!({"header": {}})).is_err());
    }

    #[test]
    fn ops_encode_as_the_gateway_expects() {
        let put = Op::Put {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            lease: 7,
        };
        assert_eq!(
            put.to_json(),
            json!({"request_put": {"key": "aw==", "value": "dg==", "lease": "7"}})
        );
        let del = Op::Delete { key: b"k".to_vec() };
        assert_eq!(
            del.to_json(),
            json!({"request_delete_range": {"key": "aw=="}})
        );
    }
}

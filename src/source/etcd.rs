//! The etcd source: what a key and its value say of the Kubernetes object they
//! hold. Reading the keyspace itself is the etcd client's
//! [`read_at_one_revision`](crate::etcd::read_at_one_revision).

use serde::Serialize;

/// Where a key under `/registry/` puts a Kubernetes object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct K8sResource {
    /// Resource type, with its API group when it has one
    /// (`pods`, `apps/deployments` is `deployments`; `example.com/foos`).
    pub resource: String,
    /// Namespace, for namespaced objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
}

/// Reads a Kubernetes key: `/registry/RESOURCE[/NAMESPACE]/NAME`, or with an
/// API group (a segment with a dot) before the resource.
pub fn k8s_resource(key: &[u8]) -> Option<K8sResource> {
    let rest = std::str::from_utf8(key.strip_prefix(b"/registry/")?).ok()?;
    let segs: Vec<&str> = rest.split('/').collect();
    let (resource, names) = match segs.as_slice() {
        [group, resource, names @ ..] if group.contains('.') => {
            (format!("{group}/{resource}"), names)
        }
        [resource, names @ ..] => (resource.to_string(), names),
        [] => return None,
    };
    match names {
        [] | [""] => None,
        [name] => Some(K8sResource {
            resource,
            namespace: None,
            name: name.to_string(),
        }),
        [namespace, name @ ..] => Some(K8sResource {
            resource,
            namespace: Some(namespace.to_string()),
            name: name.join("/"),
        }),
    }
}

/// `apiVersion` and `kind` of a Kubernetes object stored in etcd: protobuf
/// in the `k8s\0` envelope (a `runtime.Unknown` whose field 1 is the
/// TypeMeta), or JSON (custom resources).
pub fn k8s_type(value: &[u8]) -> Option<(String, String)> {
    if let Some(proto) = value.strip_prefix(b"k8s\0") {
        let type_meta = proto_field(proto, 1)?;
        let api_version = proto_field(type_meta, 1).unwrap_or_default();
        let kind = proto_field(type_meta, 2)?;
        return Some((
            String::from_utf8(api_version.to_vec()).ok()?,
            String::from_utf8(kind.to_vec()).ok()?,
        ));
    }
    if value.first() == Some(&b'{') {
        #[derive(serde::Deserialize)]
        struct TypeMeta {
            #[serde(rename = "apiVersion")]
            api_version: String,
            kind: String,
        }
        let meta: TypeMeta = serde_json::from_slice(value).ok()?;
        return Some((meta.api_version, meta.kind));
    }
    None
}

/// The first length-delimited field `number` of a protobuf message.
fn proto_field(mut msg: &[u8], number: u64) -> Option<&[u8]> {
    while !msg.is_empty() {
        let tag = varint(&mut msg)?;
        let (field, wire_type) = (tag >> 3, tag & 7);
        match wire_type {
            0 => {
                varint(&mut msg)?;
            }
            1 => msg = msg.get(8..)?,
            5 => msg = msg.get(4..)?,
            2 => {
                let len = usize::try_from(varint(&mut msg)?).ok()?;
                let body = msg.get(..len)?;
                msg = &msg[len..];
                if field == number {
                    return Some(body);
                }
            }
            _ => return None,
        }
    }
    None
}

fn varint(msg: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = msg.split_first()?;
        *msg = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_keys() {
        let r = k8s_resource(b"/registry/pods/default/web-1").unwrap();
        assert_eq!(r.resource, "pods");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name, "web-1");
        let r = k8s_resource(b"/registry/namespaces/kube-system").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.namespace, r.name.as_str()),
            ("namespaces", None, "kube-system")
        );
        let r = k8s_resource(b"/registry/apiregistration.k8s.io/apiservices/v1.apps").unwrap();
        assert_eq!(r.resource, "apiregistration.k8s.io/apiservices");
        assert_eq!(r.name, "v1.apps");
        let r = k8s_resource(b"/registry/example.com/foos/ns/a").unwrap();
        assert_eq!(r.resource, "example.com/foos");
        assert_eq!(r.namespace.as_deref(), Some("ns"));
        assert!(k8s_resource(b"/registry/pods").is_none());
        assert!(k8s_resource(b"/other/pods/a").is_none());
    }

    #[test]
    fn kubernetes_values() {
        // k8s\0 + Unknown{typeMeta: {apiVersion: "v1", kind: "Pod"}, raw: ...}
        let mut v = b"k8s\0".to_vec();
        let type_meta = [&[0x0a, 2][..], b"v1", &[0x12, 3], b"Pod"].concat();
        v.extend([0x0a, type_meta.len() as u8]);
        v.extend(&type_meta);
        v.extend([0x12, 2, 0xff, 0x00]);
        assert_eq!(k8s_type(&v), Some(("v1".into(), "Pod".into())));
        let json = br#"{"apiVersion":"example.com/v1","kind":"Foo","spec":{}}"#;
        assert_eq!(
            k8s_type(json),
            Some(("example.com/v1".into(), "Foo".into()))
        );
        assert_eq!(k8s_type(b"k8s\0\x0a\xff"), None);
        assert_eq!(k8s_type(b"plain"), None);
    }
}

//! Small etcd helpers shared by the etcd and profile tests.

use std::collections::BTreeMap;

use snap::etcd::{prefix_end, EtcdClient, EtcdOptions, Op};

use super::{k8s_value, noise};

/// A client of one endpoint (`http://127.0.0.1:PORT`).
pub fn client(endpoint: &str) -> EtcdClient {
    EtcdClient::connect(&EtcdOptions {
        endpoints: vec![endpoint.to_string()],
        ..Default::default()
    })
    .unwrap()
}

/// Puts `kvs` in transactions of 100.
pub fn put_all(c: &EtcdClient, kvs: &[(Vec<u8>, Vec<u8>)]) {
    for chunk in kvs.chunks(100) {
        let ops: Vec<Op> = chunk
            .iter()
            .map(|(k, v)| Op::Put {
                key: k.clone(),
                value: v.clone(),
                lease: 0,
            })
            .collect();
        c.txn(&[], &ops).unwrap();
    }
}

/// Puts one key; returns the revision.
pub fn put(c: &EtcdClient, key: &str, value: &[u8], lease: i64) -> i64 {
    let op = Op::Put {
        key: key.as_bytes().to_vec(),
        value: value.to_vec(),
        lease,
    };
    c.txn(&[], &[op]).unwrap().1
}

/// Deletes one key.
pub fn delete(c: &EtcdClient, key: &str) {
    let op = Op::Delete {
        key: key.as_bytes().to_vec(),
    };
    c.txn(&[], &[op]).unwrap();
}

/// A small Kubernetes-like keyspace: pods and configmaps in namespaces,
/// cluster-scoped namespaces, a custom resource in JSON, and plain keys.
pub fn kube_keyspace(pods: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut kvs = Vec::new();
    for i in 0..pods {
        let ns = format!("ns{}", i % 5);
        let mut body = format!("pod-{i} in {ns}: ").into_bytes();
        body.extend(noise(i as u64, 200 + i % 700));
        kvs.push((
            format!("/registry/pods/{ns}/pod-{i:05}").into_bytes(),
            k8s_value("v1", "Pod", &body),
        ));
    }
    for n in 0..5 {
        kvs.push((
            format!("/registry/namespaces/ns{n}").into_bytes(),
            k8s_value("v1", "Namespace", format!("ns{n}").as_bytes()),
        ));
        kvs.push((
            format!("/registry/configmaps/ns{n}/settings").into_bytes(),
            k8s_value("v1", "ConfigMap", &noise(1000 + n, 3000)),
        ));
    }
    kvs.push((
        b"/registry/example.com/widgets/ns0/w1".to_vec(),
        br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1"}}"#.to_vec(),
    ));
    kvs.push((b"plain/key".to_vec(), b"plain value".to_vec()));
    kvs.push((b"binary\xff\x00key".to_vec(), vec![0, 1, 2, 255]));
    kvs.sort();
    kvs
}

/// Every key and value under `prefix` (all: empty), at `revision` (0: now).
pub fn keyspace(c: &EtcdClient, prefix: &[u8], revision: i64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let from = if prefix.is_empty() {
        &[0u8][..]
    } else {
        prefix
    };
    c.range(from, &prefix_end(prefix), revision, 0)
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| (kv.key, kv.value))
        .collect()
}

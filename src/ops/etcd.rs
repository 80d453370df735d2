//! `snap restore ID --to etcd://...` and `--etcd-deploy`: a snapshot's etcd
//! keyspace into a running cluster, or into a new single-member etcd that
//! snap starts.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::OpError;
use crate::etcd::{EtcdClient, EtcdOptions};
use crate::repo::{LockKind, Repository};
use crate::restore::etcd::{restore_to_etcd, EtcdRestoreOptions, EtcdRestoreReport};
use crate::snapshot::{DamagedSnapshot, Selection};

/// Errors of starting an etcd.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The data folder holds something.
    #[error("{0} is not empty: --etcd-deploy starts a new cluster in an empty or new folder; pick another, or restore into the running etcd with --to etcd://...")]
    NotEmpty(String),
    /// The address is wrong or taken.
    #[error("cannot use {address} for the new etcd: {reason}")]
    Address {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// etcd did not start.
    #[error("cannot start etcd: {0}")]
    Start(String),
}

/// A restore into etcd.
#[derive(Debug, Serialize)]
pub struct EtcdRestoreOpReport {
    /// The snapshot restored.
    pub snapshot_id: String,
    /// The etcd that --etcd-deploy started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<DeployedEtcd>,
    /// What changed.
    #[serde(flatten)]
    pub report: EtcdRestoreReport,
    /// Damaged snapshot files `latest` skipped (only when skipping them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_snapshots: Vec<DamagedSnapshot>,
}

/// Restores the etcd keyspace of snapshot `query` under a shared lock.
pub fn restore_etcd(
    repo: &mut Repository,
    query: &str,
    hosts: &[String],
    options: &EtcdRestoreOptions,
    selection: &Selection,
) -> Result<EtcdRestoreOpReport, OpError> {
    let _guard = repo.lock(LockKind::Shared)?;
    let (id, manifest) = selection.find(repo, query, |m| {
        (hosts.is_empty() || hosts.contains(&m.hostname))
            && m.sources.iter().any(|s| s.kind == "etcd")
    })?;
    repo.load_index()?;
    let report = restore_to_etcd(repo, &manifest, options)?;
    Ok(EtcdRestoreOpReport {
        snapshot_id: id.to_hex(),
        deployed: None,
        report,
        skipped_snapshots: selection.skipped(),
    })
}

/// An etcd that snap started and left running.
#[derive(Clone, Debug, Serialize)]
pub struct DeployedEtcd {
    /// Its process ID.
    pub pid: u32,
    /// Where clients reach it (`http://127.0.0.1:2379`).
    pub client_url: String,
    /// Its peer URL.
    pub peer_url: String,
    /// Its data folder.
    pub data_dir: String,
    /// Its log file.
    pub log: String,
}

/// Starts a new single-member etcd (the `etcd` on PATH) on an empty data
/// folder, serving clients on `listen` and peers on the next port, and
/// waits until it answers. It keeps running after snap exits.
pub fn deploy_etcd(data_dir: &Path, listen: &str) -> Result<DeployedEtcd, OpError> {
    let addr_err = |reason: String| DeployError::Address {
        address: listen.to_string(),
        reason,
    };
    let client_addr: SocketAddr = listen
        .to_socket_addrs()
        .map_err(|e| addr_err(format!("{e}; give HOST:PORT")))?
        .next()
        .ok_or_else(|| addr_err("it resolves to nothing".into()))?;
    let mut peer_addr = client_addr;
    peer_addr.set_port(client_addr.port().wrapping_add(1));
    for a in [client_addr, peer_addr] {
        if TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok() {
            return Err(addr_err(format!("something already listens on {a}")).into());
        }
    }
    if let Ok(mut entries) = std::fs::read_dir(data_dir) {
        if entries.next().is_some() {
            return Err(DeployError::NotEmpty(data_dir.display().to_string()).into());
        }
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| DeployError::Start(format!("cannot create {}: {e}", data_dir.display())))?;
    let data_dir = std::fs::canonicalize(data_dir)
        .map_err(|e| DeployError::Start(format!("{}: {e}", data_dir.display())))?;
    let log_path = log_path_for(&data_dir);
    let log = std::fs::File::create(&log_path)
        .map_err(|e| DeployError::Start(format!("cannot create {}: {e}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| DeployError::Start(e.to_string()))?;
    let client_url = format!("http://{client_addr}");
    let peer_url = format!("http://{peer_addr}");
    let name = "snap-restored";
    let mut cmd = Command::new("etcd");
    cmd.arg("--name")
        .arg(name)
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--listen-client-urls")
        .arg(&client_url)
        .arg("--advertise-client-urls")
        .arg(&client_url)
        .arg("--listen-peer-urls")
        .arg(&peer_url)
        .arg("--initial-advertise-peer-urls")
        .arg(&peer_url)
        .arg("--initial-cluster")
        .arg(format!("{name}={peer_url}"))
        .arg("--initial-cluster-state")
        .arg("new")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // Its own session: it outlives snap and a Ctrl-C at snap's terminal.
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| {
        DeployError::Start(format!(
            "{e}; is the etcd server installed and on PATH (Debian: apt-get install etcd-server)?"
        ))
    })?;
    let client = EtcdClient::connect(&EtcdOptions {
        endpoints: vec![client_url.clone()],
        ..Default::default()
    })
    .map_err(|e| DeployError::Start(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DeployError::Start(format!(
                "etcd exited ({status}); see {}",
                log_path.display()
            ))
            .into());
        }
        if client.status().is_ok() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(DeployError::Start(format!(
                "etcd did not answer within 30 s; see {}",
                log_path.display()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(DeployedEtcd {
        pid: child.id(),
        client_url,
        peer_url,
        data_dir: data_dir.display().to_string(),
        log: log_path.display().to_string(),
    })
}

/// The log beside the data folder, not in it (etcd wants it to itself).
fn log_path_for(data_dir: &Path) -> PathBuf {
    let mut name = data_dir.file_name().unwrap_or_default().to_os_string();
    name.push(".log");
    data_dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sits_beside_the_data_dir() {
        assert_eq!(
            log_path_for(Path::new("/srv/etcd-data")),
            PathBuf::from("/srv/etcd-data.log")
        );
    }
}

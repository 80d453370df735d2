//! Real servers for backend tests, started on 127.0.0.1 at a free port in a
//! temporary folder, and stopped when dropped. A missing server binary is a
//! test failure with instructions, never a skip.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct Server {
    child: Child,
    /// Its address, `127.0.0.1:PORT`.
    pub addr: String,
    /// Where it keeps its files.
    pub dir: tempfile::TempDir,
}

impl Server {
    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(binary: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(binary))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{binary}` is not installed: run `apt-get install {package}` (scripts/test.sh and .ci/run do)")
    })
}

fn wait_for(addr: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server did not listen on {addr} within 20 s");
}

/// `rclone serve restic` over a temporary folder; with `credentials`, HTTP
/// basic auth is required.
pub fn rclone_restic(credentials: Option<(&str, &str)>) -> Server {
    let rclone = require("rclone", "rclone");
    let dir = tempfile::tempdir().unwrap();
    // The port may be taken between probing and binding by a parallel test:
    // try a few.
    for _ in 0..5 {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(&rclone);
        cmd.args(["serve", "restic", "--addr", &addr])
            .arg(dir.path())
            .env("RCLONE_CONFIG", "/dev/null")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((user, pass)) = credentials {
            cmd.args(["--user", user, "--pass", pass]);
        }
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        if let Ok(None) = child.try_wait() {
            wait_for(&addr, &mut child);
            return Server { child, addr, dir };
        }
    }
    panic!("could not start rclone serve restic");
}

/// A free port per call; callers that bind several retry on a clash.
pub fn port() -> u16 {
    free_port()
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An OpenSSH server for SFTP, logging in the current user with a key of its
/// own; `known_hosts` holds its host key.
pub struct Sshd {
    pub server: Server,
    /// The private key the user authenticates with.
    pub key: PathBuf,
    /// A known-hosts file that trusts the server.
    pub known_hosts: PathBuf,
    /// The login user (the one running the tests).
    pub user: String,
    /// The server's port.
    pub port: u16,
}

impl Sshd {
    /// `sftp://USER@127.0.0.1:PORT//ABSOLUTE/PATH`.
    pub fn location(&self, path: &std::path::Path) -> String {
        format!(
            "sftp://{}@127.0.0.1:{}/{}",
            self.user,
            self.port,
            path.display()
        )
    }
}

/// Makes an unencrypted ed25519 key pair at `path` and `path.pub`.
pub fn ssh_keygen(path: &std::path::Path) {
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "snap-test", "-f"])
            .arg(path),
    );
}

/// Starts `sshd` (Debian's openssh-server) with its own configuration, host
/// key and port. As root it needs `/run/sshd`; the login account must not be
/// locked (with PAM off, a `!` password hash is refused: `usermod -p '*'`).
pub fn sshd() -> Sshd {
    let sshd = PathBuf::from("/usr/sbin/sshd");
    if !sshd.is_file() {
        panic!("`/usr/sbin/sshd` is not installed: run `apt-get install openssh-server` (.ci/run does)");
    }
    require("ssh-keygen", "openssh-client");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["host_key", "client_key"] {
        ssh_keygen(&d.join(name));
    }
    std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        let _ = std::fs::create_dir_all("/run/sshd");
    }
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| run_ok(Command::new("id").arg("-un")).trim().to_string());
    let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
    let host_pub: Vec<&str> = host_pub.split_whitespace().collect();
    for _ in 0..5 {
        let port = free_port();
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
                d = d.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let mut child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        if let Ok(None) = child.try_wait() {
            let addr = format!("127.0.0.1:{port}");
            wait_for(&addr, &mut child);
            let known_hosts = d.join("known_hosts");
            std::fs::write(
                &known_hosts,
                format!("[127.0.0.1]:{port} {} {}\n", host_pub[0], host_pub[1]),
            )
            .unwrap();
            return Sshd {
                key: d.join("client_key"),
                known_hosts,
                user,
                port,
                server: Server { child, addr, dir },
            };
        }
    }
    panic!(
        "could not start sshd: {}",
        std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
    );
}

/// The access key every test garage uses (garage wants `GK` + 24 hex).
pub const S3_KEY_ID: &str = "GK0123456789abcdef01234567";
/// Its secret (64 hex).
pub const S3_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The bucket a single-node garage starts with.
pub const S3_BUCKET: &str = "snap-test";

/// One garage node.
pub struct GarageNode {
    pub server: Server,
    /// Its configuration file, for `garage -c`.
    pub config: PathBuf,
    /// `http://127.0.0.1:PORT`, its S3 endpoint.
    pub endpoint: String,
    /// `127.0.0.1:PORT`, its RPC address.
    pub rpc: String,
}

fn garage_bin() -> PathBuf {
    let in_cargo = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/garage"))
        .filter(|p| p.is_file());
    in_cargo.unwrap_or_else(|| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("garage")).find(|p| p.is_file()))
            .unwrap_or_else(|| panic!("`garage` is not installed: run `cargo install garage@2.5.0 --locked` (.ci/run does)"))
    })
}

fn start_garage_node(replication: usize, single: bool) -> GarageNode {
    let garage = garage_bin();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for _ in 0..5 {
        let (s3, rpc) = (free_port(), free_port());
        let config = d.join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = {replication}\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_secret = \"5c1915fa04d0b6739675c61bf5907eb0fe3d9c69850c83820f51b4d25d13868c\"\n\
                 [s3_api]\ns3_region = \"us-east-1\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
                 root_domain = \".s3.garage.localhost\"\n",
                d = d.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("garage.log")).unwrap();
        let mut cmd = Command::new(&garage);
        cmd.arg("-c").arg(&config).arg("server");
        if single {
            cmd.args(["--single-node", "--default-bucket"])
                .env("GARAGE_DEFAULT_ACCESS_KEY", S3_KEY_ID)
                .env("GARAGE_DEFAULT_SECRET_KEY", S3_SECRET)
                .env("GARAGE_DEFAULT_BUCKET", S3_BUCKET);
        }
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(None) = child.try_wait() {
            let addr = format!("127.0.0.1:{s3}");
            wait_for(&addr, &mut child);
            return GarageNode {
                config,
                endpoint: format!("http://{addr}"),
                rpc: format!("127.0.0.1:{rpc}"),
                server: Server { child, addr, dir },
            };
        }
    }
    panic!(
        "could not start garage: {}",
        std::fs::read_to_string(d.join("garage.log")).unwrap_or_default()
    );
}

/// Runs `garage -c CONFIG ARGS...` against a node and returns its output.
pub fn garage_cli(node: &GarageNode, args: &[&str]) -> String {
    run_ok(
        Command::new(garage_bin())
            .arg("-c")
            .arg(&node.config)
            .args(args)
            .env("RUST_LOG", "warn"),
    )
}

/// A single-node garage with bucket [`S3_BUCKET`] and key [`S3_KEY_ID`].
pub fn garage() -> GarageNode {
    start_garage_node(1, true)
}

/// Three garage nodes replicating every object three times (writes need two),
/// with bucket [`S3_BUCKET`] and key [`S3_KEY_ID`].
pub fn garage_cluster() -> Vec<GarageNode> {
    let nodes: Vec<GarageNode> = (0..3).map(|_| start_garage_node(3, false)).collect();
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| {
            let id = garage_cli(n, &["node", "id", "-q"]);
            id.trim().to_string()
        })
        .collect();
    for id in &ids[1..] {
        garage_cli(&nodes[0], &["node", "connect", id]);
    }
    for id in &ids {
        let short = id.split('@').next().unwrap();
        garage_cli(
            &nodes[0],
            &["layout", "assign", "-z", "dc1", "-c", "1G", short],
        );
    }
    garage_cli(&nodes[0], &["layout", "apply", "--version", "1"]);
    garage_cli(&nodes[0], &["bucket", "create", S3_BUCKET]);
    garage_cli(
        &nodes[0],
        &["key", "import", "--yes", "-n", "snap", S3_KEY_ID, S3_SECRET],
    );
    garage_cli(
        &nodes[0],
        &[
            "bucket", "allow", "--read", "--write", "--owner", S3_BUCKET, "--key", S3_KEY_ID,
        ],
    );
    nodes
}

/// Waits until the node serves its bucket: garage opens its S3 port a moment
/// before the default bucket exists.
#[cfg(feature = "s3")]
pub fn wait_for_bucket(node: &GarageNode) -> snap::backend::S3Backend {
    use snap::backend::Backend;
    let backend = snap::backend::S3Backend::with_credentials(
        &format!("{}/{S3_BUCKET}", node.endpoint),
        S3_KEY_ID,
        S3_SECRET,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = backend.list(snap::id::FileKind::Lock) {
        assert!(Instant::now() < deadline, "garage not ready: {e}");
        std::thread::sleep(Duration::from_millis(100));
    }
    backend
}

/// `snap` against `repo` with the test garage's credentials in the usual
/// AWS variables, and no other AWS configuration.
pub fn snap_s3(repo: &str) -> assert_cmd::Command {
    let mut cmd = super::snap(repo);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", S3_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// A running `snap serve` over `root`, on a free port; killed when dropped.
pub struct SnapServe {
    /// The process.
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http(s)://127.0.0.1:PORT/`, as the server printed it.
    pub url: String,
}

/// Starts `snap serve --path root` with `args`, and waits for the first line
/// it prints, which names the address.
pub fn snap_serve(root: &std::path::Path, args: &[&str]) -> SnapServe {
    use std::io::Read;
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("snap"))
        .args(["serve", "--listen", "127.0.0.1:0", "--path"])
        .arg(root)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let url = line
        .strip_prefix("snap serve: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from snap serve: {line:?}"))
        .to_string();
    let addr = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    // Keep reading stdout so the server never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    SnapServe { child, addr, url }
}

impl SnapServe {
    /// Sends SIGTERM.
    pub fn terminate(&mut self) {
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }
}

impl Drop for SnapServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One etcd member started by [`etcd`] or [`etcd_cluster`].
pub struct EtcdNode {
    child: Child,
    /// Its client URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its name in the cluster.
    pub name: String,
    /// Its data folder.
    pub dir: tempfile::TempDir,
}

impl EtcdNode {
    /// Stops it (SIGKILL), as a crashed member.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EtcdNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A single-member etcd (Debian's `etcd-server`) on free ports.
pub fn etcd() -> EtcdNode {
    etcd_cluster(1).pop().unwrap()
}

/// A single-member etcd serving clients over TLS only, requiring a client
/// certificate signed by the test CA.
pub fn etcd_tls(certs: &TestCerts) -> EtcdNode {
    start_etcd(1, Some(certs)).pop().unwrap()
}

/// An etcd cluster of `n` members on loopback, each with its own data folder.
pub fn etcd_cluster(n: usize) -> Vec<EtcdNode> {
    start_etcd(n, None)
}

fn start_etcd(n: usize, tls: Option<&TestCerts>) -> Vec<EtcdNode> {
    let etcd = require("etcd", "etcd-server");
    let scheme = if tls.is_some() { "https" } else { "http" };
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let initial: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("n{i}=http://127.0.0.1:{peer}"))
        .collect();
    let token = format!("snap-test-{}", free_port());
    let mut nodes: Vec<EtcdNode> = ports
        .iter()
        .enumerate()
        .map(|(i, (client, peer))| {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = Command::new(&etcd);
            if let Some(c) = tls {
                cmd.arg("--cert-file")
                    .arg(&c.server_cert)
                    .arg("--key-file")
                    .arg(&c.server_key)
                    .arg("--trusted-ca-file")
                    .arg(&c.ca)
                    .arg("--client-cert-auth");
            }
            let child = cmd
                .args(["--name", &format!("n{i}")])
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .args([
                    "--listen-client-urls",
                    &format!("{scheme}://127.0.0.1:{client}"),
                    "--advertise-client-urls",
                    &format!("{scheme}://127.0.0.1:{client}"),
                    "--listen-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                    "--initial-cluster",
                    &initial.join(","),
                    "--initial-cluster-token",
                    &token,
                    "--initial-cluster-state",
                    "new",
                    "--logger",
                    "zap",
                    "--log-outputs",
                ])
                .arg(dir.path().join("etcd.log"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
            EtcdNode {
                child,
                endpoint: format!("{scheme}://127.0.0.1:{client}"),
                name: format!("n{i}"),
                dir,
            }
        })
        .collect();
    // Ready when every member answers a status request.
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in &mut nodes {
        loop {
            let ok = match tls {
                None => reqwest::blocking::Client::new()
                    .post(format!("{}/v3/maintenance/status", node.endpoint))
                    .body("{}")
                    .send()
                    .is_ok_and(|r| r.status().is_success()),
                // Listening is enough: the test talks TLS itself.
                Some(_) => TcpStream::connect(node.endpoint.trim_start_matches("https://")).is_ok(),
            };
            if ok {
                break;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                let log =
                    std::fs::read_to_string(node.dir.path().join("etcd.log")).unwrap_or_default();
                panic!("etcd {} exited with {status}: {log}", node.name);
            }
            assert!(Instant::now() < deadline, "etcd did not start within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    nodes
}

/// A test CA, a server certificate for 127.0.0.1 and localhost, and a client
/// certificate, all PEM, made with openssl in `dir`.
pub struct TestCerts {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

pub fn test_certs(dir: &std::path::Path) -> TestCerts {
    let openssl = require("openssl", "openssl");
    let d = dir.to_str().unwrap();
    // clientAuth too: etcd 3.4's JSON gateway dials etcd's own gRPC port
    // with the server certificate as its client certificate, which
    // --client-cert-auth then checks (kubeadm's etcd certificates have both).
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let steps = [
        format!("req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout {d}/ca.key -out {d}/ca.pem"),
        format!("req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout {d}/server-key.pem -out {d}/server.csr"),
        format!("x509 -req -in {d}/server.csr -CA {d}/ca.pem -CAkey {d}/ca.key -CAcreateserial -days 1 -extfile {d}/server.ext -out {d}/server.pem"),
        format!("req -newkey rsa:2048 -nodes -subj /CN=root -keyout {d}/client-key.pem -out {d}/client.csr"),
        format!("x509 -req -in {d}/client.csr -CA {d}/ca.pem -CAkey {d}/ca.key -CAcreateserial -days 1 -extfile {d}/client.ext -out {d}/client.pem"),
    ];
    for step in steps {
        let ok = Command::new(&openssl)
            .args(step.split(' '))
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "openssl {step} failed");
    }
    TestCerts {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server-key.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client-key.pem"),
    }
}

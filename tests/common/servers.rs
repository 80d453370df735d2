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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
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

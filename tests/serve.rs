//! `snap serve` as a real process on 127.0.0.1: snap's REST backend passes the
//! conformance suite against it, the snap CLI and restic back up and restore
//! through it, and the server refuses what it must (no or wrong credentials,
//! other users' repositories, deletes and overwrites in append-only mode,
//! path traversal, bodies whose hash is not their name, bodies too large,
//! over-long names), keeps concurrent uploads, speaks TLS, and stops
//! gracefully on SIGTERM; ranges follow RFC 9110, /metrics stays bounded and
//! private, htpasswd changes apply without a restart, and slow, idle or
//! surplus connections are cut off while real clients are served.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::servers::snap_serve;
use predicates::prelude::*;
use snap::backend::{conformance, Backend, RestBackend};
use snap::id::{FileKind, Id};

fn htpasswd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("users.htpasswd");
    let text: String = users
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap()))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// Sends raw bytes as one HTTP/1.1 request and returns the status code.
fn raw(addr: &str, request: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).unwrap();
    std::str::from_utf8(&buf[9..12]).unwrap().parse().unwrap()
}

fn request(method: &str, path: &str, auth: Option<(&str, &str)>, body: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some((u, p)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        head.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

fn no_temp_files(dir: &Path) {
    for e in walk(dir) {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with(".tmp-"), "left behind: {}", e.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn conformance_and_round_trip_through_snap_serve() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let users = htpasswd(f.dir.path(), &[("operator", "s3cret")]);
    let server = snap_serve(&root, &["--htpasswd", users.to_str().unwrap()]);
    let backend = RestBackend::new(&format!(
        "http://operator:s3cret@{}/conformance/",
        server.addr
    ))
    .unwrap();
    conformance::run(&backend);
    let repo = format!("rest:http://operator:s3cret@{}/team/prod/", server.addr);
    common::backend_round_trip(&f, &[], || common::snap(&repo));
    no_temp_files(&root);
}

#[test]
fn restic_backs_up_and_restores_through_snap_serve() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let users = htpasswd(f.dir.path(), &[("restic", "pw")]);
    let server = snap_serve(&root, &["--htpasswd", users.to_str().unwrap()]);
    let src = f.path("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/app.conf"), "port = 1\n").unwrap();
    std::fs::write(src.join("blob.bin"), common::noise(4, 3 << 20)).unwrap();
    let repo = format!("rest:http://restic:pw@{}/restic-repo/", server.addr);
    let restic = |args: &[&str]| {
        let mut c = assert_cmd::Command::new("restic");
        c.env("RESTIC_PASSWORD", "restic password")
            .env("RESTIC_CACHE_DIR", f.path("restic-cache"))
            .args(["-r", &repo])
            .args(args);
        c
    };
    restic(&["init"]).assert().success();
    restic(&["backup", src.to_str().unwrap()])
        .assert()
        .success();
    restic(&["snapshots"])
        .assert()
        .success()
        .stdout(predicate::str::contains(src.to_str().unwrap()));
    let target = f.path("out");
    restic(&["restore", "latest", "--target", target.to_str().unwrap()])
        .assert()
        .success();
    common::assert_same_tree(&src, &common::restored(&target, &src));
    restic(&["check", "--read-data"]).assert().success();
}

#[test]
fn auth_private_repositories_and_metrics() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let users = htpasswd(f.dir.path(), &[("alice", "a-pw"), ("bob", "b-pw")]);
    let server = snap_serve(
        &root,
        &["--htpasswd", users.to_str().unwrap(), "--private-repos"],
    );
    let a = &server.addr;
    let create = "/alice/prod/?create=true";
    assert_eq!(raw(a, &request("POST", create, None, b"")), 401);
    assert_eq!(
        raw(a, &request("POST", create, Some(("alice", "no")), b"")),
        401
    );
    assert_eq!(
        raw(a, &request("POST", create, Some(("carol", "a-pw")), b"")),
        401
    );
    assert_eq!(
        raw(a, &request("POST", create, Some(("bob", "b-pw")), b"")),
        403
    );
    assert_eq!(
        raw(a, &request("POST", create, Some(("alice", "a-pw")), b"")),
        200
    );
    assert_eq!(
        raw(
            a,
            &request("GET", "/alice/prod/keys/", Some(("bob", "b-pw")), b"")
        ),
        403
    );
    assert_eq!(
        raw(
            a,
            &request("GET", "/alice/prod/keys/", Some(("alice", "a-pw")), b"")
        ),
        200
    );
    assert_eq!(
        raw(
            a,
            &request("GET", "/alicex/keys/", Some(("alice", "a-pw")), b"")
        ),
        403
    );
    // The snap CLI with bob's credentials is refused alice's repository.
    common::snap(format!("rest:http://bob:b-pw@{a}/alice/prod/"))
        .arg("snapshots")
        .timeout(Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(predicate::str::contains("b-pw").not());
    // Metrics need credentials unless --metrics-no-auth.
    assert_eq!(raw(a, &request("GET", "/metrics", None, b"")), 401);
    let body = reqwest::blocking::Client::new()
        .get(format!("{}metrics", server.url))
        .basic_auth("alice", Some("a-pw"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        body.contains("snap_serve_requests_total{repo=\"alice/prod\"}"),
        "{body}"
    );
    assert!(body.contains("snap_serve_errors_total"), "{body}");
}

#[test]
fn append_only_refuses_deletes_and_overwrites_but_backups_work() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = snap_serve(&root, &["--no-auth", "--append-only"]);
    let repo = format!("rest:http://{}/ledger/", server.addr);
    let snap = || common::snap(&repo);
    snap().args(common::FAST_INIT).assert().success();
    let src = f.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), "one").unwrap();
    let first = f.path("first");
    let out = snap()
        .args(["--json", "backup"])
        .arg(&src)
        .assert()
        .success();
    let r: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    std::fs::write(src.join("a"), "two").unwrap();
    snap().arg("backup").arg(&src).assert().success();
    // Deleting a snapshot is refused, and the client says why (a 403 is
    // the server's policy, not a credentials problem); both still restore.
    snap()
        .args(["forget", r["snapshot_id"].as_str().unwrap()])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("forbidden by the server")
                .and(predicate::str::contains("append-only"))
                .and(predicate::str::contains("check the user and password").not()),
        );
    snap()
        .args(["restore", r["snapshot_id"].as_str().unwrap(), "--target"])
        .arg(&first)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(common::restored(&first, &src).join("a")).unwrap(),
        b"one"
    );
    // Raw: an existing file is neither deleted nor overwritten; locks may go.
    let a = &server.addr;
    let snapshots = root.join("ledger/snapshots");
    let name = std::fs::read_dir(&snapshots)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let stored = std::fs::read(snapshots.join(&name)).unwrap();
    let path = format!("/ledger/snapshots/{name}");
    assert_eq!(raw(a, &request("DELETE", &path, None, b"")), 403);
    assert_eq!(raw(a, &request("POST", &path, None, &stored)), 403);
    assert_eq!(raw(a, &request("DELETE", "/ledger/config", None, b"")), 403);
    assert_eq!(std::fs::read(snapshots.join(&name)).unwrap(), stored);
    let lock = b"a lock";
    let lock_name = Id::sha256(lock).to_hex();
    let lock_path = format!("/ledger/locks/{lock_name}");
    assert_eq!(raw(a, &request("POST", &lock_path, None, lock)), 200);
    assert_eq!(raw(a, &request("DELETE", &lock_path, None, b"")), 200);
}

#[test]
fn hostile_and_broken_requests_leave_nothing_behind() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(f.path("secret"), "outside the served folder").unwrap();
    let server = snap_serve(&root, &["--no-auth", "--max-size", "1000000"]);
    let a = &server.addr;
    assert_eq!(raw(a, &request("POST", "/r/?create=true", None, b"")), 200);
    for path in [
        "/../secret",
        "/r/../../secret",
        "/r/%2e%2e/config",
        "/r%2Fx/config",
        "/r/keys/..%2F..%2Fsecret",
        "/r/keys/%00",
        "/r/.hidden/config",
        "/a/b/c/config",
    ] {
        assert_eq!(raw(a, &request("GET", path, None, b"")), 400, "{path}");
        assert_eq!(raw(a, &request("POST", path, None, b"x")), 400, "{path}");
    }
    // A body whose SHA-256 is not its name.
    let good = b"the real content";
    let name = Id::sha256(good).to_hex();
    let path = format!("/r/data/{name}");
    assert_eq!(
        raw(a, &request("POST", &path, None, b"tampered content")),
        400
    );
    assert_eq!(raw(a, &request("HEAD", &path, None, b"")), 404);
    assert_eq!(raw(a, &request("POST", &path, None, good)), 200);
    assert_eq!(
        std::fs::read(root.join("r/data").join(&name[..2]).join(&name)).unwrap(),
        good
    );
    // Too large, declared or not.
    let big = vec![7u8; 1_000_001];
    let big_name = Id::sha256(&big).to_hex();
    assert_eq!(
        raw(
            a,
            &request("POST", &format!("/r/index/{big_name}"), None, &big)
        ),
        413
    );
    assert!(!root.join("r/index").join(&big_name).exists());
    // A body cut off mid-way.
    let mut s = TcpStream::connect(a).unwrap();
    let partial = request("POST", &format!("/r/keys/{big_name}"), None, &big);
    s.write_all(&partial[..5000]).unwrap();
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!root.join("r/keys").join(&big_name).exists());
    no_temp_files(&root);
}

#[test]
fn concurrent_uploads_all_land() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = snap_serve(&root, &["--no-auth"]);
    let backend =
        std::sync::Arc::new(RestBackend::new(&format!("http://{}/many/", server.addr)).unwrap());
    backend.create().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let b = std::sync::Arc::clone(&backend);
            std::thread::spawn(move || {
                for i in 0..40u64 {
                    let data = common::noise(t * 1000 + i, 10_000 + i as usize);
                    b.write(FileKind::Pack, &Id::sha256(&data).to_hex(), &data)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(backend.list(FileKind::Pack).unwrap().len(), 320);
    no_temp_files(&root);
}

#[test]
fn tls_serves_https() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let certs = common::servers::test_certs(f.dir.path());
    let (cert, key, ca) = (certs.server_cert, certs.server_key, certs.ca);
    let server = snap_serve(
        &root,
        &[
            "--no-auth",
            "--metrics-no-auth",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.url.starts_with("https://"));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let r = client
        .post(format!("{}tls/?create=true", server.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client.get(format!("{}metrics", server.url)).send().unwrap();
    assert!(r
        .text()
        .unwrap()
        .contains("snap_serve_requests_total{repo=\"tls\"} 1"));
    // Plain HTTP to the TLS port gets no answer.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&request("GET", "/metrics", None, b"")).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(!buf.starts_with(b"HTTP/1.1 200"));
}

#[test]
fn sigterm_lets_an_upload_in_flight_finish_and_discards_a_cut_one() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let mut server = snap_serve(&root, &["--no-auth"]);
    let a = server.addr.clone();
    assert_eq!(raw(&a, &request("POST", "/g/?create=true", None, b"")), 200);
    let body = common::noise(5, 2 << 20);
    let name = Id::sha256(&body).to_hex();
    let finishing = request("POST", &format!("/g/data/{name}"), None, &body);
    let other = common::noise(6, 2 << 20);
    let other_name = Id::sha256(&other).to_hex();
    let cut = request("POST", &format!("/g/data/{other_name}"), None, &other);

    let mut s1 = TcpStream::connect(&a).unwrap();
    s1.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s1.write_all(&finishing[..1 << 20]).unwrap();
    let mut s2 = TcpStream::connect(&a).unwrap();
    s2.write_all(&cut[..1 << 20]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();
    std::thread::sleep(Duration::from_millis(300));
    // New connections are refused once the listener is closed.
    assert!(TcpStream::connect(&a).is_err());
    drop(s2);
    s1.write_all(&finishing[1 << 20..]).unwrap();
    let mut answer = [0u8; 12];
    s1.read_exact(&mut answer).unwrap();
    assert_eq!(&answer[9..12], b"200");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let dir = root.join("g/data");
    assert_eq!(
        std::fs::read(dir.join(&name[..2]).join(&name)).unwrap(),
        body
    );
    assert!(!dir.join(&other_name[..2]).join(&other_name).exists());
    no_temp_files(&root);
}

#[test]
fn refuses_to_start_without_users_or_with_bad_ones() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let snap = || assert_cmd::Command::cargo_bin("snap").unwrap();
    snap()
        .args(["serve", "--listen", "127.0.0.1:0", "--path"])
        .arg(&root)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--no-auth").and(predicate::str::contains("htpasswd -B")));
    let bad = f.path("bad.htpasswd");
    std::fs::write(&bad, "alice:$apr1$xyz$abc\n").unwrap();
    snap()
        .args(["serve", "--listen", "127.0.0.1:0", "--htpasswd"])
        .arg(&bad)
        .arg("--path")
        .arg(&root)
        .assert()
        .failure()
        .stderr(predicate::str::contains("line 1").and(predicate::str::contains("bcrypt")));
    snap()
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0", "--path"])
        .arg(f.path("missing"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("missing"));
}

/// A 2 MiB tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_answers_507_and_keeps_what_was_stored() {
    let f = common::Fixture::empty();
    let root = f.path("small");
    std::fs::create_dir_all(&root).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&root)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test mounts a 2 MiB tmpfs to fill a disk, which needs root (CI runs as root)"
    );
    let _disk = SmallDisk(root.clone());
    let server = snap_serve(&root, &["--no-auth"]);
    let a = &server.addr;
    assert_eq!(raw(a, &request("POST", "/r/?create=true", None, b"")), 200);
    let first = common::noise(1, 1200 << 10);
    let name = Id::sha256(&first).to_hex();
    assert_eq!(
        raw(
            a,
            &request("POST", &format!("/r/index/{name}"), None, &first)
        ),
        200
    );
    let second = common::noise(2, 1200 << 10);
    let second_name = Id::sha256(&second).to_hex();
    assert_eq!(
        raw(
            a,
            &request("POST", &format!("/r/index/{second_name}"), None, &second)
        ),
        507
    );
    assert_eq!(
        std::fs::read(root.join("r/index").join(&name)).unwrap(),
        first
    );
    assert!(!root.join("r/index").join(&second_name).exists());
    no_temp_files(&root);
}

/// One answer read off a connection: status, head (lowercased) and body.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim())
        })
    }
}

/// Reads one answer: the head, then `Content-Length` bytes of body (none
/// for HEAD requests, whose answers declare a length they do not send).
fn read_answer(s: &mut TcpStream, head_only: bool) -> Answer {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "connection closed mid-head");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let mut a = Answer {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = match a.header("content-length") {
        Some(n) if !head_only => n.parse().unwrap(),
        _ => 0,
    };
    a.body = vec![0u8; len];
    s.read_exact(&mut a.body).unwrap();
    a
}

/// Sends one request (`Connection: close`) with extra header lines and reads the answer.
fn exchange(addr: &str, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_answer(&mut s, method == "HEAD")
}

/// True once the server has closed `s`: a read ends (EOF or reset) within
/// `within` instead of timing out.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut sink = Vec::new();
    match s.read_to_end(&mut sink) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn ranges_follow_rfc_9110() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = snap_serve(&root, &["--no-auth"]);
    let a = &server.addr;
    assert_eq!(raw(a, &request("POST", "/r/?create=true", None, b"")), 200);
    let data: Vec<u8> = (0..100u8).collect();
    let path = format!("/r/keys/{}", Id::sha256(&data).to_hex());
    assert_eq!(raw(a, &request("POST", &path, None, &data)), 200);
    let get = |range: &str| exchange(a, "GET", &path, &[&format!("Range: {range}")], b"");
    // `-0` asks for no bytes at all: unsatisfiable, never a 206.
    for unsatisfiable in [
        "bytes=-0",
        "bytes=100-",
        "bytes=100-200",
        "bytes=99999999999999999999-",
    ] {
        let r = get(unsatisfiable);
        assert_eq!(r.status, 416, "{unsatisfiable}");
        assert_eq!(
            r.header("content-range"),
            Some("bytes */100"),
            "{unsatisfiable}"
        );
    }
    for (range, first, last) in [
        ("bytes=-5", 95, 99),
        ("bytes=-500", 0, 99),
        ("bytes=90-200", 90, 99),
        ("bytes=90-", 90, 99),
        ("bytes=0-0", 0, 0),
        ("Bytes=10-19", 10, 19),
        ("bytes=10-99999999999999999999", 10, 99),
    ] {
        let r = get(range);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/100").as_str()),
            "{range}"
        );
        assert_eq!(r.body, &data[first..=last], "{range}");
    }
    // Malformed, multiple or foreign ranges are ignored: the whole file.
    for ignored in [
        "bytes=5-2",
        "bytes=0-1,4-5",
        "items=0-1",
        "bytes=+5-",
        "bytes=-",
        "bytes=a-b",
        "bytes= 1-2",
    ] {
        let r = get(ignored);
        assert_eq!((r.status, r.body.len()), (200, 100), "{ignored}");
        assert_eq!(r.header("content-range"), None, "{ignored}");
    }
    // Ranges apply to GET only.
    let r = exchange(a, "HEAD", &path, &["Range: bytes=-0"], b"");
    assert_eq!(r.status, 200);
}

#[test]
fn over_long_and_odd_names_get_4xx_never_500() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = snap_serve(&root, &["--no-auth"]);
    let a = &server.addr;
    assert_eq!(raw(a, &request("POST", "/r/?create=true", None, b"")), 200);
    let long = "a".repeat(256);
    let name = Id::sha256(b"x").to_hex();
    for path in [
        format!("/{long}/config"),
        format!("/{long}/?create=true"),
        format!("/r/{long}/keys/"),
        format!("/{long}/keys/{name}"),
        format!("/r/keys/{long}"),
        format!("/{}/", "a".repeat(5000)),
    ] {
        for method in ["GET", "HEAD", "POST", "DELETE"] {
            assert_eq!(
                raw(a, &request(method, &path, None, b"")),
                400,
                "{method} {path}"
            );
        }
    }
    // 255 bytes is a legal file name.
    let longest = "b".repeat(255);
    assert_eq!(
        raw(
            a,
            &request(
                "POST",
                &format!("/{longest}/{longest}/?create=true"),
                None,
                b""
            )
        ),
        200
    );
    // A file where a repository folder should be, a folder where a file should be.
    std::fs::write(root.join("notes"), "not a repository").unwrap();
    std::fs::create_dir_all(root.join("r/keys").join(&name)).unwrap();
    for (method, path, status) in [
        ("GET", "/notes/config".to_string(), 404),
        ("HEAD", "/notes/config".to_string(), 404),
        ("GET", "/notes/keys/".to_string(), 404),
        ("POST", format!("/notes/keys/{name}"), 404),
        ("DELETE", format!("/notes/keys/{name}"), 404),
        ("POST", "/notes/?create=true".to_string(), 409),
        ("POST", "/notes/sub/?create=true".to_string(), 409),
        ("GET", format!("/r/keys/{name}"), 404),
        ("HEAD", format!("/r/keys/{name}"), 404),
        ("DELETE", format!("/r/keys/{name}"), 409),
    ] {
        assert_eq!(
            raw(a, &request(method, &path, None, b"x")),
            status,
            "{method} {path}"
        );
    }
}

#[test]
fn metrics_stay_small_and_name_only_existing_repositories() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = snap_serve(&root, &["--no-auth", "--metrics-no-auth"]);
    let a = &server.addr;
    assert_eq!(
        raw(a, &request("POST", "/real/?create=true", None, b"")),
        200
    );
    let name = Id::sha256(b"k").to_hex();
    assert_eq!(
        raw(
            a,
            &request("POST", &format!("/real/keys/{name}"), None, b"k")
        ),
        200
    );
    let metrics = || exchange(a, "GET", "/metrics", &[], b"");
    let before = metrics().body.len();
    // Many requests to paths that name no repository, or no valid one.
    for i in 0..300 {
        let path = match i % 4 {
            0 => format!("/junk{i}/config"),
            1 => format!("/junk{i}/x/keys/"),
            2 => format!("/junk%{i}/"),
            _ => format!("/junk{i}/data/{name}"),
        };
        let method = ["GET", "DELETE", "POST", "PUT"][i % 4];
        raw(a, &request(method, &path, None, b""));
    }
    let text = String::from_utf8(metrics().body).unwrap();
    assert!(!text.contains("junk"), "{text}");
    assert!(
        text.contains("snap_serve_requests_total{repo=\"real\"} 2"),
        "{text}"
    );
    assert!(
        text.contains(
            "snap_serve_http_requests_total{route=\"config\",method=\"GET\",status=\"4xx\"} 75"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "snap_serve_http_requests_total{route=\"other\",method=\"POST\",status=\"4xx\"} 75"
        ),
        "{text}"
    );
    // Bounded by the routes, methods and status classes, not the paths.
    assert!(
        text.len() < before + 4000,
        "{} -> {}\n{text}",
        before,
        text.len()
    );
}

#[test]
fn private_repositories_show_each_user_only_their_own_metrics() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let users = htpasswd(
        f.dir.path(),
        &[("alice", "a-pw"), ("bob", "b-pw"), ("prometheus", "p-pw")],
    );
    let server = snap_serve(
        &root,
        &[
            "--htpasswd",
            users.to_str().unwrap(),
            "--private-repos",
            "--metrics-admin",
            "prometheus",
        ],
    );
    let a = &server.addr;
    for (user, pw) in [("alice", "a-pw"), ("bob", "b-pw")] {
        let create = format!("/{user}/prod/?create=true");
        assert_eq!(
            raw(a, &request("POST", &create, Some((user, pw)), b"")),
            200
        );
        let list = format!("/{user}/prod/keys/");
        assert_eq!(raw(a, &request("GET", &list, Some((user, pw)), b"")), 200);
    }
    // bob probing alice's repository is refused and counted nowhere she sees.
    assert_eq!(
        raw(
            a,
            &request("GET", "/alice/prod/keys/", Some(("bob", "b-pw")), b"")
        ),
        403
    );
    let metrics = |auth: Option<(&str, &str)>| {
        let mut s = TcpStream::connect(a).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&request("GET", "/metrics", auth, b"")).unwrap();
        let r = read_answer(&mut s, false);
        (r.status, String::from_utf8(r.body).unwrap())
    };
    assert_eq!(metrics(None).0, 401);
    let (status, alice) = metrics(Some(("alice", "a-pw")));
    assert_eq!(status, 200);
    assert!(
        alice.contains("snap_serve_requests_total{repo=\"alice/prod\"} 2"),
        "{alice}"
    );
    assert!(!alice.contains("bob"), "{alice}");
    // Server-wide counters mix every user's traffic: not for users.
    assert!(
        !alice.contains("snap_serve_http_requests_total{"),
        "{alice}"
    );
    let (_, bob) = metrics(Some(("bob", "b-pw")));
    assert!(bob.contains("repo=\"bob/prod\""), "{bob}");
    assert!(!bob.contains("alice"), "{bob}");
    let (_, admin) = metrics(Some(("prometheus", "p-pw")));
    assert!(
        admin.contains("repo=\"alice/prod\"") && admin.contains("repo=\"bob/prod\""),
        "{admin}"
    );
    assert!(admin.contains("snap_serve_http_requests_total{"), "{admin}");
    drop(server);

    // --metrics-no-auth with private repositories: anyone sees the
    // server-wide counters, nobody's repository names.
    let server = snap_serve(
        &root,
        &[
            "--htpasswd",
            users.to_str().unwrap(),
            "--private-repos",
            "--metrics-no-auth",
        ],
    );
    let r = exchange(&server.addr, "GET", "/metrics", &[], b"");
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(r.status, 200);
    assert!(!text.contains("repo=\""), "{text}");
    assert!(text.contains("snap_serve_http_requests_total"), "{text}");
}

#[test]
fn htpasswd_changes_apply_on_sighup_and_by_themselves() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let users = htpasswd(f.dir.path(), &[("alice", "a-pw")]);
    let server = snap_serve(&root, &["--htpasswd", users.to_str().unwrap()]);
    let a = &server.addr;
    let status = |user: &str, pw: &str| raw(a, &request("GET", "/", Some((user, pw)), b""));
    let hup = || {
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(status("alice", "a-pw"), 405);
    assert_eq!(status("bob", "b-pw"), 401);
    // SIGHUP right after a request: the periodic check has just run, so the
    // signal is what reloads (and it no longer stops the server).
    htpasswd(f.dir.path(), &[("alice", "a-pw"), ("bob", "b-pw")]);
    hup();
    assert_eq!(status("bob", "b-pw"), 405);
    // A broken file keeps the users loaded before.
    std::fs::write(&users, "bob:{SHA}not-bcrypt\n").unwrap();
    hup();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(status("alice", "a-pw"), 405);
    assert_eq!(status("bob", "b-pw"), 405);
    // Without a signal: seen within about a second of the change.
    htpasswd(f.dir.path(), &[("bob", "new-pw")]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while status("alice", "a-pw") != 401 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(status("alice", "a-pw"), 401);
    assert_eq!(status("bob", "b-pw"), 401);
    assert_eq!(status("bob", "new-pw"), 405);
}

#[test]
fn slow_and_idle_connections_are_closed_while_real_clients_are_served() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = snap_serve(
        &root,
        &[
            "--no-auth",
            "--header-timeout",
            "2s",
            "--idle-timeout",
            "1s",
            "--max-connections",
            "64",
        ],
    );
    let a = server.addr.clone();
    // Half a header, then a byte every 200 ms: never idle, never done.
    let dribbling = {
        let a = a.clone();
        std::thread::spawn(move || {
            let mut slow: Vec<TcpStream> = (0..10)
                .map(|_| {
                    let mut s = TcpStream::connect(&a).unwrap();
                    s.write_all(b"GET /r/config HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                        .unwrap();
                    s
                })
                .collect();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !slow.is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                slow.retain_mut(|s| s.write_all(b"a").is_ok());
            }
            slow.len()
        })
    };
    // Connections that send nothing, and one kept alive after a request.
    let mut idle: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(&a).unwrap()).collect();
    let mut kept = TcpStream::connect(&a).unwrap();
    kept.write_all(b"POST /r/?create=true HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut kept, false).status, 200);
    // Real clients are served meanwhile.
    let repo = format!("rest:http://{a}/cli/");
    common::snap(&repo)
        .args(common::FAST_INIT)
        .assert()
        .success();
    common::snap(&repo).arg("snapshots").assert().success();
    for s in idle.iter_mut().chain([&mut kept]) {
        assert!(
            closed_within(s, Duration::from_secs(5)),
            "an idle connection stayed open"
        );
    }
    assert_eq!(
        dribbling.join().unwrap(),
        0,
        "slow headers were not cut off"
    );
    assert_eq!(raw(&a, &request("HEAD", "/cli/config", None, b"")), 200);
}

#[test]
fn stalled_transfers_are_cut_off_and_leave_nothing() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = snap_serve(&root, &["--no-auth", "--body-timeout", "1s"]);
    let a = &server.addr;
    assert_eq!(raw(a, &request("POST", "/r/?create=true", None, b"")), 200);
    // An upload that stops sending.
    let body = common::noise(9, 100_000);
    let name = Id::sha256(&body).to_hex();
    let mut s = TcpStream::connect(a).unwrap();
    let req = request("POST", &format!("/r/data/{name}"), None, &body);
    s.write_all(&req[..req.len() - 50_000]).unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(8)),
        "a stalled upload stayed open"
    );
    std::thread::sleep(Duration::from_millis(200));
    no_temp_files(&root);
    assert_eq!(
        raw(a, &request("HEAD", &format!("/r/data/{name}"), None, b"")),
        404
    );
    // A download that the client stops reading, past what socket buffers hold.
    let big = common::noise(10, 48 << 20);
    let big_name = Id::sha256(&big).to_hex();
    assert_eq!(
        raw(
            a,
            &request("POST", &format!("/r/data/{big_name}"), None, &big)
        ),
        200
    );
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(&request("GET", &format!("/r/data/{big_name}"), None, b""))
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.len() < big.len(), "a stalled download was kept open");
}

#[test]
fn connections_past_the_cap_are_refused_at_once() {
    let f = common::Fixture::empty();
    let root = f.path("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = snap_serve(
        &root,
        &[
            "--no-auth",
            "--max-connections",
            "4",
            "--idle-timeout",
            "2s",
        ],
    );
    let a = &server.addr;
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(a).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let r = exchange(a, "GET", "/", &[], b"");
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(2));
    // Once the idle ones are closed, the server takes new clients again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(raw(a, &request("POST", "/r/?create=true", None, b"")), 200);
    drop(held);
}

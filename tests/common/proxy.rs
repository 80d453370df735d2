//! A TCP proxy that cuts connections, for fault tests against real servers:
//! the client sees resets in the middle of requests and responses, as on a
//! flapping link.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A running proxy; stops accepting when dropped.
pub struct CuttingProxy {
    /// `127.0.0.1:PORT`, where clients connect.
    pub addr: String,
    /// How many connections were cut so far.
    pub cuts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CuttingProxy {
    /// Forwards to `upstream`; each connection is cut once `after` bytes
    /// have passed through it (both directions counted), until `max_cuts`
    /// connections were cut; later ones pass untouched.
    pub fn start(upstream: &str, after: u64, max_cuts: usize) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cuts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_string();
        let (cuts2, stop2) = (cuts.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                pump_pair(client, server, after, max_cuts, cuts2.clone());
            }
        });
        CuttingProxy { addr, cuts, stop }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn pump_pair(
    client: TcpStream,
    server: TcpStream,
    after: u64,
    max_cuts: usize,
    cuts: Arc<AtomicUsize>,
) {
    let passed = Arc::new(AtomicU64::new(0));
    let decided = Arc::new(AtomicBool::new(false));
    let ends = [client.try_clone().unwrap(), server.try_clone().unwrap()];
    for (from, to) in [
        (client.try_clone().unwrap(), server.try_clone().unwrap()),
        (server, client),
    ] {
        let (passed, decided, cuts) = (passed.clone(), decided.clone(), cuts.clone());
        let ends = [ends[0].try_clone().unwrap(), ends[1].try_clone().unwrap()];
        std::thread::spawn(move || {
            let (mut from, mut to) = (from, to);
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let total = passed.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                // Decided once per connection: cut while cuts remain.
                let cut_now = total > after
                    && !decided.swap(true, Ordering::SeqCst)
                    && cuts
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                            (c < max_cuts).then_some(c + 1)
                        })
                        .is_ok();
                if cut_now {
                    for end in &ends {
                        let _ = end.shutdown(Shutdown::Both);
                    }
                    return;
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    }
}

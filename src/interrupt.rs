//! Ctrl-C and SIGTERM: a request to stop cleanly, checked by long-running
//! work at points where stopping leaves nothing half-done (between blobs of
//! a backup, between packs of a restore, between transactions of an etcd
//! restore). The CLI installs the handlers; a second signal ends the process
//! at once. Nothing here knows what is being stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// Installs the handlers for SIGINT and SIGTERM: the first signal asks work
/// to stop, a second one exits with status 130 without waiting.
pub fn install() -> std::io::Result<()> {
    let flag = Arc::clone(FLAG.get_or_init(|| Arc::new(AtomicBool::new(false))));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag before this signal sets it.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))?;
        signal_hook::flag::register(signal, Arc::clone(&flag))?;
    }
    Ok(())
}

/// True once a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed) || FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// Asks work to stop, as a signal would (tests, and callers that stop
/// for their own reasons).
pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

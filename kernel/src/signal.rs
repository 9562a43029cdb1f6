//! Signals, the minimum before handlers exist: a pending fatal signal for the running task,
//! acted on in the exit-to-user work loop.

use core::sync::atomic::{AtomicU8, Ordering};

static PENDING: AtomicU8 = AtomicU8::new(0);

/// Makes `sig` pending for the running task (the caller raises SIGPENDING work).
pub fn post(sig: u8) {
    PENDING.store(sig, Ordering::Relaxed);
}

/// Takes the pending signal, if any.
pub fn take() -> Option<u8> {
    match PENDING.swap(0, Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

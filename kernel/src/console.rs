//! Where user programs' stdout and stderr go: the serial console, indented by four spaces
//! while a test program runs (its KTAP nests under the kernel's).

use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

static INDENT: AtomicBool = AtomicBool::new(false);
static AT_LINE_START: Mutex<bool> = Mutex::new(true);

/// Starts or stops indenting user output. Stopping ends a pending partial line.
pub fn set_nested(on: bool) {
    let mut start = AT_LINE_START.lock();
    if !on && !*start {
        crate::serial::write_bytes(b"\n");
    }
    *start = true;
    INDENT.store(on, Ordering::Relaxed);
}

pub fn user_write(bytes: &[u8]) {
    if !INDENT.load(Ordering::Relaxed) {
        crate::serial::write_bytes(bytes);
        return;
    }
    let mut start = AT_LINE_START.lock();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if *start {
            crate::serial::write_bytes(b"    ");
        }
        crate::serial::write_bytes(line);
        *start = line.ends_with(b"\n");
    }
}

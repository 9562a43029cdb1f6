//! Where user programs' stdout and stderr go: the serial console, indented by four spaces
//! while a test program runs (its KTAP nests under the kernel's), or nowhere while a kernel
//! test uses a program only as a workload.

use core::sync::atomic::{AtomicU8, Ordering};
use spin::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum UserOutput {
    Plain = 0,
    Nested = 1,
    Discard = 2,
}

static MODE: AtomicU8 = AtomicU8::new(UserOutput::Plain as u8);
static AT_LINE_START: Mutex<bool> = Mutex::new(true);

/// Sets where user output goes. Leaving nested mode ends a pending partial line.
pub fn set_user_output(mode: UserOutput) {
    let mut start = AT_LINE_START.lock();
    if !*start {
        crate::serial::write_bytes(b"\n");
    }
    *start = true;
    MODE.store(mode as u8, Ordering::Relaxed);
}

/// Output a user program wrote to its stdout (`fd` 1) or stderr (`fd` 2).
pub fn user_write(fd: u32, bytes: &[u8]) {
    let _ = fd;
    match MODE.load(Ordering::Relaxed) {
        m if m == UserOutput::Plain as u8 => crate::serial::write_bytes(bytes),
        m if m == UserOutput::Discard as u8 => {}
        _ => {
            let mut start = AT_LINE_START.lock();
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                if *start {
                    crate::serial::write_bytes(b"    ");
                }
                crate::serial::write_bytes(line);
                *start = line.ends_with(b"\n");
            }
        }
    }
}

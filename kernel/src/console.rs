//! The console of user programs: where their stdout and stderr go, and where their stdin comes
//! from.
//!
//! Output: in test mode the serial console, indented by four spaces while a test program runs
//! (its KTAP nests under the kernel's), or nowhere while a kernel test uses a program only as a
//! workload. In run mode (`kentry.console=frames`) every write becomes a binary frame on COM1
//! that xtask takes apart again, so the program's bytes reach the host's stdout and stderr
//! unchanged and apart from the kernel log (docs/harness.md, "Run-mode framing"):
//!
//! ```text
//! 0xfe  kind  len_lo len_hi  payload[len]
//! ```
//!
//! `kind` 0x00–0x7f: output to that file descriptor; 0x80: the program ended; 0x81: the program
//! could not be started. The kernel log is UTF-8 text and so never contains the byte 0xfe: a
//! reader can tell frames from log text without any escaping.
//!
//! Input: stdin is the initrd file `dev/.stdin` (what xtask read from its own stdin), read once
//! from start to end; without that file stdin is at end of file.

use crate::sync::Mutex;
use core::sync::atomic::{AtomicU8, Ordering};
use spin::Once;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum UserOutput {
    Plain = 0,
    Nested = 1,
    Discard = 2,
    /// Run mode: binary frames for xtask (see the module comment).
    Framed = 3,
}

/// The first byte of every frame. Never part of UTF-8 text, so never part of a log line.
pub const FRAME_MARKER: u8 = 0xfe;
/// Frame kind: the program ended; payload `how` (0 exited, 1 killed by a signal), then the exit
/// code or signal number as a little-endian i32.
pub const FRAME_EXIT: u8 = 0x80;
/// Frame kind: the program could not be started; payload the status a shell would give (126
/// cannot execute, 127 not found), then a one-line UTF-8 message.
pub const FRAME_ERROR: u8 = 0x81;
/// The largest payload of one frame (the length field is 16 bits).
pub const FRAME_MAX: usize = u16::MAX as usize;

/// The initrd file that holds the program's stdin.
pub const STDIN_FILE: &str = "dev/.stdin";

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

fn framed() -> bool {
    MODE.load(Ordering::Relaxed) == UserOutput::Framed as u8
}

/// Output a user program wrote to its stdout (`fd` 1) or stderr (`fd` 2).
pub fn user_write(fd: u32, bytes: &[u8]) {
    match MODE.load(Ordering::Relaxed) {
        m if m == UserOutput::Plain as u8 => crate::serial::write_bytes(bytes),
        m if m == UserOutput::Discard as u8 => {}
        m if m == UserOutput::Framed as u8 => {
            // Kinds from 0x80 up are control frames: a descriptor that large (none exists
            // today) must not be mistaken for one, so it is reported as stderr.
            let kind = u8::try_from(fd)
                .ok()
                .filter(|&k| k < FRAME_EXIT)
                .unwrap_or(2);
            for chunk in bytes.chunks(FRAME_MAX) {
                write_frame(kind, &[chunk]);
            }
        }
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

/// Run mode: tells xtask how the program ended (`signaled`: `value` is the signal number,
/// otherwise the exit code). Nothing outside run mode: the kernel log line says it there.
pub fn program_exit(signaled: bool, value: i32) {
    if framed() {
        write_frame(FRAME_EXIT, &[&[u8::from(signaled)], &value.to_le_bytes()]);
    }
}

/// Run mode: tells xtask that the program could not be started, with the status a shell would
/// give and a one-line message. Nothing outside run mode.
pub fn program_error(status: u8, message: &str) {
    if framed() {
        let msg = &message.as_bytes()[..message.len().min(FRAME_MAX - 1)];
        write_frame(FRAME_ERROR, &[&[status], msg]);
    }
}

/// Writes one frame: the header and all of `parts` as its payload (at most [`FRAME_MAX`]
/// bytes in all). The whole frame goes out under one hold of the COM1 lock with interrupts off,
/// so a log line from an interrupt handler cannot land inside it; it can only come before or
/// after, which the reader handles.
fn write_frame(kind: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    debug_assert!(len <= FRAME_MAX);
    let len = len.min(FRAME_MAX) as u16;
    let [lo, hi] = len.to_le_bytes();
    let header = [FRAME_MARKER, kind, lo, hi];
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut com1 = crate::serial::COM1.lock();
        let payload = parts.iter().flat_map(|p| p.iter()).take(len as usize);
        for &b in header.iter().chain(payload) {
            com1.write_byte(b);
        }
    });
}

/// The program's stdin and how much of it has been read.
static STDIN: Once<&'static [u8]> = Once::new();
static STDIN_POS: Mutex<usize> = Mutex::new(0);

/// Reads the program's stdin into `buf`; returns the number of bytes read, 0 at end of file.
/// The file layer calls this for reads of fd 0. It never blocks: all of stdin is in memory.
pub fn stdin_read(buf: &mut [u8]) -> usize {
    let data = *STDIN.call_once(|| {
        crate::INITRD
            .get()
            .and_then(|c| c.find(STDIN_FILE))
            .unwrap_or(&[])
    });
    let mut pos = STDIN_POS.lock();
    let rest = &data[(*pos).min(data.len())..];
    let n = rest.len().min(buf.len());
    buf[..n].copy_from_slice(&rest[..n]);
    *pos += n;
    n
}

//! Reading `/proc/interrupts` (Linux's format, which kentry's procfs follows): the per-CPU
//! rows that show what a `nohz_full` CPU received.
//!
//! Syscalls: open, read, close; [`mount_proc`] also mkdir and mount.

use crate::sys::{self, nr};

/// The rows [`interrupt_counts`] reads, in the order it returns them: timer interrupts,
/// reschedule, call-function and TLB-shootdown IPIs, NMIs.
pub const IRQ_ROWS: [&str; 5] = ["LOC", "RES", "CAL", "TLB", "NMI"];

/// Room for Linux's whole `/proc/interrupts` on the QEMU machines (device lines included).
const BUF_LEN: usize = 16 * 1024;

/// The counts of [`IRQ_ROWS`] in column `cpu` of /proc/interrupts; `None` if it cannot be
/// read, a row is missing or the file does not fit the buffer.
pub fn interrupt_counts(cpu: usize) -> Option<[u64; 5]> {
    let mut buf = [0u8; BUF_LEN];
    // SAFETY: open with a NUL-terminated path; read into `buf`; close the fd opened here.
    let len = unsafe {
        let fd = sys::syscall3(nr::OPEN, c"/proc/interrupts".as_ptr() as usize, 0, 0);
        if fd < 0 {
            return None;
        }
        let mut len = 0;
        while len < buf.len() {
            let n = sys::syscall3(
                nr::READ,
                fd as usize,
                buf[len..].as_mut_ptr() as usize,
                buf.len() - len,
            );
            if n <= 0 {
                break;
            }
            len += n as usize;
        }
        sys::syscall1(nr::CLOSE, fd as usize);
        len
    };
    if len == buf.len() {
        return None;
    }
    parse_interrupts(core::str::from_utf8(&buf[..len]).ok()?, cpu)
}

/// The counts of [`IRQ_ROWS`] in column `cpu` of the text of /proc/interrupts.
pub fn parse_interrupts(text: &str, cpu: usize) -> Option<[u64; 5]> {
    let mut out = [0u64; 5];
    for (slot, row) in out.iter_mut().zip(IRQ_ROWS) {
        let line = text.lines().find(|l| {
            l.trim_start()
                .strip_prefix(row)
                .is_some_and(|r| r.starts_with(':'))
        })?;
        let mut words = line.split_ascii_whitespace().skip(1);
        *slot = words.nth(cpu)?.parse().ok()?;
    }
    Some(out)
}

/// Mounts procfs on /proc if /proc/interrupts is not there (a Linux boot whose init is a
/// bench program has no /proc); returns whether it is there now.
pub fn mount_proc() -> bool {
    if interrupt_counts(0).is_some() {
        return true;
    }
    // SAFETY: mkdir and mount with NUL-terminated strings; no data argument.
    unsafe {
        sys::syscall2(nr::MKDIR, c"/proc".as_ptr() as usize, 0o555);
        sys::syscall5(
            nr::MOUNT,
            c"proc".as_ptr() as usize,
            c"/proc".as_ptr() as usize,
            c"proc".as_ptr() as usize,
            0,
            0,
        );
    }
    interrupt_counts(0).is_some()
}

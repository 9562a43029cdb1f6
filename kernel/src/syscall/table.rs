//! The syscall table (Linux x86-64 numbers).

use super::Handler;
use super::errno::*;
use core::sync::atomic::{AtomicU64, Ordering};
use kentry::Regs;

/// Linux's x86-64 table has 451 slots in 6.1 (one past the highest number in kentry-abi's
/// list); every unimplemented one is `sys_ni`.
pub const NR_SYSCALLS: usize = kentry_abi::NR_SYSCALLS;

pub type Table = [Handler; NR_SYSCALLS + 1];

/// The numbered handlers, then one more slot: every invalid number (negative, past the table,
/// x32) lands there (kentry's `syscall_table_slot`).
pub static TABLE: Table = BUILT;

/// [`TABLE`] as a constant, for the i386 table (`compat.rs`), whose entries call these
/// handlers directly.
pub(crate) const BUILT: Table = {
    let mut t: Table = [sys_ni; NR_SYSCALLS + 1];
    t[NR_SYSCALLS] = sys_invalid;
    let t = super::clone::register(t);
    let t = super::cred::register(t);
    let t = crate::event::register(t);
    let t = super::io::register(t);
    let t = super::fs::register(t);
    let t = super::mem::register(t);
    let t = super::misc::register(t);
    let t = super::net::register(t);
    let t = super::poll::register(t);
    let t = super::proc::register(t);
    let t = super::process_vm::register(t);
    let t = super::seccomp::register(t);
    let t = super::sleep::register(t);
    let t = crate::ptrace::register(t);
    super::sig::register(t)
};

/// Numbers already reported as missing (one log line each), as a bitmap.
static REPORTED: [AtomicU64; NR_SYSCALLS.div_ceil(64)] =
    [const { AtomicU64::new(0) }; NR_SYSCALLS.div_ceil(64)];

fn sys_ni(regs: &mut Regs) -> i64 {
    let nr = regs.orig_rax as u32 as usize;
    let bit = 1u64 << (nr % 64);
    if REPORTED[nr / 64].fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        crate::klog!(
            "syscall {nr} ({}) not implemented: -ENOSYS",
            kentry_abi::name(nr)
        );
    }
    -ENOSYS
}

/// An invalid number: -ENOSYS, except -1, which leaves rax as it was (-ENOSYS preset, or what
/// a tracer put there when it skipped the call).
fn sys_invalid(regs: &mut Regs) -> i64 {
    if regs.orig_rax as u32 == u32::MAX {
        regs.rax as i64
    } else {
        -ENOSYS
    }
}

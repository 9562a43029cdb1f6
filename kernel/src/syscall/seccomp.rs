//! seccomp (Linux's kernel/seccomp.c): strict mode, through `seccomp(2)` and
//! `prctl(PR_SET_SECCOMP)`; `prctl(PR_GET_SECCOMP)`.
//!
//! A thread in strict mode may make four system calls — read, write, exit (not exit_group)
//! and rt_sigreturn; any other, on the SYSCALL path or through `int $0x80` (where the i386
//! numbers of the same four are allowed), ends the thread as if by SIGKILL (Linux's
//! `do_exit(SIGKILL)`: the thread only; the process's status is that if it was the last).
//! The mode is per thread, set on the calling thread only, and never left.
//!
//! The check runs from kentry's syscall entry work ([`kentry::syscall_work`]): entering a mode
//! sets the thread's persistent `SECCOMP` work flag, so every later syscall of that thread
//! takes the slow path to [`secure_computing`]; threads without a mode pay nothing (the fast
//! path's one `test` of the work word).
//!
//! Filter mode (classic BPF) is not there yet: `SECCOMP_SET_MODE_FILTER` and
//! `PR_SET_SECCOMP` with mode 2 fail with EINVAL, as on a Linux built without
//! `CONFIG_SECCOMP_FILTER`.

use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::task;
use core::sync::atomic::{AtomicBool, Ordering};
use kentry::Regs;
use kentry::exit_work::ExitWork;
use kentry::syscall_work::SyscallWork;
use kentry_abi::nr;

/// Test kernels, `kentry.break=seccomp`: strict mode allows every syscall (the negative run
/// of the `c_seccomp` tests).
pub static BREAK_CHECK: AtomicBool = AtomicBool::new(false);

/// `seccomp.mode`: none, strict (Linux's values, which PR_GET_SECCOMP returns; filter
/// mode, 2, does not exist yet).
pub const SECCOMP_MODE_DISABLED: u8 = 0;
pub const SECCOMP_MODE_STRICT: u8 = 1;

/// seccomp(2) operations.
const SECCOMP_SET_MODE_STRICT: u64 = 0;

/// The system calls strict mode allows on the SYSCALL path (x86-64 numbers).
const STRICT_ALLOWED: [i32; 4] = [
    nr::READ as i32,
    nr::WRITE as i32,
    nr::EXIT as i32,
    nr::RT_SIGRETURN as i32,
];
/// The same four through `int $0x80` (i386 numbers: exit 1, read 3, write 4, sigreturn 119;
/// Linux's `mode1_syscalls_32`).
const STRICT_ALLOWED_IA32: [i32; 4] = [3, 4, 1, 119];

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::SECCOMP] = sys_seccomp;
    t
}

/// The calling thread's mode.
pub fn mode() -> u8 {
    task::current_inner().seccomp_mode
}

/// Puts the calling thread in strict mode (Linux's `seccomp_set_mode_strict`): allowed from
/// no mode or from strict; a thread with a filter will not be able to switch (EINVAL).
fn set_mode_strict() -> i64 {
    let inner = task::current_inner();
    match inner.seccomp_mode {
        SECCOMP_MODE_DISABLED | SECCOMP_MODE_STRICT => {
            inner.seccomp_mode = SECCOMP_MODE_STRICT;
            // From the next syscall on, this thread's entries take the slow path.
            crate::percpu::this_cpu()
                .entry
                .raise_work(SyscallWork::SECCOMP.bits());
            0
        }
        _ => -EINVAL,
    }
}

/// seccomp(operation, flags, args).
fn sys_seccomp(regs: &mut Regs) -> i64 {
    let (op, flags, args) = (regs.rdi as u32 as u64, regs.rsi as u32, regs.rdx);
    match op {
        SECCOMP_SET_MODE_STRICT if flags == 0 && args == 0 => set_mode_strict(),
        // SET_MODE_FILTER, GET_ACTION_AVAIL, GET_NOTIF_SIZES: no filter support.
        _ => -EINVAL,
    }
}

/// prctl(PR_SET_SECCOMP, mode, filter): mode 1 is strict (the filter argument is ignored, as
/// in Linux); mode 2 needs filters (EINVAL here).
pub fn prctl_set_seccomp(mode: u64) -> i64 {
    match mode {
        1 => set_mode_strict(),
        _ => -EINVAL,
    }
}

/// kentry's `Host::secure_computing` for the SYSCALL path: whether the calling thread may
/// make syscall `orig_rax`. A thread whose flag is set but which has no mode (none exists
/// yet that could leave one) has the flag cleared.
pub fn secure_computing(regs: &mut Regs) -> bool {
    match mode() {
        SECCOMP_MODE_STRICT => strict_check(regs.orig_rax as i32, &STRICT_ALLOWED),
        _ => {
            crate::percpu::this_cpu()
                .entry
                .clear_work(SyscallWork::SECCOMP.bits());
            true
        }
    }
}

/// `int $0x80` from a thread with a seccomp mode: the i386 number `eax` is judged the same
/// way. Returns whether it may go on (to the i386 dispatch).
pub fn secure_computing_ia32(nr: u32) -> bool {
    match mode() {
        SECCOMP_MODE_STRICT => strict_check(nr as i32, &STRICT_ALLOWED_IA32),
        _ => true,
    }
}

/// Strict mode's judgement: an allowed number goes on; any other ends the thread at its
/// exit work, as SIGKILL would (the syscall is skipped; the thread never returns to it).
fn strict_check(nr: i32, allowed: &[i32; 4]) -> bool {
    if allowed.contains(&nr) || BREAK_CHECK.load(Ordering::Relaxed) {
        return true;
    }
    crate::klog!(
        "seccomp: pid {} tid {}: syscall {nr} in strict mode, killed",
        task::current().process.pid,
        task::current().tid
    );
    crate::percpu::this_cpu()
        .entry
        .raise_work(ExitWork::EXITING.bits());
    false
}

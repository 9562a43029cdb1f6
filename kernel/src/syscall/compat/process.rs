//! i386 process calls whose arguments differ from x86-64's: clone's argument order (Linux's
//! `compat_sys_ia32_clone`: tls before child_tid), clone3 and execve (the child's, or the new
//! image's, frame must be the one the handler sees, so no argument shuffling in the frame),
//! waitpid (wait4 without rusage), the `compat_rlimit` of getrlimit/setrlimit, and futex
//! with an `old_timespec32` timeout.

use super::ia32_args;
use crate::syscall::errno::*;
use crate::syscall::table::BUILT;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;
use kentry_abi::compat::{RLIM32_INFINITY, RLIMIT32_SIZE};
use kentry_abi::nr;

/// clone(flags, newsp, parent_tid, tls, child_tid): i386's order (EBX, ECX, EDX, ESI, EDI).
/// `kernel_clone` copies the frame as it is, so the child starts with the caller's registers.
pub(super) fn sys_ia32_clone(regs: &mut Regs) -> i64 {
    let [flags, newsp, ptid, tls, ctid, _] = ia32_args(regs);
    crate::syscall::clone::clone_legacy(regs, flags, newsp, ptid, ctid, tls)
}

/// clone3(args, size): `struct clone_args` is the same on both ABIs; the frame stays the
/// caller's for the child.
pub(super) fn sys_clone3(regs: &mut Regs) -> i64 {
    let [uargs, size, ..] = ia32_args(regs);
    match crate::syscall::clone::clone3_args(uargs, size) {
        Ok(args) => crate::syscall::clone::kernel_clone(regs, &args),
        Err(e) => e,
    }
}

/// execve(path, argv, envp) with 32-bit pointers in its arrays (read as such for an i386
/// call: `read_str_array`). On success the frame is the new image's and must stay so; only a
/// failed call gets the caller's registers back.
pub(super) fn sys_execve(regs: &mut Regs) -> i64 {
    let kept = [regs.rdi, regs.rsi, regs.rdx];
    let [path, argv, envp, ..] = ia32_args(regs);
    [regs.rdi, regs.rsi, regs.rdx] = [path, argv, envp];
    let ret = (BUILT[nr::EXECVE])(regs);
    if ret < 0 {
        [regs.rdi, regs.rsi, regs.rdx] = kept;
    }
    ret
}

/// waitpid(pid, status, options): wait4 without a rusage.
pub(super) fn sys_waitpid(regs: &mut Regs) -> i64 {
    let [pid, status, options, ..] = ia32_args(regs);
    super::call_native::<{ nr::WAIT4 }>(regs, [pid, status, options, 0, 0, 0])
}

/// getrlimit (ugetrlimit, 191) with a `compat_rlimit`: a limit past 32 bits reads as
/// RLIM_INFINITY's i386 value (Linux's `COMPAT_SYSCALL_DEFINE2(getrlimit)`).
pub(super) fn sys_getrlimit(regs: &mut Regs) -> i64 {
    let [resource, rlim, ..] = ia32_args(regs);
    let (cur, max) = match crate::syscall::misc::do_prlimit(0, resource, None) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let narrow = |v: u64| u32::try_from(v).unwrap_or(RLIM32_INFINITY);
    let mut b = [0u8; RLIMIT32_SIZE];
    b[..4].copy_from_slice(&narrow(cur).to_ne_bytes());
    b[4..].copy_from_slice(&narrow(max).to_ne_bytes());
    match copy_to_user(rlim, &b) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// setrlimit with a `compat_rlimit`: i386's RLIM_INFINITY means infinity.
pub(super) fn sys_setrlimit(regs: &mut Regs) -> i64 {
    let [resource, rlim, ..] = ia32_args(regs);
    let mut b = [0u8; RLIMIT32_SIZE];
    if copy_from_user(&mut b, rlim).is_err() {
        return -EFAULT;
    }
    let widen = |w: [u8; 4]| match u32::from_ne_bytes(w) {
        RLIM32_INFINITY => u64::MAX,
        v => u64::from(v),
    };
    let cur = widen([b[0], b[1], b[2], b[3]]);
    let max = widen([b[4], b[5], b[6], b[7]]);
    match crate::syscall::misc::do_prlimit(0, resource, Some((cur, max))) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

/// futex(uaddr, op, val, timeout, ...) of i386 (240): the timeout is an `old_timespec32`
/// (futex_time64, 422, is the x86-64 call).
pub(super) fn sys_futex_time32(regs: &mut Regs) -> i64 {
    let [uaddr, op, val, timeout, ..] = ia32_args(regs);
    crate::syscall::proc::do_futex(
        uaddr,
        op,
        val as u32,
        timeout,
        crate::syscall::sleep::read_old_timespec32,
    )
}

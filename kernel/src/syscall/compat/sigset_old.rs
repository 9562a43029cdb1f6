//! The i386 signal calls on `old_sigset_t`, one 32-bit word (signals 1-32): sigprocmask,
//! sigpending and sigsuspend, as Linux x86-64 runs them for i386 programs (kernel/signal.c's
//! compat_sys_sigprocmask and compat_sys_sigpending, and sys_sigsuspend with x86's three
//! arguments). sigprocmask changes the low word only, SIG_SETMASK included (Linux's
//! `compat_sig_setmask` copies 4 bytes: a blocked real-time signal stays blocked); sigsuspend's
//! mask is the whole temporary mask, the real-time signals unblocked (`siginitset`).

use super::ia32_args;
use crate::syscall::errno::*;
use crate::task;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;

const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

/// sigprocmask(how, set, oset) with 32-bit sets.
pub(super) fn sys_sigprocmask(regs: &mut Regs) -> i64 {
    let [how, set, oset, ..] = ia32_args(regs);
    let old = task::current_inner().sigmask;
    if set != 0 {
        let mut b = [0u8; 4];
        if copy_from_user(&mut b, set).is_err() {
            return -EFAULT;
        }
        let m = u64::from(u32::from_le_bytes(b));
        let new = match how as u32 as u64 {
            SIG_BLOCK => old | m,
            SIG_UNBLOCK => old & !m,
            SIG_SETMASK => (old & !u64::from(u32::MAX)) | m,
            _ => return -EINVAL,
        };
        // set_blocked keeps SIGKILL and SIGSTOP out, as Linux's mask of them.
        crate::signal::set_blocked(new);
    }
    if oset != 0 && copy_to_user(oset, &(old as u32).to_le_bytes()).is_err() {
        return -EFAULT;
    }
    0
}

/// sigpending(set): the low word of the pending and blocked signals.
pub(super) fn sys_sigpending(regs: &mut Regs) -> i64 {
    let [set, ..] = ia32_args(regs);
    let t = task::current();
    let pending =
        (t.sig_pending.bits() | t.process.sig_pending.bits()) & task::current_inner().sigmask;
    match copy_to_user(set, &(pending as u32).to_le_bytes()) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// sigsuspend(unused, unused, mask): x86's three-argument form, the mask by value in EDX.
pub(super) fn sys_sigsuspend(regs: &mut Regs) -> i64 {
    let [_, _, mask, ..] = ia32_args(regs);
    crate::syscall::sig::do_sigsuspend(mask as u32 as u64)
}

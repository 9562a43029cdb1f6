//! i386 signal calls whose layouts differ: rt_sigaction's `compat_sigaction` (and the mark
//! that gives the handler i386 frames), the old sigaction's `compat_old_sigaction`, sigaltstack's `compat_stack_t`, rt_sigtimedwait with
//! an `old_timespec32`, and the two i386 sigreturns (signal/frame32.rs).

use super::ia32_args;
use crate::signal::SigAction;
use crate::syscall::errno::*;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;
use kentry_abi::compat::{OLD_SIGACTION32_SIZE, SIGACTION32_SIZE, STACK32_SIZE};

fn w32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// rt_sigaction(sig, act, oact, sigsetsize) with `compat_sigaction` (handler, flags,
/// restorer, then the 64-bit mask as two words). The action is marked SA_IA32_ABI: its
/// handler takes i386 frames.
pub(super) fn sys_rt_sigaction(regs: &mut Regs) -> i64 {
    let [sig, act, oact, size, ..] = ia32_args(regs);
    if size != 8 {
        return -EINVAL;
    }
    let new = if act != 0 {
        let mut b = [0u8; SIGACTION32_SIZE];
        if copy_from_user(&mut b, act).is_err() {
            return -EFAULT;
        }
        Some(SigAction {
            handler: u64::from(w32(&b, 0)),
            flags: u64::from(w32(&b, 4)),
            restorer: u64::from(w32(&b, 8)),
            mask: u64::from(w32(&b, 12)) | (u64::from(w32(&b, 16)) << 32),
        })
    } else {
        None
    };
    let old = match crate::syscall::sig::do_sigaction(sig, new, true) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if oact != 0 {
        let mut b = [0u8; SIGACTION32_SIZE];
        b[0..4].copy_from_slice(&(old.handler as u32).to_le_bytes());
        b[4..8].copy_from_slice(&(old.flags as u32).to_le_bytes());
        b[8..12].copy_from_slice(&(old.restorer as u32).to_le_bytes());
        b[12..20].copy_from_slice(&old.mask.to_le_bytes());
        if copy_to_user(oact, &b).is_err() {
            return -EFAULT;
        }
    }
    0
}

/// The old sigaction(sig, act, oact) (i386 67, Linux's `compat_sys_sigaction`) with
/// `compat_old_sigaction`: handler, a 32-bit mask (signals 1-32; the others come back
/// cleared, as `siginitset` leaves them), flags, restorer. The action is marked SA_IA32_ABI
/// as rt_sigaction's; without SA_SIGINFO its handler takes `sigframe_ia32`, and without
/// SA_RESTORER returns through the vDSO's `__kernel_sigreturn` (vdso_restorer_32 sets its
/// handler this way to keep glibc's restorer out).
pub(super) fn sys_sigaction(regs: &mut Regs) -> i64 {
    let [sig, act, oact, ..] = ia32_args(regs);
    let new = if act != 0 {
        let mut b = [0u8; OLD_SIGACTION32_SIZE];
        if copy_from_user(&mut b, act).is_err() {
            return -EFAULT;
        }
        Some(SigAction {
            handler: u64::from(w32(&b, 0)),
            mask: u64::from(w32(&b, 4)),
            flags: u64::from(w32(&b, 8)),
            restorer: u64::from(w32(&b, 12)),
        })
    } else {
        None
    };
    let old = match crate::syscall::sig::do_sigaction(sig, new, true) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if oact != 0 {
        let mut b = [0u8; OLD_SIGACTION32_SIZE];
        b[0..4].copy_from_slice(&(old.handler as u32).to_le_bytes());
        b[4..8].copy_from_slice(&(old.mask as u32).to_le_bytes());
        b[8..12].copy_from_slice(&(old.flags as u32).to_le_bytes());
        b[12..16].copy_from_slice(&(old.restorer as u32).to_le_bytes());
        if copy_to_user(oact, &b).is_err() {
            return -EFAULT;
        }
    }
    0
}

/// sigaltstack(ss, old) with `compat_stack_t` (ss_sp, ss_flags, ss_size).
pub(super) fn sys_sigaltstack(regs: &mut Regs) -> i64 {
    let [ss, old, ..] = ia32_args(regs);
    let new = if ss != 0 {
        let mut b = [0u8; STACK32_SIZE];
        if copy_from_user(&mut b, ss).is_err() {
            return -EFAULT;
        }
        Some((
            u64::from(w32(&b, 0)),
            w32(&b, 4) as i32,
            u64::from(w32(&b, 8)),
        ))
    } else {
        None
    };
    let (sp, flags, size) = match crate::syscall::sig::do_sigaltstack(new, regs.rsp as u32 as u64) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if old != 0 {
        let mut b = [0u8; STACK32_SIZE];
        b[0..4].copy_from_slice(&(sp as u32).to_le_bytes());
        b[4..8].copy_from_slice(&flags.to_le_bytes());
        b[8..12].copy_from_slice(&(size as u32).to_le_bytes());
        if copy_to_user(old, &b).is_err() {
            return -EFAULT;
        }
    }
    0
}

/// rt_sigtimedwait(set, info, timeout, sigsetsize) of i386 (177): an `old_timespec32`
/// timeout (rt_sigtimedwait_time64, 421, is the x86-64 call).
pub(super) fn sys_rt_sigtimedwait_time32(regs: &mut Regs) -> i64 {
    let [set, info, ts, size, ..] = ia32_args(regs);
    crate::syscall::sig::do_rt_sigtimedwait(
        set,
        info,
        ts,
        size,
        crate::syscall::sleep::read_old_timespec32,
    )
}

/// i386 sigreturn (119).
pub(super) fn sys_sigreturn(regs: &mut Regs) -> i64 {
    crate::signal::ia32_sigreturn(regs)
}

/// i386 rt_sigreturn (173).
pub(super) fn sys_rt_sigreturn(regs: &mut Regs) -> i64 {
    crate::signal::ia32_rt_sigreturn(regs)
}

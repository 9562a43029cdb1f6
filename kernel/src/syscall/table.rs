//! The syscall table (Linux x86-64 numbers) and the handlers.

use super::errno::*;
use crate::task::{self, ExitReason};
use crate::uaccess::{copy_from_user, put_user_u64};
use core::sync::atomic::{AtomicU64, Ordering};
use kentry::sysret::TASK_SIZE_MAX;
use kentry::{Regs, msr};
use x86_64::registers::model_specific::Msr;

/// A handler reads its arguments from the frame (rdi, rsi, rdx, r10, r8, r9) itself: copying
/// all six for every call would cost the fast path a dozen instructions.
type Handler = fn(&mut Regs) -> i64;

/// Linux's x86-64 table has 451 slots in 6.1; every unimplemented one is `sys_ni`.
pub const NR_SYSCALLS: usize = 451;

/// The numbered handlers, then one more slot: every invalid number (negative, past the table,
/// x32) lands there (kentry's `syscall_table_slot`).
pub static TABLE: [Handler; NR_SYSCALLS + 1] = {
    let mut t: [Handler; NR_SYSCALLS + 1] = [sys_ni; NR_SYSCALLS + 1];
    t[NR_SYSCALLS] = sys_invalid;
    t[0] = sys_read;
    t[1] = sys_write;
    t[24] = sys_sched_yield;
    t[39] = sys_getpid;
    t[60] = sys_exit;
    t[158] = sys_arch_prctl;
    t[186] = sys_gettid;
    t[231] = sys_exit_group;
    t
};

/// Numbers already reported as missing (one log line each), as a bitmap.
static REPORTED: [AtomicU64; NR_SYSCALLS.div_ceil(64)] =
    [const { AtomicU64::new(0) }; NR_SYSCALLS.div_ceil(64)];

fn sys_ni(regs: &mut Regs) -> i64 {
    let nr = regs.orig_rax as u32 as usize;
    let bit = 1u64 << (nr % 64);
    if REPORTED[nr / 64].fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        crate::klog!("syscall {nr} not implemented: -ENOSYS");
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

fn current_pid() -> i64 {
    task::current().map_or(0, |t| t.pid as i64)
}

fn sys_getpid(_: &mut Regs) -> i64 {
    current_pid()
}

fn sys_gettid(_: &mut Regs) -> i64 {
    current_pid()
}

fn sys_sched_yield(_: &mut Regs) -> i64 {
    0
}

fn sys_exit(regs: &mut Regs) -> i64 {
    task::exit_current(ExitReason::Exited(regs.rdi as i32))
}

fn sys_exit_group(regs: &mut Regs) -> i64 {
    task::exit_current(ExitReason::Exited(regs.rdi as i32))
}

fn sys_read(regs: &mut Regs) -> i64 {
    match regs.rdi {
        // No input device yet: stdin is at end of file.
        0 => 0,
        _ => -EBADF,
    }
}

fn sys_write(regs: &mut Regs) -> i64 {
    let (fd, buf, len) = (regs.rdi, regs.rsi, regs.rdx as usize);
    if fd != 1 && fd != 2 {
        return -EBADF;
    }
    let mut chunk = [0u8; 256];
    let mut done = 0usize;
    while done < len {
        let n = (len - done).min(chunk.len());
        if copy_from_user(&mut chunk[..n], buf + done as u64).is_err() {
            return if done == 0 { -EFAULT } else { done as i64 };
        }
        crate::console::user_write(fd as u32, &chunk[..n]);
        done += n;
    }
    done as i64
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

fn sys_arch_prctl(regs: &mut Regs) -> i64 {
    let Some(task) = task::current() else {
        return -EINVAL;
    };
    let (code, addr) = (regs.rdi, regs.rsi);
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            // A kernel address as a user base is refused outright (E13).
            if addr >= TASK_SIZE_MAX {
                return -EPERM;
            }
            // SAFETY: FS base and (while in the kernel) KERNEL_GS_BASE hold the user's bases.
            unsafe {
                if code == ARCH_SET_FS {
                    task.fs_base = addr;
                    Msr::new(msr::IA32_FS_BASE).write(addr);
                } else {
                    task.gs_base = addr;
                    Msr::new(msr::IA32_KERNEL_GS_BASE).write(addr);
                }
            }
            0
        }
        ARCH_GET_FS | ARCH_GET_GS => {
            // Read the live values: user code may have changed them with WRFSBASE/WRGSBASE.
            // SAFETY: reading this CPU's base MSRs.
            let v = unsafe {
                if code == ARCH_GET_FS {
                    Msr::new(msr::IA32_FS_BASE).read()
                } else {
                    Msr::new(msr::IA32_KERNEL_GS_BASE).read()
                }
            };
            match put_user_u64(addr, v) {
                Ok(()) => 0,
                Err(_) => -EFAULT,
            }
        }
        _ => -EINVAL,
    }
}

//! nanosleep, clock_nanosleep and restart_syscall: sleeps a signal may interrupt, with
//! Linux's restart rules.
//!
//! An interrupted relative sleep writes the time left to `rem` (when given) and returns
//! -ERESTART_RESTARTBLOCK, leaving the sleep's end in the task's restart block: with a
//! handler about to run the call fails with EINTR; without one the signal code sends the
//! caller back into `restart_syscall` (signal/mod.rs), which sleeps on to that same end — so
//! a tracer sees `restart_syscall`, not the original call, as Linux shows it. An absolute
//! sleep simply restarts as itself (-ERESTARTNOHAND), as Linux's does.
//!
//! The tick only wakes the sleeper; the monotonic clock (the TSC) says when the time is up,
//! so a sleep is never shorter than CLOCK_MONOTONIC says, even when QEMU delivers ticks late
//! on a loaded host.

use super::errno::*;
use super::table::Table;
use super::timespec::{read_timespec, timespec};
use crate::uaccess::copy_to_user;
use kentry::Regs;
use kentry_abi::nr;

pub const fn register(mut t: Table) -> Table {
    t[nr::NANOSLEEP] = sys_nanosleep;
    t[nr::CLOCK_NANOSLEEP] = sys_clock_nanosleep;
    t[nr::RESTART_SYSCALL] = sys_restart_syscall;
    t
}

/// The rest of an interrupted sleep, for `restart_syscall`.
#[derive(Clone, Copy, Debug)]
pub struct RestartBlock {
    /// Where the sleep ends, on the monotonic clock.
    end_ns: u64,
    /// Where to write the time left if interrupted again (0: nowhere).
    rem: u64,
}

/// Sleeps until the monotonic clock reaches `end_ns`. Interrupted: the time left goes to
/// `rem`, the end into the restart block, and the result is -ERESTART_RESTARTBLOCK.
fn sleep_to(end_ns: u64, rem: u64) -> i64 {
    loop {
        let now = crate::time::monotonic_ns();
        if now >= end_ns {
            return 0;
        }
        if !sleep_until_tick(crate::time::deadline_after_ns(end_ns - now)) {
            let left = end_ns.saturating_sub(crate::time::monotonic_ns());
            if rem != 0 && copy_to_user(rem, &timespec(left)).is_err() {
                return -EFAULT;
            }
            crate::task::current_inner().restart_block = Some(RestartBlock { end_ns, rem });
            return -ERESTART_RESTARTBLOCK;
        }
    }
}

/// Sleeps until tick `deadline`; false if a signal the thread takes arrives first.
fn sleep_until_tick(deadline: u64) -> bool {
    while crate::sched::ticks() < deadline {
        if crate::signal::interrupted() {
            return false;
        }
        crate::sched::sleep_until(deadline);
    }
    true
}

fn sys_nanosleep(regs: &mut Regs) -> i64 {
    match read_timespec(regs.rdi) {
        Ok(ns) => sleep_to(crate::time::monotonic_ns().saturating_add(ns), regs.rsi),
        Err(e) => e,
    }
}

const TIMER_ABSTIME: u64 = 1;

fn sys_clock_nanosleep(regs: &mut Regs) -> i64 {
    match read_timespec(regs.rdx) {
        Ok(ns) if regs.rsi & TIMER_ABSTIME != 0 => {
            const CLOCK_REALTIME: u64 = 0;
            let deadline = crate::time::deadline_at_ns(ns, regs.rdi == CLOCK_REALTIME);
            if sleep_until_tick(deadline) {
                0
            } else {
                -ERESTARTNOHAND
            }
        }
        Ok(ns) => sleep_to(crate::time::monotonic_ns().saturating_add(ns), regs.r10),
        Err(e) => e,
    }
}

/// restart_syscall: carries on with the restart block an interrupted call left; with none,
/// -EINTR (Linux's `do_no_restart_syscall`).
fn sys_restart_syscall(_: &mut Regs) -> i64 {
    match crate::task::current_inner().restart_block.take() {
        Some(b) => sleep_to(b.end_ns, b.rem),
        None => -EINTR,
    }
}

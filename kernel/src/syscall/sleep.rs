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
//! The i386 `nanosleep` and `clock_nanosleep` of `int $0x80` (compat.rs) take and write the
//! 32-bit `old_timespec32`; the restart block remembers which layout its `rem` has (Linux's
//! `TT_COMPAT`), so an i386 sleep resumed through `restart_syscall` writes the same one.
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

/// The layout of the timespec an interrupted sleep writes its time left in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rem {
    /// `struct timespec` (`__kernel_timespec`): two 64-bit words.
    Timespec,
    /// `struct old_timespec32` of the i386 calls: two 32-bit words.
    OldTimespec32,
}

/// The rest of an interrupted sleep, for `restart_syscall`.
#[derive(Clone, Copy, Debug)]
pub struct RestartBlock {
    /// Where the sleep ends, on the monotonic clock.
    end_ns: u64,
    /// Where to write the time left if interrupted again (0: nowhere).
    rem: u64,
    /// How to write it there.
    layout: Rem,
}

/// Sleeps until the monotonic clock reaches `end_ns`. Interrupted: the time left goes to
/// `rem` in `layout`, the end into the restart block, and the result is
/// -ERESTART_RESTARTBLOCK.
fn sleep_to(end_ns: u64, rem: u64, layout: Rem) -> i64 {
    loop {
        let now = crate::time::monotonic_ns();
        if now >= end_ns {
            return 0;
        }
        if !sleep_until_tick(crate::time::deadline_after_ns(end_ns - now)) {
            let left = end_ns.saturating_sub(crate::time::monotonic_ns());
            if rem != 0 {
                let written = match layout {
                    Rem::Timespec => copy_to_user(rem, &timespec(left)),
                    Rem::OldTimespec32 => copy_to_user(rem, &old_timespec32(left)),
                };
                if written.is_err() {
                    return -EFAULT;
                }
            }
            crate::task::current_inner().restart_block = Some(RestartBlock {
                end_ns,
                rem,
                layout,
            });
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
        Ok(ns) => sleep_to(
            crate::time::monotonic_ns().saturating_add(ns),
            regs.rsi,
            Rem::Timespec,
        ),
        Err(e) => e,
    }
}

const TIMER_ABSTIME: u64 = 1;

fn sys_clock_nanosleep(regs: &mut Regs) -> i64 {
    clock_nanosleep(
        regs.rdi,
        regs.rsi,
        read_timespec(regs.rdx),
        regs.r10,
        Rem::Timespec,
    )
}

/// clock_nanosleep of clock `clock` with `flags`, for `req` nanoseconds (or the error reading
/// it gave), writing the time left to `rem` in `layout` when interrupted.
fn clock_nanosleep(clock: u64, flags: u64, req: Result<u64, i64>, rem: u64, layout: Rem) -> i64 {
    match req {
        Ok(ns) if flags & TIMER_ABSTIME != 0 => {
            const CLOCK_REALTIME: u64 = 0;
            let deadline = crate::time::deadline_at_ns(ns, clock == CLOCK_REALTIME);
            if sleep_until_tick(deadline) {
                0
            } else {
                -ERESTARTNOHAND
            }
        }
        Ok(ns) => sleep_to(crate::time::monotonic_ns().saturating_add(ns), rem, layout),
        Err(e) => e,
    }
}

/// `ns` nanoseconds as an `old_timespec32` (seconds saturated to `i32::MAX`).
pub(crate) fn old_timespec32(ns: u64) -> [u8; 8] {
    let sec = (ns / crate::time::NSEC_PER_SEC).min(i32::MAX as u64) as u32;
    let nsec = (ns % crate::time::NSEC_PER_SEC) as u32;
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&sec.to_ne_bytes());
    b[4..].copy_from_slice(&nsec.to_ne_bytes());
    b
}

/// An `old_timespec32` in user memory, as nanoseconds: EFAULT, or EINVAL unless the seconds
/// are non-negative and the nanoseconds within [0, 1 s) (Linux's `get_old_timespec32` and
/// `timespec64_valid`).
pub(crate) fn read_old_timespec32(addr: u64) -> Result<u64, i64> {
    let mut b = [0u8; 8];
    crate::uaccess::copy_from_user(&mut b, addr).map_err(|_| -EFAULT)?;
    let sec = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let nsec = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
    if sec < 0 || !(0..crate::time::NSEC_PER_SEC as i32).contains(&nsec) {
        return Err(-EINVAL);
    }
    Ok((sec as u64) * crate::time::NSEC_PER_SEC + nsec as u64)
}

/// i386 nanosleep (`sys_nanosleep_time32`, through `int $0x80`): EBX the request, ECX the
/// time left, both `old_timespec32`.
pub fn sys_nanosleep_time32(regs: &mut Regs) -> i64 {
    let (req, rem) = (regs.rbx as u32 as u64, regs.rcx as u32 as u64);
    match read_old_timespec32(req) {
        Ok(ns) => sleep_to(
            crate::time::monotonic_ns().saturating_add(ns),
            rem,
            Rem::OldTimespec32,
        ),
        Err(e) => e,
    }
}

/// i386 clock_nanosleep (`sys_clock_nanosleep_time32`): EBX the clock, ECX the flags, EDX
/// the request and ESI the time left, both `old_timespec32`.
pub fn sys_clock_nanosleep_time32(regs: &mut Regs) -> i64 {
    let z = |v: u64| v as u32 as u64;
    clock_nanosleep(
        z(regs.rbx),
        z(regs.rcx),
        read_old_timespec32(z(regs.rdx)),
        z(regs.rsi),
        Rem::OldTimespec32,
    )
}

/// restart_syscall: carries on with the restart block an interrupted call left; with none,
/// -EINTR (Linux's `do_no_restart_syscall`).
fn sys_restart_syscall(_: &mut Regs) -> i64 {
    match crate::task::current_inner().restart_block.take() {
        Some(b) => sleep_to(b.end_ns, b.rem, b.layout),
        None => -EINTR,
    }
}

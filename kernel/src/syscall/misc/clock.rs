//! Clocks (clock_gettime, gettimeofday, time), CPU time (times, getrusage) and the interval
//! timers (getitimer, setitimer, alarm).

use super::limits::cputime_ns;
use super::{get, put, result};
use crate::process::{self, Process};
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::syscall::timespec::{timespec, timeval, timeval_us};
use crate::task;
use crate::time::{self, NSEC_PER_SEC};
use alloc::sync::Arc;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::GETITIMER] = sys_getitimer;
    t[nr::ALARM] = sys_alarm;
    t[nr::SETITIMER] = sys_setitimer;
    t[nr::GETTIMEOFDAY] = sys_gettimeofday;
    t[nr::GETRUSAGE] = sys_getrusage;
    t[nr::TIMES] = sys_times;
    t[nr::TIME] = sys_time;
    t[nr::CLOCK_GETTIME] = sys_clock_gettime;
    t[nr::CLOCK_GETRES] = sys_clock_getres;
    t
}

// --- Clocks ---

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;
const CLOCK_REALTIME_ALARM: u64 = 8;
const CLOCK_BOOTTIME_ALARM: u64 = 9;
const CLOCK_TAI: u64 = 11;

/// Clock `id` now, in ns; None for a clock kentry does not have.
pub(crate) fn clock_now(id: u64) -> Option<u64> {
    let id = id as i32;
    if id < 0 {
        return cpu_clock_process(id).map(|p| cputime_ns(&p));
    }
    Some(match id as u64 {
        // TAI: Linux starts with a TAI offset of 0 until someone sets it.
        CLOCK_REALTIME | CLOCK_REALTIME_ALARM | CLOCK_TAI => time::realtime_ns(),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => {
            time::monotonic_ns()
        }
        CLOCK_REALTIME_COARSE => time::coarse(time::realtime_ns()),
        CLOCK_MONOTONIC_COARSE => time::coarse(time::monotonic_ns()),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => cputime_ns(&task::current().process),
        _ => return None,
    })
}

/// The process behind a dynamic CPU clock id (`clock_getcpuclockid`,
/// `pthread_getcpuclockid`): `~pid << 3 | type`, bit 2 for a thread; type 3 is invalid.
fn cpu_clock_process(id: i32) -> Option<Arc<Process>> {
    if id & 3 == 3 {
        return None;
    }
    let who = !(id >> 3) as u32;
    if who == 0 {
        return Some(task::current().process.clone());
    }
    if id & 4 != 0 {
        process::find_thread(who).map(|t| t.process.clone())
    } else {
        process::find(who)
    }
}

fn clock_valid(id: u64) -> bool {
    let id = id as i32;
    if id < 0 {
        cpu_clock_process(id).is_some()
    } else {
        matches!(id as u64, 0..=9 | CLOCK_TAI)
    }
}

fn sys_clock_gettime(regs: &mut Regs) -> i64 {
    let Some(ns) = clock_now(regs.rdi) else {
        return -EINVAL;
    };
    result(put(regs.rsi, &timespec(ns)).map(|_| 0))
}

/// The resolution of clock `id` in ns; None for a clock kentry does not have.
pub(crate) fn clock_res(id: u64) -> Option<u64> {
    match id as i32 as u64 {
        CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => Some(1_000_000),
        id if clock_valid(id) => Some(1),
        _ => None,
    }
}

fn sys_clock_getres(regs: &mut Regs) -> i64 {
    let Some(res) = clock_res(regs.rdi) else {
        return -EINVAL;
    };
    if regs.rsi == 0 {
        return 0;
    }
    result(put(regs.rsi, &timespec(res)).map(|_| 0))
}

fn sys_gettimeofday(regs: &mut Regs) -> i64 {
    if regs.rdi != 0 {
        let us = time::realtime_ns() / 1000;
        if let Err(e) = put(regs.rdi, &timeval(us)) {
            return e;
        }
    }
    if regs.rsi != 0 {
        // struct timezone: minutes west of Greenwich, DST type: UTC, none.
        if let Err(e) = put(regs.rsi, &[0u8; 8]) {
            return e;
        }
    }
    0
}

fn sys_time(regs: &mut Regs) -> i64 {
    let secs = time::realtime_ns() / NSEC_PER_SEC;
    if regs.rdi != 0
        && let Err(e) = put(regs.rdi, &secs.to_ne_bytes())
    {
        return e;
    }
    secs as i64
}

use crate::sched::cputime::{USER_HZ, process_cpu_ns};

fn sys_times(regs: &mut Regs) -> i64 {
    if regs.rdi != 0 {
        // struct tms: utime, stime, cutime, cstime (children's: 0), in USER_HZ ticks.
        let [system, user] = process_cpu_ns(&task::current().process);
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&(user / (NSEC_PER_SEC / USER_HZ)).to_ne_bytes());
        b[8..16].copy_from_slice(&(system / (NSEC_PER_SEC / USER_HZ)).to_ne_bytes());
        // An i386 caller's `compat_tms` has 32-bit clock_t.
        let r = if crate::syscall::compat::in_ia32_syscall() {
            put(regs.rdi, &kentry_abi::compat::tms_to_compat(&b))
        } else {
            put(regs.rdi, &b)
        };
        if let Err(e) = r {
            return e;
        }
    }
    (time::monotonic_ns() / (NSEC_PER_SEC / USER_HZ)) as i64
}

const RUSAGE_SELF: i64 = 0;
const RUSAGE_CHILDREN: i64 = -1;
const RUSAGE_THREAD: i64 = 1;

/// struct rusage (144 bytes): ru_utime and ru_stime are the process's accounted CPU time
/// (sched/cputime.rs; RUSAGE_THREAD reports the whole process's); children and every counter
/// read 0.
fn sys_getrusage(regs: &mut Regs) -> i64 {
    let who = regs.rdi as i32 as i64;
    let mut b = [0u8; 144];
    match who {
        RUSAGE_SELF | RUSAGE_THREAD => {
            let me = task::current();
            let [system, user] = process_cpu_ns(&me.process);
            b[..16].copy_from_slice(&timeval(user / 1000));
            b[16..32].copy_from_slice(&timeval(system / 1000));
            // ru_nvcsw, ru_nivcsw: the thread's own for RUSAGE_THREAD, else the sum over the
            // process's live threads (those that ended are not kept).
            let (mut nv, mut niv) = (0, 0);
            let mut add = |t: &task::Task| {
                nv += t.sched.nvcsw.load(core::sync::atomic::Ordering::Relaxed);
                niv += t.sched.nivcsw.load(core::sync::atomic::Ordering::Relaxed);
            };
            if who == RUSAGE_THREAD {
                add(me);
            } else {
                for t in me
                    .process
                    .threads
                    .lock()
                    .iter()
                    .filter_map(alloc::sync::Weak::upgrade)
                {
                    add(&t);
                }
            }
            b[128..136].copy_from_slice(&nv.to_ne_bytes());
            b[136..144].copy_from_slice(&niv.to_ne_bytes());
        }
        RUSAGE_CHILDREN => {}
        _ => return -EINVAL,
    }
    if crate::syscall::compat::in_ia32_syscall() {
        return result(put(regs.rsi, &kentry_abi::compat::rusage_to_compat(&b)).map(|_| 0));
    }
    result(put(regs.rsi, &b).map(|_| 0))
}

// --- Interval timers ---

const ITIMER_REAL: u64 = 0;
const ITIMER_VIRTUAL: u64 = 1;
const ITIMER_PROF: u64 = 2;

fn itimerval(value_us: u64, interval_us: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&timeval(interval_us));
    b[16..].copy_from_slice(&timeval(value_us));
    b
}

fn sys_getitimer(regs: &mut Regs) -> i64 {
    match do_getitimer(regs.rdi) {
        Ok((value, interval)) => result(put(regs.rsi, &itimerval(value, interval)).map(|_| 0)),
        Err(e) => e,
    }
}

/// Timer `which` now: (value, interval) in microseconds (getitimer; the i386 compat one too).
pub(crate) fn do_getitimer(which: u64) -> Result<(u64, u64), i64> {
    match which {
        ITIMER_REAL => Ok(time::real_timer_get(task::current().process.pid)),
        ITIMER_VIRTUAL | ITIMER_PROF => Ok((0, 0)),
        _ => Err(-EINVAL),
    }
}

/// setitimer(which, new, old): ITIMER_REAL works; ITIMER_VIRTUAL and ITIMER_PROF (CPU time,
/// which kentry does not account) only accept being disarmed. A NULL `new` disarms, as on
/// Linux.
fn sys_setitimer(regs: &mut Regs) -> i64 {
    let (which, new, old) = (regs.rdi, regs.rsi, regs.rdx);
    let (value, interval) = if new == 0 {
        (0, 0)
    } else {
        let b = match get::<32>(new) {
            Ok(b) => b,
            Err(e) => return e,
        };
        match (timeval_us(&b[16..]), timeval_us(&b[..16])) {
            (Ok(v), Ok(i)) => (v, i),
            (Err(e), _) | (_, Err(e)) => return e,
        }
    };
    let prev = match do_setitimer(which, value, interval) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if old != 0 {
        return result(put(old, &itimerval(prev.0, prev.1)).map(|_| 0));
    }
    0
}

/// Arms timer `which` with `value` and `interval` (microseconds); returns the previous
/// (value, interval) (setitimer; the i386 compat one too).
pub(crate) fn do_setitimer(which: u64, value: u64, interval: u64) -> Result<(u64, u64), i64> {
    match which {
        ITIMER_REAL => Ok(time::real_timer_set(
            task::current().process.pid,
            value,
            interval,
        )),
        ITIMER_VIRTUAL | ITIMER_PROF if value == 0 => Ok((0, 0)),
        _ => Err(-EINVAL),
    }
}

/// alarm(seconds): ITIMER_REAL without interval; returns the seconds left of the previous
/// alarm, rounded to the nearest second but never 0 for an armed one (as Linux).
fn sys_alarm(regs: &mut Regs) -> i64 {
    let secs = regs.rdi as u32 as u64;
    let (old_us, _) = time::real_timer_set(task::current().process.pid, secs * 1_000_000, 0);
    let (s, us) = (old_us / 1_000_000, old_us % 1_000_000);
    if (s == 0 && us != 0) || us >= 500_000 {
        (s + 1) as i64
    } else {
        s as i64
    }
}

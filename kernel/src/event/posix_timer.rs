//! POSIX per-process timers: timer_create, timer_settime, timer_gettime, timer_getoverrun and
//! timer_delete (Linux's kernel/time/posix-timers.c), on the wall and monotonic clocks.
//!
//! GHC's non-threaded runtime ticks with one (a SIGVTALRM every 10 ms), and glibc's
//! SIGEV_THREAD timers are SIGEV_THREAD_ID ones underneath. Timers are kept in one list and
//! fired by a kernel thread, which sleeps until the earliest expiry (or until a settime
//! kicks it) and then sends each due timer's signal: an SI_TIMER siginfo carrying the
//! timer's id, its overrun and the caller's sigev_value, to the process (SIGEV_SIGNAL) or one
//! of its threads (SIGEV_THREAD_ID). Periods the thread found already missed count as the
//! overrun of the signal it sends. A process's timers end at its exit and at execve, as in
//! Linux; a forked child has none.

use super::ret;
use crate::sched::WaitQueue;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::syscall::timespec::{put_itimerspec, timespec_ns};
use crate::task;
use crate::time::{monotonic_ns, realtime_ns};
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use kentry::Regs;
use kentry_abi::nr;
use spin::Once;

pub const fn register(mut t: Table) -> Table {
    t[nr::TIMER_CREATE] = sys_timer_create;
    t[nr::TIMER_SETTIME] = sys_timer_settime;
    t[nr::TIMER_GETTIME] = sys_timer_gettime;
    t[nr::TIMER_GETOVERRUN] = sys_timer_getoverrun;
    t[nr::TIMER_DELETE] = sys_timer_delete;
    t
}

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;
const SI_TIMER: i32 = -2;
const TIMER_ABSTIME: u32 = 1;
/// The most timers one process may have (Linux's limit is RLIMIT_SIGPENDING-like; kentry
/// keeps a fixed bound so that a loop of timer_create cannot eat the heap).
const MAX_TIMERS: usize = 1024;

#[derive(Clone, Copy)]
struct PosixTimer {
    pid: u32,
    id: i32,
    realtime: bool,
    notify: i32,
    signo: u8,
    /// SIGEV_THREAD_ID's thread.
    tid: u32,
    value: u64,
    /// The next expiry on the timer's clock; None while disarmed.
    next: Option<u64>,
    interval: u64,
    /// The overrun of the last signal sent (timer_getoverrun).
    overrun: u64,
}

impl PosixTimer {
    fn now(&self) -> u64 {
        if self.realtime {
            realtime_ns()
        } else {
            monotonic_ns()
        }
    }

    /// (it_interval, it_value) as timer_gettime gives them.
    fn get(&self) -> (u64, u64) {
        let now = self.now();
        let value = match self.next {
            None => 0,
            Some(n) if n > now => n - now,
            // Due, the thread not there yet: Linux shows what is left, at least 1 ns... of a
            // timer that has not fired; kentry shows the period's remainder or 0.
            Some(n) if self.interval > 0 => self.interval - (now - n) % self.interval,
            Some(_) => 0,
        };
        (self.interval, value)
    }
}

static TIMERS: Mutex<Vec<PosixTimer>> = Mutex::new(Vec::new());
/// The timer thread sleeps here; a settime sets KICK and wakes it.
static WAIT: WaitQueue = WaitQueue::new();
static KICK: AtomicBool = AtomicBool::new(false);
static THREAD: Once<task::TaskRef> = Once::new();

fn kick() {
    THREAD.call_once(|| {
        let t = task::Task::new_kernel(
            0,
            crate::process::kernel_process(),
            "posix timer thread stack",
            timer_thread,
        );
        crate::sched::spawn(t.clone());
        t
    });
    KICK.store(true, Ordering::Release);
    WAIT.wake_all();
}

/// Fires the due timers; returns the earliest pending expiry on the monotonic clock. The
/// signals are sent under the list's lock, so a settime or delete that returned has no
/// signal of the old setting still on its way.
fn fire_due() -> Option<u64> {
    let (mono, real) = (monotonic_ns(), realtime_ns());
    let mut timers = TIMERS.lock();
    let mut earliest: Option<u64> = None;
    let mut gone = Vec::new();
    for t in timers.iter_mut() {
        let Some(next) = t.next else { continue };
        let now = if t.realtime { real } else { mono };
        if now >= next {
            let missed = (now - next).checked_div(t.interval).unwrap_or(0);
            t.overrun = missed;
            // Saturating: a period near u64::MAX ns must not wrap round to the past.
            t.next = (t.interval > 0)
                .then(|| next.saturating_add((missed + 1).saturating_mul(t.interval)));
            if t.notify != SIGEV_NONE && !send(t, missed) {
                gone.push(t.pid);
            }
        }
        if let Some(n) = t.next {
            let at = if t.realtime {
                mono.saturating_add(n.saturating_sub(real))
            } else {
                n
            };
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
    }
    timers.retain(|t| !gone.contains(&t.pid));
    earliest
}

extern "C" fn timer_thread() -> ! {
    crate::sched::kernel_thread_prologue();
    loop {
        KICK.store(false, Ordering::Release);
        let earliest = fire_due();
        let tick =
            earliest.map(|e| crate::time::deadline_after_ns(e.saturating_sub(monotonic_ns())));
        if let Some(d) = tick {
            crate::sched::add_timeout(d);
        }
        WAIT.wait_until(
            || KICK.load(Ordering::Acquire) || tick.is_some_and(|d| crate::sched::ticks() >= d),
            || false,
        );
    }
}

/// Sends timer `t`'s signal, an SI_TIMER siginfo with `missed` as its overrun: to the
/// process, or to the SIGEV_THREAD_ID thread while it lives. False when the process is gone.
fn send(t: &PosixTimer, missed: u64) -> bool {
    let Some(p) = crate::process::find(t.pid) else {
        return false;
    };
    if p.exiting.load(Ordering::Acquire) || p.exit_reason().is_some() {
        return false;
    }
    let info = crate::signal::SigInfo {
        signo: i32::from(t.signo),
        errno: 0,
        code: SI_TIMER,
        // si_tid (the timer's id), then si_overrun.
        addr_or_pid: (t.id as u32 as u64) | (missed.min(i32::MAX as u64) << 32),
        extra: t.value,
    };
    if t.notify == SIGEV_THREAD_ID
        && let Some(th) = crate::process::find_thread(t.tid)
        && th.process.pid == t.pid
    {
        let _ = crate::signal::queue_to_thread(&th, t.signo, &info.into());
        return true;
    }
    let _ = crate::signal::queue_to_process(&p, t.signo, &info.into());
    true
}

/// Process `pid` ends or execs: its timers go.
pub fn exit_process(pid: u32) {
    TIMERS.lock().retain(|t| t.pid != pid);
}

fn with_timer<R>(id: i32, f: impl FnOnce(&mut PosixTimer) -> R) -> Result<R, i64> {
    let pid = task::current().process.pid;
    let mut timers = TIMERS.lock();
    timers
        .iter_mut()
        .find(|t| t.pid == pid && t.id == id)
        .map(f)
        .ok_or(-EINVAL)
}

/// timer_create(clockid, sevp, timerid): the wall, monotonic and boot clocks (and their
/// _ALARM forms); the CPU-time clocks are not served (EINVAL).
fn sys_timer_create(regs: &mut Regs) -> i64 {
    let (clockid, usev, uid) = (regs.rdi as i32, regs.rsi, regs.rdx);
    ret((|| {
        let realtime = match clockid {
            0 | 8 => true,
            1 | 7 | 9 => false,
            _ => return Err(-EINVAL),
        };
        let me = task::current();
        let pid = me.process.pid;
        let (mut notify, mut signo, mut value, mut tid) = (SIGEV_SIGNAL, 14u8, None, 0u32);
        if usev != 0 {
            let mut b = [0u8; 64];
            copy_from_user(&mut b, usev).map_err(|_| -EFAULT)?;
            let word = |o: usize| i32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
            value = Some(u64::from_ne_bytes(b[..8].try_into().unwrap()));
            notify = word(12);
            let sig = word(8);
            if !matches!(notify, SIGEV_SIGNAL | SIGEV_NONE | SIGEV_THREAD_ID) {
                return Err(-EINVAL);
            }
            if notify != SIGEV_NONE {
                if !(1..=64).contains(&sig) {
                    return Err(-EINVAL);
                }
                signo = sig as u8;
            }
            if notify == SIGEV_THREAD_ID {
                tid = word(16) as u32;
                match crate::process::find_thread(tid) {
                    Some(t) if t.process.pid == pid => {}
                    _ => return Err(-EINVAL),
                }
            }
        }
        let mut timers = TIMERS.lock();
        let mine = timers.iter().filter(|t| t.pid == pid).count();
        if mine >= MAX_TIMERS {
            return Err(-EAGAIN);
        }
        // The lowest free id, as Linux hands them out from 0.
        let id = (0..)
            .find(|&i| !timers.iter().any(|t| t.pid == pid && t.id == i))
            .unwrap_or(0);
        timers.push(PosixTimer {
            pid,
            id,
            realtime,
            notify,
            signo,
            tid,
            // Without a sigevent, si_value is the timer's id.
            value: value.unwrap_or(id as u64),
            next: None,
            interval: 0,
            overrun: 0,
        });
        drop(timers);
        if copy_to_user(uid, &id.to_ne_bytes()).is_err() {
            let _ = with_timer(id, |t| t.pid = 0);
            TIMERS.lock().retain(|t| t.pid != 0);
            return Err(-EFAULT);
        }
        Ok(0)
    })())
}

fn sys_timer_settime(regs: &mut Regs) -> i64 {
    let (id, flags, unew, uold) = (regs.rdi as i32, regs.rsi as u32, regs.rdx, regs.r10);
    ret((|| {
        let mut b = [0u8; 32];
        copy_from_user(&mut b, unew).map_err(|_| -EFAULT)?;
        let interval = timespec_ns(&b[..16])?;
        let value = timespec_ns(&b[16..])?;
        let old = with_timer(id, |t| {
            let old = t.get();
            let now = t.now();
            t.interval = interval;
            t.overrun = 0;
            t.next = match value {
                0 => None,
                v if flags & TIMER_ABSTIME != 0 => Some(v),
                v => Some(now.saturating_add(v)),
            };
            old
        })?;
        kick();
        if uold != 0 {
            put_itimerspec(uold, old)?;
        }
        Ok(0)
    })())
}

fn sys_timer_gettime(regs: &mut Regs) -> i64 {
    let (id, ucur) = (regs.rdi as i32, regs.rsi);
    ret(with_timer(id, |t| t.get()).and_then(|v| put_itimerspec(ucur, v).map(|_| 0)))
}

fn sys_timer_getoverrun(regs: &mut Regs) -> i64 {
    ret(with_timer(regs.rdi as i32, |t| {
        t.overrun.min(i32::MAX as u64) as i64
    }))
}

fn sys_timer_delete(regs: &mut Regs) -> i64 {
    let id = regs.rdi as i32;
    let pid = task::current().process.pid;
    let mut timers = TIMERS.lock();
    match timers.iter().position(|t| t.pid == pid && t.id == id) {
        Some(i) => {
            timers.swap_remove(i);
            0
        }
        None => -EINVAL,
    }
}

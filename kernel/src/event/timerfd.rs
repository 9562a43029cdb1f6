//! timerfd: a timer read as a file (Linux's fs/timerfd.c).
//!
//! kentry arms nothing: a timerfd keeps its next expiry and period, and every question —
//! is it readable, how many expirations has it had — is answered from the clock when it is
//! asked. A read returns the expirations since the last read (periods missed meanwhile
//! included) and moves the next expiry past now. Waiters are woken by the tick: a blocking
//! read sleeps until the expiry's tick, and poll/select/epoll sleep no longer than
//! [`TimerFd::poll_deadline`] (the next expiry on the monotonic clock). A CLOCK_REALTIME
//! timer compares with the real-time clock when asked, so a clock change would take effect
//! at once; kentry has no clock_settime, so TFD_TIMER_CANCEL_ON_SET is accepted and never
//! cancels.

use super::{get_file, ret};
use crate::fs::pipe::{POLLIN, POLLRDNORM};
use crate::fs::{self, File, FileKind, O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::sched::WaitQueue;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::syscall::timespec::{put_itimerspec, timespec_ns};
use crate::time::{monotonic_ns, realtime_ns};
use crate::uaccess::copy_from_user;
use alloc::sync::Arc;
use kentry::Regs;
use kentry_abi::nr;

/// Test kernels, `kentry.break=timerfd_overrun`: a read returns 1 however many periods passed
/// (the negative run of `c_eventfds`).
pub static BREAK_OVERRUN: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

pub const TFD_CLOEXEC: u32 = O_CLOEXEC;
pub const TFD_NONBLOCK: u32 = O_NONBLOCK;
pub const TFD_TIMER_ABSTIME: u32 = 1;
pub const TFD_TIMER_CANCEL_ON_SET: u32 = 2;

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const CLOCK_BOOTTIME: u32 = 7;
const CLOCK_REALTIME_ALARM: u32 = 8;
const CLOCK_BOOTTIME_ALARM: u32 = 9;

pub const fn register(mut t: Table) -> Table {
    t[nr::TIMERFD_CREATE] = sys_timerfd_create;
    t[nr::TIMERFD_SETTIME] = sys_timerfd_settime;
    t[nr::TIMERFD_GETTIME] = sys_timerfd_gettime;
    t
}

#[derive(Clone, Copy, Default)]
struct Timer {
    /// The next expiry on the timer's clock (ns); None while disarmed.
    next: Option<u64>,
    /// The period (0: one-shot).
    interval: u64,
    /// Reads that took expirations and settimes: with one more while an expiration is
    /// pending, edge-triggered epoll's wake-up count. Linux's timer wakes its pollers at
    /// an expiry and re-arms a periodic timer only when it is read, so the periods that pass
    /// unread make no new edge: the count moves once per read-to-expiry, not per period.
    base: u64,
}

impl Timer {
    /// Expirations at `now` not yet read.
    fn pending(&self, now: u64) -> u64 {
        match self.next {
            Some(n) if now >= n => match (now - n).checked_div(self.interval) {
                Some(missed) => missed + 1,
                None => 1,
            },
            _ => 0,
        }
    }
}

pub struct TimerFd {
    realtime: bool,
    timer: Mutex<Timer>,
    /// Blocking readers; settime wakes them to look at the new expiry.
    wait: WaitQueue,
}

impl TimerFd {
    fn now(&self) -> u64 {
        if self.realtime {
            realtime_ns()
        } else {
            monotonic_ns()
        }
    }

    /// Takes the pending expirations, if any: the next expiry moves past now (a one-shot
    /// timer disarms).
    fn take(&self) -> Option<u64> {
        let now = self.now();
        let mut t = self.timer.lock();
        let n = t.pending(now);
        if n == 0 {
            return None;
        }
        t.base = t.base.wrapping_add(1);
        t.next = match t.next {
            // Saturating: a period near u64::MAX ns must not wrap round to the past.
            Some(next) if t.interval > 0 => Some(next.saturating_add(n.saturating_mul(t.interval))),
            _ => None,
        };
        Some(n)
    }

    pub fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, i64> {
        if buf.len() < 8 {
            return Err(-EINVAL);
        }
        loop {
            if let Some(n) = self.take() {
                let n = if BREAK_OVERRUN.load(core::sync::atomic::Ordering::Relaxed) {
                    1
                } else {
                    n
                };
                buf[..8].copy_from_slice(&n.to_ne_bytes());
                return Ok(8);
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            let tick = self
                .poll_deadline()
                .map(|d| crate::time::deadline_after_ns(d.saturating_sub(monotonic_ns())));
            if let Some(d) = tick {
                crate::sched::add_timeout(d);
            }
            let woke = self.wait.wait_until(
                || self.poll_events() != 0 || tick.is_some_and(|d| crate::sched::ticks() >= d),
                crate::signal::interrupted,
            );
            if !woke {
                return Err(-ERESTARTSYS);
            }
        }
    }

    pub fn poll_events(&self) -> u16 {
        let now = self.now();
        if self.timer.lock().pending(now) > 0 {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    pub fn poll_seq(&self) -> u64 {
        let now = self.now();
        let t = self.timer.lock();
        t.base.wrapping_add(u64::from(t.pending(now) > 0))
    }

    /// The next expiry on the monotonic clock, while none is pending.
    pub fn poll_deadline(&self) -> Option<u64> {
        let now = self.now();
        let t = *self.timer.lock();
        let next = t.next?;
        if t.pending(now) > 0 {
            return None;
        }
        let mono = monotonic_ns();
        Some(if self.realtime {
            mono.saturating_add(next - realtime_ns().min(next))
        } else {
            next
        })
    }

    /// (it_interval, it_value) as Linux's timerfd_gettime gives them: the time to the next
    /// expiry still to come (0 for a one-shot timer that has expired).
    fn get(&self) -> (u64, u64) {
        let now = self.now();
        let t = *self.timer.lock();
        let value = match t.next {
            None => 0,
            Some(next) if now < next => next - now,
            Some(next) if t.interval > 0 => next
                .saturating_add(t.pending(now).saturating_mul(t.interval))
                .saturating_sub(now),
            Some(_) => 0,
        };
        (t.interval, value)
    }

    fn set(&self, abs: bool, interval: u64, value: u64) {
        let now = self.now();
        let mut t = self.timer.lock();
        t.base = t.base.wrapping_add(u64::from(t.pending(now) > 0) + 1);
        t.interval = interval;
        t.next = match value {
            0 => None,
            v if abs => Some(v),
            v => Some(now.saturating_add(v)),
        };
        drop(t);
        self.wait.wake_all();
        crate::fs::POLL_WAIT.wake_all();
    }
}

fn sys_timerfd_create(regs: &mut Regs) -> i64 {
    let (clockid, flags) = (regs.rdi as u32, regs.rsi as u32);
    ret((|| {
        if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 {
            return Err(-EINVAL);
        }
        // The alarm clocks are their base clocks here (nothing suspends); everyone is root,
        // who has CAP_WAKE_ALARM.
        let realtime = match clockid {
            CLOCK_REALTIME | CLOCK_REALTIME_ALARM => true,
            CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => false,
            _ => return Err(-EINVAL),
        };
        let t = Arc::new(TimerFd {
            realtime,
            timer: Mutex::new(Timer::default()),
            wait: WaitQueue::new(),
        });
        let file = File::new(FileKind::TimerFd(t), O_RDWR | (flags & TFD_NONBLOCK));
        Ok(fs::install_file(file, flags & TFD_CLOEXEC != 0)? as i64)
    })())
}

/// The timerfd behind `fd`: EBADF, or EINVAL for another kind of file.
fn timerfd(fd: u64) -> Result<Arc<TimerFd>, i64> {
    match &get_file(fd)?.kind {
        FileKind::TimerFd(t) => Ok(t.clone()),
        _ => Err(-EINVAL),
    }
}

/// timerfd_settime(fd, flags, new, old), in Linux's order: the copy (EFAULT), the flags and
/// the times (EINVAL), the descriptor (EBADF, EINVAL); the old setting is written after the
/// new one took effect.
fn sys_timerfd_settime(regs: &mut Regs) -> i64 {
    let (fd, flags, unew, uold) = (regs.rdi, regs.rsi as u32, regs.rdx, regs.r10);
    ret((|| {
        let mut b = [0u8; 32];
        copy_from_user(&mut b, unew).map_err(|_| -EFAULT)?;
        if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
            return Err(-EINVAL);
        }
        let interval = timespec_ns(&b[..16])?;
        let value = timespec_ns(&b[16..])?;
        let t = timerfd(fd)?;
        let old = t.get();
        t.set(flags & TFD_TIMER_ABSTIME != 0, interval, value);
        if uold != 0 {
            put_itimerspec(uold, old)?;
        }
        Ok(0)
    })())
}

fn sys_timerfd_gettime(regs: &mut Regs) -> i64 {
    let (fd, ucur) = (regs.rdi, regs.rsi);
    ret((|| {
        let t = timerfd(fd)?;
        put_itimerspec(ucur, t.get())?;
        Ok(0)
    })())
}

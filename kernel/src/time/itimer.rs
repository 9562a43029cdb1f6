//! ITIMER_REAL (alarm, setitimer): per-process deadlines, and the timer thread that sends
//! SIGALRM when the tick finds one passed.

use super::{NEXT_TICK_WORK, deadline_after_ns, due_at, monotonic_ns};
use crate::sync::Mutex;
use crate::task::{TaskRef, TaskState};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Once;
use x86_64::instructions::interrupts;

// --- ITIMER_REAL (alarm, setitimer) ---

/// One process's real-time timer.
#[derive(Clone, Copy, Default)]
struct RealTimer {
    /// Tick at which it fires (0: disarmed): the first tick at or past `deadline_ns`.
    deadline: u64,
    /// The monotonic time it is due.
    deadline_ns: u64,
    /// Re-arm period (0: one-shot).
    interval_ns: u64,
}

/// Armed timers by pid. Taken with interrupts off (never by the tick itself).
static TIMERS: Mutex<BTreeMap<u32, RealTimer>> = Mutex::new(BTreeMap::new());
/// The earliest armed deadline in ticks (u64::MAX: none): all the tick looks at.
pub(super) static NEXT_DUE: AtomicU64 = AtomicU64::new(u64::MAX);
pub(super) static TIMER_THREAD: Once<TaskRef> = Once::new();

/// Process `pid`'s ITIMER_REAL as (value µs left, interval µs); (0, 0) when disarmed. A timer
/// that is due but not yet delivered still has 1 µs left, as on Linux.
pub fn real_timer_get(pid: u32) -> (u64, u64) {
    let now = monotonic_ns();
    interrupts::without_interrupts(|| {
        TIMERS.lock().get(&pid).map_or((0, 0), |t| {
            let left = t.deadline_ns.saturating_sub(now).div_ceil(1000).max(1);
            (left, t.interval_ns.div_ceil(1000))
        })
    })
}

/// Sets process `pid`'s ITIMER_REAL to fire in `value_us` (0: disarm) and then every
/// `interval_us`; returns the old (value µs, interval µs).
pub fn real_timer_set(pid: u32, value_us: u64, interval_us: u64) -> (u64, u64) {
    let now = monotonic_ns();
    let value_ns = value_us.saturating_mul(1000);
    let t = RealTimer {
        deadline: if value_us == 0 {
            0
        } else {
            deadline_after_ns(value_ns)
        },
        deadline_ns: now.saturating_add(value_ns),
        interval_ns: interval_us.saturating_mul(1000),
    };
    if t.deadline != 0 {
        start_timer_thread();
    }
    let old = real_timer_get(pid);
    interrupts::without_interrupts(|| {
        let mut timers = TIMERS.lock();
        if t.deadline == 0 {
            timers.remove(&pid);
        } else {
            timers.insert(pid, t);
            due_at(t.deadline);
        }
    });
    old
}

fn start_timer_thread() {
    TIMER_THREAD.call_once(|| {
        let t = crate::task::Task::new_kernel(
            0,
            crate::process::kernel_process(),
            "timer thread stack",
            timer_thread,
        );
        crate::sched::spawn(t.clone());
        t
    });
}

/// The timer thread: sends SIGALRM for every due ITIMER_REAL, re-arms the periodic ones,
/// then sleeps until the tick sees the next deadline pass.
extern "C" fn timer_thread() -> ! {
    crate::sched::kernel_thread_prologue();
    let me = crate::sched::current_ref();
    let mut due: Vec<u32> = Vec::new();
    loop {
        let now = crate::sched::ticks();
        due.clear();
        interrupts::without_interrupts(|| {
            let mut timers = TIMERS.lock();
            for (&pid, t) in timers.iter_mut() {
                if t.deadline != 0 && t.deadline <= now {
                    due.push(pid);
                    let mono = monotonic_ns();
                    let late = mono.saturating_sub(t.deadline_ns);
                    match late.checked_div(t.interval_ns) {
                        None => t.deadline = 0,
                        // Expirations missed meanwhile coalesce into this one signal.
                        Some(missed) => {
                            t.deadline_ns += (missed + 1) * t.interval_ns;
                            t.deadline = deadline_after_ns(t.deadline_ns - mono);
                        }
                    }
                }
            }
            timers.retain(|_, t| t.deadline != 0);
        });
        for &pid in &due {
            match crate::process::find(pid) {
                Some(p) if !p.exiting.load(Ordering::Acquire) && p.exit_reason().is_none() => {
                    crate::signal::send_to_process(&p, crate::signal::SIGALRM)
                }
                // Gone: its periodic timer goes too.
                _ => interrupts::without_interrupts(|| {
                    TIMERS.lock().remove(&pid);
                }),
            }
        }
        interrupts::disable();
        let next = TIMERS
            .lock()
            .values()
            .map(|t| t.deadline)
            .min()
            .unwrap_or(u64::MAX);
        NEXT_DUE.store(next, Ordering::Relaxed);
        NEXT_TICK_WORK.fetch_min(next, Ordering::Relaxed);
        // Interrupts stay off from the check to the switch, so the tick that passes `next`
        // finds this task blocked and wakes it.
        if crate::sched::ticks() < next {
            me.set_state(TaskState::Blocked);
            crate::sched::schedule();
        }
        interrupts::enable();
    }
}

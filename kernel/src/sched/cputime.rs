//! A process's CPU time, user and system, in nanoseconds (getrusage, times).
//!
//! Sampled by the tick on housekeeping CPUs: each tick charges its whole period to the
//! process of the task it interrupted, as user time if it came from user mode (Linux's tick
//! accounting; the idle task's ticks go to the kernel process, which nobody reads). A
//! nohz_full CPU accounts from its context-tracking transitions instead (`nohz::vtime`), since
//! its tick may be stopped.

use core::sync::atomic::{AtomicU64, Ordering};

/// Nanoseconds of one tick.
const TICK_NS: u64 = 1_000_000;

#[derive(Default)]
pub struct CpuTime {
    /// `[system, user]`, indexed by "was in user mode" so the tick adds without a branch.
    ns: [AtomicU64; 2],
}

impl CpuTime {
    pub const fn new() -> Self {
        CpuTime {
            ns: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    pub fn add_user(&self, ns: u64) {
        self.ns[1].fetch_add(ns, Ordering::Relaxed);
    }

    pub fn add_system(&self, ns: u64) {
        self.ns[0].fetch_add(ns, Ordering::Relaxed);
    }

    /// User time so far, ns.
    pub fn user_ns(&self) -> u64 {
        self.ns[1].load(Ordering::Relaxed)
    }

    /// System time so far, ns.
    pub fn system_ns(&self) -> u64 {
        self.ns[0].load(Ordering::Relaxed)
    }
}

/// From the tick (IRQs off): one period to the running task's process.
#[inline(always)]
pub fn account_tick(cur: &crate::task::Task, user_mode: bool) {
    cur.process.cputime.ns[user_mode as usize].fetch_add(TICK_NS, Ordering::Relaxed);
}

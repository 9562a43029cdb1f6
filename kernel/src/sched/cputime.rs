//! CPU time in nanoseconds: a process's, user and system (getrusage, times), and each CPU's,
//! user, system and idle (/proc/stat's `cpuN` rows, Linux's `kcpustat`).
//!
//! Sampled by the tick on housekeeping CPUs: each tick charges its whole period to the
//! process of the task it interrupted, as user time if it came from user mode (Linux's tick
//! accounting; the idle task's ticks go to the kernel process, which nobody reads), and to its
//! CPU's user, system or idle bucket. A nohz_full CPU accounts from its context-tracking
//! transitions instead (`nohz::vtime`), since its tick may be stopped.

use crate::percpu::MAX_CPUS;
use crate::task::Task;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// USER_HZ: the unit of times(), /proc/stat and AT_CLKTCK.
pub const USER_HZ: u64 = 100;

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

/// A CPU's bucket, the index into its row of [`CPU_STAT`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CpuBucket {
    System = 0,
    User = 1,
    Idle = 2,
}

/// Per CPU: nanoseconds of system, user and idle time. Only the CPU itself adds to its row
/// (with IRQs off); readers (/proc/stat) may see the three words from different moments,
/// as Linux's readers of `kcpustat` may.
static CPU_STAT: [[AtomicU64; 3]; MAX_CPUS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)] }; MAX_CPUS];

/// Per CPU: its idle task, so that the tick can tell idle time from system time with one
/// load and a compare (the run queue, which also knows, is behind a lock).
static IDLE_TASK: [AtomicPtr<Task>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];

/// Records `cpu`'s idle task (sched::start, before the CPU schedules).
pub fn set_idle_task(cpu: usize, idle: &Task) {
    IDLE_TASK[cpu].store(idle as *const Task as *mut Task, Ordering::Relaxed);
}

/// The bucket for time that `task` spent on `cpu` in the kernel.
#[inline(always)]
pub fn kernel_bucket(cpu: usize, task: &Task) -> CpuBucket {
    if core::ptr::eq(IDLE_TASK[cpu].load(Ordering::Relaxed), task) {
        CpuBucket::Idle
    } else {
        CpuBucket::System
    }
}

/// Adds `ns` to `cpu`'s `bucket` (on `cpu`, IRQs off).
#[inline(always)]
pub fn add_cpu_time(cpu: usize, bucket: CpuBucket, ns: u64) {
    CPU_STAT[cpu][bucket as usize].fetch_add(ns, Ordering::Relaxed);
}

/// `cpu`'s `[system, user, idle]` nanoseconds so far, with what a nohz_full CPU has not
/// folded yet (`nohz::vtime::cpu_time`).
pub fn cpu_time(cpu: usize) -> [u64; 3] {
    if crate::nohz::enabled() && crate::nohz::is_full(cpu) {
        return crate::nohz::vtime::cpu_time(cpu);
    }
    cpu_row(cpu)
}

/// `cpu`'s `[system, user, idle]` nanoseconds as accounted so far.
pub fn cpu_row(cpu: usize) -> [u64; 3] {
    let row = &CPU_STAT[cpu];
    [0, 1, 2].map(|i| row[i].load(Ordering::Relaxed))
}

/// `process`'s `[system, user]` nanoseconds so far (getrusage, times), with what nohz_full
/// CPUs running its tasks have not folded yet (`nohz::vtime::process_cpu_ns`).
pub fn process_cpu_ns(process: &crate::process::Process) -> [u64; 2] {
    #[cfg(feature = "test-hooks")]
    crate::time::test_rate_step_read();
    crate::nohz::vtime::process_cpu_ns(process)
}

/// From the tick (IRQs off): one period to the running task's process and to this CPU.
#[inline(always)]
pub fn account_tick(cpu: usize, cur: &Task, user_mode: bool) {
    cur.process.cputime.ns[user_mode as usize].fetch_add(TICK_NS, Ordering::Relaxed);
    let bucket = if user_mode {
        CpuBucket::User
    } else {
        kernel_bucket(cpu, cur)
    };
    add_cpu_time(cpu, bucket, TICK_NS);
}

//! CPU-time accounting on nohz_full CPUs from context-tracking transitions (Linux's
//! `VIRT_CPU_ACCOUNTING_GEN`): with the tick stopped nothing samples the running task, so
//! each transition charges the monotonic clock's time since the previous one — user time at
//! the entry from user mode, kernel time at the return to user mode and at a task switch.
//! Housekeeping CPUs sample from their tick instead (`sched::cputime::account_tick`).
//!
//! All of it runs on the CPU itself with interrupts off, so the per-CPU stamp has a single
//! writer.

use crate::percpu::MAX_CPUS;
use crate::sched::cputime::{CpuBucket, add_cpu_time, kernel_bucket};
use crate::task::Task;
use core::sync::atomic::{AtomicU64, Ordering};

/// Per CPU: the monotonic time of its last transition (0: none yet).
static STAMP: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Nanoseconds since `cpu`'s last transition, and a new stamp. The first call charges
/// nothing (there is no earlier stamp to measure from).
fn elapsed(cpu: usize) -> u64 {
    let now = crate::time::monotonic_ns();
    let last = STAMP[cpu].swap(now, Ordering::Relaxed);
    if last == 0 {
        0
    } else {
        now.saturating_sub(last)
    }
}

/// Entry from user mode: the user time since the return to user mode.
pub fn user_exit(cpu: usize) {
    let ns = elapsed(cpu);
    crate::task::current().process.cputime.add_user(ns);
    add_cpu_time(cpu, CpuBucket::User, ns);
}

/// Return to user mode: the kernel time since the entry (or the switch in).
pub fn user_enter(cpu: usize) {
    let ns = elapsed(cpu);
    crate::task::current().process.cputime.add_system(ns);
    add_cpu_time(cpu, CpuBucket::System, ns);
}

/// A switch away from `prev`: its kernel time since its last transition, the CPU's idle
/// time if `prev` is the idle task. (The idle task's time also goes to the kernel process,
/// which nobody reads.)
pub fn switch_out(cpu: usize, prev: &Task) {
    let ns = elapsed(cpu);
    prev.process.cputime.add_system(ns);
    add_cpu_time(cpu, kernel_bucket(cpu, prev), ns);
}

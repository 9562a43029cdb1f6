//! A task's scheduler state, and exit work raised on a task from another CPU.
//!
//! The running task's exit-work flags live in its CPU's per-CPU word, and kentry moves them
//! into the task's `TaskEntry` when it switches away, so no CPU but the one switching a task
//! may write either. Another CPU (a signal, exit_group) ORs bits into `remote_work` instead
//! and then kicks the CPU the task runs on: that CPU moves the bits into its own word in the
//! reschedule IPI's handler, and every switch-in moves them first. The kicker reads `on_cpu`
//! after its OR and the switcher sets `on_cpu` before its read (both SeqCst), so at least one
//! of them sees the other: a bit is never left behind.

use crate::percpu::this_cpu;
use crate::task::Task;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

pub struct TaskSched {
    /// CPUs the task may run on (bit n: CPU n), sched_setaffinity's mask.
    pub allowed: AtomicU64,
    /// The CPU that runs it, or whose queue holds it, or where it ran last.
    pub cpu: AtomicU32,
    /// A run queue holds it, or a CPU runs it and has not taken it off in `schedule`
    /// (Linux's `on_rq`). Changed under `pi_lock`, or by the scheduler owning the queue.
    pub on_rq: AtomicBool,
    /// A CPU still runs on its stack (set at switch-in, cleared by the next task on that
    /// CPU once the switch is complete). Nobody switches to it while this is set.
    pub on_cpu: AtomicBool,
    /// Exit work raised by other CPUs, not yet moved into the task's own word.
    pub remote_work: AtomicU64,
    /// Its preempt count while it is off-CPU (preempt.rs): saved and reloaded by the switch.
    pub preempt_count: AtomicU32,
    /// Serialises a wake-up with the task taking itself off its run queue.
    pub pi_lock: crate::sync::Mutex<()>,
    /// Switches away from it while it was blocked (voluntary) and while it could still run
    /// (involuntary: preempted): getrusage's ru_nvcsw and ru_nivcsw.
    pub nvcsw: AtomicU64,
    pub nivcsw: AtomicU64,
    /// Set while the task sleeps where only a fatal signal (or nothing) ends the wait —
    /// Linux's TASK_UNINTERRUPTIBLE and TASK_KILLABLE, 'D' in /proc/PID/stat — rather than
    /// any signal ('S'). Only the task itself writes it ([`UninterruptibleSleep`]).
    pub uninterruptible: AtomicBool,
}

impl TaskSched {
    pub const fn new() -> Self {
        TaskSched {
            allowed: AtomicU64::new(u64::MAX),
            cpu: AtomicU32::new(0),
            on_rq: AtomicBool::new(true),
            on_cpu: AtomicBool::new(false),
            remote_work: AtomicU64::new(0),
            preempt_count: AtomicU32::new(crate::preempt::KERNEL_DEFAULT),
            pi_lock: crate::sync::Mutex::new(()),
            nvcsw: AtomicU64::new(0),
            nivcsw: AtomicU64::new(0),
            uninterruptible: AtomicBool::new(false),
        }
    }
}

impl Default for TaskSched {
    fn default() -> Self {
        Self::new()
    }
}

/// Marks the running task's sleeps as uninterruptible (or killable) while it lives: what
/// /proc shows as 'D'. The scheduler does not look at it; the wait's own `interrupted` test
/// decides what ends the sleep.
pub struct UninterruptibleSleep(());

impl UninterruptibleSleep {
    pub fn begin() -> Self {
        crate::task::current()
            .sched
            .uninterruptible
            .store(true, Ordering::Relaxed);
        UninterruptibleSleep(())
    }
}

impl Drop for UninterruptibleSleep {
    fn drop(&mut self) {
        crate::task::current()
            .sched
            .uninterruptible
            .store(false, Ordering::Relaxed);
    }
}

/// Raises exit work `bits` on `t`, wherever it is: the per-CPU word if it runs here, else
/// `remote_work` and a reschedule IPI to the CPU that runs it (module comment).
pub fn raise_work_on(t: &Task, bits: u64) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if core::ptr::eq(crate::percpu::current_task_ptr(), t) {
            this_cpu().entry.raise_work(bits);
            return;
        }
        t.sched.remote_work.fetch_or(bits, Ordering::SeqCst);
        if t.sched.on_cpu.load(Ordering::SeqCst) {
            let cpu = t.sched.cpu.load(Ordering::SeqCst) as usize;
            if cpu != crate::smp::this_cpu_id() {
                crate::smp::ipi::send_reschedule(cpu);
            }
        }
    })
}

/// Moves `t`'s remote work into its own word: the per-CPU one if it is this CPU's current
/// task, else its `TaskEntry` (it is being switched in here). IRQs off.
pub fn take_remote_work(t: &Task, running_here: bool) {
    let w = t.sched.remote_work.swap(0, Ordering::SeqCst);
    if w != 0 {
        if running_here {
            this_cpu().entry.raise_work(w);
        } else {
            t.entry.raise_work(w);
        }
    }
}

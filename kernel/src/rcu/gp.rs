//! Grace periods: how the RCU thread learns that every CPU has passed a quiescent state
//! since a grace period began.
//!
//! Grace period `n` starts when `GP_SEQ` becomes `n` and ends when `GP_DONE` does. For each
//! CPU online at the start, one of these proves a quiescent state (QS):
//! - **Context tracking, seen remotely** (no IPI, no tick): the CPU's RCU counter
//!   (`kentry::context_tracking`) was even in the snapshot taken at the start (it was in user
//!   mode or idle, an extended quiescent state), or it has changed since (it went through
//!   one, or left the NMI that made it watch). This is what lets a `nohz_full` CPU spin in
//!   ring 3 undisturbed. With context tracking off the counter stays odd and still, and this
//!   test never succeeds.
//! - **A report by the CPU itself** ([`report_qs`]): its timer tick interrupted user mode or
//!   the idle loop ([`note_tick`]), or it switched tasks ([`note_context_switch`]) — points
//!   where no read-side critical section can be open. Kernel code is preemptible inside
//!   preemptible regions (crate::preempt), so a switch may interrupt kernel code, but a
//!   reader holds the preempt count up (`read_lock` → `preempt::disable`): neither an
//!   interrupt's return nor `schedule()` switches away from a task inside a reader (the
//!   latter is checked twice: scheduling while atomic, and `note_context_switch`'s own
//!   check), so every switch is still a QS, preemption included. A tick that interrupts a
//!   region in kernel mode is not a QS (only user mode and idle are). This is what the lean
//!   kernel (context tracking off) relies on.
//! - The CPU running the grace period is in a QS at its start (it is not in a section).
//!
//! Ordering: the writer unpublishes, then queues its callback under a lock the RCU thread
//! takes before it bumps `GP_SEQ` (SeqCst, then a full fence) and reads the counters; a CPU
//! reporting loads `GP_SEQ` (acquire) and stores its report (release, after a full fence),
//! so its finished sections' loads come before the report and its later sections see the
//! unpublish. The counters are updated by locked instructions (full barriers).

use crate::percpu::{MAX_CPUS, cpu_area};
use crate::smp;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering, fence};

/// The last grace period started.
static GP_SEQ: AtomicU64 = AtomicU64::new(0);
/// The last grace period completed.
static GP_DONE: AtomicU64 = AtomicU64::new(0);
/// Per CPU: the latest grace period it reported a quiescent state for.
static QS_REPORTED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// How each CPU's quiescent states were found, over all grace periods (for tests and
/// reports): from its context-tracking counter, from its own report, or not at all (the
/// `rcu_qs` break).
pub struct QsStats {
    pub by_ct: [AtomicU64; MAX_CPUS],
    pub by_report: [AtomicU64; MAX_CPUS],
    pub assumed_broken: AtomicU64,
}

pub static QS_STATS: QsStats = QsStats {
    by_ct: [const { AtomicU64::new(0) }; MAX_CPUS],
    by_report: [const { AtomicU64::new(0) }; MAX_CPUS],
    assumed_broken: AtomicU64::new(0),
};

/// Test kernels, `kentry.break=rcu_qs`: grace-period detection treats a CPU in kernel mode
/// (counter odd and unchanged, no report) as quiescent — the negative run of `rcu_stress`,
/// whose checker must then see a freed object.
pub static BREAK_QS: AtomicBool = AtomicBool::new(false);

/// What the timer tick has to do for RCU, in one word so that a tick with nothing to do
/// costs one load: [`TICK_GP_RUNNING`] (report a QS from user mode or idle) and
/// [`TICK_WAKE_THREAD`] (a deferred wake-up of the RCU thread, callbacks.rs).
pub(super) static TICK_WORK: AtomicU8 = AtomicU8::new(0);
pub(super) const TICK_GP_RUNNING: u8 = 1;
pub(super) const TICK_WAKE_THREAD: u8 = 2;

/// Grace periods completed so far.
pub fn completed() -> u64 {
    GP_DONE.load(Ordering::Acquire)
}

/// Whether a grace period is waiting for CPUs.
#[inline(always)]
fn in_progress() -> bool {
    GP_SEQ.load(Ordering::Relaxed) != GP_DONE.load(Ordering::Relaxed)
}

/// Reports a quiescent state of this CPU for the grace period in progress, if it needs one.
/// Call only where no read-side critical section of this CPU is open.
#[inline]
pub fn report_qs() {
    if in_progress() {
        report_qs_slow();
    }
}

#[inline(never)]
fn report_qs_slow() {
    let cpu = smp::this_cpu_id();
    let g = GP_SEQ.load(Ordering::Acquire);
    if QS_REPORTED[cpu].load(Ordering::Relaxed) < g {
        fence(Ordering::SeqCst);
        QS_REPORTED[cpu].store(g, Ordering::Release);
    }
}

/// The timer tick (IRQs off): a tick that interrupted user mode, or the idle loop, found this
/// CPU outside any read-side section. Also delivers a deferred wake-up of the RCU thread.
/// One load and a branch when neither is due.
#[inline(always)]
pub fn note_tick(user_mode: bool) {
    let work = TICK_WORK.load(Ordering::Relaxed);
    if work != 0 {
        tick_work(work, user_mode);
    }
}

#[inline(never)]
fn tick_work(work: u8, user_mode: bool) {
    if work & TICK_GP_RUNNING != 0 && (user_mode || super::idle::in_idle_loop()) {
        report_qs_slow();
    }
    if work & TICK_WAKE_THREAD != 0 {
        super::callbacks::wake_deferred();
    }
}

/// A context switch (or an explicit quiescent point of a long kernel loop): checks that no
/// read-side section is open, which the switch would break, and reports the QS.
#[inline]
pub fn note_context_switch() {
    super::read::assert_no_read_section("schedule()");
    report_qs();
}

/// The RCU counter of `cpu` (odd while RCU watches it).
fn ct_counter(cpu: usize) -> u64 {
    cpu_area(cpu).entry.context_tracking.rcu_counter()
}

/// Whether grace period `n` still waits for a report from `cpu` that only `cpu` can give
/// (context tracking off: its counter never shows a QS).
pub fn needs_report_from(cpu: usize) -> bool {
    let g = GP_SEQ.load(Ordering::Acquire);
    g != GP_DONE.load(Ordering::Acquire)
        && QS_REPORTED[cpu].load(Ordering::Acquire) < g
        && !kentry::context_tracking::CONTEXT_TRACKING.is_enabled()
}

/// Runs one grace period from the calling thread (the RCU thread; never inside a read-side
/// section) and returns its number once every CPU online at its start passed a QS. Polls once
/// at once (CPUs seen in an EQS need nothing more), then once per tick, sleeping in between.
pub(super) fn run_grace_period() -> u64 {
    let n = GP_SEQ.fetch_add(1, Ordering::SeqCst) + 1;
    TICK_WORK.fetch_or(TICK_GP_RUNNING, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    // This thread's CPU is in a QS now.
    report_qs_slow();
    let mut snap = [0u64; MAX_CPUS];
    let mut waiting = smp::online_mask();
    for (cpu, s) in snap.iter_mut().enumerate() {
        if waiting & (1 << cpu) != 0 {
            *s = ct_counter(cpu);
        }
    }
    loop {
        for cpu in 0..MAX_CPUS {
            if waiting & (1 << cpu) == 0 {
                continue;
            }
            let found = if snap[cpu] & 1 == 0 || ct_counter(cpu) != snap[cpu] {
                &QS_STATS.by_ct[cpu]
            } else if QS_REPORTED[cpu].load(Ordering::Acquire) >= n {
                &QS_STATS.by_report[cpu]
            } else if BREAK_QS.load(Ordering::Relaxed) {
                &QS_STATS.assumed_broken
            } else {
                continue;
            };
            found.fetch_add(1, Ordering::Relaxed);
            waiting &= !(1 << cpu);
        }
        if waiting == 0 {
            break;
        }
        crate::sched::sleep_until(crate::sched::ticks() + 1);
    }
    fence(Ordering::SeqCst);
    GP_DONE.store(n, Ordering::Release);
    TICK_WORK.fetch_and(!TICK_GP_RUNNING, Ordering::SeqCst);
    n
}

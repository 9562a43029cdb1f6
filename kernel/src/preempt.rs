//! Kernel preemption: the preempt count (Linux's `preempt_count`) and the preemptible regions.
//!
//! The kernel was written for non-preemptible kernel code: per-CPU data through GS, spin locks
//! that a same-CPU waiter would spin on forever, RCU readers that a context switch would end.
//! So kernel code is **not preemptible by default**: a task's count is
//! [`KERNEL_DEFAULT`] (1) whenever it runs kernel code, and only explicit regions —
//! [`preemptible`]`(|| …)`, opened where long-running work holds no lock and no per-CPU
//! reference (the chunked user copies of read/write, syscall/io.rs) — drop it to 0. Inside a
//! region a task is preempted as Linux's `CONFIG_PREEMPT` preempts: at the return from an
//! interrupt (kentry's `irqentry_exit` asks [`irq_exit_preemptible`] and calls
//! [`preempt_schedule_irq`]), and when the count comes back to 0 with a reschedule pending
//! ([`enable`], e.g. a lock dropped inside the region, or the region's start). Preemption
//! points are regions, as in PREEMPT_VOLUNTARY-plus; full PREEMPT (count 0 by default, every
//! lock and per-CPU access covered) is the end state (docs/preemption.md).
//!
//! What raises the count above the default, so that nothing inside is preempted:
//! - every spin lock ([`crate::sync::Mutex`]) for as long as it is held (Linux's
//!   `spin_lock` → `preempt_disable`): a lock taken inside a region makes the task
//!   non-preemptible until it is dropped, so a same-CPU waiter never spins on a preempted
//!   holder;
//! - every RCU read-side section (`rcu_read_lock` → `preempt_disable`): a reader is never
//!   switched away from, which is what lets a context switch count as a quiescent state;
//! - a kernel-mode exception's handler (trap.rs): a page fault taken by a user copy inside a
//!   region runs non-preemptible, like the rest of the kernel.
//!
//! The count is per task: it lives in the per-CPU area (one GS-relative instruction to change,
//! so that an interrupt or a migration can never split the read-modify-write) and the switch
//! saves it into the task switched away from and loads the next task's (sched/mod.rs).
//!
//! Scheduling while atomic: `schedule()` with a count above the default (a lock held, an RCU
//! reader, an explicit [`disable`]) is a bug, and [`check_schedule`] stops the kernel on it.
//! Preemption enters `schedule()` with the count raised from 0 to 1, so a preemption of code
//! whose count was not 0 arrives there with 2 or more: the check catches an IRQ-exit test
//! that ignored the count (the negative run `negative_preempt_count`,
//! `kentry.break=preempt_count`).

use crate::percpu::PerCpu;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kentry::exit_work::ExitWork;
use x86_64::instructions::interrupts;

/// The count of a task running kernel code outside any region: not preemptible, but free to
/// block or yield (`schedule()` accepts counts up to this).
pub const KERNEL_DEFAULT: u32 = 1;

/// Test kernels, `kentry.break=preempt_count`: the IRQ-exit test ignores the count (preempts
/// any kernel code with interrupts on), which the scheduling-while-atomic check must catch.
pub static BREAK_COUNT: AtomicBool = AtomicBool::new(false);

/// Test kernels, `kentry.break=kernel_preempt`: kernel code is never preempted (as before
/// kernel preemption existed), which `kernel_preemption`'s tests must see.
pub static BREAK_PREEMPT: AtomicBool = AtomicBool::new(false);

/// Preemptions of kernel code so far: at an interrupt's return, and at [`enable`] (a region's
/// start, or a lock dropped inside one). For tests and /proc-style reports.
pub static PREEMPTIONS_IRQ: AtomicU64 = AtomicU64::new(0);
pub static PREEMPTIONS_ENABLE: AtomicU64 = AtomicU64::new(0);

/// This task's preempt count (one GS-relative load).
#[inline(always)]
pub fn count() -> u32 {
    let c: u32;
    // SAFETY: GS points at this CPU's PerCpu in kernel context; a plain aligned load.
    unsafe {
        core::arch::asm!(
            "mov {c:e}, dword ptr gs:[{off}]",
            off = const core::mem::offset_of!(PerCpu, preempt_count),
            c = out(reg) c,
            options(nostack, readonly, preserves_flags),
        );
    }
    c
}

/// Sets this CPU's count: the task switch loads the next task's (IRQs off).
#[inline(always)]
pub fn set_count(c: u32) {
    // SAFETY: GS points at this CPU's PerCpu; only this CPU writes its count.
    unsafe {
        core::arch::asm!(
            "mov dword ptr gs:[{off}], {c:e}",
            off = const core::mem::offset_of!(PerCpu, preempt_count),
            c = in(reg) c,
            options(nostack, preserves_flags),
        );
    }
}

/// `preempt_disable`: one more level. A single `add` on the GS-relative word: an interrupt
/// (or an NMI, which takes its locks with `try_lock`) sees the count before or after, and a
/// preemption cannot move the task between reading the per-CPU address and the write.
#[inline(always)]
pub fn disable() {
    // SAFETY: as in `count`; the asm is also a compiler barrier (no `nomem`), so the section's
    // accesses stay after it.
    unsafe {
        core::arch::asm!(
            "add dword ptr gs:[{off}], 1",
            off = const core::mem::offset_of!(PerCpu, preempt_count),
            options(nostack),
        );
    }
}

/// `preempt_enable`: one level less; at 0, with a reschedule pending and interrupts on, this
/// is a preemption point.
#[inline(always)]
pub fn enable() {
    // SAFETY: as in `disable`; the jump goes to the cold check only when the count hit 0.
    unsafe {
        core::arch::asm!(
            "sub dword ptr gs:[{off}], 1",
            "jz {zero}",
            off = const core::mem::offset_of!(PerCpu, preempt_count),
            zero = label { resched_check(); },
            options(nostack),
        );
    }
}

/// `preempt_enable_no_resched`: one level less, returning whether the count reached 0.
#[inline(always)]
fn enable_no_resched_is_zero() -> bool {
    let zero: u8;
    // SAFETY: as in `disable`.
    unsafe {
        core::arch::asm!(
            "sub dword ptr gs:[{off}], 1",
            "setz {z}",
            off = const core::mem::offset_of!(PerCpu, preempt_count),
            z = out(reg_byte) zero,
            options(nostack),
        );
    }
    zero != 0
}

/// The count reached 0: preempt now if a reschedule is pending and interrupts are on (with
/// them off — an interrupt handler, `without_interrupts` — the next interrupt's return or
/// the next enable does it).
#[cold]
#[inline(never)]
fn resched_check() {
    if need_resched() && interrupts::are_enabled() && !BREAK_PREEMPT.load(Ordering::Relaxed) {
        PREEMPTIONS_ENABLE.fetch_add(1, Ordering::Relaxed);
        preempt_schedule();
    }
}

/// Whether the running task has a reschedule pending (the tick's slice end, a wake-up or
/// affinity change by another CPU's IPI).
#[inline(always)]
pub fn need_resched() -> bool {
    kentry::entry_percpu::this_cpu_ops::task_work() & ExitWork::NEED_RESCHED.bits() != 0
}

/// Holds preemption off while it lives.
#[must_use]
pub struct PreemptGuard {
    _not_send: core::marker::PhantomData<*const ()>,
}

/// `preempt_disable` until the guard drops.
#[inline(always)]
pub fn guard() -> PreemptGuard {
    disable();
    PreemptGuard {
        _not_send: core::marker::PhantomData,
    }
}

impl Drop for PreemptGuard {
    #[inline(always)]
    fn drop(&mut self) {
        enable();
    }
}

/// Runs `f` preemptible: the count drops from [`KERNEL_DEFAULT`] to 0 for its duration, so
/// an interrupt's return (or a lock dropped inside) may switch to another task, and the task
/// may resume on another CPU. `f` must hold no lock across the region other than through
/// [`crate::sync::Mutex`] (which keeps the count up), keep no per-CPU reference (no
/// `this_cpu()` result, no CPU number it relies on), and not be inside an RCU reader (that one
/// keeps the count up too). Where the count is not the default — a lock or reader is held
/// around the call, or this is an interrupt handler with interrupts off — the region does
/// not open and `f` simply runs non-preemptible: the surrounding context wins.
#[inline]
pub fn preemptible<R>(f: impl FnOnce() -> R) -> R {
    if count() != KERNEL_DEFAULT || !interrupts::are_enabled() {
        return f();
    }
    // The region's start is itself a preemption point, like `cond_resched`.
    enable();
    let r = f();
    let left = count();
    if left != 0 {
        region_unbalanced(left);
    }
    disable();
    r
}

#[cold]
#[inline(never)]
fn region_unbalanced(c: u32) -> ! {
    panic!("preempt count {c} at the end of a preemptible region (a lock or guard leaked)");
}

/// `preempt_schedule`: the count came back to 0 with a reschedule pending and interrupts on.
/// Schedules with the count raised (a preemption, not a block: the task stays runnable
/// whatever state it set), again while another reschedule is pending.
#[inline(never)]
fn preempt_schedule() {
    loop {
        disable();
        this_task_work_clear_resched();
        crate::sched::schedule_preempted();
        // Back on this task, maybe on another CPU: the count is this task's again.
        let _ = enable_no_resched_is_zero();
        if !(need_resched() && interrupts::are_enabled()) {
            break;
        }
    }
}

fn this_task_work_clear_resched() {
    crate::percpu::this_cpu()
        .entry
        .clear_work(ExitWork::NEED_RESCHED.bits());
}

/// kentry's question at a kernel-mode interrupt return whose frame had interrupts on: may the
/// interrupted code be preempted? Only at count 0 (inside a region, no lock, no reader).
#[inline(always)]
pub fn irq_exit_preemptible() -> bool {
    count() == 0 || irq_exit_broken()
}

/// Test kernels: the negative runs' switches, read only when the count says no (so the
/// production path is the one compare above).
#[cold]
#[inline(never)]
fn irq_exit_broken() -> bool {
    cfg!(feature = "test-hooks") && BREAK_COUNT.load(Ordering::Relaxed)
}

/// Linux's `preempt_schedule_irq`: kentry calls it at a kernel-mode interrupt return when the
/// interrupted code was preemptible and a reschedule is pending, IRQs off, on the interrupted
/// task's stack (its frame stays there until the task runs again). Returns with IRQs off.
#[cold]
#[inline(never)]
pub fn preempt_schedule_irq() {
    if cfg!(feature = "test-hooks") && BREAK_PREEMPT.load(Ordering::Relaxed) {
        return;
    }
    PREEMPTIONS_IRQ.fetch_add(1, Ordering::Relaxed);
    loop {
        disable();
        this_task_work_clear_resched();
        crate::sched::schedule_preempted();
        let _ = enable_no_resched_is_zero();
        if !need_resched() {
            break;
        }
    }
}

/// Scheduling-while-atomic check, first thing in `schedule()`: a count above the default means
/// a spin lock, an RCU reader or an explicit `disable` is live on this task — switching away
/// would let another task spin on that lock forever, or end a reader early.
#[inline(always)]
pub fn check_schedule() {
    let c = count();
    if c > KERNEL_DEFAULT {
        scheduling_while_atomic(c);
    }
}

#[cold]
#[inline(never)]
fn scheduling_while_atomic(c: u32) -> ! {
    panic!(
        "BUG: scheduling while atomic: preempt count {c} (more than the kernel's default {KERNEL_DEFAULT})"
    );
}

/// Test kernels: the count at a syscall's end must be the default (checked in the syscall
/// dispatch; the bench kernel has no such check).
#[cfg(feature = "test-hooks")]
#[inline(always)]
pub fn check_syscall_exit(nr: u64) {
    let c = count();
    if c != KERNEL_DEFAULT {
        count_leaked(nr, c);
    }
}

#[cfg(feature = "test-hooks")]
#[cold]
#[inline(never)]
fn count_leaked(nr: u64, c: u32) -> ! {
    panic!(
        "BUG: syscall {nr} returns with preempt count {c} (want {KERNEL_DEFAULT}): a lock guard or preempt::disable leaked"
    );
}

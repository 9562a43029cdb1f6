//! `nohz_full=<cpulist>`: CPUs that stop their periodic tick while exactly one task runs
//! there in user mode (Linux's full dynticks, docs/nohz.md).
//!
//! The decision is made on every return to user mode of a nohz_full CPU, in the exit path
//! with interrupts off after the exit-work loop ([`user_enter`], kentry's
//! `Host::user_enter`): if [`tick_can_stop`] says so, the LAPIC timer is stopped (initial
//! count 0); otherwise a stopped tick restarts. The tick also restarts whenever the CPU
//! switches tasks ([`task_switch`]). What needs the tick arrives by an interrupt:
//! - a second task queued here: `sched::enqueue` sends the reschedule IPI, whose exit path
//!   runs the scheduler and then this decision again (two tasks: the tick restarts);
//! - timers: sleeps, timeouts and `ITIMER_REAL` all live on the housekeeping CPU's tick
//!   (CPU 0 wakes the sleeper, and the wake-up is an enqueue: the IPI above), so no timer is
//!   ever due on a nohz_full CPU itself ([`timers_need_tick`]);
//! - RCU: [`rcu_needs_tick`] (wired to the RCU module when it is merged).
//!
//! CPU 0 is always housekeeping: it keeps the global tick count (`sched::ticks()`, read by
//! every sleep and timeout), time calibration and the timer thread (Linux's
//! `tick_do_timer_cpu`); `nohz_full=` naming it is refused for that CPU with a log line.
//!
//! Costs: none in a kernel without `nohz_full=` and context tracking off (the hooks sit
//! inside kentry's context-tracking branch); with context tracking on but no nohz_full CPU,
//! one 5-byte NOP ([`NOHZ_FULL`]'s site) per hook. Context tracking is switched on when any
//! CPU is nohz_full (`text_poke::apply_context_tracking`).

pub mod vtime;

use crate::percpu::{MAX_CPUS, this_cpu};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kentry::static_key::StaticKey;

/// On when some CPU is nohz_full: the hooks below are one NOP each while it is off.
pub static NOHZ_FULL: StaticKey = StaticKey::new();
/// Bit n: CPU n is nohz_full. Written once at boot, before the other CPUs start.
static FULL_MASK: AtomicU64 = AtomicU64::new(0);
/// Per CPU: its LAPIC timer is stopped (read by the watchdog on other CPUs).
static TICK_STOPPED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Test kernels, `kentry.break=nohz`: never stop the tick (the negative run of the
/// `nohz_full_spin` test).
pub static BREAK_KEEP_TICK: AtomicBool = AtomicBool::new(false);

/// Reads `nohz_full=<cpulist>` (boot CPU, before the other CPUs start and before context
/// tracking is applied). CPU 0 and CPUs the machine does not have are left out, with a log
/// line each, as Linux does for the boot CPU.
pub fn init(cmdline: &str) {
    let Some(list) = crate::boot::cmdline_value(cmdline, "nohz_full") else {
        return;
    };
    let possible = crate::smp::possible_count();
    let mut mask = match kentry_kernel_logic::cpulist::parse_cpulist(list, MAX_CPUS) {
        Ok(m) => m,
        Err(bad) => {
            crate::klog!("nohz_full: ignoring nohz_full={list} (bad cpulist word {bad:?})");
            return;
        }
    };
    if mask & 1 != 0 {
        crate::klog!(
            "nohz_full: CPU 0 is the housekeeping CPU (global tick, timekeeping): it keeps its tick"
        );
        mask &= !1;
    }
    let exists = if possible >= 64 {
        u64::MAX
    } else {
        (1u64 << possible) - 1
    };
    if mask & !exists != 0 {
        crate::klog!(
            "nohz_full: ignoring CPUs {:#x} of nohz_full={list}: the machine has {possible}",
            mask & !exists
        );
        mask &= exists;
    }
    if mask == 0 {
        return;
    }
    FULL_MASK.store(mask, Ordering::Relaxed);
    for cpu in 0..MAX_CPUS {
        if mask & (1 << cpu) != 0 {
            vtime::mark_full(cpu);
        }
    }
    let sites = crate::text_poke::flip_key(&NOHZ_FULL, true);
    crate::klog!(
        "nohz_full: CPUs {mask:#x} stop their tick while one task runs in user mode ({sites} sites)"
    );
}

/// Whether any CPU is nohz_full (one NOP while none is).
#[inline(always)]
pub fn enabled() -> bool {
    kentry::static_branch!(NOHZ_FULL)
}

/// The nohz_full CPUs as a mask.
pub fn full_mask() -> u64 {
    FULL_MASK.load(Ordering::Relaxed)
}

/// Whether CPU `cpu` is nohz_full.
#[inline(always)]
pub fn is_full(cpu: usize) -> bool {
    FULL_MASK.load(Ordering::Relaxed) & (1 << cpu) != 0
}

/// Whether CPU `cpu`'s periodic tick is stopped now.
pub fn tick_stopped(cpu: usize) -> bool {
    TICK_STOPPED[cpu].load(Ordering::Acquire)
}

fn me() -> usize {
    crate::smp::this_cpu_id()
}

/// kentry's `Host::user_enter` (return to user mode, IRQs off): kernel time charged, then the
/// tick decision if something asked for one. kentry calls it only while its `USER_HOOKS` key
/// is on, which [`crate::text_poke::apply_context_tracking`] turns on exactly when some CPU is
/// nohz_full: the user transitions' one static site then jumps straight to the block with
/// this hook (no NOP for it while no CPU is nohz_full, not even with context tracking on).
/// On a CPU that is not nohz_full: a `cmp`, a jump and a load. Inline: the accounting is one
/// `asm!` block clobbering two registers, the decision a call, so kentry's exit path keeps
/// its register allocation (when the hooks were Rust functions, inlining them cost getpid 3–4
/// instructions).
#[inline(always)]
pub fn user_enter() {
    vtime::user_enter();
    // Set only on nohz_full CPUs.
    if this_cpu_tick_recheck() {
        tick_recheck();
    }
}

/// Whether something asked this CPU to decide about its tick again: one GS-relative load.
/// The decision is not taken at every return to user mode (a syscall changes nothing it
/// depends on but through [`request_tick_recheck`]); Linux likewise decides at interrupt exit
/// and when a tick dependency is set, not per syscall.
#[inline(always)]
fn this_cpu_tick_recheck() -> bool {
    let r: u32;
    // SAFETY: GS points at this CPU's PerCpu in kernel context; the load has no side effects.
    unsafe {
        core::arch::asm!(
            "mov {r:e}, dword ptr gs:[{off}]",
            off = const core::mem::offset_of!(crate::percpu::PerCpu, tick_recheck),
            r = out(reg) r,
            options(nostack, readonly, preserves_flags),
        );
    }
    r != 0
}

/// Asks nohz_full CPU `cpu` to decide about its tick at its next return to user mode. Called
/// by whatever changes an input of [`tick_can_stop`]: the run-queue load (`sched::set_load`),
/// a task switch, the CPU's start, and each tick that runs there (a backstop for any input
/// without a caller here: a running tick re-decides within a period). A change on another
/// CPU that must restart a stopped tick also sends this CPU an interrupt (the reschedule IPI
/// of an enqueue), whose return to user mode finds the request.
#[inline(always)]
pub fn request_tick_recheck(cpu: usize) {
    if enabled() && is_full(cpu) {
        crate::percpu::cpu_area(cpu)
            .tick_recheck
            .store(1, Ordering::Release);
    }
}

/// Takes this CPU's recheck request and decides (IRQs off). The request is cleared with a
/// locked exchange before the inputs are read: a request made after the exchange is seen by
/// the next return; one made before, by this decision (a plain store could be ordered after
/// the loads and wipe out a request whose input change the loads missed).
#[cold]
#[inline(never)]
fn tick_recheck() {
    if this_cpu().tick_recheck.swap(0, Ordering::SeqCst) != 0 {
        // Masked rather than bounds-checked: CPU numbers are below MAX_CPUS.
        tick_decide(me() % MAX_CPUS);
    }
}

/// The tick decision at a return to user mode of nohz_full CPU `cpu` (IRQs off): stop a
/// running tick or restart a stopped one, out of line.
#[inline(always)]
fn tick_decide(cpu: usize) {
    let stopped = TICK_STOPPED[cpu].load(Ordering::Relaxed);
    if tick_can_stop(cpu) {
        if !stopped {
            stop_tick(cpu);
        }
    } else if stopped {
        restart_tick(cpu);
    }
}

/// kentry's `Host::user_exit` (entry from user mode, IRQs off): the user time that just
/// ended is charged (inline, as [`user_enter`]; called only while some CPU is nohz_full).
#[inline(always)]
pub fn user_exit() {
    vtime::user_exit();
}

/// From `schedule` before a switch from `prev` to `next` (IRQs off): `prev`'s time is folded,
/// and a stopped tick restarts (the next task decides again at its return to user mode).
#[inline(always)]
pub fn task_switch(prev: &crate::task::Task, next: &crate::task::Task) {
    if enabled() && vtime::this_cpu_full() {
        task_switch_slow(prev, next);
    }
}

#[inline(never)]
fn task_switch_slow(prev: &crate::task::Task, next: &crate::task::Task) {
    let cpu = me();
    vtime::switch(cpu, prev, next);
    request_tick_recheck(cpu);
    if TICK_STOPPED[cpu].load(Ordering::Relaxed) {
        restart_tick(cpu);
    }
}

/// This CPU starts scheduling with `first` (sched::start, IRQs off): a nohz_full CPU takes
/// its first accounting stamp.
pub fn cpu_start(cpu: usize, first: &crate::task::Task) {
    if enabled() && is_full(cpu) {
        vtime::cpu_start(cpu, first);
        request_tick_recheck(cpu);
    }
}

/// Whether the tick on this CPU samples CPU time (not on nohz_full CPUs, which account by
/// their context-tracking transitions instead, `vtime`).
#[inline(always)]
pub fn tick_accounts(cpu: usize) -> bool {
    !enabled() || !is_full(cpu)
}

/// Every condition under which nohz_full CPU `cpu`, about to return to user mode with
/// interrupts off, may run without its periodic tick. All of them are here, in one place.
#[inline(always)]
pub fn tick_can_stop(cpu: usize) -> bool {
    if BREAK_KEEP_TICK.load(Ordering::Relaxed) {
        return false;
    }
    crate::sched::single_task_running(cpu) && !timers_need_tick(cpu) && !rcu_needs_tick(cpu)
}

/// Timers due on `cpu` itself: none ever. Every timer (sleeps, timeouts, `ITIMER_REAL`, time
/// calibration) is run from CPU 0's tick, which wakes the waiting task with an enqueue —
/// and an enqueue onto a nohz_full CPU sends it the reschedule IPI that brings it through
/// [`user_enter`] again. A per-CPU timer added later must be checked here.
fn timers_need_tick(_cpu: usize) -> bool {
    false
}

/// RCU needs this CPU's tick: callbacks queued here that the RCU thread has not taken yet,
/// or a grace period waiting for a report only this CPU's tick can give
/// ([`crate::rcu::cpu_needs_tick`]). A nohz_full CPU runs with context tracking on, so in
/// user mode its counter is even and RCU sees it quiescent with no tick and no IPI; only
/// callbacks it queued itself keep its tick, until its next return to user mode after
/// they are taken.
fn rcu_needs_tick(cpu: usize) -> bool {
    crate::rcu::cpu_needs_tick(cpu)
}

/// Stops this CPU's running tick (IRQs off).
#[inline(never)]
fn stop_tick(cpu: usize) {
    // Marked before the timer stops: a watchdog that reads "stopped" skips this CPU.
    TICK_STOPPED[cpu].store(true, Ordering::Release);
    crate::x86::apic::stop_timer();
    crate::percpu::EntryCounters::bump(&this_cpu().counters.tick_stops);
}

/// Restarts this CPU's stopped tick (IRQs off). The first tick comes one period later.
#[inline(never)]
fn restart_tick(cpu: usize) {
    crate::x86::apic::restart_timer(crate::TIMER_PERIOD);
    TICK_STOPPED[cpu].store(false, Ordering::Release);
    crate::percpu::EntryCounters::bump(&this_cpu().counters.tick_restarts);
}

//! The idle loop as an extended quiescent state.
//!
//! With context tracking on, the idle loop moves its CPU's word to `Idle` (counter even)
//! before it halts and back to `Kernel` after ([`idle_enter`], [`idle_exit`], interrupts
//! off): a grace period sees the idle CPU quiescent from afar, without waking it. An
//! interrupt that arrives in idle makes RCU watch for its duration (kentry's `irqentry_enter`
//! finds `EntryContext::FromIdle`), so readers in interrupt handlers are safe; an NMI does
//! the same through `nmi_enter`. With context tracking off, the word stays "kernel" and the
//! tick reports the QS instead ([`in_idle_loop`], read by `gp::note_tick`).
//!
//! Key flips: a flip parks every other CPU in an interrupt handler, which (key on) has
//! already left idle; the handler's exit re-enters idle only if the key is still on, so the
//! idle loop leaves idle only if its word still says so.

use crate::percpu::MAX_CPUS;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kentry::context_tracking::{CONTEXT_TRACKING, CtState};

/// Per CPU: between [`idle_enter`] and [`idle_exit`] (the halt of the idle loop).
static IN_IDLE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Per CPU: RCU counter moves made while in the idle EQS (its own entry and exit, and every
/// interrupt or NMI that watched meanwhile), for `context_tracking_balanced`.
static IDLE_COUNTER_MOVES: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per CPU: the counter right after the idle EQS was entered (0: not entered).
static ENTERED_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Whether this CPU's interrupted context is the idle loop's halt (for the tick, IRQs off).
#[inline(always)]
pub fn in_idle_loop() -> bool {
    IN_IDLE[crate::smp::this_cpu_id()].load(Ordering::Relaxed)
}

/// Counter moves that idle periods made on `cpu` so far.
pub fn idle_counter_moves(cpu: usize) -> u64 {
    IDLE_COUNTER_MOVES[cpu].load(Ordering::Relaxed)
}

/// Before the idle loop halts (interrupts off): into the idle EQS if context tracking is on.
pub fn idle_enter() {
    let cpu = crate::smp::this_cpu_id();
    IN_IDLE[cpu].store(true, Ordering::Relaxed);
    if !CONTEXT_TRACKING.is_enabled() {
        return;
    }
    let ct = &crate::percpu::this_cpu().entry.context_tracking;
    if let Err(word) = ct.enter_idle() {
        panic!("context tracking: idle entered from word {word:#x} (not kernel)");
    }
    ENTERED_AT[cpu].store(ct.rcu_counter(), Ordering::Relaxed);
}

/// After the halt (interrupts off): out of the idle EQS if this CPU is still in it.
pub fn idle_exit() {
    let cpu = crate::smp::this_cpu_id();
    let ct = &crate::percpu::this_cpu().entry.context_tracking;
    let entered_at = ENTERED_AT[cpu].swap(0, Ordering::Relaxed);
    if entered_at != 0 {
        // Moves by interrupts and NMIs in idle, plus the entry and (if still idle) the exit.
        let still_idle = ct.state() == CtState::Idle as u64;
        let moves = ct.rcu_counter() - entered_at + 1 + u64::from(still_idle);
        IDLE_COUNTER_MOVES[cpu].fetch_add(moves, Ordering::Relaxed);
        if still_idle && let Err(word) = ct.exit_idle() {
            panic!("context tracking: idle left from word {word:#x}");
        }
    }
    IN_IDLE[cpu].store(false, Ordering::Relaxed);
}

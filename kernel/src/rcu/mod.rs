//! RCU (read-copy-update) driven by context tracking (docs/rcu.md).
//!
//! Readers take [`read_lock`] and follow pointers ([`RcuBox::get`]) without writing anything
//! shared and without blocking; writers publish a new version under their own lock and free
//! the old one after a grace period ([`call_rcu`], [`free_after_gp`], [`synchronize_rcu`]).
//! The real readers: pid and tid lookups (`process::find`, `process::find_thread`) and the
//! descriptor lookup of every fd-taking syscall (`fs::get_file`).
//!
//! Quiescent states (gp.rs): a CPU in user mode or idle is in an extended quiescent state
//! that context tracking shows in its RCU counter, seen from another CPU with no IPI and no
//! tick; with context tracking off (the lean kernel) each CPU reports its own from the tick
//! that interrupts user mode or idle, and from context switches. NMI-like entries from an
//! EQS make RCU watch (kentry's `nmi_enter`), and [`assert_watching_in_nmi`] checks it;
//! interrupts in idle do too (idle.rs).
//!
//! Files: `read.rs` (read side, `RcuBox`), `gp.rs` (grace periods, quiescent states),
//! `callbacks.rs` (`call_rcu`, `synchronize_rcu`, the RCU thread), `idle.rs` (the idle EQS),
//! `idmap.rs` (an id → object map read under RCU).

mod callbacks;
mod gp;
mod idle;
mod idmap;
mod read;

pub use callbacks::{INVOKED, call_rcu, queued_on, rcu_barrier, synchronize_rcu};
#[cfg(feature = "test-hooks")]
pub use gp::BREAK_QS;
pub use gp::{QS_STATS, completed, note_context_switch, note_tick};
pub use idle::{idle_counter_moves, idle_enter, idle_exit};
pub use idmap::RcuIdMap;
pub use read::{RcuBox, read_lock};

/// Starts the RCU thread. Callbacks queued earlier (boot-time publications) wait for it.
pub fn init() {
    callbacks::start_thread();
}

/// For the `nohz_full` work: whether `cpu` still needs its timer tick for RCU's sake: while
/// the grace period in progress waits for a quiescent state of `cpu` that only its own tick
/// or context switch can report (context tracking off: its counter never shows one). With
/// context tracking on, a CPU in user mode or idle is seen quiescent remotely and needs no
/// tick; one in kernel mode reports at its next context switch, which its tick would not
/// speed up.
///
/// Callbacks queued on `cpu` do not hold its tick: they are offloaded, as with Linux's
/// `rcu_nocbs`. The RCU thread runs on CPU 0 and takes every CPU's list; it is woken by the
/// next tick of any CPU after a `call_rcu` (`gp::TICK_WAKE_THREAD`), and CPU 0 always ticks
/// (at once only for `synchronize_rcu` and a list past `callbacks::HIGH_WATER`). (Holding the tick for them cost the
/// nohz_full CPU a few ticks after each syscall that freed an fd snapshot.)
pub fn cpu_needs_tick(cpu: usize) -> bool {
    gp::needs_report_from(cpu)
}

/// Inside an NMI-like handler (NMI, #MC, #DB, #DF): RCU must watch this CPU, whatever the
/// handler interrupted (kentry's `nmi_enter` makes it). One load and a bit test.
#[inline(always)]
pub fn assert_watching_in_nmi(regs: &kentry::Regs, vector: u8) {
    if !crate::percpu::this_cpu()
        .entry
        .context_tracking
        .rcu_watching()
    {
        not_watching_in_nmi(regs, vector);
    }
}

#[cold]
#[inline(never)]
fn not_watching_in_nmi(regs: &kentry::Regs, vector: u8) -> ! {
    use core::fmt::Write;
    let ct = &crate::percpu::this_cpu().entry.context_tracking;
    let mut w = crate::log::ForcedWriter::new();
    let _ = writeln!(
        w,
        "[kentry] RCU not watching in NMI-like handler {}: state {}, nmi nesting {}, counter {}",
        kentry::vectors::name(vector),
        ct.state(),
        ct.nmi_nesting(),
        ct.rcu_counter()
    );
    crate::trap::kernel_fault_report(
        "RCU NOT WATCHING",
        regs,
        kentry::irqentry::Fault {
            vector,
            error_code: 0,
            cr2: 0,
        },
    );
    crate::power::power_off_forced(crate::power::ExitCode::Panic)
}

/// For the bench: one grace period timed from `synchronize_rcu`'s call to its return, in
/// nanoseconds, with whatever the other CPUs run (e.g. one spinning in ring 3). Returns
/// `(ns, QS found from context tracking, QS found from reports)` summed over CPUs during it.
pub fn time_one_grace_period() -> (u64, u64, u64) {
    let sum = |a: &[core::sync::atomic::AtomicU64]| -> u64 {
        a.iter()
            .map(|x| x.load(core::sync::atomic::Ordering::Relaxed))
            .sum()
    };
    let (ct0, rep0) = (sum(&QS_STATS.by_ct), sum(&QS_STATS.by_report));
    let t0 = crate::time::monotonic_ns();
    synchronize_rcu();
    let ns = crate::time::monotonic_ns() - t0;
    (
        ns,
        sum(&QS_STATS.by_ct) - ct0,
        sum(&QS_STATS.by_report) - rep0,
    )
}

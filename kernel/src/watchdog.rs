//! Hard-lockup detector (`kentry.watchdog=N`: N seconds; off by default).
//!
//! Each online CPU watches the next online CPU (in CPU-number order, wrapping): from its own
//! timer tick it reads the watched CPU's tick counter (`timer_ticks`, which the tick bumps
//! anyway, so the watched side pays nothing more). When that counter has not moved for N
//! seconds of the watcher's own ticks, the watched CPU is stuck with interrupts off: the
//! watcher marks it and sends it an NMI, whose handler prints a symbolized register dump and
//! backtrace of where it was spinning and stops the machine (a hard lockup is fatal here, as
//! with Linux's `hardlockup_panic=1`).
//!
//! A nohz_full CPU whose tick is stopped on purpose (`nohz::tick_stopped`) is skipped, and
//! while stopped it watches nobody: like Linux, which keeps nohz_full CPUs out of the
//! watchdog's cpumask, a lockup there (interrupts off with the tick stopped) goes unseen.
//!
//! Off, the tick pays one compare with memory and a branch ([`tick`]). On, the watcher's work is a few
//! loads and stores to its own slot in [`WATCH`]: no lock anywhere, so a wedged CPU holding any
//! lock cannot stop the detector, and the NMI side takes none either ([`nmi`]).

use crate::percpu::{MAX_CPUS, cpu_area};
use crate::smp;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether the detector is on. Written once by [`init`] on the boot CPU with interrupts off,
/// before any other CPU starts; read-only after that, so the tick reads it as plain memory (one
/// `cmp byte [rip+…], 0` and a branch; an atomic load costs LLVM a separate load).
struct OnceFlag(core::cell::UnsafeCell<bool>);
// SAFETY: written only before other CPUs exist and with this CPU's interrupts off (`init`);
// every later access is a read.
unsafe impl Sync for OnceFlag {}
static ENABLED: OnceFlag = OnceFlag(core::cell::UnsafeCell::new(false));
/// The lockup threshold in timer ticks (1 ms).
static THRESHOLD_TICKS: AtomicU64 = AtomicU64::new(u64::MAX);

/// One watcher CPU's view of the CPU it watches. Written only by the watcher's own tick.
struct Watch {
    /// The watched CPU's tick count when last read.
    seen: AtomicU64,
    /// The watcher's tick count when `seen` last changed.
    since: AtomicU64,
}

static WATCH: [Watch; MAX_CPUS] = [const {
    Watch {
        seen: AtomicU64::new(u64::MAX),
        since: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Per CPU: a watcher found it locked up and sent it the NMI (the NMI handler's sign that the
/// NMI is the watchdog's, not a test's or the host's).
static LOCKUP_NMI: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Per CPU: which watcher sent it.
static REPORTED_BY: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Reads `kentry.watchdog=N` (seconds, N ≥ 1) from the command line.
pub fn init(cmdline: &str) {
    let Some(v) = crate::boot::cmdline_value(cmdline, "kentry.watchdog") else {
        return;
    };
    match v.parse::<u64>() {
        Ok(secs) if secs > 0 => {
            THRESHOLD_TICKS.store(secs * 1000, Ordering::Relaxed);
            x86_64::instructions::interrupts::without_interrupts(|| {
                // SAFETY: see `OnceFlag`: the boot CPU, interrupts off, no other CPU started
                // yet (`init` runs before `smp::start_aps`), so nothing reads it meanwhile.
                unsafe { *ENABLED.0.get() = true }
            });
            crate::klog!("watchdog: hard-lockup detector on, threshold {secs} s");
        }
        _ => crate::klog!("watchdog: ignoring kentry.watchdog={v} (want whole seconds > 0)"),
    }
}

pub fn enabled() -> bool {
    // SAFETY: read-only after `init` (see `OnceFlag`).
    unsafe { *ENABLED.0.get() }
}

/// From every timer tick (interrupts off), with this CPU's tick count.
#[inline(always)]
pub fn tick(now: u64) {
    if enabled() {
        check(now);
    }
}

/// The CPU `me` watches: the next online CPU after it, wrapping; `None` alone.
fn watched_by(me: usize) -> Option<usize> {
    let online = smp::online_mask() & !(1u64 << me);
    if online == 0 {
        return None;
    }
    let above = online & !((2u64 << me).wrapping_sub(1));
    Some(if above != 0 { above } else { online }.trailing_zeros() as usize)
}

#[inline(never)]
fn check(now: u64) {
    let me = smp::this_cpu_id();
    let Some(target) = watched_by(me) else { return };
    let w = &WATCH[me];
    if crate::nohz::tick_stopped(target) {
        // A nohz_full CPU with its tick stopped on purpose: not a lockup. Its count starts
        // moving again one period after the restart; the wait counts from now.
        w.seen.store(u64::MAX, Ordering::Relaxed);
        w.since.store(now, Ordering::Relaxed);
        return;
    }
    let ticks = cpu_area(target)
        .counters
        .timer_ticks
        .load(Ordering::Relaxed);
    if ticks != w.seen.load(Ordering::Relaxed) {
        w.seen.store(ticks, Ordering::Relaxed);
        w.since.store(now, Ordering::Relaxed);
        return;
    }
    let stalled = now.saturating_sub(w.since.load(Ordering::Relaxed));
    if stalled >= THRESHOLD_TICKS.load(Ordering::Relaxed)
        && !LOCKUP_NMI[target].swap(true, Ordering::AcqRel)
    {
        REPORTED_BY[target].store(me as u64, Ordering::Relaxed);
        smp::ipi::send_nmi(target);
    }
}

/// From the NMI handler: if a watcher found this CPU locked up, prints where it is (registers,
/// symbolized backtrace) and stops the machine; otherwise returns.
///
/// Takes no lock that it could wait on: the serial port through `ForcedWriter` (which breaks
/// the console lock, as the panic path does), the stack registry and the unwinder with
/// `try_lock`, the symbol table lock-free. Breaking the console lock is acceptable here because
/// nothing runs after this report: the locked-up CPU may itself hold that lock (it is stuck with
/// interrupts off, perhaps inside a print) and would never release it, and another CPU printing
/// at the same moment only gets its bytes interleaved with a report that ends the machine.
pub fn nmi(regs: &kentry::Regs) {
    let me = smp::this_cpu_id();
    if !LOCKUP_NMI[me].load(Ordering::Acquire) {
        return;
    }
    let secs = THRESHOLD_TICKS.load(Ordering::Relaxed) / 1000;
    let by = REPORTED_BY[me].load(Ordering::Relaxed);
    let _ = writeln!(
        crate::log::ForcedWriter::new(),
        "[kentry] NMI watchdog: hard LOCKUP on cpu {me}: no timer tick for {secs} s (seen by cpu {by})"
    );
    crate::trap::kernel_fault_report(
        "HARD LOCKUP",
        regs,
        kentry::irqentry::Fault {
            vector: kentry::vectors::NMI,
            error_code: 0,
            cr2: 0,
        },
    );
    crate::power::power_off_forced(crate::power::ExitCode::Panic)
}

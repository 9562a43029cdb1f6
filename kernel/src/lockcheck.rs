//! Test kernels: the lock-context checks (a small lockdep). They prove, while the test suite
//! runs, the two rules every spin lock ([`crate::sync::Mutex`]) must follow:
//!
//! - **No lock in an NMI-like handler** (NMI, #MC, #DB, #DF): such a handler can interrupt
//!   any code, including the holder of the lock it wants, with no way to wait for it — the
//!   CPU would spin on itself. A blocking `lock()` there is a bug; `try_lock()` cannot
//!   deadlock and is allowed (the fault path uses it and gives up).
//! - **A lock taken in hardirq context is never taken with interrupts on**: if code on a CPU
//!   held it with interrupts on, an interrupt on that CPU wanting it would spin forever on
//!   its own CPU's holder (lockdep's `{IN-HARDIRQ-W} -> {HARDIRQ-ON-W}` inversion). Each lock
//!   remembers where it was first taken in hardirq context and where it was first taken with
//!   interrupts on; the acquisition that completes the pair is reported with both places.
//!
//! A violation stops the kernel with a `BUG: lock check:` report, unless a self-test has
//! switched the checks to recording (`lockcheck_*` self-tests). `kentry.break=lockcheck`
//! turns them off (the negative run: the self-tests must then fail). The lean kernel has none
//! of this: the checks cost a few loads and a branch per lock.
//!
//! A third check finds what the first two cannot, a lock never released (an AB-BA pair, a
//! holder that sleeps): **a spin that lasts [`LOCKUP_SECS`] is reported** (Linux's
//! "spinlock lockup suspected") with the place the lock was last taken and the place it is
//! wanted; the panic adds the spinner's backtrace as far as its unwinder gets. Without it
//! such a hang spins with interrupts on and preemption off, so neither the hard-lockup
//! watchdog nor the hang report (a thread) speaks.
//!
//! Hardirq context is counted per CPU by trap.rs around the interrupt handlers
//! ([`HardirqScope`]); the NMI nesting is kentry's context-tracking word.

use core::panic::Location;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// `kentry.break=lockcheck`: no check runs.
pub static BREAK: AtomicBool = AtomicBool::new(false);
/// A fatal report is under way ([`fatal_report`]): no check runs any more.
static FATAL: AtomicBool = AtomicBool::new(false);
/// Self-tests: record violations in [`RECORDED`] instead of stopping the kernel.
pub static RECORD_ONLY: AtomicBool = AtomicBool::new(false);
/// Violations recorded while [`RECORD_ONLY`] was set.
pub static RECORDED: AtomicU64 = AtomicU64::new(0);

/// A spin on one lock this long is a lockup (far beyond any hold in the kernel, and below
/// xtask's 120 s test-boot timeout).
pub const LOCKUP_SECS: u64 = 30;
/// The threshold in force, in seconds (the `spinlock_lockup` self-test shortens it).
static LOCKUP_AFTER_SECS: AtomicU64 = AtomicU64::new(LOCKUP_SECS);

/// Sets the lockup threshold (the `spinlock_lockup` self-test).
pub fn set_lockup_secs(secs: u64) {
    LOCKUP_AFTER_SECS.store(secs, Ordering::Relaxed);
}

/// One lock's usage so far: where it was first taken in hardirq context, and where first
/// with interrupts on (null: not yet); and where it was last taken (for a lockup report).
pub struct LockUsage {
    in_hardirq: AtomicPtr<Location<'static>>,
    irqs_on: AtomicPtr<Location<'static>>,
    last_taken: AtomicPtr<Location<'static>>,
}

impl LockUsage {
    pub const fn new() -> Self {
        LockUsage {
            in_hardirq: AtomicPtr::new(core::ptr::null_mut()),
            irqs_on: AtomicPtr::new(core::ptr::null_mut()),
            last_taken: AtomicPtr::new(core::ptr::null_mut()),
        }
    }
}

/// Spins for `inner` like `spin::Mutex::lock`, but reports a spin of [`LOCKUP_SECS`] (module
/// comment) and records where the lock was taken.
pub fn lock_watched<'a, T: ?Sized>(
    u: &LockUsage,
    inner: &'a spin::Mutex<T>,
    at: &'static Location<'static>,
) -> spin::MutexGuard<'a, T> {
    let g = match inner.try_lock() {
        Some(g) => g,
        None => spin_watched(u, inner, at),
    };
    u.last_taken.store(
        at as *const Location<'static> as *mut Location<'static>,
        Ordering::Relaxed,
    );
    g
}

#[cold]
#[inline(never)]
fn spin_watched<'a, T: ?Sized>(
    u: &LockUsage,
    inner: &'a spin::Mutex<T>,
    at: &'static Location<'static>,
) -> spin::MutexGuard<'a, T> {
    // SAFETY: rdtsc has no side effects.
    let tsc = || unsafe { core::arch::x86_64::_rdtsc() };
    let start = tsc();
    let mut spins = 0u32;
    loop {
        if !inner.is_locked()
            && let Some(g) = inner.try_lock()
        {
            return g;
        }
        core::hint::spin_loop();
        spins = spins.wrapping_add(1);
        // The clock only now and then (a TSC read costs ~25 instructions under TCG), and only
        // once it runs: starting it takes locks of its own.
        if spins.is_multiple_of(4096)
            && !BREAK.load(Ordering::Relaxed)
            && !FATAL.load(Ordering::Relaxed)
            && crate::time::clock_started()
            && crate::time::tsc_to_ns(tsc()).saturating_sub(crate::time::tsc_to_ns(start))
                >= LOCKUP_AFTER_SECS.load(Ordering::Relaxed) * crate::time::NSEC_PER_SEC
        {
            let holder = u.last_taken.load(Ordering::Relaxed);
            // SAFETY: only `&'static Location`s are stored there.
            let holder = (!holder.is_null()).then(|| unsafe { &*holder });
            panic!(
                "BUG: spinlock lockup suspected: lock {:p} wanted at {at} for {} s; \
                 last taken at {}",
                inner as *const spin::Mutex<T> as *const (),
                LOCKUP_AFTER_SECS.load(Ordering::Relaxed),
                holder.map_or(
                    alloc::string::String::from("(unknown)"),
                    |l| alloc::format!("{l}")
                )
            );
        }
    }
}

impl Default for LockUsage {
    fn default() -> Self {
        Self::new()
    }
}

/// Marks the running interrupt handler as hardirq context for as long as it lives: one
/// GS-relative `inc` and `dec` of this CPU's `hardirq_depth` (the bench timer's 10 µs
/// interrupts leave no room for more under TCG).
pub struct HardirqScope(());

impl HardirqScope {
    #[inline(always)]
    pub fn enter() -> Self {
        // SAFETY: GS points at this CPU's PerCpu in kernel context; one instruction, so an
        // interrupt cannot split it.
        unsafe {
            core::arch::asm!(
                "inc dword ptr gs:[{off}]",
                off = const core::mem::offset_of!(crate::percpu::PerCpu, hardirq_depth),
                options(nostack),
            );
        }
        HardirqScope(())
    }
}

impl Drop for HardirqScope {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: as in `enter`.
        unsafe {
            core::arch::asm!(
                "dec dword ptr gs:[{off}]",
                off = const core::mem::offset_of!(crate::percpu::PerCpu, hardirq_depth),
                options(nostack),
            );
        }
    }
}

/// A blocking acquisition of the lock whose usage is `u` at `at`.
#[inline(always)]
pub fn on_lock(u: &LockUsage, lock: *const (), at: &'static Location<'static>) {
    if BREAK.load(Ordering::Relaxed) || FATAL.load(Ordering::Relaxed) {
        return;
    }
    let Some(cpu) = this_cpu_once_set_up() else {
        return;
    };
    if cpu.entry.context_tracking.nmi_nesting() != 0 {
        violation(format_args!(
            "spin lock {lock:p} taken in an NMI-like handler at {at} (it may interrupt the holder)"
        ));
        return;
    }
    let me = at as *const Location<'static> as *mut Location<'static>;
    let in_irq = cpu.hardirq_depth.load(Ordering::Relaxed) != 0;
    if in_irq {
        let _ = u.in_hardirq.compare_exchange(
            core::ptr::null_mut(),
            me,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    if x86_64::instructions::interrupts::are_enabled() {
        let _ = u.irqs_on.compare_exchange(
            core::ptr::null_mut(),
            me,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    let (irq, on) = (
        u.in_hardirq.load(Ordering::Relaxed),
        u.irqs_on.load(Ordering::Relaxed),
    );
    if !irq.is_null() && !on.is_null() && (core::ptr::eq(irq, me) || core::ptr::eq(on, me)) {
        // SAFETY: both pointers were stored from `&'static Location`s.
        let (irq, on) = unsafe { (&*irq, &*on) };
        violation(format_args!(
            "spin lock {lock:p} is taken in hardirq context (first at {irq}) and with \
             interrupts on (first at {on}): an interrupt on the holder's CPU would spin on it"
        ));
    }
}

/// The kernel is reporting a fatal error on its way to powering off (serial.rs
/// `force_write_bytes`, the first step of every such report): the report breaks locks and
/// may take them in any context, so the checks stop for good.
pub fn fatal_report() {
    FATAL.store(true, Ordering::Relaxed);
}

/// This CPU's area once kentry's `init_cpu` has set its self pointer; `None` before (the boot
/// CPU's first log lines, an AP's start-up: one CPU, no interrupts, nothing to check).
#[inline(always)]
fn this_cpu_once_set_up() -> Option<&'static crate::percpu::PerCpu> {
    let p: u64;
    // SAFETY: GS points at this CPU's PerCpu from the CPU's first step
    // (percpu::early_gs_base); its first word is the self pointer, 0 until init_cpu sets it.
    unsafe {
        core::arch::asm!(
            "mov {p}, gs:[{off}]",
            p = out(reg) p,
            off = const kentry::entry_percpu::OFFSET_SELF,
            options(nostack, preserves_flags, readonly),
        );
    }
    // SAFETY: a non-zero self pointer is this CPU's PerCpu (EntryPerCpu is its first field).
    (p != 0).then(|| unsafe { &*(p as *const crate::percpu::PerCpu) })
}

#[cold]
#[inline(never)]
fn violation(what: core::fmt::Arguments) {
    if RECORD_ONLY.load(Ordering::Relaxed) {
        RECORDED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    panic!("BUG: lock check: {what}");
}

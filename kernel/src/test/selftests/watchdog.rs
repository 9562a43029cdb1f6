//! The hard-lockup detector's test: this CPU spins with interrupts off in a named function
//! until another CPU's watchdog NMIs it; the boot test `watchdog_hard_lockup` expects the
//! report naming that function. Never returns when the detector works.
//!
//! The spinlock-lockup detector's test (test kernels, lockcheck.rs): a task takes a lock it
//! holds, in a named function; the boot test `spinlock_lockup` expects the report naming
//! both places. Without the detector the boot hangs and the boot test fails at its timeout.

use super::{Ctx, Outcome};

pub fn hard_lockup(_: &Ctx) -> Outcome {
    if !crate::watchdog::enabled() {
        return Outcome::Fail("needs kentry.watchdog=N on the command line".into());
    }
    if crate::smp::online_count() < 2 {
        return Outcome::Skip("one CPU online: no other CPU to watch this one");
    }
    crate::klog!(
        "watchdog test: cpu {} spins with interrupts off",
        crate::smp::this_cpu_id()
    );
    watchdog_test_spin_irqs_off()
}

/// The wedge: interrupts off, no tick, for ever. Only the watchdog's NMI gets this CPU out
/// (into its lockup report, which ends the boot).
#[inline(never)]
fn watchdog_test_spin_irqs_off() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        core::hint::spin_loop();
    }
}

/// Takes a lock twice (the second spin never ends) with the lockup threshold at 2 s.
#[cfg(not(feature = "test-hooks"))]
pub fn spinlock_lockup(_: &Ctx) -> Outcome {
    Outcome::Skip("the lean kernel has no lockup detector (test kernels only)")
}

/// Takes a lock twice (the second spin never ends) with the lockup threshold at 2 s.
#[cfg(feature = "test-hooks")]
pub fn spinlock_lockup(_: &Ctx) -> Outcome {
    static LOCK: crate::sync::Mutex<()> = crate::sync::Mutex::new(());
    crate::lockcheck::set_lockup_secs(2);
    let _held = LOCK.lock();
    crate::klog!("lockup test: taking a held lock again");
    lockup_test_take_again(&LOCK);
    Outcome::Fail("a held lock was taken again".into())
}

#[cfg(feature = "test-hooks")]
#[inline(never)]
fn lockup_test_take_again(l: &crate::sync::Mutex<()>) {
    drop(l.lock());
}

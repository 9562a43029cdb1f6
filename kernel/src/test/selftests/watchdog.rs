//! The hard-lockup detector's test: this CPU spins with interrupts off in a named function
//! until another CPU's watchdog NMIs it; the boot test `watchdog_hard_lockup` expects the
//! report naming that function. Never returns when the detector works.

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

//! Scheduler self-tests.

use super::{Ctx, Outcome};
use x86_64::instructions::interrupts;

/// `sched::sleep_until` gives back the interrupt state it found: on when the caller had them
/// on (it used to return with them off, as it blocked, and each caller re-enabled them by
/// hand), off when the caller had them off.
pub fn sleep_until_restores_interrupts(_: &Ctx) -> Outcome {
    interrupts::enable();
    crate::sched::sleep_until(crate::sched::ticks() + 1);
    let on_after_on = interrupts::are_enabled();
    interrupts::disable();
    crate::sched::sleep_until(crate::sched::ticks() + 1);
    let on_after_off = interrupts::are_enabled();
    interrupts::enable();
    match (on_after_on, on_after_off) {
        (true, false) => Outcome::Pass,
        (a, b) => Outcome::Fail(alloc::format!(
            "interrupts after sleeping: {a} with them on before (want true), {b} with them off \
             (want false)"
        )),
    }
}

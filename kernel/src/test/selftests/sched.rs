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

/// A wait that a pending signal ends leaves SIGPENDING raised in the running task's own work
/// word (`signal::interrupted`), whatever became of the sender's flag: that one comes by IPI
/// when the thread runs on another CPU, and QEMU may deliver it after the thread has gone
/// back to user mode with the restart code in RAX (seen as a pipe read failing with errno
/// 512 under ptrace). Here the pending bit is set without any flag, as a late IPI leaves it.
pub fn interrupted_raises_sigpending(_: &Ctx) -> Outcome {
    use kentry::exit_work::ExitWork;
    let t = crate::task::current();
    let entry = &crate::percpu::this_cpu().entry;
    let usr1 = crate::signal::bit(crate::signal::SIGUSR1);
    let had_usr1 = t.sig_pending.bits() & usr1 != 0;
    let was_work = entry.task_work() & ExitWork::SIGPENDING.bits();
    interrupts::disable();
    entry.clear_work(ExitWork::SIGPENDING.bits());
    t.sig_pending.add_without_info(crate::signal::SIGUSR1);
    let interrupted = crate::signal::interrupted();
    let raised = entry.task_work() & ExitWork::SIGPENDING.bits() != 0;
    if !had_usr1 {
        t.sig_pending.flush_mask(usr1);
    }
    entry.clear_work(ExitWork::SIGPENDING.bits());
    entry.raise_work(was_work);
    interrupts::enable();
    match (interrupted, raised) {
        (true, true) => Outcome::Pass,
        (i, r) => Outcome::Fail(alloc::format!(
            "interrupted() = {i} (want true) with SIGUSR1 pending; SIGPENDING raised: {r} \
             (want true)"
        )),
    }
}

//! `nohz_full_spin`: a ring-3 program pinned to CPU 1 spins 5 s in user mode while two
//! fork/exec/munmap loads, allowed on every CPU, keep CPU 0 busy (placement must keep them
//! off CPU 1); the program reads CPU 1's `/proc/interrupts` row before and after
//! its spin and requires no timer interrupt, IPI or NMI there, and its `getrusage` user time
//! within ±10 % of the spin (user/src/bin/nohz_spin.rs, docs/nohz.md).
//!
//! Run only when named (`kentry.only=nohz_full_spin`): boot tests `nohz_full_quiet_cpu`
//! (`nohz_full=1`, must pass) and `negative_nohz_keep_tick` (`kentry.break=nohz`, the tick
//! kept: ~5000 LOC, must fail). The test does not check that CPU 1 is nohz_full: without it,
//! it fails on the timer interrupts, which is what the negative run shows.
//! The loads' forks, exits and fd changes are RCU updates (the pid map, fd snapshots freed by
//! `call_rcu`): grace periods must keep completing while CPU 1 spins with its tick stopped,
//! which they can only do by seeing its context-tracking counter (docs/rcu.md).

use super::{Ctx, Outcome};
use crate::console::{UserOutput, set_user_output};
use crate::percpu::cpu_area;
use alloc::format;
use core::sync::atomic::Ordering;

/// The nohz_full CPU the test measures.
const CPU: usize = 1;
/// Grace periods that must complete during the test (about 2,500 do): the loads make some 1,500 rounds of
/// RCU updates; without quiescent states seen from CPU 1's counter none would complete while
/// it spins, and the RCU thread's callbacks would pile up.
const MIN_GRACE_PERIODS: u64 = 500;
/// The spin, ms; the load runs longer, so that it covers the spinner's settling and spin.
const SPIN_MS: &str = "5000";
const LOAD_MS: &str = "5600";

pub fn nohz_full_spin(_: &Ctx) -> Outcome {
    if !crate::smp::is_online(CPU) {
        return Outcome::Skip("needs a second CPU (-smp 2)");
    }
    crate::kprint!(
        "# nohz_full CPUs {:#x}; the watchdog is {}\n",
        crate::nohz::full_mask(),
        if crate::watchdog::enabled() {
            "on"
        } else {
            "off"
        }
    );
    let c = &cpu_area(CPU).counters;
    let (stops0, restarts0) = (
        c.tick_stops.load(Ordering::Relaxed),
        c.tick_restarts.load(Ordering::Relaxed),
    );
    let (gps0, invoked0) = (
        crate::rcu::completed(),
        crate::rcu::INVOKED.load(Ordering::Relaxed),
    );
    // The programs start on CPU 0 (inherited from this thread); the spinner moves itself to
    // CPU 1, the loads allow themselves every CPU.
    let old_mask = crate::sched::pin_current(1);
    set_user_output(UserOutput::Nested);
    let ends = super::super::run_programs_together(&[
        ("/bin/nohz_spin", &["load", LOAD_MS]),
        ("/bin/nohz_spin", &["load", LOAD_MS]),
        ("/bin/nohz_spin", &["spin", "1", SPIN_MS]),
    ]);
    set_user_output(UserOutput::Plain);
    crate::sched::pin_current(old_mask);
    crate::kprint!(
        "# cpu {CPU}: tick stopped {} times, restarted {} times during the test\n",
        c.tick_stops.load(Ordering::Relaxed) - stops0,
        c.tick_restarts.load(Ordering::Relaxed) - restarts0
    );
    let (gps, invoked) = (
        crate::rcu::completed() - gps0,
        crate::rcu::INVOKED.load(Ordering::Relaxed) - invoked0,
    );
    crate::kprint!("# rcu: {gps} grace periods, {invoked} callbacks invoked during the test\n");
    if gps < MIN_GRACE_PERIODS {
        return Outcome::Fail(format!(
            "only {gps} grace periods completed during the spin (want >= {MIN_GRACE_PERIODS})"
        ));
    }
    let ends = match ends {
        Ok(e) => e,
        Err(e) => return Outcome::Fail(e),
    };
    for (what, end) in ["load", "second load", "spinner"].iter().zip(ends) {
        if end.shell_status() != 0 {
            return Outcome::Fail(format!(
                "the {what} ended with status {}",
                end.shell_status()
            ));
        }
    }
    Outcome::Pass
}

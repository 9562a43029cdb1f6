//! The bench mode's fast timer (kernel/src/bench.rs), as `run_bench` arms it for `irq-user`:
//! while it runs, the 1 ms tick still comes once per 100 fast interrupts (so `sched::ticks()`,
//! sleeps and the clock keep their 1 ms), and stopping it puts the 1 ms timer back.

use super::{Ctx, Outcome};
use crate::percpu::cpu_area;
use core::sync::atomic::Ordering;

/// Interrupts CPU 0 has taken, from either mode.
fn irqs() -> u64 {
    let c = &cpu_area(0).counters;
    c.irq_from_kernel.load(Ordering::Relaxed) + c.irq_from_user.load(Ordering::Relaxed)
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Spins until `sched::ticks()` reaches `tick`; then the interrupts taken so far. `None` if
/// 2^34 TSC counts (some seconds) pass first. Generous: under a loaded host the virtual CPU
/// that takes the fast timer can get so little host time that 10 ticks (1,010 interrupts)
/// took more than 2^32 counts (helpers' full runs saw a few hundred interrupts in 1.6 s).
fn irqs_at_tick(tick: u64) -> Option<u64> {
    let t0 = rdtsc();
    while crate::sched::ticks() < tick {
        if rdtsc().wrapping_sub(t0) > 1 << 34 {
            return None;
        }
        core::hint::spin_loop();
    }
    Some(irqs())
}

pub fn fast_timer(_: &Ctx) -> Outcome {
    // CPU 0 keeps `sched::ticks()`; the fast timer is this CPU's.
    let old = crate::sched::pin_current(1);
    x86_64::instructions::interrupts::enable();
    let r = fast_timer_on_cpu0();
    crate::sched::pin_current(old);
    r
}

/// Ticks counted in each window. The count's edges are read on another CPU than the one
/// taking the interrupts, which can lag it by a few interrupts at either edge under TCG: the
/// error is the difference of two lags, of either sign (1,007 for 1,010 was seen on a
/// 10-tick window). A long window keeps that error small beside what the test is after: a
/// tick every 99 or 101 fast interrupts would be off by 100.
const WINDOW: u64 = 100;

/// How far the count may stray from 101 per tick, either way (see [`WINDOW`]).
const EDGE_SLACK: u64 = 20;

fn fast_timer_on_cpu0() -> Outcome {
    crate::bench::start_fast_timer();
    let t = crate::sched::ticks() + 1;
    let during = irqs_at_tick(t).zip(irqs_at_tick(t + WINDOW));
    crate::bench::stop_fast_timer();
    let vector = crate::x86::apic::timer_vector();
    let t = crate::sched::ticks() + 1;
    let after = irqs_at_tick(t).zip(irqs_at_tick(t + WINDOW));
    let (Some(during), Some(after)) = (during, after) else {
        return Outcome::Fail("the tick stopped".into());
    };
    let (n_during, n_after) = (during.1 - during.0, after.1 - after.0);
    crate::kprint!(
        "# bench_fast_timer: {n_during} interrupts in {WINDOW} ticks with the fast timer, {n_after} after it\n"
    );
    // Per tick: 100 fast interrupts and the tick's own (a self-IPI); a few more or fewer for
    // IPIs from other CPUs and the window's edges.
    let per_tick = crate::bench::FAST_PER_TICK as u64 + 1;
    if !(WINDOW * per_tick - EDGE_SLACK..=WINDOW * per_tick + EDGE_SLACK).contains(&n_during) {
        return Outcome::Fail(alloc::format!(
            "{n_during} interrupts in {WINDOW} ticks, not {} ± {EDGE_SLACK} (100 fast ones per tick)",
            WINDOW * per_tick
        ));
    }
    if vector != crate::x86::apic::TIMER_VECTOR {
        return Outcome::Fail(alloc::format!(
            "the LVT timer delivers {vector:#x} after the stop"
        ));
    }
    if n_after > 3 * WINDOW {
        return Outcome::Fail(alloc::format!(
            "{n_after} interrupts in {WINDOW} ticks after the stop: the fast timer still runs"
        ));
    }
    Outcome::Pass
}

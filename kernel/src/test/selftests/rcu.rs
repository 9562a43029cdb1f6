//! RCU self-tests (issue 9 §2, docs/rcu.md): grace periods while another CPU spins in ring 3
//! (context tracking on and off), interrupts in the idle EQS watching, and the
//! reader/writer stress with a use-after-free checker (rcu_stress.rs).

use super::{Ctx, Outcome};
use crate::percpu::cpu_area;
use crate::rcu;
use crate::smp;
use alloc::format;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use kentry::context_tracking::{CONTEXT_TRACKING, CtState};

/// How long the other CPU spins in ring 3 while grace periods run, per setting.
const SPIN_NS: u64 = 2_000_000_000;
/// A grace period longer than this fails the test (generous for TCG on a loaded host; the
/// expected figures are well under a millisecond with context tracking on, about two ticks
/// with it off).
const GP_BOUND_NS: u64 = 500_000_000;

/// Starts `/bin/spin` on CPU `cpu` (a child of the kernel) and waits until it runs in ring 3
/// there (timer ticks from user mode on that CPU).
fn start_spinner(cpu: usize) -> Result<Arc<crate::process::Process>, alloc::string::String> {
    let old = crate::sched::pin_current(1 << cpu);
    let argv: [&[u8]; 1] = [b"/bin/spin"];
    let envp: [&[u8]; 1] = [b"PATH=/bin"];
    let r = crate::exec::image_for_kernel("/bin/spin", &argv, &envp);
    let p = r.map(|(image, exe)| {
        let p = crate::process::spawn("/bin/spin", image, &crate::process::kernel_process());
        crate::fs::set_exe(&p, &exe);
        p
    });
    crate::sched::pin_current(old);
    let p = p?;
    let ticks = &cpu_area(cpu).counters.irq_from_user;
    let start = ticks.load(Ordering::Relaxed);
    let t0 = crate::time::monotonic_ns();
    while ticks.load(Ordering::Relaxed) < start + 3 {
        if crate::time::monotonic_ns() - t0 > 5_000_000_000 {
            return Err("the spinner never ran in ring 3".into());
        }
        crate::sched::sleep_until(crate::sched::ticks() + 1);
    }
    Ok(p)
}

fn stop_spinner(p: &Arc<crate::process::Process>) {
    crate::signal::send_to_process(p, crate::signal::SIGKILL);
    let _ = crate::process::wait_child(&crate::process::kernel_process(), p.pid as i32, false);
}

/// `synchronize_rcu` completes, each within a bound, again and again for two seconds while
/// CPU 1 spins in ring 3 without a syscall — with context tracking on (CPU 1's quiescent
/// states must be seen from its counter: no IPI, no report needed) and off (the lean
/// kernel: they must come from CPU 1's own tick reports, its counter never moving). The
/// spinner must still be running (no syscall, no exit) at the end of each window.
pub fn rcu_gp_user_spin(_: &Ctx) -> Outcome {
    if smp::online_count() < 2 {
        return Outcome::Skip("one CPU online: no other CPU to spin in ring 3");
    }
    let old_mask = crate::sched::pin_current(1 << 0);
    let was_on = CONTEXT_TRACKING.is_enabled();
    let mut r = Outcome::Pass;
    for on in [true, false] {
        if CONTEXT_TRACKING.is_enabled() != on {
            crate::text_poke::flip_key(&CONTEXT_TRACKING, on);
        }
        r = gp_while_spinning(on);
        if !matches!(r, Outcome::Pass) {
            break;
        }
    }
    if CONTEXT_TRACKING.is_enabled() != was_on {
        crate::text_poke::flip_key(&CONTEXT_TRACKING, was_on);
    }
    crate::sched::pin_current(old_mask);
    r
}

fn gp_while_spinning(ct_on: bool) -> Outcome {
    let spun = 1;
    let p = match start_spinner(spun) {
        Ok(p) => p,
        Err(e) => return Outcome::Fail(e),
    };
    let c1 = &cpu_area(spun).counters;
    let sys0 = c1.syscalls.load(Ordering::Relaxed);
    let (ct0, rep0) = (
        rcu::QS_STATS.by_ct[spun].load(Ordering::Relaxed),
        rcu::QS_STATS.by_report[spun].load(Ordering::Relaxed),
    );
    let t0 = crate::time::monotonic_ns();
    let (mut gps, mut max_ns, mut total_ns) = (0u64, 0u64, 0u64);
    let mut failure = None;
    while crate::time::monotonic_ns() - t0 < SPIN_NS {
        let (ns, _, _) = rcu::time_one_grace_period();
        gps += 1;
        total_ns += ns;
        max_ns = max_ns.max(ns);
        if ns > GP_BOUND_NS {
            failure = Some(format!("a grace period took {ns} ns"));
            break;
        }
    }
    let spinning = p.exit_reason().is_none() && c1.syscalls.load(Ordering::Relaxed) == sys0;
    let by_ct = rcu::QS_STATS.by_ct[spun].load(Ordering::Relaxed) - ct0;
    let by_report = rcu::QS_STATS.by_report[spun].load(Ordering::Relaxed) - rep0;
    stop_spinner(&p);
    crate::kprint!(
        "# rcu_gp_user_spin ct={}: {gps} grace periods in 2 s with cpu {spun} in ring 3, mean {} us, max {} us; cpu {spun}'s QS from its counter {by_ct}, from its reports {by_report}\n",
        if ct_on { "on" } else { "off" },
        total_ns / gps.max(1) / 1000,
        max_ns / 1000
    );
    if let Some(f) = failure {
        return Outcome::Fail(f);
    }
    check!(
        spinning,
        "the spinner left ring 3 (syscall or exit) during the window"
    );
    check!(gps >= 10, "only {gps} grace periods completed in 2 s");
    // cpu_needs_tick for the spinning CPU while grace periods run: never with context
    // tracking on (no callbacks there, its QS seen from afar); off, it must say so while a
    // grace period waits for that CPU's tick.
    let needs = needs_tick_during_gps(spun);
    check!(
        needs != ct_on,
        "cpu_needs_tick({spun}) was {needs} during grace periods with context tracking {}",
        if ct_on { "on" } else { "off" }
    );
    check!(
        by_ct + by_report >= gps,
        "cpu {spun} passed {} QS for {gps} grace periods",
        by_ct + by_report
    );
    if ct_on {
        // Nearly all: a poll that catches CPU 1 inside its tick's handler (counter odd and
        // unchanged) may credit the tick's report instead.
        check!(
            by_ct * 10 >= gps * 9,
            "context tracking on: cpu {spun}'s QS came {by_report} times from reports, {by_ct} from its counter"
        );
    } else {
        check!(
            by_ct == 0 && by_report >= gps,
            "context tracking off: cpu {spun}'s counter showed {by_ct} QS (it must stay still)"
        );
    }
    Outcome::Pass
}

/// Whether `cpu_needs_tick(cpu)` said true, at a poll where no callbacks were queued on
/// `cpu` (its other reason), at least once while ten grace periods ran (the RCU thread runs
/// them on CPU 0, this task yields to it between polls).
fn needs_tick_during_gps(cpu: usize) -> bool {
    let mut seen = false;
    let mut with_callbacks = 0;
    for _ in 0..10 {
        let done = Arc::new(core::sync::atomic::AtomicBool::new(false));
        let d = done.clone();
        rcu::call_rcu(move || d.store(true, Ordering::Release));
        while !done.load(Ordering::Acquire) {
            let queued_before = rcu::queued_on(cpu);
            let needs = rcu::cpu_needs_tick(cpu);
            if queued_before == 0 && rcu::queued_on(cpu) == 0 {
                seen |= needs;
            } else {
                with_callbacks += 1;
            }
            crate::sched::schedule();
        }
    }
    if with_callbacks != 0 {
        crate::kprint!("# {with_callbacks} polls found callbacks queued on cpu {cpu}\n");
    }
    seen
}

/// An interrupt that arrives while CPU 1 halts in the idle EQS (context tracking on) runs
/// with RCU watching and in kernel state, and CPU 1 is back in the idle EQS after it.
pub fn rcu_irq_in_idle(_: &Ctx) -> Outcome {
    if smp::online_count() < 2 {
        return Outcome::Skip("one CPU online: no idle CPU to interrupt");
    }
    if !CONTEXT_TRACKING.is_enabled() {
        return Outcome::Skip("context tracking is off (kentry.ct=off): no idle EQS");
    }
    let old_mask = crate::sched::pin_current(1 << 0);
    let idle = 1;
    let ct = &cpu_area(idle).entry.context_tracking;
    let wait_idle = || {
        let t0 = crate::time::monotonic_ns();
        while ct.state() != CtState::Idle as u64 {
            if crate::time::monotonic_ns() - t0 > 2_000_000_000 {
                return false;
            }
            core::hint::spin_loop();
        }
        true
    };
    let mut r = Outcome::Pass;
    for round in 0..20 {
        if !wait_idle() {
            r = Outcome::Fail(format!(
                "cpu {idle} never entered the idle EQS (round {round})"
            ));
            break;
        }
        let before = ct.rcu_counter();
        let inside = smp::ipi::call_on(idle, || {
            let me = &crate::percpu::this_cpu().entry.context_tracking;
            let g = rcu::read_lock();
            let seen = (me.rcu_watching(), me.state(), me.rcu_counter());
            drop(g);
            seen
        });
        let Some((watching, state, counter)) = inside else {
            r = Outcome::Fail("the call-function IPI did not run".into());
            break;
        };
        if !watching || state != CtState::Kernel as u64 {
            r = Outcome::Fail(format!(
                "in an IRQ from idle: watching {watching}, state {state}"
            ));
            break;
        }
        // Other interrupts may have come and gone in between; the IRQ itself moved it once.
        if counter <= before || counter & 1 == 0 {
            r = Outcome::Fail(format!("counter {before} before, {counter} inside"));
            break;
        }
    }
    if matches!(r, Outcome::Pass) && !wait_idle() {
        r = Outcome::Fail(format!("cpu {idle} did not go back to the idle EQS"));
    }
    crate::sched::pin_current(old_mask);
    r
}

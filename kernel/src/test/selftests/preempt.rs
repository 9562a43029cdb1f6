//! Kernel preemption (crate::preempt, docs/preemption.md).
//!
//! `kernel_preemption`: two kernel tasks pinned to one CPU. The other task alternates short
//! preemptible spins with voluntary yields, counting its iterations; this one runs ONE
//! preemptible region that busy-waits for [`REGION_NS`] and calls nothing that could
//! yield. The other task must get CPU time inside that region: only a preemption at an
//! interrupt's return can give it some (the region has no lock, so no preemption point of
//! its own). With `kentry.break=kernel_preempt` (kernel code never preempted) the other
//! task's counter stands still during the region and the test fails
//! (`negative_kernel_preempt`). Then the same with the region not opened (the kernel's
//! default count): the other task must NOT run — kernel code outside regions is not
//! preemptible.
//!
//! `preempt_count_rules`: a spin lock and an RCU reader each keep the count raised, a region
//! inside them does not open, and the count is back to the default after each.

use super::{Ctx, Outcome};
use crate::preempt::{self, KERNEL_DEFAULT};
use crate::smp;
use alloc::format;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How long the region busy-waits: 50 time slices of 4 ms, so that a preempting kernel gives
/// the other task many turns.
const REGION_NS: u64 = 200_000_000;

static OTHER_COUNT: AtomicU64 = AtomicU64::new(0);
static OTHER_STOP: AtomicBool = AtomicBool::new(false);
static OTHER_DONE: AtomicBool = AtomicBool::new(false);

macro_rules! check {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Outcome::Fail(format!($($msg)*));
        }
    };
}

/// The other task: counts in 1 ms preemptible spins, yielding between them (so that the test
/// task runs again even where kernel preemption is broken).
extern "C" fn other_task() -> ! {
    crate::sched::kernel_thread_prologue();
    while !OTHER_STOP.load(Ordering::Acquire) {
        preempt::preemptible(|| {
            let t0 = crate::time::monotonic_ns();
            while crate::time::monotonic_ns() - t0 < 1_000_000 {
                OTHER_COUNT.fetch_add(1, Ordering::Relaxed);
                core::hint::spin_loop();
            }
        });
        crate::sched::schedule();
    }
    OTHER_DONE.store(true, Ordering::Release);
    // Kernel threads do not exit: it stays blocked.
    let never = crate::sched::WaitQueue::new();
    never.wait_until(|| false, || false);
    unreachable!("the finished task was woken")
}

/// Busy-waits `ns` in this task, preemptible or not; returns (other task's iterations
/// meanwhile, preemptions at IRQ return meanwhile).
fn spin_measuring(ns: u64, preemptible: bool) -> (u64, u64) {
    let c0 = OTHER_COUNT.load(Ordering::Relaxed);
    let p0 = preempt::PREEMPTIONS_IRQ.load(Ordering::Relaxed);
    let spin = || {
        let t0 = crate::time::monotonic_ns();
        while crate::time::monotonic_ns() - t0 < ns {
            core::hint::spin_loop();
        }
    };
    if preemptible {
        preempt::preemptible(spin);
    } else {
        spin();
    }
    (
        OTHER_COUNT.load(Ordering::Relaxed) - c0,
        preempt::PREEMPTIONS_IRQ.load(Ordering::Relaxed) - p0,
    )
}

pub fn kernel_preemption(_: &Ctx) -> Outcome {
    // The last CPU: away from CPU 0's RCU thread and housekeeping (CPU 0 on one CPU).
    let cpu = (0..crate::percpu::MAX_CPUS)
        .rev()
        .find(|&c| smp::is_online(c))
        .unwrap_or(0);
    OTHER_COUNT.store(0, Ordering::Relaxed);
    OTHER_STOP.store(false, Ordering::Relaxed);
    OTHER_DONE.store(false, Ordering::Relaxed);
    let old_mask = crate::sched::pin_current(1 << cpu);
    // Spawned tasks inherit the creator's mask: the other task stays on this CPU too.
    let t = crate::task::Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "kernel_preemption other task stack",
        other_task,
    );
    crate::sched::spawn(t);
    while OTHER_COUNT.load(Ordering::Relaxed) == 0 {
        crate::sched::schedule();
    }
    let (in_region, irq_preemptions) = spin_measuring(REGION_NS, true);
    let (outside, outside_preemptions) = spin_measuring(REGION_NS / 4, false);
    OTHER_STOP.store(true, Ordering::Release);
    while !OTHER_DONE.load(Ordering::Acquire) {
        crate::sched::schedule();
    }
    crate::sched::pin_current(old_mask);
    crate::kprint!(
        "# kernel_preemption: cpu {cpu}: the other task counted {in_region} during a {} ms preemptible region ({irq_preemptions} preemptions at IRQ return), {outside} during {} ms of non-preemptible kernel code ({outside_preemptions})\n",
        REGION_NS / 1_000_000,
        REGION_NS / 4 / 1_000_000
    );
    check!(
        in_region > 0 && irq_preemptions > 0,
        "the other task never ran during the {} ms preemptible region (counted {in_region}, {irq_preemptions} preemptions at IRQ return): kernel code was not preempted",
        REGION_NS / 1_000_000
    );
    check!(
        outside == 0 && outside_preemptions == 0,
        "the other task ran during non-preemptible kernel code (counted {outside}, {outside_preemptions} preemptions)"
    );
    Outcome::Pass
}

pub fn preempt_count_rules(_: &Ctx) -> Outcome {
    check!(
        preempt::count() == KERNEL_DEFAULT,
        "a test task runs at count {}, not the kernel default {KERNEL_DEFAULT}",
        preempt::count()
    );
    let inside = preempt::preemptible(preempt::count);
    check!(inside == 0, "count {inside} inside a region, want 0");
    let lock = crate::sync::Mutex::new(());
    {
        let _g = lock.lock();
        let held = preempt::count();
        check!(
            held == KERNEL_DEFAULT + 1,
            "count {held} with a spin lock held"
        );
        let in_region = preempt::preemptible(preempt::count);
        check!(
            in_region == KERNEL_DEFAULT + 1,
            "a region opened under a spin lock (count {in_region} inside)"
        );
    }
    let under_lock_in_region = preempt::preemptible(|| {
        let _g = lock.lock();
        preempt::count()
    });
    check!(
        under_lock_in_region == 1,
        "count {under_lock_in_region} with a lock taken inside a region, want 1 (not preemptible)"
    );
    {
        let _r = crate::rcu::read_lock();
        let c = preempt::count();
        check!(c == KERNEL_DEFAULT + 1, "count {c} inside an RCU reader");
    }
    let reader_in_region = preempt::preemptible(|| {
        let _r = crate::rcu::read_lock();
        preempt::count()
    });
    check!(
        reader_in_region == 1,
        "count {reader_in_region} with an RCU reader inside a region, want 1"
    );
    check!(
        preempt::count() == KERNEL_DEFAULT,
        "count {} after the checks, want {KERNEL_DEFAULT}",
        preempt::count()
    );
    Outcome::Pass
}

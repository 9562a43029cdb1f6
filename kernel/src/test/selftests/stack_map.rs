//! Kernel stacks mapped by two CPUs at once (found by the entry fuzzer, docs/fuzz.md): in
//! each round both CPUs allocate a stack at the same moment, the first two in a fresh 2 MiB
//! region of the stack area, so that both need the page table of that region and neither
//! finds it. Every page of both stacks must then be mapped in the kernel table. Without the
//! stack area's lock (`kentry.break=stack_map_lock`) two tables get made, one replaces the
//! other, and the stack mapped in the lost one is gone.

use super::{Ctx, Outcome};
use crate::mm::stack::{self, KernelStack};
use crate::smp;
use alloc::format;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Rounds at most (each takes a fresh 2 MiB of the 512 GiB stack area, and leaves the page
/// table made for it: 4 KiB); the test stops at the first lost page.
const ROUNDS: u64 = 2000;
const REGION: u64 = 2 << 20;

/// The round the helper is to run (0: none yet).
static ROUND: AtomicU64 = AtomicU64::new(0);
/// The last round the helper finished, and the bottom and top of its stack.
static HELPER_DONE: AtomicU64 = AtomicU64::new(0);
static HELPER_BOTTOM: AtomicU64 = AtomicU64::new(0);
static HELPER_TOP: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn helper() -> ! {
    crate::sched::kernel_thread_prologue();
    let mut last = 0;
    while !STOP.load(Ordering::Acquire) {
        let r = ROUND.load(Ordering::Acquire);
        if r == last {
            core::hint::spin_loop();
            continue;
        }
        last = r;
        let s = stack::alloc_stack(1, "stack_map_smp helper");
        HELPER_BOTTOM.store(s.bottom, Ordering::Relaxed);
        HELPER_TOP.store(s.top, Ordering::Relaxed);
        HELPER_DONE.store(r, Ordering::Release);
    }
    // Kernel threads do not exit: it stays blocked (as rcu_stress's reader).
    let never = crate::sched::WaitQueue::new();
    never.wait_until(|| false, || false);
    unreachable!("the finished helper was woken")
}

/// The pages of `[bottom, top)` that the kernel table does not map.
fn unmapped(bottom: u64, top: u64) -> u64 {
    let kt = crate::mm::paging::kernel_table();
    (bottom..top)
        .step_by(4096)
        .filter(|&va| kt.translate(va).is_none())
        .count() as u64
}

pub fn stack_map_smp(_: &Ctx) -> Outcome {
    if smp::online_count() < 2 {
        return Outcome::Skip("one CPU online: the race needs two");
    }
    let old_mask = crate::sched::pin_current(1 << 1);
    ROUND.store(0, Ordering::Relaxed);
    HELPER_DONE.store(0, Ordering::Relaxed);
    STOP.store(false, Ordering::Relaxed);
    let t = crate::task::Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "stack_map_smp helper stack",
        helper,
    );
    crate::sched::spawn(t);
    crate::sched::pin_current(1 << 0);
    let mut lost = 0u64;
    let mut first_lost = None;
    for r in 1..=ROUNDS {
        // Skip to the start of a fresh region, so that both stacks below are its first.
        let next = stack::reserve_va(0);
        let pad = (REGION - next % REGION) / 4096;
        stack::reserve_va(pad);
        ROUND.store(r, Ordering::Release);
        let mine = stack::alloc_stack(1, "stack_map_smp");
        while HELPER_DONE.load(Ordering::Acquire) != r {
            core::hint::spin_loop();
        }
        let theirs = KernelStack {
            guard: HELPER_BOTTOM.load(Ordering::Relaxed) - 4096,
            bottom: HELPER_BOTTOM.load(Ordering::Relaxed),
            top: HELPER_TOP.load(Ordering::Relaxed),
            name: "stack_map_smp helper",
        };
        let gone = unmapped(mine.bottom, mine.top) + unmapped(theirs.bottom, theirs.top);
        if gone > 0 && first_lost.is_none() {
            first_lost = Some((r, mine.bottom, theirs.bottom));
        }
        lost += gone;
        // A lost page's frame is leaked with its lost table; free what is still mapped.
        stack::free_stack(mine);
        stack::free_stack(theirs);
        if lost > 0 {
            break;
        }
    }
    STOP.store(true, Ordering::Release);
    crate::sched::pin_current(old_mask);
    let rounds = first_lost.map_or(ROUNDS, |(r, _, _)| r);
    crate::kprint!("# stack_map_smp: {rounds} rounds, {lost} stack pages lost\n");
    if let Some((r, a, b)) = first_lost {
        return Outcome::Fail(format!(
            "{lost} stack pages unmapped right after their allocation (first in round {r}: stacks at {a:#x} and {b:#x})"
        ));
    }
    Outcome::Pass
}

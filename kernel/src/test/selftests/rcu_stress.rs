//! `rcu_stress`: readers on CPU 1, a writer on CPU 0, 10^6 updates of one RCU-published
//! object (`kentry.rcu_updates=N` changes the count). Each object is poisoned when it is
//! freed (its `Drop`), and every reader checks, inside its read-side section and again after
//! a delay, that the object it found is not poisoned: a grace period that ended too early
//! (`kentry.break=rcu_qs`, boot test `negative_rcu_qs`) shows up as a use-after-free.

use super::{Ctx, Outcome};
use crate::rcu::{self, RcuBox};
use crate::smp;
use alloc::format;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Once;

const DEFAULT_UPDATES: u64 = 1_000_000;
/// One update in this many waits with `synchronize_rcu` (`replace_sync`); the others
/// queue the free with `call_rcu` (`replace`).
const SYNC_EVERY: u64 = 1000;
/// The writer lets the callbacks catch up when this many frees are outstanding.
const MAX_OUTSTANDING: u64 = 20_000;

const LIVE: u64 = 0x11fe_11fe_11fe_11fe;
const POISON: u64 = 0xdead_dead_dead_dead;

struct Obj {
    magic: u64,
    value: u64,
    /// `!value`: a torn or reused object shows up too.
    check: u64,
}

impl Obj {
    fn new(value: u64) -> Self {
        Obj {
            magic: LIVE,
            value,
            check: !value,
        }
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        // SAFETY: writing this object's own fields before it is freed; volatile so the
        // store is not dropped as dead.
        unsafe {
            core::ptr::write_volatile(&mut self.magic, POISON);
            core::ptr::write_volatile(&mut self.check, POISON);
        }
        FREED.fetch_add(1, Ordering::Relaxed);
    }
}

static SHARED: Once<RcuBox<Obj>> = Once::new();
static STOP: AtomicBool = AtomicBool::new(false);
static READER_DONE: AtomicBool = AtomicBool::new(false);
static READS: AtomicU64 = AtomicU64::new(0);
/// Reads whose value differed from the previous read's (the reader saw updates).
static CHANGES: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);
static FIRST_BAD: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// One read-side section: find the object, check it, wait a little, check it again.
fn read_once(last: &mut u64) {
    let g = rcu::read_lock();
    let o = SHARED.get().expect("shared object").get(&g);
    let p = o as *const Obj;
    // SAFETY: `p` is valid for this section (RCU); volatile reads so each is really done.
    let read = || unsafe {
        (
            core::ptr::read_volatile(&(*p).magic),
            core::ptr::read_volatile(&(*p).value),
            core::ptr::read_volatile(&(*p).check),
        )
    };
    let (m1, v, c1) = read();
    for _ in 0..64 {
        core::hint::spin_loop();
    }
    let (m2, v2, c2) = read();
    drop(g);
    if (m1 != LIVE || m2 != LIVE || c1 != !v || c2 != !v2 || v != v2)
        && BAD.fetch_add(1, Ordering::Relaxed) == 0
    {
        FIRST_BAD.store(m2, Ordering::Relaxed);
    }
    if v != *last {
        CHANGES.fetch_add(1, Ordering::Relaxed);
        *last = v;
    }
    READS.fetch_add(1, Ordering::Relaxed);
}

/// The reader thread (pinned to CPU 1): read sections back to back, a quiescent point every
/// 64 (a kernel thread that never schedules would hold every grace period up).
extern "C" fn reader() -> ! {
    crate::sched::kernel_thread_prologue();
    let mut last = 0;
    let mut n = 0u64;
    while !STOP.load(Ordering::Acquire) {
        read_once(&mut last);
        n += 1;
        if n.is_multiple_of(64) {
            crate::sched::schedule();
        }
    }
    READER_DONE.store(true, Ordering::Release);
    // Kernel threads do not exit (they belong to no counted thread group): it stays blocked.
    let never = crate::sched::WaitQueue::new();
    never.wait_until(|| false, || false);
    unreachable!("the finished reader was woken")
}

pub fn rcu_stress(_: &Ctx) -> Outcome {
    if smp::online_count() < 2 {
        return Outcome::Skip("one CPU online: readers and writer need a CPU each");
    }
    let cmdline = crate::CMDLINE.get().copied().unwrap_or("");
    let updates = crate::boot::cmdline_value(cmdline, "kentry.rcu_updates")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_UPDATES);
    let shared = SHARED.call_once(|| RcuBox::new(Obj::new(0)));
    for a in [&READS, &CHANGES, &BAD, &FREED] {
        a.store(0, Ordering::Relaxed);
    }
    STOP.store(false, Ordering::Relaxed);
    READER_DONE.store(false, Ordering::Relaxed);
    let old_mask = crate::sched::pin_current(1 << 1);
    let t = crate::task::Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "rcu_stress reader stack",
        reader,
    );
    crate::sched::spawn(t);
    crate::sched::pin_current(1 << 0);
    while READS.load(Ordering::Relaxed) == 0 {
        crate::sched::schedule();
    }
    let invoked0 = rcu::INVOKED.load(Ordering::Relaxed);
    let t0 = crate::time::monotonic_ns();
    let mut queued = 0u64;
    for i in 1..=updates {
        if i.is_multiple_of(SYNC_EVERY) {
            shared.replace_sync(Obj::new(i));
        } else {
            shared.replace(Obj::new(i));
            queued += 1;
        }
        if i.is_multiple_of(256) {
            let done = rcu::INVOKED.load(Ordering::Relaxed) - invoked0;
            if queued.saturating_sub(done) > MAX_OUTSTANDING {
                rcu::synchronize_rcu();
            } else {
                crate::sched::schedule();
            }
        }
    }
    // Every queued free has run after two more grace periods.
    rcu::synchronize_rcu();
    rcu::synchronize_rcu();
    let ns = crate::time::monotonic_ns() - t0;
    STOP.store(true, Ordering::Release);
    while !READER_DONE.load(Ordering::Acquire) {
        crate::sched::sleep_until(crate::sched::ticks() + 1);
    }
    crate::sched::pin_current(old_mask);
    let (reads, changes, bad, freed) = (
        READS.load(Ordering::Relaxed),
        CHANGES.load(Ordering::Relaxed),
        BAD.load(Ordering::Relaxed),
        FREED.load(Ordering::Relaxed),
    );
    crate::kprint!(
        "# rcu_stress: {updates} updates in {} ms, {reads} reads saw {changes} changes, {freed} objects freed, {} grace periods so far\n",
        ns / 1_000_000,
        rcu::completed()
    );
    check!(
        bad == 0,
        "use-after-free: {bad} reads found a freed object (magic {:#x})",
        FIRST_BAD.load(Ordering::Relaxed)
    );
    check!(
        freed == updates,
        "{freed} of {updates} replaced objects were freed"
    );
    check!(
        changes >= 100,
        "the reader saw only {changes} updates: it did not run alongside the writer"
    );
    Outcome::Pass
}

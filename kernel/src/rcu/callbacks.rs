//! `call_rcu`, `synchronize_rcu` and the RCU thread that runs grace periods and invokes the
//! callbacks.
//!
//! `call_rcu` queues its callback on this CPU's list (interrupts off: it may be called from
//! interrupt handlers, never from NMIs) and leaves the RCU thread's wake-up to the next timer
//! tick, so that one wake-up, one grace period and one pass of the thread serve every
//! callback queued within a tick (Linux batches the same way: callbacks wait for the tick's
//! grace-period machinery, never wake a thread each). Waking it at every `call_rcu` cost each
//! fork + exit + wait switches to the thread and back (~6,500 instructions of the bench's
//! `fork-exit-wait`, 62,110 → 55,575). Two cases wake it at once: `synchronize_rcu`, whose caller
//! waits, and a CPU whose list has grown past [`HIGH_WATER`] (memory held by a flood). The
//! takes every CPU's list, runs one grace period for the whole batch (everything queued
//! before it started), then invokes the callbacks in its own context: a kernel thread with
//! interrupts on, where freeing memory and taking ordinary locks is allowed — never an NMI
//! or an interrupt handler. `synchronize_rcu` is a callback that wakes its caller.

use super::gp;
use crate::percpu::MAX_CPUS;
use crate::sched::WaitQueue;
use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use spin::Once;
use x86_64::instructions::interrupts;

type Callback = Box<dyn FnOnce() + Send>;

/// Per CPU: callbacks queued there and not yet taken by the RCU thread.
static QUEUED: [Mutex<Vec<Callback>>; MAX_CPUS] = [const { Mutex::new(Vec::new()) }; MAX_CPUS];
/// Per CPU: the length of its `QUEUED` list (read without the lock).
static QUEUED_COUNT: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// The RCU thread waits here for callbacks.
static WORK: WaitQueue = WaitQueue::new();
/// The RCU thread is (about to be) waiting on `WORK`.
static THREAD_WAITING: AtomicBool = AtomicBool::new(false);
/// `synchronize_rcu` callers wait here.
static SYNC_DONE: WaitQueue = WaitQueue::new();
/// Callbacks invoked so far.
pub static INVOKED: AtomicU64 = AtomicU64::new(0);
/// Callbacks queued so far.
static QUEUED_EVER: AtomicU64 = AtomicU64::new(0);

static THREAD: Once<()> = Once::new();

/// Callbacks a CPU may hold before `call_rcu` wakes the RCU thread at once rather than at the
/// next tick.
pub const HIGH_WATER: usize = 1000;

/// Queues `f` to run after a grace period: after every read-side critical section open now
/// has ended. Callable from task and interrupt context (not NMI); never blocks. The RCU
/// thread takes it at the next tick (module comment).
pub fn call_rcu(f: impl FnOnce() + Send + 'static) {
    queue(Box::new(f), false);
}

/// Queues `cb`; wakes the RCU thread now if `urgent` or the list is long, else at the tick.
fn queue(cb: Callback, urgent: bool) {
    let queued = interrupts::without_interrupts(|| {
        let cpu = crate::smp::this_cpu_id();
        QUEUED_EVER.fetch_add(1, Ordering::SeqCst);
        QUEUED[cpu].lock().push(cb);
        QUEUED_COUNT[cpu].fetch_add(1, Ordering::SeqCst) + 1
    });
    // Pairs with the thread's store then check (both SeqCst): either it sees the count, or
    // this sees it waiting (and it is already on the queue).
    if THREAD_WAITING.load(Ordering::SeqCst) {
        if (urgent || queued > HIGH_WATER) && interrupts::are_enabled() {
            WORK.wake_all();
        } else {
            // The tick wakes the thread (`wake_deferred`). With interrupts off it must: this
            // may be the scheduler itself (a task's last reference dropped inside `schedule`,
            // before `finish_switch`), where waking a task that this CPU is still switching
            // away from would spin for ever.
            gp::TICK_WORK.fetch_or(gp::TICK_WAKE_THREAD, Ordering::SeqCst);
        }
    }
}

/// The timer tick (interrupt context, never inside the scheduler): the wake-up a `call_rcu`
/// with interrupts off left for it (`gp::TICK_WAKE_THREAD`).
pub(super) fn wake_deferred() {
    if gp::TICK_WORK.fetch_and(!gp::TICK_WAKE_THREAD, Ordering::SeqCst) & gp::TICK_WAKE_THREAD != 0
    {
        WORK.wake_all();
    }
}

/// Callbacks queued on `cpu` and not yet taken by the RCU thread.
pub fn queued_on(cpu: usize) -> usize {
    QUEUED_COUNT[cpu].load(Ordering::Relaxed)
}

fn total_queued() -> usize {
    QUEUED_COUNT.iter().map(|c| c.load(Ordering::SeqCst)).sum()
}

/// Waits for a full grace period: every read-side critical section open at the call has
/// ended when it returns. Sleeps; not in a read-side section, not from the RCU thread's
/// callbacks.
pub fn synchronize_rcu() {
    super::read::assert_no_read_section("synchronize_rcu");
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    queue(
        Box::new(move || {
            d.store(true, Ordering::Release);
            SYNC_DONE.wake_all();
        }),
        true,
    );
    SYNC_DONE.wait_until(|| done.load(Ordering::Acquire), || false);
}

/// Waits until every callback queued before the call has been invoked, and the callbacks
/// those queued in turn (a freed `Process` frees its fd snapshot with another `call_rcu`):
/// Linux's `rcu_barrier`, repeated while callbacks keep chaining. For code that must see what
/// the callbacks free as freed, e.g. a leak check. Sleeps, as `synchronize_rcu`. Gives up after
/// [`BARRIER_ROUNDS`] grace periods if other CPUs keep queueing.
pub fn rcu_barrier() {
    for _ in 0..BARRIER_ROUNDS {
        // Each round takes every CPU's list at once and ends after its batch; INVOKED counts
        // a batch once it has run entirely, so a round may end before the count shows it.
        if INVOKED.load(Ordering::SeqCst) >= QUEUED_EVER.load(Ordering::SeqCst) {
            return;
        }
        synchronize_rcu();
    }
}

/// Grace periods [`rcu_barrier`] waits at most.
const BARRIER_ROUNDS: usize = 16;

/// Starts the RCU thread (once; callbacks queued before it starts wait for it).
pub fn start_thread() {
    THREAD.call_once(|| {
        let t = crate::task::Task::new_kernel(
            0,
            crate::process::kernel_process(),
            "rcu thread stack",
            rcu_thread,
        );
        crate::sched::spawn(t.clone());
        // On CPU 0, the housekeeping CPU: never on a CPU that should run user code
        // undisturbed (Linux offloads its RCU threads from nohz_full CPUs the same way).
        crate::sched::set_affinity(&t, 1);
    });
}

/// The RCU thread: waits for callbacks, takes them all, runs a grace period, invokes them.
extern "C" fn rcu_thread() -> ! {
    crate::sched::kernel_thread_prologue();
    let mut batch: Vec<Callback> = Vec::new();
    loop {
        THREAD_WAITING.store(true, Ordering::SeqCst);
        WORK.wait_until(|| total_queued() > 0, || false);
        THREAD_WAITING.store(false, Ordering::SeqCst);
        for cpu in 0..MAX_CPUS {
            if QUEUED_COUNT[cpu].load(Ordering::Relaxed) == 0 {
                continue;
            }
            interrupts::without_interrupts(|| {
                let mut q = QUEUED[cpu].lock();
                batch.append(&mut q);
                QUEUED_COUNT[cpu].store(0, Ordering::SeqCst);
            });
        }
        gp::run_grace_period();
        let n = batch.len() as u64;
        for cb in batch.drain(..) {
            cb();
        }
        // Callbacks may have let the last reference of a task go (its stack waits for this).
        crate::mm::stack::free_deferred();
        INVOKED.fetch_add(n, Ordering::SeqCst);
    }
}

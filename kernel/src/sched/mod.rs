//! The scheduler: one round-robin run queue, blocking on wait queues, timed sleep, and
//! preemption of user code by the timer through the NEED_RESCHED exit work.
//!
//! One CPU runs today; the queue and `current` are already per-CPU-shaped so SMP adds queues,
//! not a redesign. Kernel code is not preempted: a kernel task gives up the CPU only by
//! blocking, yielding or returning to user mode.

mod waitqueue;

pub use waitqueue::WaitQueue;

use crate::percpu::this_cpu;
use crate::task::{Task, TaskRef, TaskState};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use kentry::exit_work::ExitWork;
use kentry::msr;
use spin::Mutex;
use x86_64::instructions::interrupts;
use x86_64::registers::model_specific::Msr;

/// Ticks (1 ms) a task runs before another runnable task gets the CPU.
const TIME_SLICE: u32 = 4;

struct RunQueue {
    queue: VecDeque<TaskRef>,
    idle: Option<TaskRef>,
    /// The running task (keeps it alive while `percpu.current` points at it).
    current: Option<TaskRef>,
    /// A task that died and switched away: freed by whoever runs next.
    dead: Option<TaskRef>,
    /// Sleepers: (wake-up tick, task).
    sleepers: Vec<(u64, TaskRef)>,
}

static RQ: Mutex<RunQueue> = Mutex::new(RunQueue {
    queue: VecDeque::new(),
    idle: None,
    current: None,
    dead: None,
    sleepers: Vec::new(),
});

/// Timer ticks since boot (1 ms each): the boot CPU's, which keeps time.
pub fn ticks() -> u64 {
    crate::percpu::cpu_area(0)
        .counters
        .timer_ticks
        .load(Ordering::Relaxed)
}

/// Makes `t` runnable.
pub fn wake(t: &TaskRef) {
    interrupts::without_interrupts(|| {
        let mut rq = RQ.lock();
        if t.state() == TaskState::Blocked {
            t.set_state(TaskState::Runnable);
            rq.queue.push_back(t.clone());
        }
    });
}

/// Adds a new task to the run queue.
pub fn spawn(t: TaskRef) {
    interrupts::without_interrupts(|| RQ.lock().queue.push_back(t));
}

/// Timer tick (interrupts off): wakes sleepers, and asks the running task to reschedule when
/// its slice is used up and someone else is waiting.
pub fn tick(now: u64) {
    crate::time::tick(now);
    let mut rq = RQ.lock();
    let mut i = 0;
    while i < rq.sleepers.len() {
        if rq.sleepers[i].0 <= now {
            let (_, t) = rq.sleepers.swap_remove(i);
            if t.state() == TaskState::Blocked {
                t.set_state(TaskState::Runnable);
                rq.queue.push_back(t);
            }
        } else {
            i += 1;
        }
    }
    let cur = crate::task::current();
    let left = cur.slice.load(Ordering::Relaxed).saturating_sub(1);
    cur.slice.store(left, Ordering::Relaxed);
    if left == 0 && !rq.queue.is_empty() {
        this_cpu().entry.raise_work(ExitWork::NEED_RESCHED.bits());
    }
}

/// Arranges for the running task to be woken at `deadline` (ticks) if it is blocked then.
pub fn add_timeout(deadline: u64) {
    interrupts::without_interrupts(|| {
        let mut rq = RQ.lock();
        let cur = rq.current.clone().expect("no current task");
        rq.sleepers.push((deadline, cur));
    });
}

/// Blocks the running task until `deadline` (in ticks).
pub fn sleep_until(deadline: u64) {
    interrupts::disable();
    {
        let mut rq = RQ.lock();
        let cur = rq.current.clone().expect("no current task");
        cur.set_state(TaskState::Blocked);
        rq.sleepers.push((deadline, cur));
    }
    schedule();
}

/// Gives the CPU to the next runnable task, if any; returns when this task runs again.
/// Interrupts are restored as they were.
pub fn schedule() {
    let was_enabled = interrupts::are_enabled();
    interrupts::disable();
    let (prev, next) = {
        let mut rq = RQ.lock();
        let prev = rq.current.clone().expect("schedule before the first task");
        let next = loop {
            match rq.queue.pop_front() {
                Some(t) if t.state() == TaskState::Runnable => break t,
                Some(_) => continue,
                None if prev.state() == TaskState::Runnable => break prev.clone(),
                None => break rq.idle.clone().expect("no idle task"),
            }
        };
        if Arc::ptr_eq(&prev, &next) {
            prev.slice.store(TIME_SLICE, Ordering::Relaxed);
            this_cpu()
                .entry
                .task_work
                .fetch_and(!ExitWork::NEED_RESCHED.bits(), Ordering::Relaxed);
            drop(rq);
            if was_enabled {
                interrupts::enable();
            }
            return;
        }
        let is_idle = rq.idle.as_ref().is_some_and(|i| Arc::ptr_eq(i, &prev));
        match prev.state() {
            TaskState::Runnable if !is_idle && !rq.queue.iter().any(|t| Arc::ptr_eq(t, &prev)) => {
                rq.queue.push_back(prev.clone())
            }
            TaskState::Dead => rq.dead = Some(prev.clone()),
            _ => {}
        }
        rq.current = Some(next.clone());
        (prev, next)
    };
    if prev.state() == TaskState::Dead {
        // A dead task's frame never resumes, so it must not own references: `dead` keeps
        // prev and `current` keeps next alive until the next task reaps prev.
        let (p, n) = (Arc::as_ptr(&prev), Arc::as_ptr(&next));
        drop(prev);
        drop(next);
        // SAFETY: as below; both tasks are kept alive by the run queue as just said.
        unsafe { switch_to(&*p, &*n) };
        unreachable!("a dead task was switched back in");
    }
    // SAFETY: interrupts are off; prev is the running task and next is off-CPU, kept alive
    // by the run queue's `current`; prev is kept alive by the queue, a wait queue, or `dead`.
    unsafe { switch_to(&prev, &next) };
    // Running as `prev` again. Drop this frame's references first: the task reaped below
    // may be `next`, and its last reference must be the one `dead` holds.
    drop(next);
    drop(prev);
    finish_switch();
    if was_enabled {
        interrupts::enable();
    }
}

/// After a switch: free the task that died to get here.
fn finish_switch() {
    let dead = RQ.lock().dead.take();
    if let Some(t) = dead {
        crate::process::reap_task(t);
    }
}

/// Saves `prev`'s CPU state, loads `next`'s, and switches stacks.
///
/// # Safety
/// Interrupts off; `prev` is the running task; `next` is off-CPU and will stay alive.
unsafe fn switch_to(prev: &Task, next: &Task) {
    let cpu = this_cpu();
    // SAFETY: per the contract, prev is current (its own state) and next is off-CPU.
    unsafe {
        let p = prev.inner();
        let n = next.inner();
        if prev.is_user() {
            p.fpu.save();
            p.selectors = crate::task::segments::Selectors::read();
            p.fs_base = Msr::new(msr::IA32_FS_BASE).read();
            p.gs_base = Msr::new(msr::IA32_KERNEL_GS_BASE).read();
        }
        next.slice.store(TIME_SLICE, Ordering::Relaxed);
        let cr3 = next.process.cr3.load(Ordering::Acquire);
        if x86_64::registers::control::Cr3::read_raw()
            .0
            .start_address()
            .as_u64()
            != cr3
        {
            core::arch::asm!("mov cr3, {}", in(reg) cr3, options(nostack, preserves_flags));
        }
        if next.is_user() {
            n.fpu.restore();
            if crate::task::segments::Selectors::read() != n.selectors {
                n.selectors.load();
            }
            Msr::new(msr::IA32_FS_BASE).write(n.fs_base);
            // While in the kernel, the user's GS base waits in KERNEL_GS_BASE for swapgs.
            Msr::new(msr::IA32_KERNEL_GS_BASE).write(n.gs_base);
        }
        *cpu.current.get() = next as *const Task as *mut Task;
        // kentry moves TSS.RSP0, its per-CPU stack top and the work word to `next`, then
        // switches stacks.
        kentry::task::switch_to(&cpu.entry, &prev.entry, &next.entry);
    }
}

/// The idle task: halts until an interrupt, then looks for work.
extern "C" fn idle_loop() -> ! {
    finish_switch();
    loop {
        interrupts::enable_and_hlt();
        schedule();
    }
}

/// A kernel thread's first instructions: finish the switch that started it, enable
/// interrupts, run its body.
pub fn kernel_thread_prologue() {
    finish_switch();
    interrupts::enable();
}

/// Starts scheduling on this CPU: makes `first` current and jumps into it; the boot stack is
/// abandoned. Never returns.
pub fn start(first: TaskRef, idle: TaskRef) -> ! {
    interrupts::disable();
    {
        let mut rq = RQ.lock();
        rq.idle = Some(idle);
        rq.current = Some(first.clone());
    }
    let cpu = this_cpu();
    // SAFETY: interrupts off; first is kept alive by `current` and has never run (its stack
    // holds the start made by Task::new_kernel).
    unsafe {
        *cpu.current.get() = Arc::as_ptr(&first) as *mut Task;
        kentry::task::start_first(&cpu.entry, &first.entry)
    }
}

/// The idle task for this CPU.
pub fn new_idle() -> TaskRef {
    Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "idle task stack",
        idle_loop,
    )
}

/// The running task's reference (for putting it on queues).
pub fn current_ref() -> TaskRef {
    interrupts::without_interrupts(|| RQ.lock().current.clone().expect("no current task"))
}

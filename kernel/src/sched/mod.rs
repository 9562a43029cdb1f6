//! The scheduler: a round-robin run queue per CPU, blocking on wait queues, timed sleep,
//! preemption of user code by the timer and by reschedule IPIs through the NEED_RESCHED exit
//! work, and load balancing: a woken or new task goes to the least loaded CPU it may use,
//! and a CPU about to idle pulls a queued task from another.
//!
//! Kernel code is preempted only inside preemptible regions (preempt.rs, docs/preemption.md):
//! there an interrupt's return or a preempt count dropping to 0 calls [`schedule_preempted`].
//! Elsewhere a kernel task gives up its CPU only by blocking, yielding or returning to user
//! mode. `schedule` with a lock or an RCU reader held is a bug, checked (scheduling while
//! atomic).
//!
//! Locks: each run queue has its own, taken with IRQs off and never two at once; a task's
//! `pi_lock` may be held while a run queue lock is taken, never the reverse. A task is
//! switched to only once the CPU that ran it before has left its stack (`on_cpu`, cleared
//! after the switch by the next task there).
//!
//! The wake-up protocol (Linux's `try_to_wake_up`, simplified): a task blocking sets
//! `Blocked` itself, still `on_rq`; `schedule` takes it off (`on_rq` = false) under its
//! `pi_lock` if it is still blocked then. A waker, under the same lock, makes it runnable
//! and queues it only if it was off; if it was still on, the task simply keeps running.

pub mod cputime;
mod task_sched;
mod waitqueue;

pub use task_sched::{TaskSched, UninterruptibleSleep, raise_work_on};
pub use waitqueue::WaitQueue;

use crate::percpu::{MAX_CPUS, this_cpu};
use crate::smp;
use crate::sync::Mutex;
use crate::task::{Task, TaskRef, TaskState};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use kentry::exit_work::ExitWork;
use kentry::msr;
use x86_64::instructions::interrupts;
use x86_64::registers::model_specific::Msr;

/// Ticks (1 ms) a task runs before another runnable task gets the CPU.
const TIME_SLICE: u32 = 4;

struct RunQueue {
    queue: VecDeque<TaskRef>,
    idle: Option<TaskRef>,
    /// The running task (keeps it alive while `percpu.current` points at it).
    current: Option<TaskRef>,
    /// A task that died and switched away: freed by whoever runs next here.
    dead: Option<TaskRef>,
    /// A runnable task that switched away from a CPU it may no longer use: queued elsewhere
    /// by whoever runs next here, once its stack is free.
    migrate: Option<TaskRef>,
}

static RQS: [Mutex<RunQueue>; MAX_CPUS] = [const {
    Mutex::new(RunQueue {
        queue: VecDeque::new(),
        idle: None,
        current: None,
        dead: None,
        migrate: None,
    })
}; MAX_CPUS];

/// Per CPU: queued tasks plus one if a task other than idle runs (for placement, read
/// without the lock).
static LOAD: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Per CPU: the task it switched away from, whose `on_cpu` the next task clears.
static SWITCHED_FROM: [AtomicPtr<Task>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];

/// Sleepers: (wake-up tick, task), woken by the boot CPU's tick.
static SLEEPERS: Mutex<Vec<(u64, TaskRef)>> = Mutex::new(Vec::new());

/// Timer ticks since boot (1 ms each): the boot CPU's, which keeps time.
pub fn ticks() -> u64 {
    crate::percpu::cpu_area(0)
        .counters
        .timer_ticks
        .load(Ordering::Relaxed)
}

fn me() -> usize {
    smp::this_cpu_id()
}

fn is_idle_task(rq: &RunQueue, t: &TaskRef) -> bool {
    rq.idle.as_ref().is_some_and(|i| Arc::ptr_eq(i, t))
}

fn set_load(cpu: usize, rq: &RunQueue) {
    let running = rq
        .current
        .as_ref()
        .is_some_and(|c| !is_idle_task(rq, c) && c.state() != TaskState::Dead);
    let load = rq.queue.len() as u32 + running as u32;
    // Written under the run queue's lock: a plain load and store.
    if LOAD[cpu].load(Ordering::Relaxed) != load {
        LOAD[cpu].store(load, Ordering::Relaxed);
        // An input of the nohz_full tick decision changed (a no-op elsewhere).
        crate::nohz::request_tick_recheck(cpu);
    }
}

/// Whether CPU `cpu` runs exactly one task and has none queued (nohz_full's tick-stop
/// condition; read without the lock: an enqueue after the read sends the reschedule IPI).
pub fn single_task_running(cpu: usize) -> bool {
    LOAD[cpu].load(Ordering::Relaxed) == 1
}

/// nohz_full CPUs already running a task: placement leaves them alone while another CPU
/// will do, so that their one task keeps the CPU and its tick stays stopped.
fn busy_nohz_cpus() -> u64 {
    let mut busy = 0;
    let mut full = crate::nohz::full_mask();
    while full != 0 {
        let cpu = full.trailing_zeros() as usize;
        full &= full - 1;
        if LOAD[cpu].load(Ordering::Relaxed) != 0 {
            busy |= 1 << cpu;
        }
    }
    busy
}

/// The least loaded online CPU in `allowed` (ties: `prefer`, then the lowest number); never a
/// nohz_full CPU that runs a task unless `allowed` leaves no other.
fn select_cpu(allowed: u64, prefer: usize) -> usize {
    let mut usable = allowed & smp::online_mask();
    if usable == 0 {
        return 0;
    }
    if crate::nohz::enabled() {
        let spared = usable & !busy_nohz_cpus();
        if spared != 0 {
            usable = spared;
        }
    }
    let mut best = None::<(u32, usize)>;
    for cpu in (0..MAX_CPUS).filter(|c| usable & (1 << c) != 0) {
        let load = LOAD[cpu].load(Ordering::Relaxed) * 2 + (cpu != prefer) as u32;
        if best.is_none_or(|(l, _)| load < l) {
            best = Some((load, cpu));
        }
    }
    best.map_or(0, |(_, c)| c)
}

/// Queues runnable `t` (on_rq already set by the caller) on a CPU it may use, and kicks that
/// CPU if it is another one. IRQs off.
fn enqueue(t: TaskRef) {
    let prefer = t.sched.cpu.load(Ordering::Relaxed) as usize;
    let cpu = select_cpu(t.sched.allowed.load(Ordering::Relaxed), prefer);
    t.sched.cpu.store(cpu as u32, Ordering::Relaxed);
    {
        let mut rq = RQS[cpu].lock();
        rq.queue.push_back(t);
        set_load(cpu, &rq);
    }
    if cpu != me() {
        smp::ipi::send_reschedule(cpu);
    }
}

/// Makes `t` runnable if it is blocked.
pub fn wake(t: &TaskRef) {
    interrupts::without_interrupts(|| {
        let _pi = t.sched.pi_lock.lock();
        // Not a check and a store: the task itself may change its state meanwhile (wake_state).
        if !t.wake_state() {
            return;
        }
        if t.sched.on_rq.load(Ordering::Acquire) {
            // Still on its CPU (it has not reached `schedule`): it keeps running.
            return;
        }
        // Off its run queue, but its CPU may still be switching away from it: queue it once
        // that CPU has left its stack (it holds no lock this CPU holds meanwhile). The spin
        // is bounded by the rest of that switch, which runs with IRQs off and waits for no
        // other CPU, so spinning here with IRQs off is safe (Linux's try_to_wake_up does
        // the same on `p->on_cpu`).
        while t.sched.on_cpu.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        t.sched.on_rq.store(true, Ordering::Release);
        enqueue(t.clone());
    });
}

/// Adds a new task to a run queue.
pub fn spawn(t: TaskRef) {
    // A new task inherits its creator's CPU mask (kernel threads: every CPU).
    let cur = crate::percpu::current_task_ptr();
    if !cur.is_null() {
        // SAFETY: the running task is alive while it runs.
        let mask = unsafe { (*cur).sched.allowed.load(Ordering::Relaxed) };
        t.sched.allowed.store(mask, Ordering::Relaxed);
    }
    t.sched.on_rq.store(true, Ordering::Release);
    interrupts::without_interrupts(|| enqueue(t));
}

/// Timer tick (interrupts off): on the boot CPU, time and sleepers; on every CPU, CPU-time
/// sampling (`user_mode`: the tick interrupted user code) and a reschedule of the running
/// task when its slice is used up and someone else is waiting. The boot CPU is never
/// nohz_full, so the global tick count and the timers never wait for a stopped tick.
pub fn tick(now: u64, user_mode: bool) {
    let cpu = me();
    if cpu == 0 {
        crate::time::tick(now);
        let due: Vec<TaskRef> = {
            let mut s = SLEEPERS.lock();
            let mut due = Vec::new();
            let mut i = 0;
            while i < s.len() {
                if s[i].0 <= now {
                    due.push(s.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
            due
        };
        for t in &due {
            wake(t);
        }
    }
    let cur = crate::task::current();
    if crate::nohz::tick_accounts(cpu) {
        cputime::account_tick(cpu, cur, user_mode);
    } else {
        crate::nohz::vtime::tick(cpu, cur);
        // A running tick re-decides whether it may stop (the backstop of the decision).
        crate::nohz::request_tick_recheck(cpu);
    }
    let left = cur.slice.load(Ordering::Relaxed).saturating_sub(1);
    cur.slice.store(left, Ordering::Relaxed);
    if left == 0 && LOAD[cpu].load(Ordering::Relaxed) > 1 {
        this_cpu().entry.raise_work(ExitWork::NEED_RESCHED.bits());
    }
}

/// Arranges for the running task to be woken at `deadline` (ticks) if it is blocked then.
pub fn add_timeout(deadline: u64) {
    let cur = current_ref();
    interrupts::without_interrupts(|| SLEEPERS.lock().push((deadline, cur)));
}

/// Blocks the running task until `deadline` (in ticks). Interrupts come back as they were
/// (the state is set and the sleeper queued with them off, so the tick cannot wake the task
/// before it is queued).
pub fn sleep_until(deadline: u64) {
    let was_enabled = interrupts::are_enabled();
    interrupts::disable();
    let cur = current_ref();
    cur.set_state(TaskState::Blocked);
    SLEEPERS.lock().push((deadline, cur));
    schedule();
    if was_enabled {
        interrupts::enable();
    }
}

/// Takes a queued task another CPU could give away to `cpu`: one it may run, not the
/// other's current. IRQs off; takes each other queue's lock in turn.
fn pull(cpu: usize) -> Option<TaskRef> {
    for other in (0..MAX_CPUS).filter(|&c| c != cpu && smp::is_online(c)) {
        if LOAD[other].load(Ordering::Relaxed) < 2 {
            continue;
        }
        let mut rq = RQS[other].lock();
        let found = rq.queue.iter().position(|t| {
            // Not one whose CPU is still leaving its stack: nobody waits for that.
            t.sched.allowed.load(Ordering::Relaxed) & (1 << cpu) != 0
                && t.state() == TaskState::Runnable
                && !t.sched.on_cpu.load(Ordering::Acquire)
        });
        if let Some(i) = found {
            let t = rq.queue.remove(i);
            set_load(other, &rq);
            return t;
        }
    }
    None
}

/// Gives the CPU to the next runnable task, if any; returns when this task runs again
/// (possibly on another CPU). Interrupts are restored as they were.
pub fn schedule() {
    crate::preempt::check_schedule();
    schedule_inner(false);
}

/// A preemption (preempt.rs, count raised from 0 to 1 by the caller): like [`schedule`], but
/// the task stays runnable whatever state it had set — it may have been preempted between
/// marking itself blocked and calling `schedule`, and taking it off its queue then would lose
/// the wake-up it is about to wait for (Linux's `SM_PREEMPT`).
pub fn schedule_preempted() {
    crate::preempt::check_schedule();
    schedule_inner(true);
}

fn schedule_inner(preempted: bool) {
    // No RCU read-side section may span a switch (checked); the switch is a QS.
    crate::rcu::note_context_switch();
    let was_enabled = interrupts::are_enabled();
    interrupts::disable();
    let cpu = me();
    let prev = current_ref();
    // Off the run queue if still blocked (or dead): from now on a waker queues it anew.
    let prev_stays = {
        let _pi = prev.sched.pi_lock.lock();
        let stays = prev.state() == TaskState::Runnable
            || (preempted && prev.state() == TaskState::Blocked);
        if !stays {
            prev.sched.on_rq.store(false, Ordering::Release);
        }
        stays
    };
    let prev_allowed_here = prev.sched.allowed.load(Ordering::Relaxed) & (1 << cpu) != 0;
    let mut rq = RQS[cpu].lock();
    let prev_is_idle = is_idle_task(&rq, &prev);
    let mut next = rq.queue.pop_front();
    if next.is_none() && !(prev_stays && prev_allowed_here) {
        drop(rq);
        next = pull(cpu);
        rq = RQS[cpu].lock();
    }
    let next = match next {
        Some(t) => t,
        None if prev_stays && (prev_allowed_here || prev_is_idle) => prev.clone(),
        None => rq.idle.clone().expect("no idle task"),
    };
    if !Arc::ptr_eq(&prev, &next) && !prev_is_idle {
        // Counted by the task itself (only it runs `schedule` for itself): plain RMWs.
        let c = if prev_stays {
            &prev.sched.nivcsw
        } else {
            &prev.sched.nvcsw
        };
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
    if Arc::ptr_eq(&prev, &next) {
        prev.slice.store(TIME_SLICE, Ordering::Relaxed);
        this_cpu().entry.clear_work(ExitWork::NEED_RESCHED.bits());
        set_load(cpu, &rq);
        drop(rq);
        if was_enabled {
            interrupts::enable();
        }
        return;
    }
    if prev_stays && !prev_is_idle {
        if prev_allowed_here {
            rq.queue.push_back(prev.clone());
        } else {
            // sched_setaffinity took this CPU away: queued where it may run after the switch.
            rq.migrate = Some(prev.clone());
        }
    }
    if prev.state() == TaskState::Dead {
        rq.dead = Some(prev.clone());
    }
    rq.current = Some(next.clone());
    set_load(cpu, &rq);
    drop(rq);
    crate::nohz::task_switch(&prev, &next);
    // Queued tasks are off every CPU, but for a CPU's own previous task, which nobody else
    // takes (pull skips it): this never waits long.
    while next.sched.on_cpu.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    next.sched.cpu.store(cpu as u32, Ordering::SeqCst);
    next.sched.on_cpu.store(true, Ordering::SeqCst);
    task_sched::take_remote_work(&next, false);
    SWITCHED_FROM[cpu].store(Arc::as_ptr(&prev) as *mut Task, Ordering::Relaxed);
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
    // SAFETY: interrupts are off; prev is the running task and next is off-CPU (its last
    // CPU left its stack: on_cpu was clear), kept alive by the run queue's `current`; prev
    // is kept alive by a queue, a wait queue, or `dead`.
    unsafe { switch_to(&prev, &next) };
    // Running as `prev` again, maybe on another CPU. Drop this frame's references first: the
    // task reaped below may be `next`, and its last reference must be the one `dead` holds.
    drop(next);
    drop(prev);
    finish_switch();
    if was_enabled {
        interrupts::enable();
    }
}

/// After a switch, on the task switched to (IRQs off): the task switched away from is off
/// this CPU now, and the one that died to get here is freed.
pub fn finish_switch() {
    let cpu = me();
    let from = SWITCHED_FROM[cpu].swap(core::ptr::null_mut(), Ordering::Relaxed);
    if !from.is_null() {
        // SAFETY: the task switched away from is kept alive by a queue, a wait queue or
        // `dead` (reaped just below, after this store).
        unsafe { (*from).sched.on_cpu.store(false, Ordering::Release) };
    }
    let (dead, migrate) = {
        let mut rq = RQS[cpu].lock();
        (rq.dead.take(), rq.migrate.take())
    };
    if let Some(t) = migrate {
        enqueue(t);
    }
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
        // The preempt count is per task (preempt.rs).
        prev.sched
            .preempt_count
            .store(crate::preempt::count(), Ordering::Relaxed);
        crate::preempt::set_count(next.sched.preempt_count.load(Ordering::Relaxed));
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
            crate::smp::tlb::note_root(cr3);
            core::arch::asm!("mov cr3, {}", in(reg) cr3, options(nostack, preserves_flags));
        }
        if next.is_user() {
            n.fpu.restore();
            // The TLS descriptors first: a selector naming one takes it when loaded, and a
            // selector whose descriptor changed must be loaded again even if it is equal.
            let tls_changed = crate::task::tls::load_tls(&n.tls);
            // The LDT likewise (task/ldt.rs), after CR3 and its root were noted above. A
            // selector naming the LDT is checked and loaded again at every switch-in: an
            // entry it names may have been cleared since it was loaded (Linux's switch
            // reloads it, and its fault fixup leaves null).
            let (ldt, ldt_changed) = crate::task::ldt::switch_mm_ldt(&next.process);
            if tls_changed
                || ldt_changed
                || n.selectors.0.iter().any(|&s| s & 4 != 0)
                || crate::task::segments::Selectors::read() != n.selectors
            {
                n.selectors = n.selectors.fit(&n.tls, ldt);
                n.selectors.load();
            }
            Msr::new(msr::IA32_FS_BASE).write(n.fs_base);
            // While in the kernel, the user's GS base waits in KERNEL_GS_BASE for swapgs.
            Msr::new(msr::IA32_KERNEL_GS_BASE).write(n.gs_base);
        }
        // Debug registers: only when `next` has breakpoints or the CPU holds the last
        // task's (x86/debugreg.rs).
        crate::x86::debugreg::switch_to(next);
        *cpu.current.get() = next as *const Task as *mut Task;
        // kentry moves TSS.RSP0, its per-CPU stack top and the work word to `next`, then
        // switches stacks.
        kentry::task::switch_to(&cpu.entry, &prev.entry, &next.entry);
    }
}

/// The idle task: halts until an interrupt, then looks for work. The halt is an RCU extended
/// quiescent state (rcu/idle.rs), entered and left with interrupts off.
extern "C" fn idle_loop() -> ! {
    finish_switch();
    loop {
        interrupts::disable();
        crate::rcu::idle_enter();
        interrupts::enable_and_hlt();
        interrupts::disable();
        crate::rcu::idle_exit();
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
    let cpu = me();
    for t in [&first, &idle] {
        t.sched.cpu.store(cpu as u32, Ordering::Relaxed);
        t.sched.allowed.store(1 << cpu, Ordering::Relaxed);
    }
    first.sched.on_cpu.store(true, Ordering::Relaxed);
    // The boot CPU's first task is the kernel's main thread, free to move; idle stays.
    if !Arc::ptr_eq(&first, &idle) {
        first.sched.allowed.store(u64::MAX, Ordering::Relaxed);
    }
    {
        cputime::set_idle_task(cpu, &idle);
        crate::nohz::cpu_start(cpu, &first);
        let mut rq = RQS[cpu].lock();
        rq.idle = Some(idle);
        rq.current = Some(first.clone());
        set_load(cpu, &rq);
    }
    let area = this_cpu();
    // SAFETY: interrupts off; first is kept alive by `current` and has never run (its stack
    // holds the start made by Task::new_kernel).
    unsafe {
        *area.current.get() = Arc::as_ptr(&first) as *mut Task;
        kentry::task::start_first(&area.entry, &first.entry)
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
    interrupts::without_interrupts(|| RQS[me()].lock().current.clone().expect("no current task"))
}

/// The reschedule IPI's work (IRQs off): exit work other CPUs raised on the running task,
/// and a reschedule on the way out (a task was queued here, or the running one must move).
pub fn reschedule_ipi() {
    let cur = crate::percpu::current_task_ptr();
    if !cur.is_null() {
        // SAFETY: this CPU's running task, alive while it runs.
        task_sched::take_remote_work(unsafe { &*cur }, true);
    }
    this_cpu().entry.raise_work(ExitWork::NEED_RESCHED.bits());
}

/// Restricts `t` to the CPUs in `mask` (already checked to hold an online CPU); if it runs
/// on a CPU it may no longer use, that CPU reschedules, which moves it.
pub fn set_affinity(t: &Task, mask: u64) {
    t.sched.allowed.store(mask, Ordering::SeqCst);
    let cpu = t.sched.cpu.load(Ordering::SeqCst) as usize;
    if t.sched.on_cpu.load(Ordering::SeqCst) && mask & (1 << cpu) == 0 {
        if cpu == me() {
            this_cpu().entry.raise_work(ExitWork::NEED_RESCHED.bits());
        } else {
            smp::ipi::send_reschedule(cpu);
        }
    }
}

/// Restricts the running task to the CPUs in `mask` and moves it onto one of them now (a
/// kernel task never returns to user mode, where a move would otherwise happen); returns the
/// mask it had. Tasks it spawns inherit the new mask.
pub fn pin_current(mask: u64) -> u64 {
    let cur = current_ref();
    let old = cur.sched.allowed.load(Ordering::Relaxed);
    set_affinity(&cur, mask);
    drop(cur);
    while mask & (1 << me()) == 0 {
        schedule();
    }
    old
}

//! Tasks (threads): a kernel stack, a saved context, user register state that lives outside
//! the frame (FS/GS bases, FPU/SSE), and the process they belong to.
//!
//! A task's mutable state is touched only by the task itself while it runs, or by the
//! scheduler with interrupts off while it does not; other tasks and interrupt handlers use
//! the atomics.

pub mod fpu;
pub mod ldt;
pub mod segments;
pub mod tls;
pub mod xstate;

use crate::mm::stack::{KernelStack, alloc_stack};
use crate::process::Process;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use kentry::Regs;
use kentry::task::TaskEntry;

/// How a process ended, as a shell would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    Exited(i32),
    Signaled(u8),
}

impl ExitReason {
    /// The status a shell shows: the exit code, or 128 + signal.
    pub fn shell_status(self) -> i32 {
        match self {
            ExitReason::Exited(c) => c & 0xff,
            ExitReason::Signaled(s) => 128 + s as i32,
        }
    }

    /// The status word wait4() reports.
    pub fn wait_status(self) -> i32 {
        match self {
            ExitReason::Exited(c) => (c & 0xff) << 8,
            ExitReason::Signaled(s) => s as i32 & 0x7f,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskState {
    Runnable = 0,
    Blocked = 1,
    Dead = 2,
}

/// State only the task itself (or the scheduler, with the task off-CPU) touches.
pub struct TaskInner {
    pub fs_base: u64,
    pub gs_base: u64,
    /// The user's DS, ES, FS and GS selectors (the kernel never uses them, but they are the
    /// task's: another task must not see them).
    pub selectors: segments::Selectors,
    /// The GDT TLS descriptors of set_thread_area (tls.rs), installed at every switch-in.
    pub tls: [u64; tls::TLS_ENTRIES],
    pub fpu: fpu::FpuState,
    /// CLONE_CHILD_CLEARTID / set_tid_address: zeroed and futex-woken at exit.
    pub clear_child_tid: u64,
    /// Blocked signals (bit n-1 for signal n).
    pub sigmask: u64,
    /// sigaltstack: (base, size, flags).
    pub altstack: (u64, u64, i32),
    /// rt_sigsuspend's caller mask, restored when its signal has been handled.
    pub saved_sigmask: Option<u64>,
    pub signals: crate::signal::ThreadSignals,
    /// Set when the thread is to end at its exit work with this reason (seccomp's thread
    /// kills; `process::end_thread_at_exit_work`).
    pub pending_exit: Option<ExitReason>,
    /// What `restart_syscall` carries on with: an interrupted sleep's end (syscall/sleep.rs).
    pub restart_block: Option<crate::syscall::sleep::RestartBlock>,
}

pub struct Task {
    pub tid: u32,
    pub process: Arc<Process>,
    pub kstack: KernelStack,
    pub state: AtomicU8,
    /// kentry's part: the saved stack pointer, the kernel stack top (TSS.RSP0 while the task
    /// runs) and the exit-work flags while the task is off-CPU (the running task's live in
    /// the per-CPU entry area, where the exit path reads them with one GS-relative load).
    pub entry: TaskEntry,
    /// Signals sent to this thread, with their siginfos (signal/queue.rs).
    pub sig_pending: crate::signal::SigPending,
    /// Ticks left in the time slice.
    pub slice: AtomicU32,
    /// Scheduler state (sched/mod.rs): which CPUs may run it, where it runs or is queued,
    /// whether a run queue holds it, whether a CPU still runs on its stack, and exit work
    /// raised by other CPUs, moved into its own word where it runs.
    pub sched: crate::sched::TaskSched,
    /// The thread's seccomp mode and filters (syscall/seccomp/mod.rs), under a lock: another
    /// thread's TSYNC sets them.
    pub seccomp: crate::syscall::seccomp::ThreadSeccomp,
    /// The thread's debug registers (x86/debugreg.rs): a tracer writes them while the thread
    /// is stopped, so they are a lock and atomics, not `inner`'s.
    pub debugreg: crate::x86::debugreg::TaskDebugRegs,
    /// Its tracer's side, if it is traced (ptrace/).
    pub ptrace: crate::ptrace::TaskPtrace,
    /// Its part in its process's group stop (signal/jobctl.rs).
    pub jobctl: crate::signal::jobctl::TaskJobCtl,
    /// The signals it blocks, as senders see them (Linux's `blocked | real_blocked` in
    /// `sig_ignored`): a blocked signal is never discarded as ignored when sent, since the
    /// thread may take it later (sigtimedwait, signalfd, a new action). Written by the
    /// thread itself at each change of its mask (`signal::publish_blocked`), by a tracer while
    /// it is stopped, and at its creation; `TaskInner::sigmask` is its own working copy.
    pub blocked_seen: core::sync::atomic::AtomicU64,
    /// Its numbers in the PID namespaces below the root (process/pid_ns.rs), set once before
    /// it first runs; empty for a task of the root namespace.
    pub ns_tids: spin::Once<Arc<crate::process::pid_ns::NsPids>>,
    inner: UnsafeCell<TaskInner>,
}

// SAFETY: `inner` is only accessed by the task itself or by the scheduler while the task is
// off-CPU with interrupts off (see the module comment); everything else is atomic or
// immutable.
unsafe impl Sync for Task {}
// SAFETY: as above; a task moves between CPUs only through the scheduler.
unsafe impl Send for Task {}

pub type TaskRef = Arc<Task>;

/// A task's kernel stack is freed with its last reference, wherever that goes: queued for
/// `stack::free_deferred`, which the scheduler's reaping and the RCU thread run.
impl Drop for Task {
    fn drop(&mut self) {
        crate::mm::stack::free_later(self.kstack);
    }
}

const TASK_STACK_PAGES: u64 = 4;

impl Task {
    fn new(tid: u32, process: Arc<Process>, kstack: KernelStack, entry: TaskEntry) -> TaskRef {
        Arc::new(Task {
            tid,
            process,
            kstack,
            state: AtomicU8::new(TaskState::Runnable as u8),
            entry,
            sig_pending: crate::signal::SigPending::new(),
            slice: AtomicU32::new(0),
            sched: crate::sched::TaskSched::new(),
            seccomp: crate::syscall::seccomp::ThreadSeccomp::new(),
            // Linux's copy_thread: a new thread starts without breakpoints.
            debugreg: crate::x86::debugreg::TaskDebugRegs::new(),
            ptrace: crate::ptrace::TaskPtrace::new(),
            jobctl: crate::signal::jobctl::TaskJobCtl::new(),
            blocked_seen: core::sync::atomic::AtomicU64::new(0),
            ns_tids: spin::Once::new(),
            inner: UnsafeCell::new(TaskInner {
                fs_base: 0,
                gs_base: 0,
                selectors: segments::Selectors::default(),
                tls: [0; tls::TLS_ENTRIES],
                fpu: fpu::FpuState::initial(),
                clear_child_tid: 0,
                sigmask: 0,
                altstack: (0, 0, 2), // SS_DISABLE
                saved_sigmask: None,
                signals: crate::signal::ThreadSignals::new(),
                pending_exit: None,
                restart_block: None,
            }),
        })
    }

    /// A task whose first switch-in returns to user mode with `regs` (kentry's fork frame).
    pub fn new_user(tid: u32, process: Arc<Process>, regs: &Regs) -> TaskRef {
        let kstack = alloc_stack(TASK_STACK_PAGES, "task stack");
        // SAFETY: a fresh, page-aligned stack of several pages that only this task will use.
        let entry = unsafe { TaskEntry::new_user(kstack.top, regs) };
        let t = Task::new(tid, process, kstack, entry);
        if regs.cs == kentry::gdt::USER32_CS as u64 {
            // An i386 program starts with DS = ES = __USER_DS, FS = GS = 0 (Linux's
            // start_thread_ia32): compat mode checks DS and ES, so null ones would fault.
            // SAFETY: `t` has never run; nothing else holds it.
            unsafe { t.inner() }.selectors = segments::Selectors::ia32_start();
        }
        t
    }

    /// A kernel thread that starts in `entry` (which must never return).
    pub fn new_kernel(
        tid: u32,
        process: Arc<Process>,
        name: &'static str,
        entry: extern "C" fn() -> !,
    ) -> TaskRef {
        let kstack = alloc_stack(8, name);
        // SAFETY: as in new_user.
        let task_entry = unsafe { TaskEntry::new_kernel(kstack.top, entry) };
        Task::new(tid, process, kstack, task_entry)
    }

    /// This task's own state.
    ///
    /// # Safety
    /// Only the running task for itself, or the scheduler for a task that is off-CPU with
    /// interrupts off, may call this; the reference must not outlive that.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn inner(&self) -> &mut TaskInner {
        // SAFETY: per the contract above, no other reference exists meanwhile.
        unsafe { &mut *self.inner.get() }
    }

    pub fn state(&self) -> TaskState {
        match self.state.load(Ordering::Acquire) {
            0 => TaskState::Runnable,
            1 => TaskState::Blocked,
            _ => TaskState::Dead,
        }
    }

    pub fn set_state(&self, s: TaskState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Blocked → Runnable in one atomic step (a wake-up); false when the task was not
    /// blocked. A check followed by a store would overwrite a change made in between: a task
    /// that marked itself blocked, found its condition true, went on and set itself Dead
    /// in its exit could be made Runnable again, and its final `schedule` would return.
    pub fn wake_state(&self) -> bool {
        self.state
            .compare_exchange(
                TaskState::Blocked as u8,
                TaskState::Runnable as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    pub fn is_user(&self) -> bool {
        self.process.pid != 0
    }
}

/// The running task.
pub fn current() -> &'static Task {
    // SAFETY: `current` is set before any task runs and only changed by this CPU's scheduler
    // with interrupts off; the task it points to is kept alive by the per-CPU `current_ref`.
    unsafe { &*crate::percpu::current_task_ptr() }
}

/// The running task's own state.
#[allow(clippy::mut_from_ref)]
pub fn current_inner() -> &'static mut TaskInner {
    // SAFETY: the running task is the only one touching its own inner state (interrupt
    // handlers do not).
    unsafe { current().inner() }
}

//! ptrace(2): one process (the tracer) stops, inspects and steers the threads of others
//! (tracees), as Linux does it on x86-64.
//!
//! **The link.** A traced thread's [`TaskPtrace`] names its tracer *process*; the tracer's
//! [`Process::ptraced`] lists its tracees, so its `wait4` finds their stops. (Linux links to
//! the tracer *thread* and refuses requests from its other threads with -ESRCH; kentry
//! accepts them from any thread of the tracer process, and detaches when that process ends.)
//!
//! **Stops.** A tracee stops only at points of its own choosing, always in the kernel on its
//! way between user mode and a syscall or its exit work, with its user frame at the top of
//! its kernel stack ([`stop`]): syscall entry and exit, signal delivery, a group stop,
//! fork/clone/exec/exit events, PTRACE_INTERRUPT. It publishes the stop under its lock
//! ([`PtraceState::stop`]), wakes the tracer and sleeps until the tracer resumes it or
//! SIGKILL arrives. While the stop is published and the tracee is off its CPU, the tracer
//! reads and writes the tracee's frame and its saved FS/GS/FPU state (`regs.rs`); the
//! tracee touches them again only after it has seen the resume under the same lock.
//!
//! **Resuming** sets what the tracee should do next (continue, stop at syscalls, emulate
//! them, single-step, detach, with a signal to deliver or not); the tracee applies it to its
//! own syscall-work flags and frame when it wakes, so no flag is ever changed on a running
//! task by another CPU (kentry's syscall work is cleared lazily by the task itself).

mod compat;
mod compat_regset;
mod regs;
mod request;
mod stop;

/// Adds ptrace(2) to the syscall table.
pub const fn register(mut t: crate::syscall::table::Table) -> crate::syscall::table::Table {
    t[kentry_abi::nr::PTRACE] = request::sys_ptrace;
    t
}
pub use compat::sys_ia32_ptrace;
#[cfg(feature = "test-hooks")]
pub use regs::BREAK_REG_CHECKS;
pub use stop::{
    EventStop, attach_child, event, exec_event, exit_event, for_tracer, fork_event, group_stop,
    interrupt_stop, report_syscall_entry, report_syscall_exit, seccomp_event, signal_stop,
};

use crate::process::Process;
use crate::sched::WaitQueue;
use crate::signal::{SIGKILL, SigInfo};
use crate::sync::Mutex;
use crate::task::{ExitReason, Task, TaskRef};
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, Ordering};
use kentry::syscall_work::SyscallWork;
pub use kentry_kernel_logic::ptrace::{event as ev, opt};

/// What a tracer asked the tracee to do when it resumed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeHow {
    Cont,
    Syscall,
    Sysemu,
    SingleStep,
    SysemuSingleStep,
    /// PTRACE_DETACH, or the tracer went away.
    Detach,
}

/// A resume: how, and the signal to deliver (0: none).
#[derive(Clone, Copy, Debug)]
pub struct Resume {
    pub how: ResumeHow,
    pub sig: u8,
}

/// A stop the tracee is in.
#[derive(Clone, Copy, Debug)]
pub struct Stop {
    /// What `wait` reports (Linux's `exit_code`): the signal, with an event in bits 8–15.
    pub code: u32,
    /// Whether a wait has reported it (each stop is reported once).
    pub reported: bool,
    /// A seized tracee's group stop (PTRACE_LISTEN is allowed in it).
    pub group: bool,
}

/// The tracer side of a traced thread, under [`TaskPtrace::state`].
pub struct PtraceState {
    /// The tracer process (None: not traced).
    tracer: Option<Weak<Process>>,
    pub options: u32,
    /// Attached with PTRACE_SEIZE (group stops and INTERRUPT report PTRACE_EVENT_STOP).
    pub seized: bool,
    /// The stop the tracee is in, published by the tracee.
    pub stop: Option<Stop>,
    /// How the tracer resumed it, taken by the tracee when it wakes.
    resume: Option<Resume>,
    /// The siginfo of the stop (GETSIGINFO/SETSIGINFO), if it has one; a signal-delivery stop
    /// delivers the tracer's edit of it.
    pub siginfo: Option<SigInfo>,
    /// PTRACE_GETEVENTMSG.
    pub event_msg: u64,
    /// The tracer's single-step set TF; the tracee's own TF was clear (hidden from it).
    pub forced_tf: bool,
    /// PTRACE_LISTEN: stays stopped, but a wait does not report it again.
    pub listening: bool,
    /// The tracee has ended with this reason and a wait of the tracer's has not reported it.
    pub exit: Option<ExitReason>,
}

/// A task's ptrace state.
pub struct TaskPtrace {
    pub state: Mutex<PtraceState>,
    /// The stopped tracee sleeps here.
    resume_wait: WaitQueue,
    /// Whether the task has a tracer: read without the lock by signal sends (an ignored
    /// signal is not discarded for a traced task: its tracer sees it).
    traced: AtomicBool,
    /// PTRACE_INTERRUPT asked for a stop (a blocking syscall sees it like a signal).
    interrupt: AtomicBool,
}

impl TaskPtrace {
    pub const fn new() -> Self {
        TaskPtrace {
            state: Mutex::new(PtraceState {
                tracer: None,
                options: 0,
                seized: false,
                stop: None,
                resume: None,
                siginfo: None,
                event_msg: 0,
                forced_tf: false,
                listening: false,
                exit: None,
            }),
            resume_wait: WaitQueue::new(),
            traced: AtomicBool::new(false),
            interrupt: AtomicBool::new(false),
        }
    }

    /// Whether the task has a tracer.
    pub fn is_traced(&self) -> bool {
        self.traced.load(Ordering::Acquire)
    }

    /// Whether PTRACE_INTERRUPT is pending for the task.
    pub fn interrupt_pending(&self) -> bool {
        self.interrupt.load(Ordering::Acquire)
    }
}

impl Default for TaskPtrace {
    fn default() -> Self {
        Self::new()
    }
}

impl PtraceState {
    /// The tracer process, if the task is traced and it is still there.
    pub fn tracer(&self) -> Option<Arc<Process>> {
        self.tracer.as_ref().and_then(Weak::upgrade)
    }

    /// Whether `p` is the tracer.
    pub fn traced_by(&self, p: &Process) -> bool {
        self.tracer()
            .is_some_and(|t| core::ptr::eq(Arc::as_ptr(&t), p))
    }
}

/// Makes `tracer` trace `t` (the caller has checked that it may). `seized`: PTRACE_SEIZE
/// with `options`.
fn link(t: &TaskRef, tracer: &Arc<Process>, seized: bool, options: u32) {
    {
        let mut st = t.ptrace.state.lock();
        st.tracer = Some(Arc::downgrade(tracer));
        st.seized = seized;
        st.options = options;
        st.exit = None;
        st.listening = false;
        st.forced_tf = false;
        t.ptrace.traced.store(true, Ordering::Release);
    }
    tracer.ptraced.lock().push(t.clone());
    // A thread stopped by job control re-traps into a tracing stop (Linux's ptrace_attach).
    crate::signal::jobctl::wake_stopped(&t.process);
}

/// SIGCONT reached seized tracee `t` (Linux's `ptrace_trap_notify`): it traps with
/// PTRACE_EVENT_STOP at its next exit work; one that its tracer LISTENs to traps at once.
pub fn trap_notify(t: &TaskRef) {
    let sig = crate::signal::jobctl::trap_signal(&t.process);
    let mut guard = t.ptrace.state.lock();
    let st = &mut *guard;
    if st.tracer.is_none() || !st.seized {
        return;
    }
    if st.listening
        && let Some(s) = st.stop.as_mut()
    {
        // It sleeps in its stop: the stop it is in becomes the new trap's (what its waking
        // and trapping again would report), for the tracer's wait to see once more.
        s.code = kentry_kernel_logic::ptrace::event_stop_code(sig as u32, ev::STOP);
        s.reported = false;
        s.group = true;
        st.listening = false;
        if let Some(i) = st.siginfo.as_mut() {
            i.signo = sig as i32;
            i.code = s.code as i32;
        }
        let tracer = st.tracer();
        drop(guard);
        if let Some(tr) = tracer {
            tr.child_wait.wake_all();
        }
        return;
    }
    drop(guard);
    t.ptrace.interrupt.store(true, Ordering::Release);
    crate::signal::kick_task(t);
}

/// Ends the link of `t` to its tracer, from the tracer's side (detach, or the tracer ending):
/// a stopped tracee is resumed with `resume` (it clears its own flags then); a running one
/// clears them at its next syscall stop, which finds no tracer.
fn unlink(t: &TaskRef, sig: u8) {
    {
        let mut st = t.ptrace.state.lock();
        st.tracer = None;
        st.listening = false;
        t.ptrace.traced.store(false, Ordering::Release);
        t.ptrace.interrupt.store(false, Ordering::Release);
        if st.stop.take().is_some() {
            st.resume = Some(Resume {
                how: ResumeHow::Detach,
                sig,
            });
        }
    }
    // A group stop in effect takes the thread back (Linux's __ptrace_unlink).
    crate::signal::jobctl::reinstate_stop(t);
    t.ptrace.resume_wait.wake_all();
}

/// The tracer has waited for ended tracee `t` (or let go of it): its process's end, held back
/// for it, may be reported now.
pub fn reaped(t: &Task) {
    if t.process.traced_zombies.fetch_sub(1, Ordering::AcqRel) == 1
        && let Some(parent) = t.process.parent.lock().upgrade()
    {
        parent.child_wait.wake_all();
    }
}

/// The tracer process `p` is ending: every tracee is detached (and killed, with
/// PTRACE_O_EXITKILL), as Linux's `exit_ptrace`.
pub fn tracer_exit(p: &Process) {
    let tracees = core::mem::take(&mut *p.ptraced.lock());
    for t in tracees {
        let (ended, kill) = {
            let st = t.ptrace.state.lock();
            (
                st.exit.is_some(),
                st.exit.is_none() && st.options & opt::EXITKILL != 0,
            )
        };
        if ended {
            // Never to be waited for by this tracer: released now.
            reaped(&t);
            continue;
        }
        if kill {
            crate::signal::send_to_thread(
                &t,
                SIGKILL,
                SigInfo {
                    signo: SIGKILL as i32,
                    ..Default::default()
                },
            );
        }
        unlink(&t, 0);
    }
}

/// Thread `me` is ending with `reason`; it is still counted among its process's live
/// threads (the caller leaves them after this). Its tracer is told: a wait of the tracer then
/// reports the end — unless the tracer is the process's parent and this is the group leader,
/// whose end is the process's, which the parent's own wait reports once, after every thread
/// has gone (Linux's `delay_group_leader`). Every other traced thread reports its own end, the
/// last one too, and holds its process's end back until the tracer has waited for it.
pub fn tracee_exit(me: &Task, reason: ExitReason) {
    if !me.ptrace.is_traced() {
        return;
    }
    let (tracer, parent_reports) = {
        let mut st = me.ptrace.state.lock();
        let tracer = st.tracer();
        st.tracer = None;
        me.ptrace.traced.store(false, Ordering::Release);
        let Some(tracer) = tracer else { return };
        let parent = me.process.parent.lock().upgrade();
        let leader = me.tid == me.process.leader_tid.load(Ordering::Acquire);
        let parent_reports = leader && parent.is_some_and(|p| Arc::ptr_eq(&p, &tracer));
        if !parent_reports {
            st.exit = Some(reason);
            // Its process's own end waits until the tracer has seen this.
            me.process.traced_zombies.fetch_add(1, Ordering::AcqRel);
        }
        (tracer, parent_reports)
    };
    {
        // Not reported through the tracer's list: it lets go of the thread now.
        let st = me.ptrace.state.lock();
        if st.exit.is_none() {
            drop(st);
            tracer.ptraced.lock().retain(|t| !core::ptr::eq(&**t, me));
        }
    }
    tracer.child_wait.wake_all();
    if !parent_reports {
        crate::signal::send_to_process(&tracer, crate::signal::SIGCHLD);
    }
}

/// Whether `t` is traced by `p` and stopped (Linux's `ptrace_check_attach`): most requests
/// need it. Waits until the tracee is asleep in its stop and off its CPU (Linux's
/// `wait_task_inactive`), so that its saved FPU and segment state are in memory and no switch
/// is loading or saving them. Err(ESRCH) otherwise.
fn check_stopped(t: &Task, p: &Process) -> Result<(), i64> {
    loop {
        {
            let st = t.ptrace.state.lock();
            if !st.traced_by(p) || st.stop.is_none() {
                return Err(crate::syscall::errno::ESRCH);
            }
        }
        // The tracee published its stop just before it went to sleep (or was preempted on
        // the way there, or woken by a signal that does not end the stop: it sleeps again):
        // a few hundred instructions of its own, as it cannot leave the stop without the
        // tracer or SIGKILL. It may need this CPU for them: yield, do not spin.
        if t.state() == crate::task::TaskState::Blocked && !t.sched.on_cpu.load(Ordering::Acquire) {
            return Ok(());
        }
        crate::sched::schedule();
    }
}

/// Resumes stopped tracee `t` with `r` (the caller checked it is stopped and ours).
fn resume(t: &Task, r: Resume) {
    {
        let mut st = t.ptrace.state.lock();
        st.stop = None;
        st.listening = false;
        st.resume = Some(r);
    }
    t.ptrace.resume_wait.wake_all();
}

/// The tracee applies resume `r` to itself when it wakes (its own work word and frame):
/// which syscall stops it makes, and the single-step TF.
fn apply_resume(st: &mut PtraceState, regs: &mut kentry::Regs, r: Resume) {
    const TF: u64 = 0x100;
    let entry = &crate::percpu::this_cpu().entry;
    let all =
        SyscallWork::SYSCALL_TRACE | SyscallWork::SYSCALL_EMU | SyscallWork::SYSCALL_EXIT_TRAP;
    entry.clear_work(all.bits());
    let (want, step) = match r.how {
        ResumeHow::Cont | ResumeHow::Detach => (SyscallWork::empty(), false),
        ResumeHow::Syscall => (SyscallWork::SYSCALL_TRACE, false),
        ResumeHow::Sysemu => (SyscallWork::SYSCALL_EMU, false),
        ResumeHow::SingleStep => (SyscallWork::SYSCALL_EXIT_TRAP, true),
        ResumeHow::SysemuSingleStep => (
            SyscallWork::SYSCALL_EMU | SyscallWork::SYSCALL_EXIT_TRAP,
            true,
        ),
    };
    if !want.is_empty() {
        entry.raise_work(want.bits());
    }
    if step {
        if regs.rflags & TF == 0 {
            regs.rflags |= TF;
            st.forced_tf = true;
        }
    } else if st.forced_tf {
        regs.rflags &= !TF;
        st.forced_tf = false;
    }
}

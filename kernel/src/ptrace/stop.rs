//! The tracee's side: where it stops, what each stop reports, and what it does with the
//! tracer's answer (Linux's `ptrace_stop`, `ptrace_notify`, `ptrace_signal` and
//! `ptrace_event`).
//!
//! Every stop is made by the tracee itself, in task context with IRQs on, holding `regs`:
//! its user frame, at the top of its kernel stack, which the tracer reads and writes while
//! the stop lasts (mod.rs).

use super::{PtraceState, Resume, ResumeHow, Stop, apply_resume, ev, opt};
use crate::signal::fatal_pending;
use crate::signal::{SIGCHLD, SIGTRAP, SigInfo};
use crate::task::{self, ExitReason};
use core::sync::atomic::Ordering;
use kentry::Regs;
use kentry::syscall_work::SyscallWork;
use kentry_kernel_logic::ptrace::{
    SYSCALL_ENTRY_MSG, SYSCALL_EXIT_MSG, event_stop_code, syscall_stop_code,
};

/// `si_code` of SIGCHLD for a ptrace stop.
const CLD_TRAPPED: i32 = 4;
/// `si_code` of the SIGTRAP a single-stepped syscall reports (x86 `user_single_step_report`).
const TRAP_BRKPT: i32 = 1;

/// A stop to make: what the tracer's wait sees and what it may ask about it.
struct StopReport {
    code: u32,
    siginfo: Option<SigInfo>,
    event_msg: u64,
    group: bool,
}

/// The siginfo of a stop Linux's `ptrace_do_notify` makes: the signal, `si_code` = the stop's
/// code, `si_pid` = the tracee.
fn notify_info(sig: u8, code: u32) -> SigInfo {
    SigInfo {
        signo: sig as i32,
        code: code as i32,
        addr_or_pid: own_tid() as u64,
        ..Default::default()
    }
}

/// The running thread's tid in its own PID namespace (a siginfo it sends itself).
fn own_tid() -> u32 {
    let me = task::current();
    me.tid_in(me.process.pid_ns())
}

/// Stops the running tracee until its tracer resumes it. Returns the resume, or None when
/// there is no tracer (any more) or SIGKILL ended the stop; the tracer's edits of the frame
/// are in `regs` then, and the resume is applied to the task's syscall work and TF.
fn ptrace_stop(regs: &mut Regs, report: StopReport) -> Option<Resume> {
    let me = task::current();
    let tracer = {
        let mut st = me.ptrace.state.lock();
        let tracer = st.tracer()?;
        if fatal_pending() {
            return None;
        }
        st.stop = Some(Stop {
            code: report.code,
            reported: false,
            group: report.group,
        });
        st.resume = None;
        st.siginfo = report.siginfo;
        st.event_msg = report.event_msg;
        tracer
    };
    // The tracer's wait looks at its tracees' stops; a SIGCHLD tells a sleeping or polling
    // tracer (CLD_TRAPPED, si_status the stop's signal), as Linux's
    // do_notify_parent_cldstop.
    let nocldstop = {
        let a = tracer.sigactions.lock().get(SIGCHLD);
        a.handler == crate::signal::SIG_IGN || a.flags & crate::signal::SA_NOCLDSTOP != 0
    };
    if !nocldstop {
        crate::signal::send_to_process_info(
            &tracer,
            SIGCHLD,
            SigInfo {
                signo: SIGCHLD as i32,
                code: CLD_TRAPPED,
                addr_or_pid: me.tid_in(tracer.pid_ns()) as u64,
                extra: (report.code & 0x7f) as u64,
                ..Default::default()
            },
        );
    }
    tracer.child_wait.wake_all();
    drop(tracer);
    me.ptrace
        .resume_wait
        .wait_until(|| me.ptrace.state.lock().stop.is_none(), fatal_pending);
    let mut st = me.ptrace.state.lock();
    if st.stop.take().is_some() {
        // SIGKILL: the stop ends without a resume (the exit work then ends the thread).
        st.siginfo = None;
        return None;
    }
    let r = st.resume.take()?;
    apply_resume(&mut st, regs, r);
    if r.how == ResumeHow::Detach {
        st.options = 0;
        st.seized = false;
    }
    Some(r)
}

/// Whether the running task is traced with `opt` among its options.
fn option_set(st: &PtraceState, o: u32) -> bool {
    st.tracer.is_some() && st.options & o != 0
}

/// A stop for a tracer's wait alone ([`ptrace_stop`]) that reports a syscall or an event:
/// a signal the tracer resumes with is sent to the tracee (Linux's `ptrace_report_syscall`:
/// "not the same as continuing with a signal, but it will do").
fn notify_stop(regs: &mut Regs, code: u32, msg: u64) {
    let r = ptrace_stop(
        regs,
        StopReport {
            code,
            siginfo: Some(notify_info(SIGTRAP, code)),
            event_msg: msg,
            group: false,
        },
    );
    if let Some(r) = r.filter(|r| r.sig != 0) {
        send_self(r.sig);
    }
}

/// Sends `sig` to the running thread (SI_USER, from itself).
fn send_self(sig: u8) {
    let me = task::current();
    crate::signal::send_to_thread(me, sig, SigInfo::user(sig, own_tid()));
}

/// kentry's `Host::ptrace_report_syscall_entry`: the syscall-entry stop. Returns whether to
/// skip the syscall (SIGKILL came meanwhile). A task with no tracer any more clears its
/// syscall-trace flags here (they are cleared lazily, by the task itself).
pub fn report_syscall_entry(regs: &mut Regs) -> bool {
    let me = task::current();
    let code = {
        let st = me.ptrace.state.lock();
        if st.tracer.is_none() {
            drop(st);
            clear_trace_work();
            return false;
        }
        syscall_stop_code(st.options)
    };
    notify_stop(regs, code, SYSCALL_ENTRY_MSG);
    fatal_pending()
}

/// kentry's `Host::ptrace_report_syscall_exit`: the syscall-exit stop, or with `step` the
/// SIGTRAP of a syscall single-stepped over (delivered, and so stopped for, next in the same
/// exit work).
pub fn report_syscall_exit(regs: &mut Regs, step: bool) {
    let me = task::current();
    if step {
        crate::signal::send_to_thread(
            me,
            SIGTRAP,
            SigInfo {
                signo: SIGTRAP as i32,
                code: TRAP_BRKPT,
                addr_or_pid: regs.rip,
                ..Default::default()
            },
        );
        return;
    }
    let code = {
        let st = me.ptrace.state.lock();
        if st.tracer.is_none() {
            drop(st);
            clear_trace_work();
            return;
        }
        syscall_stop_code(st.options)
    };
    notify_stop(regs, code, SYSCALL_EXIT_MSG);
}

/// The running task has no tracer: it stops asking for syscall stops.
fn clear_trace_work() {
    let all =
        SyscallWork::SYSCALL_TRACE | SyscallWork::SYSCALL_EMU | SyscallWork::SYSCALL_EXIT_TRAP;
    crate::percpu::this_cpu().entry.clear_work(all.bits());
}

/// The signal-delivery stop (Linux's `ptrace_signal`): a traced thread about to take `sig`
/// (never SIGKILL) stops first; the tracer may cancel it, replace it or edit its siginfo.
/// Returns the signal to act on and its siginfo, or None (cancelled, or requeued because the
/// new signal is blocked). An untraced thread gets `(sig, info)` back.
pub fn signal_stop(regs: &mut Regs, sig: u8, info: SigInfo) -> Option<(u8, SigInfo)> {
    let me = task::current();
    if !me.ptrace.is_traced() || sig == crate::signal::SIGKILL {
        return Some((sig, info));
    }
    let Some(r) = ptrace_stop(
        regs,
        StopReport {
            code: sig as u32,
            siginfo: Some(info),
            event_msg: 0,
            group: false,
        },
    ) else {
        // No tracer after all: the signal goes on as it was.
        return Some((sig, info));
    };
    if r.sig == 0 {
        return None;
    }
    let edited = me.ptrace.state.lock().siginfo.take();
    let info = match edited {
        Some(i) if i.signo == r.sig as i32 => i,
        _ => SigInfo::user(
            r.sig,
            me.process
                .parent
                .lock()
                .upgrade()
                .map_or(0, |p| p.pid_in(me.process.pid_ns())),
        ),
    };
    if task::current_inner().sigmask & crate::signal::bit(r.sig) != 0 || fatal_pending() {
        crate::signal::send_to_thread(me, r.sig, info);
        return None;
    }
    Some((r.sig, info))
}

/// A traced thread's part in a group stop (signal/jobctl.rs): it stops for its tracer, who
/// sees the stop signal (a seized tracee reports PTRACE_EVENT_STOP and may be LISTENed to),
/// and may run it on while the rest of the group stays stopped. The trap is also the one a
/// pending PTRACE_INTERRUPT or SIGCONT notification asked for (Linux's `do_jobctl_trap`).
/// Returns false if the thread is not traced.
pub fn group_stop(regs: &mut Regs, sig: u8) -> bool {
    let me = task::current();
    let seized = {
        let st = me.ptrace.state.lock();
        if st.tracer.is_none() {
            return false;
        }
        st.seized
    };
    me.ptrace.interrupt.store(false, Ordering::Release);
    let code = if seized {
        event_stop_code(sig as u32, ev::STOP)
    } else {
        sig as u32
    };
    let r = ptrace_stop(
        regs,
        StopReport {
            code,
            siginfo: seized.then(|| notify_info(sig, code)),
            event_msg: 0,
            group: true,
        },
    );
    if let Some(r) = r.filter(|r| r.sig != 0) {
        send_self(r.sig);
    }
    true
}

/// PTRACE_INTERRUPT's stop, or a SIGCONT's notification to a seized tracee, at its exit
/// work: PTRACE_EVENT_STOP with SIGTRAP, or with the group stop's signal while its process
/// stops or is stopped (Linux's `do_jobctl_trap`). Returns whether it stopped.
pub fn interrupt_stop(regs: &mut Regs) -> bool {
    let me = task::current();
    if !me.ptrace.interrupt.swap(false, Ordering::AcqRel) {
        return false;
    }
    if !me.ptrace.state.lock().seized {
        return false;
    }
    let sig = crate::signal::jobctl::trap_signal(&me.process);
    let code = event_stop_code(sig as u32, ev::STOP);
    let r = ptrace_stop(
        regs,
        StopReport {
            code,
            siginfo: Some(notify_info(sig, code)),
            event_msg: 0,
            group: true,
        },
    );
    if let Some(r) = r.filter(|r| r.sig != 0) {
        send_self(r.sig);
    }
    true
}

/// Which kind of thing a clone made, for its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventStop {
    Fork,
    Vfork,
    Clone,
}

impl EventStop {
    /// The event of a clone with `flags` (Linux's `kernel_clone`): CLONE_VFORK is a vfork, an
    /// exit signal other than SIGCHLD (a thread's is 0) a clone, the rest a fork.
    pub fn of_clone(flags: u64) -> EventStop {
        const CLONE_VFORK: u64 = 0x4000;
        if flags & CLONE_VFORK != 0 {
            EventStop::Vfork
        } else if flags & 0xff != SIGCHLD as u64 {
            EventStop::Clone
        } else {
            EventStop::Fork
        }
    }

    fn event(self) -> u32 {
        match self {
            EventStop::Fork => ev::FORK,
            EventStop::Vfork => ev::VFORK,
            EventStop::Clone => ev::CLONE,
        }
    }
}

/// A PTRACE_EVENT_* stop of the running task for event `e` with message `msg`, if its tracer
/// asked for it (Linux's `ptrace_event`). Returns whether it stopped.
pub fn event(regs: &mut Regs, e: u32, msg: u64) -> bool {
    let me = task::current();
    if !option_set(&me.ptrace.state.lock(), ev::option(e)) {
        return false;
    }
    notify_stop(regs, event_stop_code(SIGTRAP as u32, e), msg);
    true
}

/// seccomp's RET_TRACE for the running task (Linux's `__seccomp_filter`): the
/// PTRACE_EVENT_SECCOMP stop, with the filter's 16 data bits as the event message, if its
/// tracer asked for it. Returns false without such a tracer (the call then fails with
/// -ENOSYS). After the stop the tracer may have changed or skipped (-1) the call; the caller
/// decides what runs.
pub fn seccomp_event(regs: &mut Regs, data: u32) -> bool {
    task::current().ptrace.is_traced() && event(regs, ev::SECCOMP, data as u64)
}

/// A successful execve of a traced task: PTRACE_EVENT_EXEC (message: the thread id it had),
/// or without that option the old SIGTRAP, for a tracee attached without PTRACE_SEIZE.
pub fn exec_event(regs: &mut Regs, old_tid: u32) {
    let me = task::current();
    if !me.ptrace.is_traced() {
        return;
    }
    if !event(regs, ev::EXEC, for_tracer(old_tid)) {
        let legacy = {
            let st = me.ptrace.state.lock();
            st.tracer.is_some() && !st.seized
        };
        if legacy {
            send_self(SIGTRAP);
        }
    }
}

/// A new task `child` made by the running task's fork, vfork or clone (`kind`), before it
/// runs: it is traced by the same tracer if the tracer asked for `kind`'s event (or
/// CLONE_PTRACE asked for it), starting with a stop — SIGSTOP, or for a seized tracer
/// PTRACE_EVENT_STOP — as Linux's `ptrace_init_task`.
pub fn attach_child(child: &task::TaskRef, kind: EventStop, clone_flags: u64) {
    const CLONE_UNTRACED: u64 = 0x0080_0000;
    const CLONE_PTRACE: u64 = 0x2000;
    let me = task::current();
    if !me.ptrace.is_traced() || clone_flags & CLONE_UNTRACED != 0 {
        return;
    }
    let (tracer, seized, options) = {
        let st = me.ptrace.state.lock();
        let want = st.options & ev::option(kind.event()) != 0 || clone_flags & CLONE_PTRACE != 0;
        match st.tracer() {
            Some(t) if want => (t, st.seized, st.options),
            _ => return,
        }
    };
    super::link(child, &tracer, seized, options);
    if seized {
        child.ptrace.interrupt.store(true, Ordering::Release);
        child
            .entry
            .raise_work(kentry::exit_work::ExitWork::SIGPENDING.bits());
    } else {
        child.sig_pending.add_without_info(crate::signal::SIGSTOP);
        child
            .entry
            .raise_work(kentry::exit_work::ExitWork::SIGPENDING.bits());
    }
}

/// The fork/vfork/clone event of the running task, after `child_tid` (a global id) started.
pub fn fork_event(regs: &mut Regs, kind: EventStop, child_tid: u32) {
    if task::current().ptrace.is_traced() {
        event(regs, kind.event(), for_tracer(child_tid));
    }
}

/// An event message naming thread `tid` (a global id): its number in the tracer's PID
/// namespace (Linux's `ptrace_event_pid`), 0 if the tracer cannot see it.
pub fn for_tracer(tid: u32) -> u64 {
    let tracer = task::current().ptrace.state.lock().tracer();
    let Some(tracer) = tracer else {
        return tid as u64;
    };
    if tracer.pid_ns().is_none() {
        return tid as u64;
    }
    crate::process::find_thread(tid).map_or(0, |t| t.tid_in(tracer.pid_ns())) as u64
}

/// The running task begins to end with `reason`: PTRACE_EVENT_EXIT if its tracer asked (the
/// message is the wait status it will have). Its user frame is read from the top of its
/// kernel stack: every way into the exit comes from a syscall or the exit work, and the
/// caller never returns, so nothing else uses that frame again.
pub fn exit_event(reason: ExitReason) {
    let me = task::current();
    if !me.ptrace.is_traced() || !option_set(&me.ptrace.state.lock(), opt::TRACEEXIT) {
        return;
    }
    // SAFETY: the frame at the top of the running task's stack is its user frame (a user
    // task is in the kernel from user mode here); the callers up the stack never return, so
    // the only use of it from here on is this stop's.
    let regs = unsafe { &mut *me.entry.user_regs() };
    event(regs, ev::EXIT, reason.wait_status() as u32 as u64);
}

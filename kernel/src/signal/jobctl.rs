//! Job control: a stop signal stops every thread of a process (the group stop), SIGCONT
//! continues them, and the parent's wait and SIGCHLD hear of both (Linux's `do_signal_stop`,
//! the stop and continue side of `prepare_signal`, `do_notify_parent_cldstop` and
//! `wait_task_stopped`/`wait_task_continued`).
//!
//! **The group stop.** The thread that takes a stop signal (default action, not orphaned
//! for the terminal ones) starts it: every other thread not already stopped gets
//! [`TaskJobCtl::stop_pending`] and a kick, and the process counts the threads still to stop.
//! Each thread takes part at its next exit work (a blocked call is interrupted and restarts
//! afterwards, as for any signal); the last one to stop marks the process stopped, which its
//! parent's wait (WUNTRACED/WSTOPPED) reports once, with a SIGCHLD (CLD_STOPPED) unless the
//! parent asked for none (SA_NOCLDSTOP). A stopped thread sleeps until SIGCONT, a fatal signal,
//! or a tracer attaches. A traced thread takes part too, then stops for its tracer instead
//! (ptrace's group stop), who may run it on.
//!
//! **SIGCONT** acts when it is sent, whatever its action or mask: it discards every pending
//! stop signal, ends the group stop (stopped threads run on; syscalls they were in restart)
//! and tells the parent (CLD_CONTINUED; CLD_STOPPED when it cut a stop short), whose wait
//! (WCONTINUED) then reports it once. A seized tracee gets a PTRACE_EVENT_STOP trap for it
//! (Linux's `ptrace_trap_notify`). Sending a stop signal discards a pending SIGCONT.

use super::{SA_NOCLDSTOP, SIG_IGN, SIGCHLD, SIGCONT, SIGSTOP, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU};
use super::{SigInfo, bit};
use crate::process::Process;
use crate::sched::WaitQueue;
use crate::sync::Mutex;
use crate::task::{self, Task};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use kentry::Regs;
use kentry::exit_work::ExitWork;

/// `si_code` of SIGCHLD for a stopped and a continued child.
const CLD_STOPPED: i32 = 5;
const CLD_CONTINUED: i32 = 6;

/// The signals whose default action is to stop (Linux's `SIG_KERNEL_STOP_MASK`).
pub const STOP_SIGNALS: u64 = bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU);

/// How many processes are stopped: a process's end looks for stopped jobs it orphans only
/// when there may be one (a walk over every process otherwise, at every exit).
static STOPPED_PROCESSES: AtomicU32 = AtomicU32::new(0);

/// Whether any process may be stopped.
pub fn any_stopped() -> bool {
    STOPPED_PROCESSES.load(Ordering::Relaxed) != 0
}

/// Process `p` has ended: it counts as stopped no more.
pub fn process_ends(p: &Process) {
    let mut st = p.jobctl.state.lock();
    if core::mem::take(&mut st.stopped) {
        STOPPED_PROCESSES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a parent's wait has to report of a child process's job control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobReport {
    /// The group stop with this signal completed (WUNTRACED).
    Stopped(u8),
    /// A SIGCONT ended a stop (WCONTINUED).
    Continued,
}

/// A process's group stop, under [`ProcessJobCtl`]'s lock.
#[derive(Default)]
struct GroupStop {
    /// The stop signal of the group stop under way or done (Linux's `group_exit_code`).
    sig: u8,
    /// Threads still to stop (Linux's `group_stop_count`).
    pending: u32,
    /// Every thread has stopped (Linux's SIGNAL_STOP_STOPPED).
    stopped: bool,
    /// Counts SIGCONTs: a thread stopped before the latest one runs on.
    generation: u64,
    /// What the parent's wait reports next (each once).
    report: Option<JobReport>,
    /// A stop signal was taken from a pending set and no SIGCONT came since (Linux's
    /// SIGNAL_STOP_DEQUEUED): a thread that took one just before a SIGCONT does not stop
    /// after it.
    stop_dequeued: bool,
}

/// A process's job-control state.
pub struct ProcessJobCtl {
    state: Mutex<GroupStop>,
    /// Its stopped threads sleep here.
    wait: WaitQueue,
}

impl ProcessJobCtl {
    pub fn new() -> Self {
        ProcessJobCtl {
            state: Mutex::new(GroupStop::default()),
            wait: WaitQueue::new(),
        }
    }

    /// Whether the process is stopped (every thread has stopped for a stop signal).
    pub fn is_stopped(&self) -> bool {
        self.state.lock().stopped
    }

    /// The report a wait with these options takes (left in place with `nowait`).
    pub fn take_report(&self, stopped: bool, continued: bool, nowait: bool) -> Option<JobReport> {
        let mut st = self.state.lock();
        let r = st.report.filter(|r| match r {
            JobReport::Stopped(_) => stopped && st.stopped,
            JobReport::Continued => continued,
        })?;
        if !nowait {
            st.report = None;
        }
        Some(r)
    }
}

impl Default for ProcessJobCtl {
    fn default() -> Self {
        Self::new()
    }
}

/// [`TaskJobCtl::stop_pending`]: no group stop waits for the thread; one waits and counts it
/// (Linux's JOBCTL_STOP_PENDING with JOBCTL_STOP_CONSUME); one it rejoins after a detach,
/// which counted it before (without CONSUME).
const NOT_PENDING: u8 = 0;
const PENDING_COUNTED: u8 = 1;
const PENDING_UNCOUNTED: u8 = 2;

/// A thread's part in job control.
pub struct TaskJobCtl {
    /// Whether a group stop waits for this thread to stop, and counts it.
    stop_pending: AtomicU8,
    /// It sleeps in a group stop (Linux's JOBCTL_STOPPED).
    stopped: AtomicBool,
}

impl TaskJobCtl {
    pub const fn new() -> Self {
        TaskJobCtl {
            stop_pending: AtomicU8::new(NOT_PENDING),
            stopped: AtomicBool::new(false),
        }
    }

    /// Whether the thread sleeps in a group stop (/proc's state `T`).
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Whether a group stop waits for this thread (its blocking calls are interrupted).
    pub fn stop_pending(&self) -> bool {
        self.stop_pending.load(Ordering::Acquire) != NOT_PENDING
    }

    /// Takes the pending stop: whether there was one, and whether the group counts it.
    fn take_stop(&self) -> Option<bool> {
        match self.stop_pending.swap(NOT_PENDING, Ordering::AcqRel) {
            NOT_PENDING => None,
            p => Some(p == PENDING_COUNTED),
        }
    }
}

impl Default for TaskJobCtl {
    fn default() -> Self {
        Self::new()
    }
}

/// The side effects of sending `sig` to (a thread of) `p`, before it is queued or discarded
/// as ignored (Linux's `prepare_signal`): a stop signal discards a pending SIGCONT; SIGCONT
/// discards pending stop signals and ends a group stop. For SIGCONT the caller keeps the
/// returned [`Continuing`] until the signal is queued: the stopped threads run on only then.
#[inline]
pub fn prepare_signal(p: &Arc<Process>, sig: u8) -> Option<Continuing<'_>> {
    // Every send comes here: the common signal leaves after one test.
    if (STOP_SIGNALS | bit(SIGCONT)) & bit(sig) != 0 {
        return prepare_stop_or_continue(p, sig);
    }
    None
}

#[cold]
fn prepare_stop_or_continue(p: &Arc<Process>, sig: u8) -> Option<Continuing<'_>> {
    if STOP_SIGNALS & bit(sig) != 0 {
        super::flush_everywhere(p, bit(SIGCONT));
        None
    } else {
        Some(continue_group(p))
    }
}

/// Runs `dequeue` (the running thread's dequeue, which may take a stop signal) under the lock
/// SIGCONT's flush takes, and notes a stop signal it took: a SIGCONT that comes after it
/// cancels that stop, one that came before flushed the signal.
pub fn dequeue_in_step<R>(
    p: &Process,
    dequeue: impl FnOnce() -> Option<(u8, R)>,
) -> Option<(u8, R)> {
    let mut st = p.jobctl.state.lock();
    let d = dequeue();
    if d.as_ref()
        .is_some_and(|(sig, _)| STOP_SIGNALS & bit(*sig) != 0)
    {
        st.stop_dequeued = true;
    }
    d
}

/// SIGCONT's end of a group stop, kept by the sender until the SIGCONT itself is queued (Linux
/// holds `siglock` across `prepare_signal` and the queueing). It holds the job-control lock,
/// under which a stopped thread's sleep looks at the stop's generation: so a continued thread
/// runs on only once a SIGCONT with a handler is pending. Were it woken first, its signal
/// work would find nothing, restart the call it was stopped in (pause, a read), and then run
/// the handler on the restarted call, which sleeps again after the handler: the
/// `sigcont_handler_runs` hang of `c_jobctl`. Dropping it releases the lock and wakes.
#[must_use]
pub struct Continuing<'a> {
    p: &'a Arc<Process>,
    state: Option<crate::sync::MutexGuard<'a, GroupStop>>,
    threads: alloc::vec::Vec<Arc<Task>>,
}

impl Drop for Continuing<'_> {
    fn drop(&mut self) {
        drop(self.state.take());
        self.p.jobctl.wait.wake_all();
        for t in &self.threads {
            crate::ptrace::trap_notify(t);
        }
    }
}

/// SIGCONT: pending stop signals go, the group stop ends; the parent is told if there was
/// one. The stopped threads run on when the returned value is dropped.
fn continue_group(p: &Arc<Process>) -> Continuing<'_> {
    let threads = p.other_threads(0);
    let mut st = p.jobctl.state.lock();
    super::flush_everywhere(p, STOP_SIGNALS);
    st.stop_dequeued = false;
    let why = if st.stopped {
        Some(CLD_CONTINUED)
    } else if st.pending > 0 {
        Some(CLD_STOPPED)
    } else {
        None
    };
    if let Some(why) = why {
        st.report = Some(JobReport::Continued);
        // A stop cut short was never counted as stopped.
        if core::mem::take(&mut st.stopped) {
            STOPPED_PROCESSES.fetch_sub(1, Ordering::Relaxed);
        }
        st.pending = 0;
        // Under the lock, in order with the stop's own notification (do_signal_stop).
        notify_parent(p, why, SIGCONT);
    }
    st.generation += 1;
    for t in &threads {
        t.jobctl.stop_pending.store(NOT_PENDING, Ordering::Release);
    }
    Continuing {
        p,
        state: Some(st),
        threads,
    }
}

/// The signal a seized tracee's PTRACE_EVENT_STOP trap reports (Linux's `do_jobctl_trap`):
/// the group stop's signal while the process stops or is stopped, else SIGTRAP.
pub fn trap_signal(p: &Process) -> u8 {
    let st = p.jobctl.state.lock();
    if st.stopped || st.pending > 0 {
        st.sig
    } else {
        SIGTRAP
    }
}

/// Whether the terminal stop signal `sig` is to be discarded: the process's group is
/// orphaned, so nobody would continue it (Linux's `is_current_pgrp_orphaned` in
/// `get_signal`). SIGSTOP always stops.
pub fn discard_stop(p: &Process, sig: u8) -> bool {
    sig != SIGSTOP && crate::process::group::is_orphaned(p.pgid(), None)
}

/// The running thread stops for the group stop: started with stop signal `sig`, or with 0
/// joining the one under way (Linux's `do_signal_stop`). Returns when the stop is over for
/// it: SIGCONT, a fatal signal, or (traced) its tracer resumed it.
pub fn do_signal_stop(regs: &mut Regs, sig: u8) {
    let me = task::current();
    let p = &me.process;
    if p.exiting.load(Ordering::Acquire) {
        return;
    }
    let (stop_sig, generation) = {
        let mut st = p.jobctl.state.lock();
        if sig != 0 && !me.jobctl.stop_pending() && !st.stop_dequeued {
            // A SIGCONT came after the signal was taken: no stop.
            return;
        }
        if sig != 0 && !me.jobctl.stop_pending() {
            // Starting one: a process already stopped keeps the signal it reported.
            if !st.stopped {
                st.sig = sig;
            }
            st.pending = 1;
            me.jobctl
                .stop_pending
                .store(PENDING_COUNTED, Ordering::Release);
            for t in p.other_threads(me.tid) {
                if t.state() != task::TaskState::Dead
                    && !t.jobctl.stopped.load(Ordering::Acquire)
                    && t.jobctl
                        .stop_pending
                        .compare_exchange(
                            NOT_PENDING,
                            PENDING_COUNTED,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                {
                    st.pending += 1;
                    super::kick_task(&t);
                }
            }
        }
        // None: SIGCONT came first.
        let Some(counted) = me.jobctl.take_stop() else {
            return;
        };
        let done = participate(&mut st, counted);
        if done {
            // Under the lock: the parent's wait could otherwise see the stop and its SIGCONT
            // come (with its CLD_CONTINUED) before this CLD_STOPPED is sent.
            notify_parent(p, CLD_STOPPED, st.sig);
        }
        (st.sig, st.generation)
    };
    if me.ptrace.is_traced() {
        crate::ptrace::group_stop(regs, stop_sig);
        return;
    }
    me.jobctl.stopped.store(true, Ordering::Release);
    p.jobctl.wait.wait_until(
        || p.jobctl.state.lock().generation != generation || me.ptrace.is_traced(),
        killed,
    );
    me.jobctl.stopped.store(false, Ordering::Release);
    // A tracer attached to the stopped thread: it is its tracer's to run now (Linux's
    // ptrace_attach re-traps a stopped task into a tracing stop).
    if p.jobctl.state.lock().generation == generation && me.ptrace.is_traced() && !killed() {
        crate::ptrace::group_stop(regs, stop_sig);
    }
}

/// What ends a stopped thread's sleep early: SIGKILL, or its process ending. Any other
/// signal, fatal ones too, waits for SIGCONT (Linux's `wants_signal` skips stopped threads;
/// only SIGKILL wakes them).
fn killed() -> bool {
    let me = task::current();
    let pending = me.sig_pending.bits() | me.process.sig_pending.bits();
    pending & bit(super::SIGKILL) != 0 || me.process.thread_must_end(me.tid)
}

/// One thread of the group stop has stopped (or ended), `counted` in it or not: returns
/// whether the group stop is now complete (Linux's `task_participate_group_stop`).
fn participate(st: &mut GroupStop, counted: bool) -> bool {
    if counted {
        st.pending = st.pending.saturating_sub(1);
    }
    if st.pending == 0 && !st.stopped {
        st.stopped = true;
        STOPPED_PROCESSES.fetch_add(1, Ordering::Relaxed);
        st.report = Some(JobReport::Stopped(st.sig));
        return true;
    }
    false
}

/// The parent of `p` learns of a stop or continue: SIGCHLD with `why` (unless its SIGCHLD
/// action is SIG_IGN or has SA_NOCLDSTOP) and a wake-up of its waits — unless it traces a
/// thread of `p`, and so sees the ptrace stops instead. May run under `p`'s job-control lock:
/// it takes only the parent's locks and `p`'s thread and ptrace ones, none of which is ever
/// held while that lock is taken.
fn notify_parent(p: &Arc<Process>, why: i32, status: u8) {
    let Some(parent) = p.parent.lock().upgrade() else {
        return;
    };
    if traced_by(p, &parent) {
        return;
    }
    let a = parent.sigactions.lock().get(SIGCHLD);
    if a.handler != SIG_IGN && a.flags & SA_NOCLDSTOP == 0 {
        super::send_to_process_info(
            &parent,
            SIGCHLD,
            SigInfo {
                signo: SIGCHLD as i32,
                code: why,
                addr_or_pid: p.pid_in(parent.pid_ns()) as u64,
                extra: status as u64,
                ..Default::default()
            },
        );
    }
    parent.child_wait.wake_all();
}

/// Whether a thread of `p` is traced by `tracer` (its wait reports ptrace stops instead of
/// the job-control ones: Linux's `ptrace_reparented` test).
pub fn traced_by(p: &Process, tracer: &Process) -> bool {
    p.other_threads(0)
        .iter()
        .any(|t| t.ptrace.state.lock().traced_by(tracer))
}

/// A new thread `t` of the running thread's process: if a group stop waits for its creator,
/// it waits for the new thread too (Linux's `task_join_group_stop`).
pub fn join_group_stop(t: &Task) {
    let me = task::current();
    if !me.jobctl.stop_pending() {
        return;
    }
    let mut st = me.process.jobctl.state.lock();
    if me.jobctl.stop_pending() {
        t.jobctl
            .stop_pending
            .store(PENDING_COUNTED, Ordering::Release);
        st.pending += 1;
        t.entry.raise_work(ExitWork::SIGPENDING.bits());
    }
}

/// The running thread is ending: a group stop waiting for it waits no more (Linux's
/// `exit_signals`), and completes if it was the last.
pub fn thread_exits() {
    let me = task::current();
    let Some(counted) = me.jobctl.take_stop() else {
        return;
    };
    let p = &me.process;
    let mut st = p.jobctl.state.lock();
    // Under the lock, as in do_signal_stop.
    if participate(&mut st, counted) && !p.exiting.load(Ordering::Acquire) {
        notify_parent(p, CLD_STOPPED, st.sig);
    }
}

/// A tracer attached to a thread of `p`: a thread stopped by job control wakes to stop for
/// its tracer instead.
pub fn wake_stopped(p: &Process) {
    p.jobctl.wait.wake_all();
}

/// Thread `t` was detached: if a group stop is in effect it takes part again, stopping at its
/// next exit work (Linux's `__ptrace_unlink` reinstates JOBCTL_STOP_PENDING; it is not counted
/// again, the group having counted it once).
pub fn reinstate_stop(t: &Task) {
    let st = t.process.jobctl.state.lock();
    if st.stopped || st.pending > 0 {
        let _ = t.jobctl.stop_pending.compare_exchange(
            NOT_PENDING,
            PENDING_UNCOUNTED,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        drop(st);
        crate::sched::raise_work_on(t, ExitWork::SIGPENDING.bits());
    }
}

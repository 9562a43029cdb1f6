//! Signals: actions, pending sets, delivery on the way back to user mode, and rt_sigreturn.
//!
//! Delivery happens only in the exit-to-user work loop (SIGPENDING work), on the task's own
//! stack, with the frame the CPU will return to; it builds Linux's exact `rt_sigframe`
//! (`frame.rs`). Exceptions in user mode become forced synchronous signals (`force_fault`).

pub(crate) mod fpstate;
mod frame;
mod frame32;
mod siginfo;
pub use siginfo::{FaultInfo, KSigInfo, SigInfo};
pub mod jobctl;
mod queue;
#[cfg(feature = "test-hooks")]
pub use frame::BREAK_SIGRETURN_FLAGS;

pub use frame::{on_altstack as frame_on_altstack, rt_sigreturn, setup_rt_frame};
#[cfg(feature = "test-hooks")]
pub use frame32::BREAK_SEGS as BREAK_SIGRETURN32_SEGS;
pub use frame32::{ia32_rt_sigreturn, ia32_sigreturn};
#[cfg(feature = "test-hooks")]
pub use queue::BREAK_CHECKS as BREAK_SIGQUEUE_CHECKS;
pub use queue::{SigPending, checks_on as sigqueue_checks_on};

use crate::task::{self, ExitReason};
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use kentry::Regs;
use kentry::exit_work::ExitWork;

pub const SIGHUP: u8 = 1;
pub const SIGINT: u8 = 2;
pub const SIGQUIT: u8 = 3;
pub const SIGILL: u8 = 4;
pub const SIGTRAP: u8 = 5;
pub const SIGABRT: u8 = 6;
pub const SIGBUS: u8 = 7;
pub const SIGFPE: u8 = 8;
pub const SIGUSR1: u8 = 10;
pub const SIGSEGV: u8 = 11;
pub const SIGUSR2: u8 = 12;
pub const SIGPIPE: u8 = 13;
pub const SIGALRM: u8 = 14;
pub const SIGTERM: u8 = 15;
pub const SIGCHLD: u8 = 17;
pub const SIGCONT: u8 = 18;
pub const SIGTSTP: u8 = 20;
pub const SIGTTIN: u8 = 21;
pub const SIGTTOU: u8 = 22;
pub const SIGURG: u8 = 23;
pub const SIGWINCH: u8 = 28;
pub const SIGSYS: u8 = 31;
pub const NSIG: usize = 64;

pub const SA_NOCLDSTOP: u64 = 1;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;
pub const SA_SIGINFO: u64 = 4;
pub const SA_RESTORER: u64 = 0x0400_0000;
/// The kernel's own mark on an action set by an i386 rt_sigaction: its handler takes i386
/// signal frames (Linux's SA_IA32_ABI; never taken from nor shown to the user).
pub const SA_IA32_ABI: u64 = 0x0200_0000;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

// si_code values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;

// The mask arithmetic (bits, what may be blocked, which signal comes next, restarts) lives in
// kentry-kernel-logic, where host unit tests check it.
use kentry_kernel_logic::signal::{Restart, handler_mask, restart_rule};
pub use kentry_kernel_logic::signal::{SIGKILL, SIGSTOP, UNBLOCKABLE, bit, blockable};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

#[derive(Clone)]
pub struct SigActions(pub [SigAction; NSIG]);

impl SigActions {
    pub fn new() -> Self {
        SigActions([SigAction::default(); NSIG])
    }

    pub fn get(&self, sig: u8) -> SigAction {
        self.0[sig as usize - 1]
    }

    pub fn set(&mut self, sig: u8, a: SigAction) {
        self.0[sig as usize - 1] = a;
    }

    /// execve keeps ignored signals ignored and resets handled ones to the default.
    pub fn reset_for_exec(&mut self) {
        for a in self.0.iter_mut() {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }
}

impl Default for SigActions {
    fn default() -> Self {
        Self::new()
    }
}

/// What a signal's default action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: u8) -> DefaultAction {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGCONT => DefaultAction::Continue,
        _ => DefaultAction::Terminate,
    }
}

pub fn name(sig: u8) -> &'static str {
    match sig {
        SIGHUP => "SIGHUP",
        SIGINT => "SIGINT",
        SIGQUIT => "SIGQUIT",
        SIGILL => "SIGILL",
        SIGTRAP => "SIGTRAP",
        SIGABRT => "SIGABRT",
        SIGBUS => "SIGBUS",
        SIGFPE => "SIGFPE",
        SIGKILL => "SIGKILL",
        SIGUSR1 => "SIGUSR1",
        SIGSEGV => "SIGSEGV",
        SIGUSR2 => "SIGUSR2",
        SIGPIPE => "SIGPIPE",
        SIGALRM => "SIGALRM",
        SIGTERM => "SIGTERM",
        SIGCHLD => "SIGCHLD",
        _ => "signal",
    }
}

/// Per-thread signal bookkeeping that is not atomic (only the thread itself touches it).
#[derive(Clone)]
pub struct ThreadSignals {
    pub fault: FaultInfo,
}

impl ThreadSignals {
    pub fn new() -> Self {
        ThreadSignals {
            fault: FaultInfo::default(),
        }
    }
}

impl Default for ThreadSignals {
    fn default() -> Self {
        Self::new()
    }
}

/// Raises SIGPENDING work on `t` and wakes it if it sleeps, so it reaches the exit loop.
fn kick(t: &task::Task) {
    let cur = task::current();
    if core::ptr::eq(cur, t) {
        crate::percpu::this_cpu()
            .entry
            .raise_work(ExitWork::SIGPENDING.bits());
    } else if let Some(tr) = t
        .process
        .threads
        .lock()
        .iter()
        .filter_map(|w| w.upgrade())
        .find(|x| core::ptr::eq(&**x, t))
    {
        kick_task(&tr);
    }
}

/// [`kick`] for a task the caller holds a reference to: SIGPENDING raised where it runs
/// (`sched::raise_work_on`: its own CPU's word, or its remote word and an IPI), and a wake-up.
pub fn kick_task(t: &task::TaskRef) {
    crate::sched::raise_work_on(t, ExitWork::SIGPENDING.bits());
    crate::sched::wake(t);
}

/// kill(): a signal for the process; one thread that does not block it takes it.
pub fn send_to_process(p: &Arc<crate::process::Process>, sig: u8) {
    send_to_process_info(p, sig, SigInfo::user(sig, 0));
}

pub fn send_to_process_info(p: &Arc<crate::process::Process>, sig: u8, info: SigInfo) {
    let _ = queue_to_process(p, sig, &info.into());
}

/// A signal for the process, queued in its shared queue (kill, rt_sigqueueinfo): Err(EAGAIN)
/// when a real-time siginfo is over RLIMIT_SIGPENDING. Every live thread is kicked; the first
/// that does not block it takes it.
pub fn queue_to_process(
    p: &Arc<crate::process::Process>,
    sig: u8,
    info: &KSigInfo,
) -> Result<(), i64> {
    // A SIGCONT's stopped threads run on when this goes, after the queueing below.
    let (deliver, _continuing) = prepare_signal(p, None, sig);
    if !deliver {
        return Ok(());
    }
    if !p.sig_pending.send(sig, info, || sigpending_limit(p))? {
        return Ok(());
    }
    let threads: alloc::vec::Vec<_> = p
        .threads
        .lock()
        .iter()
        .filter_map(|w| w.upgrade())
        .collect();
    for t in &threads {
        if t.state() != task::TaskState::Dead {
            kick(t);
        }
    }
    Ok(())
}

/// tkill()/tgkill(), and faults: a signal for one thread.
pub fn send_to_thread(t: &task::Task, sig: u8, info: SigInfo) {
    let _ = queue_to_thread(t, sig, &info.into());
}

/// A signal for one thread, queued in its own queue (tkill, faults, rt_tgsigqueueinfo):
/// Err(EAGAIN) as [`queue_to_process`].
pub fn queue_to_thread(t: &task::Task, sig: u8, info: &KSigInfo) -> Result<(), i64> {
    let (deliver, _continuing) = prepare_signal(&t.process, Some(t), sig);
    if !deliver {
        return Ok(());
    }
    if t.sig_pending
        .send(sig, info, || sigpending_limit(&t.process))?
    {
        kick(t);
    }
    Ok(())
}

/// The receiver's RLIMIT_SIGPENDING (read only when a siginfo counts against it).
fn sigpending_limit(p: &Arc<crate::process::Process>) -> u64 {
    crate::syscall::rlimit_cur(p, crate::syscall::RLIMIT_SIGPENDING)
}

/// What every send does first (Linux's `prepare_signal`): a stop signal discards a pending
/// SIGCONT and SIGCONT every pending stop signal, in the process's queue and each thread's
/// (even when the signal itself is then ignored); false when the signal is ignored and so
/// not queued. A SIGCONT's end of a group stop comes with it, to be kept until the signal is
/// queued ([`jobctl::Continuing`]).
#[inline]
fn prepare_signal<'a>(
    p: &'a Arc<crate::process::Process>,
    to: Option<&task::Task>,
    sig: u8,
) -> (bool, Option<jobctl::Continuing<'a>>) {
    // The flushes, and SIGCONT's end of a group stop (jobctl.rs).
    let continuing = jobctl::prepare_signal(p, sig);
    (
        !ignored(p, sig) || blocked_by(p, to, sig) || any_thread_traced(p),
        continuing,
    )
}

/// Whether `sig` is blocked by thread `to`, or for a signal to the process by its leader
/// (the task Linux's kill finds by the pid) — or, the leader gone, by any of its threads.
#[cold]
fn blocked_by(p: &crate::process::Process, to: Option<&task::Task>, sig: u8) -> bool {
    let blocks = |t: &task::Task| t.blocked_seen.load(Ordering::Relaxed) & bit(sig) != 0;
    if let Some(t) = to {
        return blocks(t);
    }
    let leader = p.leader_tid.load(Ordering::Acquire);
    let mut any = false;
    for t in p.threads.lock().iter().filter_map(|w| w.upgrade()) {
        if t.tid == leader && t.state() != task::TaskState::Dead {
            return blocks(&t);
        }
        any |= blocks(&t);
    }
    any
}

/// Publishes the running thread's mask for senders ([`task::Task::blocked_seen`]), after
/// every change of it.
#[inline]
pub fn publish_blocked() {
    task::current()
        .blocked_seen
        .store(task::current_inner().sigmask, Ordering::Relaxed);
}

/// Discards the signals of `mask` from the process's queue and every thread's.
pub fn flush_everywhere(p: &crate::process::Process, mask: u64) {
    p.sig_pending.flush_mask(mask);
    for t in p.threads.lock().iter().filter_map(|w| w.upgrade()) {
        t.sig_pending.flush_mask(mask);
    }
}

/// Whether a thread of `p` is traced: an ignored signal is kept for it, so that its tracer
/// sees it (Linux's `sig_ignored`).
fn any_thread_traced(p: &crate::process::Process) -> bool {
    p.threads
        .lock()
        .iter()
        .filter_map(|w| w.upgrade())
        .any(|t| t.ptrace.is_traced())
}

/// A signal whose action is "ignore" is discarded at send time (as Linux does).
pub fn ignored(p: &crate::process::Process, sig: u8) -> bool {
    if sig == SIGKILL || sig == SIGSTOP {
        return false;
    }
    let a = p.sigactions.lock().get(sig);
    a.handler == SIG_IGN || (a.handler == SIG_DFL && default_action(sig) == DefaultAction::Ignore)
}

/// An exception in user mode: the signal is forced — if the thread blocks or ignores it, it
/// is unblocked and reset to the default (which kills), as Linux's force_sig does.
pub fn force_fault(sig: u8, info: SigInfo, fault: FaultInfo) {
    let t = task::current();
    {
        let mut acts = t.process.sigactions.lock();
        let a = acts.get(sig);
        let blocked = task::current_inner().sigmask & bit(sig) != 0;
        if a.handler == SIG_IGN || blocked {
            acts.set(sig, SigAction::default());
        }
    }
    // Only `sig` is unblocked, and sending it just below raises SIGPENDING: no recalculation
    // (set_blocked's) is needed on this fault path.
    task::current_inner().sigmask &= !bit(sig);
    publish_blocked();
    // SAFETY: the running thread's own signal state.
    unsafe { t.inner_signals().fault = fault };
    // No prepare_signal: a fault's signal is neither SIGCONT nor a stop signal (nothing to
    // flush), and is not ignored now (an ignoring action was just reset to the default,
    // which terminates). Linux's force_sig_info runs it, to the same effect.
    debug_assert!(
        kentry_kernel_logic::signal::queue::flushed_by(sig) == 0 && !ignored(&t.process, sig)
    );
    if t.sig_pending
        .send(sig, &info.into(), || sigpending_limit(&t.process))
        .unwrap_or(false)
    {
        kick(t);
    }
}

/// Whether a signal the running thread does not block is pending (a blocking syscall should
/// return -EINTR or a restart code).
///
/// When it is, SIGPENDING is raised here too, on this CPU: a sender sets the pending bit at
/// once, but raises the work flag of a thread running on another CPU by IPI, which QEMU may
/// deliver after the woken thread has gone back to user mode — with the kernel's internal
/// restart code in RAX (-ERESTARTSYS returned to user space: a pipe read whose waiter was
/// SIGSTOPped by ptrace then failed with errno 512). The exit work that follows the
/// interrupted call now always finds the flag. (Self-test `interrupted_raises_sigpending`.)
pub fn interrupted() -> bool {
    let t = task::current();
    let blocked = task::current_inner().sigmask;
    let yes = (t.sig_pending.bits() | t.process.sig_pending.bits()) & !blocked != 0
        || t.process.thread_must_end(t.tid)
        || t.ptrace.interrupt_pending()
        || t.jobctl.stop_pending();
    if yes {
        crate::percpu::this_cpu()
            .entry
            .raise_work(ExitWork::SIGPENDING.bits());
    }
    yes
}

/// Whether the running thread is about to die (Linux's `fatal_signal_pending`, for waits
/// only a fatal signal ends): SIGKILL pending, its process ending or exec'ing in another
/// thread, or an unblocked pending signal whose action is the default one that terminates.
pub fn fatal_pending() -> bool {
    let t = task::current();
    let pending =
        (t.sig_pending.bits() | t.process.sig_pending.bits()) & !task::current_inner().sigmask;
    if pending & bit(SIGKILL) != 0 || t.process.thread_must_end(t.tid) {
        return true;
    }
    if pending == 0 {
        return false;
    }
    if t.ptrace.is_traced() {
        // A traced thread's signal stops for its tracer first, who may cancel it (Linux turns
        // a fatal signal into SIGKILL only for an untraced process).
        return false;
    }
    let acts = t.process.sigactions.lock();
    (1..=64u8).any(|sig| {
        pending & bit(sig) != 0
            && acts.get(sig).handler == SIG_DFL
            && default_action(sig) == DefaultAction::Terminate
    })
}

/// Installs `mask` as the running thread's blocked set (SIGKILL and SIGSTOP stay unblocked)
/// and re-raises SIGPENDING when that unblocks a pending signal. Every mask change goes
/// through here, as through Linux's `set_current_blocked`: a signal that arrived while blocked
/// raised no work flag, so a mask change that forgets the recalculation leaves it pending and
/// unnoticed (rt_sigsuspend then returned the internal -ERESTARTNOHAND to user space).
pub fn set_blocked(mask: u64) {
    task::current_inner().sigmask = blockable(mask);
    publish_blocked();
    recalc_pending();
}

/// A sleeping call's temporary mask (rt_sigsuspend, ppoll, pselect6): the caller's mask is
/// kept aside and comes back when the call ends, or through the signal frame of the handler
/// that interrupts it.
pub fn set_temporary_blocked(mask: u64) {
    let inner = task::current_inner();
    inner.saved_sigmask = Some(inner.sigmask);
    set_blocked(mask);
}

/// Re-raises SIGPENDING if a deliverable signal is pending (after a mask change).
pub fn recalc_pending() {
    if interrupted() {
        crate::percpu::this_cpu()
            .entry
            .raise_work(ExitWork::SIGPENDING.bits());
    }
}

/// Takes the next deliverable signal: from the thread's own queue first (an exception's
/// signal before any other), then from the process's; the lowest-numbered in each. The
/// pending sets are read without a lock first, so that nothing pending costs no lock.
fn dequeue() -> Option<(u8, KSigInfo)> {
    dequeue_with(blockable(task::current_inner().sigmask))
}

/// [`dequeue`] of a signal not in `mask` (taken as it is: rt_sigtimedwait's "all but the
/// awaited ones" holds SIGKILL and SIGSTOP, which it must not take).
pub fn dequeue_with(blocked: u64) -> Option<(u8, KSigInfo)> {
    let t = task::current();
    let ready = (t.sig_pending.bits() | t.process.sig_pending.bits()) & !blocked;
    if ready & jobctl::STOP_SIGNALS != 0 {
        // A stop signal is taken in step with SIGCONT's flush (jobctl.rs).
        return jobctl::dequeue_in_step(&t.process, || dequeue_queues(t, blocked));
    }
    dequeue_queues(t, blocked)
}

/// [`dequeue_with`]'s search of the thread's queue, then the process's.
fn dequeue_queues(t: &task::Task, blocked: u64) -> Option<(u8, KSigInfo)> {
    if t.sig_pending.bits() & !blocked != 0
        && let Some(d) = t.sig_pending.dequeue(blocked, true)
    {
        return Some(d);
    }
    if t.process.sig_pending.bits() & !blocked != 0 {
        return t.process.sig_pending.dequeue(blocked, false);
    }
    None
}

/// A syscall interrupted by a signal returned one of the internal restart codes: restart it
/// (back up RIP over the 2-byte `syscall` or `int $0x80`, number back in RAX) or make it
/// -EINTR, by Linux's rules (`restart_rule`) — `handler` is the action about to run, `None`
/// when no handler runs. `restart_syscall` has the number of the interrupted call's table:
/// 0 for an i386 call (Linux's `get_nr_restart_syscall`), 219 for an x86-64 one.
fn syscall_restart(regs: &mut Regs, handler: Option<&SigAction>) {
    use crate::syscall::errno::EINTR;
    if regs.orig_rax == u64::MAX {
        return;
    }
    match restart_rule(regs.rax as i64, handler.map(|a| a.flags)) {
        Restart::Keep => {}
        Restart::Restart => {
            regs.rax = regs.orig_rax;
            regs.rip -= 2;
        }
        Restart::Eintr => regs.rax = (-EINTR) as u64,
        Restart::RestartSyscall => {
            regs.rax = if crate::syscall::compat::in_ia32_syscall() {
                kentry_abi::nr32::RESTART_SYSCALL as u64
            } else {
                kentry_abi::nr::RESTART_SYSCALL as u64
            };
            regs.rip -= 2;
        }
    }
}

// The restart codes the rules know are the ones the syscalls return.
const _: () = {
    use crate::syscall::errno as k;
    use kentry_kernel_logic::errno as l;
    assert!(k::ERESTARTSYS == l::ERESTARTSYS && k::ERESTARTNOINTR == l::ERESTARTNOINTR);
    assert!(k::ERESTARTNOHAND == l::ERESTARTNOHAND);
    assert!(k::ERESTART_RESTARTBLOCK == l::ERESTART_RESTARTBLOCK);
};

/// The SIGPENDING exit work: delivers one signal to the frame the task returns to, or
/// carries out its default action.
pub fn do_signal(regs: &mut Regs) {
    let t = task::current();
    if t.process.thread_must_end(t.tid) {
        let r = t
            .process
            .exit_reason()
            .unwrap_or(ExitReason::Signaled(SIGKILL));
        crate::process::exit_current_thread(r);
    }
    // A group stop waits for this thread (Linux's get_signal checks this first).
    if t.jobctl.stop_pending() {
        jobctl::do_signal_stop(regs, 0);
    }
    if t.ptrace.interrupt_pending() {
        crate::ptrace::interrupt_stop(regs);
    }
    while let Some((sig, kinfo)) = dequeue() {
        // A traced thread stops for its tracer first, who may cancel or change the signal.
        let (sig, kinfo) = if t.ptrace.is_traced() {
            match crate::ptrace::signal_stop(regs, sig, kinfo.info) {
                // The tracer's siginfo is the 32 bytes it sees; the tail stays only with an
                // unchanged one.
                Some((s, i)) if s == sig && i == kinfo.info => (s, kinfo),
                Some((s, i)) => (s, i.into()),
                None => continue,
            }
        } else {
            (sig, kinfo)
        };
        let info = kinfo.info;
        let action = t.process.sigactions.lock().get(sig);
        match action.handler {
            SIG_IGN => continue,
            SIG_DFL => match default_action(sig) {
                DefaultAction::Ignore | DefaultAction::Continue => continue,
                DefaultAction::Stop => {
                    // The group stop (a terminal stop signal to an orphaned group is
                    // discarded: nobody would continue it).
                    if !jobctl::discard_stop(&t.process, sig) {
                        jobctl::do_signal_stop(regs, sig);
                    }
                    continue;
                }
                DefaultAction::Terminate => {
                    // SAFETY: the running thread's own signal state.
                    let f = unsafe { t.inner_signals().fault };
                    crate::klog!(
                        "pid {} ({}) killed by {} at rip={:#x} trapno={} err={:#x} addr={:#x}",
                        t.process.pid,
                        t.process.name.lock(),
                        name(sig),
                        regs.rip,
                        f.trapno,
                        f.err,
                        info.addr_or_pid
                    );
                    crate::process::exit_group_current(ExitReason::Signaled(sig));
                }
            },
            _ => {
                syscall_restart(regs, Some(&action));
                let framed = if action.flags & SA_IA32_ABI != 0 {
                    frame32::setup_ia32_frame(regs, sig, &action, &kinfo)
                } else {
                    setup_rt_frame(regs, sig, &action, &kinfo)
                };
                if framed.is_err() {
                    // The frame could not be written: SIGSEGV, forced (kills if it was
                    // SIGSEGV being delivered).
                    if sig == SIGSEGV {
                        t.process
                            .sigactions
                            .lock()
                            .set(SIGSEGV, SigAction::default());
                    }
                    force_fault(
                        SIGSEGV,
                        SigInfo {
                            errno: 0,
                            signo: SIGSEGV as i32,
                            code: SI_KERNEL,
                            ..Default::default()
                        },
                        FaultInfo::default(),
                    );
                    continue;
                }
                let mut acts = t.process.sigactions.lock();
                if action.flags & SA_RESETHAND != 0 {
                    acts.set(sig, SigAction::default());
                }
                let inner = task::current_inner();
                inner.sigmask = handler_mask(inner.sigmask, action.mask, action.flags, sig);
                publish_blocked();
                break;
            }
        }
    }
    // No handler ran (or its frame failed): an interrupted call restarts.
    syscall_restart(regs, None);
    // rt_sigsuspend's mask lasts until a handler runs (then the frame carries the old one).
    if let Some(saved) = task::current_inner().saved_sigmask.take() {
        set_blocked(saved);
    } else {
        recalc_pending();
    }
}

impl task::Task {
    /// The thread's signal bookkeeping.
    ///
    /// # Safety
    /// The thread itself only (a tracer reads `fault` while the thread is stopped).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn inner_signals(&self) -> &mut ThreadSignals {
        // SAFETY: per the contract.
        unsafe { &mut self.inner().signals }
    }
}

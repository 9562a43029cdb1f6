//! Signals: actions, pending sets, delivery on the way back to user mode, and rt_sigreturn.
//!
//! Delivery happens only in the exit-to-user work loop (SIGPENDING work), on the task's own
//! stack, with the frame the CPU will return to; it builds Linux's exact `rt_sigframe`
//! (`frame.rs`). Exceptions in user mode become forced synchronous signals (`force_fault`).

mod frame;
pub mod jobctl;
#[cfg(feature = "test-hooks")]
pub use frame::BREAK_SIGRETURN_FLAGS;

pub use frame::{on_altstack as frame_on_altstack, rt_sigreturn, setup_rt_frame};

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
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

// si_code values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;

// The mask arithmetic (bits, what may be blocked, which signal comes next, restarts) lives in
// kentry-kernel-logic, where host unit tests check it.
use kentry_kernel_logic::signal::{Restart, handler_mask, next_signal, restart_rule};
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

/// The 128-byte siginfo, kept per thread and signal until delivery.
#[derive(Clone, Copy, Debug, Default)]
pub struct SigInfo {
    pub signo: i32,
    /// si_errno (seccomp's SIGSYS carries its filter's data here).
    pub errno: i32,
    pub code: i32,
    /// si_addr for faults; si_pid for kill/tkill.
    pub addr_or_pid: u64,
    /// si_uid, si_status… (the word after).
    pub extra: u64,
}

impl SigInfo {
    /// The siginfo of `sig` sent by a process (kill, tkill, a tracer), or as such by the
    /// kernel (SIGPIPE): SI_USER, `si_pid` = `from_pid`.
    pub fn user(sig: u8, from_pid: u32) -> SigInfo {
        SigInfo {
            signo: sig as i32,
            code: SI_USER,
            addr_or_pid: from_pid as u64,
            ..Default::default()
        }
    }

    /// The user's `siginfo_t` (128 bytes): si_signo, si_errno, si_code, then the union,
    /// whose first two words are `addr_or_pid` and `extra`.
    pub fn to_bytes(self) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&self.signo.to_ne_bytes());
        b[4..8].copy_from_slice(&self.errno.to_ne_bytes());
        b[8..12].copy_from_slice(&self.code.to_ne_bytes());
        b[16..24].copy_from_slice(&self.addr_or_pid.to_ne_bytes());
        b[24..32].copy_from_slice(&self.extra.to_ne_bytes());
        b
    }

    /// The fields kentry keeps of a user's `siginfo_t` (PTRACE_SETSIGINFO).
    pub fn from_bytes(b: &[u8; 128]) -> SigInfo {
        let w32 = |o: usize| i32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let w64 = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            u64::from_ne_bytes(x)
        };
        SigInfo {
            signo: w32(0),
            errno: w32(4),
            code: w32(8),
            addr_or_pid: w64(16),
            extra: w64(24),
        }
    }
}

/// What the last exception recorded for the signal frame (trapno, err, cr2).
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultInfo {
    pub trapno: u64,
    pub err: u64,
    pub cr2: u64,
}

/// Per-thread signal bookkeeping that is not atomic (only the thread itself touches it).
#[derive(Clone)]
pub struct ThreadSignals {
    pub info: [SigInfo; NSIG],
    pub fault: FaultInfo,
}

impl ThreadSignals {
    pub fn new() -> Self {
        ThreadSignals {
            info: [SigInfo::default(); NSIG],
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
    } else {
        // It may run on another CPU: raised where it runs (sched::raise_work_on).
        crate::sched::raise_work_on(t, ExitWork::SIGPENDING.bits());
        if let Some(tr) = t
            .process
            .threads
            .lock()
            .iter()
            .filter_map(|w| w.upgrade())
            .find(|x| core::ptr::eq(&**x, t))
        {
            crate::sched::wake(&tr);
        }
    }
}

/// kill(): a signal for the process; one thread that does not block it takes it.
pub fn send_to_process(p: &Arc<crate::process::Process>, sig: u8) {
    send_to_process_info(p, sig, SigInfo::user(sig, 0));
}

pub fn send_to_process_info(p: &Arc<crate::process::Process>, sig: u8, info: SigInfo) {
    jobctl::prepare_signal(p, sig);
    if ignored(p, sig) && !any_thread_traced(p) {
        return;
    }
    p.sig_pending.fetch_or(bit(sig), Ordering::AcqRel);
    let threads: alloc::vec::Vec<_> = p
        .threads
        .lock()
        .iter()
        .filter_map(|w| w.upgrade())
        .collect();
    for t in &threads {
        if t.state() != task::TaskState::Dead {
            // SAFETY: only the siginfo slot for `sig` is written; the target reads it when it
            // delivers, after seeing the pending bit (set above with release ordering).
            unsafe { t.inner_signals().info[sig as usize - 1] = info };
            kick(t);
        }
    }
}

/// tkill()/tgkill(), and faults: a signal for one thread.
pub fn send_to_thread(t: &task::Task, sig: u8, info: SigInfo) {
    jobctl::prepare_signal(&t.process, sig);
    if ignored(&t.process, sig) && !t.ptrace.is_traced() {
        return;
    }
    // SAFETY: as in send_to_process_info.
    unsafe { t.inner_signals().info[sig as usize - 1] = info };
    t.sig_pending.fetch_or(bit(sig), Ordering::AcqRel);
    kick(t);
}

/// Discards the signals in `mask` pending for `p` and each of its threads (Linux's
/// `flush_sigqueue_mask` over the shared and every private queue).
pub fn flush_pending(p: &crate::process::Process, mask: u64) {
    p.sig_pending.fetch_and(!mask, Ordering::AcqRel);
    for t in p.threads.lock().iter().filter_map(|w| w.upgrade()) {
        t.sig_pending.fetch_and(!mask, Ordering::AcqRel);
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
fn ignored(p: &crate::process::Process, sig: u8) -> bool {
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
    // SAFETY: the running thread's own signal state.
    unsafe { t.inner_signals().fault = fault };
    send_to_thread(t, sig, info);
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
    let yes = (t.sig_pending.load(Ordering::Acquire)
        | t.process.sig_pending.load(Ordering::Acquire))
        & !blocked
        != 0
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
    let pending = (t.sig_pending.load(Ordering::Acquire)
        | t.process.sig_pending.load(Ordering::Acquire))
        & !task::current_inner().sigmask;
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

/// Takes the lowest-numbered deliverable signal (thread-directed first).
fn dequeue() -> Option<(u8, SigInfo)> {
    let t = task::current();
    let sig = loop {
        let (sig, set) = next_signal(
            [&t.sig_pending, &t.process.sig_pending],
            |s| s.load(Ordering::Acquire),
            task::current_inner().sigmask,
        )?;
        // A stop signal is taken in step with SIGCONT's flush (jobctl.rs); one a SIGCONT
        // flushed meanwhile is gone: look again.
        if jobctl::STOP_SIGNALS & bit(sig) == 0 {
            set.fetch_and(!bit(sig), Ordering::AcqRel);
            break sig;
        }
        if jobctl::take_stop_signal(&t.process, set, sig) {
            break sig;
        }
    };
    // SAFETY: the running thread's own signal state.
    let info = unsafe { t.inner_signals().info[sig as usize - 1] };
    let info = if info.signo == sig as i32 {
        info
    } else {
        SigInfo {
            errno: 0,
            signo: sig as i32,
            ..Default::default()
        }
    };
    Some((sig, info))
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
    while let Some((sig, info)) = dequeue() {
        // A traced thread stops for its tracer first, who may cancel or change the signal.
        let (sig, info) = if t.ptrace.is_traced() {
            match crate::ptrace::signal_stop(regs, sig, info) {
                Some(s) => s,
                None => continue,
            }
        } else {
            (sig, info)
        };
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
                if setup_rt_frame(regs, sig, &action, &info).is_err() {
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
    /// The thread itself, or a sender writing one siginfo slot before it sets the pending
    /// bit (the only cross-thread use).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn inner_signals(&self) -> &mut ThreadSignals {
        // SAFETY: per the contract.
        unsafe { &mut self.inner().signals }
    }
}

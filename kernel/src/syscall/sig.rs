//! Signal syscalls.

use super::errno::*;
use super::table::Table;
use crate::signal::{self, KSigInfo, NSIG, SigAction, SigInfo, UNBLOCKABLE};
use crate::task;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;
use kentry_abi::nr;
use kentry_kernel_logic::signal::queue::may_queue_code;

pub const fn register(mut t: Table) -> Table {
    t[nr::RT_SIGACTION] = sys_rt_sigaction;
    t[nr::RT_SIGPROCMASK] = sys_rt_sigprocmask;
    t[nr::RT_SIGRETURN] = sys_rt_sigreturn;
    t[nr::PAUSE] = sys_pause;
    t[nr::KILL] = sys_kill;
    t[nr::RT_SIGPENDING] = sys_rt_sigpending;
    t[nr::RT_SIGSUSPEND] = sys_rt_sigsuspend;
    t[nr::SIGALTSTACK] = sys_sigaltstack;
    t[nr::TKILL] = sys_tkill;
    t[nr::TGKILL] = sys_tgkill;
    t[nr::RT_SIGQUEUEINFO] = sys_rt_sigqueueinfo;
    t[nr::RT_TGSIGQUEUEINFO] = sys_rt_tgsigqueueinfo;
    t[nr::RT_SIGTIMEDWAIT] = sys_rt_sigtimedwait;
    t
}

fn valid_sig(sig: u64) -> Option<u8> {
    (1..=NSIG as u64).contains(&sig).then_some(sig as u8)
}

fn sys_rt_sigaction(regs: &mut Regs) -> i64 {
    let (sig, act, oact, size) = (regs.rdi, regs.rsi, regs.rdx, regs.r10);
    if size != 8 {
        return -EINVAL;
    }
    let new = if act != 0 {
        let mut b = [0u8; 32];
        if copy_from_user(&mut b, act).is_err() {
            return -EFAULT;
        }
        let w = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        Some(SigAction {
            handler: w(0),
            flags: w(1),
            restorer: w(2),
            mask: w(3),
        })
    } else {
        None
    };
    let old = match do_sigaction(sig, new, false) {
        Ok(old) => old,
        Err(e) => return e,
    };
    if oact != 0 {
        let mut b = [0u8; 32];
        for (i, v) in [old.handler, old.flags, old.restorer, old.mask]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        }
        if copy_to_user(oact, &b).is_err() {
            return -EFAULT;
        }
    }
    0
}

/// The action of `sig` before, and with `new` the action after (Linux's do_sigaction). The
/// kernel's own flag SA_IA32_ABI is never taken from the user nor shown to it; an action set
/// by an i386 call (`ia32`) gets it, and its handler then takes i386 signal frames (Linux's
/// sigaction_compat_abi).
pub(crate) fn do_sigaction(sig: u64, new: Option<SigAction>, ia32: bool) -> Result<SigAction, i64> {
    let Some(sig) = valid_sig(sig) else {
        return Err(-EINVAL);
    };
    let p = &task::current().process;
    let mut old = p.sigactions.lock().get(sig);
    old.flags &= !signal::SA_IA32_ABI;
    if let Some(mut new) = new {
        if sig == signal::SIGKILL || sig == signal::SIGSTOP {
            return Err(-EINVAL);
        }
        new.mask &= !UNBLOCKABLE;
        new.flags &= !signal::SA_IA32_ABI;
        if ia32 {
            new.flags |= signal::SA_IA32_ABI;
        }
        p.sigactions.lock().set(sig, new);
        if signal::ignored(p, sig) {
            // An action that ignores the signal discards what is pending, in the process's
            // queue and every thread's (Linux's do_sigaction).
            signal::flush_everywhere(p, signal::bit(sig));
        }
    }
    Ok(old)
}

fn sys_rt_sigprocmask(regs: &mut Regs) -> i64 {
    let (how, set, oset, size) = (regs.rdi, regs.rsi, regs.rdx, regs.r10);
    if size != 8 {
        return -EINVAL;
    }
    let old = task::current_inner().sigmask;
    if set != 0 {
        let mut b = [0u8; 8];
        if copy_from_user(&mut b, set).is_err() {
            return -EFAULT;
        }
        let s = u64::from_ne_bytes(b);
        let Some(mask) = kentry_kernel_logic::signal::sigprocmask(how, old, s) else {
            return -EINVAL;
        };
        signal::set_blocked(mask);
    }
    if oset != 0 && copy_to_user(oset, &old.to_ne_bytes()).is_err() {
        return -EFAULT;
    }
    0
}

fn sys_rt_sigreturn(regs: &mut Regs) -> i64 {
    signal::rt_sigreturn(regs)
}

fn sys_rt_sigpending(regs: &mut Regs) -> i64 {
    let t = task::current();
    let set = (t.sig_pending.bits() | t.process.sig_pending.bits()) & task::current_inner().sigmask;
    if copy_to_user(regs.rdi, &set.to_ne_bytes()).is_err() {
        return -EFAULT;
    }
    0
}

/// Sleeps until a signal is delivered.
fn wait_for_signal() -> i64 {
    while !signal::interrupted() {
        let me = crate::sched::current_ref();
        x86_64::instructions::interrupts::disable();
        // Blocked first, then the last look (as WaitQueue::wait_until): a sender sets the
        // pending bit before its wake looks at the state, so either this look sees the bit or
        // the wake sees Blocked. Looking first lost the wake of a signal sent in between (a
        // seized child in pause() never took the tracer's SIGSTOP: group_stop_listen hung).
        me.set_state(task::TaskState::Blocked);
        // The store must be visible before the pending bits are read (x86 may otherwise let
        // the load pass the store).
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        if signal::interrupted() {
            me.set_state(task::TaskState::Runnable);
            x86_64::instructions::interrupts::enable();
            break;
        }
        crate::sched::schedule();
        x86_64::instructions::interrupts::enable();
    }
    // pause/sigsuspend return only into a handler: -EINTR then; without one, they restart.
    -ERESTARTNOHAND
}

fn sys_pause(_: &mut Regs) -> i64 {
    wait_for_signal()
}

/// rt_sigsuspend: waits with a temporary mask; the handler runs with it, and the old mask
/// comes back through the signal frame.
fn sys_rt_sigsuspend(regs: &mut Regs) -> i64 {
    let mut b = [0u8; 8];
    if regs.rsi != 8 {
        return -EINVAL;
    }
    if copy_from_user(&mut b, regs.rdi).is_err() {
        return -EFAULT;
    }
    do_sigsuspend(u64::from_ne_bytes(b))
}

/// Sleeps with `mask` blocked until a signal is delivered (rt_sigsuspend, i386 sigsuspend).
pub(crate) fn do_sigsuspend(mask: u64) -> i64 {
    // A signal already pending and unblocked by this mask is delivered at once (through
    // SIGPENDING, which set_temporary_blocked raises), not missed.
    signal::set_temporary_blocked(mask);
    wait_for_signal()
}

const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;
const MINSIGSTKSZ: u64 = 2048;

fn sys_sigaltstack(regs: &mut Regs) -> i64 {
    let (ss, old) = (regs.rdi, regs.rsi);
    let new = if ss != 0 {
        let mut b = [0u8; 24];
        if copy_from_user(&mut b, ss).is_err() {
            return -EFAULT;
        }
        let sp = u64::from_ne_bytes(b[..8].try_into().unwrap());
        let flags = i32::from_ne_bytes(b[8..12].try_into().unwrap());
        let size = u64::from_ne_bytes(b[16..].try_into().unwrap());
        Some((sp, flags, size))
    } else {
        None
    };
    let (sp, flags, size) = match do_sigaltstack(new, regs.rsp) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if old != 0 {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&sp.to_ne_bytes());
        b[8..12].copy_from_slice(&flags.to_ne_bytes());
        b[16..].copy_from_slice(&size.to_ne_bytes());
        if copy_to_user(old, &b).is_err() {
            return -EFAULT;
        }
    }
    0
}

/// Linux's do_sigaltstack: the alternate stack before (sp, flags, size; SS_ONSTACK while the
/// caller, at `user_sp`, runs on it), and with `new` (sp, flags, size) the one after: EPERM
/// while on the stack, EINVAL for unknown flags, ENOMEM under MINSIGSTKSZ (2048 for both
/// ABIs). Nothing is written to the user on an error.
pub(crate) fn do_sigaltstack(
    new: Option<(u64, i32, u64)>,
    user_sp: u64,
) -> Result<(u64, i32, u64), i64> {
    let inner = task::current_inner();
    let cur = inner.altstack;
    let on = signal::frame_on_altstack(user_sp, cur);
    let old = (cur.0, if on { SS_ONSTACK } else { cur.2 }, cur.1);
    if let Some((sp, flags, size)) = new {
        if on {
            return Err(-EPERM);
        }
        if flags & !(SS_DISABLE | (1 << 31)) != 0 {
            return Err(-EINVAL);
        }
        if flags & SS_DISABLE != 0 {
            inner.altstack = (0, 0, SS_DISABLE);
        } else {
            if size < MINSIGSTKSZ {
                return Err(-ENOMEM);
            }
            inner.altstack = (sp, size, 0);
        }
    }
    Ok(old)
}

fn sys_kill(regs: &mut Regs) -> i64 {
    let (pid, sig) = (regs.rdi as i32, regs.rsi);
    let me = task::current();
    let targets: alloc::vec::Vec<_> = match pid {
        // A process id, or any of its threads' ids: Linux's kill looks the number up as a
        // task and signals that task's process.
        p if p > 0 => match find_process(p) {
            Some(p) => alloc::vec![p],
            None => return -ESRCH,
        },
        0 => crate::process::group::members(me.process.pgid()),
        // Every process of the caller's PID namespace but the kernel, the namespace's init
        // (pid 1 there) and the caller's own.
        -1 => {
            let ns = me.process.pid_ns();
            crate::process::all_user_processes()
                .into_iter()
                .filter(|p| {
                    p.in_pid_ns(ns)
                        && p.pid_in(ns) != 1
                        && !alloc::sync::Arc::ptr_eq(p, &me.process)
                })
                .collect()
        }
        p => match crate::process::pid_ns::current_vnr_to_global(p.unsigned_abs()) {
            Some(g) => crate::process::group::members(g),
            None => return -ESRCH,
        },
    };
    if targets.is_empty() {
        return -ESRCH;
    }
    if sig == 0 {
        return 0;
    }
    let Some(sig) = valid_sig(sig) else {
        return -EINVAL;
    };
    for target in targets
        .iter()
        .filter(|t| !ns_init_ignores(t, sig, &me.process))
    {
        // si_pid: the sender as the receiver's namespace sees it (0 from outside it).
        let from = me.process.pid_in(target.pid_ns());
        signal::send_to_process_info(target, sig, SigInfo::user(sig, from));
    }
    0
}

fn tkill(tgid: Option<u32>, tid: u64, sig: u64) -> i64 {
    let Some(t) = find_vthread(tid as u32) else {
        return -ESRCH;
    };
    let me = task::current();
    if tgid.is_some_and(|g| g != t.process.pid_in(me.process.pid_ns())) {
        return -ESRCH;
    }
    if sig == 0 {
        return 0;
    }
    let Some(sig) = valid_sig(sig) else {
        return -EINVAL;
    };
    if ns_init_ignores(&t.process, sig, &me.process) {
        return 0;
    }
    let info = SigInfo {
        errno: 0,
        signo: sig as i32,
        code: signal::SI_TKILL,
        addr_or_pid: me.process.pid_in(t.process.pid_ns()) as u64,
        extra: 0,
    };
    signal::send_to_thread(&t, sig, info);
    0
}

fn sys_tkill(regs: &mut Regs) -> i64 {
    tkill(None, regs.rdi, regs.rsi)
}

fn sys_tgkill(regs: &mut Regs) -> i64 {
    tkill(Some(regs.rdi as u32), regs.rsi, regs.rdx)
}

/// The siginfo a sigqueue-like call passes (Linux's `__copy_siginfo_from_user`).
fn siginfo_from_user(sig: u64, uinfo: u64) -> Result<KSigInfo, i64> {
    let mut b = [0u8; 128];
    copy_from_user(&mut b, uinfo).map_err(|_| -EFAULT)?;
    if super::compat::in_ia32_syscall() {
        // rt_sigqueueinfo and rt_tgsigqueueinfo of i386 take a `compat_siginfo`.
        b = kentry_abi::compat::siginfo_from_compat(&b);
    }
    // An invalid number is refused later, after the target's lookup (as Linux).
    // A number past 255 has no layout of its own (and is refused as invalid later).
    KSigInfo::from_user(u8::try_from(sig).unwrap_or(0), &b)
}

/// rt_sigqueueinfo(pid, sig, info): a signal with a siginfo of the caller's making for a
/// process (any thread id names its process, as for kill). Another process must not receive
/// a forged kernel, kill() or tkill() siginfo (EPERM); sig 0 only checks.
fn sys_rt_sigqueueinfo(regs: &mut Regs) -> i64 {
    let (pid, sig) = (regs.rdi as i32, regs.rsi);
    let info = match siginfo_from_user(sig, regs.rdx) {
        Ok(i) => i,
        Err(e) => return e,
    };
    // Linux compares `pid` with the caller's own thread id (task_pid_vnr).
    let me = task::current();
    if signal::sigqueue_checks_on()
        && !may_queue_code(info.info.code, pid as u32 == me.tid_in(me.process.pid_ns()))
    {
        return -EPERM;
    }
    let Some(target) = (pid > 0).then(|| find_process(pid)).flatten() else {
        return -ESRCH;
    };
    if sig == 0 {
        return 0;
    }
    let Some(sig) = valid_sig(sig) else {
        return -EINVAL;
    };
    match signal::queue_to_process(&target, sig, &info) {
        Ok(()) => 0,
        Err(e) => e,
    }
}

/// rt_tgsigqueueinfo(tgid, tid, sig, info): the same for one thread of process `tgid`.
fn sys_rt_tgsigqueueinfo(regs: &mut Regs) -> i64 {
    let (tgid, tid, sig) = (regs.rdi as i32, regs.rsi as i32, regs.rdx);
    let info = match siginfo_from_user(sig, regs.r10) {
        Ok(i) => i,
        Err(e) => return e,
    };
    if tgid <= 0 || tid <= 0 {
        return -EINVAL;
    }
    // Linux compares the thread id with the caller's pid (task_pid_vnr): a process may
    // forge codes to its main thread, and to no other.
    let me = task::current();
    let ns = me.process.pid_ns();
    if signal::sigqueue_checks_on() && !may_queue_code(info.info.code, tid as u32 == me.tid_in(ns))
    {
        return -EPERM;
    }
    let Some(t) = find_vthread(tid as u32).filter(|t| t.process.pid_in(ns) == tgid as u32) else {
        return -ESRCH;
    };
    if sig == 0 {
        return 0;
    }
    let Some(sig) = valid_sig(sig) else {
        return -EINVAL;
    };
    match signal::queue_to_thread(&t, sig, &info) {
        Ok(()) => 0,
        Err(e) => e,
    }
}

/// Where rt_sigtimedwait sleeps: nobody wakes the queue itself; a signal's kick or the
/// timeout's tick wakes the sleeper.
static SIGWAIT: crate::sched::WaitQueue = crate::sched::WaitQueue::new();

/// rt_sigtimedwait(set, info, timeout, sigsetsize): takes a pending signal of `set` without
/// running its handler (Linux's `do_sigtimedwait`): at once if one is pending; otherwise the
/// signals of `set` are unblocked while it sleeps, until one comes (its number, its siginfo
/// to `info`), the timeout passes (EAGAIN; a zero timeout only looks) or another signal is
/// delivered (EINTR, never restarted). SIGKILL and SIGSTOP are never taken.
fn sys_rt_sigtimedwait(regs: &mut Regs) -> i64 {
    let (uset, uinfo, uts, size) = (regs.rdi, regs.rsi, regs.rdx, regs.r10);
    do_rt_sigtimedwait(uset, uinfo, uts, size, super::timespec::read_timespec)
}

/// rt_sigtimedwait with the timeout read by `read_ts` (a `__kernel_timespec`, or i386's
/// `old_timespec32`); the siginfo goes out in the caller's layout (`compat_siginfo` for an
/// i386 call).
pub(crate) fn do_rt_sigtimedwait(
    uset: u64,
    uinfo: u64,
    uts: u64,
    size: u64,
    read_ts: fn(u64) -> Result<u64, i64>,
) -> i64 {
    if size != 8 {
        return -EINVAL;
    }
    let mut b = [0u8; 8];
    if copy_from_user(&mut b, uset).is_err() {
        return -EFAULT;
    }
    let these = signal::blockable(u64::from_ne_bytes(b));
    let end = if uts != 0 {
        match read_ts(uts) {
            Ok(ns) => Some(crate::time::monotonic_ns().saturating_add(ns)),
            Err(e) => return e,
        }
    } else {
        None
    };
    let mut got = signal::dequeue_with(!these);
    if got.is_none() && end.is_none_or(|e| crate::time::monotonic_ns() < e) {
        // The awaited signals are unblocked while it sleeps, so that their send wakes it (as
        // Linux's real_blocked); the mask comes back before the last look.
        let inner = task::current_inner();
        let real_blocked = inner.sigmask;
        inner.sigmask = real_blocked & !these;
        loop {
            if signal::interrupted() {
                break;
            }
            let now = crate::time::monotonic_ns();
            let Some(tick) = end.map(|e| e.checked_sub(now)) else {
                SIGWAIT.wait_until(|| false, signal::interrupted);
                continue;
            };
            let Some(left) = tick.filter(|&l| l > 0) else {
                break;
            };
            let d = crate::time::deadline_after_ns(left);
            crate::sched::add_timeout(d);
            SIGWAIT.wait_until(|| crate::sched::ticks() >= d, signal::interrupted);
        }
        signal::set_blocked(real_blocked);
        got = signal::dequeue_with(!these);
    }
    let Some((sig, info)) = got else {
        return if signal::interrupted() {
            -EINTR
        } else {
            -EAGAIN
        };
    };
    let mut b = info.to_bytes();
    if super::compat::in_ia32_syscall() {
        b = kentry_abi::compat::siginfo_to_compat(&b);
    }
    if uinfo != 0 && copy_to_user(uinfo, &b).is_err() {
        return -EFAULT;
    }
    sig as i64
}

/// The process a signal for `pid` goes to: the process, or the one of the thread with that
/// id (Linux's kill looks the number up as a task). A process that ended and was reaped is
/// gone (ESRCH), though its structure may live on a little (a last reference in its tasks):
/// it is in nobody's children list any more, where a zombie still is.
fn find_process(pid: i32) -> Option<alloc::sync::Arc<crate::process::Process>> {
    // The caller's namespace's number → the global id (PID namespaces: process/pid_ns.rs).
    let pid = crate::process::pid_ns::current_vnr_to_global(pid as u32)?;
    let p = crate::process::find(pid)
        .or_else(|| crate::process::find_thread(pid).map(|t| t.process.clone()))?;
    if p.exit_reason().is_none() {
        return Some(p);
    }
    let parent = p.parent.lock().upgrade()?;
    let zombie = parent
        .children
        .lock()
        .iter()
        .any(|c| alloc::sync::Arc::ptr_eq(c, &p));
    zombie.then_some(p)
}

/// The live thread numbered `tid` in the caller's PID namespace.
fn find_vthread(tid: u32) -> Option<crate::task::TaskRef> {
    crate::process::find_thread(crate::process::pid_ns::current_vnr_to_global(tid)?)
}

/// Whether the init of a PID namespace drops `sig` from `sender` (Linux's SIGNAL_UNKILLABLE
/// in `sig_task_ignored`): a signal it has no handler for is ignored, except SIGKILL and
/// SIGSTOP from a process outside the namespace (one the namespace cannot see), which must
/// be able to end it. The root namespace's init is the kernel's business: kentry starts
/// programs as ordinary processes there, so this is for inner namespaces only.
fn ns_init_ignores(
    target: &crate::process::Process,
    sig: u8,
    sender: &crate::process::Process,
) -> bool {
    if target.vpid != 1 || target.ns_pids.is_none() {
        return false;
    }
    if target.sigactions.lock().get(sig).handler != signal::SIG_DFL {
        return false;
    }
    let from_outside = sender.pid_in(target.pid_ns()) == 0;
    !(from_outside && (sig == signal::SIGKILL || sig == signal::SIGSTOP))
}

//! Signal mask arithmetic: rt_sigprocmask's `how`, the signals nobody blocks, the mask a
//! handler runs with, and whether a syscall that a signal interrupted restarts or fails with
//! EINTR; [`queue`]: the pending queues and which signal is delivered next.

pub mod queue;

use crate::errno::{ERESTART_RESTARTBLOCK, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS};

pub const SIGKILL: u8 = 9;
pub const SIGSTOP: u8 = 19;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;

/// Signal `sig`'s bit in a mask (signal 1 is bit 0).
#[inline]
pub const fn bit(sig: u8) -> u64 {
    1u64 << (sig - 1)
}

/// Signals that can never be blocked, caught or ignored.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// rt_sigprocmask's `how`.
pub const SIG_BLOCK: u64 = 0;
pub const SIG_UNBLOCK: u64 = 1;
pub const SIG_SETMASK: u64 = 2;

/// The mask rt_sigprocmask asks for: `old` with `set` added, removed, or `set` itself; None
/// for an unknown `how` (EINVAL). The kernel installs it with the unblockable signals
/// cleared ([`blockable`]).
#[inline]
pub fn sigprocmask(how: u64, old: u64, set: u64) -> Option<u64> {
    match how {
        SIG_BLOCK => Some(old | set),
        SIG_UNBLOCK => Some(old & !set),
        SIG_SETMASK => Some(set),
        _ => None,
    }
}

/// `mask` as a blocked set may hold it: SIGKILL and SIGSTOP are never blocked.
#[inline]
pub fn blockable(mask: u64) -> u64 {
    mask & !UNBLOCKABLE
}

/// The blocked set while the handler for `sig` runs: the current one plus the action's
/// sa_mask, plus `sig` itself unless SA_NODEFER; never the unblockable signals.
#[inline]
pub fn handler_mask(current: u64, sa_mask: u64, sa_flags: u64, sig: u8) -> u64 {
    let mut m = current | blockable(sa_mask);
    if sa_flags & SA_NODEFER == 0 {
        m |= bit(sig);
    }
    m
}

/// What becomes of a syscall whose return value is `ret` when a signal is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Not an internal restart code: the value stands.
    Keep,
    /// Run the call again (its number back in RAX, RIP back over the `syscall`).
    Restart,
    /// Fail it with EINTR.
    Eintr,
    /// Go back into `restart_syscall`, which carries on from the task's restart block (the
    /// rest of an interrupted sleep).
    RestartSyscall,
}

/// Linux's rules for an interrupted syscall (arch/x86 handle_signal and
/// arch_do_signal_or_restart). `handler_flags` is the sa_flags of the handler about to
/// run, or None when no handler runs (the signal was ignored or stopped nothing):
/// - ERESTARTNOHAND: EINTR with a handler, restart without;
/// - ERESTART_RESTARTBLOCK: EINTR with a handler, without one `restart_syscall`;
/// - ERESTARTSYS: restart with an SA_RESTART handler or none, EINTR with another handler;
/// - ERESTARTNOINTR: always restart.
#[inline]
pub fn restart_rule(ret: i64, handler_flags: Option<u64>) -> Restart {
    match (ret, handler_flags) {
        (r, Some(_)) if r == -ERESTARTNOHAND || r == -ERESTART_RESTARTBLOCK => Restart::Eintr,
        (r, Some(f)) if r == -ERESTARTSYS => {
            if f & SA_RESTART != 0 {
                Restart::Restart
            } else {
                Restart::Eintr
            }
        }
        (r, _) if r == -ERESTART_RESTARTBLOCK => Restart::RestartSyscall,
        (r, _) if r == -ERESTARTSYS || r == -ERESTARTNOINTR || r == -ERESTARTNOHAND => {
            Restart::Restart
        }
        _ => Restart::Keep,
    }
}

#[cfg(test)]
mod tests;

//! Pending-signal queues, as Linux's `struct sigpending`: the set of pending signals and the
//! queued instances, each with its siginfo, in arrival order.
//!
//! A real-time signal (SIGRTMIN..=64) queues every instance; a standard one queues one (a
//! second send while it is pending is dropped, its siginfo with it: Linux's `legacy_queue`).
//! A signal may be pending without a queued instance (its siginfo was not kept: SIGKILL,
//! ptrace's initial SIGSTOP, or the queue limit reached); it is then delivered with a
//! SI_USER siginfo from nobody, as Linux's `collect_signal` does.
//!
//! The kernel keeps one queue per thread (signals for that thread) and one per process
//! (signals for any of its threads), each under its own lock, and counts the queued
//! instances against RLIMIT_SIGPENDING; the decisions are here, where host tests reach them.

use super::{SIGKILL, SIGSTOP, bit};
use alloc::vec::Vec;

pub const SIGILL: u8 = 4;
pub const SIGTRAP: u8 = 5;
pub const SIGBUS: u8 = 7;
pub const SIGFPE: u8 = 8;
pub const SIGSEGV: u8 = 11;
pub const SIGCHLD: u8 = 17;
pub const SIGCONT: u8 = 18;
pub const SIGTSTP: u8 = 20;
pub const SIGTTIN: u8 = 21;
pub const SIGTTOU: u8 = 22;
pub const SIGPOLL: u8 = 29;
pub const SIGSYS: u8 = 31;
/// The first real-time signal (the kernel's; libc reserves the first two or three).
pub const SIGRTMIN: u8 = 32;

/// Signals an exception raises: delivered before any other pending signal (Linux's
/// SYNCHRONOUS_MASK), so that a fault is reported at the instruction that made it.
pub const SYNCHRONOUS_MASK: u64 =
    bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);

/// The standard signals (1..=31): pending at most once each.
pub const STANDARD_MASK: u64 = (1 << (SIGRTMIN - 1)) - 1;

/// The stop signals whose default action stops the process (Linux's SIG_KERNEL_STOP_MASK).
pub const STOP_MASK: u64 = bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU);

/// si_code values the queue logic looks at.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;
const SI_DETHREAD: i32 = -7;
const SI_ASYNCNL: i32 = -60;

/// What the queue needs to know of a queued siginfo.
pub trait Queued {
    /// si_signo.
    fn signo(&self) -> u8;
    /// si_code.
    fn code(&self) -> i32;
}

/// One pending set and its queued instances.
#[derive(Clone, Debug)]
pub struct Pending<I> {
    /// Bit n-1: signal n is pending (with or without a queued instance).
    pub signal: u64,
    list: Vec<I>,
}

impl<I> Default for Pending<I> {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a send of `sig` to a set where `pending` is pending is dropped: a standard signal
/// is pending at most once (Linux's `legacy_queue`).
#[inline]
pub fn legacy_queue(pending: u64, sig: u8) -> bool {
    sig < SIGRTMIN && pending & bit(sig) != 0
}

/// Whether a send of `sig` keeps a siginfo even over RLIMIT_SIGPENDING: a standard signal
/// from the kernel or from kill() (si_code >= 0) does, a real-time one never (Linux's
/// `override_rlimit` in `__send_signal_locked`).
#[inline]
pub fn override_rlimit(sig: u8, code: i32) -> bool {
    sig < SIGRTMIN && code >= 0
}

/// Which pending synchronous signal an exception raised first (Linux's
/// `dequeue_synchronous_signal`): among `candidates` (pending, unblocked, synchronous), those
/// whose queued siginfo has a positive si_code, the one queued first. `queued` gives a
/// signal's si_code and arrival number, None when it has no siginfo.
#[inline]
pub fn first_fault(candidates: u64, queued: impl Fn(u8) -> Option<(i32, u64)>) -> Option<u8> {
    let mut best: Option<(u64, u8)> = None;
    let mut c = candidates;
    while c != 0 {
        let sig = c.trailing_zeros() as u8 + 1;
        c &= c - 1;
        if let Some((code, seq)) = queued(sig)
            && code > SI_USER
            && best.is_none_or(|(s, _)| seq < s)
        {
            best = Some((seq, sig));
        }
    }
    best.map(|(_, sig)| sig)
}

/// What becomes of a send whose siginfo could not be queued (over the limit): a real-time
/// signal queued by sigqueue-like calls (si_code other than SI_USER) fails with EAGAIN
/// (`true`); anything else is still sent, without its siginfo.
#[inline]
pub fn overflow_fails(sig: u8, code: i32) -> bool {
    sig >= SIGRTMIN && code != SI_USER
}

/// The signal taken next from a set: the lowest-numbered pending one not in `mask`, a
/// synchronous one (an exception's) first (Linux's `next_signal`). `mask` is taken as it is:
/// a thread's blocked set never holds SIGKILL or SIGSTOP, and rt_sigtimedwait's "everything
/// but these" holds them so as not to take them.
#[inline]
pub fn next_signal(pending: u64, mask: u64) -> Option<u8> {
    let mut x = pending & !mask;
    if x == 0 {
        return None;
    }
    if x & SYNCHRONOUS_MASK != 0 {
        x &= SYNCHRONOUS_MASK;
    }
    Some(x.trailing_zeros() as u8 + 1)
}

impl<I> Pending<I> {
    pub const fn new() -> Self {
        Pending {
            signal: 0,
            list: Vec::new(),
        }
    }
}

impl<I: Queued> Pending<I> {
    /// Marks `sig` pending, queueing `info` if there is one (the caller checked
    /// [`legacy_queue`] and the limit).
    pub fn add(&mut self, sig: u8, info: Option<I>) {
        if let Some(i) = info {
            self.list.push(i);
        }
        self.signal |= bit(sig);
    }

    /// Takes the first queued instance of `sig`, leaving `sig` pending only if another is
    /// queued (Linux's `collect_signal`). `None`: `sig` was pending with no instance (or
    /// not at all). The caller knows `sig` is pending.
    pub fn collect(&mut self, sig: u8) -> Option<I> {
        let first = self.list.iter().position(|i| i.signo() == sig);
        let more = first.is_some_and(|f| self.list[f + 1..].iter().any(|i| i.signo() == sig));
        if !more {
            self.signal &= !bit(sig);
        }
        first.map(|f| self.take(f))
    }

    /// Removes the `f`-th instance; the last (nearly always the only one) without moving
    /// anything.
    #[inline]
    fn take(&mut self, f: usize) -> I {
        if f + 1 == self.list.len()
            && let Some(i) = self.list.pop()
        {
            return i;
        }
        self.list.remove(f)
    }

    /// Takes the next signal not blocked by `blocked` ([`next_signal`]) with its queued
    /// instance, if it has one.
    pub fn dequeue(&mut self, blocked: u64) -> Option<(u8, Option<I>)> {
        let sig = next_signal(self.signal, blocked)?;
        Some((sig, self.collect(sig)))
    }

    /// Discards the signals of `mask`, pending or queued; returns how many instances went
    /// (Linux's `flush_sigqueue_mask`).
    pub fn flush_mask(&mut self, mask: u64) -> usize {
        if self.signal & mask == 0 {
            return 0;
        }
        self.signal &= !mask;
        let before = self.list.len();
        self.list.retain(|i| mask & bit(i.signo()) == 0);
        before - self.list.len()
    }

    /// Discards everything; returns how many instances went.
    pub fn flush(&mut self) -> usize {
        self.signal = 0;
        let n = self.list.len();
        self.list.clear();
        n
    }

    /// The `off`-th queued instance, in arrival order (PTRACE_PEEKSIGINFO).
    pub fn peek(&self, off: usize) -> Option<&I> {
        self.list.get(off)
    }

    /// The queued instances, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = &I> {
        self.list.iter()
    }

    /// How many instances are queued.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// What a send of `sig` flushes from every queue of the receiving process before it is
/// queued (Linux's `prepare_signal`): a stop signal discards a pending SIGCONT, and SIGCONT
/// discards every pending stop signal.
#[inline]
pub fn flushed_by(sig: u8) -> u64 {
    if STOP_MASK & bit(sig) != 0 {
        bit(SIGCONT)
    } else if sig == SIGCONT {
        STOP_MASK
    } else {
        0
    }
}

/// Whether a siginfo with `code` for `sig` has a layout Linux knows, whose bytes beyond the
/// kernel's 48 mean nothing (Linux's `known_siginfo_layout`); for any other, a siginfo from
/// user space must have them zero (E2BIG otherwise), so that what was queued comes back
/// byte for byte.
pub fn known_siginfo_layout(sig: u8, code: i32) -> bool {
    // Linux's sig_sicodes: the signals whose positive codes have their own meanings, and
    // how many there are.
    let limit = match sig {
        SIGILL => 11,
        SIGFPE => 15,
        SIGSEGV => 9,
        SIGBUS => 5,
        SIGTRAP => 6,
        SIGCHLD => 6,
        SIGPOLL => 6,
        SIGSYS => 2,
        _ => 0,
    };
    if code == SI_KERNEL {
        true
    } else if code > SI_USER {
        if limit != 0 { code <= limit } else { code <= 6 } // NSIGPOLL
    } else {
        code >= SI_DETHREAD || code == SI_ASYNCNL
    }
}

/// Which union member of a siginfo holds its data (Linux's `enum siginfo_layout`, the
/// fault variants folded into `Fault`): what signalfd copies out of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiginfoLayout {
    Kill,
    Timer,
    Poll,
    Fault,
    Chld,
    Rt,
    Sys,
}

/// Linux's `siginfo_layout`: by the signal's own codes where the code is one of them, else
/// by the generic codes (SI_TIMER, SI_SIGIO, the negative ones, SI_USER/SI_KERNEL).
pub fn siginfo_layout(sig: u8, code: i32) -> SiginfoLayout {
    const SI_TIMER: i32 = -2;
    const SI_SIGIO: i32 = -5;
    const NSIGPOLL: i32 = 6;
    if code > SI_USER && code < SI_KERNEL {
        let (limit, layout) = match sig {
            SIGILL => (11, SiginfoLayout::Fault),
            SIGFPE => (15, SiginfoLayout::Fault),
            SIGSEGV => (9, SiginfoLayout::Fault),
            SIGBUS => (5, SiginfoLayout::Fault),
            SIGTRAP => (6, SiginfoLayout::Fault),
            SIGCHLD => (6, SiginfoLayout::Chld),
            SIGPOLL => (6, SiginfoLayout::Poll),
            SIGSYS => (2, SiginfoLayout::Sys),
            _ => (0, SiginfoLayout::Kill),
        };
        if code <= limit {
            layout
        } else if code <= NSIGPOLL {
            SiginfoLayout::Poll
        } else {
            SiginfoLayout::Kill
        }
    } else if code == SI_TIMER {
        SiginfoLayout::Timer
    } else if code == SI_SIGIO {
        SiginfoLayout::Poll
    } else if code < 0 {
        SiginfoLayout::Rt
    } else {
        SiginfoLayout::Kill
    }
}

/// Whether a process may queue a siginfo with `code` to another process: it may not forge
/// one the kernel or kill()/tkill() would make (si_code >= 0, or SI_TKILL), which carry a
/// trustworthy sender (Linux's check in `do_rt_sigqueueinfo`).
#[inline]
pub fn may_queue_code(code: i32, to_self: bool) -> bool {
    to_self || (code < 0 && code != SI_TKILL)
}

/// SIGKILL keeps no siginfo (Linux skips its allocation).
#[inline]
pub fn keeps_info(sig: u8) -> bool {
    sig != SIGKILL
}

#[cfg(test)]
mod tests;

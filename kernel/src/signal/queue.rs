//! The pending-signal queues: one per thread (signals sent to it: tkill, faults, ptrace) and
//! one per process (signals for any of its threads: kill, sigqueue), as Linux's `pending`
//! and `shared_pending`. What a queue does with a send, a take or a flush is decided in
//! `kentry_kernel_logic::signal::queue` (host-tested); here each queue gets its lock, the
//! RLIMIT_SIGPENDING count, and an atomic copy of its pending set.
//!
//! The atomic copy is what the exit path and the blocking waits read (`interrupted`,
//! `fatal_pending`, the first look of `dequeue`): no lock while nothing is pending. It is
//! written only under the queue's lock, after the queue changed, so a reader that sees a bit
//! finds the signal (or a racing taker already took it, which the locked take notices).

use super::{KSigInfo, SigInfo};
use crate::sync::Mutex;
use core::sync::atomic::{AtomicU64, Ordering};
use kentry_kernel_logic::signal::queue::{self as logic, Pending, Queued};

impl Queued for KSigInfo {
    #[inline]
    fn signo(&self) -> u8 {
        self.info.signo as u8
    }
    #[inline]
    fn code(&self) -> i32 {
        self.info.code
    }
}

/// Test kernels, `kentry.break=sigqueue`: rt_sigqueueinfo's and rt_tgsigqueueinfo's check of
/// a forged si_code and the RLIMIT_SIGPENDING limit are off (the negative run of
/// `c_sigqueue`).
#[cfg(feature = "test-hooks")]
pub static BREAK_CHECKS: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Whether the checks [`BREAK_CHECKS`] turns off are on (always, outside test kernels).
#[inline(always)]
pub fn checks_on() -> bool {
    #[cfg(feature = "test-hooks")]
    return !BREAK_CHECKS.load(Ordering::Relaxed);
    #[cfg(not(feature = "test-hooks"))]
    true
}

/// Queued siginfos of the (one) user, against RLIMIT_SIGPENDING: Linux counts them per user
/// (`UCOUNT_RLIMIT_SIGPENDING`); every kentry process runs as root.
static QUEUED: AtomicU64 = AtomicU64::new(0);

/// How many siginfos are queued in all (self-tests).
#[allow(dead_code, reason = "self-tests and reports")]
pub fn queued_total() -> u64 {
    QUEUED.load(Ordering::Relaxed)
}

/// Takes one siginfo off the count, as Linux's `__sigqueue_alloc`: over `limit` (the
/// receiver's RLIMIT_SIGPENDING, read only when it matters) it fails unless `override_limit`.
fn charge(override_limit: bool, limit: impl FnOnce() -> u64) -> bool {
    let n = QUEUED.fetch_add(1, Ordering::Relaxed) + 1;
    if override_limit || n <= limit() || !checks_on() {
        return true;
    }
    QUEUED.fetch_sub(1, Ordering::Relaxed);
    false
}

fn uncharge(n: usize) {
    if n != 0 {
        QUEUED.fetch_sub(n as u64, Ordering::Relaxed);
    }
}

/// A pending set with its queued siginfos.
pub struct SigPending {
    bits: AtomicU64,
    queue: Mutex<Pending<KSigInfo>>,
}

impl SigPending {
    pub const fn new() -> Self {
        SigPending {
            bits: AtomicU64::new(0),
            queue: Mutex::new(Pending::new()),
        }
    }

    /// The pending set (bit n-1 for signal n), without the lock.
    #[inline]
    pub fn bits(&self) -> u64 {
        self.bits.load(Ordering::Acquire)
    }

    /// Runs `f` on the queue under its lock, then publishes its pending set.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Pending<KSigInfo>) -> R) -> R {
        let mut q = self.queue.lock();
        let r = f(&mut q);
        self.bits.store(q.signal, Ordering::Release);
        r
    }

    /// Queues `sig` with `info` (Linux's `__send_signal_locked` after `prepare_signal`): a
    /// standard signal already pending is dropped; past RLIMIT_SIGPENDING (`limit`) a
    /// real-time siginfo from sigqueue-like calls fails with EAGAIN, anything else is sent
    /// without its siginfo. Ok(true): `sig` is now pending (the receiver should be kicked).
    pub fn send(&self, sig: u8, info: &KSigInfo, limit: impl FnOnce() -> u64) -> Result<bool, i64> {
        self.with(|q| {
            if logic::legacy_queue(q.signal, sig) {
                return Ok(false);
            }
            let keep = logic::keeps_info(sig)
                && charge(logic::override_rlimit(sig, info.info.code), limit);
            if !keep && logic::keeps_info(sig) && logic::overflow_fails(sig, info.info.code) {
                return Err(-crate::syscall::errno::EAGAIN);
            }
            q.add(sig, keep.then_some(*info));
            Ok(true)
        })
    }

    /// Marks `sig` pending with no siginfo (ptrace's SIGSTOP for a new traced child, as
    /// Linux's `sigaddset(&child->pending.signal, SIGSTOP)`).
    pub fn add_without_info(&self, sig: u8) {
        self.with(|q| q.add(sig, None));
    }

    /// Takes the next signal not in `blocked`: for a thread's own queue (`synchronous`) an
    /// exception's signal first, in arrival order (Linux's `dequeue_synchronous_signal`);
    /// then the lowest-numbered. A signal pending without a siginfo gets Linux's SI_USER one
    /// from nobody.
    pub fn dequeue(&self, blocked: u64, synchronous: bool) -> Option<(u8, KSigInfo)> {
        let (sig, info) = self.with(|q| {
            if synchronous && let Some(i) = q.dequeue_synchronous(blocked) {
                return Some((i.info.signo as u8, Some(i)));
            }
            q.dequeue(blocked)
        })?;
        Some((
            sig,
            match info {
                Some(i) => {
                    uncharge(1);
                    i
                }
                None => SigInfo::user(sig, 0).into(),
            },
        ))
    }

    /// Discards the signals of `mask` (Linux's `flush_sigqueue_mask`).
    pub fn flush_mask(&self, mask: u64) {
        if self.bits() & mask != 0 {
            uncharge(self.with(|q| q.flush_mask(mask)));
        }
    }

    /// Discards everything (a thread's end; the process's end for its shared queue).
    pub fn flush(&self) {
        uncharge(self.with(|q| q.flush()));
    }

    /// The `off`-th queued siginfo in arrival order (PTRACE_PEEKSIGINFO).
    pub fn peek(&self, off: usize) -> Option<KSigInfo> {
        self.queue.lock().peek(off).copied()
    }
}

impl Default for SigPending {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SigPending {
    /// Whatever is still queued leaves the count with the queue.
    fn drop(&mut self) {
        uncharge(self.queue.get_mut().flush());
    }
}

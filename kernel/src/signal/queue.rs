//! The pending-signal queues: one per thread (signals sent to it: tkill, faults, ptrace) and
//! one per process (signals for any of its threads: kill, sigqueue), as Linux's `pending`
//! and `shared_pending`. What a queue does with a send, a take or a flush is decided in
//! `kentry_kernel_logic::signal::queue` (host-tested); here each queue gets its lock, the
//! RLIMIT_SIGPENDING count, and an atomic copy of its pending set.
//!
//! A standard signal (1..=31) is pending at most once, so it has a slot of its own, used
//! without a lock: the exception's SIGTRAP of `int3` costs the send and the delivery a few
//! atomic operations, not a lock and a list. Two bits per signal say who owns its slot:
//!
//! - `claimed`: a sender reserved the slot (`fetch_or`; finding the bit set, it drops its send,
//!   as Linux's `legacy_queue`), then writes it, then sets the pending bit;
//! - the pending bit in `bits`: the slot is complete; whoever clears it (`fetch_and`, seeing
//!   it set) — the thread taking the signal, or a flush — owns the slot, reads it, and clears
//!   `claimed`, after which a new send may write it.
//!
//! So a slot is written only between a successful claim and the pending bit, and read only
//! by the one who cleared the pending bit (PTRACE_PEEKSIGINFO reads pending slots too, with
//! volatile reads: see [`SigPending::peek`]). Real-time signals queue every instance in a list
//! under a lock (`rt`); their pending bits change only under it. Each instance, slot or list
//! entry, carries an arrival number, which orders PTRACE_PEEKSIGINFO's walk and picks the
//! first fault, as Linux's one list does.
//!
//! `bits`, the pending set, is what the exit path and the blocking waits read
//! (`interrupted`, `fatal_pending`, the first look of `dequeue`): nothing pending costs
//! nothing.

use super::{KSigInfo, SigInfo, bit};
use crate::sync::Mutex;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kentry_kernel_logic::signal::queue::{self as logic, Pending, Queued, STANDARD_MASK};

/// A queued instance: its siginfo and its arrival number. In a standard signal's slot, a
/// zero si_signo means "pending without a siginfo".
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    info: KSigInfo,
    seq: u64,
}

impl Queued for Entry {
    #[inline]
    fn signo(&self) -> u8 {
        self.info.info.signo as u8
    }
    #[inline]
    fn code(&self) -> i32 {
        self.info.info.code
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
    /// The pending set (bit n-1 for signal n): standard bits by the slot protocol, real-time
    /// bits under `rt`'s lock.
    bits: AtomicU64,
    /// Standard signals whose slot a sender reserved or that are pending (bit n-1).
    claimed: AtomicU32,
    /// The next arrival number.
    seq: AtomicU64,
    slots: [UnsafeCell<Entry>; 31],
    rt: Mutex<Pending<Entry>>,
}

// SAFETY: the slots are written only by the sender that claimed them, before it sets their
// pending bit, and read by whoever clears that bit (or by PEEKSIGINFO's volatile reads);
// everything else is atomic or under the lock (see the module comment).
unsafe impl Sync for SigPending {}

impl SigPending {
    pub const fn new() -> Self {
        SigPending {
            bits: AtomicU64::new(0),
            claimed: AtomicU32::new(0),
            seq: AtomicU64::new(0),
            slots: [const {
                UnsafeCell::new(Entry {
                    info: KSigInfo {
                        info: SigInfo {
                            signo: 0,
                            errno: 0,
                            code: 0,
                            addr_or_pid: 0,
                            extra: 0,
                        },
                        tail: [0; 2],
                    },
                    seq: 0,
                })
            }; 31],
            rt: Mutex::new(Pending::new()),
        }
    }

    /// The pending set (bit n-1 for signal n), without the lock.
    #[inline]
    pub fn bits(&self) -> u64 {
        self.bits.load(Ordering::Acquire)
    }

    /// Runs `f` on the real-time list under its lock, then publishes its pending bits.
    fn with_rt<R>(&self, f: impl FnOnce(&mut Pending<Entry>) -> R) -> R {
        let mut q = self.rt.lock();
        let before = q.signal;
        let r = f(&mut q);
        let after = q.signal;
        if after & !before != 0 {
            self.bits.fetch_or(after & !before, Ordering::Release);
        }
        if before & !after != 0 {
            self.bits.fetch_and(!(before & !after), Ordering::Release);
        }
        r
    }

    /// Queues `sig` with `info` (Linux's `__send_signal_locked` after `prepare_signal`): a
    /// standard signal already pending is dropped; past RLIMIT_SIGPENDING (`limit`) a
    /// real-time siginfo from sigqueue-like calls fails with EAGAIN, anything else is sent
    /// without its siginfo. Ok(true): `sig` is now pending (the receiver should be kicked).
    #[inline]
    pub fn send(&self, sig: u8, info: &KSigInfo, limit: impl FnOnce() -> u64) -> Result<bool, i64> {
        let keep =
            |code| logic::keeps_info(sig) && charge(logic::override_rlimit(sig, code), limit);
        if bit(sig) & STANDARD_MASK != 0 {
            let info = if keep(info.info.code) {
                *info
            } else {
                KSigInfo::default()
            };
            return Ok(self.fill_slot(sig, info));
        }
        let kept = keep(info.info.code);
        if !kept && logic::overflow_fails(sig, info.info.code) {
            return Err(-crate::syscall::errno::EAGAIN);
        }
        self.with_rt(|q| {
            // Numbered under the lock, so that the list's order is the numbers' order.
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            q.add(sig, kept.then_some(Entry { info: *info, seq }))
        });
        Ok(true)
    }

    /// Claims standard signal `sig`'s slot, fills it with `info` (si_signo 0: no siginfo) and
    /// makes it pending; false (and `info` not kept) if it was pending or being sent already.
    #[inline]
    fn fill_slot(&self, sig: u8, info: KSigInfo) -> bool {
        let b = bit(sig) as u32;
        if self.claimed.fetch_or(b, Ordering::Acquire) & b != 0 {
            if info.info.signo != 0 {
                uncharge(1);
            }
            return false;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the claim just made is this sender's alone, and nobody reads the slot
        // before the pending bit below is set.
        unsafe { *self.slots[sig as usize - 1].get() = Entry { info, seq } };
        self.bits.fetch_or(bit(sig), Ordering::Release);
        true
    }

    /// Marks `sig` pending with no siginfo (ptrace's SIGSTOP for a new traced child, as
    /// Linux's `sigaddset(&child->pending.signal, SIGSTOP)`).
    pub fn add_without_info(&self, sig: u8) {
        if bit(sig) & STANDARD_MASK != 0 {
            self.fill_slot(sig, KSigInfo::default());
        } else {
            self.with_rt(|q| q.add(sig, None));
        }
    }

    /// Takes standard signal `sig` if it is still pending: its siginfo (Linux's SI_USER one
    /// from nobody when none was kept). None: another taker or a flush was first.
    #[inline]
    fn take_slot(&self, sig: u8) -> Option<KSigInfo> {
        if self.bits.fetch_and(!bit(sig), Ordering::Acquire) & bit(sig) == 0 {
            return None;
        }
        // SAFETY: clearing the pending bit made the slot this taker's; no sender writes it
        // until `claimed` is cleared below.
        let e = unsafe { *self.slots[sig as usize - 1].get() };
        self.claimed
            .fetch_and(!(bit(sig) as u32), Ordering::Release);
        Some(if e.info.info.signo == 0 {
            SigInfo::user(sig, 0).into()
        } else {
            uncharge(1);
            e.info
        })
    }

    /// Takes the next signal not in `blocked`: for a thread's own queue (`synchronous`) an
    /// exception's signal first, the first queued (Linux's `dequeue_synchronous_signal`);
    /// then the lowest-numbered, a synchronous one first. A signal pending without a siginfo
    /// gets Linux's SI_USER one from nobody.
    #[inline(always)]
    pub fn dequeue(&self, blocked: u64, synchronous: bool) -> Option<(u8, KSigInfo)> {
        loop {
            let ready = self.bits() & !blocked;
            if ready == 0 {
                return None;
            }
            // With one synchronous signal pending, the lowest-first rule below takes it (it
            // goes before the others); the arrival order matters only between several.
            let sync = ready & logic::SYNCHRONOUS_MASK;
            if synchronous && sync & sync.wrapping_sub(1) != 0 {
                let fault = logic::first_fault(ready & logic::SYNCHRONOUS_MASK, |sig| {
                    let e = self.slots[sig as usize - 1].get();
                    // SAFETY: a pending slot is not written until it is taken; a take racing
                    // with these reads makes `take_slot` below fail, and the loop looks again.
                    let (signo, code, seq) = unsafe {
                        (
                            core::ptr::read_volatile(&raw const (*e).info.info.signo),
                            core::ptr::read_volatile(&raw const (*e).info.info.code),
                            core::ptr::read_volatile(&raw const (*e).seq),
                        )
                    };
                    (signo != 0).then_some((code, seq))
                });
                if let Some(sig) = fault {
                    match self.take_slot(sig) {
                        Some(i) => return Some((sig, i)),
                        None => continue,
                    }
                }
            }
            let sig = logic::next_signal(ready, 0)?;
            if bit(sig) & STANDARD_MASK != 0 {
                match self.take_slot(sig) {
                    Some(i) => return Some((sig, i)),
                    None => continue,
                }
            }
            if let Some((sig, e)) = self.with_rt(|q| q.dequeue(blocked | STANDARD_MASK)) {
                return Some((
                    sig,
                    match e {
                        Some(e) => {
                            uncharge(1);
                            e.info
                        }
                        None => SigInfo::user(sig, 0).into(),
                    },
                ));
            }
        }
    }

    /// Discards the signals of `mask` (Linux's `flush_sigqueue_mask`).
    pub fn flush_mask(&self, mask: u64) {
        if self.bits() & mask == 0 {
            return;
        }
        let mut std = self.bits() & mask & STANDARD_MASK;
        while std != 0 {
            let sig = std.trailing_zeros() as u8 + 1;
            std &= std - 1;
            // take_slot uncharges a kept siginfo; what it returns is dropped.
            let _ = self.take_slot(sig);
        }
        if mask & !STANDARD_MASK != 0 {
            uncharge(self.with_rt(|q| q.flush_mask(mask & !STANDARD_MASK)));
        }
    }

    /// Discards everything (a thread's end; the process's end for its shared queue).
    pub fn flush(&self) {
        self.flush_mask(!0);
    }

    /// The queued siginfos in arrival order, from the `off`-th on (PTRACE_PEEKSIGINFO);
    /// signals pending without a siginfo are not queued. The tracee is stopped, so its own
    /// takes do not race with this look; a flush and a new send by other threads could
    /// replace a slot while it is read (the volatile read then gives the old siginfo, the new,
    /// or a mix of the two).
    pub fn queued_from(&self, off: usize) -> Vec<KSigInfo> {
        let mut all: Vec<Entry> = self.rt.lock().iter().copied().collect();
        let mut std = self.bits() & STANDARD_MASK;
        while std != 0 {
            let sig = std.trailing_zeros() as u8 + 1;
            std &= std - 1;
            // SAFETY: see above; a pending slot is complete.
            let e = unsafe { core::ptr::read_volatile(self.slots[sig as usize - 1].get()) };
            if e.info.info.signo != 0 {
                all.push(e);
            }
        }
        all.sort_unstable_by_key(|e| e.seq);
        all.iter().skip(off).map(|e| e.info).collect()
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
        self.flush();
    }
}

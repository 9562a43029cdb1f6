//! poll, ppoll, select and pselect6: waiting for any of several descriptors to be ready.
//!
//! Pipes, sockets and the event descriptors (event/) become ready later; every other file is
//! ready at once (files live in memory, and the console's stdin is read before boot). The caller's descriptors are looked
//! up once, holding references as Linux does, so the wait condition reads only atomics
//! (`File::poll_events`) and never takes the descriptor table's lock with interrupts off.
//! Waiters sleep on `fs::pipe::POLL_WAIT`, which every readiness change wakes, plus a tick
//! timeout when the call has one or a timerfd will expire; the monotonic clock decides when
//! the time is up.

use super::errno::*;
use super::table::Table;
use super::timespec::{read_timespec, split, timespec, timeval};
use crate::fs::pipe::{
    POLL_WAIT, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM,
};
use crate::fs::{self, File, NOFILE};
use crate::signal;
use crate::task;
use crate::time::NSEC_PER_SEC;
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub const fn register(mut t: Table) -> Table {
    t[nr::POLL] = sys_poll;
    t[nr::SELECT] = sys_select;
    t[nr::PSELECT6] = sys_pselect6;
    t[nr::PPOLL] = sys_ppoll;
    t
}

/// Linux's select() sets: what counts as readable, writable and exceptional.
const POLLIN_SET: u16 = POLLIN | POLLRDNORM | POLLHUP | POLLERR;
const POLLOUT_SET: u16 = POLLOUT | POLLWRNORM | POLLERR;
const POLLEX_SET: u16 = POLLPRI;

/// Waits until `ready()` is true (Ok(true)), the monotonic clock passes `end` (Ok(false)) or
/// a signal arrives (-ERESTARTNOHAND: a handler makes it EINTR, no handler restarts the call).
/// `files` may become ready with no wake-up at their `poll_deadline` (a timerfd's expiry):
/// the sleep ends then too.
fn wait_ready<'a>(
    mut ready: impl FnMut() -> bool,
    end: Option<u64>,
    files: impl Iterator<Item = &'a Arc<File>> + Clone,
) -> Result<bool, i64> {
    loop {
        if ready() {
            return Ok(true);
        }
        let now = crate::time::monotonic_ns();
        if end.is_some_and(|e| now >= e) {
            return Ok(false);
        }
        if signal::interrupted() {
            return Err(-ERESTARTNOHAND);
        }
        let timer = files.clone().filter_map(|f| f.poll_deadline()).min();
        let wake_at = match (end, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let tick = wake_at.map(|e| crate::time::deadline_after_ns(e.saturating_sub(now)));
        if let Some(d) = tick {
            crate::sched::add_timeout(d);
        }
        // Wakes on any pipe change, the tick timeout or a signal; the loop re-checks all three.
        POLL_WAIT.wait_until(
            || ready() || tick.is_some_and(|d| crate::sched::ticks() >= d),
            signal::interrupted,
        );
    }
}

/// The monotonic deadline `ns` from now.
fn end_after(ns: u64) -> u64 {
    crate::time::monotonic_ns().saturating_add(ns)
}

/// The deadline of the timeout `read` finds at `addr`; none for NULL (wait without end).
fn deadline(addr: u64, read: fn(u64) -> Result<u64, i64>) -> Result<Option<u64>, i64> {
    if addr == 0 {
        return Ok(None);
    }
    read(addr).map(|ns| Some(end_after(ns)))
}

/// select's timeval as nanoseconds. Like Linux, select takes microseconds past a second;
/// only a negative part is EINVAL.
fn read_select_timeout(addr: u64) -> Result<u64, i64> {
    let mut b = [0u8; 16];
    copy_from_user(&mut b, addr).map_err(|_| -EFAULT)?;
    let (sec, usec) = split(&b);
    if sec < 0 || usec < 0 {
        return Err(-EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(NSEC_PER_SEC)
        .saturating_add((usec as u64).saturating_mul(1000)))
}

/// Writes back the time left before `end`, as Linux does for all four calls: a timeval for
/// select (`usec`), else a timespec. A failed write is ignored: the call's result stands
/// (Linux does the same).
fn write_time_left(addr: u64, end: u64, usec: bool) {
    let left = end.saturating_sub(crate::time::monotonic_ns());
    let b = if usec {
        timeval(left / 1000)
    } else {
        timespec(left)
    };
    let _ = copy_to_user(addr, &b);
}

/// A temporary signal mask for the call (ppoll, pselect6, epoll_pwait), as rt_sigsuspend
/// keeps one.
pub(crate) fn set_call_sigmask(addr: u64, size: u64) -> Result<(), i64> {
    if size != 8 {
        return Err(-EINVAL);
    }
    let mut b = [0u8; 8];
    copy_from_user(&mut b, addr).map_err(|_| -EFAULT)?;
    signal::set_temporary_blocked(u64::from_ne_bytes(b));
    Ok(())
}

/// Ends the temporary mask. When a signal interrupted the call, the mask stays until its
/// handler's frame is built (the frame then carries the old mask), so a signal the caller
/// unblocked just for this wait is the one delivered.
fn end_call_sigmask(ret: i64) {
    end_call_sigmask_after(ret == -ERESTARTNOHAND);
}

/// [`end_call_sigmask`] for a call that says itself whether a signal ended it.
pub(crate) fn end_call_sigmask_after(interrupted_call: bool) {
    let inner = task::current_inner();
    if interrupted_call && signal::interrupted() {
        signal::recalc_pending();
        return;
    }
    match inner.saved_sigmask.take() {
        Some(old) => signal::set_blocked(old),
        None => signal::recalc_pending(),
    }
}

/// One struct pollfd's descriptor, looked up once.
enum Polled {
    /// A negative fd: ignored, revents 0.
    Ignored,
    /// Not open (or an O_PATH descriptor): POLLNVAL.
    Invalid,
    Open(Arc<File>, u16),
}

const POLLFD_SIZE: usize = 8;

fn do_poll(ufds: u64, nfds: u64, end: Option<u64>) -> i64 {
    if nfds > NOFILE as u64 {
        return -EINVAL;
    }
    let mut raw = vec![0u8; nfds as usize * POLLFD_SIZE];
    if copy_from_user(&mut raw, ufds).is_err() {
        return -EFAULT;
    }
    let polled: Vec<Polled> = raw
        .chunks_exact(POLLFD_SIZE)
        .map(|p| {
            let fd = i32::from_ne_bytes(p[..4].try_into().unwrap());
            let events = u16::from_ne_bytes(p[4..6].try_into().unwrap());
            match fs::get_file(fd as u64) {
                _ if fd < 0 => Polled::Ignored,
                Ok(f) if !f.is_path() => Polled::Open(f, events),
                _ => Polled::Invalid,
            }
        })
        .collect();
    let mut revents = vec![0u16; polled.len()];
    let scan = |revents: &mut [u16]| {
        let mut ready = false;
        for (r, p) in revents.iter_mut().zip(&polled) {
            *r = match p {
                Polled::Ignored => 0,
                Polled::Invalid => POLLNVAL,
                // POLLERR and POLLHUP are reported whether asked for or not.
                Polled::Open(f, events) => f.poll_events() & (events | POLLERR | POLLHUP),
            };
            ready |= *r != 0;
        }
        ready
    };
    let files = polled.iter().filter_map(|p| match p {
        Polled::Open(f, _) => Some(f),
        _ => None,
    });
    if let Err(e) = wait_ready(|| scan(&mut revents), end, files) {
        return e;
    }
    for (p, r) in raw.chunks_exact_mut(POLLFD_SIZE).zip(&revents) {
        p[6..8].copy_from_slice(&r.to_ne_bytes());
    }
    if copy_to_user(ufds, &raw).is_err() {
        return -EFAULT;
    }
    revents.iter().filter(|&&r| r != 0).count() as i64
}

fn sys_poll(regs: &mut Regs) -> i64 {
    let ms = regs.rdx as i32;
    let end = (ms >= 0).then(|| end_after(ms as u64 * 1_000_000));
    do_poll(regs.rdi, regs.rsi, end)
}

fn sys_ppoll(regs: &mut Regs) -> i64 {
    let (ufds, nfds, tsp, sigmask, sigsetsize) = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8);
    do_ppoll([ufds, nfds, tsp, sigmask, sigsetsize], Time::Timespec)
}

/// ppoll with its timeout in the layout `time` says.
fn do_ppoll([ufds, nfds, tsp, sigmask, sigsetsize]: [u64; 5], time: Time) -> i64 {
    let end = match deadline(tsp, time.read()) {
        Ok(end) => end,
        Err(e) => return e,
    };
    if sigmask != 0
        && let Err(e) = set_call_sigmask(sigmask, sigsetsize)
    {
        return e;
    }
    let ret = do_poll(ufds, nfds, end);
    if sigmask != 0 {
        end_call_sigmask(ret);
    }
    if let Some(end) = end {
        time.write_left(tsp, end);
    }
    ret
}

/// The three fd_set bitmaps of select, `n` descriptors each, in words of `word` bytes: 8
/// (`unsigned long`) for an x86-64 call, 4 (`compat_ulong_t`) for an i386 one. The bits sit
/// in the same places either way (little-endian); the width decides how many bytes are read
/// and written back, which for i386 must stop at the caller's last 32-bit word.
fn do_select(n: u64, sets: [u64; 3], end: Option<u64>, word: usize) -> i64 {
    if (n as i64) < 0 {
        return -EINVAL;
    }
    let n = n.min(NOFILE as u64) as usize;
    let words = n.div_ceil(64);
    let bytes = n.div_ceil(word * 8) * word;
    let mut want = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    for (set, addr) in want.iter_mut().zip(sets) {
        if addr == 0 {
            continue;
        }
        let mut b = vec![0u8; words * 8];
        if copy_from_user(&mut b[..bytes], addr).is_err() {
            return -EFAULT;
        }
        for (w, c) in set.iter_mut().zip(b.chunks_exact(8)) {
            *w = u64::from_ne_bytes(c.try_into().unwrap());
        }
    }
    // Bits past n are not looked at (nor written back).
    if !n.is_multiple_of(64) {
        for set in want.iter_mut() {
            set[words - 1] &= (1u64 << (n % 64)) - 1;
        }
    }
    let mut files = Vec::new();
    for fd in 0..n {
        let (w, bit) = (fd / 64, 1u64 << (fd % 64));
        if want.iter().any(|s| s[w] & bit != 0) {
            match fs::get_file(fd as u64) {
                Ok(f) if !f.is_path() => files.push((fd, f)),
                _ => return -EBADF,
            }
        }
    }
    let mut got = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    let scan = |got: &mut [Vec<u64>; 3]| {
        let mut ready = false;
        for (fd, f) in &files {
            let (w, bit) = (fd / 64, 1u64 << (fd % 64));
            let ev = f.poll_events();
            for (k, class) in [POLLIN_SET, POLLOUT_SET, POLLEX_SET]
                .into_iter()
                .enumerate()
            {
                if want[k][w] & bit != 0 && ev & class != 0 {
                    got[k][w] |= bit;
                    ready = true;
                } else {
                    got[k][w] &= !bit;
                }
            }
        }
        ready
    };
    if let Err(e) = wait_ready(|| scan(&mut got), end, files.iter().map(|(_, f)| f)) {
        return e;
    }
    for (set, addr) in got.iter().zip(sets) {
        if addr == 0 {
            continue;
        }
        let b: Vec<u8> = set.iter().flat_map(|w| w.to_ne_bytes()).collect();
        if copy_to_user(addr, &b[..bytes]).is_err() {
            return -EFAULT;
        }
    }
    got.iter().flatten().map(|w| w.count_ones() as i64).sum()
}

fn sys_select(regs: &mut Regs) -> i64 {
    let tvp = regs.r8;
    let end = match deadline(tvp, read_select_timeout) {
        Ok(end) => end,
        Err(e) => return e,
    };
    let ret = do_select(regs.rdi, [regs.rsi, regs.rdx, regs.r10], end, 8);
    if let Some(end) = end {
        write_time_left(tvp, end, true);
    }
    ret
}

fn sys_pselect6(regs: &mut Regs) -> i64 {
    let (tsp, sigarg) = (regs.r8, regs.r9);
    let end = match deadline(tsp, read_timespec) {
        Ok(end) => end,
        Err(e) => return e,
    };
    // The sixth argument points at { const sigset_t *set; size_t size; }.
    let mut sigmask = 0;
    if sigarg != 0 {
        let mut b = [0u8; 16];
        if copy_from_user(&mut b, sigarg).is_err() {
            return -EFAULT;
        }
        sigmask = u64::from_ne_bytes(b[..8].try_into().unwrap());
        let size = u64::from_ne_bytes(b[8..].try_into().unwrap());
        if sigmask != 0
            && let Err(e) = set_call_sigmask(sigmask, size)
        {
            return e;
        }
    }
    let ret = do_select(regs.rdi, [regs.rsi, regs.rdx, regs.r10], end, 8);
    if sigmask != 0 {
        end_call_sigmask(ret);
    }
    if let Some(end) = end {
        write_time_left(tsp, end, false);
    }
    ret
}

/// A timeout's layout: x86-64's (and i386's time64) `__kernel_timespec`, select's timeval,
/// or i386's `old_timespec32` and `old_timeval32`.
#[derive(Clone, Copy)]
enum Time {
    Timespec,
    Timespec32,
    Timeval32,
}

impl Time {
    fn read(self) -> fn(u64) -> Result<u64, i64> {
        match self {
            Time::Timespec => read_timespec,
            Time::Timespec32 => super::sleep::read_old_timespec32,
            Time::Timeval32 => read_old_timeval32,
        }
    }

    /// Writes back the time left before `end` (a failed write is ignored, as in
    /// [`write_time_left`]).
    fn write_left(self, addr: u64, end: u64) {
        let left = end.saturating_sub(crate::time::monotonic_ns());
        let b = match self {
            Time::Timespec => return write_time_left(addr, end, false),
            Time::Timespec32 => super::sleep::old_timespec32(left),
            Time::Timeval32 => {
                let us = left / 1000;
                let sec = (us / 1_000_000).min(i32::MAX as u64) as u32;
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&sec.to_ne_bytes());
                b[4..].copy_from_slice(&((us % 1_000_000) as u32).to_ne_bytes());
                b
            }
        };
        let _ = copy_to_user(addr, &b);
    }
}

/// An `old_timeval32` select timeout as nanoseconds: as [`read_select_timeout`], the
/// microseconds may pass a second, only a negative part is EINVAL.
fn read_old_timeval32(addr: u64) -> Result<u64, i64> {
    let mut b = [0u8; 8];
    copy_from_user(&mut b, addr).map_err(|_| -EFAULT)?;
    let sec = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let usec = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
    if sec < 0 || usec < 0 {
        return Err(-EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(NSEC_PER_SEC)
        .saturating_add(usec as u64 * 1000))
}

/// The i386 arguments EBX, ECX, EDX, ESI, EDI, EBP, zero-extended.
fn ia32_regs(regs: &Regs) -> [u64; 6] {
    [regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp].map(|v| v as u32 as u64)
}

/// i386 select with an `old_timeval32` (`n` is an `int`: a negative one is EINVAL).
fn ia32_select([n, inp, outp, exp, tvp]: [u64; 5]) -> i64 {
    let end = match deadline(tvp, read_old_timeval32) {
        Ok(end) => end,
        Err(e) => return e,
    };
    let ret = do_select(n as u32 as i32 as u64, [inp, outp, exp], end, 4);
    if let Some(end) = end {
        Time::Timeval32.write_left(tvp, end);
    }
    ret
}

/// i386 `_newselect` (142, Linux's `compat_sys_select`).
pub(super) fn sys_ia32_newselect(regs: &mut Regs) -> i64 {
    let [n, inp, outp, exp, tvp, _] = ia32_regs(regs);
    ia32_select([n, inp, outp, exp, tvp])
}

/// i386 `select` (82, Linux's `compat_sys_old_select`): EBX points at the five arguments.
pub(super) fn sys_ia32_old_select(regs: &mut Regs) -> i64 {
    let mut b = [0u8; 20];
    if copy_from_user(&mut b, regs.rbx as u32 as u64).is_err() {
        return -EFAULT;
    }
    let w = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as u64;
    ia32_select([w(0), w(4), w(8), w(12), w(16)])
}

/// i386 pselect6 (308, `old_timespec32`) and pselect6_time64 (413): the sixth argument
/// points at `{ compat_uptr_t sigmask; compat_size_t size; }`.
fn ia32_pselect6(regs: &Regs, time: Time) -> i64 {
    let [n, inp, outp, exp, tsp, sigarg] = ia32_regs(regs);
    let end = match deadline(tsp, time.read()) {
        Ok(end) => end,
        Err(e) => return e,
    };
    let mut sigmask = 0;
    if sigarg != 0 {
        let mut b = [0u8; 8];
        if copy_from_user(&mut b, sigarg).is_err() {
            return -EFAULT;
        }
        sigmask = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u64;
        let size = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]) as u64;
        if sigmask != 0
            && let Err(e) = set_call_sigmask(sigmask, size)
        {
            return e;
        }
    }
    let ret = do_select(n as u32 as i32 as u64, [inp, outp, exp], end, 4);
    if sigmask != 0 {
        end_call_sigmask(ret);
    }
    if let Some(end) = end {
        time.write_left(tsp, end);
    }
    ret
}

pub(super) fn sys_ia32_pselect6_time32(regs: &mut Regs) -> i64 {
    ia32_pselect6(regs, Time::Timespec32)
}

pub(super) fn sys_ia32_pselect6_time64(regs: &mut Regs) -> i64 {
    ia32_pselect6(regs, Time::Timespec)
}

/// i386 ppoll (309) with an `old_timespec32`; ppoll_time64 is the x86-64 handler.
pub(super) fn sys_ia32_ppoll_time32(regs: &mut Regs) -> i64 {
    let [ufds, nfds, tsp, sigmask, sigsetsize, _] = ia32_regs(regs);
    do_ppoll([ufds, nfds, tsp, sigmask, sigsetsize], Time::Timespec32)
}

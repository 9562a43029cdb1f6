//! The i386 time calls with 32-bit times (Linux's `old_time32_t`, `old_timespec32`,
//! `old_timeval32`): time, gettimeofday, clock_gettime and clock_getres. Their `_time64`
//! twins are the x86-64 calls (the table maps them there).

use super::ia32_args;
use crate::syscall::errno::*;
use crate::syscall::sleep::old_timespec32;
use crate::time::NSEC_PER_SEC;
use crate::uaccess::copy_to_user;
use kentry::Regs;

fn put(addr: u64, b: &[u8]) -> i64 {
    match copy_to_user(addr, b) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// time(tloc): the seconds as a 32-bit `old_time32_t` (Linux's compat time).
pub(super) fn sys_time32(regs: &mut Regs) -> i64 {
    let [tloc, ..] = ia32_args(regs);
    let secs = (crate::time::realtime_ns() / NSEC_PER_SEC) as i32;
    if tloc != 0 && put(tloc, &secs.to_ne_bytes()) != 0 {
        return -EFAULT;
    }
    i64::from(secs)
}

/// gettimeofday(tv, tz): an `old_timeval32` and the (UTC, no DST) timezone.
pub(super) fn sys_gettimeofday(regs: &mut Regs) -> i64 {
    let [tv, tz, ..] = ia32_args(regs);
    if tv != 0 {
        let us = crate::time::realtime_ns() / 1000;
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&((us / 1_000_000) as i32).to_ne_bytes());
        b[4..].copy_from_slice(&((us % 1_000_000) as i32).to_ne_bytes());
        if put(tv, &b) != 0 {
            return -EFAULT;
        }
    }
    if tz != 0 && put(tz, &[0u8; 8]) != 0 {
        return -EFAULT;
    }
    0
}

/// clock_gettime(id, tp) with an `old_timespec32`.
pub(super) fn sys_clock_gettime32(regs: &mut Regs) -> i64 {
    let [id, tp, ..] = ia32_args(regs);
    match crate::syscall::misc::clock_now(id) {
        Some(ns) => put(tp, &old_timespec32(ns)),
        None => -EINVAL,
    }
}

/// clock_getres(id, res) with an `old_timespec32` (res may be NULL).
pub(super) fn sys_clock_getres_time32(regs: &mut Regs) -> i64 {
    let [id, res, ..] = ia32_args(regs);
    match crate::syscall::misc::clock_res(id) {
        Some(_) if res == 0 => 0,
        Some(ns) => put(res, &old_timespec32(ns)),
        None => -EINVAL,
    }
}

/// A `compat_itimerval` (it_interval, it_value: two `old_timeval32`) from (value, interval)
/// in microseconds.
fn itimerval32(value: u64, interval: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (i, us) in [interval, value].iter().enumerate() {
        b[i * 8..i * 8 + 4].copy_from_slice(&((us / 1_000_000) as i32).to_ne_bytes());
        b[i * 8 + 4..i * 8 + 8].copy_from_slice(&((us % 1_000_000) as i32).to_ne_bytes());
    }
    b
}

/// An `old_timeval32` as microseconds: EINVAL unless the seconds are non-negative and the
/// microseconds within [0, 1 s).
fn timeval32_us(b: &[u8]) -> Result<u64, i64> {
    let sec = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let usec = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(-EINVAL);
    }
    Ok(sec as u64 * 1_000_000 + usec as u64)
}

/// getitimer(which, value) with a `compat_itimerval`.
pub(super) fn sys_getitimer(regs: &mut Regs) -> i64 {
    let [which, value, ..] = ia32_args(regs);
    match crate::syscall::misc::do_getitimer(which) {
        Ok((v, i)) => put(value, &itimerval32(v, i)),
        Err(e) => e,
    }
}

/// setitimer(which, new, old) with `compat_itimerval`s (a NULL `new` disarms).
pub(super) fn sys_setitimer(regs: &mut Regs) -> i64 {
    let [which, new, old, ..] = ia32_args(regs);
    let (value, interval) = if new == 0 {
        (0, 0)
    } else {
        let mut b = [0u8; 16];
        if crate::uaccess::copy_from_user(&mut b, new).is_err() {
            return -EFAULT;
        }
        match (timeval32_us(&b[8..]), timeval32_us(&b[..8])) {
            (Ok(v), Ok(i)) => (v, i),
            (Err(e), _) | (_, Err(e)) => return e,
        }
    };
    match crate::syscall::misc::do_setitimer(which, value, interval) {
        Ok(prev) if old != 0 => put(old, &itimerval32(prev.0, prev.1)),
        Ok(_) => 0,
        Err(e) => e,
    }
}

//! struct timespec and struct timeval, the two forms time takes in syscall arguments: two
//! signed 64-bit words, seconds and then nanoseconds (timespec) or microseconds (timeval).

use super::errno::*;
use crate::time::NSEC_PER_SEC;
use crate::uaccess::copy_from_user;

pub const USEC_PER_SEC: u64 = 1_000_000;

fn pair(sec: u64, frac: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_ne_bytes());
    b[8..].copy_from_slice(&frac.to_ne_bytes());
    b
}

/// `ns` nanoseconds as a timespec.
pub fn timespec(ns: u64) -> [u8; 16] {
    pair(ns / NSEC_PER_SEC, ns % NSEC_PER_SEC)
}

/// `us` microseconds as a timeval.
pub fn timeval(us: u64) -> [u8; 16] {
    pair(us / USEC_PER_SEC, us % USEC_PER_SEC)
}

/// The seconds and the fraction of a timespec or timeval already copied in.
pub fn split(b: &[u8]) -> (i64, i64) {
    let word = |off: usize| i64::from_ne_bytes(b[off..off + 8].try_into().unwrap());
    (word(0), word(8))
}

/// A timespec in user memory, as nanoseconds: EFAULT, or EINVAL unless the seconds are
/// non-negative and the nanoseconds within [0, 1 s).
pub fn read_timespec(addr: u64) -> Result<u64, i64> {
    let mut b = [0u8; 16];
    copy_from_user(&mut b, addr).map_err(|_| -EFAULT)?;
    timespec_ns(&b)
}

/// A timespec already copied in (one half of an itimerspec, say), as nanoseconds; EINVAL
/// unless the seconds are non-negative and the nanoseconds within [0, 1 s).
pub fn timespec_ns(b: &[u8]) -> Result<u64, i64> {
    let (sec, nsec) = split(b);
    if sec < 0 || !(0..NSEC_PER_SEC as i64).contains(&nsec) {
        return Err(-EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(NSEC_PER_SEC)
        .saturating_add(nsec as u64))
}

/// Writes an itimerspec (interval, value) in nanoseconds to user memory: EFAULT on a bad
/// address.
pub fn put_itimerspec(addr: u64, (interval, value): (u64, u64)) -> Result<(), i64> {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&timespec(interval));
    b[16..].copy_from_slice(&timespec(value));
    crate::uaccess::copy_to_user(addr, &b).map_err(|_| -EFAULT)
}

/// A timeval already copied in, as microseconds; EINVAL unless the seconds are non-negative
/// and the microseconds within [0, 1 s).
pub fn timeval_us(b: &[u8]) -> Result<u64, i64> {
    let (sec, usec) = split(b);
    if sec < 0 || !(0..USEC_PER_SEC as i64).contains(&usec) {
        return Err(-EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(USEC_PER_SEC)
        .saturating_add(usec as u64))
}

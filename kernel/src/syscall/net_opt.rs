//! getsockopt/setsockopt at SOL_SOCKET for AF_UNIX sockets: the options programs ask
//! about. SO_RCVTIMEO/SO_SNDTIMEO take i386's `old_timeval32` from an i386 caller. Unknown options are ENOPROTOOPT; another level is EOPNOTSUPP (AF_UNIX has none).

use super::errno::*;
use super::net::{AF_UNIX, ret, socket_of};
use super::table::Table;
use crate::net::unix::{Cred, NO_TIMEOUT, SNDBUF, SockType, State, UnixSocket};
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::GETSOCKOPT] = sys_getsockopt;
    t[nr::SETSOCKOPT] = sys_setsockopt;
    t
}

const SOL_SOCKET: u64 = 1;
const IPPROTO_IP: u64 = 0;
const IPPROTO_TCP: u64 = 6;
const IPPROTO_UDP: u64 = 17;
const IPPROTO_IPV6: u64 = 41;

/// An IP-level option of an AF_INET/AF_INET6 socket.
fn ip_level(s: &UnixSocket, level: u64) -> bool {
    s.family != AF_UNIX as u16
        && matches!(level, IPPROTO_IP | IPPROTO_TCP | IPPROTO_UDP | IPPROTO_IPV6)
}
const SO_REUSEADDR: u64 = 2;
const SO_TYPE: u64 = 3;
const SO_ERROR: u64 = 4;
const SO_KEEPALIVE: u64 = 9;
const SO_SNDBUF: u64 = 7;
const SO_RCVBUF: u64 = 8;
const SO_PASSCRED: u64 = 16;
const SO_PEERCRED: u64 = 17;
const SO_RCVLOWAT: u64 = 18;
const SO_RCVTIMEO_OLD: u64 = 20;
const SO_SNDTIMEO_OLD: u64 = 21;
const SO_ACCEPTCONN: u64 = 30;
const SO_RCVTIMEO_NEW: u64 = 66;
const SO_SNDTIMEO_NEW: u64 = 67;
const SO_PROTOCOL: u64 = 38;
const SO_DOMAIN: u64 = 39;

/// getsockopt at SOL_SOCKET: the options whose answer kentry knows.
fn sys_getsockopt(regs: &mut Regs) -> i64 {
    let (fd, level, opt, val, alen) = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8);
    ret((|| {
        let (_, s) = socket_of(fd)?;
        if level != SOL_SOCKET && !ip_level(&s, level) {
            return Err(-EOPNOTSUPP);
        }
        let mut l = [0u8; 4];
        copy_from_user(&mut l, alen).map_err(|_| -EFAULT)?;
        let room = i32::from_ne_bytes(l);
        if room < 0 {
            return Err(-EINVAL);
        }
        let int = |v: u32| v.to_ne_bytes().to_vec();
        let bytes: Vec<u8> = match opt {
            // The IP and TCP/UDP levels: kentry's loopback has no knobs there.
            _ if level != SOL_SOCKET => int(0),
            SO_PROTOCOL if s.family != AF_UNIX as u16 => {
                int(if s.ty == SockType::Stream { 6 } else { 17 })
            }
            SO_TYPE => int(s.ty as u32),
            SO_ERROR => int(s.take_error() as u32),
            SO_PASSCRED => int(s.passcred.load(Ordering::Acquire) as u32),
            SO_ACCEPTCONN => int((s.state() == State::Listening) as u32),
            SO_REUSEADDR => int(s.reuseaddr.load(Ordering::Acquire) as u32),
            SO_PROTOCOL | SO_KEEPALIVE => int(0),
            SO_RCVLOWAT => int(1),
            SO_DOMAIN => int(s.family as u32),
            // Linux reports the buffer it uses, twice what was asked, by default 212992.
            SO_SNDBUF | SO_RCVBUF => int(SNDBUF as u32),
            SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD | SO_RCVTIMEO_NEW | SO_SNDTIMEO_NEW => {
                let us = timeo_of(&s, opt).load(Ordering::Relaxed);
                timeval_bytes(opt, us)
            }
            // Not connected: Linux's answer for no credentials (pid 0, the overflow ids).
            SO_PEERCRED => s.peer_cred().unwrap_or(Cred::NONE).to_bytes().to_vec(),
            _ => return Err(-ENOPROTOOPT),
        };
        let n = (room as usize).min(bytes.len());
        copy_to_user(val, &bytes[..n]).map_err(|_| -EFAULT)?;
        copy_to_user(alen, &(n as u32).to_ne_bytes()).map_err(|_| -EFAULT)?;
        Ok(0)
    })())
}

/// setsockopt: SO_PASSCRED switches credentials on received messages; SO_REUSEADDR lets a
/// TCP bind take a port a lingering connection holds; SO_SNDBUF, SO_RCVBUF and
/// SO_KEEPALIVE are taken and change nothing (AF_UNIX sockets keep [`SNDBUF`], TCP ones
/// smoltcp's fixed buffers; keepalive means nothing on a loopback); everything else is
/// ENOPROTOOPT. An int option needs 4 readable bytes (EINVAL, EFAULT). The IP, IPv6, TCP
/// and UDP levels of an AF_INET/AF_INET6 socket take everything (its loopback has no
/// knobs) and read back 0.
fn sys_setsockopt(regs: &mut Regs) -> i64 {
    let (fd, level, opt, val, alen) = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8);
    ret((|| {
        let (_, s) = socket_of(fd)?;
        if ip_level(&s, level) {
            // TCP_NODELAY, IPV6_V6ONLY and the like: taken, nothing to change on loopback.
            return if (alen as i32) < 0 {
                Err(-EINVAL)
            } else {
                Ok(0)
            };
        }
        if level != SOL_SOCKET {
            return Err(-EOPNOTSUPP);
        }
        if matches!(
            opt,
            SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD | SO_RCVTIMEO_NEW | SO_SNDTIMEO_NEW
        ) {
            let us = read_timeval(opt, val, alen)?;
            timeo_of(&s, opt).store(us, Ordering::Relaxed);
            return Ok(0);
        }
        match opt {
            SO_PASSCRED | SO_SNDBUF | SO_RCVBUF | SO_REUSEADDR | SO_KEEPALIVE => {}
            _ => return Err(-ENOPROTOOPT),
        }
        if (alen as i32) < 4 {
            return Err(-EINVAL);
        }
        let mut b = [0u8; 4];
        copy_from_user(&mut b, val).map_err(|_| -EFAULT)?;
        let v = i32::from_ne_bytes(b);
        match opt {
            SO_PASSCRED => s.passcred.store(v != 0, Ordering::Release),
            // Only TCP's bind looks at it (net/tcp.rs): a port a lingering connection holds.
            SO_REUSEADDR => s.reuseaddr.store(v != 0, Ordering::Release),
            _ => {}
        }
        Ok(0)
    })())
}

/// The socket's SO_RCVTIMEO or SO_SNDTIMEO.
fn timeo_of(s: &UnixSocket, opt: u64) -> &core::sync::atomic::AtomicU64 {
    match opt {
        SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW => &s.rcvtimeo_us,
        _ => &s.sndtimeo_us,
    }
}

/// Whether a timeout option's value is i386's `struct old_timeval32` (two 32-bit words):
/// the _OLD options from an i386 caller (Linux's `sock_set_timeout` with
/// `in_compat_syscall()`). Otherwise it is two 64-bit words (`__kernel_old_timeval`, or the
/// _NEW options' `__kernel_sock_timeval` on both ABIs).
fn timeval32(opt: u64) -> bool {
    matches!(opt, SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD) && super::compat::in_ia32_syscall()
}

/// A timeout option's value (Linux's `sock_set_timeout`): EINVAL when shorter than its
/// layout, EDOM for microseconds outside [0, 1 s); a negative time is 0 (do not wait), a
/// zero time [`NO_TIMEOUT`].
fn read_timeval(opt: u64, val: u64, alen: u64) -> Result<u64, i64> {
    let size = if timeval32(opt) { 8 } else { 16 };
    if (alen as i32) < size as i32 {
        return Err(-EINVAL);
    }
    let mut b = [0u8; 16];
    copy_from_user(&mut b[..size], val).map_err(|_| -EFAULT)?;
    let (sec, usec) = if size == 8 {
        let w = |o: usize| i32::from_ne_bytes(b[o..o + 4].try_into().unwrap_or_default());
        (i64::from(w(0)), i64::from(w(4)))
    } else {
        super::timespec::split(&b)
    };
    if !(0..1_000_000).contains(&usec) {
        return Err(-EDOM);
    }
    Ok(match (sec, usec) {
        (s, _) if s < 0 => 0,
        (0, 0) => NO_TIMEOUT,
        (s, u) => (s as u64)
            .saturating_mul(1_000_000)
            .saturating_add(u as u64)
            .min(NO_TIMEOUT - 1),
    })
}

/// A timeout as getsockopt gives it: (0, 0) for none, in the option's layout.
fn timeval_bytes(opt: u64, us: u64) -> Vec<u8> {
    let (sec, usec) = if us == NO_TIMEOUT {
        (0, 0)
    } else {
        (us / 1_000_000, us % 1_000_000)
    };
    let mut v = Vec::new();
    if timeval32(opt) {
        v.extend_from_slice(&(sec as i32).to_ne_bytes());
        v.extend_from_slice(&(usec as i32).to_ne_bytes());
    } else {
        v.extend_from_slice(&sec.to_ne_bytes());
        v.extend_from_slice(&usec.to_ne_bytes());
    }
    v
}

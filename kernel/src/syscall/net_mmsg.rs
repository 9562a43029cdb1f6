//! sendmmsg and recvmmsg: several messages in one call, each one a sendmsg or recvmsg
//! (net_msg.rs) whose result goes to the entry's `msg_len` (Linux's `__sys_sendmmsg` and
//! `do_recvmmsg`). An i386 caller's entries are `struct compat_mmsghdr` (a 28-byte
//! `compat_msghdr` and `msg_len`: 32 bytes), x86-64's `struct mmsghdr` 64 (56 and 4, padded).

use super::errno::*;
use super::net::ret;
use super::net_msg::{MsgHdr, recvmsg, sendmsg};
use super::table::Table;
use crate::time::NSEC_PER_SEC;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::SENDMMSG] = sys_sendmmsg;
    t[nr::RECVMMSG] = sys_recvmmsg;
    t
}

/// Linux's UIO_MAXIOV: sendmmsg sends at most this many.
const UIO_MAXIOV: u32 = 1024;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_WAITFORONE: u32 = 0x1_0000;

/// One entry's size and where its `msg_len` is.
fn entry_layout() -> (u64, u64) {
    let compat = super::compat::in_ia32_syscall();
    let hdr = MsgHdr::size(compat) as u64;
    (if compat { 32 } else { 64 }, hdr)
}

fn put_len(at: u64, n: usize) -> Result<(), i64> {
    copy_to_user(at, &(n as u32).to_ne_bytes()).map_err(|_| -EFAULT)
}

/// sendmmsg(fd, msgvec, vlen, flags): the number sent, or the first message's error when
/// none went.
fn sys_sendmmsg(regs: &mut Regs) -> i64 {
    let (fd, vec, vlen, flags) = (regs.rdi, regs.rsi, regs.rdx as u32, regs.r10 as u32);
    let (size, len_at) = entry_layout();
    let mut sent = 0u32;
    let mut err = 0;
    while sent < vlen.min(UIO_MAXIOV) {
        let entry = vec + u64::from(sent) * size;
        match sendmsg(fd, entry, flags).and_then(|n| put_len(entry + len_at, n)) {
            Ok(()) => sent += 1,
            Err(e) => {
                err = e;
                break;
            }
        }
    }
    if sent > 0 { i64::from(sent) } else { err }
}

/// How a recvmmsg timeout is laid out: `__kernel_timespec` (x86-64, i386's
/// recvmmsg_time64) or `old_timespec32` (i386's recvmmsg and socketcall's SYS_RECVMMSG).
#[derive(Clone, Copy)]
enum TimeLayout {
    Kernel,
    Old32,
}

impl TimeLayout {
    fn read(self, at: u64) -> Result<u64, i64> {
        let mut b = [0u8; 16];
        let (sec, nsec) = match self {
            TimeLayout::Kernel => {
                copy_from_user(&mut b, at).map_err(|_| -EFAULT)?;
                super::timespec::split(&b)
            }
            TimeLayout::Old32 => {
                copy_from_user(&mut b[..8], at).map_err(|_| -EFAULT)?;
                let w = |o: usize| i32::from_ne_bytes(b[o..o + 4].try_into().unwrap_or_default());
                (i64::from(w(0)), i64::from(w(4)))
            }
        };
        if sec < 0 || !(0..NSEC_PER_SEC as i64).contains(&nsec) {
            return Err(-EINVAL);
        }
        Ok((sec as u64)
            .saturating_mul(NSEC_PER_SEC)
            .saturating_add(nsec as u64))
    }

    fn write(self, at: u64, ns: u64) -> Result<(), i64> {
        let (sec, nsec) = (ns / NSEC_PER_SEC, ns % NSEC_PER_SEC);
        let done = match self {
            TimeLayout::Kernel => copy_to_user(at, &super::timespec::timespec(ns)),
            TimeLayout::Old32 => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&(sec as i32).to_ne_bytes());
                b[4..].copy_from_slice(&(nsec as i32).to_ne_bytes());
                copy_to_user(at, &b)
            }
        };
        done.map_err(|_| -EFAULT)
    }
}

fn sys_recvmmsg(regs: &mut Regs) -> i64 {
    let (fd, vec, vlen, flags, tmo) = (
        regs.rdi,
        regs.rsi,
        regs.rdx as u32,
        regs.r10 as u32,
        regs.r8,
    );
    ret(do_recvmmsg(fd, vec, vlen, flags, tmo, TimeLayout::Kernel))
}

/// i386 recvmmsg (337) and socketcall's SYS_RECVMMSG: the timeout an `old_timespec32`
/// (arguments fd, msgvec, vlen, flags, timeout, zero-extended).
pub fn recvmmsg_time32(a: [u64; 6]) -> i64 {
    ret(do_recvmmsg(
        a[0],
        a[1],
        a[2] as u32,
        a[3] as u32,
        a[4],
        TimeLayout::Old32,
    ))
}

/// recvmmsg(fd, msgvec, vlen, flags, timeout): up to `vlen` messages; MSG_WAITFORONE makes
/// every receive after the first non-blocking. The timeout is looked at between messages
/// only (as Linux's: it does not bound a receive that blocks), and the time left is written
/// back when a message came. The first message's error is the result when none came.
fn do_recvmmsg(
    fd: u64,
    vec: u64,
    vlen: u32,
    mut flags: u32,
    tmo: u64,
    layout: TimeLayout,
) -> Result<usize, i64> {
    let deadline = if tmo != 0 {
        Some(crate::time::monotonic_ns().saturating_add(layout.read(tmo)?))
    } else {
        None
    };
    let (size, len_at) = entry_layout();
    let mut got = 0u32;
    let mut left = 0;
    let mut err = 0;
    while got < vlen {
        let entry = vec + u64::from(got) * size;
        match recvmsg(fd, entry, flags & !MSG_WAITFORONE).and_then(|n| put_len(entry + len_at, n)) {
            Ok(()) => got += 1,
            Err(e) => {
                err = e;
                break;
            }
        }
        if flags & MSG_WAITFORONE != 0 {
            flags |= MSG_DONTWAIT;
        }
        if let Some(d) = deadline {
            left = d.saturating_sub(crate::time::monotonic_ns());
            if left == 0 {
                break;
            }
        }
    }
    if got == 0 {
        return Err(err);
    }
    if deadline.is_some() {
        layout.write(tmo, left)?;
    }
    Ok(got as usize)
}

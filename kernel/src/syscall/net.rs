//! The socket system calls for AF_UNIX pairs (net/unix.rs): socketpair, send/recv in their
//! forms, shutdown, the socket options programs ask about, and the names of unnamed sockets.
//! read/write and readv/writev on a socket come here too (`io.rs`), so that a message is sent
//! whole and received whole whatever the call.
//!
//! socket(), bind(), connect(), listen() and accept() are not here yet (no named sockets):
//! they stay ENOSYS rather than pretend. Control messages (SCM_RIGHTS, SCM_CREDENTIALS) are
//! refused with EOPNOTSUPP.

use super::errno::*;
use super::table::Table;
use crate::fs::{self, File, FileKind, O_NONBLOCK, O_RDWR};
use crate::net::unix::{Cred, MSG_TRUNC, Received, SNDBUF, SockType, UnixSocket};
use crate::preempt::preemptible;
use crate::uaccess::{access_ok, copy_from_user, copy_to_user};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::SOCKETPAIR] = sys_socketpair;
    t[nr::SENDTO] = sys_sendto;
    t[nr::RECVFROM] = sys_recvfrom;
    t[nr::SENDMSG] = sys_sendmsg;
    t[nr::RECVMSG] = sys_recvmsg;
    t[nr::SHUTDOWN] = sys_shutdown;
    t[nr::GETSOCKNAME] = sys_getsockname;
    t[nr::GETPEERNAME] = sys_getpeername;
    t[nr::GETSOCKOPT] = sys_getsockopt;
    t[nr::SETSOCKOPT] = sys_setsockopt;
    t
}

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const SOCK_TYPE_MASK: u32 = 0xf;
const SOCK_NONBLOCK: u32 = 0o4000;
const SOCK_CLOEXEC: u32 = 0o2000000;
/// SOCK_RAW: an AF_UNIX socket of this type is a datagram one (Linux's `unix_create`).
const SOCK_RAW: u32 = 3;
const MSG_OOB: u32 = 1;
/// The most one call moves (Linux's MAX_RW_COUNT).
const MAX_RW_COUNT: usize = 0x7fff_f000;

fn ret(r: Result<usize, i64>) -> i64 {
    match r {
        Ok(n) => n as i64,
        Err(e) => e,
    }
}

/// The socket behind descriptor `fd`: EBADF, or ENOTSOCK for another kind of file.
fn socket_of(fd: u64) -> Result<(Arc<File>, Arc<UnixSocket>), i64> {
    let f = fs::get_file(fd)?;
    let s = f.socket().cloned().ok_or(-ENOTSOCK)?;
    Ok((f, s))
}

/// socketpair(domain, type, protocol, sv).
fn sys_socketpair(regs: &mut Regs) -> i64 {
    let (domain, ty, protocol, sv) = (regs.rdi, regs.rsi as u32, regs.rdx, regs.r10);
    ret((|| {
        match domain {
            AF_UNIX => {}
            // Families Linux knows but whose sockets make no pairs.
            AF_INET | AF_INET6 => return Err(-EOPNOTSUPP),
            _ => return Err(-EAFNOSUPPORT),
        }
        if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(-EINVAL);
        }
        let base = match ty & SOCK_TYPE_MASK {
            SOCK_RAW => SockType::Dgram as u32,
            t => t,
        };
        let kind = SockType::from_raw(base).ok_or(-ESOCKTNOSUPPORT)?;
        if protocol != 0 && protocol != AF_UNIX {
            return Err(-EPROTONOSUPPORT);
        }
        let me = crate::task::current();
        let cred = Cred {
            pid: me.process.pid,
            uid: 0,
            gid: 0,
        };
        let (a, b) = UnixSocket::pair(kind, cred);
        let flags = O_RDWR
            | if ty & SOCK_NONBLOCK != 0 {
                O_NONBLOCK
            } else {
                0
            };
        let cloexec = ty & SOCK_CLOEXEC != 0;
        let fa = File::new(FileKind::Socket(a), flags);
        let fb = File::new(FileKind::Socket(b), flags);
        let da = fs::install_file(fa, cloexec)?;
        let db = match fs::install_file(fb, cloexec) {
            Ok(d) => d,
            Err(e) => {
                drop(remove_fd(da));
                return Err(e);
            }
        };
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&(da as i32).to_ne_bytes());
        out[4..].copy_from_slice(&(db as i32).to_ne_bytes());
        if copy_to_user(sv, &out).is_err() {
            drop((remove_fd(da), remove_fd(db)));
            return Err(-EFAULT);
        }
        Ok(0)
    })())
}

/// Takes descriptor `fd` back (a socketpair that could not finish).
fn remove_fd(fd: usize) -> Option<fs::FdEntry> {
    crate::task::current()
        .process
        .files()
        .lock()
        .remove(fd as u64)
}

/// Sends the user bytes the iovecs `iovs` name, as one message (or stream bytes).
pub fn send_iov(f: &File, s: &UnixSocket, iovs: &[(u64, usize)], flags: u32) -> Result<usize, i64> {
    if flags & MSG_OOB != 0 {
        return Err(-EOPNOTSUPP);
    }
    let total = iovs.iter().map(|v| v.1).sum::<usize>().min(MAX_RW_COUNT);
    if s.ty != SockType::Stream && total > crate::net::unix::MAX_DGRAM {
        return Err(-EMSGSIZE);
    }
    // A message goes whole; a stream send that is larger than the peer can ever hold goes
    // piece by piece, so no more than the send buffer is copied in at once.
    let piece = if s.ty == SockType::Stream {
        total.min(SNDBUF)
    } else {
        total
    };
    let mut kbuf = Vec::new();
    kbuf.try_reserve_exact(piece).map_err(|_| -ENOBUFS)?;
    let mut done = 0;
    let mut at = iovs.iter().copied().filter(|r| r.1 > 0);
    let mut cur = at.next();
    while done < total || (total == 0 && done == 0) {
        kbuf.clear();
        while kbuf.len() < piece {
            let Some((base, len)) = cur else { break };
            let k = len.min(piece - kbuf.len());
            let start = kbuf.len();
            kbuf.resize(start + k, 0);
            if preemptible(|| copy_from_user(&mut kbuf[start..], base)).is_err() {
                return if done > 0 { Ok(done) } else { Err(-EFAULT) };
            }
            cur = if k == len {
                at.next()
            } else {
                Some((base + k as u64, len - k))
            };
        }
        let n = s.send(&kbuf, flags, f.nonblocking())?;
        done += n;
        if n < kbuf.len() || total == 0 {
            break;
        }
    }
    Ok(done)
}

/// Receives into the user buffers `iovs`: one message (or stream bytes), scattered.
pub fn recv_iov(
    f: &File,
    s: &UnixSocket,
    iovs: &[(u64, usize)],
    flags: u32,
) -> Result<Received, i64> {
    if flags & MSG_OOB != 0 {
        return Err(-EOPNOTSUPP);
    }
    let total = iovs.iter().map(|v| v.1).sum::<usize>().min(MAX_RW_COUNT);
    let mut kbuf = Vec::new();
    kbuf.try_reserve_exact(total.min(SNDBUF))
        .map_err(|_| -ENOBUFS)?;
    kbuf.resize(total.min(SNDBUF), 0);
    let r = s.recv(&mut kbuf, flags, f.nonblocking())?;
    let mut off = 0;
    for &(base, len) in iovs {
        if off == r.copied {
            break;
        }
        let k = len.min(r.copied - off);
        if preemptible(|| copy_to_user(base, &kbuf[off..off + k])).is_err() {
            return Err(-EFAULT);
        }
        off += k;
    }
    Ok(r)
}

/// What a receive returns: the bytes copied, or with MSG_TRUNC a message's whole length.
fn received_len(r: &Received, flags: u32) -> usize {
    if flags & MSG_TRUNC != 0 {
        r.len
    } else {
        r.copied
    }
}

/// sendto(fd, buf, len, flags, dest, addrlen): a pair is connected, so a destination is
/// EISCONN (stream, seqpacket) or names no bound socket (datagram: ECONNREFUSED).
fn sys_sendto(regs: &mut Regs) -> i64 {
    let (fd, buf, len, flags, dest) = (regs.rdi, regs.rsi, regs.rdx as usize, regs.r10, regs.r8);
    ret((|| {
        let (f, s) = socket_of(fd)?;
        if dest != 0 {
            return Err(if s.ty == SockType::Dgram {
                -ECONNREFUSED
            } else {
                -EISCONN
            });
        }
        if !access_ok(buf, len) {
            return Err(-EFAULT);
        }
        send_iov(&f, &s, &[(buf, len)], flags as u32)
    })())
}

/// recvfrom(fd, buf, len, flags, src, addrlen): the sender of a pair is unnamed, so the
/// address length written back is 0, as Linux's `unix_copy_addr` leaves it.
fn sys_recvfrom(regs: &mut Regs) -> i64 {
    let (fd, buf, len, flags, src, alen) = (
        regs.rdi,
        regs.rsi,
        regs.rdx as usize,
        regs.r10 as u32,
        regs.r8,
        regs.r9,
    );
    ret((|| {
        let (f, s) = socket_of(fd)?;
        if !access_ok(buf, len) {
            return Err(-EFAULT);
        }
        let r = recv_iov(&f, &s, &[(buf, len)], flags)?;
        if src != 0 && alen != 0 {
            copy_to_user(alen, &0u32.to_ne_bytes()).map_err(|_| -EFAULT)?;
        }
        Ok(received_len(&r, flags))
    })())
}

/// The fields of a user `struct msghdr` (56 bytes) kentry uses.
struct MsgHdr {
    name: u64,
    iov: u64,
    iovlen: u64,
    controllen: u64,
}

fn read_msghdr(at: u64) -> Result<MsgHdr, i64> {
    let mut b = [0u8; 56];
    copy_from_user(&mut b, at).map_err(|_| -EFAULT)?;
    let w = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or_default());
    Ok(MsgHdr {
        name: w(0),
        iov: w(16),
        iovlen: w(24),
        controllen: w(40),
    })
}

fn sys_sendmsg(regs: &mut Regs) -> i64 {
    let (fd, msg, flags) = (regs.rdi, regs.rsi, regs.rdx as u32);
    ret((|| {
        let (f, s) = socket_of(fd)?;
        let h = read_msghdr(msg)?;
        if h.name != 0 {
            return Err(if s.ty == SockType::Dgram {
                -ECONNREFUSED
            } else {
                -EISCONN
            });
        }
        if h.controllen != 0 {
            return Err(-EOPNOTSUPP);
        }
        let iovs = super::io::read_iovecs(h.iov, h.iovlen)?;
        send_iov(&f, &s, &iovs, flags)
    })())
}

/// recvmsg: the message into the iovecs; back in the header a name length of 0 (the sender
/// is unnamed), no control data, and MSG_TRUNC in msg_flags when the message did not fit.
fn sys_recvmsg(regs: &mut Regs) -> i64 {
    let (fd, msg, flags) = (regs.rdi, regs.rsi, regs.rdx as u32);
    ret((|| {
        let (f, s) = socket_of(fd)?;
        let h = read_msghdr(msg)?;
        let iovs = super::io::read_iovecs(h.iov, h.iovlen)?;
        let r = recv_iov(&f, &s, &iovs, flags)?;
        let out_flags: u32 = if r.len > r.copied { MSG_TRUNC } else { 0 };
        copy_to_user(msg + 8, &0u32.to_ne_bytes()).map_err(|_| -EFAULT)?;
        copy_to_user(msg + 40, &0u64.to_ne_bytes()).map_err(|_| -EFAULT)?;
        copy_to_user(msg + 48, &out_flags.to_ne_bytes()).map_err(|_| -EFAULT)?;
        Ok(received_len(&r, flags))
    })())
}

fn sys_shutdown(regs: &mut Regs) -> i64 {
    ret((|| {
        let (_, s) = socket_of(regs.rdi)?;
        s.shutdown(regs.rsi as u32).map(|()| 0)
    })())
}

/// The name of an unnamed AF_UNIX socket: the family alone (2 bytes).
fn unnamed(addr: u64, alen: u64) -> Result<usize, i64> {
    let mut l = [0u8; 4];
    copy_from_user(&mut l, alen).map_err(|_| -EFAULT)?;
    let room = i32::from_ne_bytes(l);
    if room < 0 {
        return Err(-EINVAL);
    }
    let family = (AF_UNIX as u16).to_ne_bytes();
    let n = (room as usize).min(2);
    copy_to_user(addr, &family[..n]).map_err(|_| -EFAULT)?;
    copy_to_user(alen, &2u32.to_ne_bytes()).map_err(|_| -EFAULT)?;
    Ok(0)
}

fn sys_getsockname(regs: &mut Regs) -> i64 {
    ret((|| {
        socket_of(regs.rdi)?;
        unnamed(regs.rsi, regs.rdx)
    })())
}

fn sys_getpeername(regs: &mut Regs) -> i64 {
    ret((|| {
        let (_, s) = socket_of(regs.rdi)?;
        if !s.connected_to_peer() {
            return Err(-ENOTCONN);
        }
        unnamed(regs.rsi, regs.rdx)
    })())
}

const SOL_SOCKET: u64 = 1;
const SO_TYPE: u64 = 3;
const SO_ERROR: u64 = 4;
const SO_SNDBUF: u64 = 7;
const SO_RCVBUF: u64 = 8;
const SO_PASSCRED: u64 = 16;
const SO_PEERCRED: u64 = 17;
const SO_ACCEPTCONN: u64 = 30;
const SO_PROTOCOL: u64 = 38;
const SO_DOMAIN: u64 = 39;

/// getsockopt at SOL_SOCKET: the options whose answer kentry knows; ENOPROTOOPT for the
/// rest, EOPNOTSUPP at another level (AF_UNIX has none).
fn sys_getsockopt(regs: &mut Regs) -> i64 {
    let (fd, level, opt, val, alen) = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8);
    ret((|| {
        let (_, s) = socket_of(fd)?;
        if level != SOL_SOCKET {
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
            SO_TYPE => int(s.ty as u32),
            SO_ERROR | SO_PASSCRED | SO_ACCEPTCONN | SO_PROTOCOL => int(0),
            SO_DOMAIN => int(AF_UNIX as u32),
            // Linux reports the buffer it uses, twice what was asked, by default 212992.
            SO_SNDBUF | SO_RCVBUF => int(SNDBUF as u32),
            SO_PEERCRED => {
                let c = s.peer_cred().ok_or(-ENOTCONN)?;
                let mut b = vec![0u8; 12];
                b[0..4].copy_from_slice(&c.pid.to_ne_bytes());
                b[4..8].copy_from_slice(&c.uid.to_ne_bytes());
                b[8..12].copy_from_slice(&c.gid.to_ne_bytes());
                b
            }
            _ => return Err(-ENOPROTOOPT),
        };
        let n = (room as usize).min(bytes.len());
        copy_to_user(val, &bytes[..n]).map_err(|_| -EFAULT)?;
        copy_to_user(alen, &(n as u32).to_ne_bytes()).map_err(|_| -EFAULT)?;
        Ok(0)
    })())
}

/// setsockopt: SO_SNDBUF and SO_RCVBUF are taken and change nothing (a pair keeps
/// [`SNDBUF`]); SO_PASSCRED is refused until credentials are passed; everything else is
/// ENOPROTOOPT.
fn sys_setsockopt(regs: &mut Regs) -> i64 {
    let (fd, level, opt, alen) = (regs.rdi, regs.rsi, regs.rdx, regs.r8);
    ret((|| {
        socket_of(fd)?;
        if level != SOL_SOCKET {
            return Err(-EOPNOTSUPP);
        }
        if (alen as i32) < 4 {
            return Err(-EINVAL);
        }
        match opt {
            SO_SNDBUF | SO_RCVBUF => Ok(0),
            _ => Err(-ENOPROTOOPT),
        }
    })())
}

//! Sending and receiving on AF_UNIX sockets: send/sendto/sendmsg, recv/recvfrom/recvmsg,
//! and read/write/readv/writev on a socket (through `io.rs`). Control messages
//! (net/scm.rs) travel with sendmsg and recvmsg only; the other calls drop what a
//! message carried (its descriptors are closed), as Linux does.

use super::errno::*;
use super::net::{read_sockaddr, ret, sockaddr_of, socket_of, write_sockaddr};
use super::table::Table;
use crate::fs::{self, File};
use crate::net::scm::{self, CmsgWriter, MAX_CONTROL, SCM_CREDENTIALS, SCM_RIGHTS, Scm};
use crate::net::unix::{Cred, MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_TRUNC, SNDBUF};
use crate::net::unix::{SockType, State, UnixSocket};
use crate::net::unix_io::Received;
use crate::net::{inet, unix_addr};
use crate::preempt::preemptible;
use crate::uaccess::{access_ok, copy_from_user, copy_to_user};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::SENDTO] = sys_sendto;
    t[nr::RECVFROM] = sys_recvfrom;
    t[nr::SENDMSG] = sys_sendmsg;
    t[nr::RECVMSG] = sys_recvmsg;
    t
}

const MSG_OOB: u32 = 1;
/// The most one call moves (Linux's MAX_RW_COUNT).
const MAX_RW_COUNT: usize = 0x7fff_f000;

/// Sends the user bytes the iovecs `iovs` name, as one message (or stream bytes), to the
/// socket's peer (read/write, send).
pub fn send_iov(
    f: &File,
    s: &Arc<UnixSocket>,
    iovs: &[(u64, usize)],
    flags: u32,
) -> Result<usize, i64> {
    let to = destination(s, None)?;
    send_to(f, s, iovs, flags, to, &mut Scm::default())
}

/// Where a send goes.
enum Dest {
    /// The socket's peer.
    Peer,
    To(Arc<UnixSocket>),
    /// Nobody: a UDP datagram to a port nobody holds is dropped.
    Drop,
}

/// Where a send goes: its address (sendto's `dest`, sendmsg's `msg_name`) checked as
/// Linux's sendmsg of each type does. An AF_UNIX stream takes none (EISCONN connected, else
/// EOPNOTSUPP), a seqpacket or TCP socket ignores it, a datagram goes to the socket it
/// names; UDP looks its destination up at each send (net/inet.rs).
fn destination(s: &Arc<UnixSocket>, raw: Option<Vec<u8>>) -> Result<Dest, i64> {
    let raw = raw.filter(|r| !r.is_empty());
    if s.family != unix_addr::AF_UNIX {
        if s.ty != SockType::Dgram {
            return Ok(Dest::Peer);
        }
        return Ok(match inet::udp_dest(s, raw.as_deref())? {
            Some(d) => Dest::To(d),
            None => Dest::Drop,
        });
    }
    let Some(raw) = raw else {
        return Ok(Dest::Peer);
    };
    match s.ty {
        SockType::Stream => Err(if s.state() == State::Connected {
            -EISCONN
        } else {
            -EOPNOTSUPP
        }),
        SockType::SeqPacket => Ok(Dest::Peer),
        SockType::Dgram => {
            let name = unix_addr::parse(&raw)?;
            unix_addr::find(&name, s.ty).map(Dest::To)
        }
    }
}

fn send_to(
    f: &File,
    s: &Arc<UnixSocket>,
    iovs: &[(u64, usize)],
    flags: u32,
    to: Dest,
    scm: &mut Scm,
) -> Result<usize, i64> {
    if flags & MSG_OOB != 0 {
        return Err(-EOPNOTSUPP);
    }
    let total = iovs.iter().map(|v| v.1).sum::<usize>().min(MAX_RW_COUNT);
    if s.ty != SockType::Stream && total > s.max_message() {
        return Err(-EMSGSIZE);
    }
    let to = match to {
        Dest::Peer => None,
        Dest::To(d) => Some(d),
        Dest::Drop => return Ok(total),
    };
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
        let n = match s.send(&kbuf, to.clone(), scm, flags, f.nonblocking()) {
            Ok(n) => n,
            Err(e) if done > 0 && e != -EFAULT => return Ok(done),
            Err(e) => return Err(e),
        };
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

/// sendto(fd, buf, len, flags, dest, addrlen).
fn sys_sendto(regs: &mut Regs) -> i64 {
    let (fd, buf, len, flags, dest, dlen) = (
        regs.rdi,
        regs.rsi,
        regs.rdx as usize,
        regs.r10 as u32,
        regs.r8,
        regs.r9,
    );
    ret((|| {
        let (f, s) = socket_of(fd)?;
        let raw = if dest != 0 {
            Some(read_sockaddr(dest, dlen)?)
        } else {
            None
        };
        if !access_ok(buf, len) {
            return Err(-EFAULT);
        }
        let to = destination(&s, raw)?;
        send_to(&f, &s, &[(buf, len)], flags, to, &mut Scm::default())
    })())
}

/// recvfrom(fd, buf, len, flags, src, addrlen): the sender's name in `src`.
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
        if src != 0 {
            write_sockaddr(src, alen, &sender_name(&r))?;
        }
        Ok(received_len(&r, flags))
    })())
}

/// The sender's address of a received message; an unnamed sender has none (length 0), as
/// Linux's `unix_copy_addr` leaves it.
fn sender_name(r: &Received) -> Vec<u8> {
    match &r.from {
        Some(a) => sockaddr_of(Some(a)),
        None => Vec::new(),
    }
}

/// The fields of a user `struct msghdr` kentry uses, and where the fields written back are.
/// An i386 caller's is a `struct compat_msghdr` (28 bytes: 32-bit pointers and lengths), which
/// Linux's `get_compat_msghdr` reads for a call made with MSG_CMSG_COMPAT; here the call's
/// own entry says which (`in_ia32_syscall`), as for the iovecs it names (io.rs).
pub(super) struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
    /// i386's layout (control messages too: net/scm.rs).
    compat: bool,
}

/// sizeof(struct msghdr) and sizeof(struct compat_msghdr).
pub(super) const MSGHDR_SIZE: usize = 56;
pub(super) const COMPAT_MSGHDR_SIZE: usize = 28;

impl MsgHdr {
    /// Offsets of msg_namelen, msg_controllen and msg_flags, written back by recvmsg.
    fn namelen_at(&self) -> u64 {
        if self.compat { 4 } else { 8 }
    }

    fn controllen_at(&self) -> u64 {
        if self.compat { 20 } else { 40 }
    }

    fn flags_at(&self) -> u64 {
        if self.compat { 24 } else { 48 }
    }

    pub(super) fn size(compat: bool) -> usize {
        if compat {
            COMPAT_MSGHDR_SIZE
        } else {
            MSGHDR_SIZE
        }
    }
}

pub(super) fn read_msghdr(at: u64) -> Result<MsgHdr, i64> {
    let compat = super::compat::in_ia32_syscall();
    let mut b = [0u8; MSGHDR_SIZE];
    let b = &mut b[..MsgHdr::size(compat)];
    copy_from_user(b, at).map_err(|_| -EFAULT)?;
    if compat {
        let w = |o: usize| {
            u64::from(u32::from_ne_bytes(
                b[o..o + 4].try_into().unwrap_or_default(),
            ))
        };
        return Ok(MsgHdr {
            name: w(0),
            namelen: w(4) as u32,
            iov: w(8),
            iovlen: w(12),
            control: w(16),
            controllen: w(20),
            compat,
        });
    }
    let w = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or_default());
    Ok(MsgHdr {
        name: w(0),
        namelen: w(8) as u32,
        iov: w(16),
        iovlen: w(24),
        control: w(32),
        controllen: w(40),
        compat,
    })
}

fn sys_sendmsg(regs: &mut Regs) -> i64 {
    ret(sendmsg(regs.rdi, regs.rsi, regs.rdx as u32))
}

/// sendmsg(fd, msg, flags), also one message of sendmmsg (net_mmsg.rs).
pub(super) fn sendmsg(fd: u64, msg: u64, flags: u32) -> Result<usize, i64> {
    let (f, s) = socket_of(fd)?;
    let h = read_msghdr(msg)?;
    if (h.namelen as i32) < 0 {
        return Err(-EINVAL);
    }
    if h.controllen > i32::MAX as u64 {
        return Err(-ENOBUFS);
    }
    let iovs = super::io::read_iovecs(h.iov, h.iovlen)?;
    // AF_INET/AF_INET6 sockets ignore SOL_SOCKET control data of these kinds (what
    // Linux 6.18 does with SCM_RIGHTS on TCP and UDP alike).
    let inet = s.family != unix_addr::AF_UNIX;
    let mut scm = if h.controllen > 0 && !inet {
        if h.controllen as usize > MAX_CONTROL {
            return Err(-ENOBUFS);
        }
        let mut ctl = vec![0u8; h.controllen as usize];
        copy_from_user(&mut ctl, h.control).map_err(|_| -EFAULT)?;
        if h.compat {
            ctl = scm::compat_to_kern(&ctl)?;
        }
        scm::parse(&ctl)?
    } else {
        Scm::default()
    };
    let raw = if h.name != 0 && h.namelen > 0 {
        Some(read_sockaddr(h.name, (h.namelen as u64).min(128))?)
    } else {
        None
    };
    let to = destination(&s, raw)?;
    send_to(&f, &s, &iovs, flags, to, &mut scm)
}

/// recvmsg: the message into the iovecs; back in the header the sender's name, the control
/// messages (credentials with SO_PASSCRED, then the descriptors, installed now), and
/// MSG_TRUNC/MSG_CTRUNC in msg_flags.
fn sys_recvmsg(regs: &mut Regs) -> i64 {
    ret(recvmsg(regs.rdi, regs.rsi, regs.rdx as u32))
}

/// recvmsg(fd, msg, flags), also one message of recvmmsg (net_mmsg.rs).
pub(super) fn recvmsg(fd: u64, msg: u64, flags: u32) -> Result<usize, i64> {
    let (f, s) = socket_of(fd)?;
    let h = read_msghdr(msg)?;
    let iovs = super::io::read_iovecs(h.iov, h.iovlen)?;
    let r = recv_iov(&f, &s, &iovs, flags)?;
    let mut out_flags: u32 = if r.len > r.copied { MSG_TRUNC } else { 0 };
    let room = if h.control == 0 {
        0
    } else {
        h.controllen.min(i32::MAX as u64) as usize
    };
    let mut w = CmsgWriter::new(room, h.compat);
    if s.passcred.load(Ordering::Acquire) {
        w.put(
            SCM_CREDENTIALS,
            &r.scm.cred.unwrap_or(Cred::NONE).to_bytes(),
        );
    }
    let sender = sender_name(&r);
    let got = received_len(&r, flags);
    if !r.scm.files.is_empty() {
        let fds = install_fds(r.scm.files, w.fds_room(), flags & MSG_CMSG_CLOEXEC != 0);
        if fds.truncated {
            w.truncated = true;
        }
        if !fds.bytes.is_empty() {
            w.put(SCM_RIGHTS, &fds.bytes);
        }
    }
    if w.truncated {
        out_flags |= MSG_CTRUNC;
    }
    if !w.out.is_empty() {
        copy_to_user(h.control, &w.out).map_err(|_| -EFAULT)?;
    }
    if h.name != 0 {
        write_sockaddr(h.name, msg + h.namelen_at(), &sender)?;
    }
    let controllen = w.out.len() as u64;
    let written = if h.compat {
        copy_to_user(msg + h.controllen_at(), &(controllen as u32).to_ne_bytes())
    } else {
        copy_to_user(msg + h.controllen_at(), &controllen.to_ne_bytes())
    };
    written.map_err(|_| -EFAULT)?;
    copy_to_user(msg + h.flags_at(), &out_flags.to_ne_bytes()).map_err(|_| -EFAULT)?;
    Ok(got)
}

/// Received descriptors installed: their numbers as SCM_RIGHTS data.
struct Installed {
    bytes: Vec<u8>,
    /// Some did not fit (or the table was full): those are closed.
    truncated: bool,
}

/// Installs at most `room` of `files` as new descriptors (Linux's `scm_detach_fds`).
fn install_fds(files: Vec<Arc<File>>, room: usize, cloexec: bool) -> Installed {
    let mut out = Installed {
        bytes: Vec::new(),
        truncated: files.len() > room,
    };
    for f in files.into_iter().take(room) {
        match fs::install_file(f, cloexec) {
            Ok(fd) => out.bytes.extend_from_slice(&(fd as i32).to_ne_bytes()),
            Err(_) => {
                out.truncated = true;
                break;
            }
        }
    }
    out
}

//! The socket system calls for AF_UNIX (net/unix*.rs): socket and socketpair, bind, listen,
//! connect, accept and accept4, shutdown, and the names of sockets. Sending and receiving are
//! in `net_msg.rs`, the options in `net_opt.rs`. read/write and readv/writev on a socket
//! come through `net_msg.rs` too (`io.rs`), so that a message is sent whole and received
//! whole whatever the call.
//!
//! AF_INET and AF_INET6 sockets (TCP and UDP over loopback, net/inet.rs) go through the same
//! calls.

use super::errno::*;
use super::table::Table;
use crate::fs::{self, File, FileKind, O_NONBLOCK, O_RDWR};
use crate::net::inet;
use crate::net::unix::{Cred, SockType, UnixSocket};
use crate::net::unix_addr::{self, UnixAddr};
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub use super::net_msg::{recv_iov, send_iov};

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::SOCKET] = sys_socket;
    t[nr::SOCKETPAIR] = sys_socketpair;
    t[nr::BIND] = sys_bind;
    t[nr::LISTEN] = sys_listen;
    t[nr::CONNECT] = sys_connect;
    t[nr::ACCEPT] = sys_accept;
    t[nr::ACCEPT4] = sys_accept4;
    t[nr::SHUTDOWN] = sys_shutdown;
    t[nr::GETSOCKNAME] = sys_getsockname;
    t[nr::GETPEERNAME] = sys_getpeername;
    let t = super::net_msg::register(t);
    let t = super::net_mmsg::register(t);
    super::net_opt::register(t)
}

pub(super) const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const IPPROTO_TCP: u64 = 6;
const IPPROTO_UDP: u64 = 17;
const SOCK_TYPE_MASK: u32 = 0xf;
const SOCK_NONBLOCK: u32 = 0o4000;
const SOCK_CLOEXEC: u32 = 0o2000000;
/// SOCK_RAW: an AF_UNIX socket of this type is a datagram one (Linux's `unix_create`).
const SOCK_RAW: u32 = 3;
/// Linux's SOCK_MAX: a type at or above it is EINVAL before the family is asked.
const SOCK_MAX: u32 = 11;
/// Linux's NPROTO: families at or above it are EAFNOSUPPORT.
const NPROTO: u64 = 46;
/// sizeof(struct sockaddr_storage): the longest address a call takes.
const SOCKADDR_STORAGE: usize = 128;

pub(super) fn ret(r: Result<usize, i64>) -> i64 {
    match r {
        Ok(n) => n as i64,
        Err(e) => e,
    }
}

/// The socket behind descriptor `fd`: EBADF, or ENOTSOCK for another kind of file.
pub(super) fn socket_of(fd: u64) -> Result<(Arc<File>, Arc<UnixSocket>), i64> {
    let f = fs::get_file(fd)?;
    let s = f.socket().cloned().ok_or(-ENOTSOCK)?;
    Ok((f, s))
}

/// A user address of `len` bytes (Linux's `move_addr_to_kernel`): EINVAL past
/// sockaddr_storage or negative, EFAULT unreadable.
pub(super) fn read_sockaddr(at: u64, len: u64) -> Result<Vec<u8>, i64> {
    let len = len as i32;
    if len < 0 || len as usize > SOCKADDR_STORAGE {
        return Err(-EINVAL);
    }
    let mut b = vec![0u8; len as usize];
    copy_from_user(&mut b, at).map_err(|_| -EFAULT)?;
    Ok(b)
}

/// Gives an address back (Linux's `move_addr_to_user`): as much as the caller's `*alen`
/// holds, and the whole length in `*alen`.
pub(super) fn write_sockaddr(addr: u64, alen: u64, a: &[u8]) -> Result<(), i64> {
    let mut l = [0u8; 4];
    copy_from_user(&mut l, alen).map_err(|_| -EFAULT)?;
    let room = i32::from_ne_bytes(l);
    if room < 0 {
        return Err(-EINVAL);
    }
    let n = (room as usize).min(a.len());
    if n > 0 {
        copy_to_user(addr, &a[..n]).map_err(|_| -EFAULT)?;
    }
    copy_to_user(alen, &(a.len() as u32).to_ne_bytes()).map_err(|_| -EFAULT)
}

/// An AF_UNIX address as the calls give it back: the name, or the family alone.
pub(super) fn sockaddr_of(a: Option<&Arc<UnixAddr>>) -> Vec<u8> {
    match a {
        Some(a) => a.sockaddr(),
        None => (AF_UNIX as u16).to_ne_bytes().to_vec(),
    }
}

/// A socket's own name as getsockname gives it: an unbound AF_INET/AF_INET6 socket has
/// the wildcard address and port 0.
fn own_name(s: &UnixSocket) -> Vec<u8> {
    match s.name() {
        Some(a) => a.sockaddr(),
        None if s.family != AF_UNIX as u16 => inet::unnamed(s.family),
        None => sockaddr_of(None),
    }
}

/// The checks socket() and socketpair() share: the type's flags and kind, the family, the
/// protocol. AF_INET/AF_INET6 take SOCK_STREAM (TCP) and SOCK_DGRAM (UDP) over loopback.
fn sock_type(domain: u64, ty: u32, protocol: u64) -> Result<SockType, i64> {
    if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(-EINVAL);
    }
    if domain >= NPROTO {
        return Err(-EAFNOSUPPORT);
    }
    if ty & SOCK_TYPE_MASK >= SOCK_MAX {
        return Err(-EINVAL);
    }
    if domain == AF_INET || domain == AF_INET6 {
        return match (ty & SOCK_TYPE_MASK, protocol) {
            (1, 0 | IPPROTO_TCP) => Ok(SockType::Stream),
            (2, 0 | IPPROTO_UDP) => Ok(SockType::Dgram),
            (1 | 2, _) => Err(-EPROTONOSUPPORT),
            _ => Err(-ESOCKTNOSUPPORT),
        };
    }
    if domain != AF_UNIX {
        return Err(-EAFNOSUPPORT);
    }
    if protocol != 0 && protocol != AF_UNIX {
        return Err(-EPROTONOSUPPORT);
    }
    let base = match ty & SOCK_TYPE_MASK {
        SOCK_RAW => SockType::Dgram as u32,
        t => t,
    };
    SockType::from_raw(base).ok_or(-ESOCKTNOSUPPORT)
}

fn socket_file(s: Arc<UnixSocket>, ty: u32) -> Arc<File> {
    let flags = O_RDWR
        | if ty & SOCK_NONBLOCK != 0 {
            O_NONBLOCK
        } else {
            0
        };
    File::new(FileKind::Socket(s), flags)
}

/// socket(domain, type, protocol).
fn sys_socket(regs: &mut Regs) -> i64 {
    let (domain, ty, protocol) = (regs.rdi, regs.rsi as u32, regs.rdx);
    ret((|| {
        let kind = sock_type(domain, ty, protocol)?;
        let f = socket_file(UnixSocket::new_in(domain as u16, kind), ty);
        fs::install_file(f, ty & SOCK_CLOEXEC != 0)
    })())
}

/// socketpair(domain, type, protocol, sv).
fn sys_socketpair(regs: &mut Regs) -> i64 {
    let (domain, ty, protocol, sv) = (regs.rdi, regs.rsi as u32, regs.rdx, regs.r10);
    ret((|| {
        // Families Linux knows but whose sockets make no pairs.
        if domain == AF_INET || domain == AF_INET6 {
            return Err(-EOPNOTSUPP);
        }
        let kind = sock_type(domain, ty, protocol)?;
        let (a, b) = UnixSocket::pair(kind, Cred::current_effective());
        let cloexec = ty & SOCK_CLOEXEC != 0;
        let da = fs::install_file(socket_file(a, ty), cloexec)?;
        let db = match fs::install_file(socket_file(b, ty), cloexec) {
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

/// Takes descriptor `fd` back (a call that could not finish).
fn remove_fd(fd: usize) -> Option<fs::FdEntry> {
    crate::task::current()
        .process
        .files()
        .lock()
        .remove(fd as u64)
}

/// bind(fd, addr, len).
fn sys_bind(regs: &mut Regs) -> i64 {
    ret((|| {
        let (_, s) = socket_of(regs.rdi)?;
        let raw = read_sockaddr(regs.rsi, regs.rdx)?;
        if s.family != AF_UNIX as u16 {
            return inet::bind(&s, &raw).map(|()| 0);
        }
        let name = unix_addr::parse(&raw)?;
        unix_addr::bind(&s, name).map(|()| 0)
    })())
}

/// listen(fd, backlog).
fn sys_listen(regs: &mut Regs) -> i64 {
    ret((|| {
        let (_, s) = socket_of(regs.rdi)?;
        s.listen(regs.rsi as i32).map(|()| 0)
    })())
}

/// connect(fd, addr, len).
fn sys_connect(regs: &mut Regs) -> i64 {
    ret((|| {
        let (f, s) = socket_of(regs.rdi)?;
        let raw = read_sockaddr(regs.rsi, regs.rdx)?;
        s.connect(&raw, f.nonblocking()).map(|()| 0)
    })())
}

fn sys_accept(regs: &mut Regs) -> i64 {
    ret(accept4(regs.rdi, regs.rsi, regs.rdx, 0))
}

fn sys_accept4(regs: &mut Regs) -> i64 {
    ret(accept4(regs.rdi, regs.rsi, regs.rdx, regs.r10 as u32))
}

/// accept4(fd, addr, alen, flags): the new descriptor, and the connecting socket's name in
/// `addr`. EINVAL for flags other than SOCK_CLOEXEC and SOCK_NONBLOCK.
fn accept4(fd: u64, addr: u64, alen: u64, flags: u32) -> Result<usize, i64> {
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(-EINVAL);
    }
    let (f, s) = socket_of(fd)?;
    let new = s.accept(f.nonblocking())?;
    let peer = new.peer_name().flatten();
    let d = fs::install_file(socket_file(new, flags), flags & SOCK_CLOEXEC != 0)?;
    if addr != 0
        && let Err(e) = write_sockaddr(addr, alen, &sockaddr_of(peer.as_ref()))
    {
        drop(remove_fd(d));
        return Err(e);
    }
    Ok(d)
}

fn sys_shutdown(regs: &mut Regs) -> i64 {
    ret((|| {
        let (_, s) = socket_of(regs.rdi)?;
        s.shutdown(regs.rsi as u32).map(|()| 0)
    })())
}

fn sys_getsockname(regs: &mut Regs) -> i64 {
    ret((|| {
        let (_, s) = socket_of(regs.rdi)?;
        write_sockaddr(regs.rsi, regs.rdx, &own_name(&s)).map(|()| 0)
    })())
}

/// getpeername: ENOTCONN unless connected.
fn sys_getpeername(regs: &mut Regs) -> i64 {
    ret((|| {
        let (_, s) = socket_of(regs.rdi)?;
        let peer = s.peer_name().ok_or(-ENOTCONN)?;
        write_sockaddr(regs.rsi, regs.rdx, &sockaddr_of(peer.as_ref())).map(|()| 0)
    })())
}

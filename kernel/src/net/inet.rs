//! AF_INET and AF_INET6 sockets over loopback: TCP and UDP between programs in the guest,
//! on 127.0.0.0/8 and ::1 (and the wildcard addresses, which mean them here). This file
//! holds what both protocols share: addresses, names and the port table.
//!
//! TCP runs on smoltcp (tcp.rs, stack.rs): its segments really go through a TCP/IP stack
//! and a loopback device. UDP does not yet: a UDP socket is a datagram socket of the
//! AF_UNIX machinery (unix.rs, unix_io.rs) named by an address and port instead of a path,
//! which gives datagram boundaries, readiness and the sender's name without a packet.
//! docs/sockets.md says what differs from Linux.
//!
//! Ports: one table per protocol for both families (a port taken by an AF_INET socket is
//! taken for AF_INET6 too), holding live sockets. A UDP port is free as soon as its socket
//! closes; a TCP port stays taken while a connection on it lingers (TIME_WAIT), unless
//! SO_REUSEADDR (tcp.rs `bind`). Ephemeral ports are 32768–60999 (Linux's
//! `ip_local_port_range`).

use super::unix::{SockType, State, UnixSocket};
use super::unix_addr::UnixAddr;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
const AF_UNSPEC: u16 = 0;
const EPHEMERAL_LOW: u32 = 32768;
const EPHEMERAL_HIGH: u32 = 60999;

/// An address (an IPv4 one as ::ffff:a.b.c.d) and a port.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub ip: [u8; 16],
    pub port: u16,
}

const V4_MAPPED: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const LOOPBACK6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

pub(super) fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut ip = [0u8; 16];
    ip[..12].copy_from_slice(&V4_MAPPED);
    ip[12..].copy_from_slice(&a);
    ip
}

impl Endpoint {
    pub fn is_v4(&self) -> bool {
        self.ip[..12] == V4_MAPPED
    }

    pub fn is_any(&self) -> bool {
        self.ip == [0; 16] || self.ip == v4([0; 4])
    }

    fn is_loopback(&self) -> bool {
        (self.is_v4() && self.ip[12] == 127) || self.ip == LOOPBACK6
    }

    /// The loopback address of the same kind (what a wildcard destination reaches).
    pub fn loopback(&self) -> [u8; 16] {
        if self.is_v4() {
            v4([127, 0, 0, 1])
        } else {
            LOOPBACK6
        }
    }
}

/// Reads a user's `sockaddr_in` (at least 16 bytes) or `sockaddr_in6` (at least 24):
/// EINVAL shorter, EAFNOSUPPORT for another family.
fn parse(family: u16, raw: &[u8]) -> Result<Endpoint, i64> {
    let need = if family == AF_INET { 16 } else { 24 };
    if raw.len() < need {
        return Err(-EINVAL);
    }
    if u16::from_ne_bytes([raw[0], raw[1]]) != family {
        return Err(-EAFNOSUPPORT);
    }
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    let ip = if family == AF_INET {
        v4([raw[4], raw[5], raw[6], raw[7]])
    } else {
        let mut ip = [0u8; 16];
        ip.copy_from_slice(&raw[8..24]);
        ip
    };
    Ok(Endpoint { ip, port })
}

/// The name of `e` in `family`'s layout (what getsockname gives).
pub(super) fn name_of(family: u16, e: Endpoint) -> Arc<UnixAddr> {
    let mut b = Vec::with_capacity(26);
    b.extend_from_slice(&e.port.to_be_bytes());
    if family == AF_INET {
        b.extend_from_slice(&e.ip[12..]);
        b.extend_from_slice(&[0; 8]);
    } else {
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&e.ip);
        b.extend_from_slice(&[0; 4]);
    }
    Arc::new(UnixAddr {
        family,
        sun_path: b,
        is_abstract: false,
    })
}

/// The endpoint a name holds.
pub(super) fn endpoint_of(a: &UnixAddr) -> Endpoint {
    let port = u16::from_be_bytes([a.sun_path[0], a.sun_path[1]]);
    let ip = if a.family == AF_INET {
        v4([a.sun_path[2], a.sun_path[3], a.sun_path[4], a.sun_path[5]])
    } else {
        let mut ip = [0u8; 16];
        ip.copy_from_slice(&a.sun_path[6..22]);
        ip
    };
    Endpoint { ip, port }
}

/// An unbound socket's name: the family, port 0, the wildcard address.
pub fn unnamed(family: u16) -> Vec<u8> {
    let mut v = alloc::vec![0u8; if family == AF_INET { 16 } else { 28 }];
    v[..2].copy_from_slice(&family.to_ne_bytes());
    v
}

/// The largest UDP payload (65535 less the IP and UDP headers).
pub fn max_datagram(family: u16) -> usize {
    if family == AF_INET { 65507 } else { 65527 }
}

/// The ports in use: (socket type, port) → socket.
type PortKey = (u8, u16);
static PORTS: Mutex<BTreeMap<PortKey, Weak<UnixSocket>>> = Mutex::new(BTreeMap::new());
static NEXT_EPHEMERAL: AtomicU32 = AtomicU32::new(EPHEMERAL_LOW);

fn holder(t: &BTreeMap<PortKey, Weak<UnixSocket>>, key: &PortKey) -> Option<Arc<UnixSocket>> {
    t.get(key)
        .and_then(Weak::upgrade)
        .filter(|s| !s.dead.load(Ordering::Acquire))
}

/// Binds `s` to `e` (port 0: an ephemeral one, not one `busy` names): EINVAL if bound,
/// EADDRINUSE if the port is taken, EAGAIN when no ephemeral port is left.
pub(super) fn bind_endpoint(
    s: &Arc<UnixSocket>,
    mut e: Endpoint,
    busy: &mut dyn FnMut(u16) -> bool,
) -> Result<(), i64> {
    let mut c = s.conn.lock();
    if c.addr.is_some() {
        return Err(-EINVAL);
    }
    let mut t = PORTS.lock();
    let ty = s.ty as u8;
    if e.port == 0 {
        let span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
        let mut found = None;
        for _ in 0..span {
            let n = NEXT_EPHEMERAL.fetch_add(1, Ordering::Relaxed);
            let port = (EPHEMERAL_LOW + (n - EPHEMERAL_LOW) % span) as u16;
            if holder(&t, &(ty, port)).is_none() && !busy(port) {
                found = Some(port);
                break;
            }
        }
        e.port = found.ok_or(-EAGAIN)?;
    } else if holder(&t, &(ty, e.port)).is_some() {
        return Err(-EADDRINUSE);
    }
    t.insert((ty, e.port), Arc::downgrade(s));
    c.addr = Some(name_of(s.family, e));
    Ok(())
}

/// bind(2): a loopback or wildcard address (EADDRNOTAVAIL for others).
pub fn bind(s: &Arc<UnixSocket>, raw: &[u8]) -> Result<(), i64> {
    let e = parse(s.family, raw)?;
    if !e.is_any() && !e.is_loopback() {
        return Err(-EADDRNOTAVAIL);
    }
    if s.ty == SockType::Stream {
        return super::tcp::bind(s, e);
    }
    bind_endpoint(s, e, &mut |_| false)
}

/// Binds an unbound socket to an ephemeral port on `ip` (Linux's `inet_autobind`, and the
/// source port a connect picks).
fn autobind_on(s: &Arc<UnixSocket>, ip: [u8; 16]) -> Result<(), i64> {
    if s.conn.lock().addr.is_some() {
        return Ok(());
    }
    match bind_endpoint(s, Endpoint { ip, port: 0 }, &mut |_| false) {
        Err(e) if e == -EINVAL => Ok(()),
        r => r,
    }
}

/// An unbound socket gets an ephemeral port on the wildcard address (a UDP send).
pub fn autobind(s: &Arc<UnixSocket>) -> Result<(), i64> {
    let any = if s.family == AF_INET {
        v4([0; 4])
    } else {
        [0; 16]
    };
    autobind_on(s, any)
}

/// The port goes with its socket.
pub fn unbind(a: &UnixAddr, s: &UnixSocket) {
    let key = (s.ty as u8, endpoint_of(a).port);
    let mut t = PORTS.lock();
    if t.get(&key)
        .is_some_and(|w| core::ptr::eq(w.as_ptr(), s as *const UnixSocket))
    {
        t.remove(&key);
    }
}

/// The live socket of type `ty` that receives at `dest` (a loopback address): the port's
/// holder, if its address matches (the wildcard matches any; an AF_INET6 wildcard takes
/// AF_INET too, as a dual-stack socket).
pub(super) fn find(ty: SockType, dest: Endpoint) -> Option<Arc<UnixSocket>> {
    let s = holder(&PORTS.lock(), &(ty as u8, dest.port))?;
    let bound = endpoint_of(&*s.name()?);
    let family_ok =
        (s.family == AF_INET) == dest.is_v4() || (s.family == AF_INET6 && bound.is_any());
    let addr_ok = bound.is_any() || bound.ip == dest.ip;
    (family_ok && addr_ok).then_some(s)
}

/// The live socket that holds `port` for `ty`, whatever its address.
pub(super) fn port_holder(ty: SockType, port: u16) -> Option<Arc<UnixSocket>> {
    holder(&PORTS.lock(), &(ty as u8, port))
}

/// Where a datagram from a wildcard-bound socket appears to come from: the loopback.
pub fn source_name(s: &UnixSocket) -> Option<Arc<UnixAddr>> {
    let a = s.name()?;
    let mut e = endpoint_of(&a);
    if e.is_any() {
        e.ip = e.loopback();
    }
    Some(name_of(s.family, e))
}

/// A destination address checked: a loopback one, or the wildcard meaning it
/// (ENETUNREACH for any other: nothing leaves the guest).
fn destination(family: u16, raw: &[u8]) -> Result<Endpoint, i64> {
    let mut e = parse(family, raw)?;
    if e.is_any() {
        e.ip = e.loopback();
    }
    if !e.is_loopback() {
        return Err(-ENETUNREACH);
    }
    Ok(e)
}

/// connect(2): TCP connects to the address (tcp.rs); UDP records its destination
/// (AF_UNSPEC forgets it).
pub fn connect(s: &Arc<UnixSocket>, raw: &[u8], nonblock: bool) -> Result<(), i64> {
    if raw.len() >= 2 && u16::from_ne_bytes([raw[0], raw[1]]) == AF_UNSPEC {
        if s.ty == SockType::Dgram {
            let mut c = s.conn.lock();
            c.dest = None;
            c.state = State::Unconnected;
        }
        return Ok(());
    }
    let e = destination(s.family, raw)?;
    if s.ty == SockType::Dgram {
        autobind(s)?;
        let mut c = s.conn.lock();
        c.dest = Some(name_of(s.family, e));
        c.state = State::Connected;
        return Ok(());
    }
    super::tcp::connect(s, e, nonblock)
}

/// Where a UDP send goes: the address given, or the connected destination (EDESTADDRREQ
/// without either). Ok(None): nobody receives there, so the datagram is dropped (a
/// connected socket then gets ECONNREFUSED on its next call, as Linux's ICMP error).
pub fn udp_dest(s: &Arc<UnixSocket>, raw: Option<&[u8]>) -> Result<Option<Arc<UnixSocket>>, i64> {
    let e = s.take_error();
    if e != 0 {
        return Err(-(e as i64));
    }
    let (e, connected) = match raw {
        Some(r) => (destination(s.family, r)?, false),
        None => {
            let d = s.conn.lock().dest.clone().ok_or(-EDESTADDRREQ)?;
            (endpoint_of(&d), true)
        }
    };
    autobind(s)?;
    let found = find(SockType::Dgram, e);
    if found.is_none() && connected {
        s.err.store(ECONNREFUSED as i32, Ordering::Release);
    }
    Ok(found)
}

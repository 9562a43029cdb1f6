//! Names of AF_UNIX sockets (Linux's `unix_validate_addr`, `unix_bind_bsd`,
//! `unix_bind_abstract`, `unix_autobind`, `unix_find_other`).
//!
//! - A **path** name is a socket node in the in-memory filesystem, made by bind (mode 0777
//!   less the umask; EADDRINUSE if the name exists). The node outlives the socket: after
//!   close, connecting there is ECONNREFUSED until someone unlinks it. The node refers to
//!   its socket weakly.
//! - An **abstract** name starts with a NUL byte and lives in a table of its own (one per
//!   socket type, as Linux hashes the type in); it goes away with its socket.
//! - **Autobind** (bind with only the family, or sending with SO_PASSCRED unbound) picks an
//!   abstract name of five hex digits.
//!
//! Paths must be UTF-8 here (EINVAL otherwise): kentry's filesystem names are strings.

use super::unix::{SockType, UnixSocket};
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

pub const AF_UNSPEC: u16 = 0;
pub const AF_UNIX: u16 = 1;
/// offsetof(struct sockaddr_un, sun_path).
pub const SUN_PATH: usize = 2;
/// sizeof(struct sockaddr_un).
pub const SOCKADDR_UN: usize = 110;

/// A bound name (an AF_INET/AF_INET6 socket's too: net/inet.rs).
#[derive(Debug, PartialEq, Eq)]
pub struct UnixAddr {
    pub family: u16,
    /// What follows the family: for AF_UNIX `sun_path` as getsockname gives it back (a path
    /// with its terminating NUL, or the abstract name's bytes, the leading NUL included,
    /// exactly as bound); for AF_INET/AF_INET6 the rest of `sockaddr_in`/`sockaddr_in6`.
    pub sun_path: Vec<u8>,
    pub is_abstract: bool,
}

impl UnixAddr {
    /// The whole `struct sockaddr` as far as it goes (its length is the address length).
    pub fn sockaddr(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(SUN_PATH + self.sun_path.len());
        v.extend_from_slice(&self.family.to_ne_bytes());
        v.extend_from_slice(&self.sun_path);
        v
    }
}

/// A name a caller gave.
pub enum Name {
    /// The family alone: bind picks a name.
    Autobind,
    Path(String),
    Abstract(Vec<u8>),
}

/// Reads a user's `sockaddr_un` of `raw.len()` bytes: EINVAL for a wrong family or a
/// length outside (2, 110].
pub fn parse(raw: &[u8]) -> Result<Name, i64> {
    if raw.len() < SUN_PATH || u16::from_ne_bytes([raw[0], raw[1]]) != AF_UNIX {
        return Err(-EINVAL);
    }
    if raw.len() == SUN_PATH {
        return Ok(Name::Autobind);
    }
    if raw.len() > SOCKADDR_UN {
        return Err(-EINVAL);
    }
    let path = &raw[SUN_PATH..];
    if path[0] == 0 {
        return Ok(Name::Abstract(path.to_vec()));
    }
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    let s = core::str::from_utf8(&path[..end]).map_err(|_| -EINVAL)?;
    Ok(Name::Path(String::from(s)))
}

/// An abstract name's key: (socket type, name).
type AbstractKey = (u8, Vec<u8>);

/// The abstract names in use.
static ABSTRACT: Mutex<BTreeMap<AbstractKey, Weak<UnixSocket>>> = Mutex::new(BTreeMap::new());
/// The next autobind name.
static AUTOBIND_NEXT: AtomicU32 = AtomicU32::new(0);

/// Binds `s` to `name` (bind(2)): EINVAL if it already has a name, EADDRINUSE if the name is
/// taken; a path's lookup errors (ENOENT, ENOTDIR, EACCES…) as they come.
pub fn bind(s: &Arc<UnixSocket>, name: Name) -> Result<(), i64> {
    match name {
        Name::Autobind => autobind(s),
        Name::Abstract(n) => {
            let mut c = s.conn.lock();
            if c.addr.is_some() {
                return Err(-EINVAL);
            }
            let mut t = ABSTRACT.lock();
            let key = (s.ty as u8, n);
            if t.get(&key).is_some_and(|w| w.strong_count() > 0) {
                return Err(-EADDRINUSE);
            }
            c.addr = Some(Arc::new(UnixAddr {
                family: AF_UNIX,
                sun_path: key.1.clone(),
                is_abstract: true,
            }));
            t.insert(key, Arc::downgrade(s));
            Ok(())
        }
        Name::Path(p) => {
            let base = crate::fs::cwd();
            match crate::fs::mknod_socket(&base, &p, Arc::downgrade(s)) {
                Err(e) if e == -EEXIST => return Err(-EADDRINUSE),
                r => r?,
            }
            let mut c = s.conn.lock();
            if c.addr.is_some() {
                drop(c);
                // Linux makes the node first too, and takes it back.
                let _ = crate::fs::remove(&base, &p, false);
                return Err(-EINVAL);
            }
            let mut sun_path = p.into_bytes();
            sun_path.push(0);
            c.addr = Some(Arc::new(UnixAddr {
                family: AF_UNIX,
                sun_path,
                is_abstract: false,
            }));
            Ok(())
        }
    }
}

/// Gives `s` an abstract name of five hex digits unless it has a name (Linux's
/// `unix_autobind`); EADDRINUSE once all 2^20 are taken.
pub fn autobind(s: &Arc<UnixSocket>) -> Result<(), i64> {
    let mut c = s.conn.lock();
    if c.addr.is_some() {
        return Ok(());
    }
    let mut t = ABSTRACT.lock();
    for _ in 0..0x10_0000 {
        let n = AUTOBIND_NEXT.fetch_add(1, Ordering::Relaxed) & 0xf_ffff;
        let mut name = alloc::vec![0u8];
        name.extend_from_slice(alloc::format!("{n:05x}").as_bytes());
        let key = (s.ty as u8, name);
        if t.get(&key).is_some_and(|w| w.strong_count() > 0) {
            continue;
        }
        c.addr = Some(Arc::new(UnixAddr {
            family: AF_UNIX,
            sun_path: key.1.clone(),
            is_abstract: true,
        }));
        t.insert(key, Arc::downgrade(s));
        return Ok(());
    }
    Err(-EADDRINUSE)
}

/// The socket's name goes with it: an abstract name is free again (a path's node stays).
pub fn unbind(a: &UnixAddr, s: &UnixSocket) {
    if a.family != AF_UNIX {
        return super::inet::unbind(a, s);
    }
    if !a.is_abstract {
        return;
    }
    let mut t = ABSTRACT.lock();
    let key = (s.ty as u8, a.sun_path.clone());
    let mine = t
        .get(&key)
        .is_some_and(|w| core::ptr::eq(w.as_ptr(), s as *const UnixSocket));
    if mine {
        t.remove(&key);
    }
}

/// The live socket of type `ty` that `name` names (Linux's `unix_find_other`): a path's
/// lookup errors, ECONNREFUSED for a node that is no socket or whose socket is closed, or
/// an abstract name nobody holds, EPROTOTYPE for a socket of another type.
pub fn find(name: &Name, ty: SockType) -> Result<Arc<UnixSocket>, i64> {
    let s = match name {
        Name::Autobind => return Err(-EINVAL),
        Name::Abstract(n) => ABSTRACT
            .lock()
            .get(&(ty as u8, n.clone()))
            .and_then(Weak::upgrade)
            .ok_or(-ECONNREFUSED)?,
        Name::Path(p) => {
            let f = crate::fs::lookup(&crate::fs::cwd(), p, true)?;
            match &f.node.body {
                crate::fs::Body::Socket(w) => w.upgrade().ok_or(-ECONNREFUSED)?,
                _ => return Err(-ECONNREFUSED),
            }
        }
    };
    if s.dead.load(Ordering::Acquire) {
        return Err(-ECONNREFUSED);
    }
    if s.ty != ty {
        return Err(-EPROTOTYPE);
    }
    Ok(s)
}

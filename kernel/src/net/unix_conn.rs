//! Connections of AF_UNIX sockets (Linux's `unix_listen`, `unix_stream_connect`,
//! `unix_dgram_connect`, `unix_accept`).
//!
//! A stream or seqpacket connect makes the server's end at once (an embryo connected to
//! the caller, named as the listener, its SO_PEERCRED the caller) and queues it at the
//! listener; `accept` takes it out. The queue holds at most `backlog + 1` embryos, as
//! Linux's `unix_recvq_full` (`>` not `>=`); a connect beyond that waits for an accept, or
//! fails with EAGAIN when non-blocking. Data sent before the accept waits in the embryo.
//!
//! Locks: the caller's `conn` and the listener's are never held together (the caller is
//! marked [`State::Connecting`] in between), so two sockets connecting to each other cannot
//! deadlock.

use super::unix::{Cred, RCV_SHUTDOWN, SockType, State, UnixSocket};
use super::unix_addr::{self, AF_UNSPEC, Name};
use crate::syscall::errno::*;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

/// Test kernels, `kentry.break=unix_backlog`: a listener's queue has no bound (every
/// connect gets in at once): the negative run of `c_unixnamed` (accept_backlog).
pub static BREAK_BACKLOG: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// listen(2)'s cap on the backlog (Linux's `net.core.somaxconn`).
pub const SOMAXCONN: usize = 4096;

impl UnixSocket {
    /// listen(2): EOPNOTSUPP for datagrams, EINVAL unbound or connected. A second listen
    /// changes the backlog.
    pub fn listen(self: &Arc<Self>, backlog: i32) -> Result<(), i64> {
        if !self.ty.connected() {
            return Err(-EOPNOTSUPP);
        }
        if super::tcp::is_tcp(self) {
            return super::tcp::listen(self, backlog);
        }
        // Linux compares as unsigned: a negative backlog is the cap.
        let backlog = (backlog as u32 as usize).min(SOMAXCONN);
        let mut c = self.conn.lock();
        if c.addr.is_none() || !matches!(c.state, State::Unconnected | State::Listening) {
            return Err(-EINVAL);
        }
        c.state = State::Listening;
        c.backlog = backlog;
        c.peer_cred = Some(Cred::current_effective());
        drop(c);
        // A larger backlog may let waiting connectors in.
        self.room_wait.wake_all();
        Ok(())
    }

    /// connect(2) with the user's `sockaddr` bytes `raw`.
    pub fn connect(self: &Arc<Self>, raw: &[u8], nonblock: bool) -> Result<(), i64> {
        if self.family != unix_addr::AF_UNIX {
            return super::inet::connect(self, raw, nonblock);
        }
        if self.ty == SockType::Dgram {
            return self.dgram_connect(raw);
        }
        let name = match unix_addr::parse(raw)? {
            Name::Autobind => return Err(-EINVAL),
            n => n,
        };
        if self.passcred.load(Ordering::Acquire) {
            unix_addr::autobind(self)?;
        }
        self.connect_to(
            || unix_addr::find(&name, self.ty).map(|s| (s, None)),
            nonblock,
        )
    }

    /// A stream or seqpacket connect to the listener `find` gives (and the name its embryo
    /// gets; None: the listener's).
    pub(super) fn connect_to(
        self: &Arc<Self>,
        find: impl Fn() -> Result<(Arc<UnixSocket>, Option<Arc<unix_addr::UnixAddr>>), i64>,
        nonblock: bool,
    ) -> Result<(), i64> {
        loop {
            let (other, name) = find()?;
            {
                let mut c = self.conn.lock();
                match c.state {
                    State::Connected => return Err(-EISCONN),
                    State::Listening => return Err(-EINVAL),
                    State::Connecting => return Err(-EALREADY),
                    State::Unconnected => c.state = State::Connecting,
                }
            }
            match self.enqueue_at(&other, name) {
                Ok(embryo) => {
                    let listener_cred = other.conn.lock().peer_cred;
                    let mut c = self.conn.lock();
                    c.state = State::Connected;
                    c.peer = Some(embryo);
                    c.peer_cred = listener_cred;
                    drop(c);
                    self.seq.wake_both();
                    return Ok(());
                }
                Err(e) => {
                    self.conn.lock().state = State::Unconnected;
                    if e != -EAGAIN {
                        return Err(e);
                    }
                }
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            // Wait for room in the listener's queue, then look the name up again (the
            // listener may have gone meanwhile).
            let woke = other.room_wait.wait_until(
                || {
                    let c = other.conn.lock();
                    c.state != State::Listening || c.accept_q.len() <= c.backlog
                },
                crate::signal::interrupted,
            );
            if !woke {
                return Err(-ERESTARTSYS);
            }
        }
    }

    /// Puts a new embryo connected to `self` into `listener`'s queue: ECONNREFUSED if it
    /// does not listen (or was shut down), EAGAIN if its queue is full. The embryo is named
    /// `name`, or as the listener.
    pub(super) fn enqueue_at(
        self: &Arc<Self>,
        listener: &Arc<UnixSocket>,
        name: Option<Arc<super::unix_addr::UnixAddr>>,
    ) -> Result<Arc<UnixSocket>, i64> {
        let embryo = UnixSocket::new_in(listener.family, self.ty);
        let mut lc = listener.conn.lock();
        if lc.state != State::Listening
            || listener.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0
        {
            return Err(-ECONNREFUSED);
        }
        if lc.accept_q.len() > lc.backlog && !BREAK_BACKLOG.load(Ordering::Relaxed) {
            return Err(-EAGAIN);
        }
        {
            let mut ec = embryo.conn.lock();
            ec.state = State::Connected;
            ec.peer = Some(self.clone());
            ec.peer_cred = Some(Cred::current_effective());
            ec.addr = name.or_else(|| lc.addr.clone());
        }
        lc.accept_q.push_back(embryo.clone());
        drop(lc);
        listener.rx_wait.wake_all();
        listener.seq.wake_rd();
        Ok(embryo)
    }

    /// A datagram socket's connect names its default destination; AF_UNSPEC forgets it.
    fn dgram_connect(self: &Arc<Self>, raw: &[u8]) -> Result<(), i64> {
        if raw.len() < 2 {
            return Err(-EINVAL);
        }
        if u16::from_ne_bytes([raw[0], raw[1]]) == AF_UNSPEC {
            let old = {
                let mut c = self.conn.lock();
                c.state = State::Unconnected;
                c.peer.take()
            };
            drop(old);
            return Ok(());
        }
        let name = match unix_addr::parse(raw)? {
            Name::Autobind => return Err(-EINVAL),
            n => n,
        };
        if self.passcred.load(Ordering::Acquire) {
            unix_addr::autobind(self)?;
        }
        let other = unix_addr::find(&name, self.ty)?;
        // Linux's `unix_may_send`: the destination must not be connected elsewhere.
        let taken = other
            .conn
            .lock()
            .peer
            .as_ref()
            .is_some_and(|p| !Arc::ptr_eq(p, self));
        if taken {
            return Err(-EPERM);
        }
        let old = {
            let mut c = self.conn.lock();
            c.state = State::Connected;
            c.peer_cred = Some(Cred::current_effective());
            c.peer.replace(other)
        };
        drop(old);
        Ok(())
    }

    /// accept(2): the oldest waiting connection. EOPNOTSUPP for datagrams, EINVAL unless
    /// listening, EAGAIN when non-blocking and none waits.
    pub fn accept(self: &Arc<Self>, nonblock: bool) -> Result<Arc<UnixSocket>, i64> {
        if !self.ty.connected() {
            return Err(-EOPNOTSUPP);
        }
        if super::tcp::is_tcp(self) {
            return super::tcp::accept(self, nonblock);
        }
        loop {
            {
                let mut c = self.conn.lock();
                if c.state != State::Listening {
                    return Err(-EINVAL);
                }
                let shut = self.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0;
                if c.accept_q.is_empty() && shut {
                    // shutdown(SHUT_RD) of a listener: nothing more will come.
                    return Err(-EINVAL);
                }
                if let Some(e) = c.accept_q.pop_front() {
                    drop(c);
                    e.passcred
                        .store(self.passcred.load(Ordering::Acquire), Ordering::Release);
                    self.room_wait.wake_all();
                    return Ok(e);
                }
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            let woke = self.rx_wait.wait_until(
                || {
                    let c = self.conn.lock();
                    c.state != State::Listening
                        || !c.accept_q.is_empty()
                        || self.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0
                },
                crate::signal::interrupted,
            );
            if !woke {
                return Err(-ERESTARTSYS);
            }
        }
    }
}

//! AF_UNIX sockets (Linux's `net/unix/af_unix.c`): the socket itself, its connection state,
//! readiness and the end of its life. Sending and receiving are in `unix_io.rs`, names in
//! `unix_addr.rs`, bind/listen/connect/accept in `unix_conn.rs`, control messages in `scm.rs`.
//!
//! - **SOCK_STREAM** moves bytes: a send may be taken in pieces, a receive takes what is
//!   there, across sends (or, with MSG_WAITALL, waits for all it asked for).
//! - **SOCK_SEQPACKET** and **SOCK_DGRAM** move messages: a send is queued whole or not at all
//!   (EMSGSIZE over the send buffer), and a receive takes exactly one message, dropping what
//!   does not fit (reported by MSG_TRUNC).
//! - **Connections.** A socketpair is connected at birth. A stream or seqpacket socket that
//!   connects to a listening one gets a new server-side socket (Linux's "embryo") at once;
//!   the embryo waits in the listener's accept queue and `accept` hands it out. A datagram
//!   socket's `connect` only names its default destination.
//! - **The end of a connection.** A stream or seqpacket end whose peer has closed or shut down
//!   its sending side reads end of file once its queue is empty. Sending there fails with
//!   EPIPE, with SIGPIPE unless MSG_NOSIGNAL. A peer that closed with data unread leaves
//!   ECONNRESET (Linux's `sk_err`) for the next call. A datagram end whose peer is gone gets
//!   ECONNREFUSED once, then ENOTCONN, and its reads keep waiting, as in Linux.
//! - **Room.** Each socket may have [`SNDBUF`] bytes queued at its receiver (Linux's default
//!   `wmem_default`); a sender waits for room, or fails with EAGAIN when non-blocking.
//!
//! Readiness changes wake [`crate::fs::POLL_WAIT`], as pipes do, so poll and select see them.
//! Locks: one socket's `conn` at a time, never across a wait or a file's last drop.

use super::scm::Scm;
use super::unix_addr::UnixAddr;
use crate::fs::{POLL_WAIT, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::sched::WaitQueue;
use crate::sync::Mutex;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// Linux's default socket send buffer (`net.core.wmem_default`): what one socket may have
/// queued at its receiver.
pub const SNDBUF: usize = 212_992;
/// The largest datagram (Linux: `sk_sndbuf - 32`).
pub const MAX_DGRAM: usize = SNDBUF - 32;
/// What a queued message costs beyond its bytes. Linux charges each message's `truesize`,
/// its socket buffer with the payload: 768 bytes for a 1-byte datagram on x86-64, so that a
/// flood of small messages is bounded by the memory it takes (278 of them fill a pair's
/// buffer), not by its payload (212,992 of them).
pub const MSG_OVERHEAD: usize = 767;
/// `net.unix.max_dgram_qlen`'s default: a datagram receiver takes no more messages from
/// others than this (plus one: Linux's `unix_recvq_full` compares with `>`) once they queue.
pub const MAX_DGRAM_QLEN: usize = 10;

/// `sk_shutdown` bits.
pub(super) const RCV_SHUTDOWN: u8 = 1;
pub(super) const SEND_SHUTDOWN: u8 = 2;
pub(super) const SHUTDOWN_MASK: u8 = 3;

/// poll's POLLRDHUP (the peer shut down its sending side) and POLLERR.
pub const POLLRDHUP: u16 = 0x2000;
pub const POLLERR: u16 = 0x8;

/// recv/send flags kentry acts on.
pub const MSG_PEEK: u32 = 0x2;
pub const MSG_CTRUNC: u32 = 0x8;
pub const MSG_TRUNC: u32 = 0x20;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_NOSIGNAL: u32 = 0x4000;
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

/// The socket types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockType {
    Stream = 1,
    Dgram = 2,
    SeqPacket = 5,
}

impl SockType {
    pub fn from_raw(t: u32) -> Option<SockType> {
        match t {
            1 => Some(SockType::Stream),
            2 => Some(SockType::Dgram),
            5 => Some(SockType::SeqPacket),
            _ => None,
        }
    }

    /// Whether the type keeps message boundaries.
    pub fn messages(self) -> bool {
        self != SockType::Stream
    }

    /// Whether the type has connections (listen/accept, an end readers see).
    pub fn connected(self) -> bool {
        self != SockType::Dgram
    }
}

/// A process's credentials as SO_PEERCRED and SCM_CREDENTIALS carry them (`struct ucred`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Cred {
    /// The calling process's as SCM_CREDENTIALS sends them: its real uid and gid (Linux's
    /// `scm_set_cred` with `current_uid()`), as its own namespace sees them.
    pub fn current() -> Cred {
        use crate::process::user_ns::IdMap;
        use crate::syscall::cred::get_id;
        Cred {
            pid: crate::task::current().process.vpid,
            uid: get_id(IdMap::Uid, 0),
            gid: get_id(IdMap::Gid, 0),
        }
    }

    /// The calling process's as SO_PEERCRED reports them: its effective uid and gid (Linux's
    /// `cred_to_ucred`).
    pub fn current_effective() -> Cred {
        use crate::process::user_ns::IdMap;
        use crate::syscall::cred::get_id;
        Cred {
            uid: get_id(IdMap::Uid, 1),
            gid: get_id(IdMap::Gid, 1),
            ..Cred::current()
        }
    }

    /// What a message without credentials reads as (Linux: pid 0, the overflow ids).
    pub const NONE: Cred = Cred {
        pid: 0,
        uid: 65534,
        gid: 65534,
    };

    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.pid.to_ne_bytes());
        b[4..8].copy_from_slice(&self.uid.to_ne_bytes());
        b[8..12].copy_from_slice(&self.gid.to_ne_bytes());
        b
    }
}

/// Connection states (Linux's `sk_state` as af_unix uses it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// TCP_CLOSE: new, or a datagram socket.
    Unconnected,
    /// A stream connect between its checks and its end (no second connect meanwhile).
    Connecting,
    Listening,
    /// TCP_ESTABLISHED (a datagram socket with a default destination too).
    Connected,
}

/// What a socket's lock guards: its place in the world.
pub(super) struct Conn {
    pub state: State,
    /// The other end, or a datagram socket's destination. Strong: a survivor keeps its
    /// closed peer (getpeername and SO_PEERCRED still answer, as in Linux); each socket drops
    /// its own reference when it is released.
    pub peer: Option<Arc<UnixSocket>>,
    /// SO_PEERCRED: who connected to us, or who listened where we connected.
    pub peer_cred: Option<Cred>,
    /// The bound name (an accepted socket shares its listener's).
    pub addr: Option<Arc<UnixAddr>>,
    /// A connected UDP socket's destination, looked up at each send (net/inet.rs).
    pub dest: Option<Arc<UnixAddr>>,
    /// Listening: the most embryos that may wait beyond the first (listen's backlog).
    pub backlog: usize,
    /// Listening: connected embryos waiting for accept, oldest first.
    pub accept_q: VecDeque<Arc<UnixSocket>>,
}

/// One queued message, or for a stream one piece of a send.
pub struct Msg {
    pub data: Vec<u8>,
    /// The sender's name when it sent (recvfrom's address).
    pub from: Option<Arc<UnixAddr>>,
    /// Credentials and descriptors (the descriptors ride on the first piece of a send).
    pub scm: Scm,
}

#[derive(Default)]
pub(super) struct RxQueue {
    pub msgs: VecDeque<Msg>,
    /// Bytes of the first stream piece already read.
    pub head_taken: usize,
}

/// A socket timeout that never ends (Linux's MAX_SCHEDULE_TIMEOUT, set by a zero time).
pub const NO_TIMEOUT: u64 = u64::MAX;

pub struct UnixSocket {
    /// AF_UNIX, or AF_INET/AF_INET6 for the loopback sockets of net/inet.rs.
    pub family: u16,
    pub ty: SockType,
    pub ino: u64,
    pub(super) conn: Mutex<Conn>,
    /// What others sent here, oldest first.
    pub(super) rx: Mutex<RxQueue>,
    /// Bytes in `rx` (for the wait conditions and the sender's room).
    pub(super) rx_bytes: AtomicUsize,
    /// Messages in `rx`, for message types ([`UnixSocket::rx_charge`]).
    pub(super) rx_msgs: AtomicUsize,
    /// `sk_shutdown`: RCV_SHUTDOWN, SEND_SHUTDOWN.
    pub(super) shutdown: AtomicU8,
    /// `sk_err`: a pending error (positive errno), reported once.
    pub(super) err: AtomicI32,
    /// Released: its last file description is closed (Linux's SOCK_DEAD).
    pub(super) dead: AtomicBool,
    /// SO_PASSCRED.
    pub passcred: AtomicBool,
    /// SO_REUSEADDR (AF_INET/AF_INET6: net/stack.rs `port_busy`).
    pub reuseaddr: AtomicBool,
    /// SO_RCVTIMEO and SO_SNDTIMEO in microseconds ([`NO_TIMEOUT`]: wait without end; 0:
    /// do not wait at all, what Linux makes of a negative time).
    pub rcvtimeo_us: AtomicU64,
    pub sndtimeo_us: AtomicU64,
    /// Readers (and accept) wait here.
    pub(super) rx_wait: WaitQueue,
    /// Senders to this socket wait here for room, connectors for a place in its queue.
    pub(super) room_wait: WaitQueue,
    /// This socket's wake-up counts (edge-triggered epoll): `rd` when something arrives for
    /// it or its connection ends, `wr` when its receiver frees room.
    pub seq: crate::event::PollSeq,
}

impl UnixSocket {
    pub fn new(ty: SockType) -> Arc<UnixSocket> {
        UnixSocket::new_in(super::unix_addr::AF_UNIX, ty)
    }

    /// A socket of family `family` (AF_INET and AF_INET6 share this machinery).
    pub fn new_in(family: u16, ty: SockType) -> Arc<UnixSocket> {
        Arc::new(UnixSocket {
            family,
            ty,
            ino: crate::fs::alloc_ino(),
            conn: Mutex::new(Conn {
                state: State::Unconnected,
                peer: None,
                peer_cred: None,
                addr: None,
                dest: None,
                backlog: 0,
                accept_q: VecDeque::new(),
            }),
            rx: Mutex::new(RxQueue::default()),
            rx_bytes: AtomicUsize::new(0),
            rx_msgs: AtomicUsize::new(0),
            shutdown: AtomicU8::new(0),
            err: AtomicI32::new(0),
            dead: AtomicBool::new(false),
            passcred: AtomicBool::new(false),
            reuseaddr: AtomicBool::new(false),
            rcvtimeo_us: AtomicU64::new(NO_TIMEOUT),
            sndtimeo_us: AtomicU64::new(NO_TIMEOUT),
            rx_wait: WaitQueue::new(),
            room_wait: WaitQueue::new(),
            seq: crate::event::PollSeq::new(),
        })
    }

    /// A connected pair of type `ty`, made by the process `cred` describes.
    pub fn pair(ty: SockType, cred: Cred) -> (Arc<UnixSocket>, Arc<UnixSocket>) {
        let (a, b) = (UnixSocket::new(ty), UnixSocket::new(ty));
        for (me, other) in [(&a, &b), (&b, &a)] {
            let mut c = me.conn.lock();
            c.state = State::Connected;
            c.peer = Some(other.clone());
            c.peer_cred = Some(cred);
        }
        (a, b)
    }

    pub fn state(&self) -> State {
        self.conn.lock().state
    }

    pub(super) fn peer(&self) -> Option<Arc<UnixSocket>> {
        self.conn.lock().peer.clone()
    }

    /// The other end's name for getpeername (None: not connected; Some(None): unnamed).
    pub fn peer_name(&self) -> Option<Option<Arc<UnixAddr>>> {
        if super::tcp::is_tcp(self) {
            let e = super::tcp::peer_name(self)?;
            return Some(Some(super::inet::name_of(self.family, e)));
        }
        let c = self.conn.lock();
        if self.family != super::unix_addr::AF_UNIX && self.ty == SockType::Dgram {
            return c.dest.clone().map(Some);
        }
        if self.ty.connected() && c.state != State::Connected {
            return None;
        }
        let p = c.peer.clone()?;
        drop(c);
        let name = p.conn.lock().addr.clone();
        Some(name)
    }

    /// This socket's name (None: unnamed).
    pub fn name(&self) -> Option<Arc<UnixAddr>> {
        self.conn.lock().addr.clone()
    }

    /// SO_PEERCRED.
    pub fn peer_cred(&self) -> Option<Cred> {
        self.conn.lock().peer_cred
    }

    /// SO_ERROR: the pending error, cleared.
    pub fn take_error(&self) -> i32 {
        self.err.swap(0, Ordering::AcqRel)
    }

    /// What this socket's queue holds against a sender's buffer ([`SNDBUF`]): its bytes,
    /// and for message types each message's [`MSG_OVERHEAD`] too.
    pub(super) fn rx_charge(&self) -> usize {
        let bytes = self.rx_bytes.load(Ordering::Acquire);
        if self.ty.messages() {
            bytes + self.rx_msgs.load(Ordering::Acquire) * MSG_OVERHEAD
        } else {
            bytes
        }
    }

    /// Linux's `unix_recvq_full` as `unix_dgram_sendmsg` asks it: this AF_UNIX datagram
    /// socket holds more than [`MAX_DGRAM_QLEN`] messages, and `sender` is not the socket it
    /// is connected to (a connected pair, or a socket sending to itself, is bounded by the
    /// buffer only).
    pub(super) fn dgram_queue_full_for(&self, sender: &UnixSocket) -> bool {
        self.family == super::unix_addr::AF_UNIX
            && self.ty == SockType::Dgram
            && self.rx_msgs.load(Ordering::Acquire) > MAX_DGRAM_QLEN
            && !core::ptr::eq(self, sender)
            && !self
                .conn
                .lock()
                .peer
                .as_ref()
                .is_some_and(|p| core::ptr::eq(&**p, sender))
    }

    /// Bytes waiting to be read (FIONREAD): all of them, but for a datagram socket the next
    /// message's length (Linux's `unix_inq_len`).
    pub fn available(&self) -> usize {
        if super::tcp::is_tcp(self) {
            return super::tcp::available(self);
        }
        let rx = self.rx.lock();
        if self.ty == SockType::Dgram {
            rx.msgs.front().map_or(0, |m| m.data.len())
        } else {
            self.rx_bytes.load(Ordering::Acquire)
        }
    }

    /// shutdown(2) with `how` (SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2): this end's sides, and for a
    /// connection the peer's opposite ones.
    pub fn shutdown(self: &Arc<Self>, how: u32) -> Result<(), i64> {
        if super::tcp::is_tcp(self) {
            return super::tcp::shutdown(self, how);
        }
        if how > 2 {
            return Err(-crate::syscall::errno::EINVAL);
        }
        let mode = (how + 1) as u8;
        self.shutdown.fetch_or(mode, Ordering::AcqRel);
        if self.ty.connected()
            && let Some(peer) = self.peer()
        {
            let mut peer_mode = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer_mode |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer_mode |= RCV_SHUTDOWN;
            }
            peer.shutdown.fetch_or(peer_mode, Ordering::AcqRel);
            peer.wake_everyone();
        }
        self.wake_everyone();
        Ok(())
    }

    pub(super) fn wake_everyone(&self) {
        self.rx_wait.wake_all();
        self.room_wait.wake_all();
        self.seq.wake_both();
    }

    /// Room freed here: whoever sends to this socket may write again.
    pub(super) fn wake_senders(&self) {
        self.room_wait.wake_all();
        match self.peer() {
            Some(p) => p.seq.wake_wr(),
            None => POLL_WAIT.wake_all(),
        }
    }

    /// The last file description of this socket is closed (Linux's `unix_release_sock`): its
    /// name goes, a connected peer sees the end of the connection (with ECONNRESET if we left
    /// data unread, or never were accepted), a listener's waiting embryos go too, and a
    /// datagram sender's next send to it is refused.
    pub fn release(&self) {
        if super::tcp::is_tcp(self) {
            return super::tcp::release(self);
        }
        self.release_sock(false);
    }

    fn release_sock(&self, embryo: bool) {
        self.dead.store(true, Ordering::Release);
        self.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
        let (peer, addr, waiting) = {
            let mut c = self.conn.lock();
            c.state = State::Unconnected;
            (
                c.peer.take(),
                c.addr.clone(),
                core::mem::take(&mut c.accept_q),
            )
        };
        if let Some(a) = addr {
            super::unix_addr::unbind(&a, self);
        }
        let unread = {
            let mut rx = self.rx.lock();
            self.rx_bytes.store(0, Ordering::Release);
            self.rx_msgs.store(0, Ordering::Release);
            core::mem::take(&mut rx.msgs)
        };
        if let Some(peer) = peer {
            if self.ty.connected() {
                peer.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
                if !unread.is_empty() || embryo {
                    peer.err
                        .store(crate::syscall::errno::ECONNRESET as i32, Ordering::Release);
                }
            }
            peer.wake_everyone();
        }
        for e in waiting {
            e.release_sock(true);
        }
        // The unread messages' descriptors are closed here, no lock held.
        drop(unread);
        self.wake_everyone();
    }

    /// poll(2) events (Linux's `unix_poll` and `unix_dgram_poll`); short locks only.
    pub fn poll_events(&self) -> u16 {
        if super::tcp::is_tcp(self) {
            return super::tcp::poll_events(self);
        }
        let sd = self.shutdown.load(Ordering::Acquire);
        let mut ev = 0;
        if self.err.load(Ordering::Acquire) != 0 {
            ev |= POLLERR;
        }
        if sd == SHUTDOWN_MASK {
            ev |= POLLHUP;
        }
        if sd & RCV_SHUTDOWN != 0 {
            ev |= POLLRDHUP | POLLIN | POLLRDNORM;
        }
        if !self.rx.lock().msgs.is_empty() {
            ev |= POLLIN | POLLRDNORM;
        }
        let (state, peer, queued) = {
            let c = self.conn.lock();
            (c.state, c.peer.clone(), !c.accept_q.is_empty())
        };
        if queued {
            ev |= POLLIN | POLLRDNORM;
        }
        // Connection-based sockets not (yet) connected hang up (a datagram socket never).
        if self.ty.connected() && matches!(state, State::Unconnected | State::Connecting) {
            ev |= POLLHUP;
        }
        // Linux's `unix_writable`, and for a datagram socket `unix_dgram_poll`'s look at a
        // peer whose queue is full.
        let room =
            peer.is_none_or(|p| p.rx_charge() * 4 <= SNDBUF && !p.dgram_queue_full_for(self));
        if state != State::Listening && room {
            ev |= POLLOUT | POLLWRNORM;
        }
        ev
    }
}

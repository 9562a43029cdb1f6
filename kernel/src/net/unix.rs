//! AF_UNIX sockets made by socketpair(2): a connected pair, each end with a receive queue
//! the other end sends into (Linux's `net/unix/af_unix.c` for a connected pair).
//!
//! - **SOCK_STREAM** moves bytes: a send may be taken in pieces, a receive takes what is
//!   there, across sends (or, with MSG_WAITALL, waits for all it asked for).
//! - **SOCK_SEQPACKET** and **SOCK_DGRAM** move messages: a send is queued whole or not at all
//!   (EMSGSIZE over the send buffer), and a receive takes exactly one message, dropping what
//!   does not fit (reported by MSG_TRUNC).
//! - **The end of a connection.** A stream or seqpacket end whose peer has closed or shut down
//!   its sending side reads end of file once its queue is empty. Sending there fails with
//!   EPIPE, with SIGPIPE unless MSG_NOSIGNAL. A datagram end whose peer is gone gets
//!   ECONNREFUSED once, then ENOTCONN, and its reads keep waiting, as in Linux.
//! - **Room.** Each end may have [`SNDBUF`] bytes queued at its peer (Linux's default
//!   `wmem_default`); a sender waits for room, or fails with EAGAIN when non-blocking.
//!
//! Readiness changes wake [`crate::fs::POLL_WAIT`], as pipes do, so poll and select see them.

use crate::fs::{POLL_WAIT, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::sched::WaitQueue;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// Linux's default socket send buffer (`net.core.wmem_default`): what one end may have
/// queued at its peer.
pub const SNDBUF: usize = 212_992;
/// The largest datagram (Linux: `sk_sndbuf - 32`).
pub const MAX_DGRAM: usize = SNDBUF - 32;

/// `sk_shutdown` bits.
const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = 3;

/// poll's POLLRDHUP (the peer shut down its sending side).
pub const POLLRDHUP: u16 = 0x2000;

/// recv/send flags kentry acts on.
pub const MSG_PEEK: u32 = 0x2;
pub const MSG_TRUNC: u32 = 0x20;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_NOSIGNAL: u32 = 0x4000;

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
    fn messages(self) -> bool {
        self != SockType::Stream
    }

    /// Whether the type has a connection whose end readers see (not datagrams).
    fn connected(self) -> bool {
        self != SockType::Dgram
    }
}

/// Who made a socket (SO_PEERCRED of its peer).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One end of a connected pair.
pub struct UnixSocket {
    pub ty: SockType,
    pub ino: u64,
    pub cred: Cred,
    /// The other end. Weak: each end is kept alive by its own file description only.
    peer: Mutex<Weak<UnixSocket>>,
    /// What the peer sent, oldest first: messages, or for a stream the pieces of its sends
    /// (`head_taken` bytes of the first already read).
    rx: Mutex<RxQueue>,
    /// Bytes in `rx` (for the wait conditions and the sender's room).
    rx_bytes: AtomicUsize,
    /// `sk_shutdown`: RCV_SHUTDOWN, SEND_SHUTDOWN.
    shutdown: AtomicU8,
    /// The peer's file description is closed (a datagram sender is told once).
    peer_gone: AtomicBool,
    /// Readers of this end wait here.
    rx_wait: WaitQueue,
    /// Senders to this end wait here for room.
    room_wait: WaitQueue,
    /// This end's wake-up counts (edge-triggered epoll): `rd` when something arrives for it
    /// or its connection ends, `wr` when its peer frees room.
    pub seq: crate::event::PollSeq,
}

#[derive(Default)]
struct RxQueue {
    msgs: VecDeque<Vec<u8>>,
    head_taken: usize,
}

/// What a receive got.
pub struct Received {
    /// Bytes copied into the caller's buffer.
    pub copied: usize,
    /// The message's whole length (datagrams and seqpackets; `copied` for a stream).
    pub len: usize,
}

impl UnixSocket {
    /// A connected pair of type `ty`, made by the process `cred` describes.
    pub fn pair(ty: SockType, cred: Cred) -> (Arc<UnixSocket>, Arc<UnixSocket>) {
        let new = || {
            Arc::new(UnixSocket {
                ty,
                ino: crate::fs::alloc_ino(),
                cred,
                peer: Mutex::new(Weak::new()),
                rx: Mutex::new(RxQueue::default()),
                rx_bytes: AtomicUsize::new(0),
                shutdown: AtomicU8::new(0),
                peer_gone: AtomicBool::new(false),
                rx_wait: WaitQueue::new(),
                room_wait: WaitQueue::new(),
                seq: crate::event::PollSeq::new(),
            })
        };
        let (a, b) = (new(), new());
        *a.peer.lock() = Arc::downgrade(&b);
        *b.peer.lock() = Arc::downgrade(&a);
        (a, b)
    }

    fn peer(&self) -> Option<Arc<UnixSocket>> {
        self.peer.lock().upgrade()
    }

    /// Whether the other end is still there (getpeername).
    pub fn connected_to_peer(&self) -> bool {
        self.peer().is_some()
    }

    /// SO_PEERCRED: who made the other end.
    pub fn peer_cred(&self) -> Option<Cred> {
        self.peer().map(|p| p.cred)
    }

    /// Bytes waiting to be read (FIONREAD): all of them, but for a datagram socket the next
    /// message's length (Linux's `unix_inq_len`).
    pub fn available(&self) -> usize {
        let rx = self.rx.lock();
        if self.ty == SockType::Dgram {
            rx.msgs.front().map_or(0, Vec::len)
        } else {
            self.rx_bytes.load(Ordering::Acquire)
        }
    }

    /// Sends `data` (one message, or stream bytes); returns the bytes taken.
    pub fn send(&self, data: &[u8], flags: u32, nonblock: bool) -> Result<usize, i64> {
        let nonblock = nonblock || flags & MSG_DONTWAIT != 0;
        if self.ty.messages() && data.len() > MAX_DGRAM {
            return Err(-EMSGSIZE);
        }
        let mut done = 0;
        loop {
            let peer = match self.peer() {
                Some(p) if self.shutdown.load(Ordering::Acquire) & SEND_SHUTDOWN == 0 => p,
                _ => return self.send_failed(done, flags),
            };
            if peer.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0 {
                return self.send_failed(done, flags);
            }
            let rest = data.len() - done;
            if rest == 0 && (done > 0 || !self.ty.messages()) {
                return Ok(done);
            }
            let room = SNDBUF.saturating_sub(peer.rx_bytes.load(Ordering::Acquire));
            let fits = if self.ty.messages() {
                rest <= room || peer.rx_bytes.load(Ordering::Acquire) == 0
            } else {
                room > 0
            };
            if fits {
                let n = if self.ty.messages() {
                    rest
                } else {
                    rest.min(room)
                };
                let mut piece = Vec::new();
                if piece.try_reserve_exact(n).is_err() {
                    return if done > 0 { Ok(done) } else { Err(-ENOBUFS) };
                }
                piece.extend_from_slice(&data[done..done + n]);
                peer.rx.lock().msgs.push_back(piece);
                peer.rx_bytes.fetch_add(n, Ordering::AcqRel);
                peer.rx_wait.wake_all();
                peer.seq.wake_rd();
                done += n;
                if self.ty.messages() {
                    return Ok(done);
                }
                continue;
            }
            if nonblock {
                return if done > 0 { Ok(done) } else { Err(-EAGAIN) };
            }
            let need = if self.ty.messages() { rest } else { 1 };
            let woke = peer.room_wait.wait_until(
                || {
                    SNDBUF.saturating_sub(peer.rx_bytes.load(Ordering::Acquire)) >= need
                        || peer.rx_bytes.load(Ordering::Acquire) == 0
                        || peer.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0
                        || self.peer_gone.load(Ordering::Acquire)
                },
                crate::signal::interrupted,
            );
            if !woke {
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(-ERESTARTSYS)
                };
            }
        }
    }

    /// A send that cannot go on: what was sent, or the connection's error (EPIPE with
    /// SIGPIPE; for a datagram whose peer is gone ECONNREFUSED once, then ENOTCONN).
    fn send_failed(&self, done: usize, flags: u32) -> Result<usize, i64> {
        if done > 0 {
            return Ok(done);
        }
        if self.ty == SockType::Dgram && self.shutdown.load(Ordering::Acquire) & SEND_SHUTDOWN == 0
        {
            return Err(if self.peer_gone.swap(false, Ordering::AcqRel) {
                -ECONNREFUSED
            } else {
                -ENOTCONN
            });
        }
        if flags & MSG_NOSIGNAL == 0 {
            let t = crate::task::current();
            let info = crate::signal::SigInfo::user(crate::signal::SIGPIPE, t.process.pid);
            crate::signal::send_to_thread(t, crate::signal::SIGPIPE, info);
        }
        Err(-EPIPE)
    }

    /// Receives into `out`: one message, or stream bytes.
    pub fn recv(&self, out: &mut [u8], flags: u32, nonblock: bool) -> Result<Received, i64> {
        let nonblock = nonblock || flags & MSG_DONTWAIT != 0;
        let mut copied = 0;
        loop {
            if let Some(r) = self.take(&mut out[copied..], flags) {
                if self.ty.messages() {
                    return Ok(r);
                }
                copied += r.copied;
                let all = flags & MSG_WAITALL == 0 || copied == out.len() || flags & MSG_PEEK != 0;
                if all {
                    return Ok(Received {
                        copied,
                        len: copied,
                    });
                }
            }
            if copied > 0 && (nonblock || self.at_end()) {
                return Ok(Received {
                    copied,
                    len: copied,
                });
            }
            if self.at_end() {
                return Ok(Received { copied: 0, len: 0 });
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            let woke = self.rx_wait.wait_until(
                || self.rx_bytes.load(Ordering::Acquire) > 0 || self.at_end() || self.has_empty(),
                crate::signal::interrupted,
            );
            if !woke {
                return if copied > 0 {
                    Ok(Received {
                        copied,
                        len: copied,
                    })
                } else {
                    Err(-ERESTARTSYS)
                };
            }
        }
    }

    /// Whether a zero-length message waits (it counts no bytes).
    fn has_empty(&self) -> bool {
        self.ty.messages() && !self.rx.lock().msgs.is_empty()
    }

    /// No more data will come: this end's receiving side is shut down (by itself, or by its
    /// connected peer's shutdown or close).
    fn at_end(&self) -> bool {
        self.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0 && self.rx.lock().msgs.is_empty()
    }

    /// Takes what is queued (a message, or as many stream bytes as fit), if anything is.
    fn take(&self, out: &mut [u8], flags: u32) -> Option<Received> {
        let peek = flags & MSG_PEEK != 0;
        let mut rx = self.rx.lock();
        if self.ty.messages() {
            let m = rx.msgs.front()?;
            let n = m.len().min(out.len());
            out[..n].copy_from_slice(&m[..n]);
            let len = m.len();
            if !peek {
                rx.msgs.pop_front();
                self.rx_bytes.fetch_sub(len, Ordering::AcqRel);
            }
            drop(rx);
            if !peek {
                self.room_wait.wake_all();
                self.wake_sender();
            }
            return Some(Received { copied: n, len });
        }
        if rx.msgs.is_empty() || out.is_empty() {
            return None;
        }
        // Copy across the pieces: `whole` of them are read to their end, and `head` bytes of
        // the next one.
        let (mut n, mut whole, mut head) = (0, 0, rx.head_taken);
        while n < out.len() && whole < rx.msgs.len() {
            let avail = &rx.msgs[whole][head..];
            let k = avail.len().min(out.len() - n);
            out[n..n + k].copy_from_slice(&avail[..k]);
            n += k;
            if k == avail.len() {
                whole += 1;
                head = 0;
            } else {
                head += k;
            }
        }
        if !peek {
            rx.msgs.drain(..whole);
            rx.head_taken = head;
            self.rx_bytes.fetch_sub(n, Ordering::AcqRel);
            drop(rx);
            self.room_wait.wake_all();
            self.wake_sender();
        }
        Some(Received { copied: n, len: n })
    }

    /// shutdown(2) with `how` (SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2): this end's sides, and for a
    /// connection the peer's opposite ones.
    pub fn shutdown(&self, how: u32) -> Result<(), i64> {
        if how > 2 {
            return Err(-EINVAL);
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

    fn wake_everyone(&self) {
        self.rx_wait.wake_all();
        self.room_wait.wake_all();
        self.seq.wake_both();
    }

    /// Room freed here: the peer (who sends to this end) may write again.
    fn wake_sender(&self) {
        match self.peer() {
            Some(p) => p.seq.wake_wr(),
            None => POLL_WAIT.wake_all(),
        }
    }

    /// The last file description of this end is closed: a connected peer sees the end of
    /// the connection; a datagram peer's next send is refused.
    pub fn release(&self) {
        self.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
        if let Some(peer) = self.peer() {
            if self.ty.connected() {
                peer.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
            }
            peer.peer_gone.store(true, Ordering::Release);
            *peer.peer.lock() = Weak::new();
            peer.wake_everyone();
        }
        self.wake_everyone();
    }

    /// poll(2) events (Linux's `unix_poll`); atomics and short locks only.
    pub fn poll_events(&self) -> u16 {
        let sd = self.shutdown.load(Ordering::Acquire);
        let mut ev = 0;
        if sd == SHUTDOWN_MASK {
            ev |= POLLHUP;
        }
        if sd & RCV_SHUTDOWN != 0 {
            ev |= POLLRDHUP | POLLIN | POLLRDNORM;
        }
        if !self.rx.lock().msgs.is_empty() {
            ev |= POLLIN | POLLRDNORM;
        }
        let queued = self
            .peer()
            .map_or(0, |p| p.rx_bytes.load(Ordering::Acquire));
        if queued * 4 <= SNDBUF {
            ev |= POLLOUT | POLLWRNORM;
        }
        ev
    }
}

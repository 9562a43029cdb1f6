//! Sending and receiving on AF_UNIX sockets (Linux's `unix_stream_sendmsg`,
//! `unix_dgram_sendmsg`, `unix_stream_read_generic`, `unix_dgram_recvmsg`).
//!
//! A message carries its sender's name and its control data ([`Scm`]). A stream send's
//! descriptors ride on its first piece and its credentials on every piece; a stream
//! receive never glues pieces whose credentials differ when the receiver asked for them
//! (SO_PASSCRED), and stops after a piece that brought descriptors, as Linux's does.

use super::scm::Scm;
use super::unix::{
    Cred, MAX_DGRAM, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, MSG_WAITALL, Msg, NO_TIMEOUT,
    RCV_SHUTDOWN, SEND_SHUTDOWN, SNDBUF, SockType, State, UnixSocket,
};
use super::unix_addr::UnixAddr;
use crate::sched::WaitQueue;
use crate::syscall::errno::*;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

/// What a receive got.
#[derive(Default)]
pub struct Received {
    /// Bytes copied into the caller's buffer.
    pub copied: usize,
    /// The message's whole length (datagrams and seqpackets; `copied` for a stream).
    pub len: usize,
    /// The sender's name (None: unnamed).
    pub from: Option<Arc<UnixAddr>>,
    /// The credentials and descriptors that came with it.
    pub scm: Scm,
}

/// A blocking call's SO_RCVTIMEO/SO_SNDTIMEO (Linux's `sock_rcvtimeo`/`sock_sndtimeo`):
/// whether it may not wait at all (a timeout of 0 is that), and the tick by which a wait
/// gives up (None: never).
pub(super) fn timeout(nonblock: bool, us: &AtomicU64) -> (bool, Option<u64>) {
    let us = us.load(Ordering::Relaxed);
    if nonblock || us == 0 {
        return (true, None);
    }
    let end = (us != NO_TIMEOUT).then(|| crate::time::deadline_after_ns(us.saturating_mul(1000)));
    (false, end)
}

/// Waits on `q` until `cond` may hold (the caller looks again), or fails: at the end of a
/// timeout with -EAGAIN, on a signal with -ERESTARTSYS or, when a timeout was set, -EINTR
/// (Linux's `sock_intr_errno`: a timed socket call is not restarted).
pub(super) fn sock_wait(
    q: &WaitQueue,
    end: Option<u64>,
    mut cond: impl FnMut() -> bool,
) -> Result<(), i64> {
    let Some(d) = end else {
        return if q.wait_until(cond, crate::signal::interrupted) {
            Ok(())
        } else {
            Err(-ERESTARTSYS)
        };
    };
    if crate::sched::ticks() >= d {
        return Err(-EAGAIN);
    }
    crate::sched::add_timeout(d);
    if q.wait_until(
        || cond() || crate::sched::ticks() >= d,
        crate::signal::interrupted,
    ) {
        Ok(())
    } else {
        Err(-EINTR)
    }
}

impl UnixSocket {
    /// Sends `data` (one message, or stream bytes) to `to` (a datagram's named destination;
    /// None: the peer); returns the bytes taken. `scm`'s descriptors go with the first piece
    /// and are taken from it.
    pub fn send(
        self: &Arc<Self>,
        data: &[u8],
        to: Option<Arc<UnixSocket>>,
        scm: &mut Scm,
        flags: u32,
        nonblock: bool,
    ) -> Result<usize, i64> {
        if super::tcp::is_tcp(self) {
            return super::tcp::send(self, data, flags, nonblock);
        }
        let (nonblock, end) = timeout(nonblock || flags & MSG_DONTWAIT != 0, &self.sndtimeo_us);
        let inet = self.family != super::unix_addr::AF_UNIX;
        if self.ty.messages() && data.len() > self.max_message() {
            return Err(-EMSGSIZE);
        }
        if inet && self.ty == SockType::Dgram {
            let e = self.take_error();
            if e != 0 {
                return Err(-(e as i64));
            }
        }
        if self.ty != SockType::Dgram {
            // A seqpacket send reports a pending error first; a stream's own shut sending
            // side (set with the error when the peer goes) makes it EPIPE instead.
            if self.ty == SockType::SeqPacket {
                let e = self.take_error();
                if e != 0 {
                    return Err(-(e as i64));
                }
            }
            if self.state() != State::Connected {
                return Err(-ENOTCONN);
            }
        }
        if self.passcred.load(Ordering::Acquire) && !inet {
            super::unix_addr::autobind(self)?;
        }
        // UDP (the only AF_INET socket here: TCP went to tcp.rs) names its source.
        let from = if inet {
            super::inet::source_name(self)
        } else {
            self.name()
        };
        let mut done = 0;
        loop {
            let dest = match &to {
                Some(d) => d.clone(),
                None => match self.peer() {
                    Some(p) => p,
                    None => return Err(-ENOTCONN),
                },
            };
            if dest.dead.load(Ordering::Acquire) {
                if inet && self.ty == SockType::Dgram {
                    // A UDP datagram nobody receives is dropped.
                    return Ok(data.len());
                }
                return self.dest_gone(&dest, done, flags);
            }
            if self.ty == SockType::Dgram && !inet && !dest.may_receive_from(self) {
                return Err(-EPERM);
            }
            if self.shutdown.load(Ordering::Acquire) & SEND_SHUTDOWN != 0
                || dest.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0
            {
                return self.pipe(done, flags);
            }
            let rest = data.len() - done;
            if rest == 0 && (done > 0 || !self.ty.messages()) {
                return Ok(done);
            }
            let queued = dest.rx_charge();
            let room = SNDBUF.saturating_sub(queued);
            // A message goes in whole while less than the buffer is taken, whatever its size
            // (up to the largest), as Linux's `sock_alloc_send_pskb` lets it; a datagram
            // receiver also counts the messages others queued (`max_dgram_qlen`).
            let fits = if self.ty.messages() {
                queued < SNDBUF && !dest.dgram_queue_full_for(self)
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
                let wants_cred =
                    self.passcred.load(Ordering::Acquire) || dest.passcred.load(Ordering::Acquire);
                let msg = Msg {
                    data: piece,
                    from: from.clone(),
                    scm: Scm {
                        cred: scm.cred.or_else(|| wants_cred.then(Cred::current)),
                        files: core::mem::take(&mut scm.files),
                    },
                };
                dest.deliver(msg, n);
                done += n;
                if self.ty.messages() {
                    return Ok(done);
                }
                continue;
            }
            if nonblock {
                return if done > 0 { Ok(done) } else { Err(-EAGAIN) };
            }
            let waited = sock_wait(&dest.room_wait, end, || {
                (dest.rx_charge() < SNDBUF && !dest.dgram_queue_full_for(self))
                    || dest.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0
                    || dest.dead.load(Ordering::Acquire)
            });
            if let Err(e) = waited {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
        }
    }

    /// The largest message a send takes: the send buffer less 32 bytes (Linux's
    /// `sk_sndbuf - 32`), or for UDP the largest IP payload.
    pub fn max_message(&self) -> usize {
        if self.family == super::unix_addr::AF_UNIX {
            MAX_DGRAM
        } else {
            super::inet::max_datagram(self.family)
        }
    }

    /// Queues `msg` (`n` bytes) here and wakes readers.
    fn deliver(&self, msg: Msg, n: usize) {
        self.rx.lock().msgs.push_back(msg);
        self.rx_bytes.fetch_add(n, Ordering::AcqRel);
        self.rx_msgs.fetch_add(1, Ordering::AcqRel);
        self.rx_wait.wake_all();
        self.seq.wake_rd();
    }

    /// Linux's `unix_may_send`: a datagram socket connected to someone takes messages from
    /// that one only.
    fn may_receive_from(&self, sender: &Arc<UnixSocket>) -> bool {
        match &self.conn.lock().peer {
            Some(p) => Arc::ptr_eq(p, sender),
            None => true,
        }
    }

    /// The destination is closed: a datagram socket forgets it as its peer
    /// (ECONNREFUSED, then ENOTCONN); a connection's end is EPIPE.
    fn dest_gone(&self, dest: &Arc<UnixSocket>, done: usize, flags: u32) -> Result<usize, i64> {
        if self.ty != SockType::Dgram {
            return self.pipe(done, flags);
        }
        let old = {
            let mut c = self.conn.lock();
            if c.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, dest)) {
                c.state = State::Unconnected;
                c.peer.take()
            } else {
                None
            }
        };
        drop(old);
        Err(-ECONNREFUSED)
    }

    /// A send that cannot go on: what was sent, or EPIPE (a stream raises SIGPIPE too,
    /// unless MSG_NOSIGNAL).
    fn pipe(&self, done: usize, flags: u32) -> Result<usize, i64> {
        if done > 0 {
            return Ok(done);
        }
        if self.ty == SockType::Stream && flags & MSG_NOSIGNAL == 0 {
            let t = crate::task::current();
            let info = crate::signal::SigInfo::user(crate::signal::SIGPIPE, t.process.pid);
            crate::signal::send_to_thread(t, crate::signal::SIGPIPE, info);
        }
        Err(-EPIPE)
    }

    /// Receives into `out`: one message, or stream bytes.
    pub fn recv(&self, out: &mut [u8], flags: u32, nonblock: bool) -> Result<Received, i64> {
        if super::tcp::is_tcp(self) {
            return super::tcp::recv(self, out, flags, nonblock);
        }
        let (nonblock, end) = timeout(nonblock || flags & MSG_DONTWAIT != 0, &self.rcvtimeo_us);
        match (self.ty, self.state()) {
            // AF_UNIX's `unix_stream_read_generic` answers EINVAL (TCP went to tcp.rs).
            (SockType::Stream, s) if s != State::Connected => return Err(-EINVAL),
            (SockType::SeqPacket, s) if s != State::Connected => return Err(-ENOTCONN),
            _ => {}
        }
        if self.ty.messages() {
            let e = self.take_error();
            if e != 0 {
                return Err(-(e as i64));
            }
        }
        let mut got = Received::default();
        loop {
            let glue = (got.copied > 0).then_some(got.scm.cred);
            if let Some(r) = self.take(&mut out[got.copied..], flags, glue) {
                if self.ty.messages() {
                    return Ok(r);
                }
                if r.copied == 0 {
                    // Nothing fits (a zero-length read), or the next piece has other
                    // credentials: what was read so far is the answer.
                    return Ok(got);
                }
                let stop = !r.scm.files.is_empty();
                if glue.is_none() {
                    got.from = r.from;
                    got.scm.cred = r.scm.cred;
                }
                got.scm.files.extend(r.scm.files);
                got.copied += r.copied;
                got.len = got.copied;
                let all = flags & MSG_WAITALL == 0
                    || got.copied == out.len()
                    || flags & MSG_PEEK != 0
                    || stop;
                if all {
                    return Ok(got);
                }
            }
            if got.copied > 0 && (nonblock || self.at_end()) {
                return Ok(got);
            }
            if self.rx.lock().msgs.is_empty() {
                let e = self.take_error();
                if e != 0 {
                    return if got.copied > 0 {
                        Ok(got)
                    } else {
                        Err(-(e as i64))
                    };
                }
            }
            if self.at_end() {
                return Ok(got);
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            let waited = sock_wait(&self.rx_wait, end, || {
                self.rx_bytes.load(Ordering::Acquire) > 0
                    || self.at_end()
                    || self.has_empty()
                    || self.err.load(Ordering::Acquire) != 0
            });
            if let Err(e) = waited {
                return if got.copied > 0 { Ok(got) } else { Err(e) };
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
    /// `glue`: the credentials of the stream bytes this read already holds; with SO_PASSCRED
    /// only pieces with the same ones are added (Linux's "never glue messages from
    /// different writers").
    fn take(&self, out: &mut [u8], flags: u32, glue: Option<Option<Cred>>) -> Option<Received> {
        let peek = flags & MSG_PEEK != 0;
        let mut rx = self.rx.lock();
        if self.ty.messages() {
            let m = rx.msgs.front()?;
            let n = m.data.len().min(out.len());
            out[..n].copy_from_slice(&m.data[..n]);
            let len = m.data.len();
            let r = if peek {
                Received {
                    copied: n,
                    len,
                    from: m.from.clone(),
                    scm: Scm {
                        cred: m.scm.cred,
                        files: m.scm.files.clone(),
                    },
                }
            } else {
                let m = rx.msgs.pop_front()?;
                self.rx_bytes.fetch_sub(len, Ordering::AcqRel);
                self.rx_msgs.fetch_sub(1, Ordering::AcqRel);
                Received {
                    copied: n,
                    len,
                    from: m.from,
                    scm: m.scm,
                }
            };
            drop(rx);
            if !peek {
                self.wake_senders();
            }
            return Some(r);
        }
        if rx.msgs.is_empty() {
            return None;
        }
        let check_creds = self.passcred.load(Ordering::Acquire);
        let want_cred = glue.unwrap_or(rx.msgs[0].scm.cred);
        if out.is_empty() || (check_creds && rx.msgs[0].scm.cred != want_cred) {
            return Some(Received::default());
        }
        // Copy across the pieces: `whole` of them are read to their end, and `head` bytes of
        // the next one.
        let mut r = Received {
            from: rx.msgs[0].from.clone(),
            ..Received::default()
        };
        r.scm.cred = want_cred;
        let (mut n, mut whole, mut head) = (0, 0, rx.head_taken);
        while n < out.len() && whole < rx.msgs.len() {
            if check_creds && rx.msgs[whole].scm.cred != want_cred {
                break;
            }
            let avail = &rx.msgs[whole].data[head..];
            let k = avail.len().min(out.len() - n);
            let read_all = k == avail.len();
            out[n..n + k].copy_from_slice(&avail[..k]);
            n += k;
            let has_files = !rx.msgs[whole].scm.files.is_empty();
            if has_files {
                if peek {
                    r.scm.files = rx.msgs[whole].scm.files.clone();
                } else {
                    r.scm.files = core::mem::take(&mut rx.msgs[whole].scm.files);
                }
            }
            if read_all {
                whole += 1;
                head = 0;
            } else {
                head += k;
            }
            if has_files {
                break;
            }
        }
        if !peek {
            rx.msgs.drain(..whole);
            rx.head_taken = head;
            self.rx_bytes.fetch_sub(n, Ordering::AcqRel);
            self.rx_msgs.fetch_sub(whole, Ordering::AcqRel);
            drop(rx);
            self.wake_senders();
        }
        r.copied = n;
        r.len = n;
        Some(r)
    }
}

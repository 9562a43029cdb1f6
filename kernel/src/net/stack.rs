//! The guest's TCP/IP stack: one smoltcp interface on a loopback device (`phy::Loopback`,
//! the IP medium), holding 127.0.0.1/8 and ::1, and the smoltcp sockets behind every TCP
//! socket (net/tcp.rs). Nothing here ever reaches a real device: a packet the interface
//! sends is queued on the loopback and read back by the same interface.
//!
//! **One lock.** The interface, the device, the smoltcp sockets and each TCP socket's
//! handles ([`TcpInner`]) sit behind one spin lock, [`STACK`]. Lock order: `STACK`, then a
//! socket's `conn`, then the port table (net/inet.rs); nothing takes `STACK` while holding
//! another socket lock, and nobody waits with it held.
//!
//! **When the stack runs.** [`with`] runs the caller's change, then polls the interface
//! until it is quiet, so every socket operation that may move data (connect, send, recv,
//! accept, listen, shutdown, close) also delivers what it made: a SYN reaches its
//! listener and the SYN-ACK and ACK come back within the connect call; a send lands in the
//! peer's receive buffer; a receive that opened the window sends the window update that
//! lets a blocked sender go on. On a loopback nothing is lost, so no retransmit timer is
//! needed, and delayed ACKs are off on every socket ([`Stack::new_socket`]) so no ACK
//! waits for a timer either. TIME_WAIT needs none: a closed connection that reaches it
//! leaves the stack and only its port is remembered for 60 s, looked at when a bind asks
//! (`port_busy`).
//!
//! **Wake-ups.** After each poll, [`Stack::scan`] compares every smoltcp socket's state and
//! queue lengths with what it saw last and wakes the kentry socket that owns it (its wait
//! queues, and its poll counts for epoll) when they moved; a connection that went to
//! CLOSED without passing LAST-ACK or TIME-WAIT was reset, and its owner gets Linux's
//! error for that (`tcp_reset`). The wake-ups happen after the lock is dropped.

use super::unix::UnixSocket;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{Loopback, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, IpListenEndpoint, Ipv4Address, Ipv6Address,
};

/// A TCP socket's receive and send buffers (Linux's loopback starts at 128 KiB and 16 KiB
/// and grows them; smoltcp's are fixed). The window a receiver offers is its free room.
pub(super) const RX_BUF: usize = 64 * 1024;
pub(super) const TX_BUF: usize = 32 * 1024;
/// The most buffer memory all TCP sockets together may hold (ENOBUFS past it): the kernel
/// heap is 32 MiB and must serve everything else too.
const MAX_BUF_BYTES: usize = 12 << 20;
/// Polls of the interface in one go at most: each moves every queued packet one hop, so a
/// connection's exchange ends in a few; the cap only keeps a bug from hanging the kernel.
const MAX_POLLS: usize = 1024;

/// What kentry keeps about one smoltcp socket.
pub(super) struct Meta {
    /// The kentry socket it serves (a listener for its waiting connections); dangling once
    /// the socket is closed and this one lingers to finish its connection (an orphan).
    pub owner: Weak<UnixSocket>,
    /// The state at the last scan, to tell a reset from an orderly end.
    pub state: tcp::State,
    /// Receive and send queue lengths at the last scan.
    pub queues: (usize, usize),
    /// SO_REUSEADDR of the socket that closed it (Linux's TIME_WAIT socket keeps its
    /// owner's `sk_reuse`).
    pub reuse: bool,
    /// A listener's socket (until accept hands its connection out): where it listens
    /// again when its connection is reset before the accept, and never an error for the
    /// listener itself.
    pub listen_at: Option<IpListenEndpoint>,
}

/// A TCP socket's part of the stack.
#[derive(Default)]
pub(super) struct TcpInner {
    /// The connection (connecting, connected, or ended).
    pub conn: Option<SocketHandle>,
    /// A listener's sockets on its port: listening, or holding a connection that waits for
    /// accept (the accept queue), oldest first.
    pub listen: Vec<SocketHandle>,
    /// How many `listen` should hold: listen's backlog + 1, capped.
    pub slots: usize,
    /// A non-blocking connect answered EINPROGRESS; the next connect answers 0.
    pub connect_pending: bool,
}

pub(super) struct Stack {
    pub iface: Interface,
    dev: Loopback,
    pub sockets: SocketSet<'static>,
    pub meta: BTreeMap<SocketHandle, Meta>,
    /// Each TCP socket's handles, by its inode number.
    pub socks: BTreeMap<u64, TcpInner>,
    /// Buffer bytes of all smoltcp sockets.
    buf_bytes: usize,
    /// Closed connections in TIME_WAIT: (local port, its closer's SO_REUSEADDR, end in µs
    /// of the stack's clock). Kept here rather than as smoltcp sockets so that they hold
    /// no buffers (Linux's small `tcp_timewait_sock`).
    time_wait: Vec<(u16, bool, i64)>,
}

/// How long a port stays in TIME_WAIT (Linux's TCP_TIMEWAIT_LEN, 60 s).
const TIME_WAIT_US: i64 = 60_000_000;

static STACK: Mutex<Option<Stack>> = Mutex::new(None);

/// The stack's clock: the monotonic clock in microseconds.
fn now() -> Instant {
    Instant::from_micros((crate::time::monotonic_ns() / 1000) as i64)
}

/// The loopback addresses the interface holds. With "any IP" on, it also takes packets for
/// the rest of 127.0.0.0/8 (a socket bound to 127.0.0.2 is reachable, as on Linux); kentry
/// never sends anything to an address outside loopback (net/inet.rs refuses it first).
fn new_stack() -> Stack {
    let mut dev = Loopback::new(Medium::Ip);
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = u64::from_ne_bytes(crate::random::bytes16()[..8].try_into().unwrap());
    let mut iface = Interface::new(config, &mut dev, now());
    iface.update_ip_addrs(|a| {
        // Two addresses fit (smoltcp's default IFACE_MAX_ADDR_COUNT): these two.
        let _ = a.push(IpCidr::new(
            IpAddress::Ipv4(Ipv4Address::new(127, 0, 0, 1)),
            8,
        ));
        let _ = a.push(IpCidr::new(IpAddress::Ipv6(Ipv6Address::LOCALHOST), 128));
    });
    iface.set_any_ip(true);
    Stack {
        iface,
        dev,
        sockets: SocketSet::new(Vec::new()),
        meta: BTreeMap::new(),
        socks: BTreeMap::new(),
        buf_bytes: 0,
        time_wait: Vec::new(),
    }
}

/// A socket to wake after the lock is dropped: (owner, readers' side moved, writers' side
/// moved).
type Wake = (Weak<UnixSocket>, bool, bool);

/// Runs `f` on the stack, then polls the interface until it is quiet and wakes the sockets
/// whose state moved (see the module comment for why every call polls).
pub(super) fn with<R>(f: impl FnOnce(&mut Stack) -> R) -> R {
    let mut wake: Vec<Wake> = Vec::new();
    let r = {
        let mut g = STACK.lock();
        let st = g.get_or_insert_with(new_stack);
        let r = f(st);
        // Aborting an orphan that got data sends a RST, which needs one more round.
        for _ in 0..4 {
            st.poll();
            if !st.scan(&mut wake) {
                break;
            }
        }
        r
    };
    for (w, rd, wr) in wake {
        if let Some(s) = w.upgrade() {
            s.rx_wait.wake_all();
            s.room_wait.wake_all();
            match (rd, wr) {
                (true, true) => s.seq.wake_both(),
                (true, false) => s.seq.wake_rd(),
                _ => s.seq.wake_wr(),
            }
        }
    }
    r
}

/// Looks at the stack without running it (readiness, wait conditions).
pub(super) fn peek<R>(f: impl FnOnce(&mut Stack) -> R) -> R {
    let mut g = STACK.lock();
    f(g.get_or_insert_with(new_stack))
}

impl Stack {
    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    pub fn tcp_ref(&self, h: SocketHandle) -> &tcp::Socket<'static> {
        self.sockets.get::<tcp::Socket>(h)
    }

    /// A new smoltcp TCP socket for `owner`: ENOBUFS when the buffers would pass the
    /// stack's budget or the heap has no room.
    pub fn new_socket(&mut self, owner: &Arc<UnixSocket>) -> Result<SocketHandle, i64> {
        if self.buf_bytes + RX_BUF + TX_BUF > MAX_BUF_BYTES {
            return Err(-ENOBUFS);
        }
        let buf = |n: usize| -> Result<Vec<u8>, i64> {
            let mut v = Vec::new();
            v.try_reserve_exact(n).map_err(|_| -ENOBUFS)?;
            v.resize(n, 0);
            Ok(v)
        };
        let mut t = tcp::Socket::new(
            tcp::SocketBuffer::new(buf(RX_BUF)?),
            tcp::SocketBuffer::new(buf(TX_BUF)?),
        );
        // Acknowledge at once: nothing else would run the stack when a delayed ACK fell due.
        t.set_ack_delay(None);
        let h = self.sockets.add(t);
        self.buf_bytes += RX_BUF + TX_BUF;
        self.meta.insert(
            h,
            Meta {
                owner: Arc::downgrade(owner),
                state: tcp::State::Closed,
                queues: (0, 0),
                reuse: false,
                listen_at: None,
            },
        );
        Ok(h)
    }

    /// Records the state `h` is in now as one kentry itself caused (a close, an abort,
    /// a connect), so the scan does not take it for the peer's doing.
    pub fn note(&mut self, h: SocketHandle) {
        let state = self.tcp_ref(h).state();
        if let Some(m) = self.meta.get_mut(&h) {
            m.state = state;
        }
    }

    /// Gives `h` to a new owner (an accepted connection leaves its listener).
    pub fn set_owner(&mut self, h: SocketHandle, owner: &Arc<UnixSocket>) {
        if let Some(m) = self.meta.get_mut(&h) {
            m.owner = Arc::downgrade(owner);
            m.listen_at = None;
        }
    }

    /// `h`'s owner is closed: it lingers until its connection is over.
    pub fn orphan(&mut self, h: SocketHandle, reuse: bool) {
        self.note(h);
        if let Some(m) = self.meta.get_mut(&h) {
            m.owner = Weak::new();
            m.reuse = reuse;
        }
    }

    /// Runs the interface until no socket has anything more to send.
    fn poll(&mut self) {
        let t = now();
        for _ in 0..MAX_POLLS {
            if self.iface.poll(t, &mut self.dev, &mut self.sockets) == PollResult::None {
                break;
            }
        }
    }

    /// Notes what moved since the last scan, sets the errors of resets, queues the owners to
    /// wake, and frees orphans that are done. Returns whether it aborted an orphan (whose
    /// RST still has to go out).
    fn scan(&mut self, wake: &mut Vec<Wake>) -> bool {
        let mut aborted = false;
        let mut done = Vec::new();
        for (&h, m) in self.meta.iter_mut() {
            let t = self.sockets.get_mut::<tcp::Socket>(h);
            let (state, queues) = (t.state(), (t.recv_queue(), t.send_queue()));
            let owner = m.owner.upgrade();
            if owner.is_none() {
                // An orphan: data arriving after its close is answered with a RST (Linux's
                // `tcp_close` leaves no one to read it: the sender sees EPIPE/ECONNRESET).
                if t.recv_queue() > 0 && state != tcp::State::Closed {
                    t.abort();
                    aborted = true;
                }
                // Done once nothing is left to send: an abort's RST goes out first (smoltcp
                // forgets the endpoints after sending it). A TIME_WAIT one has nothing more
                // to do on a loopback (no FIN is ever retransmitted): only its port is
                // remembered.
                let state = t.state();
                if state == tcp::State::TimeWait
                    && let Some(e) = t.local_endpoint()
                {
                    self.time_wait
                        .push((e.port, m.reuse, now().total_micros() + TIME_WAIT_US));
                    done.push(h);
                } else if state == tcp::State::Listen
                    || (state == tcp::State::Closed && t.local_endpoint().is_none())
                {
                    done.push(h);
                }
                m.state = t.state();
                continue;
            }
            if state == m.state && queues == m.queues {
                continue;
            }
            if let Some(ep) = m.listen_at
                && state == tcp::State::Closed
            {
                // A connection reset before anyone accepted it: the slot listens again.
                let _ = t.listen(ep);
            } else if let Some(o) = &owner
                && state == tcp::State::Closed
                && let Some(e) = reset_error(m.state)
            {
                o.err.store(e, Ordering::Release);
            }
            let state = t.state();
            let rd = state != m.state || queues.0 != m.queues.0;
            let wr = state != m.state || queues.1 != m.queues.1;
            m.state = state;
            m.queues = queues;
            wake.push((m.owner.clone(), rd, wr));
        }
        for h in done {
            self.meta.remove(&h);
            self.sockets.remove(h);
            self.buf_bytes -= RX_BUF + TX_BUF;
        }
        aborted
    }

    /// Whether `port` is held by a connection that is not a listener's port-table entry
    /// (an accepted connection, or one lingering after its close, TIME_WAIT included).
    /// `reuse`: the binder has SO_REUSEADDR, which passes a connection that had it too
    /// (Linux's `inet_bind_conflict`: both `sk_reuse`, the other not listening).
    pub fn port_busy(&mut self, port: u16, reuse: bool) -> bool {
        let t = now().total_micros();
        self.time_wait.retain(|w| w.2 > t);
        if self
            .time_wait
            .iter()
            .any(|&(p, other_reuse, _)| p == port && !(reuse && other_reuse))
        {
            return true;
        }
        self.meta.iter().any(|(&h, m)| {
            let t = self.tcp_ref(h);
            if matches!(t.state(), tcp::State::Closed | tcp::State::Listen) {
                return false;
            }
            if t.local_endpoint().is_none_or(|e| e.port != port) {
                return false;
            }
            let other_reuse = match m.owner.upgrade() {
                Some(o) => o.reuseaddr.load(Ordering::Acquire),
                None => m.reuse,
            };
            !(reuse && other_reuse)
        })
    }
}

/// The error a connection in `state` gets from a RST (Linux's `tcp_reset`): none if it was
/// ending anyway.
fn reset_error(state: tcp::State) -> Option<i32> {
    use tcp::State::*;
    match state {
        SynSent => Some(ECONNREFUSED as i32),
        CloseWait => Some(EPIPE as i32),
        Closed | Listen | LastAck | TimeWait => None,
        _ => Some(ECONNRESET as i32),
    }
}

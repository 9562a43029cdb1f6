//! TCP sockets (AF_INET and AF_INET6, SOCK_STREAM) on smoltcp (net/stack.rs): the calls of
//! Linux's `net/ipv4/tcp.c` and `af_inet.c` as a program sees them, on top of smoltcp's
//! state machine. Names and ports are net/inet.rs's (the port table, getsockname), the
//! waiting is the socket's wait queues (woken by the stack's scan), the readiness Linux's
//! `tcp_poll`.
//!
//! - **connect** makes a smoltcp socket and sends the SYN; the stack runs it to the end
//!   at once on the loopback: ESTABLISHED, or CLOSED by the listener's side's RST
//!   (ECONNREFUSED: smoltcp answers a SYN nobody listens for with a RST). A non-blocking
//!   connect answers EINPROGRESS either way, as Linux's loopback does.
//! - **listen** keeps smoltcp sockets listening on the port (smoltcp's way to take several
//!   connections: one socket each), up to `min(backlog + 1, MAX_SLOTS)` with those whose
//!   connection completed and waits for accept; [`refill`] keeps two of them idle. A connect to a listener with no free socket waits for an accept (Linux
//!   drops the SYN and retries); non-blocking, it is refused.
//! - **close** sends a FIN and leaves the smoltcp socket to finish (TIME_WAIT included);
//!   with data unread, or a listener's waiting connections, it sends a RST instead, as
//!   Linux's `tcp_close`.

use super::inet::{self, Endpoint};
use super::stack::{self, Stack, TcpInner};
use super::unix::{
    MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, MSG_WAITALL, POLLERR, POLLRDHUP, RCV_SHUTDOWN,
    SEND_SHUTDOWN, SHUTDOWN_MASK, SockType, State, UnixSocket,
};
use super::unix_io::{Received, sock_wait, timeout};
use crate::fs::{POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::syscall::errno::*;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint, Ipv4Address, Ipv6Address};

/// The most smoltcp sockets one listener keeps (its accept queue's length): each holds
/// its buffers from the start.
const MAX_SLOTS: usize = 16;
/// Listening (idle) smoltcp sockets a listener keeps ready: enough for connects from both
/// CPUs at once, since every connect tops them up first.
const IDLE_SLOTS: usize = 2;

fn ip_of(e: &Endpoint) -> IpAddress {
    if e.is_v4() {
        IpAddress::Ipv4(Ipv4Address::new(e.ip[12], e.ip[13], e.ip[14], e.ip[15]))
    } else {
        IpAddress::Ipv6(Ipv6Address::from_octets(e.ip))
    }
}

fn endpoint_from(e: IpEndpoint) -> Endpoint {
    let ip = match e.addr {
        IpAddress::Ipv4(a) => inet::v4(a.octets()),
        IpAddress::Ipv6(a) => a.octets(),
    };
    Endpoint { ip, port: e.port }
}

/// Where a listener bound to `e` listens: the wildcard takes both IP versions.
fn listen_endpoint(e: &Endpoint) -> IpListenEndpoint {
    IpListenEndpoint {
        addr: (!e.is_any()).then(|| ip_of(e)),
        port: e.port,
    }
}

/// The socket's bound endpoint.
fn bound(s: &UnixSocket) -> Option<Endpoint> {
    s.name().map(|a| inet::endpoint_of(&a))
}

fn inner<'a>(st: &'a mut Stack, s: &UnixSocket) -> &'a mut TcpInner {
    st.socks.entry(s.ino).or_default()
}

/// The smoltcp state of the socket's connection (None: it has none).
fn conn_state(st: &mut Stack, s: &UnixSocket) -> Option<tcp::State> {
    let h = st.socks.get(&s.ino)?.conn?;
    Some(st.tcp_ref(h).state())
}

/// bind(2) of a TCP socket: the port must not be held by a live socket (the port table) nor
/// by a connection, lingering ones included, unless SO_REUSEADDR lets it (Stack::port_busy).
pub fn bind(s: &Arc<UnixSocket>, e: Endpoint) -> Result<(), i64> {
    let reuse = s.reuseaddr.load(Ordering::Acquire);
    stack::with(|st| {
        if e.port != 0 && st.port_busy(e.port, reuse) {
            return Err(-EADDRINUSE);
        }
        inet::bind_endpoint(s, e, &mut |p| st.port_busy(p, false))
    })
}

/// Binds an unbound socket to an ephemeral port on `ip` (Linux's `inet_autobind`), skipping
/// ports connections still hold.
fn autobind_on(st: &mut Stack, s: &Arc<UnixSocket>, ip: [u8; 16]) -> Result<(), i64> {
    if s.name().is_some() {
        return Ok(());
    }
    match inet::bind_endpoint(s, Endpoint { ip, port: 0 }, &mut |p| st.port_busy(p, false)) {
        Err(e) if e == -EINVAL => Ok(()),
        r => r,
    }
}

/// listen(2): EINVAL when connected or connecting; an unbound socket gets an ephemeral
/// port on the wildcard. A second listen changes the number of listening sockets upward.
pub fn listen(s: &Arc<UnixSocket>, backlog: i32) -> Result<(), i64> {
    let any = if s.family == inet::AF_INET {
        inet::v4([0; 4])
    } else {
        [0; 16]
    };
    let backlog = (backlog as u32 as usize).min(super::unix_conn::SOMAXCONN);
    stack::with(|st| {
        if inner(st, s).conn.is_some() {
            return Err(-EINVAL);
        }
        autobind_on(st, s, any)?;
        let i = inner(st, s);
        i.slots = i.slots.max((backlog + 1).min(MAX_SLOTS));
        refill(st, s)?;
        let mut c = s.conn.lock();
        c.state = State::Listening;
        c.backlog = backlog;
        Ok(())
    })?;
    s.room_wait.wake_all();
    Ok(())
}

/// Tops a listener's listening smoltcp sockets up to [`IDLE_SLOTS`] (fewer if the accept
/// queue, `slots` sockets in all, would pass its bound): after listen, after accept took
/// one, and before each connect to it, so every SYN finds one while the queue has room,
/// without holding buffers for the whole backlog. ENOBUFS when the stack's budget is
/// spent, which the next accept or connect retries, so a listener never stays short.
fn refill(st: &mut Stack, s: &Arc<UnixSocket>) -> Result<(), i64> {
    let ep = listen_endpoint(&bound(s).ok_or(-EINVAL)?);
    loop {
        inner(st, s);
        let i = &st.socks[&s.ino];
        let (all, slots) = (i.listen.len(), i.slots);
        let idle = i
            .listen
            .iter()
            .filter(|&&h| st.tcp_ref(h).state() == tcp::State::Listen)
            .count();
        if all >= slots || idle >= IDLE_SLOTS {
            return Ok(());
        }
        let h = st.new_socket(s)?;
        if st.tcp(h).listen(ep).is_err() {
            st.orphan(h, false);
            return Err(-EINVAL);
        }
        st.note(h);
        if let Some(m) = st.meta.get_mut(&h) {
            m.listen_at = Some(ep);
        }
        inner(st, s).listen.push(h);
    }
}

/// Whether `l` (a listener) has a socket free to take a SYN: None if it is no TCP
/// listener.
fn has_free_slot(l: &UnixSocket) -> Option<bool> {
    stack::peek(|st| {
        let i = st.socks.get(&l.ino)?;
        if i.listen.is_empty() {
            return None;
        }
        Some(
            i.listen
                .iter()
                .any(|&h| st.tcp_ref(h).state() == tcp::State::Listen),
        )
    })
}

/// connect(2) to the TCP listener at `raw` (checked by the caller's family). Errors as
/// Linux's `__inet_stream_connect`: EISCONN connected, EALREADY while a connect is under
/// way, EINVAL listening, ECONNREFUSED from the RST; a non-blocking connect EINPROGRESS.
pub fn connect(s: &Arc<UnixSocket>, e: Endpoint, nonblock: bool) -> Result<(), i64> {
    // A state from an earlier connect decides first.
    let before = stack::with(|st| {
        let listening = !inner(st, s).listen.is_empty();
        let pending = core::mem::take(&mut inner(st, s).connect_pending);
        (listening, conn_state(st, s), pending)
    });
    match before {
        (true, _, _) => return Err(-EINVAL),
        (_, Some(tcp::State::SynSent), _) if nonblock => return Err(-EALREADY),
        (_, Some(tcp::State::SynSent), _) => return wait_connected(s),
        (_, Some(tcp::State::Closed), _) | (_, None, _) => {}
        (_, Some(_), true) => return Ok(()),
        (_, Some(_), false) => return Err(-EISCONN),
    }
    if let Some(err) = nonzero(s.take_error()) {
        // A refused non-blocking connect reports its error to the next connect.
        return Err(err);
    }
    if e.port == 0 {
        // Linux sends the SYN to port 0 too, and its loopback answers with a RST.
        return Err(-ECONNREFUSED);
    }
    let listener = inet::find(SockType::Stream, e);
    if let Some(l) = &listener
        && l.state() == State::Listening
    {
        // Slots a spent budget left out are made now, if it allows.
        stack::with(|st| {
            let _ = refill(st, l);
        });
    }
    match listener {
        // A listener with no free socket: wait for an accept, as Linux's retried SYN would.
        Some(l) if !nonblock => {
            let woke = l.room_wait.wait_until(
                || has_free_slot(&l) != Some(false),
                crate::signal::interrupted,
            );
            if !woke {
                return Err(-ERESTARTSYS);
            }
        }
        Some(_) => {}
        // Held by a socket of the other family: no listener for this one (smoltcp's
        // wildcard listener would take either IP version, Linux's AF_INET one does not).
        None if inet::port_holder(SockType::Stream, e.port).is_some() => {
            return Err(-ECONNREFUSED);
        }
        None => {}
    }
    // The source is 127.0.0.1 or ::1, as Linux's route to a loopback address gives.
    let local_ip = e.loopback();
    stack::with(|st| {
        autobind_on(st, s, local_ip)?;
        let mut local = bound(s).ok_or(-EINVAL)?;
        if local.is_any() {
            local.ip = local_ip;
        }
        if local.is_v4() != e.is_v4() {
            return Err(-ENETUNREACH);
        }
        let old = inner(st, s).conn.take();
        if let Some(h) = old {
            st.orphan(h, false);
        }
        let h = st.new_socket(s)?;
        let cx = st.iface.context();
        let r = st.sockets.get_mut::<tcp::Socket>(h).connect(
            cx,
            IpEndpoint::new(ip_of(&e), e.port),
            IpEndpoint::new(ip_of(&local), local.port),
        );
        st.note(h);
        inner(st, s).conn = Some(h);
        r.map_err(|_| -EADDRNOTAVAIL)?;
        s.conn.lock().state = State::Connecting;
        Ok(())
    })?;
    if nonblock {
        // Linux's loopback answers EINPROGRESS even when the handshake is already over.
        stack::peek(|st| {
            if conn_state(st, s) != Some(tcp::State::Closed) {
                inner(st, s).connect_pending = true;
                s.conn.lock().state = State::Connected;
            }
        });
        return Err(-EINPROGRESS);
    }
    wait_connected(s)
}

fn nonzero(e: i32) -> Option<i64> {
    (e != 0).then_some(-(e as i64))
}

/// Waits for the SYN's answer: 0 once established, the reset's error once closed.
fn wait_connected(s: &Arc<UnixSocket>) -> Result<(), i64> {
    loop {
        let state = stack::peek(|st| conn_state(st, s));
        match state {
            Some(tcp::State::SynSent | tcp::State::SynReceived) => {}
            Some(tcp::State::Closed) | None => {
                return Err(nonzero(s.take_error()).unwrap_or(-ECONNREFUSED));
            }
            Some(_) => {
                s.conn.lock().state = State::Connected;
                return Ok(());
            }
        }
        let woke = s.rx_wait.wait_until(
            || {
                stack::peek(|st| {
                    !matches!(
                        conn_state(st, s),
                        Some(tcp::State::SynSent | tcp::State::SynReceived)
                    )
                })
            },
            crate::signal::interrupted,
        );
        if !woke {
            return Err(-ERESTARTSYS);
        }
    }
}

/// The oldest connection of a listener that is ready to be accepted (its handshake done;
/// it may have ended since, as Linux's accept queue hands out closed ones too).
fn ready(st: &Stack, i: &TcpInner) -> Option<usize> {
    i.listen.iter().position(|&h| {
        !matches!(
            st.tcp_ref(h).state(),
            tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed
        )
    })
}

/// accept(2): EINVAL unless listening, EAGAIN non-blocking with nothing ready.
pub fn accept(s: &Arc<UnixSocket>, nonblock: bool) -> Result<Arc<UnixSocket>, i64> {
    loop {
        let got = stack::with(|st| -> Result<Option<Arc<UnixSocket>>, i64> {
            if st.socks.get(&s.ino).is_none_or(|i| i.listen.is_empty()) {
                return Err(-EINVAL);
            }
            let i = st.socks.get(&s.ino).ok_or(-EINVAL)?;
            let Some(k) = ready(st, i) else {
                return Ok(None);
            };
            let h = inner(st, s).listen.remove(k);
            let new = UnixSocket::new_in(s.family, SockType::Stream);
            new.reuseaddr
                .store(s.reuseaddr.load(Ordering::Acquire), Ordering::Release);
            st.set_owner(h, &new);
            inner(st, &new).conn = Some(h);
            let local = st.tcp_ref(h).local_endpoint().map(endpoint_from);
            {
                let mut c = new.conn.lock();
                c.state = State::Connected;
                c.addr = local.map(|e| inet::name_of(s.family, e));
            }
            // A fresh socket listens in the place of the one handed out (if the budget
            // allows: else the next accept or connect tries again).
            let _ = refill(st, s);
            Ok(Some(new))
        })?;
        if let Some(new) = got {
            s.room_wait.wake_all();
            return Ok(new);
        }
        if s.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0 {
            return Err(-EINVAL);
        }
        if nonblock {
            return Err(-EAGAIN);
        }
        let woke = s.rx_wait.wait_until(
            || {
                stack::peek(|st| {
                    st.socks
                        .get(&s.ino)
                        .is_none_or(|i| i.listen.is_empty() || ready(st, i).is_some())
                })
            },
            crate::signal::interrupted,
        );
        if !woke {
            return Err(-ERESTARTSYS);
        }
    }
}

/// A send that cannot go on (Linux's `sk_stream_error`): the pending error, else EPIPE;
/// EPIPE raises SIGPIPE unless MSG_NOSIGNAL.
fn send_error(s: &UnixSocket, done: usize, flags: u32) -> Result<usize, i64> {
    if done > 0 {
        return Ok(done);
    }
    let e = nonzero(s.take_error()).unwrap_or(-EPIPE);
    if e == -EPIPE && flags & MSG_NOSIGNAL == 0 {
        let t = crate::task::current();
        let info = crate::signal::SigInfo::user(crate::signal::SIGPIPE, t.process.pid);
        crate::signal::send_to_thread(t, crate::signal::SIGPIPE, info);
    }
    Err(e)
}

enum Step {
    Moved(usize),
    Stop,
    Wait,
}

/// send(2) on a TCP socket: into the send buffer as room allows, the stack carrying it to
/// the peer's receive buffer; waits for room (or EAGAIN non-blocking).
pub fn send(s: &Arc<UnixSocket>, data: &[u8], flags: u32, nonblock: bool) -> Result<usize, i64> {
    let (nonblock, end) = timeout(nonblock || flags & MSG_DONTWAIT != 0, &s.sndtimeo_us);
    let mut done = 0;
    loop {
        let step = stack::with(|st| {
            let Some(h) = st.socks.get(&s.ino).and_then(|i| i.conn) else {
                return Step::Stop;
            };
            if s.err.load(Ordering::Acquire) != 0
                || s.shutdown.load(Ordering::Acquire) & SEND_SHUTDOWN != 0
            {
                return Step::Stop;
            }
            let t = st.tcp(h);
            match t.state() {
                tcp::State::SynSent | tcp::State::SynReceived => return Step::Wait,
                _ if !t.may_send() => return Step::Stop,
                _ => {}
            }
            match t.send_slice(&data[done..]) {
                Ok(0) if !data.is_empty() => Step::Wait,
                Ok(n) => Step::Moved(n),
                Err(_) => Step::Stop,
            }
        });
        match step {
            Step::Stop => return send_error(s, done, flags),
            Step::Moved(n) => {
                done += n;
                if done == data.len() {
                    return Ok(done);
                }
                continue;
            }
            Step::Wait => {}
        }
        if nonblock {
            return if done > 0 { Ok(done) } else { Err(-EAGAIN) };
        }
        let waited = sock_wait(&s.room_wait, end, || {
            s.err.load(Ordering::Acquire) != 0
                || stack::peek(|st| match st.socks.get(&s.ino).and_then(|i| i.conn) {
                    Some(h) => {
                        let t = st.tcp_ref(h);
                        t.can_send() || !t.may_send()
                    }
                    None => true,
                })
        });
        if let Err(e) = waited {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
    }
}

/// recv(2) on a TCP socket: what the receive buffer holds (MSG_PEEK leaves it there,
/// MSG_WAITALL waits for all); end of file once the peer's FIN is read or this side is shut;
/// a reset's error once, when nothing is left to read.
pub fn recv(s: &UnixSocket, out: &mut [u8], flags: u32, nonblock: bool) -> Result<Received, i64> {
    let (nonblock, end) = timeout(nonblock || flags & MSG_DONTWAIT != 0, &s.rcvtimeo_us);
    let mut got = 0;
    loop {
        let step = stack::with(|st| {
            let Some(h) = st.socks.get(&s.ino).and_then(|i| i.conn) else {
                return Err(-ENOTCONN);
            };
            if s.state() != State::Connected && s.err.load(Ordering::Acquire) == 0 {
                // Never connected (a refused connect): Linux's TCP_CLOSE read.
                return Err(-ENOTCONN);
            }
            let t = st.tcp(h);
            if got == out.len() {
                return Ok(Step::Stop);
            }
            if t.can_recv() {
                let r = if flags & MSG_PEEK != 0 {
                    t.peek_slice(&mut out[got..])
                } else {
                    t.recv_slice(&mut out[got..])
                };
                return Ok(Step::Moved(r.unwrap_or(0)));
            }
            let ended = !t.may_recv()
                && !matches!(t.state(), tcp::State::SynSent | tcp::State::SynReceived);
            if ended
                || s.err.load(Ordering::Acquire) != 0
                || s.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0
            {
                return Ok(Step::Stop);
            }
            Ok(Step::Wait)
        });
        match step {
            Err(e) if got == 0 => return Err(e),
            Err(_) => return Ok(received(got)),
            Ok(Step::Moved(n)) => {
                got += n;
                if flags & MSG_WAITALL == 0 || flags & MSG_PEEK != 0 || got == out.len() {
                    return Ok(received(got));
                }
                continue;
            }
            Ok(Step::Stop) => {
                if got == 0
                    && let Some(e) = nonzero(s.take_error())
                {
                    return Err(e);
                }
                return Ok(received(got));
            }
            Ok(Step::Wait) => {}
        }
        if nonblock {
            return if got > 0 {
                Ok(received(got))
            } else {
                Err(-EAGAIN)
            };
        }
        let waited = sock_wait(&s.rx_wait, end, || {
            s.err.load(Ordering::Acquire) != 0
                || s.shutdown.load(Ordering::Acquire) & RCV_SHUTDOWN != 0
                || stack::peek(|st| match st.socks.get(&s.ino).and_then(|i| i.conn) {
                    Some(h) => {
                        let t = st.tcp_ref(h);
                        t.can_recv() || !t.may_recv()
                    }
                    None => true,
                })
        });
        if let Err(e) = waited {
            return if got > 0 { Ok(received(got)) } else { Err(e) };
        }
    }
}

fn received(n: usize) -> Received {
    Received {
        copied: n,
        len: n,
        ..Received::default()
    }
}

/// shutdown(2) (Linux's `inet_shutdown`): ENOTCONN unless connected or listening; SHUT_WR
/// sends the FIN; SHUT_RD makes reads end; a listener shut for reading stops listening.
pub fn shutdown(s: &Arc<UnixSocket>, how: u32) -> Result<(), i64> {
    if how > 2 {
        return Err(-EINVAL);
    }
    let mode = (how + 1) as u8;
    stack::with(|st| {
        let i = inner(st, s);
        if !i.listen.is_empty() {
            if mode & RCV_SHUTDOWN != 0 {
                let hs = core::mem::take(&mut i.listen);
                for h in hs {
                    st.tcp(h).abort();
                    st.orphan(h, false);
                }
                s.shutdown.fetch_or(mode, Ordering::AcqRel);
                s.conn.lock().state = State::Unconnected;
            }
            return Ok(());
        }
        let h = i.conn.ok_or(-ENOTCONN)?;
        if st.tcp_ref(h).state() == tcp::State::Closed {
            return Err(-ENOTCONN);
        }
        s.shutdown.fetch_or(mode, Ordering::AcqRel);
        if mode & SEND_SHUTDOWN != 0 {
            st.tcp(h).close();
            st.note(h);
        }
        Ok(())
    })?;
    s.wake_everyone();
    Ok(())
}

/// The last close (Linux's `tcp_close`): a FIN, or a RST when data was left unread; a
/// listener's waiting connections are reset. The port goes back to the table; the
/// connection lingers in the stack until it is over.
pub fn release(s: &UnixSocket) {
    s.dead.store(true, Ordering::Release);
    s.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
    let reuse = s.reuseaddr.load(Ordering::Acquire);
    stack::with(|st| {
        let Some(i) = st.socks.remove(&s.ino) else {
            return;
        };
        for h in i.listen {
            st.tcp(h).abort();
            st.orphan(h, false);
        }
        if let Some(h) = i.conn {
            let t = st.tcp(h);
            if t.recv_queue() > 0 {
                t.abort();
            } else {
                t.close();
            }
            st.orphan(h, reuse);
        }
    });
    let addr = {
        let mut c = s.conn.lock();
        c.state = State::Unconnected;
        c.addr.clone()
    };
    if let Some(a) = addr {
        inet::unbind(&a, s);
    }
    s.wake_everyone();
}

/// poll(2) events (Linux's `tcp_poll`).
pub fn poll_events(s: &UnixSocket) -> u16 {
    let sd = s.shutdown.load(Ordering::Acquire);
    let mut ev = 0;
    if s.err.load(Ordering::Acquire) != 0 {
        ev |= POLLERR;
    }
    stack::peek(|st| {
        let Some(i) = st.socks.get(&s.ino) else {
            // Never connected: writable and hung up, as a fresh Linux socket.
            return ev | POLLOUT | POLLWRNORM | POLLHUP;
        };
        if !i.listen.is_empty() {
            if ready(st, i).is_some() {
                ev |= POLLIN | POLLRDNORM;
            }
            return ev;
        }
        let Some(h) = i.conn else {
            return ev | POLLOUT | POLLWRNORM | POLLHUP;
        };
        let t = st.tcp_ref(h);
        let state = t.state();
        if matches!(state, tcp::State::SynSent | tcp::State::SynReceived) {
            return ev;
        }
        // Linux's `sk_shutdown`: the peer's FIN shuts the receiving side, a reset both.
        let closed = state == tcp::State::Closed;
        let rcv_shut = sd & RCV_SHUTDOWN != 0 || !t.may_recv();
        let snd_shut = sd & SEND_SHUTDOWN != 0 || closed;
        if closed || (rcv_shut && snd_shut) {
            ev |= POLLHUP;
        }
        if rcv_shut {
            ev |= POLLIN | POLLRDNORM | POLLRDHUP;
        }
        if t.can_recv() {
            ev |= POLLIN | POLLRDNORM;
        }
        // Writable while a third of the send buffer is free (Linux's
        // `__sk_stream_is_writeable` wants free room of half what is queued), or at once
        // when the sending side is shut (a write fails without waiting).
        let free = t.send_capacity() - t.send_queue();
        if snd_shut || free * 3 >= t.send_capacity() {
            ev |= POLLOUT | POLLWRNORM;
        }
        ev
    })
}

/// FIONREAD: the bytes waiting to be read.
pub fn available(s: &UnixSocket) -> usize {
    stack::peek(|st| {
        st.socks
            .get(&s.ino)
            .and_then(|i| i.conn)
            .map_or(0, |h| st.tcp_ref(h).recv_queue())
    })
}

/// getpeername: the remote end while there is a connection (ENOTCONN once it is reset
/// or was never made).
pub fn peer_name(s: &UnixSocket) -> Option<Endpoint> {
    stack::peek(|st| {
        let h = st.socks.get(&s.ino)?.conn?;
        let t = st.tcp_ref(h);
        if matches!(t.state(), tcp::State::Closed | tcp::State::SynSent) {
            return None;
        }
        t.remote_endpoint().map(endpoint_from)
    })
}

/// Whether `s` is a TCP socket (the calls of unix*.rs hand those to this file).
pub fn is_tcp(s: &UnixSocket) -> bool {
    s.family != super::unix_addr::AF_UNIX && s.ty == SockType::Stream
}

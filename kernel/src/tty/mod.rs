//! Terminals (docs/tty.md): [`Tty`] is one terminal with Linux's line discipline
//! (kernel/logic/src/tty/ldisc.rs), its settings, window size, session and foreground group.
//! There is the console's, in an interactive run, and a pseudo-terminal's slave (pty.rs).
//!
//! The console's: when xtask finds its stdin is a terminal it boots with
//! `kentry.tty=ROWSxCOLS`, and the console becomes a tty. Without that word it does not exist
//! and the console keeps the initrd's stdin (console.rs).
//!
//! Its input: COM1's receive interrupt (IRQ 4, routed by the I/O APIC to [`COM1_VECTOR`] on
//! the CPU that set the tty up) only moves the UART's bytes into [`RAW`] and wakes the tty
//! thread. The thread takes xtask's control messages out of the stream ([`Decoder`]) and feeds
//! the rest to the line discipline in process context, where it may echo and signal process
//! groups (Linux does this from its flip-buffer work, not from the interrupt either).
//!
//! Its output: writes go through output processing (OPOST) and then to the console's frames,
//! as any run-mode output; echo goes the same way.
//!
//! The session of the first program (pid 1) owns it from the start, as a login shell's
//! session owns its terminal, with pid 1's group in the foreground.

pub mod ioctl;
pub mod pty;
// The line discipline and the termios layout are host-tested in the logic crate.
pub use kentry_kernel_logic::tty::{ldisc, termios};

use crate::process::Process;
use crate::sched::WaitQueue;
use crate::signal::{self, SIG_IGN, SigInfo};
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use ldisc::{Effects, Ldisc};
use spin::Once;
use termios::{ICANON, TOSTOP, VMIN, VTIME, Winsize};

/// The COM1 receive interrupt's vector (below the IPIs, above the timer and the bench's).
pub const COM1_VECTOR: u8 = 0x24;
/// COM1's ISA interrupt line.
const COM1_IRQ: u32 = 4;

/// The first byte of a control message from xtask in the input stream (the byte UTF-8 never
/// uses, like the output frames' marker): `0xfe 0xfe` is a literal 0xfe, `0xfe 'W' rows cols`
/// (each u16 little-endian) a new window size.
pub const INPUT_ESCAPE: u8 = 0xfe;
pub const INPUT_WINSIZE: u8 = b'W';

/// The most bytes the interrupt keeps for the thread; more are dropped, as a UART overruns.
const RAW_MAX: usize = 4096;

/// Where a terminal's output (writes and echo) goes.
pub enum Output {
    /// The console: the run's output frames.
    Console,
    /// A pseudo-terminal's master side, which reads it.
    Pty(pty::MasterQueue),
}

pub struct Tty {
    out: Output,
    ld: Mutex<Ldisc>,
    winsize: Mutex<Winsize>,
    /// The session this is the controlling terminal of (a global id; 0: none), and its
    /// foreground process group.
    session: AtomicU32,
    pgrp: AtomicU32,
    /// `Ldisc::readable` after each change, for wait conditions (which take no lock).
    ready: AtomicUsize,
    /// What poll needs readable for POLLIN: VMIN in non-canonical mode without VTIME, else 1.
    poll_min: AtomicUsize,
    read_wait: WaitQueue,
    seq: crate::event::PollSeq,
    /// A pty slave whose master is closed: reads of an empty queue and writes fail (EIO).
    hung_up: AtomicBool,
}

static TTY: Once<Tty> = Once::new();
/// Bytes from the interrupt for the tty thread; taken with interrupts off on both sides.
static RAW: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());
static KICK: AtomicBool = AtomicBool::new(false);
static THREAD_WAIT: WaitQueue = WaitQueue::new();

/// The terminal, in an interactive run.
pub fn get() -> Option<&'static Tty> {
    TTY.get()
}

/// A process's controlling terminal.
pub enum Controlling {
    Console,
    Pty(alloc::sync::Arc<pty::Pty>),
}

/// The controlling terminal of `p`, if its session owns one.
pub fn controlling(p: &Process) -> Option<Controlling> {
    if get().is_some_and(|t| t.is_ctty_of(p)) {
        return Some(Controlling::Console);
    }
    pty::owned_by(p).map(Controlling::Pty)
}

/// Parses `kentry.tty=ROWSxCOLS`.
fn parse_winsize(v: &str) -> Option<Winsize> {
    let (r, c) = v.split_once('x')?;
    Some(Winsize {
        rows: r.parse().ok()?,
        cols: c.parse().ok()?,
        ..Winsize::default()
    })
}

/// Run mode: makes the console a tty if the command line says so (before the first program
/// starts, so pid 1's session owns it).
pub fn init(cmdline: &str) {
    let Some(ws) = crate::boot::cmdline_value(cmdline, "kentry.tty").and_then(parse_winsize) else {
        return;
    };
    TTY.call_once(|| Tty::new(Output::Console, ws, 1));
    let t = crate::task::Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "tty thread stack",
        tty_thread,
    );
    crate::sched::spawn(t);
    crate::x86::ioapic::route(COM1_IRQ, COM1_VECTOR, crate::x86::apic::id());
    crate::serial::enable_receive_interrupt();
    crate::klog!("tty: console is a terminal, {}x{}", ws.rows, ws.cols);
}

/// COM1's interrupt: moves the received bytes to [`RAW`] and wakes the tty thread.
pub fn com1_interrupt() {
    {
        let mut com1 = crate::serial::COM1.lock();
        let mut raw = RAW.lock();
        while let Some(b) = com1.read_byte() {
            if raw.len() < RAW_MAX {
                raw.push_back(b);
            }
        }
    }
    KICK.store(true, Ordering::Release);
    THREAD_WAIT.wake_all();
    crate::x86::apic::eoi();
}

/// Takes xtask's control messages out of the input stream.
#[derive(Default)]
struct Decoder {
    /// The bytes of a control message so far (empty: none under way).
    msg: Vec<u8>,
}

enum Input {
    Byte(u8),
    Winsize(Winsize),
}

impl Decoder {
    fn feed(&mut self, b: u8) -> Option<Input> {
        if self.msg.is_empty() {
            if b == INPUT_ESCAPE {
                self.msg.push(b);
                return None;
            }
            return Some(Input::Byte(b));
        }
        self.msg.push(b);
        match self.msg[1] {
            INPUT_ESCAPE => {
                self.msg.clear();
                Some(Input::Byte(INPUT_ESCAPE))
            }
            INPUT_WINSIZE if self.msg.len() == 6 => {
                let m = core::mem::take(&mut self.msg);
                Some(Input::Winsize(Winsize {
                    rows: u16::from_le_bytes([m[2], m[3]]),
                    cols: u16::from_le_bytes([m[4], m[5]]),
                    ..Winsize::default()
                }))
            }
            INPUT_WINSIZE => None,
            // Not a message xtask sends: dropped.
            _ => {
                self.msg.clear();
                None
            }
        }
    }
}

extern "C" fn tty_thread() -> ! {
    crate::sched::kernel_thread_prologue();
    let mut dec = Decoder::default();
    loop {
        THREAD_WAIT.wait_until(|| KICK.load(Ordering::Acquire), || false);
        KICK.store(false, Ordering::Release);
        let bytes: Vec<u8> =
            x86_64::instructions::interrupts::without_interrupts(|| RAW.lock().drain(..).collect());
        let Some(tty) = get() else { continue };
        for b in bytes {
            match dec.feed(b) {
                Some(Input::Byte(c)) => tty.receive(c),
                Some(Input::Winsize(ws)) => tty.resize(ws),
                None => {}
            }
        }
    }
}

/// Sends `sig` from the kernel to every process of group `pgrp` (Linux's kill_pgrp with
/// SEND_SIG_PRIV: si_code SI_KERNEL). Pid 1 is spared a signal it takes by default, as Linux
/// spares init.
fn kill_pgrp(pgrp: u32, sig: u8) {
    if pgrp == 0 {
        return;
    }
    for p in crate::process::group::members(pgrp) {
        if p.pid == 1 && p.sigactions.lock().get(sig).handler == signal::SIG_DFL {
            continue;
        }
        let info = SigInfo {
            signo: i32::from(sig),
            code: signal::SI_KERNEL,
            ..SigInfo::default()
        };
        signal::send_to_process_info(&p, sig, info);
    }
}

/// Session leader `p` is ending (Linux's `disassociate_ctty(1)` from do_exit, before its
/// children are handed on): its session loses its controlling terminal, whose foreground
/// group gets SIGHUP first. A pty's gets only that; the console's is hung up as Linux's
/// `tty_vhangup_session` does (SIGHUP and SIGCONT to the session's leader, which is `p`,
/// ending, so they are moot; SIGHUP to the foreground group). The console's open
/// descriptions are not hung up (reads of end of file, EIO for writes): `p` is pid 1, whose end
/// ends the run, since no other session can take the console while pid 1 lives.
pub fn disassociate_ctty_on_exit(p: &Process) {
    if p.pid != p.sid() {
        return;
    }
    let pty;
    let tty = match controlling(p) {
        None => return,
        Some(Controlling::Console) => get().expect("the console is a terminal"),
        Some(Controlling::Pty(t)) => {
            pty = t;
            &pty.tty
        }
    };
    let fg = tty.pgrp.swap(0, Ordering::AcqRel);
    tty.session.store(0, Ordering::Release);
    kill_pgrp(fg, signal::SIGHUP);
}

impl Tty {
    /// A terminal with the standard settings, owned by session `sid` (0: none) with that
    /// session's leader's group in the foreground.
    pub fn new(out: Output, ws: Winsize, sid: u32) -> Tty {
        Tty {
            out,
            ld: Mutex::new(Ldisc::new()),
            winsize: Mutex::new(ws),
            session: AtomicU32::new(sid),
            pgrp: AtomicU32::new(sid),
            ready: AtomicUsize::new(0),
            poll_min: AtomicUsize::new(1),
            read_wait: WaitQueue::new(),
            seq: crate::event::PollSeq::new(),
            hung_up: AtomicBool::new(false),
        }
    }

    /// The other side is gone (a pty's master closed): readers and pollers wake to EIO.
    pub fn hang_up(&self) {
        self.hung_up.store(true, Ordering::Release);
        self.read_wait.wake_all();
        self.seq.wake_both();
    }

    /// Output after processing: to the console (on stream 1 or 2), or to the master.
    fn emit(&self, stream: u32, bytes: &[u8]) {
        match &self.out {
            Output::Console => crate::console::user_write(stream, bytes),
            Output::Pty(q) => q.push(bytes),
        }
    }

    /// One input byte through the line discipline; its echo and signal after the lock.
    pub fn receive(&self, c: u8) {
        let mut fx = Effects::default();
        let mut out = Vec::new();
        {
            let mut ld = self.ld.lock();
            ld.receive(c, &mut fx);
            ldisc::opost(&ld.termios, &fx.echo, &mut out);
            self.publish(&ld);
        }
        if !out.is_empty() {
            self.emit(1, &out);
        }
        if let Some(sig) = fx.signal {
            kill_pgrp(self.pgrp.load(Ordering::Acquire), sig);
        }
    }

    /// After a change of the line discipline's input: readiness for waiters and pollers.
    fn publish(&self, ld: &Ldisc) {
        let n = ld.readable();
        let old = self.ready.swap(n, Ordering::AcqRel);
        if n > old {
            self.read_wait.wake_all();
            self.seq.wake_rd();
        }
    }

    /// A new window size (from xtask or TIOCSWINSZ): SIGWINCH to the foreground group when it
    /// changed, as Linux's tty_do_resize.
    pub fn resize(&self, ws: Winsize) {
        let changed = {
            let mut w = self.winsize.lock();
            let changed = *w != ws;
            *w = ws;
            changed
        };
        if changed {
            kill_pgrp(self.pgrp.load(Ordering::Acquire), signal::SIGWINCH);
        }
    }

    /// Whether this is `p`'s controlling terminal: `p` is in the session that owns it.
    pub fn is_ctty_of(&self, p: &Process) -> bool {
        let s = self.session.load(Ordering::Acquire);
        s != 0 && p.sid() == s
    }

    /// Linux's __tty_check_change: a process of the terminal's session outside its
    /// foreground group that reads (SIGTTIN), or changes settings or writes under TOSTOP
    /// (SIGTTOU), stops its group with that signal and retries the call once continued. With
    /// the signal blocked or ignored a read fails (EIO) and the rest goes ahead; an orphaned
    /// group gets EIO, since nobody would continue it.
    pub fn check_change(&self, sig: u8) -> Result<(), i64> {
        let me = crate::task::current();
        let p = &me.process;
        if !self.is_ctty_of(p) {
            return Ok(());
        }
        let fg = self.pgrp.load(Ordering::Acquire);
        if fg == 0 || p.pgid() == fg {
            return Ok(());
        }
        let blocked = crate::task::current_inner().sigmask & signal::bit(sig) != 0;
        if blocked || p.sigactions.lock().get(sig).handler == SIG_IGN {
            return if sig == signal::SIGTTIN {
                Err(-EIO)
            } else {
                Ok(())
            };
        }
        if crate::process::group::is_orphaned(p.pgid(), None) {
            return Err(-EIO);
        }
        kill_pgrp(p.pgid(), sig);
        Err(-ERESTARTSYS)
    }

    /// read(2): a line in canonical mode; otherwise as VMIN and VTIME say (Linux's
    /// n_tty_read): MIN 0 TIME 0 returns what is there, MIN>0 TIME 0 waits for MIN bytes (or
    /// as many as `buf` holds), MIN 0 TIME>0 waits up to TIME tenths of a second for any byte,
    /// MIN>0 TIME>0 waits for the first byte, then for MIN with TIME between bytes.
    pub fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, i64> {
        self.check_change(signal::SIGTTIN)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let (canon, vmin, vtime) = {
            let ld = self.ld.lock();
            let t = &ld.termios;
            (t.l(ICANON), usize::from(t.cc[VMIN]), u64::from(t.cc[VTIME]))
        };
        let need = if canon { 1 } else { vmin.min(buf.len()) };
        // TIME counts from the call with MIN 0, from each byte after the first otherwise.
        let mut deadline = (!canon && vtime > 0 && vmin == 0)
            .then(|| crate::time::deadline_after_ns(vtime * 100_000_000));
        loop {
            let have = self.ready.load(Ordering::Acquire);
            let timed_out = deadline.is_some_and(|d| crate::sched::ticks() >= d);
            if have >= need.max(1) || (have > 0 && (timed_out || need == 0)) {
                let mut ld = self.ld.lock();
                if let Some(n) = ld.read(buf) {
                    self.publish(&ld);
                    return Ok(n);
                }
                continue;
            }
            if !canon && (need == 0 || timed_out) {
                return Ok(0);
            }
            if self.hung_up.load(Ordering::Acquire) {
                return Err(-EIO);
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            if !canon && vtime > 0 && vmin > 0 && have > 0 {
                deadline = Some(crate::time::deadline_after_ns(vtime * 100_000_000));
            }
            if let Some(d) = deadline {
                crate::sched::add_timeout(d);
            }
            let woke = self.read_wait.wait_until(
                || {
                    let now = self.ready.load(Ordering::Acquire);
                    now >= need.max(1)
                        || now > have
                        || self.hung_up.load(Ordering::Acquire)
                        || deadline.is_some_and(|d| crate::sched::ticks() >= d)
                },
                signal::interrupted,
            );
            if !woke {
                return Err(-ERESTARTSYS);
            }
        }
    }

    /// write(2) on the terminal by stream `stream` (1 or 2): output processing, then the
    /// console. A background process under TOSTOP is stopped first.
    pub fn write(&self, stream: u32, buf: &[u8]) -> Result<usize, i64> {
        if self.hung_up.load(Ordering::Acquire) {
            return Err(-EIO);
        }
        let t = self.ld.lock().termios;
        if t.l(TOSTOP) {
            self.check_change(signal::SIGTTOU)?;
        }
        let mut out = Vec::with_capacity(buf.len() + buf.len() / 8);
        ldisc::opost(&t, buf, &mut out);
        self.emit(stream, &out);
        Ok(buf.len())
    }

    /// poll(2): readable as a read would not wait (for MIN>0 TIME 0, MIN bytes), always
    /// writable.
    pub fn poll_events(&self) -> u16 {
        use crate::fs::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
        let n = self.ready.load(Ordering::Acquire);
        let need = self.poll_min.load(Ordering::Acquire);
        let mut ev = POLLOUT | POLLWRNORM;
        if n >= need {
            ev |= POLLIN | POLLRDNORM;
        }
        if self.hung_up.load(Ordering::Acquire) {
            ev |= crate::fs::POLLHUP;
        }
        ev
    }

    pub fn poll_seq(&self) -> [u64; 2] {
        self.seq.get()
    }
}

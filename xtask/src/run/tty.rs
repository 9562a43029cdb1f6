//! `cargo xtask run` on a terminal (docs/tty.md): the host terminal goes into raw mode, so
//! every key reaches the guest's tty as typed (^C included), and comes back to its settings
//! on every way out: the run's end, an error, a panic, or a signal that ends xtask.
//!
//! Input travels on COM1 (QEMU's serial chardev on a pipe that xtask writes). The stream
//! carries xtask's control messages too, each led by the byte 0xfe, which UTF-8 never uses:
//! `0xfe 0xfe` is a typed 0xfe, `0xfe 'W' rows cols` (u16 little-endian each) the terminal's
//! new size, sent at each SIGWINCH. The kernel side is kernel/src/tty/mod.rs.

use std::io::Write;
use std::os::fd::RawFd;
use std::process::ChildStdin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The escape byte of the input stream and the window-size message kind (the kernel's
/// `tty::INPUT_ESCAPE`, `tty::INPUT_WINSIZE`).
pub const INPUT_ESCAPE: u8 = 0xfe;
pub const INPUT_WINSIZE: u8 = b'W';

const STDIN: RawFd = 0;

/// The terminal's settings before raw mode, for every restorer (a signal handler reads it
/// too: it is set once before any handler is installed).
static SAVED: OnceLock<libc::termios> = OnceLock::new();
/// The write end of the SIGWINCH self-pipe (-1: none).
static WINCH_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Whether stdin is a terminal whose settings xtask can read.
pub fn stdin_is_terminal() -> bool {
    // SAFETY: isatty on fd 0 reads no memory of ours.
    unsafe { libc::isatty(STDIN) == 1 }
}

/// The terminal's size (rows, columns), (24, 80) if it does not say.
pub fn window_size() -> (u16, u16) {
    // SAFETY: a winsize is plain integers: all zeroes is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one `winsize` into `ws`, which lives across the call.
    let ok = unsafe { libc::ioctl(STDIN, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_row > 0 && ws.ws_col > 0 {
        (ws.ws_row, ws.ws_col)
    } else {
        (24, 80)
    }
}

fn restore() {
    if let Some(t) = SAVED.get() {
        // SAFETY: tcsetattr with a termios read from this terminal; async-signal-safe.
        unsafe { libc::tcsetattr(STDIN, libc::TCSAFLUSH, t) };
    }
}

/// A signal that ends xtask: restore the terminal, then die of the signal as before.
extern "C" fn on_fatal_signal(sig: libc::c_int) {
    restore();
    // SAFETY: resetting the disposition and raising again, both async-signal-safe.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) of one byte from a static; async-signal-safe. A full pipe already
        // holds a wake-up, so a failed write loses nothing.
        unsafe { libc::write(fd, b"w".as_ptr().cast(), 1) };
    }
}

/// Raw mode for the run's length; dropping it restores the terminal.
pub struct RawMode(());

impl RawMode {
    /// Puts the terminal into raw mode (cfmakeraw: no echo, no line editing, no signals from
    /// keys, no CR/NL translation; the guest's tty does all that) and arms the restorers.
    pub fn enter() -> std::io::Result<RawMode> {
        // SAFETY: a termios is plain integers: all zeroes is a valid value.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr fills `t`, which lives across the call.
        if unsafe { libc::tcgetattr(STDIN, &mut t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let _ = SAVED.set(t);
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            prev(info);
        }));
        for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
            // SAFETY: installing a handler that only makes async-signal-safe calls.
            unsafe {
                libc::signal(
                    sig,
                    on_fatal_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
                )
            };
        }
        let mut raw = t;
        // SAFETY: cfmakeraw edits the struct in place; tcsetattr applies it to fd 0.
        unsafe {
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(STDIN, libc::TCSAFLUSH, &raw) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Adds `bytes` to `out` as the input stream carries them (a 0xfe doubled).
pub fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == INPUT_ESCAPE {
            out.push(INPUT_ESCAPE);
        }
    }
}

/// The window-size message.
pub fn winsize_message(rows: u16, cols: u16) -> [u8; 6] {
    let [r0, r1] = rows.to_le_bytes();
    let [c0, c1] = cols.to_le_bytes();
    [INPUT_ESCAPE, INPUT_WINSIZE, r0, r1, c0, c1]
}

/// Forwards this terminal to QEMU's serial input: the keys as typed, and each new window
/// size. Two threads, left running until xtask exits (a read of the terminal cannot be
/// called off).
pub fn forward(serial: ChildStdin) {
    let serial = Arc::new(Mutex::new(serial));
    let keys = serial.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut out = Vec::new();
        loop {
            // SAFETY: read(2) into `buf`, which lives across the call.
            let n = unsafe { libc::read(STDIN, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                if n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                return;
            }
            out.clear();
            escape(&buf[..n as usize], &mut out);
            let mut s = keys.lock().unwrap_or_else(|e| e.into_inner());
            if s.write_all(&out).and_then(|()| s.flush()).is_err() {
                return;
            }
        }
    });
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills `fds`; the handler only writes to the write end.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return;
    }
    WINCH_PIPE.store(fds[1], Ordering::Relaxed);
    // SAFETY: installing a handler that only makes an async-signal-safe write.
    unsafe {
        libc::signal(
            libc::SIGWINCH,
            on_winch as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
    std::thread::spawn(move || {
        let mut last = window_size();
        loop {
            let mut pfd = libc::pollfd {
                fd: fds[0],
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one pollfd, then draining the pipe into a local buffer.
            unsafe {
                if libc::poll(&mut pfd, 1, -1) < 0 {
                    continue;
                }
                let mut sink = [0u8; 64];
                while libc::read(fds[0], sink.as_mut_ptr().cast(), sink.len()) > 0 {}
            }
            let now = window_size();
            if now == last {
                continue;
            }
            last = now;
            let mut s = serial.lock().unwrap_or_else(|e| e.into_inner());
            if s.write_all(&winsize_message(now.0, now.1))
                .and_then(|()| s.flush())
                .is_err()
            {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escape_byte_is_doubled_and_nothing_else_changes() {
        let mut out = Vec::new();
        escape(b"a\xfeb\xfe\xfe", &mut out);
        assert_eq!(out, b"a\xfe\xfeb\xfe\xfe\xfe\xfe");
        assert_eq!(winsize_message(0x0102, 80), [0xfe, b'W', 2, 1, 80, 0]);
    }
}

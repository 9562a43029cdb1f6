//! The terminal's ioctls, with Linux's checks (drivers/tty/tty_io.c, tty_ioctl.c, tty_jobctrl.c).
//! The request numbers are the same for i386 programs, and so are the structures (termios,
//! winsize, pid_t), so the i386 ioctl lands here unchanged.

use super::Tty;
use super::termios::{
    ICANON, TERMIO_SIZE, TERMIOS_SIZE, TERMIOS2_SIZE, Termios, VMIN, VTIME, Winsize,
};
use crate::signal;
use crate::syscall::errno::*;
use crate::uaccess::{copy_from_user, copy_to_user};
use core::sync::atomic::Ordering;

pub const TCGETS: u64 = 0x5401;
pub const TCSETS: u64 = 0x5402;
pub const TCSETSW: u64 = 0x5403;
pub const TCSETSF: u64 = 0x5404;
pub const TCGETA: u64 = 0x5405;
pub const TCSETA: u64 = 0x5406;
pub const TCSETAW: u64 = 0x5407;
pub const TCSETAF: u64 = 0x5408;
pub const TCSBRK: u64 = 0x5409;
pub const TCXONC: u64 = 0x540a;
pub const TCFLSH: u64 = 0x540b;
pub const TIOCSCTTY: u64 = 0x540e;
pub const TIOCGPGRP: u64 = 0x540f;
pub const TIOCSPGRP: u64 = 0x5410;
pub const TIOCOUTQ: u64 = 0x5411;
pub const TIOCSTI: u64 = 0x5412;
pub const TIOCGWINSZ: u64 = 0x5413;
pub const TIOCSWINSZ: u64 = 0x5414;
pub const FIONREAD: u64 = 0x541b;
pub const TIOCNOTTY: u64 = 0x5422;
pub const TCSBRKP: u64 = 0x5425;
pub const TIOCGSID: u64 = 0x5429;
/// `_IOR('T', 0x2a, struct termios2)` and the three `_IOW`s after it.
pub const TCGETS2: u64 = 0x802c_542a;
pub const TCSETS2: u64 = 0x402c_542b;
pub const TCSETSW2: u64 = 0x402c_542c;
pub const TCSETSF2: u64 = 0x402c_542d;

/// Test kernels (`kentry.break=tiocsti_perm`): TIOCSTI asks for neither the controlling
/// terminal nor CAP_SYS_ADMIN.
#[cfg(feature = "test-hooks")]
pub static BREAK_TIOCSTI_PERM: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Whether the caller may push input into `tty` (Linux's tiocsti check): its controlling
/// terminal, or CAP_SYS_ADMIN.
fn may_tiocsti(tty: &Tty, p: &crate::process::Process) -> bool {
    #[cfg(feature = "test-hooks")]
    if BREAK_TIOCSTI_PERM.load(Ordering::Relaxed) {
        return true;
    }
    tty.is_ctty_of(p) || crate::process::cred::capable(p)
}

/// TCFLSH's queue selectors.
const TCIFLUSH: u64 = 0;
const TCIOFLUSH: u64 = 2;

fn put_i32(arg: u64, v: i32) -> Result<usize, i64> {
    copy_to_user(arg, &v.to_ne_bytes()).map_err(|_| -EFAULT)?;
    Ok(0)
}

fn get_i32(arg: u64) -> Result<i32, i64> {
    let mut b = [0u8; 4];
    copy_from_user(&mut b, arg).map_err(|_| -EFAULT)?;
    Ok(i32::from_ne_bytes(b))
}

/// A global id as the calling process's PID namespace sees it.
fn vnr(global: u32) -> i32 {
    let me = crate::task::current();
    crate::process::pid_ns::global_to_vnr(global, me.process.pid_ns()) as i32
}

impl Tty {
    /// New settings from TCSETS*, TCSETS*2 or TCSETA*: their speeds made real (Linux's
    /// set_termios), the line discipline's, and the readiness they imply.
    fn set_termios(&self, mut t: Termios, flush: bool) {
        t.load_speeds();
        let mut ld = self.ld.lock();
        if flush {
            ld.flush_input();
        }
        ld.set_termios(t);
        let min = if !t.l(ICANON) && t.cc[VTIME] == 0 {
            usize::from(t.cc[VMIN]).max(1)
        } else {
            1
        };
        self.poll_min.store(min, Ordering::Release);
        // Recomputed both ways: leaving canonical mode can make bytes readable, entering it
        // can make fewer "lines" than there were bytes.
        let n = ld.readable();
        self.ready.store(n, Ordering::Release);
        drop(ld);
        self.read_wait.wake_all();
        self.seq.wake_rd();
    }

    /// ioctl(2) on the terminal; unknown requests are ENOTTY, as Linux's tty_ioctl ends.
    pub fn ioctl(&self, req: u64, arg: u64) -> Result<usize, i64> {
        let me = crate::task::current();
        let p = &me.process;
        match req {
            TCGETS => {
                let t = self.ld.lock().termios;
                copy_to_user(arg, &t.to_bytes()).map_err(|_| -EFAULT)?;
                Ok(0)
            }
            TCGETS2 => {
                let t = self.ld.lock().termios;
                copy_to_user(arg, &t.to_bytes2()).map_err(|_| -EFAULT)?;
                Ok(0)
            }
            TCGETA => {
                let t = self.ld.lock().termios;
                copy_to_user(arg, &t.to_termio()).map_err(|_| -EFAULT)?;
                Ok(0)
            }
            // Linux's set_termios: the job-control check, then the caller's structure over
            // the current settings, then the speeds made real. Output is written out
            // synchronously: the W forms have nothing to wait for.
            TCSETS | TCSETSW | TCSETSF => {
                self.check_change(signal::SIGTTOU)?;
                let mut b = [0u8; TERMIOS_SIZE];
                copy_from_user(&mut b, arg).map_err(|_| -EFAULT)?;
                let t = self.ld.lock().termios.with_bytes(&b);
                self.set_termios(t, req == TCSETSF);
                Ok(0)
            }
            TCSETS2 | TCSETSW2 | TCSETSF2 => {
                self.check_change(signal::SIGTTOU)?;
                let mut b = [0u8; TERMIOS2_SIZE];
                copy_from_user(&mut b, arg).map_err(|_| -EFAULT)?;
                self.set_termios(Termios::from_bytes2(&b), req == TCSETSF2);
                Ok(0)
            }
            TCSETA | TCSETAW | TCSETAF => {
                self.check_change(signal::SIGTTOU)?;
                let mut b = [0u8; TERMIO_SIZE];
                copy_from_user(&mut b, arg).map_err(|_| -EFAULT)?;
                let t = self.ld.lock().termios.with_termio(&b);
                self.set_termios(t, req == TCSETAF);
                Ok(0)
            }
            // tcdrain and tcsendbreak: output is never queued, a break means nothing here.
            TCSBRK | TCSBRKP => Ok(0),
            TCXONC => match arg {
                0..=3 => Ok(0),
                _ => Err(-EINVAL),
            },
            TCFLSH => {
                self.check_change(signal::SIGTTOU)?;
                match arg {
                    TCIFLUSH | TCIOFLUSH => {
                        let mut ld = self.ld.lock();
                        ld.flush_input();
                        self.ready.store(ld.readable(), Ordering::Release);
                        Ok(0)
                    }
                    1 => Ok(0),
                    _ => Err(-EINVAL),
                }
            }
            TIOCOUTQ => put_i32(arg, 0),
            // tiocsti: a byte as if typed, through the line discipline (echo, signals, a
            // line); only on the caller's controlling terminal without CAP_SYS_ADMIN.
            TIOCSTI => {
                if !may_tiocsti(self, p) {
                    return Err(-EPERM);
                }
                let mut c = [0u8; 1];
                copy_from_user(&mut c, arg).map_err(|_| -EFAULT)?;
                self.receive(c[0]);
                Ok(0)
            }
            FIONREAD => {
                let n = self.ld.lock().available();
                put_i32(arg, n.min(i32::MAX as usize) as i32)
            }
            TIOCGWINSZ => {
                let w = *self.winsize.lock();
                copy_to_user(arg, &w.to_bytes()).map_err(|_| -EFAULT)?;
                Ok(0)
            }
            TIOCSWINSZ => {
                let mut b = [0u8; 8];
                copy_from_user(&mut b, arg).map_err(|_| -EFAULT)?;
                self.resize(Winsize::from_bytes(&b));
                Ok(0)
            }
            // tiocgpgrp: only for the caller's own controlling terminal.
            TIOCGPGRP => {
                if !self.is_ctty_of(p) {
                    return Err(-ENOTTY);
                }
                put_i32(arg, vnr(self.pgrp.load(Ordering::Acquire)))
            }
            TIOCSPGRP => {
                // tiocspgrp: a background caller is stopped first (SIGTTOU), and an orphaned
                // one told ENOTTY rather than EIO.
                match self.check_change(signal::SIGTTOU) {
                    Err(e) if e == -EIO => return Err(-ENOTTY),
                    Err(e) => return Err(e),
                    Ok(()) => {}
                }
                if !self.is_ctty_of(p) {
                    return Err(-ENOTTY);
                }
                let nr = get_i32(arg)?;
                if nr < 0 {
                    return Err(-EINVAL);
                }
                let group = crate::process::pid_ns::current_vnr_to_global(nr as u32)
                    .map(crate::process::group::members)
                    .filter(|m| !m.is_empty())
                    .ok_or(-ESRCH)?;
                if group.iter().any(|m| m.sid() != p.sid()) {
                    return Err(-EPERM);
                }
                self.pgrp.store(group[0].pgid(), Ordering::Release);
                Ok(0)
            }
            TIOCGSID => {
                let s = self.session.load(Ordering::Acquire);
                if !self.is_ctty_of(p) || s == 0 {
                    return Err(-ENOTTY);
                }
                put_i32(arg, vnr(s))
            }
            // tiocsctty: a session leader without a terminal takes this one if no live
            // session holds it (stealing one with arg 1 is not done: EPERM).
            TIOCSCTTY => {
                let leader = p.pid == p.sid();
                if leader && self.is_ctty_of(p) {
                    return Ok(0);
                }
                // A leader with another terminal already: EPERM.
                if !leader || super::controlling(p).is_some() {
                    return Err(-EPERM);
                }
                let held = self.session.load(Ordering::Acquire);
                if held != 0
                    && crate::process::all_user_processes()
                        .iter()
                        .any(|q| q.sid() == held && q.exit_reason().is_none())
                {
                    return Err(-EPERM);
                }
                self.session.store(p.sid(), Ordering::Release);
                self.pgrp.store(p.pgid(), Ordering::Release);
                Ok(0)
            }
            // The session leader gives the terminal up: its foreground group gets SIGHUP and
            // SIGCONT (disassociate_ctty). Any other member is told yes, but keeps it: kentry
            // keeps no per-process terminal apart from the session.
            TIOCNOTTY => {
                if !self.is_ctty_of(p) {
                    return Err(-ENOTTY);
                }
                if p.pid == p.sid() {
                    let fg = self.pgrp.swap(0, Ordering::AcqRel);
                    self.session.store(0, Ordering::Release);
                    super::kill_pgrp(fg, signal::SIGHUP);
                    super::kill_pgrp(fg, signal::SIGCONT);
                }
                Ok(0)
            }
            _ => Err(-ENOTTY),
        }
    }
}

//! Pseudo-terminals: /dev/ptmx makes a pair, the master a plain byte channel and the slave
//! /dev/pts/N a terminal with the same line discipline as the console's (docs/tty.md). What
//! the master writes is the slave's input; what the slave writes, and the echo, is what the
//! master reads.
//!
//! As on Linux: the slave cannot be opened while the pair is locked (TIOCSPTLCK, set at
//! creation: unlockpt clears it), the master's TIOCGPTN gives N, and once every slave
//! description that was opened is closed the master reads EIO; /dev/pts/N goes when the
//! master does.

use super::{Output, Tty};
use crate::sched::WaitQueue;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use termios::Winsize;

use super::termios;

pub const TIOCGPTN: u64 = 0x8004_5430;
pub const TIOCSPTLCK: u64 = 0x4004_5431;
pub const TIOCGPTLCK: u64 = 0x8004_5439;

/// What the master has to read, bounded as Linux's pty buffer (writes beyond are dropped:
/// kentry's slave writes do not wait for the master).
const MASTER_MAX: usize = 65536;

pub struct MasterQueue {
    buf: Mutex<VecDeque<u8>>,
    len: AtomicUsize,
    wait: WaitQueue,
    seq: crate::event::PollSeq,
}

impl MasterQueue {
    fn new() -> MasterQueue {
        MasterQueue {
            buf: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            wait: WaitQueue::new(),
            seq: crate::event::PollSeq::new(),
        }
    }

    pub fn push(&self, bytes: &[u8]) {
        {
            let mut b = self.buf.lock();
            let room = MASTER_MAX.saturating_sub(b.len());
            b.extend(&bytes[..bytes.len().min(room)]);
            self.len.store(b.len(), Ordering::Release);
        }
        self.wait.wake_all();
        self.seq.wake_rd();
    }
}

pub struct Pty {
    pub index: u32,
    pub tty: Tty,
    locked: AtomicBool,
    /// Open slave descriptions, and whether one was ever opened (the master's EIO).
    slaves: AtomicUsize,
    slave_opened: AtomicBool,
}

static PTYS: Mutex<BTreeMap<u32, Weak<Pty>>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU32 = AtomicU32::new(0);

fn queue(p: &Pty) -> &MasterQueue {
    match &p.tty.out {
        Output::Pty(q) => q,
        Output::Console => unreachable!("a pty's output is its master"),
    }
}

/// Opening /dev/ptmx: a new locked pair and its /dev/pts/N.
pub fn open_master() -> Arc<Pty> {
    let index = NEXT.fetch_add(1, Ordering::Relaxed);
    let p = Arc::new(Pty {
        index,
        tty: Tty::new(Output::Pty(MasterQueue::new()), Winsize::default(), 0),
        locked: AtomicBool::new(true),
        slaves: AtomicUsize::new(0),
        slave_opened: AtomicBool::new(false),
    });
    PTYS.lock().insert(index, Arc::downgrade(&p));
    crate::fs::add_pts_node(index);
    p
}

/// Opening /dev/pts/N: EIO while locked or once the master is gone.
pub fn open_slave(index: u32) -> Result<Arc<Pty>, i64> {
    let p = PTYS
        .lock()
        .get(&index)
        .and_then(Weak::upgrade)
        .ok_or(-EIO)?;
    if p.locked.load(Ordering::Acquire) {
        return Err(-EIO);
    }
    p.slaves.fetch_add(1, Ordering::AcqRel);
    p.slave_opened.store(true, Ordering::Release);
    Ok(p)
}

/// The pty whose slave is the controlling terminal of `p`'s session.
pub fn owned_by(p: &crate::process::Process) -> Option<Arc<Pty>> {
    // Collected first: a reference let go under the registry's lock could be the last one,
    // whose drop takes that lock.
    let all: alloc::vec::Vec<Arc<Pty>> = PTYS.lock().values().filter_map(Weak::upgrade).collect();
    all.into_iter().find(|pty| pty.tty.is_ctty_of(p))
}

impl Pty {
    /// Another slave description (an open of /dev/tty naming this slave).
    pub fn slave_opened(self: &Arc<Self>) -> Arc<Pty> {
        self.slaves.fetch_add(1, Ordering::AcqRel);
        self.clone()
    }

    /// A slave description was closed.
    pub fn slave_closed(&self) {
        self.slaves.fetch_sub(1, Ordering::AcqRel);
        let q = queue(self);
        q.wait.wake_all();
        q.seq.wake_both();
    }

    fn slaves_gone(&self) -> bool {
        self.slave_opened.load(Ordering::Acquire) && self.slaves.load(Ordering::Acquire) == 0
    }

    /// The master's read: what the slave wrote and the echo; EIO once every slave closed
    /// with nothing left.
    pub fn master_read(&self, out: &mut [u8], nonblock: bool) -> Result<usize, i64> {
        let q = queue(self);
        loop {
            {
                let mut b = q.buf.lock();
                if !b.is_empty() {
                    let n = out.len().min(b.len());
                    for (d, s) in out.iter_mut().zip(b.drain(..n)) {
                        *d = s;
                    }
                    q.len.store(b.len(), Ordering::Release);
                    return Ok(n);
                }
            }
            if self.slaves_gone() {
                return Err(-EIO);
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            let woke = q.wait.wait_until(
                || q.len.load(Ordering::Acquire) > 0 || self.slaves_gone(),
                crate::signal::interrupted,
            );
            if !woke {
                return Err(-ERESTARTSYS);
            }
        }
    }

    /// The master's write: the slave's input, byte by byte through its line discipline.
    pub fn master_write(&self, data: &[u8]) -> Result<usize, i64> {
        for &c in data {
            self.tty.receive(c);
        }
        Ok(data.len())
    }

    pub fn master_poll(&self) -> u16 {
        use crate::fs::{POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
        let mut ev = POLLOUT | POLLWRNORM;
        if queue(self).len.load(Ordering::Acquire) > 0 {
            ev |= POLLIN | POLLRDNORM;
        }
        if self.slaves_gone() {
            ev |= POLLHUP;
        }
        ev
    }

    pub fn master_seq(&self) -> [u64; 2] {
        queue(self).seq.get()
    }

    /// The master's own requests; the rest are the terminal's.
    pub fn master_ioctl(&self, req: u64, arg: u64) -> Result<usize, i64> {
        let put = |v: u32| {
            crate::uaccess::copy_to_user(arg, &v.to_ne_bytes()).map_err(|_| -EFAULT)?;
            Ok(0)
        };
        match req {
            TIOCGPTN => put(self.index),
            TIOCGPTLCK => put(u32::from(self.locked.load(Ordering::Acquire))),
            // The master's own input, which Linux's master line discipline (raw) hands to the
            // master's reader as it is. The master is nobody's controlling terminal: only
            // with CAP_SYS_ADMIN.
            super::ioctl::TIOCSTI => {
                if !crate::process::cred::capable(&crate::task::current().process) {
                    return Err(-EPERM);
                }
                let mut c = [0u8; 1];
                crate::uaccess::copy_from_user(&mut c, arg).map_err(|_| -EFAULT)?;
                queue(self).push(&c);
                Ok(0)
            }
            TIOCSPTLCK => {
                let mut v = [0u8; 4];
                crate::uaccess::copy_from_user(&mut v, arg).map_err(|_| -EFAULT)?;
                self.locked
                    .store(i32::from_ne_bytes(v) != 0, Ordering::Release);
                Ok(0)
            }
            _ => self.tty.ioctl(req, arg),
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        PTYS.lock().remove(&self.index);
        crate::fs::remove_pts_node(self.index);
    }
}

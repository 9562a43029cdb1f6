//! eventfd and eventfd2: a 64-bit counter as a file (Linux's fs/eventfd.c).
//!
//! A write adds its 8-byte value (u64::MAX is EINVAL); a write that would bring the counter
//! to u64::MAX or past waits for a read, or fails with EAGAIN when non-blocking, so the
//! counter never exceeds u64::MAX - 1. A read takes the whole counter, or 1 with
//! EFD_SEMAPHORE, and waits (EAGAIN) while it is 0. Readable while the counter is not 0,
//! writable while 1 more fits.

use super::{PollSeq, ret};
use crate::fs::pipe::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::fs::{self, File, FileKind, O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::sched::WaitQueue;
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use kentry::Regs;
use kentry_abi::nr;

pub const EFD_SEMAPHORE: u32 = 1;
pub const EFD_CLOEXEC: u32 = O_CLOEXEC;
pub const EFD_NONBLOCK: u32 = O_NONBLOCK;
/// The largest value the counter can hold (Linux's ULLONG_MAX - 1).
const MAX: u64 = u64::MAX - 1;

pub const fn register(mut t: Table) -> Table {
    t[nr::EVENTFD] = sys_eventfd;
    t[nr::EVENTFD2] = sys_eventfd2;
    t
}

pub struct EventFd {
    count: AtomicU64,
    semaphore: bool,
    /// Readers wait for a count, writers for room.
    wait: WaitQueue,
    pub seq: PollSeq,
}

impl EventFd {
    /// Takes the count (or 1 of it), if any.
    fn take(&self) -> Option<u64> {
        let mut c = self.count.load(Ordering::Acquire);
        loop {
            if c == 0 {
                return None;
            }
            let got = if self.semaphore { 1 } else { c };
            match self
                .count
                .compare_exchange(c, c - got, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(got),
                Err(now) => c = now,
            }
        }
    }

    /// Adds `v` if the counter stays at most MAX.
    fn add(&self, v: u64) -> bool {
        let mut c = self.count.load(Ordering::Acquire);
        loop {
            if MAX - c < v {
                return false;
            }
            match self
                .count
                .compare_exchange(c, c + v, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
    }

    pub fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, i64> {
        if buf.len() < 8 {
            return Err(-EINVAL);
        }
        loop {
            if let Some(v) = self.take() {
                buf[..8].copy_from_slice(&v.to_ne_bytes());
                self.wait.wake_all();
                self.seq.wake_wr();
                return Ok(8);
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            if !self.wait.wait_until(
                || self.count.load(Ordering::Acquire) != 0,
                crate::signal::interrupted,
            ) {
                return Err(-ERESTARTSYS);
            }
        }
    }

    pub fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, i64> {
        if buf.len() < 8 {
            return Err(-EINVAL);
        }
        let v = u64::from_ne_bytes(buf[..8].try_into().unwrap());
        if v == u64::MAX {
            return Err(-EINVAL);
        }
        loop {
            if self.add(v) {
                if v != 0 {
                    self.wait.wake_all();
                }
                // Linux wakes the readers for every write, a zero one included.
                self.seq.wake_rd();
                return Ok(8);
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            if !self.wait.wait_until(
                || MAX - self.count.load(Ordering::Acquire) >= v,
                crate::signal::interrupted,
            ) {
                return Err(-ERESTARTSYS);
            }
        }
    }

    pub fn poll_events(&self) -> u16 {
        let c = self.count.load(Ordering::Acquire);
        let mut ev = 0;
        if c > 0 {
            ev |= POLLIN | POLLRDNORM;
        }
        if c < MAX {
            ev |= POLLOUT | POLLWRNORM;
        }
        ev
    }
}

fn sys_eventfd(regs: &mut Regs) -> i64 {
    ret(eventfd2(regs.rdi as u32, 0))
}

fn sys_eventfd2(regs: &mut Regs) -> i64 {
    ret(eventfd2(regs.rdi as u32, regs.rsi as u32))
}

fn eventfd2(initval: u32, flags: u32) -> Result<i64, i64> {
    if flags & !(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK) != 0 {
        return Err(-EINVAL);
    }
    let e = Arc::new(EventFd {
        count: AtomicU64::new(u64::from(initval)),
        semaphore: flags & EFD_SEMAPHORE != 0,
        wait: WaitQueue::new(),
        seq: PollSeq::new(),
    });
    let file = File::new(FileKind::EventFd(e), O_RDWR | (flags & EFD_NONBLOCK));
    Ok(fs::install_file(file, flags & EFD_CLOEXEC != 0)? as i64)
}

//! Pipes: a 64 KiB byte queue between reading and writing file descriptions.
//!
//! Reads block until data arrives or every writer is gone (end of file); writes block until
//! there is room, and fail with EPIPE (plus SIGPIPE) once every reader is gone. Writes of at
//! most PIPE_BUF bytes are atomic. A signal ends a wait with EINTR (or the count already
//! moved). The wait conditions read only atomics, never a lock.

use crate::sched::WaitQueue;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Every change of any pipe's readiness wakes this queue: poll/select wait here for any of
/// their descriptors to become ready.
pub static POLL_WAIT: WaitQueue = WaitQueue::new();

pub const PIPE_BUF: usize = 4096;
pub const PIPE_CAPACITY: usize = 65536;

pub struct Pipe {
    pub ino: u64,
    buf: Mutex<VecDeque<u8>>,
    /// Bytes in `buf` (for the wait conditions).
    len: AtomicUsize,
    readers: AtomicUsize,
    writers: AtomicUsize,
    /// Readers wait here for data or the last writer's close.
    read_wait: WaitQueue,
    /// Writers wait here for room or the last reader's close.
    write_wait: WaitQueue,
    /// Wake-up counts for edge-triggered epoll: `rd` for the reading end, `wr` for the
    /// writing end. Each bump also wakes [`POLL_WAIT`].
    seq: crate::event::PollSeq,
}

impl Pipe {
    /// A pipe with one reading and one writing end.
    pub fn new() -> Arc<Pipe> {
        Arc::new(Pipe {
            ino: super::node::alloc_ino(),
            buf: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            readers: AtomicUsize::new(1),
            writers: AtomicUsize::new(1),
            read_wait: WaitQueue::new(),
            write_wait: WaitQueue::new(),
            seq: crate::event::PollSeq::new(),
        })
    }

    /// Bytes waiting to be read (FIONREAD).
    pub fn available(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Reads up to `out.len()` bytes; 0 at end of file.
    pub fn read(&self, out: &mut [u8], nonblock: bool) -> Result<usize, i64> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            {
                let mut b = self.buf.lock();
                if !b.is_empty() {
                    let n = out.len().min(b.len());
                    let (front, back) = b.as_slices();
                    let k = n.min(front.len());
                    out[..k].copy_from_slice(&front[..k]);
                    out[k..n].copy_from_slice(&back[..n - k]);
                    b.drain(..n);
                    if b.is_empty() {
                        // Give back the memory of a drained pipe.
                        b.shrink_to(PIPE_BUF);
                    }
                    self.len.store(b.len(), Ordering::Release);
                    drop(b);
                    self.write_wait.wake_all();
                    self.seq.wake_wr();
                    return Ok(n);
                }
            }
            if self.writers.load(Ordering::Acquire) == 0 {
                return Ok(0);
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            let woke = self.read_wait.wait_until(
                || {
                    self.len.load(Ordering::Acquire) > 0
                        || self.writers.load(Ordering::Acquire) == 0
                },
                crate::signal::interrupted,
            );
            if !woke {
                return Err(-ERESTARTSYS);
            }
        }
    }

    /// Writes `data`; returns the bytes written.
    pub fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, i64> {
        let mut done = 0;
        loop {
            // Done first: a reader that took the bytes and closed its end before this look
            // must not turn a complete write into a SIGPIPE (a child killed by SIGPIPE after
            // its one write had been read was seen in c_jobctl). An empty write returns 0
            // without looking at the readers, as Linux's pipe_write.
            let rest = data.len() - done;
            if rest == 0 {
                return Ok(done);
            }
            if self.readers.load(Ordering::Acquire) == 0 {
                sigpipe();
                return if done > 0 { Ok(done) } else { Err(-EPIPE) };
            }
            {
                let mut b = self.buf.lock();
                let room = PIPE_CAPACITY - b.len();
                if room > 0 && (rest > PIPE_BUF || room >= rest) {
                    let n = room.min(rest);
                    if b.try_reserve(n).is_err() {
                        drop(b);
                        return if done > 0 { Ok(done) } else { Err(-ENOMEM) };
                    }
                    b.extend(&data[done..done + n]);
                    self.len.store(b.len(), Ordering::Release);
                    drop(b);
                    done += n;
                    self.read_wait.wake_all();
                    // Every write counts as a wake-up, emptied pipe or not: edge-triggered
                    // epoll reports new data each time (Linux's `poll_usage` rule).
                    self.seq.wake_rd();
                    continue;
                }
            }
            if nonblock {
                return if done > 0 { Ok(done) } else { Err(-EAGAIN) };
            }
            let need = if rest <= PIPE_BUF { rest } else { 1 };
            let woke = self.write_wait.wait_until(
                || {
                    PIPE_CAPACITY - self.len.load(Ordering::Acquire) >= need
                        || self.readers.load(Ordering::Acquire) == 0
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

    /// One more description of an end (an open through /proc/PID/fd: proc_fd.rs).
    pub fn open_end(&self, writer: bool) {
        if writer {
            self.writers.fetch_add(1, Ordering::AcqRel);
        } else {
            self.readers.fetch_add(1, Ordering::AcqRel);
        }
        self.seq.wake_both();
    }

    /// One end's last file description is gone.
    pub fn close_end(&self, writer: bool) {
        if writer {
            self.writers.fetch_sub(1, Ordering::AcqRel);
            self.read_wait.wake_all();
        } else {
            self.readers.fetch_sub(1, Ordering::AcqRel);
            self.write_wait.wake_all();
        }
        self.seq.wake_both();
    }

    /// The wake-up counts that matter to one end (event/mod.rs).
    pub fn poll_seq(&self, writer: bool) -> [u64; 2] {
        let [rd, wr] = self.seq.get();
        if writer { [wr; 2] } else { [rd; 2] }
    }

    /// poll(2) events of one end (POLLIN, POLLOUT, POLLHUP, POLLERR); atomics only, so it
    /// may serve as a wait condition.
    pub fn poll_events(&self, writer: bool) -> u16 {
        let len = self.len.load(Ordering::Acquire);
        if writer {
            if self.readers.load(Ordering::Acquire) == 0 {
                POLLERR | POLLOUT | POLLWRNORM
            } else if PIPE_CAPACITY - len >= PIPE_BUF {
                POLLOUT | POLLWRNORM
            } else {
                0
            }
        } else {
            let mut ev = if len > 0 { POLLIN | POLLRDNORM } else { 0 };
            if self.writers.load(Ordering::Acquire) == 0 {
                ev |= POLLHUP;
            }
            ev
        }
    }
}

pub const POLLIN: u16 = 0x1;
pub const POLLPRI: u16 = 0x2;
pub const POLLOUT: u16 = 0x4;
pub const POLLERR: u16 = 0x8;
pub const POLLHUP: u16 = 0x10;
pub const POLLNVAL: u16 = 0x20;
pub const POLLRDNORM: u16 = 0x40;
pub const POLLWRNORM: u16 = 0x100;
/// What a file that never waits reports (Linux's DEFAULT_POLLMASK).
pub const DEFAULT_POLLMASK: u16 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/// A write to a pipe nobody reads: SIGPIPE for the writing thread (as Linux's send_sig).
fn sigpipe() {
    let t = crate::task::current();
    let info = crate::signal::SigInfo::user(crate::signal::SIGPIPE, t.process.pid);
    crate::signal::send_to_thread(t, crate::signal::SIGPIPE, info);
}

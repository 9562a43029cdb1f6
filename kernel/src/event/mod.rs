//! Event descriptors: epoll (epoll.rs, its system calls in epoll_sys.rs), eventfd
//! (eventfd.rs), timerfd (timerfd.rs) and signalfd (signalfd.rs); and POSIX timers
//! (posix_timer.rs), which deliver signals rather than readiness. docs/epoll.md.
//!
//! Readiness has one source of truth: each file kind's `poll_events` (`fs::File`), which
//! poll, select and epoll all read. What epoll adds is the notion of a wake-up, which
//! edge-triggered interest needs ("report again only after something happened"): every
//! object that wakes [`POLL_WAIT`] also counts its wake-ups in a [`PollSeq`], one count for
//! the events readers wait for and one for those writers wait for, as Linux's wake-ups carry
//! a key (EPOLLIN or EPOLLOUT) that epoll filters by.

pub mod epoll;
mod epoll_sys;
pub mod eventfd;
pub mod posix_timer;
pub mod signalfd;
pub mod timerfd;

use crate::fs::POLL_WAIT;
use crate::syscall::table::Table;
use core::sync::atomic::{AtomicU64, Ordering};

pub const fn register(t: Table) -> Table {
    let t = epoll_sys::register(t);
    let t = eventfd::register(t);
    let t = timerfd::register(t);
    let t = posix_timer::register(t);
    signalfd::register(t)
}

/// Wake-up counts of one pollable object: `rd` for changes readers wait for (data, end of
/// file, hang-up), `wr` for those writers wait for (room, the reader gone).
#[derive(Default)]
pub struct PollSeq {
    rd: AtomicU64,
    wr: AtomicU64,
}

impl PollSeq {
    pub const fn new() -> Self {
        PollSeq {
            rd: AtomicU64::new(0),
            wr: AtomicU64::new(0),
        }
    }

    /// Something readers wait for happened: count it and wake every poller.
    pub fn wake_rd(&self) {
        self.rd.fetch_add(1, Ordering::AcqRel);
        POLL_WAIT.wake_all();
    }

    /// Something writers wait for happened.
    pub fn wake_wr(&self) {
        self.wr.fetch_add(1, Ordering::AcqRel);
        POLL_WAIT.wake_all();
    }

    /// Both (a hang-up, a shutdown).
    pub fn wake_both(&self) {
        self.rd.fetch_add(1, Ordering::AcqRel);
        self.wr.fetch_add(1, Ordering::AcqRel);
        POLL_WAIT.wake_all();
    }

    /// The counts, (readers', writers').
    pub fn get(&self) -> [u64; 2] {
        [
            self.rd.load(Ordering::Acquire),
            self.wr.load(Ordering::Acquire),
        ]
    }
}

/// Reads a descriptor's file, refusing O_PATH ones (EBADF), as Linux's `fdget` for these calls.
fn get_file(fd: u64) -> Result<alloc::sync::Arc<crate::fs::File>, i64> {
    match crate::fs::get_file(fd) {
        Ok(f) if !f.is_path() => Ok(f),
        Ok(_) => Err(-crate::syscall::errno::EBADF),
        Err(e) => Err(e),
    }
}

fn ret(r: Result<i64, i64>) -> i64 {
    r.unwrap_or_else(|e| e)
}

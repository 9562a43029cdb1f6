//! Futexes: WAIT sleeps while the user word holds the expected value, WAKE wakes sleepers on
//! that address — enough for libc mutexes, condition variables and thread joins.
//!
//! Keys are (address space root, user address), so private futexes of different processes
//! never meet.

use crate::sched::WaitQueue;
use crate::sync::Mutex;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

static QUEUES: Mutex<BTreeMap<(u64, u64), Arc<WaitQueue>>> = Mutex::new(BTreeMap::new());

fn key(uaddr: u64) -> (u64, u64) {
    (
        crate::task::current().process.cr3.load(Ordering::Relaxed),
        uaddr,
    )
}

fn queue(uaddr: u64) -> Arc<WaitQueue> {
    x86_64::instructions::interrupts::without_interrupts(|| {
        QUEUES
            .lock()
            .entry(key(uaddr))
            .or_insert_with(|| Arc::new(WaitQueue::new()))
            .clone()
    })
}

/// FUTEX_WAIT: sleeps while `*uaddr == val` until woken (0), or returns -EAGAIN/-EFAULT/
/// -EINTR/-ETIMEDOUT.
pub fn wait(uaddr: u64, val: u32, deadline: Option<u64>) -> i64 {
    use crate::syscall::errno::*;
    let q = queue(uaddr);
    let mut cur = [0u8; 4];
    if crate::uaccess::copy_from_user(&mut cur, uaddr).is_err() {
        return -EFAULT;
    }
    if u32::from_ne_bytes(cur) != val {
        return -EAGAIN;
    }
    if let Some(d) = deadline {
        crate::sched::add_timeout(d);
    }
    let expired = || deadline.is_some_and(|d| crate::sched::ticks() >= d);
    let mut first = true;
    let ok = q.wait_until(
        || {
            // The first check registers us; after that, any wake-up but the timeout ends the
            // wait (a futex may wake spuriously; callers re-check their word).
            if first {
                // On the queue now. A waker on another CPU that changed the word before we
                // got here found no waiter: look again (a changed word ends the wait).
                first = false;
                let mut now = [0u8; 4];
                return !expired()
                    && crate::uaccess::copy_from_user(&mut now, uaddr).is_ok()
                    && u32::from_ne_bytes(now) != val;
            }
            !expired()
        },
        || crate::signal::interrupted() || expired(),
    );
    if ok {
        0
    } else if expired() {
        -ETIMEDOUT
    } else {
        -ERESTARTSYS
    }
}

/// FUTEX_WAKE: wakes up to `n` waiters on `uaddr` — at least one, as Linux does even for a
/// count of 0; returns how many.
pub fn wake(uaddr: u64, n: usize) -> i64 {
    let n = n.max(1);
    let q = x86_64::instructions::interrupts::without_interrupts(|| {
        QUEUES.lock().get(&key(uaddr)).cloned()
    });
    match q {
        Some(q) => q.wake_n(n) as i64,
        None => 0,
    }
}

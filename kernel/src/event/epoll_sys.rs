//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait and epoll_pwait2, with
//! Linux 6.1's checks in Linux's order (fs/eventpoll.c).

use super::epoll::*;
use super::{get_file, ret};
use crate::fs::{self, File, FileKind, O_CLOEXEC, O_RDWR, POLL_WAIT};
use crate::signal;
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::syscall::timespec::read_timespec;
use crate::uaccess::{access_ok, copy_from_user, copy_to_user};
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub const EPOLL_CLOEXEC: u32 = O_CLOEXEC;
const EPOLL_CTL_ADD: u32 = 1;
const EPOLL_CTL_DEL: u32 = 2;
const EPOLL_CTL_MOD: u32 = 3;
/// sizeof(struct epoll_event): packed on x86-64, events then data.
const EVENT_SIZE: usize = 12;
/// The most events one wait may ask for (Linux's EP_MAX_EVENTS).
const EP_MAX_EVENTS: i32 = i32::MAX / EVENT_SIZE as i32;

pub const fn register(mut t: Table) -> Table {
    t[nr::EPOLL_CREATE] = sys_epoll_create;
    t[nr::EPOLL_CREATE1] = sys_epoll_create1;
    t[nr::EPOLL_CTL] = sys_epoll_ctl;
    t[nr::EPOLL_WAIT] = sys_epoll_wait;
    t[nr::EPOLL_PWAIT] = sys_epoll_pwait;
    t[nr::EPOLL_PWAIT2] = sys_epoll_pwait2;
    t
}

fn create(flags: u32) -> Result<i64, i64> {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(-EINVAL);
    }
    let file = File::new(FileKind::Epoll(Epoll::new()), O_RDWR);
    Ok(fs::install_file(file, flags & EPOLL_CLOEXEC != 0)? as i64)
}

/// epoll_create(size): the size is only checked (> 0), as Linux.
fn sys_epoll_create(regs: &mut Regs) -> i64 {
    if (regs.rdi as i32) <= 0 {
        return -EINVAL;
    }
    ret(create(0))
}

fn sys_epoll_create1(regs: &mut Regs) -> i64 {
    ret(create(regs.rdi as u32))
}

/// epoll_ctl(epfd, op, fd, event), checked as Linux's `do_epoll_ctl`: the event copied in
/// (EFAULT; not for DEL), both descriptors (EBADF), a target that can be polled (EPERM), an
/// epoll that is not its own target (EINVAL), EPOLLEXCLUSIVE's rules (EINVAL), then the op.
fn sys_epoll_ctl(regs: &mut Regs) -> i64 {
    let (epfd, op, fd, uevent) = (regs.rdi, regs.rsi as u32, regs.rdx as i32, regs.r10);
    ret((|| {
        let mut events = 0u32;
        let mut data = 0u64;
        if op != EPOLL_CTL_DEL {
            let mut b = [0u8; EVENT_SIZE];
            copy_from_user(&mut b, uevent).map_err(|_| -EFAULT)?;
            events = u32::from_ne_bytes(b[..4].try_into().unwrap());
            data = u64::from_ne_bytes(b[4..].try_into().unwrap());
        }
        let ep_file = get_file(epfd)?;
        let target = get_file(fd as u64)?;
        if !target.epoll_can_watch() {
            return Err(-EPERM);
        }
        let ep = match ep_file.epoll() {
            Some(ep) if !Arc::ptr_eq(&ep_file, &target) => ep,
            _ => return Err(-EINVAL),
        };
        if events & EPOLLEXCLUSIVE != 0 {
            if op == EPOLL_CTL_MOD {
                return Err(-EINVAL);
            }
            if op == EPOLL_CTL_ADD
                && (target.epoll().is_some() || events & !EPOLLEXCLUSIVE_OK_BITS != 0)
            {
                return Err(-EINVAL);
            }
        }
        // Errors and hang-ups are always reported.
        let events = events | EPOLLERR | EPOLLHUP;
        match op {
            EPOLL_CTL_ADD => ep.add(&target, fd, events, data)?,
            EPOLL_CTL_MOD => ep.modify(&target, fd, events, data)?,
            EPOLL_CTL_DEL => ep.remove(&target, fd)?,
            _ => return Err(-EINVAL),
        }
        Ok(0)
    })())
}

/// Linux's `do_epoll_wait`'s checks: the count (EINVAL), the buffer (EFAULT), the
/// descriptor (EBADF), an epoll (EINVAL).
fn wait_target(epfd: u64, uevents: u64, max: i32) -> Result<Arc<File>, i64> {
    if max <= 0 || max > EP_MAX_EVENTS {
        return Err(-EINVAL);
    }
    if !access_ok(uevents, max as usize * EVENT_SIZE) {
        return Err(-EFAULT);
    }
    let f = get_file(epfd)?;
    if f.epoll().is_none() {
        return Err(-EINVAL);
    }
    Ok(f)
}

/// Waits for events until the monotonic time `end` (None: no end) and copies them out: the
/// count, 0 when the time is up, EINTR when a signal arrives first (never restarted, as
/// Linux's epoll_wait).
fn do_wait(f: &File, uevents: u64, max: usize, end: Option<u64>) -> Result<i64, i64> {
    let ep = f.epoll().expect("checked by wait_target");
    loop {
        let got = ep.collect(max);
        if !got.is_empty() {
            return copy_events(uevents, &got);
        }
        let now = crate::time::monotonic_ns();
        if end.is_some_and(|e| now >= e) {
            return Ok(0);
        }
        if signal::interrupted() {
            return Err(-EINTR);
        }
        // Sleep until a wake-up, the end, or a watched timer's expiry, whichever is first.
        let wake_at = match (end, ep.poll_deadline(0)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let tick = wake_at.map(|t| crate::time::deadline_after_ns(t.saturating_sub(now)));
        if let Some(d) = tick {
            crate::sched::add_timeout(d);
        }
        POLL_WAIT.wait_until(
            || ep.poll_events(0) != 0 || tick.is_some_and(|d| crate::sched::ticks() >= d),
            signal::interrupted,
        );
    }
}

fn copy_events(uevents: u64, got: &[(u32, u64)]) -> Result<i64, i64> {
    let mut b = Vec::with_capacity(got.len() * EVENT_SIZE);
    for (ev, data) in got {
        b.extend_from_slice(&ev.to_ne_bytes());
        b.extend_from_slice(&data.to_ne_bytes());
    }
    copy_to_user(uevents, &b).map_err(|_| -EFAULT)?;
    Ok(got.len() as i64)
}

/// A timeout in milliseconds: negative waits without end.
fn ms_deadline(ms: i32) -> Option<u64> {
    (ms >= 0).then(|| {
        crate::time::monotonic_ns().saturating_add(u64::from(ms.unsigned_abs()) * 1_000_000)
    })
}

fn sys_epoll_wait(regs: &mut Regs) -> i64 {
    let (epfd, uevents, max, ms) = (regs.rdi, regs.rsi, regs.rdx as i32, regs.r10 as i32);
    ret(wait_target(epfd, uevents, max)
        .and_then(|f| do_wait(&f, uevents, max as usize, ms_deadline(ms))))
}

/// The waits with a signal mask: the mask is installed first (EINVAL for a size other than
/// 8, EFAULT), for the wait, and stays until the handler's frame is built when a signal ended
/// the wait, as for ppoll (`poll::end_call_sigmask`).
fn with_sigmask(
    usigmask: u64,
    size: u64,
    wait: impl FnOnce() -> Result<i64, i64>,
) -> Result<i64, i64> {
    if usigmask != 0 {
        crate::syscall::poll::set_call_sigmask(usigmask, size)?;
    }
    let r = wait();
    if usigmask != 0 {
        crate::syscall::poll::end_call_sigmask_after(r.err() == Some(-EINTR));
    }
    r
}

fn sys_epoll_pwait(regs: &mut Regs) -> i64 {
    let (epfd, uevents, max, ms) = (regs.rdi, regs.rsi, regs.rdx as i32, regs.r10 as i32);
    let (usigmask, size) = (regs.r8, regs.r9);
    ret(with_sigmask(usigmask, size, || {
        let f = wait_target(epfd, uevents, max)?;
        do_wait(&f, uevents, max as usize, ms_deadline(ms))
    }))
}

/// epoll_pwait2: the timeout is a timespec (NULL: no end; EFAULT, EINVAL read first).
fn sys_epoll_pwait2(regs: &mut Regs) -> i64 {
    let (epfd, uevents, max, uts) = (regs.rdi, regs.rsi, regs.rdx as i32, regs.r10);
    let (usigmask, size) = (regs.r8, regs.r9);
    ret((|| {
        let end = if uts == 0 {
            None
        } else {
            Some(crate::time::monotonic_ns().saturating_add(read_timespec(uts)?))
        };
        with_sigmask(usigmask, size, || {
            let f = wait_target(epfd, uevents, max)?;
            do_wait(&f, uevents, max as usize, end)
        })
    })())
}

//! seccomp user notification (Linux's `SECCOMP_RET_USER_NOTIF`): a filter installed with
//! `SECCOMP_FILTER_FLAG_NEW_LISTENER` comes with a listener file descriptor; a syscall its
//! filter answers USER_NOTIF with waits until a supervisor holding that descriptor has read
//! the notification (`SECCOMP_IOCTL_NOTIF_RECV`) and answered it (`NOTIF_SEND`: a value or an
//! error, or "continue": the syscall runs after all). Meanwhile the supervisor may ask
//! whether the notification still stands (`NOTIF_ID_VALID`) and put descriptors of its own
//! into the waiting process (`NOTIF_ADDFD`, the target installs them itself when it wakes).
//!
//! A notification goes INIT (posted) → SENT (read by RECV) → REPLIED. The waiting target is
//! interruptible: a signal ends its wait with -ERESTARTSYS (the call restarts, posting a new
//! notification, or fails with EINTR, as the handler's SA_RESTART says); with
//! `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`, once its notification is SENT only a fatal
//! signal ends the wait. When the listener's last description goes, every waiting target is
//! answered -ENOSYS, and later USER_NOTIF verdicts of that filter are -ENOSYS at once (as
//! with no listener at all). poll: POLLIN|POLLRDNORM while a notification is INIT,
//! POLLOUT|POLLWRNORM while one is SENT, POLLHUP once no thread uses the filter.
//!
//! Everything a wait condition or poll reads is an atomic (conditions run with interrupts
//! off and never take a lock); each change is made under the listener's lock and wakes both
//! the listener's queue (targets, RECV and ADDFD callers) and the poll queue.

use crate::fs::pipe::{POLL_WAIT, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::fs::{self, FdEntry, File};
use crate::sched::WaitQueue;
use crate::signal;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use crate::task;
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicUsize, Ordering};
use kentry_kernel_logic::seccomp_bpf::SeccompData;

/// Test kernels, `kentry.break=seccomp_notify`: the listener's argument and state checks are
/// off (a second listener in a chain, TSYNC with NEW_LISTENER without TSYNC_ESRCH, RECV into
/// a struct that is not zeroed, CONTINUE with a value, SEND and ADDFD to a notification not
/// received or already answered): the negative run of `c_seccomp_notif`.
pub static BREAK_CHECKS: AtomicBool = AtomicBool::new(false);

/// Whether the checks [`BREAK_CHECKS`] turns off are on.
pub fn checks_on() -> bool {
    !BREAK_CHECKS.load(Ordering::Relaxed)
}

/// Notification states (Linux's `enum notify_state`), ordered as Linux compares them.
const INIT: u8 = 0;
const SENT: u8 = 1;
const REPLIED: u8 = 2;

/// `struct seccomp_notif` (id, pid, flags, seccomp_data), `struct seccomp_notif_resp` (id,
/// val, error, flags), `struct seccomp_data`, `struct seccomp_notif_addfd` (id, flags,
/// srcfd, newfd, newfd_flags): their sizes, which `SECCOMP_GET_NOTIF_SIZES` reports.
pub const NOTIF_SIZE: usize = 80;
pub const NOTIF_RESP_SIZE: usize = 24;
pub const DATA_SIZE: usize = 64;
const ADDFD_SIZE: usize = 24;

/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the syscall runs.
const FLAG_CONTINUE: u32 = 1;
/// `SECCOMP_ADDFD_FLAG_SETFD` (at `newfd`), `SECCOMP_ADDFD_FLAG_SEND` (and reply with it).
const ADDFD_FLAG_SETFD: u32 = 1;
const ADDFD_FLAG_SEND: u32 = 2;

/// The ioctls, `_IOWR('!', 0..3, …)` with their structs' sizes.
const IOCTL_NOTIF_RECV: u32 = 0xc050_2100;
const IOCTL_NOTIF_SEND: u32 = 0xc018_2101;
const IOCTL_NOTIF_ID_VALID: u32 = 0x4008_2102;
/// The direction bits ID_VALID was first (wrongly) defined with; Linux still takes it.
const IOCTL_NOTIF_ID_VALID_WRONG_DIR: u32 = 0x8008_2102;
/// ADDFD is extensible: its direction and size bits vary, the size says which version.
const IOCTL_NOTIF_ADDFD_BASE: u32 = 0x2103;
const IOC_INOUT: u32 = 3 << 30;
const IOC_SIZE_MASK: u32 = 0x3fff << 16;
const PAGE_SIZE: usize = 4096;

/// One listener: the notification side of one filter.
pub struct Listener {
    inner: Mutex<Inner>,
    /// Targets waiting for their reply, RECV waiting for a notification, ADDFD waiting for
    /// the target to install its descriptor.
    wait: WaitQueue,
    /// Linux's `notif->request` semaphore: one count per notification posted (or put back
    /// after a failed RECV copy), one taken by each RECV. As in Linux it may count a
    /// notification whose target has gone since: that RECV then fails with ENOENT.
    request: AtomicUsize,
    /// Notifications INIT and SENT (poll's POLLIN and POLLOUT).
    init_count: AtomicUsize,
    sent_count: AtomicUsize,
    /// The listener's last description is gone (Linux frees `filter->notif`).
    detached: AtomicBool,
    /// No thread and no newer filter uses the filter any more (Linux: `users` is 0).
    orphaned: AtomicBool,
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`.
    wait_killable_recv: bool,
}

struct Inner {
    /// Unique per listener; starts at a random value as Linux's does.
    next_id: u64,
    /// Posted notifications, oldest first.
    list: Vec<Arc<Notif>>,
}

/// One waiting syscall.
struct Notif {
    id: u64,
    /// The target's thread id (what RECV reports as `pid`, in the receiver's PID namespace:
    /// 0 when the target is not visible there, as Linux's `task_pid_vnr`).
    pid: u32,
    /// The target's numbers in PID namespaces below the root.
    pids: Option<Arc<crate::process::pid_ns::NsPids>>,
    data: SeccompData,
    /// INIT, SENT or REPLIED; written under the listener's lock, read by the target's wait.
    state: AtomicU8,
    /// ADDFD requests queued for the target (its wait condition).
    addfd_queued: AtomicUsize,
    reply: Mutex<Reply>,
}

#[derive(Default)]
struct Reply {
    val: i64,
    error: i32,
    flags: u32,
    /// Newest first, as Linux's list_add puts them.
    addfd: VecDeque<Arc<AddFd>>,
}

/// One `SECCOMP_IOCTL_NOTIF_ADDFD` request, waiting for the target to carry it out.
struct AddFd {
    file: Arc<File>,
    /// SETFD: this descriptor number; else the lowest free one.
    at: Option<u32>,
    cloexec: bool,
    send: bool,
    result: AtomicI64,
    done: AtomicBool,
}

impl Listener {
    pub fn new(wait_killable_recv: bool) -> Arc<Listener> {
        let r = crate::random::bytes16();
        Arc::new(Listener {
            inner: Mutex::new(Inner {
                next_id: u64::from_ne_bytes(r[..8].try_into().unwrap_or([0; 8])),
                list: Vec::new(),
            }),
            wait: WaitQueue::new(),
            request: AtomicUsize::new(0),
            init_count: AtomicUsize::new(0),
            sent_count: AtomicUsize::new(0),
            detached: AtomicBool::new(false),
            orphaned: AtomicBool::new(false),
            wait_killable_recv,
        })
    }

    /// Whether the listener still has a description (a second one in a chain is EBUSY
    /// while it has).
    pub fn attached(&self) -> bool {
        !self.detached.load(Ordering::Acquire)
    }

    fn wake(&self) {
        self.wait.wake_all();
        POLL_WAIT.wake_all();
    }

    /// Moves `n` to `state`, keeping the poll counters; under the listener's lock.
    fn set_state(&self, n: &Notif, state: u8) {
        let count = |s| match s {
            INIT => Some(&self.init_count),
            SENT => Some(&self.sent_count),
            _ => None,
        };
        let old = n.state.swap(state, Ordering::AcqRel);
        if let Some(c) = count(old) {
            c.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(c) = count(state) {
            c.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// poll(2) on the listener. Atomics only.
    pub fn poll_events(&self) -> u16 {
        let mut ev = 0;
        if self.init_count.load(Ordering::Acquire) > 0 {
            ev |= POLLIN | POLLRDNORM;
        }
        if self.sent_count.load(Ordering::Acquire) > 0 {
            ev |= POLLOUT | POLLWRNORM;
        }
        if self.orphaned.load(Ordering::Acquire) {
            ev |= POLLHUP;
        }
        ev
    }

    /// The filter is no longer used by any thread (its node is gone).
    pub fn orphan(&self) {
        self.orphaned.store(true, Ordering::Release);
        self.wake();
    }

    /// The listener's last description is gone (Linux's `seccomp_notify_detach`): every
    /// unanswered notification is answered -ENOSYS, and the filter has no listener from now.
    pub fn detach(&self) {
        let list = {
            let mut inner = self.inner.lock();
            for n in &inner.list {
                if n.state.load(Ordering::Acquire) != REPLIED {
                    let mut r = n.reply.lock();
                    (r.val, r.error, r.flags) = (0, -ENOSYS as i32, 0);
                    drop(r);
                    self.set_state(n, REPLIED);
                }
            }
            self.detached.store(true, Ordering::Release);
            core::mem::take(&mut inner.list)
        };
        self.wake();
        drop(list);
    }
}

/// The calling thread's syscall `data`, answered USER_NOTIF by the filter `listener`
/// belongs to (Linux's `seccomp_do_user_notification`): posts a notification and waits for
/// its answer. Returns `None` if the syscall is to run (CONTINUE), else its result.
pub fn user_notification(listener: &Listener, data: &SeccompData) -> Option<i64> {
    let n = {
        let mut inner = listener.inner.lock();
        if listener.detached.load(Ordering::Acquire) {
            return Some(-ENOSYS);
        }
        let id = inner.next_id;
        inner.next_id = id.wrapping_add(1);
        let n = Arc::new(Notif {
            id,
            pid: task::current().tid,
            pids: task::current().ns_tids.get().cloned(),
            data: *data,
            state: AtomicU8::new(REPLIED),
            addfd_queued: AtomicUsize::new(0),
            reply: Mutex::new(Reply::default()),
        });
        listener.set_state(&n, INIT);
        inner.list.push(n.clone());
        listener.request.fetch_add(1, Ordering::AcqRel);
        n
    };
    listener.wake();
    let killable_now = || listener.wait_killable_recv && n.state.load(Ordering::Acquire) >= SENT;
    let replied = loop {
        let killable = killable_now();
        // A killable wait shows as 'D' in /proc/PID/stat (Linux's TASK_KILLABLE).
        let _d = killable.then(crate::sched::UninterruptibleSleep::begin);
        let woke = listener.wait.wait_until(
            || {
                n.state.load(Ordering::Acquire) == REPLIED
                    || n.addfd_queued.load(Ordering::Acquire) > 0
                    // Back to INIT (a RECV that could not copy out): wait interruptibly.
                    || (killable && !killable_now())
            },
            || {
                if killable {
                    signal::fatal_pending()
                } else {
                    signal::interrupted()
                }
            },
        );
        let inner = listener.inner.lock();
        // Interrupted, unless the wait has just become killable (then wait on; Linux's
        // check of should_sleep_killable after the interruption).
        if !woke && (killable || !killable_now()) {
            drop(inner);
            break false;
        }
        let replaced = take_addfd(listener, &n);
        let done = n.state.load(Ordering::Acquire) == REPLIED;
        drop(inner);
        // A descriptor SETFD replaced is closed outside the locks (closing a listener
        // takes its lock).
        drop(replaced);
        listener.wake();
        if done {
            break true;
        }
    };
    // ADDFD requests the target will not carry out now: the process went away (ESRCH).
    let unserved = {
        let mut inner = listener.inner.lock();
        let mut r = n.reply.lock();
        let unserved = core::mem::take(&mut r.addfd);
        n.addfd_queued.store(0, Ordering::Release);
        drop(r);
        if let Some(i) = inner.list.iter().position(|x| Arc::ptr_eq(x, &n)) {
            // `remove`, not `swap_remove`: RECV takes the oldest posted notification first.
            inner.list.remove(i);
            // Out of the list: out of poll's counts too.
            listener.set_state(&n, REPLIED);
        }
        unserved
    };
    for a in &unserved {
        a.result.store(-ESRCH, Ordering::Release);
        a.done.store(true, Ordering::Release);
    }
    listener.wake();
    if !replied {
        // The signal's work flag may still be on its way: a sender on another CPU sets the
        // pending bit at once and the work flag by IPI, which under TCG can land after this
        // thread is back in user mode with -ERESTARTSYS (a SIGKILLed target then ran on and
        // exited 50). Raised here, as Linux's TIF_SIGPENDING is set before the wake-up.
        signal::recalc_pending();
        return Some(-ERESTARTSYS);
    }
    let r = n.reply.lock();
    if r.flags & FLAG_CONTINUE != 0 {
        return None;
    }
    Some(if r.error != 0 { r.error as i64 } else { r.val })
}

/// The target carries out the newest queued ADDFD request of `n` (Linux's
/// `seccomp_handle_addfd`), under the listener's lock. Returns the descriptor SETFD
/// replaced, for the caller to drop once the locks are released.
fn take_addfd(listener: &Listener, n: &Notif) -> Option<FdEntry> {
    let mut r = n.reply.lock();
    let a = r.addfd.pop_front()?;
    n.addfd_queued.fetch_sub(1, Ordering::AcqRel);
    let entry = FdEntry {
        file: a.file.clone(),
        cloexec: a.cloexec,
    };
    let me = task::current();
    let (fd, replaced) = {
        let table = me.process.files();
        let mut files = table.lock();
        match a.at {
            Some(at) => match files.install(at as usize, entry) {
                Ok(old) => (at as i64, old),
                Err(e) => (e, None),
            },
            None => (
                files.alloc(0, entry).map_or_else(|e| e, |fd| fd as i64),
                None,
            ),
        }
    };
    if a.send {
        if fd < 0 {
            // The reply could not be this descriptor: the supervisor may answer again.
            drop(r);
            listener.set_state(n, SENT);
        } else {
            (r.val, r.error, r.flags) = (fd, 0, 0);
        }
    }
    a.result.store(fd, Ordering::Release);
    a.done.store(true, Ordering::Release);
    replaced
}

fn find(inner: &Inner, id: u64) -> Option<Arc<Notif>> {
    inner.list.iter().find(|n| n.id == id).cloned()
}

/// ioctl(2) on a listener (Linux's `seccomp_notify_ioctl`); any other request is EINVAL.
pub fn ioctl(l: &Listener, cmd: u32, arg: u64) -> Result<i64, i64> {
    match cmd {
        IOCTL_NOTIF_RECV => recv(l, arg),
        IOCTL_NOTIF_SEND => send(l, arg),
        IOCTL_NOTIF_ID_VALID | IOCTL_NOTIF_ID_VALID_WRONG_DIR => id_valid(l, arg),
        _ if cmd & !(IOC_INOUT | IOC_SIZE_MASK) == IOCTL_NOTIF_ADDFD_BASE => {
            addfd(l, arg, ((cmd & IOC_SIZE_MASK) >> 16) as usize)
        }
        _ => Err(-EINVAL),
    }
}

/// NOTIF_RECV: waits for a notification in INIT, marks it SENT and copies it out.
fn recv(l: &Listener, buf: u64) -> Result<i64, i64> {
    // The struct must come zeroed, so that it can grow.
    let mut raw = [0u8; NOTIF_SIZE];
    copy_from_user(&mut raw, buf).map_err(|_| -EFAULT)?;
    if checks_on() && raw.iter().any(|&b| b != 0) {
        return Err(-EINVAL);
    }
    raw.fill(0);
    // down_interruptible(&request).
    loop {
        let c = l.request.load(Ordering::Acquire);
        if c > 0 {
            if l.request
                .compare_exchange(c, c - 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                break;
            }
            continue;
        }
        if !l.wait.wait_until(
            || l.request.load(Ordering::Acquire) > 0,
            signal::interrupted,
        ) {
            // As for the target below: the work flag may still be on its way.
            signal::recalc_pending();
            return Err(-EINTR);
        }
    }
    let n = {
        let inner = l.inner.lock();
        // Gone meanwhile (its target was interrupted): ENOENT, as Linux.
        let n = inner
            .list
            .iter()
            .find(|n| n.state.load(Ordering::Acquire) == INIT)
            .cloned()
            .ok_or(-ENOENT)?;
        l.set_state(&n, SENT);
        n
    };
    l.wake();
    raw[..8].copy_from_slice(&n.id.to_ne_bytes());
    let viewer = task::current().process.pid_ns();
    let pid = crate::process::pid_ns::pid_nr_ns(n.pids.as_ref(), n.pid, viewer);
    raw[8..12].copy_from_slice(&pid.to_ne_bytes());
    raw[16..20].copy_from_slice(&n.data.nr.to_ne_bytes());
    raw[20..24].copy_from_slice(&n.data.arch.to_ne_bytes());
    raw[24..32].copy_from_slice(&n.data.instruction_pointer.to_ne_bytes());
    for (i, a) in n.data.args.iter().enumerate() {
        raw[32 + 8 * i..40 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    if copy_to_user(buf, &raw).is_err() {
        // Put it back for another RECV, if its target still waits.
        let inner = l.inner.lock();
        if find(&inner, n.id).is_some() {
            l.set_state(&n, INIT);
            l.request.fetch_add(1, Ordering::AcqRel);
        }
        drop(inner);
        l.wake();
        return Err(-EFAULT);
    }
    Ok(0)
}

/// NOTIF_SEND: the one reply to a SENT notification.
fn send(l: &Listener, buf: u64) -> Result<i64, i64> {
    let mut raw = [0u8; NOTIF_RESP_SIZE];
    copy_from_user(&mut raw, buf).map_err(|_| -EFAULT)?;
    let id = u64::from_ne_bytes(raw[..8].try_into().unwrap_or([0; 8]));
    let val = i64::from_ne_bytes(raw[8..16].try_into().unwrap_or([0; 8]));
    let error = i32::from_ne_bytes(raw[16..20].try_into().unwrap_or([0; 4]));
    let flags = u32::from_ne_bytes(raw[20..24].try_into().unwrap_or([0; 4]));
    if checks_on()
        && (flags & !FLAG_CONTINUE != 0 || (flags & FLAG_CONTINUE != 0 && (error != 0 || val != 0)))
    {
        return Err(-EINVAL);
    }
    {
        let inner = l.inner.lock();
        let n = find(&inner, id).ok_or(-ENOENT)?;
        // Exactly one reply, to a notification received.
        if checks_on() && n.state.load(Ordering::Acquire) != SENT {
            return Err(-EINPROGRESS);
        }
        let mut r = n.reply.lock();
        (r.val, r.error, r.flags) = (val, error, flags);
        drop(r);
        l.set_state(&n, REPLIED);
    }
    l.wake();
    Ok(0)
}

/// NOTIF_ID_VALID: 0 while the notification is SENT and its target still waits.
fn id_valid(l: &Listener, buf: u64) -> Result<i64, i64> {
    let mut raw = [0u8; 8];
    copy_from_user(&mut raw, buf).map_err(|_| -EFAULT)?;
    let inner = l.inner.lock();
    match find(&inner, u64::from_ne_bytes(raw)) {
        Some(n) if n.state.load(Ordering::Acquire) == SENT => Ok(0),
        _ => Err(-ENOENT),
    }
}

/// NOTIF_ADDFD: puts the supervisor's descriptor `srcfd` into the target's process, at
/// `newfd` with SETFD, and with SEND answers the notification with the new number; returns
/// that number. The target does the installing when it wakes; this call waits for it.
fn addfd(l: &Listener, buf: u64, size: usize) -> Result<i64, i64> {
    if !(ADDFD_SIZE..PAGE_SIZE).contains(&size) {
        return Err(-EINVAL);
    }
    // Linux's copy_struct_from_user: bytes past the known struct must be zero.
    let mut raw = alloc::vec![0u8; size];
    copy_from_user(&mut raw, buf).map_err(|_| -EFAULT)?;
    if raw[ADDFD_SIZE..].iter().any(|&b| b != 0) {
        return Err(-E2BIG);
    }
    let word = |at: usize| u32::from_ne_bytes(raw[at..at + 4].try_into().unwrap_or([0; 4]));
    let id = u64::from_ne_bytes(raw[..8].try_into().unwrap_or([0; 8]));
    let (flags, srcfd, newfd, newfd_flags) = (word(8), word(12), word(16), word(20));
    if newfd_flags & !fs::O_CLOEXEC != 0
        || flags & !(ADDFD_FLAG_SETFD | ADDFD_FLAG_SEND) != 0
        || (newfd != 0 && flags & ADDFD_FLAG_SETFD == 0)
    {
        return Err(-EINVAL);
    }
    let file = fs::get_file(srcfd as u64)?;
    if file.is_path() {
        return Err(-EBADF);
    }
    let a = Arc::new(AddFd {
        file,
        at: (flags & ADDFD_FLAG_SETFD != 0).then_some(newfd),
        cloexec: newfd_flags & fs::O_CLOEXEC != 0,
        send: flags & ADDFD_FLAG_SEND != 0,
        result: AtomicI64::new(0),
        done: AtomicBool::new(false),
    });
    let n = {
        let inner = l.inner.lock();
        let n = find(&inner, id).ok_or(-ENOENT)?;
        // Only between RECV and the reply.
        if checks_on() && n.state.load(Ordering::Acquire) != SENT {
            return Err(-EINPROGRESS);
        }
        let mut r = n.reply.lock();
        if a.send {
            // An ADDFD that is also the reply must be the last request.
            if !r.addfd.is_empty() {
                return Err(-EBUSY);
            }
            l.set_state(&n, REPLIED);
        }
        r.addfd.push_front(a.clone());
        n.addfd_queued.fetch_add(1, Ordering::AcqRel);
        drop(r);
        n
    };
    l.wake();
    if l.wait
        .wait_until(|| a.done.load(Ordering::Acquire), signal::interrupted)
    {
        return Ok(a.result.load(Ordering::Acquire));
    }
    // Interrupted: the target may have served it meanwhile; if not, withdraw it.
    let _inner = l.inner.lock();
    if a.done.load(Ordering::Acquire) {
        return Ok(a.result.load(Ordering::Acquire));
    }
    let mut r = n.reply.lock();
    if let Some(i) = r.addfd.iter().position(|x| Arc::ptr_eq(x, &a)) {
        r.addfd.remove(i);
        n.addfd_queued.fetch_sub(1, Ordering::AcqRel);
    }
    signal::recalc_pending();
    Err(-ERESTARTSYS)
}

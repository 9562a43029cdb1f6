//! An epoll instance: its interest list and the readiness scan (the system calls are in
//! epoll_sys.rs).
//!
//! Linux keeps a ready list that wake-up callbacks fill; kentry has no per-file callbacks
//! (every readiness change wakes the one poll queue, `fs::POLL_WAIT`), so an epoll instance
//! finds its ready items by asking each watched file for its events, the same `poll_events`
//! poll and select read. What the ready list gives Linux beyond that — whether a wake-up
//! happened since an edge-triggered item was last reported — comes from the files' wake-up
//! counts ([`super::PollSeq`]): an edge-triggered item is reported when it is ready and the
//! count of the side it watches moved since its last report (or it was just added or
//! modified, when Linux polls it once).
//!
//! An item holds its file weakly: the interest belongs to the open file description, so
//! closing one descriptor of a duplicated file leaves it, and the last close of the
//! description ends it (Linux's `eventpoll_release`), without the epoll keeping the file open.

use crate::fs::File;
use crate::sync::Mutex;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Test kernels, `kentry.break=epoll_edge`: edge-triggered items are reported as
/// level-triggered ones and ONESHOT items are never disarmed (the negative run of `c_epoll`).
pub static BREAK_EDGE: AtomicBool = AtomicBool::new(false);

pub const EPOLLIN: u32 = 0x1;
pub const EPOLLPRI: u32 = 0x2;
pub const EPOLLOUT: u32 = 0x4;
pub const EPOLLERR: u32 = 0x8;
pub const EPOLLHUP: u32 = 0x10;
pub const EPOLLRDNORM: u32 = 0x40;
pub const EPOLLRDBAND: u32 = 0x80;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLWRBAND: u32 = 0x200;
pub const EPOLLMSG: u32 = 0x400;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// The flags that are not events (Linux's EP_PRIVATE_BITS).
pub const EP_PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
/// What EPOLLEXCLUSIVE may be combined with (Linux's EPOLLEXCLUSIVE_OK_BITS).
pub const EPOLLEXCLUSIVE_OK_BITS: u32 =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
/// How deep epoll instances may watch each other (Linux's EP_MAX_NESTS).
pub const EP_MAX_NESTS: usize = 4;

/// Events that a wake-up of the readers' side can change; the rest are the writers'.
const READ_SIDE: u32 = EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND | EPOLLRDHUP | EPOLLMSG;
const WRITE_SIDE: u32 = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;

/// One watched (file, fd) pair (Linux's `epitem`).
struct EpItem {
    fd: i32,
    file: Weak<File>,
    /// The file description's address: the key, with `fd`, that ctl finds items by. Compared
    /// only while `file` is alive, so a reused address is never mistaken for it.
    key: usize,
    /// The interest (events with EPOLLERR | EPOLLHUP added) and flags; 0 events once a
    /// ONESHOT item has fired.
    events: u32,
    data: u64,
    /// Edge-triggered: the file's wake-up counts at the last report; None after ADD/MOD.
    seen: Option<[u64; 2]>,
}

impl EpItem {
    /// The events to report for this item now (0: none), and the wake-up counts they were
    /// read with. Counts first, then events: a wake-up in between is seen again next time
    /// (a spurious report at worst, never a lost one).
    fn ready(&self, f: &File, depth: usize) -> (u32, [u64; 2]) {
        let seqs = f.poll_seqs_nested(depth);
        let want = self.events & !EP_PRIVATE_BITS;
        if want == 0 {
            return (0, seqs);
        }
        let ev = u32::from(f.poll_events_nested(depth)) & want;
        if ev == 0 || self.events & EPOLLET == 0 || BREAK_EDGE.load(Ordering::Relaxed) {
            return (ev, seqs);
        }
        let woke = match self.seen {
            None => true,
            Some(old) => {
                let sides = [READ_SIDE, WRITE_SIDE];
                let watched = want & (READ_SIDE | WRITE_SIDE);
                (0..2).any(|i| old[i] != seqs[i] && (watched & sides[i] != 0 || watched == 0))
            }
        };
        (if woke { ev } else { 0 }, seqs)
    }
}

/// One epoll instance (Linux's `eventpoll`).
pub struct Epoll {
    items: Mutex<Vec<EpItem>>,
    /// Counts every change of the interest list: part of this instance's own wake-up count,
    /// which an epoll watching it reads.
    generation: AtomicU64,
    /// The epolls that watch this one, once per item (Linux's `file->f_ep` of an epoll
    /// file): how far up a chain reaches, for the depth rule.
    parents: Mutex<Vec<Weak<Epoll>>>,
}

/// Serialises the loop and depth checks of adding an epoll to an epoll (Linux's
/// `epnested_mutex`), so that two adds cannot close a cycle between them.
static NEST_LOCK: Mutex<()> = Mutex::new(());

impl Epoll {
    pub fn new() -> Arc<Epoll> {
        Arc::new(Epoll {
            items: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            parents: Mutex::new(Vec::new()),
        })
    }

    fn find(items: &[EpItem], f: &Arc<File>, fd: i32) -> Option<usize> {
        let key = Arc::as_ptr(f) as usize;
        items
            .iter()
            .position(|it| it.fd == fd && it.key == key && it.file.strong_count() > 0)
    }

    /// Drops the items whose file description is gone.
    fn prune(items: &mut Vec<EpItem>) {
        items.retain(|it| it.file.strong_count() > 0);
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        crate::fs::POLL_WAIT.wake_all();
    }

    /// EPOLL_CTL_ADD. `events` already has EPOLLERR | EPOLLHUP.
    pub fn add(
        self: &Arc<Self>,
        f: &Arc<File>,
        fd: i32,
        events: u32,
        data: u64,
    ) -> Result<(), i64> {
        use crate::syscall::errno::*;
        // An epoll target: no path from it back to this instance, and no chain longer than
        // EP_MAX_NESTS links through the new one, counting the levels below the target and
        // those above this instance (Linux's `ep_loop_check` since the fix that bounds the
        // chain both ways, in 6.1's stable series too); ELOOP for either, checked under one
        // global lock.
        let _nest = f.epoll().map(|_| NEST_LOCK.lock());
        if let Some(target) = f.epoll() {
            if target.reaches(self, 0) {
                return Err(-ELOOP);
            }
            let below = target.height(0);
            if below > EP_MAX_NESTS || below + 1 + self.height_above(0) > EP_MAX_NESTS {
                return Err(-ELOOP);
            }
        }
        let mut items = self.items.lock();
        Self::prune(&mut items);
        if Self::find(&items, f, fd).is_some() {
            return Err(-EEXIST);
        }
        items.push(EpItem {
            fd,
            file: Arc::downgrade(f),
            key: Arc::as_ptr(f) as usize,
            events,
            data,
            seen: None,
        });
        drop(items);
        if let Some(target) = f.epoll() {
            let mut parents = target.parents.lock();
            // Links from epolls since closed go first, so the list stays as long as the
            // live links.
            parents.retain(|p| p.strong_count() > 0);
            parents.push(Arc::downgrade(self));
        }
        self.changed();
        Ok(())
    }

    /// EPOLL_CTL_MOD: EINVAL for an EPOLLEXCLUSIVE item, ENOENT for none.
    pub fn modify(&self, f: &Arc<File>, fd: i32, events: u32, data: u64) -> Result<(), i64> {
        use crate::syscall::errno::*;
        let mut items = self.items.lock();
        let i = Self::find(&items, f, fd).ok_or(-ENOENT)?;
        let it = &mut items[i];
        if it.events & EPOLLEXCLUSIVE != 0 {
            return Err(-EINVAL);
        }
        it.events = events;
        it.data = data;
        it.seen = None;
        drop(items);
        self.changed();
        Ok(())
    }

    /// EPOLL_CTL_DEL: ENOENT for none.
    pub fn remove(self: &Arc<Self>, f: &Arc<File>, fd: i32) -> Result<(), i64> {
        let mut items = self.items.lock();
        let i = Self::find(&items, f, fd).ok_or(-crate::syscall::errno::ENOENT)?;
        items.remove(i);
        drop(items);
        if let Some(target) = f.epoll() {
            let me = Arc::downgrade(self);
            let mut parents = target.parents.lock();
            if let Some(k) = parents.iter().position(|p| Weak::ptr_eq(p, &me)) {
                parents.swap_remove(k);
            }
        }
        self.changed();
        Ok(())
    }

    /// Whether `target` is this instance or watched from it through epolls. The interest
    /// graph has no cycle and is at most EP_MAX_NESTS deep (add's rule), and `depth` bounds
    /// the walk anyway.
    fn reaches(&self, target: &Epoll, depth: usize) -> bool {
        core::ptr::eq(self, target)
            || (depth <= EP_MAX_NESTS
                && self.watched_epolls().iter().any(|f| {
                    f.epoll()
                        .is_some_and(|child| child.reaches(target, depth + 1))
                }))
    }

    /// The levels of epolls below this one (0: it watches none).
    fn height(&self, depth: usize) -> usize {
        if depth > EP_MAX_NESTS {
            return EP_MAX_NESTS + 1;
        }
        self.watched_epolls()
            .iter()
            .filter_map(|f| f.epoll().map(|c| c.height(depth + 1) + 1))
            .max()
            .unwrap_or(0)
    }

    /// The levels of epolls above this one (0: none watches it).
    fn height_above(&self, depth: usize) -> usize {
        if depth > EP_MAX_NESTS {
            return EP_MAX_NESTS + 1;
        }
        let parents: Vec<Arc<Epoll>> = self
            .parents
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        parents
            .iter()
            .map(|p| p.height_above(depth + 1) + 1)
            .max()
            .unwrap_or(0)
    }

    fn watched_epolls(&self) -> Vec<Arc<File>> {
        self.items
            .lock()
            .iter()
            .filter_map(|it| it.file.upgrade())
            .filter(|f| f.epoll().is_some())
            .collect()
    }

    /// This instance's readiness as a file (poll, select, an epoll watching it): EPOLLIN
    /// when an epoll_wait would report something. `depth`: how many epolls are being
    /// scanned above this one; add's rule keeps it within the nesting limit, and the scan
    /// stops there regardless.
    pub fn poll_events(&self, depth: usize) -> u16 {
        if depth > EP_MAX_NESTS + 1 {
            return 0;
        }
        let items = self.items.lock();
        let any = items.iter().any(|it| {
            it.file
                .upgrade()
                .is_some_and(|f| it.ready(&f, depth + 1).0 != 0)
        });
        if any {
            (EPOLLIN | EPOLLRDNORM) as u16
        } else {
            0
        }
    }

    /// This instance's wake-up count, for an epoll watching it edge-triggered: its interest
    /// list's changes plus every watched file's counts, so any wake-up below moves it.
    pub fn poll_seq(&self, depth: usize) -> u64 {
        if depth > EP_MAX_NESTS + 1 {
            return 0;
        }
        let items = self.items.lock();
        items.iter().fold(
            self.generation.load(Ordering::Acquire),
            |acc, it| match it.file.upgrade() {
                Some(f) => {
                    let s = f.poll_seqs_nested(depth + 1);
                    acc.wrapping_add(s[0]).wrapping_add(s[1])
                }
                None => acc,
            },
        )
    }

    /// The earliest monotonic time at which a watched file becomes ready with no wake-up
    /// (a timerfd's expiry), for the wait's timeout.
    pub fn poll_deadline(&self, depth: usize) -> Option<u64> {
        if depth > EP_MAX_NESTS + 1 {
            return None;
        }
        let items = self.items.lock();
        items
            .iter()
            .filter(|it| it.events & !EP_PRIVATE_BITS != 0)
            .filter_map(|it| it.file.upgrade()?.poll_deadline_nested(depth + 1))
            .min()
    }

    /// The events to return now, at most `max` (epoll_wait): each ready item once, as
    /// (events, data). Edge-triggered items take note of the wake-ups seen, ONESHOT items are
    /// disarmed, and level-triggered items reported go to the back of the list, so that a
    /// small `max` still reaches every ready item in turn (Linux puts them back at the tail
    /// of its ready list).
    pub fn collect(&self, max: usize) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut items = self.items.lock();
        Self::prune(&mut items);
        let mut again = Vec::new();
        for (i, it) in items.iter_mut().enumerate() {
            if out.len() >= max {
                break;
            }
            let Some(f) = it.file.upgrade() else {
                continue;
            };
            let (ev, seqs) = it.ready(&f, 1);
            if it.events & EPOLLET != 0 {
                // A wake-up that found the file not ready is used up, as Linux drops an
                // item from its ready list when its poll finds nothing.
                it.seen = Some(seqs);
            }
            if ev == 0 {
                continue;
            }
            out.push((ev, it.data));
            if it.events & EPOLLONESHOT != 0 && !BREAK_EDGE.load(Ordering::Relaxed) {
                it.events &= EP_PRIVATE_BITS;
            } else if it.events & EPOLLET == 0 {
                again.push(i);
            }
        }
        for (k, &i) in again.iter().enumerate() {
            let it = items.remove(i - k);
            items.push(it);
        }
        out
    }
}

//! PID namespaces (Linux's `kernel/pid_namespace.c` and the levels of `struct pid`).
//!
//! kentry's process and thread ids (`Process::pid`, `Task::tid`) stay the numbers of the root
//! namespace: the registry, every kernel-internal lookup and the root namespace's system
//! calls use them as they always did. A task made inside a namespace also gets a number in
//! that namespace and in each one above it up to (not including) the root: [`NsPids`], Linux's
//! `struct pid` with its `numbers[]`. The root namespace is `None` everywhere here, so the
//! root's own paths only test an `Option`.
//!
//! A number crosses the user boundary in the namespace of the process that sees it:
//! [`pid_nr_ns`] turns a task's numbers into the viewer's (0 when the task is not visible
//! there, as Linux's `pid_nr_ns`), [`vnr_to_global`] turns a number a program passes into the
//! registry's.

use super::Process;
use crate::sync::Mutex;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Linux's MAX_PID_NS_LEVEL: the deepest namespace has level 32.
pub const MAX_PID_NS_LEVEL: usize = 32;

/// A PID namespace other than the root.
pub struct PidNamespace {
    /// 1 for a child of the root, one more for each namespace below.
    pub level: usize,
    /// The namespace it was made in (None: the root).
    pub parent: Option<Arc<PidNamespace>>,
    /// The last number handed out here (numbers are not reused: kentry's global ids are not
    /// either).
    last: AtomicU32,
    /// Number here → global id, for every task that has a number here and still exists.
    /// Taken with interrupts off only ([`PidNamespace::with_map`]): a task's last reference,
    /// and with it its numbers, can go in an interrupt (the scheduler's reaping).
    map: Mutex<BTreeMap<u32, u32>>,
    /// Its init, pid 1 here (Linux's `child_reaper`): orphans of the namespace go to it.
    reaper: Mutex<Weak<Process>>,
    /// Its init has ended: no process may enter it any more (Linux clears PIDNS_ADDING), and
    /// every process in it has been killed.
    dead: AtomicBool,
}

impl PidNamespace {
    /// A new namespace below `parent` (None: the root); ENOSPC past level 32, as Linux.
    pub fn new(parent: Option<&Arc<PidNamespace>>) -> Result<Arc<PidNamespace>, i64> {
        let level = parent.map_or(1, |p| p.level + 1);
        if level > MAX_PID_NS_LEVEL {
            return Err(-crate::syscall::errno::ENOSPC);
        }
        Ok(Arc::new(PidNamespace {
            level,
            parent: parent.cloned(),
            last: AtomicU32::new(0),
            map: Mutex::new(BTreeMap::new()),
            reaper: Mutex::new(Weak::new()),
            dead: AtomicBool::new(false),
        }))
    }

    /// Runs `f` on the number table, under its lock, with interrupts off.
    fn with_map<R>(&self, f: impl FnOnce(&mut BTreeMap<u32, u32>) -> R) -> R {
        x86_64::instructions::interrupts::without_interrupts(|| f(&mut self.map.lock()))
    }

    /// Its ancestor (or itself) at `level` (≥ 1, ≤ its own).
    fn at_level(self: &Arc<Self>, level: usize) -> Option<&Arc<PidNamespace>> {
        let mut ns = self;
        while ns.level > level {
            ns = ns.parent.as_ref()?;
        }
        (ns.level == level).then_some(ns)
    }

    /// Its init, if it still exists.
    pub fn reaper(&self) -> Option<Arc<Process>> {
        self.reaper.lock().upgrade()
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Its init has ended: nobody enters it any more.
    pub fn set_dead(&self) {
        self.dead.store(true, Ordering::Release);
    }
}

/// Whether `a` and `b` are the same namespace (None: the root).
pub fn same_ns(a: Option<&Arc<PidNamespace>>, b: Option<&Arc<PidNamespace>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// A task's numbers in the namespaces it belongs to, below the root.
pub struct NsPids {
    /// The namespace it was made in (its active one).
    pub ns: Arc<PidNamespace>,
    /// Its number at each level: `nrs[0]` the global id, `nrs[ns.level]` its own.
    pub nrs: Vec<u32>,
}

impl NsPids {
    /// Its number in its own namespace (getpid, gettid).
    pub fn vnr(&self) -> u32 {
        self.nrs[self.ns.level]
    }

    /// Whether it is in `ns` (its own namespace or one below it).
    pub fn in_ns(&self, ns: &Arc<PidNamespace>) -> bool {
        self.ns
            .at_level(ns.level)
            .is_some_and(|a| Arc::ptr_eq(a, ns))
    }
}

/// Its numbers leave each namespace's table with the last holder (the task and, for a
/// process's first thread, the process: a zombie keeps its number until reaped).
impl Drop for NsPids {
    fn drop(&mut self) {
        let mut ns = Some(&self.ns);
        while let Some(n) = ns {
            n.with_map(|m| m.remove(&self.nrs[n.level]));
            ns = n.parent.as_ref();
        }
    }
}

/// A global id and, for a task entering namespace `ns` (None: the root), its number there and
/// in every namespace above. ENOMEM once the namespace's init has ended (Linux's alloc_pid
/// without PIDNS_ADDING).
pub fn alloc(ns: Option<&Arc<PidNamespace>>) -> Result<(u32, Option<Arc<NsPids>>), i64> {
    let Some(ns) = ns else {
        return Ok((super::alloc_pid(), None));
    };
    if ns.is_dead() {
        return Err(-crate::syscall::errno::ENOMEM);
    }
    let global = super::alloc_pid();
    let mut nrs = alloc::vec![0u32; ns.level + 1];
    nrs[0] = global;
    let mut at = Some(ns);
    while let Some(n) = at {
        let nr = n.last.fetch_add(1, Ordering::AcqRel) + 1;
        n.with_map(|m| m.insert(nr, global));
        nrs[n.level] = nr;
        at = n.parent.as_ref();
    }
    Ok((
        global,
        Some(Arc::new(NsPids {
            ns: ns.clone(),
            nrs,
        })),
    ))
}

/// A new process `p` with these numbers: pid 1 of its namespace becomes the namespace's
/// init (Linux's `is_child_reaper` in copy_process).
pub fn note_new_process(p: &Arc<Process>) {
    if let Some(pids) = &p.ns_pids
        && pids.vnr() == 1
    {
        *pids.ns.reaper.lock() = Arc::downgrade(p);
    }
}

/// The number of a task with `pids` (None: a root task) and global id `global` as seen from
/// `viewer` (None: the root): its number at the viewer's level if it is in the viewer's
/// namespace, else 0 (Linux's `pid_nr_ns`).
#[inline]
pub fn pid_nr_ns(
    pids: Option<&Arc<NsPids>>,
    global: u32,
    viewer: Option<&Arc<PidNamespace>>,
) -> u32 {
    let Some(v) = viewer else {
        return global;
    };
    match pids {
        Some(p) if p.in_ns(v) => p.nrs[v.level],
        _ => 0,
    }
}

/// Test kernels, `kentry.break=pidns`: a number passed from inside a namespace is taken as a
/// global id, so a process there reaches processes outside it (the negative run of
/// `c_pidns`).
pub static BREAK_ISOLATION: AtomicBool = AtomicBool::new(false);

/// The global id of the task numbered `nr` in `viewer` (None: the root, where the numbers are
/// the global ids). None: no such number there.
#[inline]
pub fn vnr_to_global(nr: u32, viewer: Option<&Arc<PidNamespace>>) -> Option<u32> {
    match viewer {
        None => Some(nr),
        Some(_) if BREAK_ISOLATION.load(Ordering::Relaxed) => Some(nr),
        Some(v) => v.with_map(|m| m.get(&nr).copied()),
    }
}

/// The global id of the task numbered `nr` in the calling process's namespace.
pub fn current_vnr_to_global(nr: u32) -> Option<u32> {
    vnr_to_global(nr, crate::task::current().process.pid_ns())
}

/// A global id (a process group's or session's) as `viewer` sees it: through the process or
/// thread that holds it, 0 when none does any more or it is not visible there.
pub fn global_to_vnr(global: u32, viewer: Option<&Arc<PidNamespace>>) -> u32 {
    if viewer.is_none() || global == 0 {
        return global;
    }
    if let Some(p) = super::PROCESSES.get(global) {
        return p.pid_in(viewer);
    }
    super::THREADS.get(global).map_or(0, |t| t.tid_in(viewer))
}

impl Process {
    /// The namespace its threads' ids are in (None: the root).
    #[inline]
    pub fn pid_ns(&self) -> Option<&Arc<PidNamespace>> {
        self.ns_pids.as_ref().map(|p| &p.ns)
    }

    /// Its pid as `viewer` sees it (0: not visible there).
    #[inline]
    pub fn pid_in(&self, viewer: Option<&Arc<PidNamespace>>) -> u32 {
        pid_nr_ns(self.ns_pids.as_ref(), self.pid, viewer)
    }

    /// Whether it is in `ns` (None: the root, where every process is).
    pub fn in_pid_ns(&self, ns: Option<&Arc<PidNamespace>>) -> bool {
        match ns {
            None => true,
            Some(ns) => self.ns_pids.as_ref().is_some_and(|p| p.in_ns(ns)),
        }
    }
}

impl crate::task::Task {
    /// Its tid as `viewer` sees it (0: not visible there).
    #[inline]
    pub fn tid_in(&self, viewer: Option<&Arc<PidNamespace>>) -> u32 {
        pid_nr_ns(self.ns_tids.get(), self.tid, viewer)
    }
}

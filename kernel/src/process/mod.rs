//! Processes: what a task's threads share — address space, files, signal handlers, children —
//! and how a process starts, forks, execs, exits and is waited for.

pub mod cred;
mod exit;
mod files;
pub mod group;
pub mod pid_ns;
pub mod user_ns;
mod wait;

pub use exit::{
    begin_group_exit, end_other_threads_for_exec, end_thread_at_exit_work, exit_current_thread,
    exit_group_current,
};
pub use wait::{WaitChildren, WaitEvent, WaitOptions, WaitWho, wait_child, wait_event};

use crate::exec::Image;
use crate::mm::aspace::AddressSpace;
use crate::rcu::RcuIdMap;
use crate::sched::{self, WaitQueue};
use crate::signal::SigActions;
use crate::sync::Mutex;
use crate::syscall::clone::{CLONE_CLEAR_SIGHAND, CLONE_FILES, CSIGNAL};
use crate::task::{ExitReason, Task, TaskRef, TaskState};
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use spin::Once;

pub struct Process {
    /// Its id in the root PID namespace (the registry's key).
    pub pid: u32,
    /// Its id in its own PID namespace (getpid): `pid` in the root namespace.
    pub vpid: u32,
    /// Its numbers in the PID namespaces below the root it belongs to (pid_ns.rs; None: a
    /// process of the root namespace). Never changes.
    pub ns_pids: Option<Arc<pid_ns::NsPids>>,
    /// Where its children go (Linux's `nsproxy->pid_ns_for_children`): its own namespace,
    /// or the one unshare(CLONE_NEWPID) made (None: the root).
    pub pid_ns_for_children: Mutex<Option<Arc<pid_ns::PidNamespace>>>,
    /// Its user namespace (user_ns.rs; None: the initial one).
    pub user_ns: Mutex<Option<Arc<user_ns::UserNamespace>>>,
    /// Its ids and capabilities (cred.rs).
    pub creds: Mutex<cred::Creds>,
    pub name: Mutex<String>,
    pub parent: Mutex<Weak<Process>>,
    /// The user address space (None for the kernel process).
    pub aspace: Mutex<Option<AddressSpace>>,
    /// The page-table root to load when a thread of this process runs.
    pub cr3: AtomicU64,
    /// Where its 32-bit vDSO is mapped, 0 for none (Linux's `mm->context.vdso` of an i386
    /// process): read without a lock by every compat fast system call (its landing pad) and
    /// by i386 signal delivery (the default restorers). Set from the address space at exec
    /// and fork (a vfork child takes its parent's), again after each munmap and mremap.
    pub vdso32: AtomicU64,
    /// Its `int80_landing_pad` (`vdso32` + the symbol's offset), 0 for none: where the compat
    /// fast system calls return, one load on every call. A u32: an i386 address space ends
    /// below 4 GiB ([`crate::vdso::ia32::landing_pad_of`]). Stored with `vdso32`
    /// ([`Process::set_vdso32`]).
    pub vdso32_landing_pad: AtomicU32,
    /// The descriptor table, read through [`Process::files`] and [`Process::lookup_fd`]
    /// (files.rs): CLONE_FILES shares it.
    files: crate::rcu::RcuBox<Arc<crate::fs::FdTableLock>>,
    pub sigactions: Mutex<SigActions>,
    /// Signals sent to the process (any thread may take them), with their siginfos.
    pub sig_pending: crate::signal::SigPending,
    pub threads: Mutex<Vec<Weak<Task>>>,
    pub live_threads: AtomicU32,
    pub children: Mutex<Vec<Arc<Process>>>,
    /// The threads this process traces (ptrace/): its waits see their stops.
    pub ptraced: Mutex<Vec<TaskRef>>,
    /// Threads of this process that ended traced and whose tracer has not yet waited for
    /// them: until then the process's own end is not reported (Linux's
    /// `delay_group_leader`: a traced zombie thread keeps the group from being released).
    pub traced_zombies: AtomicU32,
    /// Set once when the last thread exits (or exit_group / a fatal signal ends it).
    pub exit: Mutex<Option<ExitReason>>,
    pub exiting: AtomicBool,
    /// Nonzero: the tid of the thread whose execve is ending every other thread
    /// ([`end_other_threads_for_exec`]).
    pub exec_by: AtomicU32,
    /// The tid of the thread group's leader: the pid, or the thread whose execve ended the
    /// others (Linux gives it the leader's tid; kentry's tids do not change). Its end is the
    /// process's, which a tracer that is also the parent sees once (ptrace `tracee_exit`).
    pub leader_tid: AtomicU32,
    /// Where this process's wait4() callers sleep until a child changes state.
    pub child_wait: WaitQueue,
    /// vfork: the process whose address space this child runs in until it execs or exits.
    pub vfork_parent: Mutex<Option<Arc<Process>>>,
    /// Set when a vfork child gives its parent's memory back (exec or exit).
    pub vfork_done: AtomicBool,
    pub vfork_wait: WaitQueue,
    /// CPU time of all its threads (getrusage, times; sched/cputime.rs).
    pub cputime: crate::sched::cputime::CpuTime,
    /// Its process group and session (group.rs).
    pub pgid: AtomicU32,
    pub sid: AtomicU32,
    /// It has called execve (a parent may no longer move it to another group).
    pub did_exec: AtomicBool,
    /// Its group stop (signal/jobctl.rs).
    pub jobctl: crate::signal::jobctl::ProcessJobCtl,
    /// Its parent has waited for its end: its pid names nothing any more, though the
    /// registry may still hold it until its last reference goes (a dead thread's, say).
    pub reaped: AtomicBool,
    /// Its end is complete and its exit signal sent: only then may a wait report it (as in
    /// Linux, where `exit_notify` signals the parent before the child can be reaped).
    pub exit_notified: AtomicBool,
    /// Set while its exit signal is being sent, just before `exit_notified` (a short window
    /// without sleeps): a parent's wait that the signal interrupts waits for the window to
    /// close and looks once more (process/wait.rs), as Linux's waiter, which sees the signal
    /// and the zombie together (both are made under tasklist_lock), returns the child.
    pub exit_signaling: AtomicBool,
    /// When it was made (CLOCK_MONOTONIC ns, which counts from boot: /proc/PID/stat's
    /// starttime).
    pub start_ns: u64,
    /// The signal its parent gets when it ends (clone's low byte, clone3's exit_signal;
    /// 0: none).
    pub exit_signal: AtomicU8,
    /// Its LDT (task/ldt.rs): modify_ldt's, shared by its threads, copied by fork, dropped by
    /// exec.
    pub ldt: crate::task::ldt::MmLdt,
}

static NEXT_PID: AtomicU32 = AtomicU32::new(1);
/// Every live process by pid (for kill and friends), read under RCU (rcu/idmap.rs).
static PROCESSES: RcuIdMap<Process> = RcuIdMap::new();
/// Every user thread by tid, read under RCU.
static THREADS: RcuIdMap<Task> = RcuIdMap::new();

/// The process with this pid, if it is still around (an RCU lookup: no lock).
pub fn find(pid: u32) -> Option<Arc<Process>> {
    PROCESSES
        .get(pid)
        .filter(|p| !p.reaped.load(Ordering::Acquire))
}

/// How many processes exist (including ended ones not yet reaped, and the kernel's).
pub fn count() -> usize {
    PROCESSES.live().len()
}

/// Every process that still exists (the registry holds them weakly), as a snapshot.
fn live_processes() -> Vec<Arc<Process>> {
    let mut v = PROCESSES.live();
    v.retain(|p| !p.reaped.load(Ordering::Acquire));
    v
}

/// Every user process that exists (not the kernel's), ended ones not yet reaped too.
pub fn all_user_processes() -> Vec<Arc<Process>> {
    live_processes()
        .into_iter()
        .filter(|p| p.pid != 0)
        .collect()
}

/// `(pid, name, live threads, ended)` of every process that exists, for reports.
pub fn list() -> Vec<(u32, String, u32, bool)> {
    let procs = live_processes();
    procs
        .iter()
        .map(|p| {
            (
                p.pid,
                p.name.lock().clone(),
                p.live_threads.load(Ordering::Relaxed),
                p.exit_reason().is_some(),
            )
        })
        .collect()
}

/// Reaps every ended child the kernel holds (its own, and orphans handed to it).
pub fn reap_kernel_children() {
    let k = kernel_process();
    while let Ok(Some(_)) = wait_child(&k, -1, true) {}
}

/// The live thread with this tid (an RCU lookup: no lock).
pub fn find_thread(tid: u32) -> Option<TaskRef> {
    THREADS.get(tid).filter(|t| t.state() != TaskState::Dead)
}
static KERNEL: Once<Arc<Process>> = Once::new();

impl Process {
    /// Records where the 32-bit vDSO now is (0: none), and with it the landing pad.
    pub fn set_vdso32(&self, base: u64) {
        self.vdso32.store(base, Ordering::Relaxed);
        self.vdso32_landing_pad
            .store(crate::vdso::ia32::landing_pad_of(base), Ordering::Relaxed);
    }

    /// A new process in group `pgid` of session `sid`.
    fn new(
        (pid, ns_pids): (u32, Option<Arc<pid_ns::NsPids>>),
        name: &str,
        aspace: Option<AddressSpace>,
        parent: Weak<Process>,
        (pgid, sid): (u32, u32),
        files: Arc<crate::fs::FdTableLock>,
    ) -> Arc<Process> {
        let cr3 = aspace
            .as_ref()
            .map_or_else(|| crate::mm::paging::kernel_table().root, |a| a.root());
        let vpid = ns_pids.as_ref().map_or(pid, |n| n.vnr());
        let for_children = ns_pids.as_ref().map(|n| n.ns.clone());
        let p = Arc::new(Process {
            pid,
            vpid,
            ns_pids,
            pid_ns_for_children: Mutex::new(for_children),
            user_ns: Mutex::new(None),
            creds: Mutex::new(cred::Creds::root()),
            name: Mutex::new(String::from(name)),
            parent: Mutex::new(parent),
            vdso32: AtomicU64::new(aspace.as_ref().and_then(|a| a.vdso32()).unwrap_or(0)),
            vdso32_landing_pad: AtomicU32::new(crate::vdso::ia32::landing_pad_of(
                aspace.as_ref().and_then(|a| a.vdso32()).unwrap_or(0),
            )),
            aspace: Mutex::new(aspace),
            cr3: AtomicU64::new(cr3),
            files: crate::rcu::RcuBox::new(files),
            sigactions: Mutex::new(SigActions::new()),
            sig_pending: crate::signal::SigPending::new(),
            threads: Mutex::new(Vec::new()),
            live_threads: AtomicU32::new(0),
            children: Mutex::new(Vec::new()),
            ptraced: Mutex::new(Vec::new()),
            traced_zombies: AtomicU32::new(0),
            exit: Mutex::new(None),
            exiting: AtomicBool::new(false),
            exec_by: AtomicU32::new(0),
            leader_tid: AtomicU32::new(pid),
            child_wait: WaitQueue::new(),
            vfork_parent: Mutex::new(None),
            vfork_done: AtomicBool::new(false),
            vfork_wait: WaitQueue::new(),
            cputime: crate::sched::cputime::CpuTime::new(),
            pgid: AtomicU32::new(pgid),
            sid: AtomicU32::new(sid),
            did_exec: AtomicBool::new(false),
            jobctl: crate::signal::jobctl::ProcessJobCtl::new(),
            reaped: AtomicBool::new(false),
            exit_notified: AtomicBool::new(false),
            exit_signaling: AtomicBool::new(false),
            start_ns: crate::time::monotonic_ns(),
            exit_signal: AtomicU8::new(crate::signal::SIGCHLD),
            ldt: crate::task::ldt::MmLdt::new(),
        });
        PROCESSES.insert(pid, Arc::downgrade(&p));
        p
    }

    fn add_thread(self: &Arc<Self>, t: &TaskRef) {
        self.add_thread_with(t, || {});
    }

    /// Adds `t`, running `under_lock` while the thread list is held: what a new thread copies
    /// from its creator there (its seccomp filters) cannot miss a TSYNC, which holds the list.
    fn add_thread_with(self: &Arc<Self>, t: &TaskRef, under_lock: impl FnOnce()) {
        let mut threads = self.threads.lock();
        under_lock();
        threads.push(Arc::downgrade(t));
        drop(threads);
        THREADS.insert(t.tid, Arc::downgrade(t));
        self.live_threads.fetch_add(1, Ordering::AcqRel);
    }

    /// A snapshot of this process's threads other than `tid` (0: all of them), taken under
    /// the thread list's lock, used without it.
    pub fn other_threads(&self, tid: u32) -> Vec<TaskRef> {
        self.threads
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|t| t.tid != tid)
            .collect()
    }

    pub fn exit_reason(&self) -> Option<ExitReason> {
        *self.exit.lock()
    }

    /// Whether thread `tid` of this process is to end: the process is exiting, or another
    /// thread's execve is ending it. Blocking waits give up and the exit path ends the thread.
    pub fn thread_must_end(&self, tid: u32) -> bool {
        if self.exiting.load(Ordering::Acquire) {
            return true;
        }
        let by = self.exec_by.load(Ordering::Acquire);
        by != 0 && by != tid
    }

    /// The process whose address space this one runs in: itself, or during vfork its
    /// parent. Memory syscalls and page faults go there.
    pub fn mm(self: &Arc<Self>) -> Arc<Process> {
        self.vfork_parent
            .lock()
            .clone()
            .unwrap_or_else(|| self.clone())
    }

    /// A vfork child stops using its parent's memory (exec or exit): the parent runs on.
    pub fn release_vfork(&self) {
        if self.vfork_parent.lock().take().is_some() {
            self.vfork_done.store(true, Ordering::Release);
            self.vfork_wait.wake_all();
        }
    }
}

/// The kernel's own process (pid 0): kernel threads, idle.
pub fn kernel_process() -> Arc<Process> {
    KERNEL
        .call_once(|| {
            Process::new(
                (0, None),
                "kernel",
                None,
                Weak::new(),
                (0, 0),
                console_files(),
            )
        })
        .clone()
}

/// A descriptor table with stdin, stdout and stderr on the console.
fn console_files() -> Arc<crate::fs::FdTableLock> {
    Arc::new(crate::fs::FdTableLock::new(
        crate::fs::FdTable::new_console(),
    ))
}

pub fn alloc_pid() -> u32 {
    NEXT_PID.fetch_add(1, Ordering::Relaxed)
}

/// Processes and threads created since boot (/proc/stat's `processes`, Linux's
/// `total_forks`): every one took a number from the same counter.
pub fn forks_since_boot() -> u32 {
    NEXT_PID.load(Ordering::Relaxed) - 1
}

/// Starts a new process running `image`, as a child of `parent`. Its first thread's tid is
/// its pid; it leads a session and group of its own (as Linux's init and a login shell's
/// job do).
pub fn spawn(name: &str, image: Image, parent: &Arc<Process>) -> Arc<Process> {
    let pid = alloc_pid();
    let p = Process::new(
        (pid, None),
        name,
        Some(image.aspace),
        Arc::downgrade(parent),
        (pid, pid),
        console_files(),
    );
    parent.children.lock().push(p.clone());
    let t = Task::new_user(pid, p.clone(), &image.regs);
    p.add_thread(&t);
    sched::spawn(t);
    p
}

/// Starts `image` as a child of the kernel and waits for it to end (the kernel's own way to
/// run a program: the test harness, run mode).
pub fn spawn_and_wait(
    name: &str,
    exe: &str,
    image: Image,
) -> Result<ExitReason, alloc::string::String> {
    let k = kernel_process();
    let p = spawn(name, image, &k);
    crate::fs::set_exe(&p, exe);
    let r = wait_child(&k, p.pid as i32, false);
    drop(p);
    // Orphans the program left behind have become the kernel's: reap those that ended.
    reap_kernel_children();
    match r {
        Ok(Some((_, reason))) => Ok(reason),
        Ok(None) => Err(alloc::format!("{name}: wait ended without a status")),
        Err(e) => Err(alloc::format!("{name}: wait failed ({e})")),
    }
}

/// fork(): a copy of the calling process whose one thread returns 0 from the same syscall.
/// With `vfork`, the child runs in the caller's address space instead, and the caller waits
/// until the child execs or exits. `clone_flags` say which ptrace event it is (and whether
/// the child is traced too), its exit signal (the low byte), whether it shares the
/// descriptor table (CLONE_FILES) and whether its handlers are reset (CLONE_CLEAR_SIGHAND);
/// `tls` is its FS base (CLONE_SETTLS). `after_start(pid)` runs once the child may run,
/// before a vfork waits (the tracer's fork event stop).
pub fn fork_current(
    regs: &kentry::Regs,
    vfork: bool,
    clone_flags: u64,
    tls: Option<crate::task::tls::CloneTls>,
    before_start: &dyn Fn(u32),
    after_start: &mut dyn FnMut(u32),
) -> Result<u32, i64> {
    let me = crate::task::current();
    let parent = &me.process;
    let mm = parent.mm();
    // The child's PID namespace: a new one (CLONE_NEWPID) below where the caller's children
    // go, or that one itself; its user namespace: a new one (CLONE_NEWUSER) or the caller's.
    // Both, and its pid, before the address-space copy, which an error would leak.
    let (ns, user_ns) = namespaces_for_child(parent, clone_flags)?;
    let (pid, ns_pids) = pid_ns::alloc(ns.as_ref()).map_err(|e| -e)?;
    let aspace = if vfork {
        None
    } else {
        let a = mm.aspace.lock();
        Some(
            a.as_ref()
                .ok_or(crate::syscall::errno::EINVAL)?
                .fork_copy()
                .map_err(|_| crate::syscall::errno::ENOMEM)?,
        )
    };
    // CLONE_FILES: the same table; else a copy sharing every open file description.
    let files = if clone_flags & CLONE_FILES != 0 {
        let f = parent.files();
        f.share();
        f
    } else {
        Arc::new(crate::fs::FdTableLock::new(
            parent.files().lock().fork_copy(),
        ))
    };
    let child = Process::new(
        (pid, ns_pids.clone()),
        &parent.name.lock(),
        aspace,
        Arc::downgrade(parent),
        (parent.pgid(), parent.sid()),
        files,
    );
    child
        .exit_signal
        .store((clone_flags & CSIGNAL) as u8, Ordering::Relaxed);
    // The caller's LDT, copied (a vfork child too: its own copy of what the parent has now,
    // where Linux's would share the parent's mm and see later writes; docs/compat.md).
    child.ldt.inherit(&parent.ldt);
    if vfork {
        // Its memory is the parent's, and with it the parent's vDSO.
        child.set_vdso32(mm.vdso32.load(Ordering::Relaxed));
        child
            .cr3
            .store(mm.cr3.load(Ordering::Acquire), Ordering::Release);
        *child.vfork_parent.lock() = Some(mm.clone());
    }
    let mut actions = parent.sigactions.lock().clone();
    if clone_flags & CLONE_CLEAR_SIGHAND != 0 {
        // Handled signals back to their default; ignored ones stay ignored (Linux's
        // flush_signal_handlers, as execve).
        actions.reset_for_exec();
    }
    *child.sigactions.lock() = actions;
    let mut creds = parent.creds.lock().clone();
    if clone_flags & crate::syscall::clone::CLONE_NEWUSER != 0 {
        // The creator of a user namespace has every capability inside it.
        (creds.cap_permitted, creds.cap_effective) = (true, true);
    }
    *child.creds.lock() = creds;
    *child.user_ns.lock() = user_ns;
    pid_ns::note_new_process(&child);
    parent.children.lock().push(child.clone());
    let mut cregs = *regs;
    cregs.rax = 0;
    let t = Task::new_user(pid, child.clone(), &cregs);
    if let Some(n) = ns_pids {
        t.ns_tids.call_once(|| n);
    }
    // SAFETY: `t` has never run; the caller is the running task copying its own state.
    unsafe {
        let (ti, mi) = (t.inner(), crate::task::current_inner());
        mi.fpu.save();
        // Into the buffer the new task already has: no second allocation.
        ti.fpu.copy_from(&mi.fpu);
        // CLONE_SETTLS: the child's FS base, or an i386 caller's TLS slot.
        crate::task::tls::CloneTls::apply(tls, ti, &mi.tls);
        ti.selectors = crate::task::segments::Selectors::read();
        ti.sigmask = mi.sigmask;
        t.blocked_seen.store(mi.sigmask, Ordering::Relaxed);
        ti.altstack = mi.altstack;
    }
    crate::syscall::seccomp::inherit(crate::task::current(), &t);
    child.add_thread(&t);
    crate::ptrace::attach_child(
        &t,
        crate::ptrace::EventStop::of_clone(clone_flags),
        clone_flags,
    );
    // The child may run on another CPU at once: what the caller writes for it comes first.
    before_start(pid);
    sched::spawn(t);
    after_start(pid);
    if vfork {
        // Not interruptible: the child is using this process's memory and stack ('D', as
        // Linux's killable wait_for_vfork_done).
        let _d = sched::UninterruptibleSleep::begin();
        child
            .vfork_wait
            .wait_until(|| child.vfork_done.load(Ordering::Acquire), || false);
    }
    Ok(pid)
}

/// A new thread in the calling process (clone with CLONE_VM|CLONE_THREAD…).
/// `before_start(tid)` runs before the thread can run (clone's CLONE_PARENT_SETTID and
/// CLONE_CHILD_SETTID writes: on another CPU it could otherwise exit, and clear its tid,
/// before they land).
pub fn spawn_thread(
    regs: &kentry::Regs,
    tls: Option<crate::task::tls::CloneTls>,
    clear_tid: u64,
    clone_flags: u64,
    before_start: &dyn Fn(u32),
) -> Result<u32, i64> {
    let me = crate::task::current();
    let (tid, ns_tids) = pid_ns::alloc(me.process.pid_ns()).map_err(|e| -e)?;
    let t = Task::new_user(tid, me.process.clone(), regs);
    if let Some(n) = ns_tids {
        t.ns_tids.call_once(|| n);
    }
    // SAFETY: `t` has never run.
    unsafe {
        let (ti, mi) = (t.inner(), crate::task::current_inner());
        mi.fpu.save();
        // Into the buffer the new task already has: no second allocation.
        ti.fpu.copy_from(&mi.fpu);
        crate::task::tls::CloneTls::apply(tls, ti, &mi.tls);
        ti.selectors = crate::task::segments::Selectors::read();
        ti.sigmask = mi.sigmask;
        t.blocked_seen.store(mi.sigmask, Ordering::Relaxed);
        ti.clear_child_tid = clear_tid;
    }
    me.process
        .add_thread_with(&t, || crate::syscall::seccomp::inherit(me, &t));
    crate::ptrace::attach_child(&t, crate::ptrace::EventStop::Clone, clone_flags);
    crate::signal::jobctl::join_group_stop(&t);
    before_start(tid);
    sched::spawn(t);
    Ok(tid)
}

/// A new child's PID namespace and user namespace (None: the root, the initial one).
type ChildNamespaces = (
    Option<Arc<pid_ns::PidNamespace>>,
    Option<Arc<user_ns::UserNamespace>>,
);

/// The PID and user namespaces of a new child of `parent` (Linux's copy_namespaces for the
/// two kinds kentry has). CLONE_NEWPID makes a namespace below the one the caller's children
/// go to, which must be the caller's own (EINVAL after an unshare(CLONE_NEWPID), as Linux's
/// copy_pid_ns).
fn namespaces_for_child(parent: &Arc<Process>, clone_flags: u64) -> Result<ChildNamespaces, i64> {
    use crate::syscall::clone::{CLONE_NEWPID, CLONE_NEWUSER};
    let mut user = parent.user_ns.lock().clone();
    if clone_flags & CLONE_NEWUSER != 0 {
        user = Some(user_ns::UserNamespace::new(user.as_ref()).map_err(|e| -e)?);
    }
    let for_children = parent.pid_ns_for_children.lock().clone();
    let ns = if clone_flags & CLONE_NEWPID != 0 {
        if !pid_ns::same_ns(for_children.as_ref(), parent.pid_ns()) {
            return Err(crate::syscall::errno::EINVAL);
        }
        Some(pid_ns::PidNamespace::new(for_children.as_ref()).map_err(|e| -e)?)
    } else {
        for_children
    };
    Ok((ns, user))
}

/// Lets a dead task go and frees its kernel stack (called by the next task to run, off that
/// stack).
pub fn reap_task(t: TaskRef) {
    if t.tid != 0 {
        THREADS.remove(t.tid, &Arc::downgrade(&t));
    }
    t.process
        .threads
        .lock()
        .retain(|w| w.upgrade().is_some_and(|x| !Arc::ptr_eq(&x, &t)));
    // Its stack goes with its last reference (task::Task's Drop): now, or when whoever else
    // still holds one (a wait queue, an RCU reader's lookup) lets go; freed at the next
    // reaping or RCU batch after that.
    drop(t);
    crate::mm::stack::free_deferred();
}

//! How threads and processes end: a thread's exit, exit_group and fatal signals telling the
//! other threads, an execve ending them (Linux's `de_thread`), and a process's last thread
//! releasing it and telling its parent (`exit_notify`).

use super::{Process, group, kernel_process};
use crate::sched;
use crate::task::{ExitReason, Task, TaskRef, TaskState};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

/// Ends the running thread. The last thread out ends the process with `reason`. Never
/// returns.
pub fn exit_current_thread(reason: ExitReason) -> ! {
    crate::ptrace::exit_event(reason);
    exit_thread_after_event(reason)
}

/// The rest of [`exit_current_thread`], after the tracer's PTRACE_EVENT_EXIT stop.
fn exit_thread_after_event(reason: ExitReason) -> ! {
    let me = crate::task::current();
    let p = me.process.clone();
    // CLONE_CHILD_CLEARTID: tell a joiner the thread is gone.
    let ctid = crate::task::current_inner().clear_child_tid;
    if ctid != 0 {
        let _ = crate::uaccess::copy_to_user(ctid, &0u32.to_ne_bytes());
        crate::futex::wake(ctid, 1);
    }
    // Its filters go now: a filter no thread uses any more tells its listener (POLLHUP).
    crate::syscall::seccomp::release(me);
    // A group stop waits for it no more.
    crate::signal::jobctl::thread_exits();
    // The tracer hears of the end first: a traced thread that reports its own end holds its
    // process's end back (`traced_zombies`) before it leaves `live_threads`, or a parent's
    // wait could see the process ended (every thread gone, nothing held) and report it
    // before the tracer has the thread's end.
    crate::ptrace::tracee_exit(me, reason);
    // Its pending signals die with it; the process's with its last thread (their siginfos
    // leave the RLIMIT_SIGPENDING count now, not when the last reference goes).
    me.sig_pending.flush();
    let last = p.live_threads.fetch_sub(1, Ordering::AcqRel) == 1;
    if last {
        p.sig_pending.flush();
        end_process(&p, reason);
    }
    // This frame is never resumed: nothing owned here may outlive the switch, or it leaks.
    drop(p);
    x86_64::instructions::interrupts::disable();
    me.set_state(TaskState::Dead);
    sched::schedule();
    unreachable!("a dead task was scheduled");
}

/// exit_group() or a fatal signal: every thread of the process ends; the process ends with
/// `reason`. Never returns.
pub fn exit_group_current(reason: ExitReason) -> ! {
    // The tracer's exit stop comes first, while the other threads still run (Linux's
    // do_exit reports it before the group's other threads are told).
    crate::ptrace::exit_event(reason);
    let reason = tell_threads_to_exit(reason);
    exit_thread_after_event(reason)
}

/// Marks the process as exiting with `reason` (unless it already was) and tells every other
/// thread to end; returns the reason the process ends with.
fn tell_threads_to_exit(reason: ExitReason) -> ExitReason {
    let me = crate::task::current();
    let p = &me.process;
    if !p.exiting.swap(true, Ordering::AcqRel) {
        *p.exit.lock() = Some(reason);
    }
    for t in p.other_threads(me.tid) {
        tell_to_end(&t);
    }
    p.exit_reason().unwrap_or(reason)
}

/// Tells thread `t` to end at its next exit work (an IPI if it runs; a wake-up if it sleeps,
/// whose wait then sees `Process::thread_must_end` or the process exiting).
fn tell_to_end(t: &TaskRef) {
    sched::raise_work_on(t, kentry::exit_work::ExitWork::EXITING.bits());
    sched::wake(t);
}

/// Whether thread `t` is dead and off its CPU for good: nothing runs on its address space
/// or stack any more.
fn off_cpu_for_good(t: &Task) -> bool {
    t.state() == TaskState::Dead && !t.sched.on_cpu.load(Ordering::Acquire)
}

/// Like exit_group, from a place that must return first (seccomp's judgement, an interrupt
/// handler): the process ends with `reason`, this thread at its exit work.
pub fn begin_group_exit(reason: ExitReason) {
    tell_threads_to_exit(reason);
    crate::percpu::this_cpu()
        .entry
        .raise_work(kentry::exit_work::ExitWork::EXITING.bits());
}

/// Ends the calling thread only, with `reason` (the process's if it is the last), at its exit
/// work: for places that must return first.
pub fn end_thread_at_exit_work(reason: ExitReason) {
    crate::task::current_inner().pending_exit = Some(reason);
    crate::percpu::this_cpu()
        .entry
        .raise_work(kentry::exit_work::ExitWork::EXITING.bits());
}

/// execve in a multi-threaded process, past its point of no return (Linux's `de_thread`):
/// every other thread is told to end, and the caller waits until each is dead and off its
/// CPU, so that no CPU runs on the address space that execve frees next (a thread left
/// running would keep using freed page tables and pages). Returns `Err(EAGAIN)`, ending
/// nothing more, if an exit_group or another thread's execve got there first; the caller then
/// fails and its own exit work ends it.
///
/// The wait polls once per tick: threads end at their next return towards user mode (an IPI
/// brings a running one there; a blocked one is woken, and its wait sees
/// [`Process::thread_must_end`]), within a few ticks. The exec'ing thread keeps its tid
/// (Linux gives it the thread-group leader's, which kentry's tids cannot change to).
///
/// A thread that ended traced stays a zombie until its tracer waits for it
/// ([`Process::traced_zombies`]); the exec waits for that too, as Linux's `de_thread` waits
/// for `release_task` of every other thread (the process, with its /proc/PID/mem, is still
/// there for the tracer meanwhile: Linux's vmaccess selftest). That wait may last as long as
/// the tracer likes, so a fatal signal ends it (-EAGAIN, as Linux; the exit work then ends the
/// thread).
pub fn end_other_threads_for_exec() -> Result<(), i64> {
    let me = crate::task::current();
    let p = &me.process;
    if p.live_threads.load(Ordering::Acquire) == 1 && p.traced_zombies.load(Ordering::Acquire) == 0
    {
        p.leader_tid.store(me.tid, Ordering::Release);
        return Ok(());
    }
    if p.exiting.load(Ordering::Acquire)
        || p.exec_by
            .compare_exchange(0, me.tid, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return Err(crate::syscall::errno::EAGAIN);
    }
    loop {
        if p.exiting.load(Ordering::Acquire) || crate::signal::fatal_pending() {
            // An exit_group or a fatal signal overtook the exec: it ends this thread too.
            p.exec_by.store(0, Ordering::Release);
            return Err(crate::syscall::errno::EAGAIN);
        }
        let mut all_off = true;
        for t in p.other_threads(me.tid) {
            if !off_cpu_for_good(&t) {
                all_off = false;
            }
            if t.state() != TaskState::Dead {
                // Again each round: a thread cloned meanwhile is told too.
                tell_to_end(&t);
            }
        }
        if all_off && p.traced_zombies.load(Ordering::Acquire) == 0 {
            break;
        }
        sched::sleep_until(sched::ticks() + 1);
    }
    // The others are gone (the old leader's end was the process's own, so it was reported
    // to no tracer that is also the parent); this thread leads the group now.
    p.leader_tid.store(me.tid, Ordering::Release);
    p.exec_by.store(0, Ordering::Release);
    Ok(())
}

/// Who takes the children of `p` when it ends: the init of its PID namespace, or of the
/// nearest namespace above whose init has not finished ending (never `p` itself), else the
/// kernel. An init that is killing its namespace ([`zap_pid_ns`]) still takes them: it reaps
/// its children until every process of the namespace has told its parent, which each does
/// after handing its own children on.
fn child_reaper(p: &Arc<Process>) -> Arc<Process> {
    let mut ns = p.pid_ns();
    while let Some(n) = ns {
        if let Some(r) = n
            .reaper()
            .filter(|r| !Arc::ptr_eq(r, p) && !r.exit_notified.load(Ordering::Acquire))
        {
            return r;
        }
        ns = n.parent.as_ref();
    }
    kernel_process()
}

/// The init `p` of namespace `ns` is ending (Linux's `zap_pid_ns_processes`): nobody may
/// enter the namespace any more, every other process in it (and in the namespaces below it)
/// gets SIGKILL, and `p` reaps its own children meanwhile (orphans of the namespace come to
/// it), until every process of the namespace has ended and told its parent. Only then does
/// `p` itself end: a parent that waits for a namespace's init finds the namespace empty.
/// (Linux also waits for the zombies whose parent is outside to be reaped; kentry only for
/// their end.)
fn zap_pid_ns(p: &Arc<Process>, ns: &Arc<super::pid_ns::PidNamespace>) {
    ns.set_dead();
    let kill = crate::signal::SigInfo {
        signo: crate::signal::SIGKILL as i32,
        code: crate::signal::SI_KERNEL,
        ..Default::default()
    };
    loop {
        let members: Vec<Arc<Process>> = super::all_user_processes()
            .into_iter()
            .filter(|q| !Arc::ptr_eq(q, p) && q.in_pid_ns(Some(ns)))
            .collect();
        for q in members.iter().filter(|q| q.exit_reason().is_none()) {
            crate::signal::send_to_process_info(q, crate::signal::SIGKILL, kill);
        }
        while let Ok(Some(_)) = super::wait_child(p, -1, true) {}
        if members
            .iter()
            .all(|q| q.exit_notified.load(Ordering::Acquire))
        {
            // The last of them may have come to it (an orphan) after the reaping above.
            while let Ok(Some(_)) = super::wait_child(p, -1, true) {}
            break;
        }
        sched::sleep_until(sched::ticks() + 1);
    }
}

/// The last thread is leaving: release the address space and files, hand children to the
/// init of its PID namespace (or the kernel), and tell the parent.
fn end_process(p: &Arc<Process>, reason: ExitReason) {
    let reason = {
        let mut e = p.exit.lock();
        *e.get_or_insert(reason)
    };
    // A vfork child gives its parent's memory back.
    p.release_vfork();
    // Every other thread has left `live_threads`, but one may still be on its way to its last
    // switch on another CPU, with this address space's tables loaded: they outlive that.
    wait_until_threads_off_cpu(p);
    // Off this address space before freeing it.
    let kroot = crate::mm::paging::kernel_table().root;
    p.cr3.store(kroot, Ordering::Release);
    // SAFETY: the kernel table maps the kernel exactly as every process table does.
    unsafe { crate::mm::paging::kernel_table().activate() };
    if let Some(a) = p.aspace.lock().take() {
        a.destroy();
    }
    p.release_files();
    // Its POSIX timers end with it.
    crate::event::posix_timer::exit_process(p.pid);
    // Its tracees are let go (or killed, under PTRACE_O_EXITKILL).
    crate::ptrace::tracer_exit(p);
    // A session leader's terminal hangs up its foreground group and is free again.
    crate::tty::disassociate_ctty_on_exit(p);
    // A stopped job its end leaves orphaned is hung up and continued.
    group::exit_orphans_pgrps(p);
    // The init of a PID namespace takes the namespace with it.
    if let Some(ns) = p.pid_ns()
        && ns.reaper().is_some_and(|r| Arc::ptr_eq(&r, p))
    {
        zap_pid_ns(p, ns);
    }
    // Orphans go to the init of the nearest namespace that still has one (Linux's
    // find_child_reaper; the kernel stands for the root's).
    let orphans: Vec<Arc<Process>> = core::mem::take(&mut *p.children.lock());
    let k = child_reaper(p);
    for c in orphans {
        *c.parent.lock() = Arc::downgrade(&k);
        k.children.lock().push(c);
    }
    k.child_wait.wake_all();
    if let Some(parent) = p.parent.lock().upgrade() {
        // Its exit signal (clone's; 0: none), with Linux's siginfo.
        let sig = p.exit_signal.load(Ordering::Relaxed);
        p.exit_signaling.store(true, Ordering::Release);
        if sig != 0 {
            let info = child_exit_info(p, reason, sig, p.pid_in(parent.pid_ns()));
            let _ = crate::signal::queue_to_process(&parent, sig, &info);
        }
        p.exit_notified.store(true, Ordering::Release);
        parent.child_wait.wake_all();
    } else {
        p.exit_notified.store(true, Ordering::Release);
    }
}

/// The siginfo of a process's exit signal `sig` (Linux's `do_notify_parent`): CLD_EXITED with the
/// exit code or CLD_KILLED with the signal (no core is ever dumped), the child's pid as its
/// parent's namespace sees it (`vpid`), uid 0, and its user and system time in clock ticks.
fn child_exit_info(p: &Process, reason: ExitReason, sig: u8, vpid: u32) -> crate::signal::KSigInfo {
    const CLD_EXITED: i32 = 1;
    const CLD_KILLED: i32 = 2;
    /// Nanoseconds per clock tick (USER_HZ 100).
    const NS_PER_TICK: u64 = 10_000_000;
    let (code, status) = match reason {
        ExitReason::Exited(c) => (CLD_EXITED, c & 0xff),
        ExitReason::Signaled(s) => (CLD_KILLED, s as i32),
    };
    let [system, user] = crate::sched::cputime::process_cpu_ns(p);
    crate::signal::KSigInfo {
        info: crate::signal::SigInfo {
            signo: sig as i32,
            code,
            addr_or_pid: vpid as u64,
            extra: status as u32 as u64,
            ..Default::default()
        },
        tail: [user / NS_PER_TICK, system / NS_PER_TICK],
    }
}

/// Spins until every thread of `p` but the caller is dead and off its CPU. For the last
/// thread out: every other one has left `live_threads` in `exit_current_thread` and is at
/// most a few hundred instructions from the end of its last `schedule()`.
fn wait_until_threads_off_cpu(p: &Process) {
    let me = crate::task::current().tid;
    for t in p.other_threads(me) {
        while !off_cpu_for_good(&t) {
            core::hint::spin_loop();
        }
    }
}

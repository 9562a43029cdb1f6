//! wait4/waitid's search: the ended children of the caller's process, and the stops and ends
//! of the threads it traces (Linux's `do_wait` over the children and `ptraced` lists).

use super::Process;
use crate::signal::jobctl::JobReport;
use crate::task::ExitReason;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

/// What a wait found; the ids are as the waiter's PID namespace sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEvent {
    /// A child process ended (reaped, unless WNOWAIT), or a traced thread ended.
    Exited { pid: u32, reason: ExitReason },
    /// A traced thread stopped; `code` is what its status reports (the signal, and an event
    /// in bits 8–15).
    Trapped { pid: u32, code: u32 },
    /// A child process's group stop completed with this signal (WUNTRACED, WSTOPPED).
    Stopped { pid: u32, sig: u8 },
    /// A child process was continued by SIGCONT (WCONTINUED).
    Continued { pid: u32 },
}

/// Which children a wait is for, by global ids (the wait syscalls translate the caller's
/// numbers: `WaitWho::from_vnr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitWho {
    Any,
    /// The process (or, for a tracer, the thread) with this id.
    Id(u32),
    /// The members of this process group.
    Group(u32),
}

impl WaitWho {
    /// wait4's `pid` (Linux's encoding) for a waiter in group `own_pgid`: -1 any, 0 the
    /// waiter's group, below -1 group `-pid`, above 0 that id.
    pub fn from_pid(pid: i32, own_pgid: u32) -> WaitWho {
        match pid {
            -1 => WaitWho::Any,
            0 => WaitWho::Group(own_pgid),
            p if p < -1 => WaitWho::Group(p.unsigned_abs()),
            p => WaitWho::Id(p as u32),
        }
    }

    /// [`WaitWho::from_pid`] for a caller in PID namespace `ns`, whose `pid` and `-pgid`
    /// numbers are that namespace's: a number nobody has there matches nobody (ECHILD).
    pub fn from_vnr(
        pid: i32,
        own_pgid: u32,
        ns: Option<&Arc<super::pid_ns::PidNamespace>>,
    ) -> WaitWho {
        let global = |nr: u32| super::pid_ns::vnr_to_global(nr, ns).unwrap_or(0);
        match WaitWho::from_pid(pid, own_pgid) {
            WaitWho::Id(nr) => WaitWho::Id(global(nr)),
            WaitWho::Group(nr) if pid != 0 => WaitWho::Group(global(nr)),
            w => w,
        }
    }

    /// Whether a process or thread with id `id` in group `pgid` is one this wait is for.
    fn takes(self, id: u32, pgid: u32) -> bool {
        match self {
            WaitWho::Any => true,
            WaitWho::Id(i) => i == id,
            WaitWho::Group(g) => g == pgid,
        }
    }
}

/// Which events a wait takes.
#[derive(Clone, Copy, Debug)]
pub struct WaitOptions {
    /// WNOHANG: return at once when nothing is there.
    pub nohang: bool,
    /// WNOWAIT: report, but leave the event to be waited for again.
    pub nowait: bool,
    /// WEXITED (always, for wait4): ends are reported.
    pub exited: bool,
    /// WUNTRACED/WSTOPPED: a child's completed group stop is reported (a tracee's stops
    /// always are, to its tracer).
    pub stopped: bool,
    /// WCONTINUED: a child continued by SIGCONT is reported.
    pub continued: bool,
    /// Which children count (`__WCLONE`, `__WALL`); tracees always do.
    pub children: WaitChildren,
}

/// Which children a wait looks at (Linux's `eligible_child`). A "clone" child is one that
/// reports its end with a signal other than SIGCHLD (clone's low byte, clone3's
/// `exit_signal`, 0 included): a plain wait never sees it, not even for ECHILD, and a
/// `__WCLONE` wait sees only such children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitChildren {
    /// Children whose exit signal is SIGCHLD (no flag).
    Plain,
    /// The others (`__WCLONE`).
    Clone,
    /// Both (`__WALL`, which wins over `__WCLONE`).
    All,
}

impl WaitChildren {
    /// From wait4/waitid's options.
    pub fn from_flags(wall: bool, wclone: bool) -> WaitChildren {
        match (wall, wclone) {
            (true, _) => WaitChildren::All,
            (false, true) => WaitChildren::Clone,
            (false, false) => WaitChildren::Plain,
        }
    }

    fn takes(self, child: &Process) -> bool {
        let clone_child = child.exit_signal.load(Ordering::Relaxed) != crate::signal::SIGCHLD;
        match self {
            WaitChildren::All => true,
            WaitChildren::Clone => clone_child,
            WaitChildren::Plain => !clone_child,
        }
    }
}

/// Waits for a child of `parent` that matches `pid` (-1: any) to end, and reaps it.
/// Returns (pid, reason), `Ok(None)` for WNOHANG with no ended child, or an errno. (The
/// kernel's own waits: the kernel traces nobody.)
pub fn wait_child(
    parent: &Arc<Process>,
    pid: i32,
    nohang: bool,
) -> Result<Option<(u32, ExitReason)>, i64> {
    let opts = WaitOptions {
        nohang,
        nowait: false,
        exited: true,
        stopped: false,
        continued: false,
        children: WaitChildren::All,
    };
    Ok(
        match wait_event(parent, WaitWho::from_pid(pid, parent.pgid()), opts)? {
            Some(WaitEvent::Exited { pid, reason }) => Some((pid, reason)),
            Some(_) | None => None,
        },
    )
}

/// Waits for an event of a child or tracee of `parent` matching `pid`. `Ok(None)` for
/// WNOHANG with nothing there; Err(ECHILD) when nothing matches, Err(EINTR) for a signal.
pub fn wait_event(
    parent: &Arc<Process>,
    pid: WaitWho,
    opts: WaitOptions,
) -> Result<Option<WaitEvent>, i64> {
    let mut found: Option<WaitEvent> = None;
    let mut has_match = false;
    let mut check = || {
        has_match = false;
        if let Some(e) = child_event(parent, pid, opts, &mut has_match) {
            found = Some(e);
            return true;
        }
        if let Some(e) = tracee_event(parent, pid, opts, &mut has_match) {
            found = Some(e);
            return true;
        }
        !has_match || opts.nohang
    };
    let mut done = parent
        .child_wait
        .wait_until(&mut check, crate::signal::interrupted);
    if !done && child_signaling_end(parent) {
        // The signal that ended the wait may be a child's exit signal, sent just before the
        // child is marked as ended: Linux's waiter would find that child, so look again.
        done = check();
    }
    if let Some(f) = found {
        return Ok(Some(f));
    }
    if !has_match {
        return Err(crate::syscall::errno::ECHILD);
    }
    if !done {
        return Err(crate::syscall::errno::EINTR);
    }
    Ok(None)
}

/// Whether a child of `parent` has sent its exit signal, or is sending it; waits (spinning:
/// the sender does not sleep there) until each such child is marked as ended.
fn child_signaling_end(parent: &Process) -> bool {
    let signaling: alloc::vec::Vec<Arc<Process>> = parent
        .children
        .lock()
        .iter()
        .filter(|c| c.exit_signaling.load(Ordering::Acquire))
        .cloned()
        .collect();
    for c in &signaling {
        while !c.exit_notified.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
    }
    !signaling.is_empty()
}

/// An event of a child matching `pid`, in the order Linux's `wait_consider_task` looks: an
/// end (reaped unless `nowait`), a completed group stop, a continue. A child one of whose
/// threads `parent` traces reports its stops through ptrace instead ([`tracee_event`]).
fn child_event(
    parent: &Process,
    pid: WaitWho,
    opts: WaitOptions,
    has_match: &mut bool,
) -> Option<WaitEvent> {
    let mut ch = parent.children.lock();
    let takes = |c: &Process| pid.takes(c.pid, c.pgid()) && opts.children.takes(c);
    *has_match |= ch.iter().any(|c| takes(c));
    if opts.exited
        && let Some(i) = ch.iter().position(|c| {
            takes(c)
                && c.exit_notified.load(Ordering::Acquire)
                && c.live_threads.load(Ordering::Acquire) == 0
                && c.exit_reason().is_some()
                && c.traced_zombies.load(Ordering::Acquire) == 0
        })
    {
        let c = if opts.nowait {
            ch[i].clone()
        } else {
            let c = ch.remove(i);
            c.reaped.store(true, Ordering::Release);
            c
        };
        return Some(WaitEvent::Exited {
            pid: c.pid_in(parent.pid_ns()),
            reason: c.exit_reason().unwrap_or(ExitReason::Exited(0)),
        });
    }
    if !opts.stopped && !opts.continued {
        return None;
    }
    for c in ch.iter().filter(|c| takes(c)) {
        if c.exit_reason().is_some() || crate::signal::jobctl::traced_by(c, parent) {
            continue;
        }
        match c
            .jobctl
            .take_report(opts.stopped, opts.continued, opts.nowait)
        {
            Some(JobReport::Stopped(sig)) => {
                return Some(WaitEvent::Stopped {
                    pid: c.pid_in(parent.pid_ns()),
                    sig,
                });
            }
            Some(JobReport::Continued) => {
                return Some(WaitEvent::Continued {
                    pid: c.pid_in(parent.pid_ns()),
                });
            }
            None => {}
        }
    }
    None
}

/// A stop not yet reported, or an end, of a thread `parent` traces, matching `pid` (by
/// thread id: Linux's tracer waits on the tracee's tid).
fn tracee_event(
    parent: &Process,
    pid: WaitWho,
    opts: WaitOptions,
    has_match: &mut bool,
) -> Option<WaitEvent> {
    let mut tracees = parent.ptraced.lock();
    for (i, t) in tracees.iter().enumerate() {
        if !pid.takes(t.tid, t.process.pgid()) {
            continue;
        }
        *has_match = true;
        let mut st = t.ptrace.state.lock();
        if let Some(s) = st.stop.as_mut().filter(|s| !s.reported) {
            if !opts.nowait {
                s.reported = true;
            }
            return Some(WaitEvent::Trapped {
                pid: t.tid_in(parent.pid_ns()),
                code: s.code,
            });
        }
        if let Some(reason) = st.exit.filter(|_| opts.exited) {
            let tid = t.tid_in(parent.pid_ns());
            drop(st);
            if !opts.nowait {
                let t = tracees.remove(i);
                drop(tracees);
                crate::ptrace::reaped(&t);
            }
            return Some(WaitEvent::Exited { pid: tid, reason });
        }
    }
    None
}

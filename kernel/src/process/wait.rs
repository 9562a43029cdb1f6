//! wait4/waitid's search: the ended children of the caller's process, and the stops and ends
//! of the threads it traces (Linux's `do_wait` over the children and `ptraced` lists).

use super::Process;
use crate::task::ExitReason;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

/// What a wait found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEvent {
    /// A child process ended (reaped, unless WNOWAIT), or a traced thread ended.
    Exited { pid: u32, reason: ExitReason },
    /// A traced thread stopped; `code` is what its status reports (the signal, and an event
    /// in bits 8–15).
    Trapped { pid: u32, code: u32 },
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
}

/// Whether a process or thread with id `id` is one `pid` asks for (-1 and 0: any; process
/// groups are not modelled, the caller's own holds all its children).
fn eligible(pid: i32, id: u32) -> bool {
    pid == -1 || pid == 0 || id as i32 == pid
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
    };
    Ok(match wait_event(parent, pid, opts)? {
        Some(WaitEvent::Exited { pid, reason }) => Some((pid, reason)),
        Some(WaitEvent::Trapped { .. }) | None => None,
    })
}

/// Waits for an event of a child or tracee of `parent` matching `pid`. `Ok(None)` for
/// WNOHANG with nothing there; Err(ECHILD) when nothing matches, Err(EINTR) for a signal.
pub fn wait_event(
    parent: &Arc<Process>,
    pid: i32,
    opts: WaitOptions,
) -> Result<Option<WaitEvent>, i64> {
    let mut found: Option<WaitEvent> = None;
    let mut has_match = false;
    let mut check = || {
        has_match = false;
        if let Some(e) = ended_child(parent, pid, opts, &mut has_match) {
            found = Some(e);
            return true;
        }
        if let Some(e) = tracee_event(parent, pid, opts, &mut has_match) {
            found = Some(e);
            return true;
        }
        !has_match || opts.nohang
    };
    let done = parent
        .child_wait
        .wait_until(&mut check, crate::signal::interrupted);
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

/// An ended child matching `pid`, reaped unless `nowait`.
fn ended_child(
    parent: &Process,
    pid: i32,
    opts: WaitOptions,
    has_match: &mut bool,
) -> Option<WaitEvent> {
    let mut ch = parent.children.lock();
    *has_match |= ch.iter().any(|c| eligible(pid, c.pid));
    if !opts.exited {
        return None;
    }
    let i = ch.iter().position(|c| {
        eligible(pid, c.pid)
            && c.live_threads.load(Ordering::Acquire) == 0
            && c.exit_reason().is_some()
            && c.traced_zombies.load(Ordering::Acquire) == 0
    })?;
    let c = if opts.nowait {
        ch[i].clone()
    } else {
        ch.remove(i)
    };
    Some(WaitEvent::Exited {
        pid: c.pid,
        reason: c.exit_reason().unwrap_or(ExitReason::Exited(0)),
    })
}

/// A stop not yet reported, or an end, of a thread `parent` traces, matching `pid` (by
/// thread id: Linux's tracer waits on the tracee's tid).
fn tracee_event(
    parent: &Process,
    pid: i32,
    opts: WaitOptions,
    has_match: &mut bool,
) -> Option<WaitEvent> {
    let mut tracees = parent.ptraced.lock();
    for (i, t) in tracees.iter().enumerate() {
        if !eligible(pid, t.tid) {
            continue;
        }
        *has_match = true;
        let mut st = t.ptrace.state.lock();
        if let Some(s) = st.stop.as_mut().filter(|s| !s.reported) {
            if !opts.nowait {
                s.reported = true;
            }
            return Some(WaitEvent::Trapped {
                pid: t.tid,
                code: s.code,
            });
        }
        if let Some(reason) = st.exit.filter(|_| opts.exited) {
            let tid = t.tid;
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

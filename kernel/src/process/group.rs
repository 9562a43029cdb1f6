//! Process groups and sessions (Linux's `setpgid`, `setsid`, `kill_pgrp`, and the orphaned
//! process group rules of job control).
//!
//! A process's group and session are two ids on the process ([`Process::pgid`],
//! [`Process::sid`]); a group or a session is the set of live processes that carry its id.
//! Lookups walk the process registry (an RCU snapshot): groups are looked up by kill(-pgrp),
//! waits for a group, setpgid and the exit of a process, none of them on a fast path.

use super::{Process, live_processes};
use crate::syscall::errno::{EACCES, EINVAL, EPERM, ESRCH};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

impl Process {
    pub fn pgid(&self) -> u32 {
        self.pgid.load(Ordering::Acquire)
    }

    pub fn sid(&self) -> u32 {
        self.sid.load(Ordering::Acquire)
    }

    /// Whether this process has not ended (a zombie no longer belongs to its group for the
    /// orphan rules; it still takes a group's signals, harmlessly).
    fn alive(&self) -> bool {
        self.exit_reason().is_none()
    }
}

/// The processes of group `pgid` (live ones and zombies not yet reaped), the kernel's never.
pub fn members(pgid: u32) -> Vec<Arc<Process>> {
    live_processes()
        .into_iter()
        .filter(|p| p.pid != 0 && p.pgid() == pgid)
        .collect()
}

/// setpgid(pid, pgid) by `me`, with Linux's rules: `pid` 0 is the caller, `pgid` 0 the target's
/// pid; the target is the caller or one of its children (ESRCH), in the caller's session
/// (EPERM), a child that has not exec'd (EACCES), not a session leader (EPERM); a group other
/// than its own pid must exist in the caller's session (EPERM).
pub fn setpgid(me: &Arc<Process>, pid: i32, pgid: i32) -> Result<(), i64> {
    if pid < 0 || pgid < 0 {
        return Err(EINVAL);
    }
    let target = if pid == 0 || pid as u32 == me.pid {
        me.clone()
    } else {
        me.children
            .lock()
            .iter()
            .find(|c| c.pid == pid as u32 && c.alive())
            .cloned()
            .ok_or(ESRCH)?
    };
    let pgid = if pgid == 0 { target.pid } else { pgid as u32 };
    if !Arc::ptr_eq(&target, me) {
        if target.sid() != me.sid() {
            return Err(EPERM);
        }
        if target.did_exec.load(Ordering::Acquire) {
            return Err(EACCES);
        }
    }
    if target.sid() == target.pid {
        return Err(EPERM);
    }
    if pgid != target.pid
        && !members(pgid)
            .iter()
            .any(|p| p.alive() && p.sid() == me.sid())
    {
        return Err(EPERM);
    }
    target.pgid.store(pgid, Ordering::Release);
    Ok(())
}

/// setsid(): the caller leads a new session and group, unless it already leads a group (some
/// process has its pid as group id: EPERM). Returns the new session id.
pub fn setsid(me: &Process) -> Result<u32, i64> {
    if members(me.pid).iter().any(|p| p.alive()) {
        return Err(EPERM);
    }
    me.pgid.store(me.pid, Ordering::Release);
    me.sid.store(me.pid, Ordering::Release);
    Ok(me.pid)
}

/// Whether group `pgid` is (or, once `leaving` has gone, will be) orphaned: no live member
/// other than `leaving` has a parent in another group of the same session (Linux's
/// `will_become_orphaned_pgrp`). Children of the kernel, which stands where Linux's init
/// does, keep no group from being orphaned. A group with no member counts as orphaned.
pub fn is_orphaned(pgid: u32, leaving: Option<&Process>) -> bool {
    for p in members(pgid) {
        if !p.alive() || leaving.is_some_and(|l| core::ptr::eq(l, &*p)) {
            continue;
        }
        let Some(parent) = p.parent.lock().upgrade() else {
            continue;
        };
        if parent.pid == 0 {
            continue;
        }
        if parent.pgid() != pgid && parent.sid() == p.sid() {
            return false;
        }
    }
    true
}

/// Process `p` is ending: a group it leaves orphaned that has a stopped member gets SIGHUP
/// and SIGCONT, so no stopped job is left with nobody to continue it (Linux's
/// `kill_orphaned_pgrp`): `p`'s own group, and the group of each of its children in another
/// group of its session (their parent is about to become the kernel). Called before the
/// children are handed over.
pub fn exit_orphans_pgrps(p: &Process) {
    crate::signal::jobctl::process_ends(p);
    if !crate::signal::jobctl::any_stopped() {
        return;
    }
    let mut groups: Vec<u32> = Vec::new();
    groups.push(p.pgid());
    for c in p.children.lock().iter() {
        if c.pgid() != p.pgid() && c.sid() == p.sid() && !groups.contains(&c.pgid()) {
            groups.push(c.pgid());
        }
    }
    for (i, &g) in groups.iter().enumerate() {
        // A child's group loses `p` as the parent that anchors it: count it as leaving.
        let orphaned = if i == 0 {
            // Only a group `p` anchored (its parent in another group of its session) can
            // become orphaned by its going.
            let anchored = p
                .parent
                .lock()
                .upgrade()
                .is_some_and(|pp| pp.pid != 0 && pp.pgid() != g && pp.sid() == p.sid());
            anchored && is_orphaned(g, Some(p))
        } else {
            orphaned_without_parent(g, p)
        };
        if orphaned && members(g).iter().any(|m| m.jobctl.is_stopped()) {
            for m in members(g) {
                crate::signal::send_to_process(&m, crate::signal::SIGHUP);
                crate::signal::send_to_process(&m, crate::signal::SIGCONT);
            }
        }
    }
}

/// [`is_orphaned`] for a child's group `pgid` once `parent` no longer anchors it: members
/// whose parent is `parent` count as having the kernel as parent.
fn orphaned_without_parent(pgid: u32, parent: &Process) -> bool {
    for m in members(pgid) {
        if !m.alive() {
            continue;
        }
        let Some(pp) = m.parent.lock().upgrade() else {
            continue;
        };
        if pp.pid == 0 || core::ptr::eq(&*pp, parent) {
            continue;
        }
        if pp.pgid() != pgid && pp.sid() == m.sid() {
            return false;
        }
    }
    true
}

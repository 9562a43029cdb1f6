//! Process groups and sessions: each process is its own group and session.

use super::target;
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::task;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::SETPGID] = sys_setpgid;
    t[nr::GETPGRP] = sys_getpgrp;
    t[nr::SETSID] = sys_setsid;
    t[nr::GETPGID] = sys_getpgid;
    t[nr::GETSID] = sys_getpgid; // getsid: the session is the process group is the process
    t
}

// --- Sessions and process groups: pgid = sid = pid ---

fn sys_getpgrp(_: &mut Regs) -> i64 {
    task::current().process.pid as i64
}

/// getpgid(pid) and getsid(pid).
fn sys_getpgid(regs: &mut Regs) -> i64 {
    match target(regs.rdi as i32 as i64) {
        Ok(p) => p.pid as i64,
        Err(e) => e,
    }
}

/// Accepted for an existing process and any group id (each process stays its own group).
fn sys_setpgid(regs: &mut Regs) -> i64 {
    if (regs.rsi as i32) < 0 || (regs.rdi as i32) < 0 {
        return -EINVAL;
    }
    match target(regs.rdi as i32 as i64) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

fn sys_setsid(_: &mut Regs) -> i64 {
    task::current().process.pid as i64
}

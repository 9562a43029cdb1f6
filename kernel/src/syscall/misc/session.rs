//! Process groups and sessions: the syscalls (the rules are in process/group.rs).

use super::target;
use crate::process;
use crate::syscall::table::Table;
use crate::task;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::SETPGID] = sys_setpgid;
    t[nr::GETPGRP] = sys_getpgrp;
    t[nr::SETSID] = sys_setsid;
    t[nr::GETPGID] = sys_getpgid;
    t[nr::GETSID] = sys_getsid;
    t
}

/// A group or session id as the caller's PID namespace sees it (0: its leader is outside).
fn vnr(global: u32) -> i64 {
    process::pid_ns::global_to_vnr(global, task::current().process.pid_ns()) as i64
}

fn sys_getpgrp(_: &mut Regs) -> i64 {
    vnr(task::current().process.pgid())
}

/// getpgid(pid): the process's group (0: the caller's).
fn sys_getpgid(regs: &mut Regs) -> i64 {
    match target(regs.rdi as i32 as i64) {
        Ok(p) => vnr(p.pgid()),
        Err(e) => e,
    }
}

/// getsid(pid): the process's session (0: the caller's).
fn sys_getsid(regs: &mut Regs) -> i64 {
    match target(regs.rdi as i32 as i64) {
        Ok(p) => vnr(p.sid()),
        Err(e) => e,
    }
}

fn sys_setpgid(regs: &mut Regs) -> i64 {
    let me = &task::current().process;
    // The caller's namespace's numbers → global ids; one nobody has there names no child
    // (ESRCH) or no group (EPERM).
    let global = |nr: i32| match nr {
        n if n <= 0 => n,
        n => process::pid_ns::vnr_to_global(n as u32, me.pid_ns()).map_or(i32::MAX, |g| g as i32),
    };
    match process::group::setpgid(me, global(regs.rdi as i32), global(regs.rsi as i32)) {
        Ok(()) => 0,
        Err(e) => -e,
    }
}

fn sys_setsid(_: &mut Regs) -> i64 {
    match process::group::setsid(&task::current().process) {
        Ok(sid) => vnr(sid),
        Err(e) => -e,
    }
}

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

fn sys_getpgrp(_: &mut Regs) -> i64 {
    task::current().process.pgid() as i64
}

/// getpgid(pid): the process's group (0: the caller's).
fn sys_getpgid(regs: &mut Regs) -> i64 {
    match target(regs.rdi as i32 as i64) {
        Ok(p) => p.pgid() as i64,
        Err(e) => e,
    }
}

/// getsid(pid): the process's session (0: the caller's).
fn sys_getsid(regs: &mut Regs) -> i64 {
    match target(regs.rdi as i32 as i64) {
        Ok(p) => p.sid() as i64,
        Err(e) => e,
    }
}

fn sys_setpgid(regs: &mut Regs) -> i64 {
    let me = &task::current().process;
    match process::group::setpgid(me, regs.rdi as i32, regs.rsi as i32) {
        Ok(()) => 0,
        Err(e) => -e,
    }
}

fn sys_setsid(_: &mut Regs) -> i64 {
    match process::group::setsid(&task::current().process) {
        Ok(sid) => sid as i64,
        Err(e) => -e,
    }
}

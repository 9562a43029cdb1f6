//! Scheduling calls, answered for every task SCHED_OTHER: CPU affinity (the scheduler keeps
//! a task on the CPUs of its mask), and getcpu.

use super::{put, result, target};
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::uaccess::copy_from_user;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::GETPRIORITY] = sys_getpriority;
    t[nr::SETPRIORITY] = sys_setpriority;
    t[nr::SCHED_GETPARAM] = sys_sched_getparam;
    t[nr::SCHED_GETSCHEDULER] = sys_sched_getscheduler;
    t[nr::SCHED_GET_PRIORITY_MAX] = sys_sched_get_priority_max;
    t[nr::SCHED_GET_PRIORITY_MIN] = sys_sched_get_priority_min;
    t[nr::SCHED_SETAFFINITY] = sys_sched_setaffinity;
    t[nr::SCHED_GETAFFINITY] = sys_sched_getaffinity;
    t[nr::GETCPU] = sys_getcpu;
    t
}

// --- Scheduling: SCHED_OTHER, with CPU affinity ---

/// The thread `pid` names for the affinity calls (0: the caller): a thread of the caller's
/// process, or the main thread of another process.
fn target_task(pid: i64) -> Result<crate::task::TaskRef, i64> {
    let me = crate::task::current();
    if pid == 0 || pid == me.tid_in(me.process.pid_ns()) as i64 {
        return Ok(crate::sched::current_ref());
    }
    // The caller's PID namespace's number → the global id.
    let Some(global) = u32::try_from(pid)
        .ok()
        .and_then(crate::process::pid_ns::current_vnr_to_global)
    else {
        return Err(-crate::syscall::errno::ESRCH);
    };
    let thread_of = |p: &crate::process::Process| {
        p.threads
            .lock()
            .iter()
            .filter_map(alloc::sync::Weak::upgrade)
            .find(|t| t.tid == global)
    };
    if let Some(t) = thread_of(&me.process) {
        return Ok(t);
    }
    let p = target(pid)?;
    thread_of(&p).ok_or(-ESRCH)
}

/// The CPU mask size Linux reports and copies: one unsigned long (nr_cpu_ids ≤ 64).
const CPUMASK_BYTES: u64 = 8;

fn sys_sched_getaffinity(regs: &mut Regs) -> i64 {
    let (pid, len, mask) = (regs.rdi as i32 as i64, regs.rsi as u32 as u64, regs.rdx);
    if len * 8 < 1 || len & (CPUMASK_BYTES - 1) != 0 {
        return -EINVAL;
    }
    let t = match target_task(pid) {
        Ok(t) => t,
        Err(e) => return e,
    };
    // What the task may use now: its mask among the online CPUs (Linux: cpus_mask ∩ active).
    let m = t.sched.allowed.load(core::sync::atomic::Ordering::Relaxed) & crate::smp::online_mask();
    result(put(mask, &m.to_ne_bytes()).map(|_| CPUMASK_BYTES as i64))
}

/// Sets the task's CPU mask; -EINVAL for a mask with no online CPU, as Linux answers. The
/// task moves off a CPU it may no longer use at its next reschedule, which this forces.
fn sys_sched_setaffinity(regs: &mut Regs) -> i64 {
    let (pid, len, mask) = (regs.rdi as i32 as i64, regs.rsi as u32 as usize, regs.rdx);
    let t = match target_task(pid) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let mut b = [0u8; 8];
    let n = len.min(8);
    if copy_from_user(&mut b[..n], mask).is_err() {
        return -EFAULT;
    }
    let m = u64::from_ne_bytes(b);
    if m & crate::smp::online_mask() == 0 {
        return -EINVAL;
    }
    crate::sched::set_affinity(&t, m);
    0
}

const SCHED_OTHER: i64 = 0;
const SCHED_FIFO: i64 = 1;
const SCHED_RR: i64 = 2;
const SCHED_BATCH: i64 = 3;
const SCHED_IDLE: i64 = 5;
const SCHED_DEADLINE: i64 = 6;

fn sys_sched_getscheduler(regs: &mut Regs) -> i64 {
    if (regs.rdi as i32) < 0 {
        return -EINVAL;
    }
    match target(regs.rdi as i32 as i64) {
        Ok(_) => SCHED_OTHER,
        Err(e) => e,
    }
}

fn sys_sched_getparam(regs: &mut Regs) -> i64 {
    if regs.rsi == 0 || (regs.rdi as i32) < 0 {
        return -EINVAL;
    }
    if let Err(e) = target(regs.rdi as i32 as i64) {
        return e;
    }
    result(put(regs.rsi, &0i32.to_ne_bytes()).map(|_| 0))
}

fn sys_sched_get_priority_max(regs: &mut Regs) -> i64 {
    match regs.rdi as i32 as i64 {
        SCHED_FIFO | SCHED_RR => 99,
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => 0,
        _ => -EINVAL,
    }
}

fn sys_sched_get_priority_min(regs: &mut Regs) -> i64 {
    match regs.rdi as i32 as i64 {
        SCHED_FIFO | SCHED_RR => 1,
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => 0,
        _ => -EINVAL,
    }
}

/// getpriority returns 20 - nice; every process runs at nice 0.
fn sys_getpriority(regs: &mut Regs) -> i64 {
    if regs.rdi > 2 {
        return -EINVAL;
    }
    20
}

/// Accepted and forgotten (one CPU, round robin).
fn sys_setpriority(regs: &mut Regs) -> i64 {
    if regs.rdi > 2 {
        return -EINVAL;
    }
    0
}

fn sys_getcpu(regs: &mut Regs) -> i64 {
    // One NUMA node; the CPU is read with interrupts off so it is where this call ran.
    let cpu = x86_64::instructions::interrupts::without_interrupts(crate::smp::this_cpu_id);
    for (at, v) in [(regs.rdi, cpu as u32), (regs.rsi, 0)] {
        if at != 0
            && let Err(e) = put(at, &v.to_ne_bytes())
        {
            return e;
        }
    }
    0
}

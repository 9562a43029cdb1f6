//! System information, time, limits, randomness and other small syscalls.
//!
//! Clocks come from [`crate::time`]. Resource limits, the parent-death signal, the dumpable
//! and no-new-privs flags live here, per process, in a table keyed by pid: a process without an
//! entry gets its nearest ancestor's (what it inherited at fork, give or take changes the
//! ancestor made since) or the defaults, and keeps them from its first use on. kentry has one
//! CPU, one session and one process group per process (pgid = sid = pid), and everyone is root.
//!
//! The parts: `clock` (clocks, CPU time, interval timers), `sysinfo` (uname, sysinfo,
//! getrandom and small compatibility calls), `limits` (the per-process table: resource limits,
//! prctl), `session` (process groups and sessions) and `sched` (scheduling); the helpers they
//! share are here.

mod clock;
mod kcmp;
mod limits;
mod sched;
mod session;
pub mod sysinfo;

pub(crate) use clock::{clock_now, clock_res, do_getitimer, do_setitimer};
pub(crate) use limits::do_prlimit;
pub use limits::{RLIMIT_NOFILE, RLIMIT_SIGPENDING, no_new_privs, rlimit_cur};

use super::errno::*;
use super::table::Table;
use crate::process::{self, Process};
use crate::task;
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::sync::Arc;

pub const fn register(t: Table) -> Table {
    let t = clock::register(t);
    let t = kcmp::register(t);
    let t = sysinfo::register(t);
    let t = limits::register(t);
    let t = session::register(t);
    sched::register(t)
}

fn put(addr: u64, bytes: &[u8]) -> Result<(), i64> {
    copy_to_user(addr, bytes).map_err(|_| -EFAULT)
}

fn get<const N: usize>(addr: u64) -> Result<[u8; N], i64> {
    let mut b = [0u8; N];
    copy_from_user(&mut b, addr).map_err(|_| -EFAULT)?;
    Ok(b)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

fn result(r: Result<i64, i64>) -> i64 {
    r.unwrap_or_else(|e| e)
}

/// The process a `pid` argument names: 0 is the caller; a pid nobody has (or a negative one)
/// is -ESRCH. Calls where Linux answers a negative pid with -EINVAL check that first.
fn target(pid: i64) -> Result<Arc<Process>, i64> {
    let me = &task::current().process;
    match pid {
        0 => Ok(me.clone()),
        p if p < 0 || p > u32::MAX as i64 => Err(-ESRCH),
        p if p as u32 == me.vpid => Ok(me.clone()),
        // A number of the caller's PID namespace.
        p => match process::pid_ns::current_vnr_to_global(p as u32).and_then(process::find) {
            Some(p) if p.exit_reason().is_none() => Ok(p),
            _ => Err(-ESRCH),
        },
    }
}

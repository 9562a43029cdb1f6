//! The per-process state table: resource limits (getrlimit, setrlimit, prlimit64), the
//! parent-death signal, the dumpable and no-new-privs flags (prctl), and the CPU-clock
//! approximation, which starts when a process's entry is made.

use super::{get, put, result, target, u64_at};
use crate::process::{self, Process};
use crate::sync::Mutex;
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::task;
use crate::time;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::GETRLIMIT] = sys_getrlimit;
    t[nr::PRCTL] = sys_prctl;
    t[nr::SETRLIMIT] = sys_setrlimit;
    t[nr::PRLIMIT64] = sys_prlimit64;
    t
}

/// CPU time for `CLOCK_PROCESS_CPUTIME_ID` and `CLOCK_THREAD_CPUTIME_ID`, approximated: a
/// process is taken to have run since its first use of the per-process table below (in
/// practice libc's startup, or its first query). (getrusage and times report the accounted
/// time, `Process::cputime`, whose tick sampling is too coarse for these clocks.)
pub(super) fn cputime_ns(p: &Arc<Process>) -> u64 {
    let start = with_state(p, |s| s.first_seen_ns);
    time::monotonic_ns().saturating_sub(start)
}

// --- Per-process state: limits, prctl flags ---

const RLIM_NLIMITS: usize = 16;
const RLIM_INFINITY: u64 = u64::MAX;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_SIGPENDING: usize = 11;
/// RLIMIT_SIGPENDING's default, soft and hard: Linux takes half its thread limit, which for
/// 512 MiB of memory is 2,048 (one 16 KiB stack per 8 pages of memory, halved); kentry has no
/// thread limit and uses that figure. It bounds the memory queued siginfos can pin.
const SIGPENDING_DEFAULT: u64 = 2048;
/// Linux's fs.nr_open default: the highest RLIMIT_NOFILE hard limit.
const NR_OPEN: u64 = 1 << 20;

type Limits = [(u64, u64); RLIM_NLIMITS];

const DEFAULT_LIMITS: Limits = {
    let mut l = [(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS];
    l[RLIMIT_STACK] = (8 << 20, RLIM_INFINITY);
    l[RLIMIT_NOFILE] = (1024, 4096);
    l[RLIMIT_SIGPENDING] = (SIGPENDING_DEFAULT, SIGPENDING_DEFAULT);
    l
};

#[derive(Clone, Copy)]
struct ProcState {
    limits: Limits,
    pdeathsig: u8,
    dumpable: bool,
    no_new_privs: bool,
    /// The monotonic clock when this entry was made (the CPU time approximation's zero).
    first_seen_ns: u64,
}

/// Per-process state by pid. Never touched with interrupts off or from an interrupt.
static STATE: Mutex<BTreeMap<u32, ProcState>> = Mutex::new(BTreeMap::new());
/// Prune entries of dead processes when the table grows past this.
static PRUNE_AT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(64);

/// Runs `f` on `p`'s state, making the entry first if needed (inherited from the nearest
/// ancestor that has one).
fn with_state<R>(p: &Arc<Process>, f: impl FnOnce(&mut ProcState) -> R) -> R {
    if let Some(s) = STATE.lock().get_mut(&p.pid) {
        return f(s);
    }
    let mut ancestors = Vec::new();
    let mut cur = p.parent.lock().upgrade();
    while let Some(a) = cur {
        if a.pid == 0 || ancestors.len() > 64 {
            break;
        }
        cur = a.parent.lock().upgrade();
        ancestors.push(a.pid);
    }
    let now = time::monotonic_ns();
    let made = {
        let mut t = STATE.lock();
        let inherited = ancestors.iter().find_map(|a| t.get(a).copied());
        let s = ProcState {
            limits: inherited.map_or(DEFAULT_LIMITS, |s| s.limits),
            pdeathsig: 0,
            dumpable: true,
            no_new_privs: inherited.is_some_and(|s| s.no_new_privs),
            first_seen_ns: now,
        };
        let s = t.entry(p.pid).or_insert(s);
        let r = f(s);
        (r, t.len())
    };
    let (r, len) = made;
    let at = PRUNE_AT.load(core::sync::atomic::Ordering::Relaxed);
    if len >= at {
        let pids: Vec<u32> = STATE.lock().keys().copied().collect();
        let dead: Vec<u32> = pids
            .into_iter()
            .filter(|&pid| process::find(pid).is_none())
            .collect();
        let mut t = STATE.lock();
        for pid in dead {
            t.remove(&pid);
        }
        PRUNE_AT.store((t.len() * 2).max(64), core::sync::atomic::Ordering::Relaxed);
    }
    r
}

/// Whether `p` has set no_new_privs (/proc/PID/status's `NoNewPrivs`).
pub fn no_new_privs(p: &Arc<Process>) -> bool {
    with_state(p, |s| s.no_new_privs)
}

/// A process's soft limit for `resource` (RLIMIT_*), for other modules to enforce.
pub fn rlimit_cur(p: &Arc<Process>, resource: usize) -> u64 {
    with_state(p, |s| s.limits.get(resource).map_or(RLIM_INFINITY, |l| l.0))
}

/// prlimit64(pid, resource, new, old).
fn prlimit(pid: i64, resource: u64, new: u64, old: u64) -> i64 {
    let newval = if new != 0 {
        let b = match get::<16>(new) {
            Ok(b) => b,
            Err(e) => return e,
        };
        Some((u64_at(&b, 0), u64_at(&b, 8)))
    } else {
        None
    };
    let prev = match do_prlimit(pid, resource, newval) {
        Ok(prev) => prev,
        Err(e) => return e,
    };
    if old != 0 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&prev.0.to_ne_bytes());
        b[8..].copy_from_slice(&prev.1.to_ne_bytes());
        if let Err(e) = put(old, &b) {
            return e;
        }
    }
    0
}

/// Reads, and with `new` sets, limit `resource` of process `pid` (0: the caller), checked as
/// Linux's `do_prlimit`; returns the limit before. The i386 getrlimit/setrlimit (compat
/// `struct rlimit`) use it too.
pub(crate) fn do_prlimit(
    pid: i64,
    resource: u64,
    new: Option<(u64, u64)>,
) -> Result<(u64, u64), i64> {
    if resource >= RLIM_NLIMITS as u64 {
        return Err(-EINVAL);
    }
    let r = resource as usize;
    if let Some((cur, max)) = new {
        if cur > max {
            return Err(-EINVAL);
        }
        if r == RLIMIT_NOFILE && max > NR_OPEN {
            return Err(-EPERM);
        }
    }
    let p = target(pid)?;
    Ok(with_state(&p, |s| {
        let prev = s.limits[r];
        if let Some(v) = new {
            s.limits[r] = v;
        }
        prev
    }))
}

fn sys_prlimit64(regs: &mut Regs) -> i64 {
    prlimit(regs.rdi as i32 as i64, regs.rsi, regs.rdx, regs.r10)
}

fn sys_getrlimit(regs: &mut Regs) -> i64 {
    if regs.rsi == 0 {
        return -EFAULT;
    }
    prlimit(0, regs.rdi, 0, regs.rsi)
}

fn sys_setrlimit(regs: &mut Regs) -> i64 {
    if regs.rsi == 0 {
        return -EFAULT;
    }
    prlimit(0, regs.rdi, regs.rsi, 0)
}

const PR_SET_PDEATHSIG: u64 = 1;
const PR_GET_PDEATHSIG: u64 = 2;
const PR_GET_DUMPABLE: u64 = 3;
const PR_SET_DUMPABLE: u64 = 4;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_GET_SECCOMP: u64 = 21;
const PR_SET_SECCOMP: u64 = 22;
const PR_SET_NO_NEW_PRIVS: u64 = 38;
const PR_GET_NO_NEW_PRIVS: u64 = 39;
/// Yama's "who may trace me" (0x59616d61, "Yama").
const PR_SET_PTRACER: u64 = 0x5961_6d61;
const PR_SET_PTRACER_ANY: u64 = u64::MAX;
/// The name's size with its NUL (Linux's TASK_COMM_LEN).
const TASK_COMM_LEN: usize = 16;

/// prctl: the name is the process's (kentry has no per-thread name); PR_SET_PDEATHSIG is
/// remembered and reported, not acted on. Anything else is -EINVAL.
fn sys_prctl(regs: &mut Regs) -> i64 {
    let (op, a2, a3, a4, a5) = (
        regs.rdi as i32 as u64,
        regs.rsi,
        regs.rdx,
        regs.r10,
        regs.r8,
    );
    let p = &task::current().process;
    match op {
        PR_SET_PDEATHSIG => {
            if a2 > crate::signal::NSIG as u64 {
                return -EINVAL;
            }
            with_state(p, |s| s.pdeathsig = a2 as u8);
            0
        }
        PR_GET_PDEATHSIG => {
            let sig = with_state(p, |s| s.pdeathsig) as i32;
            result(put(a2, &sig.to_ne_bytes()).map(|_| 0))
        }
        PR_GET_DUMPABLE => with_state(p, |s| s.dumpable) as i64,
        PR_GET_SECCOMP => crate::syscall::seccomp::mode() as i64,
        // Yama's exception for a tracer that is not an ancestor: 0, "any", or a live pid,
        // as Yama checks it. kentry applies Yama's scope 0 (classic ptrace permissions,
        // and every process here is root), so the answer restricts nothing.
        PR_SET_PTRACER => {
            let known = a2 == 0
                || a2 == PR_SET_PTRACER_ANY
                || (a2 as i32 > 0 && crate::process::find(a2 as u32).is_some());
            if known { 0 } else { -EINVAL }
        }
        PR_SET_SECCOMP => crate::syscall::seccomp::prctl_set_seccomp(a2, a3),
        PR_SET_DUMPABLE => match a2 {
            0 | 1 => {
                with_state(p, |s| s.dumpable = a2 == 1);
                0
            }
            _ => -EINVAL,
        },
        PR_SET_NAME => {
            // Up to 15 bytes, ending at the first NUL; read byte-wise so a name ending just
            // before an unmapped page is fine.
            let mut name = Vec::with_capacity(TASK_COMM_LEN);
            for i in 0..TASK_COMM_LEN as u64 - 1 {
                let [c] = match get::<1>(a2 + i) {
                    Ok(c) => c,
                    Err(e) => return e,
                };
                if c == 0 {
                    break;
                }
                name.push(c);
            }
            *p.name.lock() = String::from_utf8_lossy(&name).into_owned();
            0
        }
        PR_GET_NAME => {
            let mut b = [0u8; TASK_COMM_LEN];
            {
                let name = p.name.lock();
                let n = name.len().min(TASK_COMM_LEN - 1);
                b[..n].copy_from_slice(&name.as_bytes()[..n]);
            }
            result(put(a2, &b).map(|_| 0))
        }
        PR_SET_NO_NEW_PRIVS => {
            if a2 != 1 || a3 != 0 || a4 != 0 || a5 != 0 {
                return -EINVAL;
            }
            with_state(p, |s| s.no_new_privs = true);
            0
        }
        PR_GET_NO_NEW_PRIVS => {
            if a2 != 0 || a3 != 0 || a4 != 0 || a5 != 0 {
                return -EINVAL;
            }
            with_state(p, |s| s.no_new_privs) as i64
        }
        _ => -EINVAL,
    }
}

//! System information, time, limits, randomness and other small syscalls.
//!
//! Clocks come from [`crate::time`]. Resource limits, the parent-death signal, the dumpable
//! and no-new-privs flags live here, per process, in a table keyed by pid: a process without an
//! entry gets its nearest ancestor's (what it inherited at fork, give or take changes the
//! ancestor made since) or the defaults, and keeps them from its first use on. kentry has one
//! CPU, one session and one process group per process (pgid = sid = pid), and everyone is root.

use super::errno::*;
use super::table::Table;
use super::timespec::{timespec, timeval, timeval_us};
use crate::process::{self, Process};
use crate::task;
use crate::time::{self, NSEC_PER_SEC};
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry::Regs;
use spin::Mutex;

pub const fn register(mut t: Table) -> Table {
    t[36] = sys_getitimer;
    t[37] = sys_alarm;
    t[38] = sys_setitimer;
    t[63] = sys_uname;
    t[96] = sys_gettimeofday;
    t[97] = sys_getrlimit;
    t[98] = sys_getrusage;
    t[99] = sys_sysinfo;
    t[100] = sys_times;
    t[109] = sys_setpgid;
    t[111] = sys_getpgrp;
    t[112] = sys_setsid;
    t[121] = sys_getpgid;
    t[124] = sys_getpgid; // getsid: the session is the process group is the process
    t[125] = sys_capget;
    t[135] = sys_personality;
    t[140] = sys_getpriority;
    t[141] = sys_setpriority;
    t[143] = sys_sched_getparam;
    t[145] = sys_sched_getscheduler;
    t[146] = sys_sched_get_priority_max;
    t[147] = sys_sched_get_priority_min;
    t[157] = sys_prctl;
    t[160] = sys_setrlimit;
    t[201] = sys_time;
    t[203] = sys_sched_setaffinity;
    t[204] = sys_sched_getaffinity;
    t[228] = sys_clock_gettime;
    t[229] = sys_clock_getres;
    t[302] = sys_prlimit64;
    t[309] = sys_getcpu;
    t[318] = sys_getrandom;
    t[324] = sys_membarrier;
    t[334] = sys_rseq;
    t
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
        p if p as u32 == me.pid => Ok(me.clone()),
        p => match process::find(p as u32) {
            Some(p) if p.exit_reason().is_none() => Ok(p),
            _ => Err(-ESRCH),
        },
    }
}

// --- Clocks ---

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;
const CLOCK_REALTIME_ALARM: u64 = 8;
const CLOCK_BOOTTIME_ALARM: u64 = 9;
const CLOCK_TAI: u64 = 11;

/// Clock `id` now, in ns; None for a clock kentry does not have.
fn clock_now(id: u64) -> Option<u64> {
    let id = id as i32;
    if id < 0 {
        return cpu_clock_process(id).map(|p| cputime_ns(&p));
    }
    Some(match id as u64 {
        // TAI: Linux starts with a TAI offset of 0 until someone sets it.
        CLOCK_REALTIME | CLOCK_REALTIME_ALARM | CLOCK_TAI => time::realtime_ns(),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => {
            time::monotonic_ns()
        }
        CLOCK_REALTIME_COARSE => time::coarse(time::realtime_ns()),
        CLOCK_MONOTONIC_COARSE => time::coarse(time::monotonic_ns()),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => cputime_ns(&task::current().process),
        _ => return None,
    })
}

/// The process behind a dynamic CPU clock id (`clock_getcpuclockid`,
/// `pthread_getcpuclockid`): `~pid << 3 | type`, bit 2 for a thread; type 3 is invalid.
fn cpu_clock_process(id: i32) -> Option<Arc<Process>> {
    if id & 3 == 3 {
        return None;
    }
    let who = !(id >> 3) as u32;
    if who == 0 {
        return Some(task::current().process.clone());
    }
    if id & 4 != 0 {
        process::find_thread(who).map(|t| t.process.clone())
    } else {
        process::find(who)
    }
}

fn clock_valid(id: u64) -> bool {
    let id = id as i32;
    if id < 0 {
        cpu_clock_process(id).is_some()
    } else {
        matches!(id as u64, 0..=9 | CLOCK_TAI)
    }
}

/// CPU time, approximated: kentry does not account it, so a process is taken to have run
/// since its first use of the per-process table below (in practice libc's startup, or its
/// first query).
fn cputime_ns(p: &Arc<Process>) -> u64 {
    let start = with_state(p, |s| s.first_seen_ns);
    time::monotonic_ns().saturating_sub(start)
}

fn sys_clock_gettime(regs: &mut Regs) -> i64 {
    let Some(ns) = clock_now(regs.rdi) else {
        return -EINVAL;
    };
    result(put(regs.rsi, &timespec(ns)).map(|_| 0))
}

fn sys_clock_getres(regs: &mut Regs) -> i64 {
    let res = match regs.rdi as i32 as u64 {
        CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => 1_000_000,
        id if clock_valid(id) => 1,
        _ => return -EINVAL,
    };
    if regs.rsi == 0 {
        return 0;
    }
    result(put(regs.rsi, &timespec(res)).map(|_| 0))
}

fn sys_gettimeofday(regs: &mut Regs) -> i64 {
    if regs.rdi != 0 {
        let us = time::realtime_ns() / 1000;
        if let Err(e) = put(regs.rdi, &timeval(us)) {
            return e;
        }
    }
    if regs.rsi != 0 {
        // struct timezone: minutes west of Greenwich, DST type: UTC, none.
        if let Err(e) = put(regs.rsi, &[0u8; 8]) {
            return e;
        }
    }
    0
}

fn sys_time(regs: &mut Regs) -> i64 {
    let secs = time::realtime_ns() / NSEC_PER_SEC;
    if regs.rdi != 0
        && let Err(e) = put(regs.rdi, &secs.to_ne_bytes())
    {
        return e;
    }
    secs as i64
}

/// USER_HZ: the unit of times() and AT_CLKTCK.
const USER_HZ: u64 = 100;

fn sys_times(regs: &mut Regs) -> i64 {
    if regs.rdi != 0 {
        // struct tms: utime, stime, cutime, cstime. All CPU time counts as user time.
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(
            &(cputime_ns(&task::current().process) / (NSEC_PER_SEC / USER_HZ)).to_ne_bytes(),
        );
        if let Err(e) = put(regs.rdi, &b) {
            return e;
        }
    }
    (time::monotonic_ns() / (NSEC_PER_SEC / USER_HZ)) as i64
}

const RUSAGE_SELF: i64 = 0;
const RUSAGE_CHILDREN: i64 = -1;
const RUSAGE_THREAD: i64 = 1;

/// struct rusage (144 bytes): only ru_utime is filled (the CPU time approximation); children
/// and every counter read 0.
fn sys_getrusage(regs: &mut Regs) -> i64 {
    let who = regs.rdi as i32 as i64;
    let mut b = [0u8; 144];
    match who {
        RUSAGE_SELF | RUSAGE_THREAD => {
            b[..16].copy_from_slice(&timeval(cputime_ns(&task::current().process) / 1000))
        }
        RUSAGE_CHILDREN => {}
        _ => return -EINVAL,
    }
    result(put(regs.rsi, &b).map(|_| 0))
}

// --- System information ---

/// struct utsname: six 65-byte fields.
fn sys_uname(regs: &mut Regs) -> i64 {
    const FIELD: usize = 65;
    let fields: [&str; 6] = [
        "Linux",
        "kentry",
        "6.1.0-kentry",
        "#1 SMP PREEMPT_DYNAMIC kentry",
        "x86_64",
        "(none)",
    ];
    let mut b = [0u8; FIELD * 6];
    for (i, f) in fields.iter().enumerate() {
        b[i * FIELD..i * FIELD + f.len()].copy_from_slice(f.as_bytes());
    }
    result(put(regs.rdi, &b).map(|_| 0))
}

/// Live threads of every process (sysinfo's `procs` counts threads, as Linux's nr_threads).
fn count_threads() -> u64 {
    let mut stack: Vec<Arc<Process>> = alloc::vec![process::kernel_process()];
    let mut n = 0u64;
    while let Some(p) = stack.pop() {
        n += p.live_threads.load(core::sync::atomic::Ordering::Relaxed) as u64;
        stack.extend(p.children.lock().iter().cloned());
    }
    n
}

/// struct sysinfo (112 bytes), mem_unit 1.
fn sys_sysinfo(regs: &mut Regs) -> i64 {
    let mono = time::monotonic_ns();
    let uptime = mono.div_ceil(NSEC_PER_SEC);
    let (total, free) = crate::mm::frame::stats();
    let page = crate::mm::PAGE_SIZE;
    let mut b = [0u8; 112];
    b[0..8].copy_from_slice(&uptime.to_ne_bytes());
    // loads[3] at 8..32 stay 0.
    b[32..40].copy_from_slice(&(total * page).to_ne_bytes());
    b[40..48].copy_from_slice(&(free * page).to_ne_bytes());
    // sharedram, bufferram, totalswap, freeswap at 48..80 stay 0.
    let procs = count_threads().min(u16::MAX as u64) as u16;
    b[80..82].copy_from_slice(&procs.to_ne_bytes());
    // totalhigh, freehigh at 88..104 stay 0.
    b[104..108].copy_from_slice(&1u32.to_ne_bytes());
    result(put(regs.rdi, &b).map(|_| 0))
}

/// getrandom(buf, len, flags): GRND_NONBLOCK and GRND_RANDOM change nothing here (the pool
/// never blocks); GRND_INSECURE too, but not together with GRND_RANDOM.
fn sys_getrandom(regs: &mut Regs) -> i64 {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
    let (buf, len, flags) = (regs.rdi, regs.rsi as usize, regs.rdx);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return -EINVAL;
    }
    // Linux's MAX_RW_COUNT.
    let len = len.min(0x7fff_f000);
    let mut done = 0usize;
    let mut chunk = [0u8; 256];
    while done < len {
        let n = (len - done).min(chunk.len());
        for c in chunk[..n].chunks_mut(16) {
            c.copy_from_slice(&crate::random::bytes16()[..c.len()]);
        }
        if copy_to_user(buf + done as u64, &chunk[..n]).is_err() {
            return if done > 0 { done as i64 } else { -EFAULT };
        }
        done += n;
        if done < len && crate::signal::interrupted() {
            break;
        }
    }
    done as i64
}

// --- Per-process state: limits, prctl flags ---

const RLIM_NLIMITS: usize = 16;
const RLIM_INFINITY: u64 = u64::MAX;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NOFILE: usize = 7;
/// Linux's fs.nr_open default: the highest RLIMIT_NOFILE hard limit.
const NR_OPEN: u64 = 1 << 20;

type Limits = [(u64, u64); RLIM_NLIMITS];

const DEFAULT_LIMITS: Limits = {
    let mut l = [(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS];
    l[RLIMIT_STACK] = (8 << 20, RLIM_INFINITY);
    l[RLIMIT_NOFILE] = (1024, 4096);
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

/// A process's soft limit for `resource` (RLIMIT_*), for other modules to enforce.
#[allow(dead_code, reason = "for RLIMIT_NOFILE in the fd table")]
pub fn rlimit_cur(p: &Arc<Process>, resource: usize) -> u64 {
    with_state(p, |s| s.limits.get(resource).map_or(RLIM_INFINITY, |l| l.0))
}

/// prlimit64(pid, resource, new, old).
fn prlimit(pid: i64, resource: u64, new: u64, old: u64) -> i64 {
    if resource >= RLIM_NLIMITS as u64 {
        return -EINVAL;
    }
    let r = resource as usize;
    let newval = if new != 0 {
        let b = match get::<16>(new) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let (cur, max) = (u64_at(&b, 0), u64_at(&b, 8));
        if cur > max {
            return -EINVAL;
        }
        if r == RLIMIT_NOFILE && max > NR_OPEN {
            return -EPERM;
        }
        Some((cur, max))
    } else {
        None
    };
    let p = match target(pid) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let prev = with_state(&p, |s| {
        let prev = s.limits[r];
        if let Some(v) = newval {
            s.limits[r] = v;
        }
        prev
    });
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
const PR_SET_NO_NEW_PRIVS: u64 = 38;
const PR_GET_NO_NEW_PRIVS: u64 = 39;
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

// --- Scheduling: one CPU, SCHED_OTHER ---

/// The CPU mask size Linux reports and copies: one unsigned long (nr_cpu_ids ≤ 64).
const CPUMASK_BYTES: u64 = 8;

fn sys_sched_getaffinity(regs: &mut Regs) -> i64 {
    let (pid, len, mask) = (regs.rdi as i32 as i64, regs.rsi as u32 as u64, regs.rdx);
    if len * 8 < 1 || len & (CPUMASK_BYTES - 1) != 0 {
        return -EINVAL;
    }
    if let Err(e) = target(pid) {
        return e;
    }
    result(put(mask, &1u64.to_ne_bytes()).map(|_| CPUMASK_BYTES as i64))
}

/// Accepted when the mask holds CPU 0 (the only one); -EINVAL otherwise, as Linux answers a
/// mask with no online CPU.
fn sys_sched_setaffinity(regs: &mut Regs) -> i64 {
    let (pid, len, mask) = (regs.rdi as i32 as i64, regs.rsi as u32 as usize, regs.rdx);
    if let Err(e) = target(pid) {
        return e;
    }
    let mut b = [0u8; 8];
    let n = len.min(8);
    if copy_from_user(&mut b[..n], mask).is_err() {
        return -EFAULT;
    }
    if b[0] & 1 == 0 {
        return -EINVAL;
    }
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
    for at in [regs.rdi, regs.rsi] {
        if at != 0
            && let Err(e) = put(at, &0u32.to_ne_bytes())
        {
            return e;
        }
    }
    0
}

// --- Misc ---

/// personality: only PER_LINUX (0), and the query 0xffffffff.
fn sys_personality(_: &mut Regs) -> i64 {
    0
}

/// membarrier: MEMBARRIER_CMD_QUERY answers "no command supported"; the rest are -EINVAL.
fn sys_membarrier(regs: &mut Regs) -> i64 {
    match (regs.rdi as i32, regs.rsi) {
        (0, 0) => 0,
        _ => -EINVAL,
    }
}

/// rseq: not supported; libc then leaves it off.
fn sys_rseq(_: &mut Regs) -> i64 {
    -ENOSYS
}

const LINUX_CAPABILITY_VERSION_1: u32 = 0x1998_0330;
const LINUX_CAPABILITY_VERSION_2: u32 = 0x2007_1026;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// capget(header, data): every set reads empty.
fn sys_capget(regs: &mut Regs) -> i64 {
    let (hdr, data) = (regs.rdi, regs.rsi);
    let h = match get::<8>(hdr) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let version = u32::from_ne_bytes(h[..4].try_into().unwrap());
    let pid = i32::from_ne_bytes(h[4..].try_into().unwrap());
    let structs = match version {
        LINUX_CAPABILITY_VERSION_1 => 1,
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => 2,
        _ => {
            // Unknown version: tell the caller ours.
            if let Err(e) = put(hdr, &LINUX_CAPABILITY_VERSION_3.to_ne_bytes()) {
                return e;
            }
            return if data == 0 { 0 } else { -EINVAL };
        }
    };
    if data == 0 {
        return 0;
    }
    if pid < 0 {
        return -EINVAL;
    }
    if let Err(e) = target(pid as i64) {
        return e;
    }
    // struct __user_cap_data_struct { effective, permitted, inheritable: u32 }.
    result(put(data, &[0u8; 24][..12 * structs]).map(|_| 0))
}

// --- Interval timers ---

const ITIMER_REAL: u64 = 0;
const ITIMER_VIRTUAL: u64 = 1;
const ITIMER_PROF: u64 = 2;

fn itimerval(value_us: u64, interval_us: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&timeval(interval_us));
    b[16..].copy_from_slice(&timeval(value_us));
    b
}

fn sys_getitimer(regs: &mut Regs) -> i64 {
    let (value, interval) = match regs.rdi {
        ITIMER_REAL => time::real_timer_get(task::current().process.pid),
        ITIMER_VIRTUAL | ITIMER_PROF => (0, 0),
        _ => return -EINVAL,
    };
    result(put(regs.rsi, &itimerval(value, interval)).map(|_| 0))
}

/// setitimer(which, new, old): ITIMER_REAL works; ITIMER_VIRTUAL and ITIMER_PROF (CPU time,
/// which kentry does not account) only accept being disarmed. A NULL `new` disarms, as on
/// Linux.
fn sys_setitimer(regs: &mut Regs) -> i64 {
    let (which, new, old) = (regs.rdi, regs.rsi, regs.rdx);
    let (value, interval) = if new == 0 {
        (0, 0)
    } else {
        let b = match get::<32>(new) {
            Ok(b) => b,
            Err(e) => return e,
        };
        match (timeval_us(&b[16..]), timeval_us(&b[..16])) {
            (Ok(v), Ok(i)) => (v, i),
            (Err(e), _) | (_, Err(e)) => return e,
        }
    };
    let prev = match which {
        ITIMER_REAL => time::real_timer_set(task::current().process.pid, value, interval),
        ITIMER_VIRTUAL | ITIMER_PROF if value == 0 => (0, 0),
        ITIMER_VIRTUAL | ITIMER_PROF => return -EINVAL,
        _ => return -EINVAL,
    };
    if old != 0 {
        return result(put(old, &itimerval(prev.0, prev.1)).map(|_| 0));
    }
    0
}

/// alarm(seconds): ITIMER_REAL without interval; returns the seconds left of the previous
/// alarm, rounded to the nearest second but never 0 for an armed one (as Linux).
fn sys_alarm(regs: &mut Regs) -> i64 {
    let secs = regs.rdi as u32 as u64;
    let (old_us, _) = time::real_timer_set(task::current().process.pid, secs * 1_000_000, 0);
    let (s, us) = (old_us / 1_000_000, old_us % 1_000_000);
    if (s == 0 && us != 0) || us >= 500_000 {
        (s + 1) as i64
    } else {
        s as i64
    }
}

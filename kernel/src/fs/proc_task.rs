//! /proc/PID/stat and /proc/PID/status (and the same files of /proc/PID/task/TID and of
//! /proc/self), in Linux 6.1's formats (fs/proc/array.c: `do_task_stat`, `proc_pid_status`).
//!
//! The state letter comes from the task's real state: R (running or runnable), S (asleep, any
//! signal wakes it), D (asleep where only a fatal signal or nothing ends the wait:
//! `sched::UninterruptibleSleep`), t (stopped for its tracer), Z (ended, not yet reaped), X
//! (gone). Figures kentry does not keep print as Linux prints a value it does not have: 0
//! (minor/major faults, children's times, wchan's address, guest time, the argument and
//! environment addresses), or Linux's fixed value for what kentry does not vary (priority 20,
//! nice 0, policy SCHED_OTHER, RLIMIT_RSS unlimited).

use crate::process::Process;
use crate::task::{Task, TaskRef, TaskState};
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;
use core::sync::atomic::Ordering;

/// Which task a per-process file shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProcTarget {
    /// The process (None: the caller's, /proc/self).
    pub pid: Option<u32>,
    /// One thread (/proc/PID/task/TID) rather than the whole thread group.
    pub tid: Option<u32>,
}

const ESRCH: i64 = 3;

/// What the text is made of: the process, the task shown (None: its leader is gone), and
/// whether the whole group is meant.
struct Subject {
    p: Arc<Process>,
    task: Option<TaskRef>,
    whole: bool,
}

fn subject(t: ProcTarget) -> Result<Subject, i64> {
    let p = match t.pid {
        Some(pid) => crate::process::find(pid).ok_or(-ESRCH)?,
        None => crate::task::current().process.clone(),
    };
    if is_reaped(&p) {
        return Err(-ESRCH);
    }
    let want = t
        .tid
        .unwrap_or_else(|| p.leader_tid.load(Ordering::Acquire));
    let task = p
        .threads
        .lock()
        .iter()
        .filter_map(alloc::sync::Weak::upgrade)
        .find(|x| x.tid == want);
    if t.tid.is_some() && task.is_none() {
        return Err(-ESRCH);
    }
    Ok(Subject {
        p,
        task,
        whole: t.tid.is_none(),
    })
}

/// Whether an ended process has been waited for (it is then out of its parent's children:
/// /proc no longer shows it). A process that has not ended is never reaped.
pub fn is_reaped(p: &Arc<Process>) -> bool {
    if p.reaped.load(Ordering::Acquire) {
        return true;
    }
    if p.exit_reason().is_none() || p.live_threads.load(Ordering::Acquire) > 0 {
        return false;
    }
    let Some(parent) = p.parent.lock().upgrade() else {
        return true;
    };
    !parent.children.lock().iter().any(|c| Arc::ptr_eq(c, p))
}

/// The state letter of task `t` of process `p` (None: the task is gone).
pub fn state_letter(p: &Arc<Process>, t: Option<&Task>) -> char {
    let Some(t) = t else {
        // The leader has ended while other threads run, or the whole process has ended
        // and waits to be reaped: Linux shows the zombie leader.
        return if is_reaped(p) { 'X' } else { 'Z' };
    };
    match t.state() {
        TaskState::Dead => {
            if is_reaped(p) {
                'X'
            } else {
                'Z'
            }
        }
        _ if t.ptrace.state.lock().stop.is_some() => 't',
        _ if t.jobctl.is_stopped() => 'T',
        TaskState::Blocked if t.sched.uninterruptible.load(Ordering::Relaxed) => 'D',
        TaskState::Blocked => 'S',
        TaskState::Runnable => 'R',
    }
}

/// Linux's task_state_array names.
fn state_name(c: char) -> &'static str {
    match c {
        'R' => "R (running)",
        'S' => "S (sleeping)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'Z' => "Z (zombie)",
        _ => "X (dead)",
    }
}

fn ppid(p: &Process) -> u32 {
    p.parent.lock().upgrade().map_or(0, |q| q.pid)
}

/// Ignored and caught signals (bit n-1 for signal n), from the handlers.
fn ign_catch(p: &Process) -> (u64, u64) {
    let acts = p.sigactions.lock();
    let (mut ign, mut catch) = (0u64, 0u64);
    for sig in 1..=64u8 {
        let h = acts.get(sig).handler;
        if h == crate::signal::SIG_IGN {
            ign |= 1 << (sig - 1);
        } else if h != crate::signal::SIG_DFL {
            catch |= 1 << (sig - 1);
        }
    }
    (ign, catch)
}

/// The blocked mask of `t`: its own working copy for the reading thread itself, the mask it
/// publishes to senders ([`Task::blocked_seen`]) for another.
fn blocked_of(t: Option<&Task>) -> u64 {
    match t {
        Some(t) if core::ptr::eq(t, crate::task::current()) => crate::task::current_inner().sigmask,
        Some(t) => t.blocked_seen.load(Ordering::Relaxed),
        None => 0,
    }
}

/// The figures of the address space `p` runs in (a vfork child's is its parent's, as the
/// mm Linux shows).
fn memory(p: &Arc<Process>) -> Option<crate::mm::aspace::MemSummary> {
    p.mm().aspace.lock().as_ref().map(|a| a.summary())
}

fn to_clock_t(ns: u64) -> u64 {
    ns / (1_000_000_000 / crate::sched::cputime::USER_HZ)
}

/// The name between the parentheses: the command name, at most 15 bytes (TASK_COMM_LEN).
/// The text of `/proc/PID/comm` (or a thread's): the name and a newline. Threads share their
/// process's name here (no PR_SET_NAME per thread).
pub fn comm_file(target: ProcTarget) -> Result<String, i64> {
    let Subject { p, .. } = subject(target)?;
    let mut s = comm(&p);
    s.push('\n');
    Ok(s)
}

fn comm(p: &Process) -> String {
    let name = p.name.lock();
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    String::from(&name[..end])
}

/// The text of /proc/PID/maps: the mappings of the address space the process runs in (none
/// once it has ended).
pub fn maps(target: ProcTarget) -> Result<String, i64> {
    let Subject { p, .. } = subject(ProcTarget {
        tid: None,
        ..target
    })?;
    Ok(p.mm()
        .aspace
        .lock()
        .as_ref()
        .map(|a| a.proc_maps())
        .unwrap_or_default())
}

/// Where /proc/PID/exe points (None: the caller's /proc/self/exe); "" once the process has
/// gone.
pub fn exe_link(pid: Option<u32>) -> String {
    match pid {
        None => super::current_exe(),
        Some(pid) => crate::process::find(pid)
            .filter(|p| !is_reaped(p))
            .map(|p| super::exe_of(&p))
            .unwrap_or_default(),
    }
}

/// Linux's PF_EXITING: the thread group is ending.
const PF_EXITING: u64 = 0x4;

/// The text of /proc/PID/stat (or of a thread's, /proc/PID/task/TID/stat).
pub fn stat(target: ProcTarget) -> Result<String, i64> {
    let Subject { p, task, whole } = subject(target)?;
    let t = task.as_deref();
    let state = state_letter(&p, t);
    let pid = t.map_or(p.pid, |t| if whole { p.pid } else { t.tid });
    let threads = p.live_threads.load(Ordering::Acquire);
    // Its group and session (process/group.rs); no controlling terminal (tty_nr 0, tpgid
    // -1).
    let (pgid, sid) = (p.pgid(), p.sid());
    let flags = if p.exiting.load(Ordering::Acquire) {
        PF_EXITING
    } else {
        0
    };
    // CPU time is kept per process: a thread's own row shows 0.
    let (utime, stime) = if whole {
        (p.cputime.user_ns(), p.cputime.system_ns())
    } else {
        (0, 0)
    };
    let start = to_clock_t(p.start_ns);
    let mem = memory(&p);
    let pending =
        t.map_or(0, |t| t.sig_pending.bits()) | if whole { p.sig_pending.bits() } else { 0 };
    let (ign, catch) = ign_catch(&p);
    let wchan = u64::from(state != 'R' && (!whole || threads < 2));
    let cpu = t.map_or(0, |t| t.sched.cpu.load(Ordering::Relaxed));
    let exit_signal = p.exit_signal.load(Ordering::Relaxed);
    let exit_code = p.exit_reason().map_or(0, |r| r.wait_status());
    let low = |m: u64| m & 0x7fff_ffff;
    let mut s = String::new();
    let _ = write!(
        s,
        "{pid} ({}) {state} {} {pgid} {sid} 0 -1 {flags} 0 0 0 0 {} {} 0 0 20 0 {threads} 0 {start} {} {} 18446744073709551615",
        comm(&p),
        ppid(&p),
        to_clock_t(utime),
        to_clock_t(stime),
        mem.map_or(0, |m| m.vsize),
        mem.map_or(0, |m| m.rss_pages),
    );
    let _ = write!(
        s,
        " {} {} {} 0 0 {} {} {} {} {wchan} 0 0 {exit_signal} {cpu} 0 0 0 0 0",
        mem.map_or(0, |m| m.start_code),
        mem.map_or(0, |m| m.end_code),
        mem.map_or(0, |m| m.start_stack),
        low(pending),
        low(blocked_of(t)),
        low(ign),
        low(catch),
    );
    match mem {
        Some(m) => {
            let _ = write!(
                s,
                " {} {} {} {} {} {} {}",
                m.start_data, m.end_data, m.start_brk, m.args.0, m.args.1, m.env.0, m.env.1
            );
        }
        None => s.push_str(" 0 0 0 0 0 0 0"),
    }
    let _ = writeln!(s, " {exit_code}");
    Ok(s)
}

/// A task's numbers in each PID namespace it is in, from the root (kentry's /proc is the root
/// namespace's) down to its own, tab-separated (status's NSpid and NStgid).
fn ns_numbers(pids: Option<&Arc<crate::process::pid_ns::NsPids>>, global: u32) -> String {
    match pids {
        None => alloc::format!("{global}"),
        Some(p) => {
            let mut s = String::new();
            for (i, nr) in p.nrs.iter().enumerate() {
                if i > 0 {
                    s.push('\t');
                }
                let _ = write!(s, "{nr}");
            }
            s
        }
    }
}

/// The text of /proc/PID/status.
pub fn status(target: ProcTarget) -> Result<String, i64> {
    let Subject { p, task, whole } = subject(target)?;
    let t = task.as_deref();
    let state = state_letter(&p, t);
    let pid = match t {
        Some(t) if !whole => t.tid,
        _ => p.pid,
    };
    let tracer = t
        .and_then(|t| t.ptrace.state.lock().tracer())
        .map_or(0, |tr| tr.pid);
    let (umask, fdsize) = {
        let table = p.files();
        let f = table.lock();
        // Linux's max_fds: the descriptor array's size, a multiple of 64.
        (f.umask, (f.fds.len().div_ceil(64) * 64).max(64))
    };
    let threads = p.live_threads.load(Ordering::Acquire);
    let uid = crate::syscall::cred::ids_seen_by_caller(&p, crate::process::user_ns::IdMap::Uid);
    let gid = crate::syscall::cred::ids_seen_by_caller(&p, crate::process::user_ns::IdMap::Gid);
    let mut s = String::new();
    let _ = write!(
        s,
        "Name:\t{}\nUmask:\t{umask:04o}\nState:\t{}\nTgid:\t{tgid}\nNgid:\t0\nPid:\t{pid}\n\
         PPid:\t{}\nTracerPid:\t{tracer}\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{fdsize}\n\
         Groups:\t \nNStgid:\t{nstgid}\nNSpid:\t{nspid}\nNSpgid:\t{pgid}\nNSsid:\t{sid}\n",
        comm(&p),
        state_name(state),
        ppid(&p),
        uid[0],
        uid[1],
        uid[2],
        uid[3],
        gid[0],
        gid[1],
        gid[2],
        gid[3],
        nstgid = ns_numbers(p.ns_pids.as_ref(), p.pid),
        nspid = match t {
            Some(t) if !whole => ns_numbers(t.ns_tids.get(), t.tid),
            _ => ns_numbers(p.ns_pids.as_ref(), p.pid),
        },
        tgid = p.pid,
        pgid = p.pgid(),
        sid = p.sid(),
    );
    if let Some(m) = memory(&p) {
        let kb = |bytes: u64| bytes / 1024;
        let rss = m.rss_pages * 4;
        let _ = write!(
            s,
            "VmPeak:\t{:8} kB\nVmSize:\t{:8} kB\nVmLck:\t{:8} kB\nVmPin:\t{:8} kB\n\
             VmHWM:\t{rss:8} kB\nVmRSS:\t{rss:8} kB\nRssAnon:\t{rss:8} kB\nRssFile:\t{:8} kB\n\
             RssShmem:\t{:8} kB\nVmData:\t{:8} kB\nVmStk:\t{:8} kB\nVmExe:\t{:8} kB\n\
             VmLib:\t{:8} kB\nVmPTE:\t{:8} kB\nVmSwap:\t{:8} kB\nHugetlbPages:\t{:8} kB\n\
             CoreDumping:\t0\nTHP_enabled:\t1\n",
            kb(m.vsize),
            kb(m.vsize),
            0,
            0,
            0,
            0,
            kb(m.brk.saturating_sub(m.start_brk)),
            0,
            kb(m.end_code - m.start_code),
            0,
            0,
            0,
            0,
        );
    }
    let pending = t.map_or(0, |t| t.sig_pending.bits());
    let shared = if whole { p.sig_pending.bits() } else { 0 };
    let (ign, catch) = ign_catch(&p);
    let (mode, filters) = t.map_or((0, 0), crate::syscall::seccomp::status_of);
    let nnp = u8::from(crate::syscall::no_new_privs(&p));
    let allowed =
        t.map_or(0, |t| t.sched.allowed.load(Ordering::Relaxed)) & crate::smp::online_mask();
    let (nv, niv) = t.map_or((0, 0), |t| {
        (
            t.sched.nvcsw.load(Ordering::Relaxed),
            t.sched.nivcsw.load(Ordering::Relaxed),
        )
    });
    // Every process is root with every capability (CAP_LAST_CAP 40 in 6.1).
    let caps = "000001ffffffffff";
    let _ = write!(
        s,
        "Threads:\t{threads}\nSigQ:\t0/0\nSigPnd:\t{pending:016x}\nShdPnd:\t{shared:016x}\n\
         SigBlk:\t{:016x}\nSigIgn:\t{ign:016x}\nSigCgt:\t{catch:016x}\n\
         CapInh:\t0000000000000000\nCapPrm:\t{caps}\nCapEff:\t{caps}\nCapBnd:\t{caps}\n\
         CapAmb:\t0000000000000000\nNoNewPrivs:\t{nnp}\nSeccomp:\t{mode}\n\
         Seccomp_filters:\t{filters}\nSpeculation_Store_Bypass:\tvulnerable\n\
         SpeculationIndirectBranch:\talways enabled\nCpus_allowed:\t{allowed:x}\n\
         Cpus_allowed_list:\t{}Mems_allowed:\t1\nMems_allowed_list:\t0\n\
         voluntary_ctxt_switches:\t{nv}\nnonvoluntary_ctxt_switches:\t{niv}\n",
        blocked_of(t),
        super::procfs::cpu_list(allowed),
    );
    Ok(s)
}

/// `/proc/PID/syscall` (Linux's `proc_pid_syscall`): for the reader itself or a sleeping task,
/// the call it is in — its number, six arguments, stack pointer and instruction pointer in hex
/// — or `-1` with the last two outside a call (a stop in its exit work, an interrupt's way
/// back); `running` for another task on a CPU or about to be.
pub fn syscall(target: ProcTarget) -> Result<String, i64> {
    let Subject { task, .. } = subject(target)?;
    let Some(t) = task else {
        return Err(-ESRCH);
    };
    let me = core::ptr::eq(&*t, crate::task::current());
    if !me && (t.state() != TaskState::Blocked || t.sched.on_cpu.load(Ordering::Acquire)) {
        return Ok(String::from("running\n"));
    }
    // SAFETY: the top of a user task's kernel stack is its user frame, written when it last
    // entered the kernel; it sleeps (or is the caller, in this read), so the frame is not
    // being written. A wake-up meanwhile makes this a snapshot of a moment ago, as Linux's
    // is.
    let r = unsafe { *t.entry.user_regs() };
    let mut s = String::new();
    if r.orig_rax == u64::MAX {
        let _ = writeln!(s, "-1 {:#x} {:#x}", r.rsp, r.rip);
    } else {
        let _ = writeln!(
            s,
            "{} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x}",
            r.orig_rax as i64, r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9, r.rsp, r.rip
        );
    }
    Ok(s)
}

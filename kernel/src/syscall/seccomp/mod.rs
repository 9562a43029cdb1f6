//! seccomp (Linux's kernel/seccomp.c): strict mode and filter mode, through `seccomp(2)` and
//! `prctl(PR_SET_SECCOMP)`; `prctl(PR_GET_SECCOMP)`.
//!
//! A thread in strict mode may make four system calls — read, write, exit (not exit_group)
//! and rt_sigreturn; any other, on the SYSCALL path or through `int $0x80` (where the i386
//! numbers of the same four are allowed), ends the thread as if by SIGKILL (Linux's
//! `do_exit(SIGKILL)`: the thread only; the process's status is that if it was the last).
//! The mode is per thread, set on the calling thread only, and never left.
//!
//! The check runs from kentry's syscall entry work ([`kentry::syscall_work`]): entering a mode
//! sets the thread's persistent `SECCOMP` work flag, so every later syscall of that thread
//! takes the slow path to [`secure_computing`]; threads without a mode pay nothing (the fast
//! path's one `test` of the work word).
//!
//! Filter mode: a thread's classic-BPF filters (checked and run by
//! `kentry_kernel_logic::seccomp_bpf`) judge each of its syscalls; the verdict of highest
//! precedence over all of them decides: ALLOW, LOG (allowed, logged), ERRNO (skipped with
//! `-data`), TRAP (skipped; SIGSYS with `si_code` SYS_SECCOMP, `si_errno` the data, the call
//! address, number and arch; `rax` rolled back to the number), TRACE (the tracer's
//! PTRACE_EVENT_SECCOMP stop, then judged again; -ENOSYS without a tracer), USER_NOTIF (the
//! syscall waits for the answer of a supervisor holding the filter's listener, [`notify`];
//! -ENOSYS without one), KILL_THREAD (the thread ends by SIGSYS), KILL_PROCESS and any
//! unknown action (the process ends by SIGSYS).
//! Filters stack (a new one is added in front), are inherited by threads and children, and
//! survive execve. TSYNC gives the new chain to every thread of the process whose own
//! filters the caller's are built on (or that has none), or fails with the id of one that
//! does not fit. Every process here runs as root (CAP_SYS_ADMIN), so no_new_privs is not
//! required. `SECCOMP_FILTER_FLAG_LOG`: the filter's ERRNO, TRAP, TRACE and USER_NOTIF
//! verdicts are logged too (Linux's default `actions_logged`; kentry's log is its audit).
//! A tracer may read a thread's filters back ([`introspect`]).

use crate::sync::Mutex;
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::task;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use data::{data_ia32, data_x86_64};
use kentry::Regs;
use kentry::syscall_work::SyscallWork;
use kentry_abi::{nr, nr32};
use kentry_kernel_logic::seccomp_bpf::{self as bpf, Filter, SeccompData, SockFilter, ret};

mod data;
mod introspect;
pub use introspect::{filter_metadata, filter_program, status_of};
pub mod notify;
use notify::Listener;

/// Test kernels, `kentry.break=seccomp`: no seccomp mode judges any syscall (strict allows
/// everything, filters are not run: the negative run of the `c_seccomp` tests).
pub static BREAK_CHECK: AtomicBool = AtomicBool::new(false);

/// `seccomp.mode`: none, strict, filter (Linux's values, which PR_GET_SECCOMP returns).
pub const SECCOMP_MODE_DISABLED: u8 = 0;
pub const SECCOMP_MODE_STRICT: u8 = 1;
pub const SECCOMP_MODE_FILTER: u8 = 2;

/// seccomp(2) operations.
const SECCOMP_SET_MODE_STRICT: u64 = 0;
const SECCOMP_SET_MODE_FILTER: u64 = 1;
const SECCOMP_GET_ACTION_AVAIL: u64 = 2;
const SECCOMP_GET_NOTIF_SIZES: u64 = 3;

/// SECCOMP_SET_MODE_FILTER flags (Linux 6.1 has these six).
const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
/// Linux: leave the thread's speculative-execution mitigations as they are (else, where the
/// mitigation mode is "seccomp", the filter turns SSBD/STIBP on). kentry has no such
/// mitigation to turn on, and QEMU TCG does not execute speculatively: accepted, no effect.
const FLAG_SPEC_ALLOW: u32 = 4;
const FLAG_NEW_LISTENER: u32 = 8;
/// With TSYNC: a thread that cannot be synchronised fails the call with ESRCH, not its id
/// (so that TSYNC can be combined with NEW_LISTENER, whose success value is an fd).
const FLAG_TSYNC_ESRCH: u32 = 16;
/// Once a notification has been received, its target's wait ends only by a fatal signal.
const FLAG_WAIT_KILLABLE_RECV: u32 = 32;
const FLAGS_KNOWN: u32 = FLAG_TSYNC
    | FLAG_LOG
    | FLAG_SPEC_ALLOW
    | FLAG_NEW_LISTENER
    | FLAG_TSYNC_ESRCH
    | FLAG_WAIT_KILLABLE_RECV;

/// Linux's limit on the instructions on one path through a thread's filters (each filter
/// counts 4 more).
const MAX_INSNS_PER_PATH: usize = 32768;

/// `si_code` of seccomp's SIGSYS.
const SYS_SECCOMP: i32 = 1;
/// Linux's largest errno (ERRNO data is capped to it).
const MAX_ERRNO: u32 = 4095;

/// One filter of a thread's chain, newest first; older ones shared.
///
/// A node's strong count is Linux's `users` of a filter: the threads whose chain starts
/// there plus the newer nodes built on it (a listener holds the [`Listener`], not the node).
/// When it drops to 0 the filter's listener reports POLLHUP.
pub struct FilterNode {
    filter: Filter,
    /// The instructions on the path from this filter to the oldest, 4 more per filter (what
    /// MAX_INSNS_PER_PATH limits), kept so that an install does not walk the chain.
    path_insns: usize,
    /// SECCOMP_FILTER_FLAG_LOG: this filter's ERRNO/TRAP/TRACE/USER_NOTIF verdicts are logged.
    log: bool,
    /// The listener of a filter installed with NEW_LISTENER.
    listener: Option<Arc<Listener>>,
    prev: Option<Arc<FilterNode>>,
}

impl FilterNode {
    fn iter(&self) -> impl Iterator<Item = &FilterNode> {
        core::iter::successors(Some(self), |n| n.prev.as_deref())
    }
}

impl Drop for FilterNode {
    /// Also lets go of the older nodes that only this one held, one after the other: left to
    /// the drop glue, each node's drop would recurse into its predecessor's, and a chain of
    /// thousands of filters (Linux allows about 3,600 one-instruction ones) would overflow
    /// the kernel stack of the thread that ends last.
    fn drop(&mut self) {
        if let Some(l) = &self.listener {
            l.orphan();
        }
        let mut prev = self.prev.take();
        while let Some(node) = prev {
            prev = match Arc::try_unwrap(node) {
                // Its own drop (this function) then finds `prev` empty: no recursion.
                Ok(mut older) => older.prev.take(),
                // Still used by another thread or a newer filter: it stays.
                Err(_) => None,
            };
        }
    }
}

/// A thread's seccomp state: its mode and its filters, newest first (shared with the threads
/// and children that inherited them). Locked: TSYNC from another thread of the process sets
/// it; the thread itself reads it at each syscall it has the `SECCOMP` flag for.
pub struct ThreadSeccomp {
    state: Mutex<SeccompState>,
}

#[derive(Clone, Default)]
struct SeccompState {
    mode: u8,
    filters: Option<Arc<FilterNode>>,
    /// The thread has ended and let go of its filters ([`release`]); TSYNC passes it by.
    released: bool,
}

impl SeccompState {
    /// The verdict of the filter chain on `data` (ALLOW without filters).
    fn verdict(&self, data: &SeccompData) -> u32 {
        match self.filters.as_deref() {
            Some(chain) => bpf::run_chain(chain.iter().map(|n| &n.filter), data),
            None => ret::ALLOW,
        }
    }
}

impl ThreadSeccomp {
    pub const fn new() -> Self {
        ThreadSeccomp {
            state: Mutex::new(SeccompState {
                mode: SECCOMP_MODE_DISABLED,
                filters: None,
                released: false,
            }),
        }
    }
}

impl Default for ThreadSeccomp {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `old` is `new` or one of the filters `new` was built on (TSYNC's condition: a
/// thread whose chain is an ancestor of the caller's may be given the caller's).
fn is_ancestor(old: Option<&Arc<FilterNode>>, new: Option<&Arc<FilterNode>>) -> bool {
    match (old, new) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(o), Some(n)) => n.iter().any(|x| core::ptr::eq(x, &**o)),
    }
}

/// The system calls strict mode allows on the SYSCALL path (x86-64 numbers).
const STRICT_ALLOWED: [i32; 4] = [
    nr::READ as i32,
    nr::WRITE as i32,
    nr::EXIT as i32,
    nr::RT_SIGRETURN as i32,
];
/// The same four through `int $0x80` (i386 numbers: exit 1, read 3, write 4, sigreturn 119;
/// Linux's `mode1_syscalls_32`).
const STRICT_ALLOWED_IA32: [i32; 4] = [
    nr32::READ as i32,
    nr32::WRITE as i32,
    nr32::EXIT as i32,
    nr32::SIGRETURN as i32,
];

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::SECCOMP] = sys_seccomp;
    t
}

/// The calling thread's mode.
pub fn mode() -> u8 {
    task::current().seccomp.state.lock().mode
}

/// Puts the calling thread in strict mode (Linux's `seccomp_set_mode_strict`): allowed from
/// no mode or from strict; a thread with a filter cannot switch (EINVAL).
fn set_mode_strict() -> i64 {
    let mut st = task::current().seccomp.state.lock();
    match st.mode {
        SECCOMP_MODE_DISABLED | SECCOMP_MODE_STRICT => {
            st.mode = SECCOMP_MODE_STRICT;
            // From the next syscall on, this thread's entries take the slow path.
            crate::percpu::this_cpu()
                .entry
                .raise_work(SyscallWork::SECCOMP.bits());
            0
        }
        _ => -EINVAL,
    }
}

/// Reads and checks the `struct sock_fprog` at `uprog` (Linux's
/// `seccomp_prepare_user_filter`).
fn read_filter(uprog: u64) -> Result<Filter, i64> {
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    let mut hdr = [0u8; 16];
    crate::uaccess::copy_from_user(&mut hdr, uprog).map_err(|_| -EFAULT)?;
    let len = u16::from_le_bytes([hdr[0], hdr[1]]) as usize;
    let at = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or([0; 8]));
    if len == 0 || len > bpf::BPF_MAXINSNS {
        return Err(-EINVAL);
    }
    let mut raw = alloc::vec![0u8; len * SockFilter::SIZE];
    crate::uaccess::copy_from_user(&mut raw, at).map_err(|_| -EFAULT)?;
    let prog: Vec<SockFilter> = raw
        .chunks_exact(SockFilter::SIZE)
        .map(|c| SockFilter::from_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    Filter::new(&prog).map_err(|_| -EINVAL)
}

/// Adds the filter `struct sock_fprog` at `uprog` describes in front of the calling thread's
/// chain (Linux's `seccomp_set_mode_filter`). With NEW_LISTENER, returns the listener's
/// descriptor (O_CLOEXEC).
fn set_mode_filter(flags: u32, uprog: u64) -> i64 {
    if flags & !FLAGS_KNOWN != 0 {
        return -EINVAL;
    }
    // A TSYNC failure returns a thread id, a NEW_LISTENER success an fd: together only when
    // TSYNC fails with ESRCH instead.
    if flags & FLAG_TSYNC != 0
        && flags & FLAG_NEW_LISTENER != 0
        && flags & FLAG_TSYNC_ESRCH == 0
        && notify::checks_on()
    {
        return -EINVAL;
    }
    if flags & FLAG_WAIT_KILLABLE_RECV != 0 && flags & FLAG_NEW_LISTENER == 0 {
        return -EINVAL;
    }
    let filter = match read_filter(uprog) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let Some(listener) = (flags & FLAG_NEW_LISTENER != 0)
        .then(|| Listener::new(flags & FLAG_WAIT_KILLABLE_RECV != 0))
    else {
        return attach(flags, filter, None).map_or_else(|e| e, |()| 0);
    };
    // The descriptor is taken first (a full table fails before anything is attached, as
    // Linux reserves it first) and taken back if the filter cannot be attached.
    let file = crate::fs::File::new(
        crate::fs::FileKind::SeccompListener(listener.clone()),
        crate::fs::O_RDWR,
    );
    let fd = match crate::fs::install_file(file.clone(), true) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    match attach(flags, filter, Some(listener)) {
        Ok(()) => fd as i64,
        Err(e) => {
            let table = task::current().process.files();
            let mut files = table.lock();
            // Unless another thread has already put something else there.
            let ours = files
                .get(fd as u64)
                .is_some_and(|x| Arc::ptr_eq(&x.file, &file));
            let entry = if ours { files.remove(fd as u64) } else { None };
            drop(files);
            drop(entry);
            e
        }
    }
}

/// Puts `filter` (with its listener) in front of the calling thread's chain, and with
/// TSYNC of every other thread's of the process.
fn attach(flags: u32, filter: Filter, listener: Option<Arc<Listener>>) -> Result<(), i64> {
    let me = task::current();
    // The process's thread list, held throughout: installs in one process are serialised, and
    // TSYNC sees every thread.
    let threads = me.process.threads.lock();
    let mut st = me.seccomp.state.lock();
    if st.mode == SECCOMP_MODE_STRICT {
        return Err(-EINVAL);
    }
    // One listener per chain (Linux's has_duplicate_listener): a closed one does not count.
    if listener.is_some()
        && notify::checks_on()
        && st
            .filters
            .iter()
            .flat_map(|n| n.iter())
            .any(|n| n.listener.as_ref().is_some_and(|l| l.attached()))
    {
        return Err(-EBUSY);
    }
    let path = st.filters.as_ref().map_or(0, |n| n.path_insns) + filter.len() + 4;
    if path > MAX_INSNS_PER_PATH {
        return Err(-ENOMEM);
    }
    let others: Vec<task::TaskRef> = threads
        .iter()
        .filter_map(alloc::sync::Weak::upgrade)
        .filter(|t| t.tid != me.tid && t.state() != task::TaskState::Dead)
        .collect();
    if flags & FLAG_TSYNC != 0 {
        // Linux's seccomp_can_sync_threads: each thread has no mode, or filters the caller's
        // are built on; else the call fails with that thread's id (ESRCH with TSYNC_ESRCH).
        for t in &others {
            let ts = t.seccomp.state.lock();
            let fits = ts.released
                || ts.mode == SECCOMP_MODE_DISABLED
                || (ts.mode == SECCOMP_MODE_FILTER
                    && is_ancestor(ts.filters.as_ref(), st.filters.as_ref()));
            if !fits {
                return Err(if flags & FLAG_TSYNC_ESRCH != 0 {
                    -ESRCH
                } else {
                    t.tid_in(t.process.pid_ns()) as i64
                });
            }
        }
    }
    let chain = Arc::new(FilterNode {
        filter,
        path_insns: path,
        log: flags & FLAG_LOG != 0,
        listener,
        prev: st.filters.take(),
    });
    st.filters = Some(chain.clone());
    st.mode = SECCOMP_MODE_FILTER;
    drop(st);
    crate::percpu::this_cpu()
        .entry
        .raise_work(SyscallWork::SECCOMP.bits());
    if flags & FLAG_TSYNC != 0 {
        for t in &others {
            let mut ts = t.seccomp.state.lock();
            if ts.released {
                continue;
            }
            let old = ts.filters.replace(chain.clone());
            ts.mode = SECCOMP_MODE_FILTER;
            drop(ts);
            // Dropped outside the lock: the last user of a filter wakes its listener's polls.
            drop(old);
            // Its next syscall is judged (an IPI brings a running thread through its exit
            // work, where the flag lands in its word).
            crate::sched::raise_work_on(t, SyscallWork::SECCOMP.bits());
        }
    }
    Ok(())
}

/// A thread that has ended lets go of its filters (Linux's `seccomp_filter_release`, which
/// Linux calls when the task is released: for a thread at once, for a process's last thread
/// when it is reaped; kentry at the thread's end in both cases). A filter no thread uses any
/// more makes its listener report POLLHUP.
pub fn release(t: &task::Task) {
    let old = {
        let mut st = t.seccomp.state.lock();
        st.released = true;
        st.filters.take()
    };
    drop(old);
}

/// A new thread or child process starts with its creator's mode and filters, and so with
/// its `SECCOMP` work flag (Linux's `copy_seccomp`).
pub fn inherit(from: &task::Task, to: &task::Task) {
    let st = from.seccomp.state.lock().clone();
    if st.mode != SECCOMP_MODE_DISABLED {
        to.entry.raise_work(SyscallWork::SECCOMP.bits());
    }
    *to.seccomp.state.lock() = st;
}

/// seccomp(operation, flags, args).
fn sys_seccomp(regs: &mut Regs) -> i64 {
    let (op, flags, args) = (regs.rdi as u32 as u64, regs.rsi as u32, regs.rdx);
    match op {
        SECCOMP_SET_MODE_STRICT if flags == 0 && args == 0 => set_mode_strict(),
        SECCOMP_SET_MODE_FILTER => set_mode_filter(flags, args),
        SECCOMP_GET_ACTION_AVAIL if flags == 0 => {
            let mut a = [0u8; 4];
            if crate::uaccess::copy_from_user(&mut a, args).is_err() {
                return -EFAULT;
            }
            if bpf::action_known(u32::from_le_bytes(a)) {
                0
            } else {
                -EOPNOTSUPP
            }
        }
        SECCOMP_GET_NOTIF_SIZES if flags == 0 => {
            // struct seccomp_notif_sizes { __u16 seccomp_notif, seccomp_notif_resp,
            // seccomp_data; }
            let mut sizes = [0u8; 6];
            for (slot, size) in sizes.chunks_exact_mut(2).zip([
                notify::NOTIF_SIZE,
                notify::NOTIF_RESP_SIZE,
                notify::DATA_SIZE,
            ]) {
                slot.copy_from_slice(&(size as u16).to_ne_bytes());
            }
            if crate::uaccess::copy_to_user(args, &sizes).is_err() {
                return -EFAULT;
            }
            0
        }
        _ => -EINVAL,
    }
}

/// prctl(PR_SET_SECCOMP, mode, filter): mode 1 is strict (the filter argument is ignored, as
/// in Linux); mode 2 adds `filter`, without flags.
pub fn prctl_set_seccomp(mode: u64, filter: u64) -> i64 {
    match mode {
        1 => set_mode_strict(),
        2 => set_mode_filter(0, filter),
        _ => -EINVAL,
    }
}

/// kentry's `Host::secure_computing`: whether the calling thread may make syscall `orig_rax`
/// — an x86-64 one from SYSCALL, or an i386 one from `int $0x80` (Linux's `syscall_get_arch`
/// by `in_ia32_syscall`), each judged with its own numbers, arch and argument registers.
pub fn secure_computing(regs: &mut Regs) -> bool {
    if crate::syscall::compat::in_ia32_syscall() {
        return secure_computing_ia32(regs);
    }
    let data = data_x86_64(regs);
    judge(regs, &data, &STRICT_ALLOWED)
}

/// [`secure_computing`] for an `int $0x80` call: out of line, so the SYSCALL path's judgement
/// pays one test and a branch for it.
#[cold]
#[inline(never)]
fn secure_computing_ia32(regs: &mut Regs) -> bool {
    let data = data_ia32(regs);
    judge(regs, &data, &STRICT_ALLOWED_IA32)
}

/// The calling thread's mode judges the syscall `data` describes, with `strict` the numbers
/// strict mode allows for its calling convention; the mode and the filters are read under
/// one hold of the thread's lock. Returns whether the syscall runs; if not, `rax` holds its
/// result or the thread is on its way out. A thread whose flag is set but which has no mode
/// (none exists yet that could leave one) has the flag cleared.
fn judge(regs: &mut Regs, data: &SeccompData, strict: &[i32; 4]) -> bool {
    let verdict = {
        let st = task::current().seccomp.state.lock();
        match st.mode {
            SECCOMP_MODE_STRICT => None,
            SECCOMP_MODE_FILTER => Some(st.verdict(data)),
            _ => {
                crate::percpu::this_cpu()
                    .entry
                    .clear_work(SyscallWork::SECCOMP.bits());
                return true;
            }
        }
    };
    match verdict {
        None => strict_check(data.nr, strict),
        // ALLOW first, and every other action out of line: the allowed syscall's path stays
        // as short as before the listener code (which made the inlined actions' frame larger).
        Some(v) if v & ret::ACTION_FULL == ret::ALLOW => true,
        Some(_) if BREAK_CHECK.load(Ordering::Relaxed) => true,
        Some(v) => filter_action(regs, data, v),
    }
}

/// RET_TRACE (Linux's `__seccomp_filter`): the tracer's PTRACE_EVENT_SECCOMP stop, if a
/// tracer asked for it (else -ENOSYS); then the call the tracer left is judged again, where a
/// TRACE verdict lets it run ("put in this state by the ptracer already"). A tracer's -1, or
/// SIGKILL during the stop, skips it. Returns whether the syscall runs.
fn trace(regs: &mut Regs, data: &SeccompData, value: u32) -> bool {
    if !crate::ptrace::seccomp_event(regs, value) {
        regs.rax = (-ENOSYS) as u64;
        return false;
    }
    if crate::signal::fatal_pending() || (regs.orig_rax as i64) < 0 {
        return false;
    }
    // The number and arguments the tracer left, in the calling convention of the call.
    let data = if data.arch == bpf::AUDIT_ARCH_X86_64 {
        data_x86_64(regs)
    } else {
        data_ia32(regs)
    };
    let verdict = task::current().seccomp.state.lock().verdict(&data);
    if verdict & ret::ACTION_FULL == ret::TRACE {
        return true;
    }
    filter_action(regs, &data, verdict)
}

/// Filter mode's action for verdict `verdict` (Linux's `__seccomp_filter`). Returns whether
/// the syscall runs.
#[inline(never)]
fn filter_action(regs: &mut Regs, data: &SeccompData, verdict: u32) -> bool {
    let (action, value) = (verdict & ret::ACTION_FULL, verdict & ret::DATA);
    match action {
        ret::ALLOW => true,
        ret::LOG => {
            crate::klog!(
                "seccomp: pid {} syscall {} logged",
                task::current().process.pid,
                data.nr
            );
            true
        }
        ret::ERRNO => {
            log_action(matched(data, verdict).0, data, "errno");
            regs.rax = (-(value.min(MAX_ERRNO) as i64)) as u64;
            false
        }
        ret::TRAP => {
            log_action(matched(data, verdict).0, data, "trap");
            // Linux's syscall_rollback: the handler sees the number in rax.
            regs.rax = regs.orig_rax;
            let info = crate::signal::SigInfo {
                signo: crate::signal::SIGSYS as i32,
                errno: value as i32,
                code: SYS_SECCOMP,
                addr_or_pid: data.instruction_pointer,
                extra: (data.nr as u32 as u64) | (data.arch as u64) << 32,
            };
            crate::signal::force_fault(
                crate::signal::SIGSYS,
                info,
                crate::signal::FaultInfo::default(),
            );
            false
        }
        ret::USER_NOTIF => {
            let (log, listener) = matched(data, verdict);
            log_action(log, data, "user_notif");
            // Both syscall entries judge with interrupts on, in task context: the wait may
            // sleep (`int $0x80` too, since it has its own entry).
            let Some(listener) = listener else {
                // The filter was installed without a listener: ENOSYS, as Linux.
                regs.rax = (-ENOSYS) as u64;
                return false;
            };
            match notify::user_notification(&listener, data) {
                // SECCOMP_USER_NOTIF_FLAG_CONTINUE: the syscall runs as it is.
                None => true,
                Some(v) => {
                    regs.rax = v as u64;
                    false
                }
            }
        }
        ret::TRACE => {
            log_action(matched(data, verdict).0, data, "trace");
            trace(regs, data, value)
        }
        ret::KILL_THREAD => {
            kill(false);
            false
        }
        // KILL_PROCESS and every action Linux does not know.
        _ => {
            kill(true);
            false
        }
    }
}

/// The filter whose verdict `verdict` won for `data`: whether it was installed with
/// SECCOMP_FILTER_FLAG_LOG, and its listener. Run again under the thread's lock (the
/// judgement itself does not track it, so that ALLOW pays nothing); chains without a logging
/// filter or a listener skip the run. A TSYNC between the two runs can only put newer filters
/// in front, which the second run sees as a syscall made just after it would.
fn matched(data: &SeccompData, verdict: u32) -> (bool, Option<Arc<Listener>>) {
    let st = task::current().seccomp.state.lock();
    let Some(chain) = st.filters.as_deref() else {
        return (false, None);
    };
    if !chain.iter().any(|n| n.log || n.listener.is_some()) {
        return (false, None);
    }
    let at = bpf::matching_filter(chain.iter().map(|n| &n.filter), data, verdict);
    match at.and_then(|i| chain.iter().nth(i)) {
        Some(n) => (n.log, n.listener.clone()),
        None => (false, None),
    }
}

/// SECCOMP_FILTER_FLAG_LOG: the matching filter asked for its verdicts to be logged.
fn log_action(log: bool, data: &SeccompData, action: &str) {
    if log {
        crate::klog!(
            "seccomp: pid {} syscall {} {action} (logged by its filter)",
            task::current().process.pid,
            data.nr
        );
    }
}

/// Ends the calling thread (or its whole process) by SIGSYS, at its exit work: the syscall
/// is skipped and the thread never returns to user mode.
fn kill(process: bool) {
    let me = task::current();
    crate::klog!(
        "seccomp: pid {} tid {}: killed ({})",
        me.process.pid,
        me.tid,
        if process { "process" } else { "thread" }
    );
    let reason = crate::task::ExitReason::Signaled(crate::signal::SIGSYS);
    if process {
        crate::process::begin_group_exit(reason);
    } else {
        crate::process::end_thread_at_exit_work(reason);
    }
}

/// Strict mode's judgement: an allowed number goes on; any other ends the thread at its
/// exit work, as SIGKILL would (the syscall is skipped; the thread never returns to it).
fn strict_check(nr: i32, allowed: &[i32; 4]) -> bool {
    if allowed.contains(&nr) || BREAK_CHECK.load(Ordering::Relaxed) {
        return true;
    }
    crate::klog!(
        "seccomp: pid {} tid {}: syscall {nr} in strict mode, killed",
        task::current().process.pid,
        task::current().tid
    );
    crate::process::end_thread_at_exit_work(crate::task::ExitReason::Signaled(
        crate::signal::SIGKILL,
    ));
    false
}

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
//! address, number and arch; `rax` rolled back to the number), TRACE and USER_NOTIF (no
//! tracer, no listener: skipped with -ENOSYS, as Linux does then), KILL_THREAD (the thread
//! ends by SIGSYS), KILL_PROCESS and any unknown action (the process ends by SIGSYS).
//! Filters stack (a new one is added in front), are inherited by threads and children, and
//! survive execve. TSYNC gives the new chain to every thread of the process whose own
//! filters the caller's are built on (or that has none), or fails with the id of one that
//! does not fit. Every process here runs as root (CAP_SYS_ADMIN), so no_new_privs is not
//! required. Not yet: NEW_LISTENER and user notification, `SECCOMP_FILTER_FLAG_LOG`'s
//! effect on the actions Linux logs.

use crate::sync::Mutex;
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::task;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use kentry::Regs;
use kentry::syscall_work::SyscallWork;
use kentry_abi::nr;
use kentry_kernel_logic::seccomp_bpf::{self as bpf, Filter, SeccompData, SockFilter, ret};

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

/// SECCOMP_SET_MODE_FILTER flags: TSYNC, LOG, SPEC_ALLOW are taken; NEW_LISTENER,
/// TSYNC_ESRCH and WAIT_KILLABLE_RECV (listener flags) are refused until user notification
/// exists.
const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;

/// Linux's limit on the instructions on one path through a thread's filters (each filter
/// counts 4 more).
const MAX_INSNS_PER_PATH: usize = 32768;

/// `si_code` of seccomp's SIGSYS.
const SYS_SECCOMP: i32 = 1;
/// Linux's largest errno (ERRNO data is capped to it).
const MAX_ERRNO: u32 = 4095;

/// One filter of a thread's chain, newest first; older ones shared.
pub struct FilterNode {
    filter: Filter,
    /// SECCOMP_FILTER_FLAG_LOG (kept; its effect on logging is not modelled).
    _log: bool,
    prev: Option<Arc<FilterNode>>,
}

impl FilterNode {
    fn iter(&self) -> impl Iterator<Item = &FilterNode> {
        core::iter::successors(Some(self), |n| n.prev.as_deref())
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
}

impl ThreadSeccomp {
    pub const fn new() -> Self {
        ThreadSeccomp {
            state: Mutex::new(SeccompState {
                mode: SECCOMP_MODE_DISABLED,
                filters: None,
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
const STRICT_ALLOWED_IA32: [i32; 4] = [3, 4, 1, 119];

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

/// Adds the filter `struct sock_fprog` at `uprog` describes in front of the calling thread's
/// chain (Linux's `seccomp_set_mode_filter`).
fn set_mode_filter(flags: u32, uprog: u64) -> i64 {
    if flags & !(FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW) != 0 {
        return -EINVAL;
    }
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    let mut hdr = [0u8; 16];
    if crate::uaccess::copy_from_user(&mut hdr, uprog).is_err() {
        return -EFAULT;
    }
    let len = u16::from_le_bytes([hdr[0], hdr[1]]) as usize;
    let at = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or([0; 8]));
    if len == 0 || len > bpf::BPF_MAXINSNS {
        return -EINVAL;
    }
    let mut raw = alloc::vec![0u8; len * SockFilter::SIZE];
    if crate::uaccess::copy_from_user(&mut raw, at).is_err() {
        return -EFAULT;
    }
    let prog: Vec<SockFilter> = raw
        .chunks_exact(SockFilter::SIZE)
        .map(|c| SockFilter::from_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    let Ok(filter) = Filter::new(&prog) else {
        return -EINVAL;
    };
    let me = task::current();
    // The process's thread list, held throughout: installs in one process are serialised, and
    // TSYNC sees every thread.
    let threads = me.process.threads.lock();
    let mut st = me.seccomp.state.lock();
    if st.mode == SECCOMP_MODE_STRICT {
        return -EINVAL;
    }
    let path: usize = st
        .filters
        .iter()
        .flat_map(|n| n.iter())
        .map(|n| n.filter.len() + 4)
        .sum();
    if path + filter.len() + 4 > MAX_INSNS_PER_PATH {
        return -ENOMEM;
    }
    let others: Vec<task::TaskRef> = threads
        .iter()
        .filter_map(alloc::sync::Weak::upgrade)
        .filter(|t| t.tid != me.tid && t.state() != task::TaskState::Dead)
        .collect();
    if flags & FLAG_TSYNC != 0 {
        // Linux's seccomp_can_sync_threads: each thread has no mode, or filters the caller's
        // are built on; else the call fails with that thread's id.
        for t in &others {
            let ts = t.seccomp.state.lock();
            let fits = ts.mode == SECCOMP_MODE_DISABLED
                || (ts.mode == SECCOMP_MODE_FILTER
                    && is_ancestor(ts.filters.as_ref(), st.filters.as_ref()));
            if !fits {
                return t.tid as i64;
            }
        }
    }
    let chain = Arc::new(FilterNode {
        filter,
        _log: flags & FLAG_LOG != 0,
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
            *t.seccomp.state.lock() = SeccompState {
                mode: SECCOMP_MODE_FILTER,
                filters: Some(chain.clone()),
            };
            // Its next syscall is judged (an IPI brings a running thread through its exit
            // work, where the flag lands in its word).
            crate::sched::raise_work_on(t, SyscallWork::SECCOMP.bits());
        }
    }
    0
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
            let action = u32::from_le_bytes(a);
            // USER_NOTIF needs a listener, which kentry does not have yet.
            if bpf::action_known(action) && action != ret::USER_NOTIF {
                0
            } else {
                -EOPNOTSUPP
            }
        }
        // GET_NOTIF_SIZES and unknown operations.
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

/// kentry's `Host::secure_computing` for the SYSCALL path: whether the calling thread may
/// make syscall `orig_rax`.
pub fn secure_computing(regs: &mut Regs) -> bool {
    let data = data_x86_64(regs);
    judge(regs, &data, &STRICT_ALLOWED)
}

/// `seccomp_data` of a 64-bit syscall.
fn data_x86_64(regs: &Regs) -> SeccompData {
    SeccompData {
        nr: regs.orig_rax as i32,
        arch: bpf::AUDIT_ARCH_X86_64,
        instruction_pointer: regs.rip,
        args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
    }
}

/// `int $0x80` from a thread with a seccomp mode: the i386 number `eax` is judged the same
/// way. Returns whether it may go on (to the i386 dispatch).
pub fn secure_computing_ia32(regs: &mut Regs) -> bool {
    let r = |v: u64| v as u32 as u64;
    let data = SeccompData {
        nr: regs.rax as i32,
        arch: bpf::AUDIT_ARCH_I386,
        instruction_pointer: regs.rip,
        args: [regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp].map(r),
    };
    // The frame has no separate number slot here: rax is both (the TRAP rollback is a no-op).
    regs.orig_rax = regs.rax;
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
            SECCOMP_MODE_FILTER => Some(match st.filters.as_deref() {
                Some(chain) => bpf::run_chain(chain.iter().map(|n| &n.filter), data),
                None => ret::ALLOW,
            }),
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
    if crate::ptrace::fatal_pending(task::current()) || (regs.orig_rax as i64) < 0 {
        return false;
    }
    // The 64-bit entry judges the number in orig_rax; int $0x80 (no separate slot) the one
    // in rax, into which it copied it.
    let data = if data.arch == bpf::AUDIT_ARCH_X86_64 {
        data_x86_64(regs)
    } else {
        SeccompData {
            nr: regs.orig_rax as i32,
            ..*data
        }
    };
    let verdict = {
        let st = task::current().seccomp.state.lock();
        match st.filters.as_deref() {
            Some(chain) => bpf::run_chain(chain.iter().map(|n| &n.filter), &data),
            None => ret::ALLOW,
        }
    };
    if verdict & ret::ACTION_FULL == ret::TRACE {
        return true;
    }
    filter_action(regs, &data, verdict)
}

/// Filter mode's action for verdict `verdict` (Linux's `__seccomp_filter`). Returns whether
/// the syscall runs.
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
            regs.rax = (-(value.min(MAX_ERRNO) as i64)) as u64;
            false
        }
        ret::TRAP => {
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
        ret::TRACE => trace(regs, data, value),
        // No listener exists yet: as Linux then, the syscall fails with ENOSYS.
        ret::USER_NOTIF => {
            regs.rax = (-ENOSYS) as u64;
            false
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

//! fork, vfork, clone and clone3: one path, [`kernel_clone`] (Linux's name), fed by each
//! call's way of passing its arguments. Seccomp sees each call by its own number before it
//! runs; ptrace's fork, vfork and clone events come from the common path, so a clone3 child
//! is reported as a clone child with the same flags and exit signal would be.
//!
//! What the flags do in kentry:
//! - CLONE_THREAD (needs CLONE_SIGHAND, which needs CLONE_VM, as Linux): a thread of the
//!   caller's process. CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_SETTID and
//!   CLONE_CHILD_CLEARTID as Linux.
//! - Otherwise a new process: a copy-on-write fork; with CLONE_VM (with or without
//!   CLONE_VFORK) the child runs in the caller's memory and the caller waits until it execs
//!   or exits (vfork's rule). CLONE_FILES shares the descriptor table (kentry keeps the
//!   working directory and umask in it, so they are shared too); CLONE_CLEAR_SIGHAND resets
//!   the child's handlers; CLONE_SETTLS sets its FS base; the exit signal is sent to the
//!   parent when it ends (0: none).
//! - CLONE_FS, CLONE_SYSVSEM, CLONE_IO are accepted with nothing to share apart;
//!   CLONE_PARENT is accepted and ignored (the caller stays the parent).
//! - CLONE_NEWPID: the child is pid 1 of a new PID namespace; CLONE_NEWUSER: it is in a new
//!   user namespace (docs/namespaces.md). Either with CLONE_THREAD is EINVAL, as is a thread
//!   while the caller's children go to another PID namespace (after unshare(CLONE_NEWPID)).
//!   The ids clone returns and writes (CLONE_PARENT_SETTID, CLONE_CHILD_SETTID) are the
//!   child's in the namespace of the one who reads them.
//! - The other namespaces (CLONE_NEWNS, _NEWUTS, _NEWIPC, _NEWNET, _NEWCGROUP, _NEWTIME),
//!   CLONE_PIDFD (no pidfds), CLONE_INTO_CGROUP and clone3's set_tid are refused with EINVAL,
//!   Linux's answer for what its build lacks.
//!
//! unshare(2) is here too: CLONE_NEWPID (where the caller's next children go), CLONE_NEWUSER
//! (the caller's own user namespace, single-threaded callers only), CLONE_FILES.

use super::errno::*;
use super::table::Table;
use crate::process;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;
use kentry::sysret::TASK_SIZE_MAX;
use kentry_abi::nr;

pub const CSIGNAL: u64 = 0xff;
pub const CLONE_NEWTIME: u64 = 0x80;
pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_THREAD: u64 = 0x10000;
pub const CLONE_NEWNS: u64 = 0x20000;
pub const CLONE_SETTLS: u64 = 0x80000;
pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
pub const CLONE_DETACHED: u64 = 0x40_0000;
pub const CLONE_CHILD_SETTID: u64 = 0x100_0000;
pub const CLONE_NEWCGROUP: u64 = 0x200_0000;
pub const CLONE_NEWUTS: u64 = 0x400_0000;
pub const CLONE_NEWIPC: u64 = 0x800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;
pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

pub const CLONE_FS: u64 = 0x200;
pub const CLONE_SYSVSEM: u64 = 0x4_0000;

/// The namespaces kentry does not have (EINVAL, as a Linux built without them).
const CLONE_NEW_MISSING: u64 =
    CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;

/// Linux's CLONE_ARGS_SIZE_VER0 and VER2: struct clone_args up to tls and up to cgroup
/// (VER1, 80 bytes, ends at set_tid_size).
pub const CLONE_ARGS_SIZE_VER0: usize = 64;
pub const CLONE_ARGS_SIZE_VER2: usize = 88;
/// Linux's MAX_PID_NS_LEVEL: the most set_tid entries.
const MAX_PID_NS_LEVEL: u64 = 32;
const PAGE_SIZE: usize = 4096;

/// Test kernels, `kentry.break=clone3_size`: clone3 reads its struct without the size rules
/// (any size is taken, at most 88 bytes of it read, a tail never looked at): the negative run
/// of `c_clone3`.
pub static BREAK_SIZE_RULES: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

pub const fn register(mut t: Table) -> Table {
    t[nr::CLONE] = sys_clone;
    t[nr::CLONE3] = sys_clone3;
    t[nr::FORK] = sys_fork;
    t[nr::VFORK] = sys_vfork;
    t[nr::UNSHARE] = sys_unshare;
    t
}

/// What every variant asks for (Linux's kernel_clone_args).
#[derive(Clone, Copy, Default)]
pub struct KernelCloneArgs {
    /// CLONE_* flags, without the exit signal.
    pub flags: u64,
    pub exit_signal: u8,
    /// The child's stack pointer (0: the caller's).
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
}

const SIGCHLD: u8 = crate::signal::SIGCHLD;

fn sys_fork(regs: &mut Regs) -> i64 {
    let args = KernelCloneArgs {
        exit_signal: SIGCHLD,
        ..Default::default()
    };
    kernel_clone(regs, &args)
}

fn sys_vfork(regs: &mut Regs) -> i64 {
    let args = KernelCloneArgs {
        flags: CLONE_VM | CLONE_VFORK,
        exit_signal: SIGCHLD,
        ..Default::default()
    };
    kernel_clone(regs, &args)
}

/// clone(flags, newsp, parent_tid, child_tid, tls): the exit signal is the flags' low byte.
fn sys_clone(regs: &mut Regs) -> i64 {
    let (flags, newsp, ptid, ctid, tls) = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8);
    clone_legacy(regs, flags, newsp, ptid, ctid, tls)
}

/// clone(2)'s arguments, from the x86-64 or the i386 call (their registers differ in order):
/// 32 bits of flags (CLONE_CLEAR_SIGHAND and up are clone3's), the exit signal in the low
/// byte.
pub(crate) fn clone_legacy(
    regs: &mut Regs,
    flags: u64,
    newsp: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
) -> i64 {
    let args = KernelCloneArgs {
        flags: flags & !CSIGNAL & 0xffff_ffff,
        exit_signal: (flags & CSIGNAL) as u8,
        stack: newsp,
        parent_tid: ptid,
        child_tid: ctid,
        tls,
    };
    if args.flags & CLONE_PIDFD != 0 && args.flags & CLONE_PARENT_SETTID != 0 {
        // Both would use parent_tid (Linux's check in clone(2)).
        return -EINVAL;
    }
    kernel_clone(regs, &args)
}

fn sys_clone3(regs: &mut Regs) -> i64 {
    match clone3_args(regs.rdi, regs.rsi) {
        Ok(args) => kernel_clone(regs, &args),
        Err(e) => e,
    }
}

/// The 11 u64 fields of struct clone_args.
const F_FLAGS: usize = 0;
// 1: pidfd, unused: CLONE_PIDFD is refused.
const F_CHILD_TID: usize = 2;
const F_PARENT_TID: usize = 3;
const F_EXIT_SIGNAL: usize = 4;
const F_STACK: usize = 5;
const F_STACK_SIZE: usize = 6;
const F_TLS: usize = 7;
const F_SET_TID: usize = 8;
const F_SET_TID_SIZE: usize = 9;
const F_CGROUP: usize = 10;

pub(crate) fn clone3_args(uargs: u64, usize_: u64) -> Result<KernelCloneArgs, i64> {
    let size = usize::try_from(usize_).unwrap_or(usize::MAX);
    let unchecked = BREAK_SIZE_RULES.load(core::sync::atomic::Ordering::Relaxed);
    if size > PAGE_SIZE && !unchecked {
        return Err(-E2BIG);
    }
    if size < CLONE_ARGS_SIZE_VER0 && !unchecked {
        return Err(-EINVAL);
    }
    // copy_struct_from_user: what kentry knows, zeros beyond a short struct, and a longer
    // one's tail must be zero (E2BIG).
    let mut raw = [0u8; CLONE_ARGS_SIZE_VER2];
    let known = size.min(CLONE_ARGS_SIZE_VER2);
    copy_from_user(&mut raw[..known], uargs).map_err(|_| -EFAULT)?;
    if size > CLONE_ARGS_SIZE_VER2 && !unchecked {
        let mut tail = [0u8; 256];
        let mut at = CLONE_ARGS_SIZE_VER2;
        while at < size {
            let n = (size - at).min(tail.len());
            copy_from_user(&mut tail[..n], uargs + at as u64).map_err(|_| -EFAULT)?;
            if tail[..n].iter().any(|&b| b != 0) {
                return Err(-E2BIG);
            }
            at += n;
        }
    }
    let f = |i: usize| u64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (set_tid, set_tid_size) = (f(F_SET_TID), f(F_SET_TID_SIZE));
    if set_tid_size > MAX_PID_NS_LEVEL
        || (set_tid == 0 && set_tid_size > 0)
        || (set_tid != 0 && set_tid_size == 0)
    {
        return Err(-EINVAL);
    }
    let exit_signal = f(F_EXIT_SIGNAL);
    if exit_signal & !CSIGNAL != 0 || exit_signal > 64 {
        return Err(-EINVAL);
    }
    let flags = f(F_FLAGS);
    if flags & CLONE_INTO_CGROUP != 0
        && (f(F_CGROUP) > i32::MAX as u64 || size < CLONE_ARGS_SIZE_VER2)
    {
        return Err(-EINVAL);
    }
    // clone3_args_valid: known flags only; CLONE_DETACHED and the CSIGNAL bits are not
    // flags here; CLONE_SIGHAND and CLONE_CLEAR_SIGHAND exclude each other; a thread or a
    // CLONE_PARENT child has no exit signal; the stack is both or neither of its fields.
    let legacy = 0xffff_ffff;
    if flags & !(legacy | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0
        || flags & (CLONE_DETACHED | (CSIGNAL & !CLONE_NEWTIME)) != 0
        || flags & (CLONE_SIGHAND | CLONE_CLEAR_SIGHAND) == CLONE_SIGHAND | CLONE_CLEAR_SIGHAND
        || (flags & (CLONE_THREAD | CLONE_PARENT) != 0 && exit_signal != 0)
    {
        return Err(-EINVAL);
    }
    let (stack, stack_size) = (f(F_STACK), f(F_STACK_SIZE));
    let top = if stack == 0 {
        if stack_size != 0 {
            return Err(-EINVAL);
        }
        0
    } else {
        // access_ok, then the top of the stack (it grows down).
        match stack.checked_add(stack_size) {
            Some(end) if stack_size != 0 && end <= TASK_SIZE_MAX => end,
            _ => return Err(-EINVAL),
        }
    };
    if set_tid != 0 {
        // Choosing the child's pid (checkpoint/restore) is not supported.
        return Err(-EINVAL);
    }
    Ok(KernelCloneArgs {
        flags,
        exit_signal: exit_signal as u8,
        stack: top,
        parent_tid: f(F_PARENT_TID),
        child_tid: f(F_CHILD_TID),
        tls: f(F_TLS),
    })
}

/// The common path of fork, vfork, clone and clone3 (Linux's kernel_clone and the checks of
/// its copy_process).
pub fn kernel_clone(regs: &mut Regs, args: &KernelCloneArgs) -> i64 {
    let flags = args.flags;
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return -EINVAL;
    }
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return -EINVAL;
    }
    if flags & (CLONE_NEW_MISSING | CLONE_PIDFD | CLONE_INTO_CGROUP) != 0 {
        return -EINVAL;
    }
    // Linux's copy_process: a new user namespace cannot share the caller's fs context, and a
    // thread stays in its process's namespaces.
    if flags & (CLONE_NEWUSER | CLONE_FS) == CLONE_NEWUSER | CLONE_FS {
        return -EINVAL;
    }
    if flags & CLONE_THREAD != 0 {
        let p = &crate::task::current().process;
        if flags & (CLONE_NEWUSER | CLONE_NEWPID) != 0
            || !process::pid_ns::same_ns(p.pid_ns_for_children.lock().as_ref(), p.pid_ns())
        {
            return -EINVAL;
        }
    }
    if flags & CLONE_SETTLS != 0 && args.tls >= TASK_SIZE_MAX {
        return -EPERM;
    }
    // The legacy word (flags with the exit signal in the low byte) is what the process and
    // ptrace layers read: the event kind (PTRACE_EVENT_CLONE for an exit signal other than
    // SIGCHLD), CLONE_PTRACE/CLONE_UNTRACED and the child's exit signal.
    let word = flags | u64::from(args.exit_signal);
    let mut child = *regs;
    child.rax = 0;
    if args.stack != 0 {
        child.rsp = args.stack;
    }
    // The tid writes land before the child can run (on another CPU it could run, exit and
    // clear its tid at once).
    let settid_failed = core::cell::Cell::new(false);
    // The caller's namespace: what it is told is the child's number there.
    let viewer = crate::task::current().process.pid_ns().cloned();
    // The child's number in the caller's namespace, taken while the child cannot have run yet
    // (it may end, and leave the registry, before kernel_clone returns).
    let child_vnr = core::cell::Cell::new(0u32);
    let settid = |tid: u32| {
        let Some(t) = process::find_thread(tid) else {
            return;
        };
        child_vnr.set(t.tid_in(viewer.as_ref()));
        if flags & CLONE_PARENT_SETTID != 0
            && copy_to_user(args.parent_tid, &t.tid_in(viewer.as_ref()).to_ne_bytes()).is_err()
        {
            settid_failed.set(true);
        }
        if flags & CLONE_CHILD_SETTID != 0 && flags & CLONE_VM != 0 {
            // The child's own number (Linux's schedule_tail writes task_pid_vnr).
            let own = t.tid_in(t.process.pid_ns());
            let _ = copy_to_user(args.child_tid, &own.to_ne_bytes());
        }
    };
    let tls = if flags & CLONE_SETTLS == 0 {
        None
    } else if super::compat::in_ia32_syscall() {
        // An i386 caller's tls is a `user_desc` for one of its GDT TLS slots (Linux's
        // copy_thread -> do_set_thread_area without allocation); a bad one fails the clone.
        match crate::task::tls::desc_from_user(-1, args.tls) {
            Ok((slot, desc)) => Some(crate::task::tls::CloneTls::Slot(slot, desc)),
            Err(e) => return e,
        }
    } else {
        Some(crate::task::tls::CloneTls::FsBase(args.tls))
    };
    if flags & CLONE_THREAD != 0 {
        let clear = if flags & CLONE_CHILD_CLEARTID != 0 {
            args.child_tid
        } else {
            0
        };
        let tid = match process::spawn_thread(&child, tls, clear, word, &settid) {
            Ok(t) => t,
            Err(e) => return -e,
        };
        crate::ptrace::fork_event(regs, crate::ptrace::EventStop::Clone, tid);
    } else {
        let vfork = flags & (CLONE_VM | CLONE_VFORK) != 0;
        let kind = crate::ptrace::EventStop::of_clone(word);
        let mut report = |pid: u32| crate::ptrace::fork_event(regs, kind, pid);
        match process::fork_current(&child, vfork, word, tls, &settid, &mut report) {
            Ok(pid) => {
                if flags & CLONE_VFORK != 0 {
                    let msg = crate::ptrace::for_tracer(pid);
                    crate::ptrace::event(regs, crate::ptrace::ev::VFORK_DONE, msg);
                }
            }
            Err(e) => return -e,
        }
    }
    if settid_failed.get() {
        return -EFAULT;
    }
    child_vnr.get() as i64
}

/// unshare(flags) (Linux's ksys_unshare with kentry's namespaces): CLONE_NEWUSER gives the
/// caller a new user namespace (it implies CLONE_THREAD and CLONE_FS: a multi-threaded caller
/// gets EINVAL); CLONE_NEWPID makes a PID namespace the caller's next children start in (the
/// first is its pid 1), which must be made from the caller's own namespace (EINVAL after an
/// earlier one); CLONE_FILES gives it its own descriptor table. CLONE_THREAD, CLONE_SIGHAND,
/// CLONE_VM and CLONE_FILES are accepted from a single-threaded process only (EINVAL else);
/// CLONE_FS and CLONE_SYSVSEM have nothing to unshare. The namespaces kentry lacks, and
/// unknown flags, are EINVAL.
fn sys_unshare(regs: &mut Regs) -> i64 {
    let mut flags = regs.rdi & 0xffff_ffff;
    if flags & CLONE_NEWUSER != 0 {
        flags |= CLONE_THREAD | CLONE_FS;
    }
    if flags & CLONE_VM != 0 {
        flags |= CLONE_SIGHAND;
    }
    if flags & CLONE_SIGHAND != 0 {
        flags |= CLONE_THREAD;
    }
    let known = CLONE_THREAD
        | CLONE_FS
        | CLONE_SIGHAND
        | CLONE_VM
        | CLONE_FILES
        | CLONE_SYSVSEM
        | CLONE_NEWUSER
        | CLONE_NEWPID;
    if flags & !known != 0 {
        return -EINVAL;
    }
    let p = crate::task::current().process.clone();
    // kentry's descriptor table is the process's, not a thread's: CLONE_FILES can be
    // unshared only by a process's one thread (a difference from Linux, documented).
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_FILES) != 0
        && p.live_threads.load(core::sync::atomic::Ordering::Acquire) > 1
    {
        return -EINVAL;
    }
    // Everything that can fail first, then the changes (Linux builds the new nsproxy and
    // creds before switching to them).
    let new_user = if flags & CLONE_NEWUSER != 0 {
        match process::user_ns::UserNamespace::new(p.user_ns.lock().as_ref()) {
            Ok(u) => Some(u),
            Err(e) => return e,
        }
    } else {
        None
    };
    let new_pid = if flags & CLONE_NEWPID != 0 {
        let for_children = p.pid_ns_for_children.lock().clone();
        if !process::pid_ns::same_ns(for_children.as_ref(), p.pid_ns()) {
            return -EINVAL;
        }
        match process::pid_ns::PidNamespace::new(for_children.as_ref()) {
            Ok(n) => Some(n),
            Err(e) => return e,
        }
    } else {
        None
    };
    if let Some(u) = new_user {
        *p.user_ns.lock() = Some(u);
        let mut c = p.creds.lock();
        (c.cap_permitted, c.cap_effective) = (true, true);
    }
    if let Some(n) = new_pid {
        *p.pid_ns_for_children.lock() = Some(n);
    }
    if flags & CLONE_FILES != 0 {
        p.unshare_files();
    }
    0
}

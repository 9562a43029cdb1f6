//! Process and thread syscalls: identity, execve/exit/wait, futex, arch_prctl (fork and the
//! clones: clone.rs).

use super::errno::*;
use super::table::Table;
use super::timespec::read_timespec;
use super::user::{read_cstr, read_str_array};
use crate::process::{self, Process, WaitEvent, WaitOptions};
use crate::task::{self, ExitReason};
use crate::uaccess::{copy_to_user, put_user_u64};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry::sysret::TASK_SIZE_MAX;
use kentry::{Regs, msr};
use kentry_abi::nr;
use x86_64::registers::model_specific::Msr;

pub const fn register(mut t: Table) -> Table {
    t[nr::SCHED_YIELD] = sys_sched_yield;
    t[nr::GETPID] = sys_getpid;
    t[nr::EXECVE] = sys_execve;
    t[nr::EXIT] = sys_exit;
    t[nr::WAIT4] = sys_wait4;
    t[nr::GETPPID] = sys_getppid;
    t[nr::ARCH_PRCTL] = sys_arch_prctl;
    t[nr::SET_THREAD_AREA] = crate::task::tls::sys_set_thread_area;
    t[nr::GET_THREAD_AREA] = crate::task::tls::sys_get_thread_area;
    t[nr::MODIFY_LDT] = crate::task::ldt::sys_modify_ldt;
    t[nr::GETTID] = sys_gettid;
    t[nr::FUTEX] = sys_futex;
    t[nr::SET_TID_ADDRESS] = sys_set_tid_address;
    t[nr::EXIT_GROUP] = sys_exit_group;
    t[nr::WAITID] = sys_waitid;
    t[nr::SET_ROBUST_LIST] = sys_set_robust_list;
    t
}

/// The caller's pid in its own PID namespace: `vpid` is `pid` in the root namespace, so this
/// is one load either way (the bench's getpid).
#[inline(always)]
fn sys_getpid(_: &mut Regs) -> i64 {
    task::current().process.vpid as i64
}

fn sys_gettid(_: &mut Regs) -> i64 {
    let me = task::current();
    me.tid_in(me.process.pid_ns()) as i64
}

/// The parent's pid as the caller's namespace sees it: 0 for a namespace's init, whose parent
/// is outside (Linux's `task_tgid_nr_ns(real_parent, ns)`).
fn sys_getppid(_: &mut Regs) -> i64 {
    let p = &task::current().process;
    p.parent
        .lock()
        .upgrade()
        .map_or(0, |pp| pp.pid_in(p.pid_ns()) as i64)
}

fn sys_sched_yield(_: &mut Regs) -> i64 {
    crate::sched::schedule();
    0
}

fn sys_exit(regs: &mut Regs) -> i64 {
    process::exit_current_thread(ExitReason::Exited(regs.rdi as i32))
}

fn sys_exit_group(regs: &mut Regs) -> i64 {
    process::exit_group_current(ExitReason::Exited(regs.rdi as i32))
}

/// execve(path, argv, envp): the process gets a new image; on success nothing of the old one
/// survives but open files without close-on-exec, ignored signals and the pid.
fn sys_execve(regs: &mut Regs) -> i64 {
    let path = match read_cstr(regs.rdi, 4096) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (argv, envp) = match (
        read_str_array(regs.rsi, 128 * 1024),
        read_str_array(regs.rdx, 128 * 1024),
    ) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let argv_refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let envp_refs: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    let image = match crate::exec::image_from_path(&path, &argv_refs, &envp_refs) {
        Ok(i) => i,
        Err(e) => return e,
    };
    // The point of no return: the old image's other threads end first.
    if let Err(e) = crate::process::end_other_threads_for_exec() {
        image.aspace.destroy();
        return -e;
    }
    let me = task::current();
    let p: &Arc<Process> = &me.process;
    // The new program starts without an LDT (before the old root goes: the CPUs to reload
    // are found by it).
    p.ldt.drop_for_exec(p);
    let root = image.aspace.root();
    let vdso32 = image.aspace.vdso32().unwrap_or(0);
    let old = p.aspace.lock().replace(image.aspace);
    p.set_vdso32(vdso32);
    p.cr3.store(root, core::sync::atomic::Ordering::Release);
    // SAFETY: the new table maps the kernel like every other; the old one is freed after.
    unsafe { crate::mm::paging::PageTable { root }.activate() };
    if let Some(old) = old {
        old.destroy();
    }
    // A vfork child now has memory of its own: its parent runs on.
    p.release_vfork();
    *p.name.lock() = String::from(path.rsplit('/').next().unwrap_or(&path));
    p.did_exec
        .store(true, core::sync::atomic::Ordering::Release);
    p.sigactions.lock().reset_for_exec();
    let ns = p.user_ns.lock().clone();
    p.creds.lock().exec(ns.as_ref());
    // POSIX timers do not survive execve (Linux's exit_itimers in begin_new_exec).
    crate::event::posix_timer::exit_process(p.pid);
    // A table shared by CLONE_FILES becomes this process's own first (unshare_files).
    p.unshare_files();
    p.files().lock().close_on_exec();
    let inner = task::current_inner();
    inner.fs_base = 0;
    inner.gs_base = 0;
    inner.altstack = (0, 0, 2);
    inner.clear_child_tid = 0;
    // Linux's flush_thread: no breakpoint survives exec.
    crate::x86::debugreg::flush_current();
    inner.fpu.set_initial();
    inner.fpu.restore();
    // A new program starts with null data selectors (linux-abi.md §1.3) and zero bases; an
    // i386 one with DS = ES = __USER_DS (start_thread_ia32). No TLS slot survives exec
    // (Linux's flush_thread).
    inner.selectors = if image.regs.cs == kentry::gdt::USER32_CS as u64 {
        task::segments::Selectors::ia32_start()
    } else {
        task::segments::Selectors::default()
    };
    inner.tls = [0; task::tls::TLS_ENTRIES];
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: null or __USER_DS selectors, interrupts off (Selectors::load's contract),
        // the TLS slots cleared first (no selector names them now); then this thread's FS/GS
        // bases (the user's GS waits in KERNEL_GS_BASE).
        unsafe {
            task::tls::load_tls(&inner.tls);
            inner.selectors.load();
            Msr::new(msr::IA32_FS_BASE).write(0);
            Msr::new(msr::IA32_KERNEL_GS_BASE).write(0);
        }
    });
    *regs = image.regs;
    crate::ptrace::exec_event(regs, me.tid);
    // The dispatcher stores this into rax: a new program starts with rax = 0.
    0
}

const WNOHANG: u64 = 1;
const WUNTRACED: u64 = 2;
const WCONTINUED: u64 = 8;
const WNOTHREAD: u64 = 0x2000_0000;
const WALL: u64 = 0x4000_0000;
const WCLONE: u64 = 0x8000_0000;

/// The status word wait4 reports for `e`.
fn wait_status(e: WaitEvent) -> (u32, i32) {
    match e {
        WaitEvent::Exited { pid, reason } => (pid, reason.wait_status()),
        WaitEvent::Trapped { pid, code } => {
            (pid, kentry_kernel_logic::ptrace::stopped_status(code))
        }
        WaitEvent::Stopped { pid, sig } => {
            (pid, kentry_kernel_logic::ptrace::stopped_status(sig as u32))
        }
        WaitEvent::Continued { pid } => (pid, kentry_kernel_logic::ptrace::CONTINUED_STATUS),
    }
}

fn sys_wait4(regs: &mut Regs) -> i64 {
    // `options` is an int: __WCLONE (bit 31) comes sign-extended from C callers.
    let (pid, status, options, rusage) =
        (regs.rdi as i32, regs.rsi, regs.rdx as u32 as u64, regs.r10);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return -EINVAL;
    }
    let me = task::current().process.clone();
    let opts = WaitOptions {
        nohang: options & WNOHANG != 0,
        nowait: false,
        exited: true,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        children: process::WaitChildren::from_flags(options & WALL != 0, options & WCLONE != 0),
    };
    let who = process::WaitWho::from_vnr(pid, me.pgid(), me.pid_ns());
    match process::wait_event(&me, who, opts) {
        Ok(Some(e)) => {
            let (cpid, st) = wait_status(e);
            if status != 0 && copy_to_user(status, &st.to_ne_bytes()).is_err() {
                return -EFAULT;
            }
            if rusage != 0 && put_rusage(rusage).is_err() {
                return -EFAULT;
            }
            cpid as i64
        }
        Ok(None) => 0,
        Err(e) if e == EINTR => -ERESTARTSYS,
        Err(e) => -e,
    }
}

const P_ALL: u64 = 0;
const P_PID: u64 = 1;
const P_PGID: u64 = 2;
const WSTOPPED: u64 = 2;
const WEXITED: u64 = 4;
const WNOWAIT: u64 = 0x0100_0000;

/// waitid(idtype, id, infop, options, rusage): like wait4, with the result as a siginfo
/// (SIGCHLD; CLD_EXITED, CLD_KILLED, CLD_STOPPED, CLD_CONTINUED or for a tracee's stop
/// CLD_TRAPPED; pid; status). WNOWAIT leaves the event for the next wait.
fn sys_waitid(regs: &mut Regs) -> i64 {
    // `options` is an int, as wait4's.
    let (idtype, id, infop, options, rusage) = (
        regs.rdi,
        regs.rsi,
        regs.rdx,
        regs.r10 as u32 as u64,
        regs.r8,
    );
    let known = WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE;
    if options & !known != 0 || options & (WEXITED | WSTOPPED | WCONTINUED) == 0 {
        return -EINVAL;
    }
    let me = task::current().process.clone();
    let ns = me.pid_ns();
    let pid = match idtype {
        P_ALL => process::WaitWho::Any,
        P_PID if id as i32 > 0 => process::WaitWho::from_vnr(id as i32, 0, ns),
        // Since Linux 5.4, P_PGID with id 0 is the caller's group.
        P_PGID if id == 0 => process::WaitWho::Group(me.pgid()),
        P_PGID if id as i32 > 0 => {
            process::WaitWho::Group(process::pid_ns::vnr_to_global(id as u32, ns).unwrap_or(0))
        }
        _ => return -EINVAL,
    };
    let opts = WaitOptions {
        nohang: options & WNOHANG != 0,
        nowait: options & WNOWAIT != 0,
        exited: options & WEXITED != 0,
        stopped: options & WSTOPPED != 0,
        continued: options & WCONTINUED != 0,
        children: process::WaitChildren::from_flags(options & WALL != 0, options & WCLONE != 0),
    };
    let event = match process::wait_event(&me, pid, opts) {
        Ok(Some(e)) => e,
        Ok(None) => {
            // WNOHANG and nothing ended: si_pid 0 tells the caller.
            if infop != 0 && copy_to_user(infop, &[0u8; 128]).is_err() {
                return -EFAULT;
            }
            return 0;
        }
        Err(e) if e == EINTR => return -ERESTARTSYS,
        Err(e) => return -e,
    };
    const CLD_EXITED: i32 = 1;
    const CLD_KILLED: i32 = 2;
    const CLD_TRAPPED: i32 = 4;
    const CLD_STOPPED: i32 = 5;
    const CLD_CONTINUED: i32 = 6;
    let (cpid, code, status) = match event {
        WaitEvent::Exited {
            pid,
            reason: ExitReason::Exited(c),
        } => (pid, CLD_EXITED, c & 0xff),
        WaitEvent::Exited {
            pid,
            reason: ExitReason::Signaled(s),
        } => (pid, CLD_KILLED, s as i32),
        WaitEvent::Trapped { pid, code } => (pid, CLD_TRAPPED, code as i32),
        WaitEvent::Stopped { pid, sig } => (pid, CLD_STOPPED, sig as i32),
        WaitEvent::Continued { pid } => (pid, CLD_CONTINUED, crate::signal::SIGCONT as i32),
    };
    if infop != 0 {
        let mut si = [0u8; 128];
        si[0..4].copy_from_slice(&(crate::signal::SIGCHLD as i32).to_ne_bytes());
        si[8..12].copy_from_slice(&code.to_ne_bytes());
        si[16..20].copy_from_slice(&(cpid as i32).to_ne_bytes());
        si[24..28].copy_from_slice(&status.to_ne_bytes());
        if super::compat::in_ia32_syscall() {
            // compat_siginfo: the union starts 4 bytes lower.
            si = kentry_abi::compat::siginfo_to_compat(&si);
        }
        if copy_to_user(infop, &si).is_err() {
            return -EFAULT;
        }
    }
    if rusage != 0 && put_rusage(rusage).is_err() {
        return -EFAULT;
    }
    0
}

/// The rusage of a waited-for child: all zero (kentry keeps no child usage), in the caller's
/// layout (`compat_rusage`, 72 bytes, for an i386 call).
fn put_rusage(rusage: u64) -> Result<(), crate::uaccess::Efault> {
    if super::compat::in_ia32_syscall() {
        copy_to_user(rusage, &[0u8; kentry_abi::compat::RUSAGE32_SIZE])
    } else {
        copy_to_user(rusage, &[0u8; 144])
    }
}

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_PRIVATE: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

fn sys_futex(regs: &mut Regs) -> i64 {
    do_futex(regs.rdi, regs.rsi, regs.rdx as u32, regs.r10, read_timespec)
}

/// futex(uaddr, op, val, timeout), the timeout read by `read_ts` (a `__kernel_timespec`, or
/// an `old_timespec32` for i386's futex).
pub(crate) fn do_futex(
    uaddr: u64,
    op: u64,
    val: u32,
    timeout: u64,
    read_ts: fn(u64) -> Result<u64, i64>,
) -> i64 {
    if !uaddr.is_multiple_of(4) {
        return -EINVAL;
    }
    match op & !(FUTEX_PRIVATE | FUTEX_CLOCK_REALTIME) {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let deadline = if timeout == 0 {
                None
            } else {
                match read_ts(timeout) {
                    // WAIT takes a relative time; WAIT_BITSET an absolute one, on the
                    // monotonic clock or, with FUTEX_CLOCK_REALTIME, the realtime one.
                    Ok(ns) if op & 0x7f == FUTEX_WAIT => Some(crate::time::deadline_after_ns(ns)),
                    Ok(ns) => Some(crate::time::deadline_at_ns(
                        ns,
                        op & FUTEX_CLOCK_REALTIME != 0,
                    )),
                    Err(e) => return e,
                }
            };
            crate::futex::wait(uaddr, val, deadline)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => crate::futex::wake(uaddr, val as usize),
        _ => -ENOSYS,
    }
}

fn sys_set_tid_address(regs: &mut Regs) -> i64 {
    task::current_inner().clear_child_tid = regs.rdi;
    let me = task::current();
    me.tid_in(me.process.pid_ns()) as i64
}

/// Robust futex lists are accepted and not walked (a thread dying while holding a robust
/// mutex is not handled yet).
fn sys_set_robust_list(_: &mut Regs) -> i64 {
    0
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

fn sys_arch_prctl(regs: &mut Regs) -> i64 {
    let (code, addr) = (regs.rdi, regs.rsi);
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            // A kernel address as a user base is refused outright (E13).
            if addr >= TASK_SIZE_MAX {
                return -EPERM;
            }
            // SAFETY: FS base and (while in the kernel) KERNEL_GS_BASE hold the user's bases;
            // the context switch saves them from the MSRs.
            // Linux loads a null selector first: the base then belongs to no segment.
            unsafe {
                if code == ARCH_SET_FS {
                    crate::task::segments::zero_fs();
                    Msr::new(msr::IA32_FS_BASE).write(addr);
                } else {
                    crate::task::segments::zero_gs();
                    Msr::new(msr::IA32_KERNEL_GS_BASE).write(addr);
                }
            }
            0
        }
        ARCH_GET_FS | ARCH_GET_GS => {
            // Read the live values: user code may have changed them with WRFSBASE/WRGSBASE.
            // SAFETY: reading this CPU's base MSRs.
            let v = unsafe {
                if code == ARCH_GET_FS {
                    Msr::new(msr::IA32_FS_BASE).read()
                } else {
                    Msr::new(msr::IA32_KERNEL_GS_BASE).read()
                }
            };
            match put_user_u64(addr, v) {
                Ok(()) => 0,
                Err(_) => -EFAULT,
            }
        }
        _ => -EINVAL,
    }
}

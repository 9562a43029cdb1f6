//! The i386 system call table: what `int $0x80` runs (Linux's `ia32_sys_call_table`, numbers
//! from `arch/x86/entry/syscalls/syscall_32.tbl`, written once in kentry-abi's `nr32`).
//!
//! One list below says, for each i386 call kentry serves, how: the x86-64 handler of the same
//! call when the two ABIs agree once each 32-bit argument is zero-extended (Linux's ia32
//! wrappers read `(unsigned int)regs->bx` and so on, and the 64-bit code then narrows an `int`
//! argument itself), or a compat wrapper of its own where the layouts differ. Every other
//! number returns -ENOSYS, as an unknown one does.
//!
//! What is here is what a static i386 glibc program needs (start-up, stdio, memory, signals,
//! threads, fork/exec/wait, time, files) and what 64-bit programs using `int $0x80` need.
//! The handlers of layouts that differ live by area: `files.rs` (split 64-bit offsets,
//! `_llseek`, old mmap), `process.rs` (clone's argument order, rlimits, rusage, tms,
//! sysinfo, the 32-bit futex timeout, get_thread_area), `time.rs` (the 32-bit time calls),
//! `signal.rs` (compat_sigaction, stack_t, siginfo, the i386 sigreturns), `sigset_old.rs`
//! (sigprocmask, sigpending and sigsuspend on one 32-bit word), `statfs.rs` (the two i386
//! statfs layouts), `net.rs` (socketcall), `uid16.rs` (the 16-bit uid and gid calls). A
//! few x86-64 handlers write i386's layout themselves when `in_ia32_syscall()` says the call
//! is one (stat64, rusage, waitid's siginfo, iovecs, argv pointers, CLONE_SETTLS's
//! user_desc, msghdr, cmsghdr and mmsghdr),
//! where one copy-out decides the layout. The layouts are kentry-abi's `compat`.

mod files;
mod net;
mod process;
mod signal;
mod sigset_old;
mod statfs;
mod time;
mod uid16;

use super::Handler;
use super::errno::ENOSYS;
use super::table::BUILT;
use kentry::Regs;
use kentry_abi::{nr, nr32};

/// One past the highest i386 number.
pub const NR_SYSCALLS_32: usize = kentry_abi::NR_SYSCALLS_32;

type Table32 = [Handler; NR_SYSCALLS_32 + 1];

/// The i386 calls that run the x86-64 handler of the same call: (i386 number, x86-64 number).
/// Calls without arguments go straight to the handler; the others through [`args_ia32`].
/// Compat handlers of their own (layouts that differ) read the i386 registers themselves.
macro_rules! ia32_table {
    (no_args: $($n0:ident),* ;
     same_abi: $($n32:ident => $n64:ident),* ;
     compat: $($nc:ident => $h:path),* $(,)?) => {{
        let mut t: Table32 = [ia32_ni; NR_SYSCALLS_32 + 1];
        t[NR_SYSCALLS_32] = ia32_invalid;
        $(t[nr32::$n0] = BUILT[nr::$n0];)*
        $(t[nr32::$n32] = args_ia32::<{ nr::$n64 }>;)*
        $(t[nr32::$nc] = $h;)*
        t
    }};
}

/// The table, then one more slot for every invalid number (as the x86-64 table's).
pub static IA32_TABLE: Table32 = ia32_table! {
    no_args: GETPID, GETTID, GETPPID, SCHED_YIELD, PAUSE, RESTART_SYSCALL, GETPGRP, SETSID, SYNC,
        FORK, VFORK;
    same_abi:
        EXIT => EXIT,
        EXIT_GROUP => EXIT_GROUP,
        READ => READ,
        WRITE => WRITE,
        CLOSE => CLOSE,
        KILL => KILL,
        TKILL => TKILL,
        TGKILL => TGKILL,
        BRK => BRK,
        DUP => DUP,
        DUP2 => DUP2,
        DUP3 => DUP3,
        PIPE => PIPE,
        PIPE2 => PIPE2,
        GETPGID => GETPGID,
        SETPGID => SETPGID,
        GETSID => GETSID,
        UMASK => UMASK,
        CHDIR => CHDIR,
        FCHDIR => FCHDIR,
        FSYNC => FSYNC,
        FDATASYNC => FDATASYNC,
        MUNMAP => MUNMAP,
        MREMAP => MREMAP,
        GETUID32 => GETUID,
        GETEUID32 => GETEUID,
        GETGID32 => GETGID,
        GETEGID32 => GETEGID,
        // The 32-bit id calls: the same ABI (the 16-bit ones: uid16.rs).
        SETUID32 => SETUID,
        SETGID32 => SETGID,
        SETREUID32 => SETREUID,
        SETREGID32 => SETREGID,
        SETRESUID32 => SETRESUID,
        SETRESGID32 => SETRESGID,
        GETRESUID32 => GETRESUID,
        GETRESGID32 => GETRESGID,
        SETFSUID32 => SETFSUID,
        SETFSGID32 => SETFSGID,
        GETGROUPS32 => GETGROUPS,
        SETGROUPS32 => SETGROUPS,
        CHOWN32 => CHOWN,
        LCHOWN32 => LCHOWN,
        FCHOWN32 => FCHOWN,
        FCHOWNAT => FCHOWNAT,
        CLOCK_NANOSLEEP_TIME64 => CLOCK_NANOSLEEP,
        // What a static i386 glibc program needs to start and print (docs/compat.md): the
        // structures of these are the same on both ABIs (user_desc, statx, new_utsname) or
        // there are none.
        SET_THREAD_AREA => SET_THREAD_AREA,
        GET_THREAD_AREA => GET_THREAD_AREA,
        MODIFY_LDT => MODIFY_LDT,
        SET_TID_ADDRESS => SET_TID_ADDRESS,
        READLINK => READLINK,
        GETRANDOM => GETRANDOM,
        MPROTECT => MPROTECT,
        MADVISE => MADVISE,
        MREMAP => MREMAP,
        STATX => STATX,
        UNAME => UNAME,
        ACCESS => ACCESS,
        FACCESSAT => FACCESSAT,
        FACCESSAT2 => FACCESSAT2,
        OPEN => OPEN,
        OPENAT => OPENAT,
        CREAT => CREAT,
        GETCWD => GETCWD,
        CLOCK_GETTIME64 => CLOCK_GETTIME,
        CLOCK_GETRES_TIME64 => CLOCK_GETRES,
        // Files: the same structures (linux_dirent64, termios, winsize, an int) or none.
        GETDENTS64 => GETDENTS64,
        MKDIR => MKDIR,
        MKDIRAT => MKDIRAT,
        RMDIR => RMDIR,
        UNLINK => UNLINK,
        UNLINKAT => UNLINKAT,
        RENAME => RENAME,
        RENAMEAT => RENAMEAT,
        RENAMEAT2 => RENAMEAT2,
        LINK => LINK,
        LINKAT => LINKAT,
        SYMLINK => SYMLINK,
        SYMLINKAT => SYMLINKAT,
        READLINKAT => READLINKAT,
        CHMOD => CHMOD,
        FCHMOD => FCHMOD,
        FCHMODAT => FCHMODAT,
        // Extended attributes: the same arguments (names, sizes and flags are ints).
        GETXATTR => GETXATTR,
        LGETXATTR => LGETXATTR,
        FGETXATTR => FGETXATTR,
        SETXATTR => SETXATTR,
        LSETXATTR => LSETXATTR,
        FSETXATTR => FSETXATTR,
        LISTXATTR => LISTXATTR,
        LLISTXATTR => LLISTXATTR,
        FLISTXATTR => FLISTXATTR,
        REMOVEXATTR => REMOVEXATTR,
        LREMOVEXATTR => LREMOVEXATTR,
        FREMOVEXATTR => FREMOVEXATTR,
        IOCTL => IOCTL,
        // fcntl64's F_GETLK64/F_SETLK64 (12-14) are not x86-64 commands: -EINVAL there,
        // and kentry has no record locks anyway.
        FCNTL => FCNTL,
        FCNTL64 => FCNTL,
        MEMFD_CREATE => MEMFD_CREATE,
        POLL => POLL,
        PPOLL_TIME64 => PPOLL,
        // struct stat64: put_stat writes i386's layout for an i386 call.
        STAT64 => STAT,
        LSTAT64 => LSTAT,
        FSTAT64 => FSTAT,
        FSTATAT64 => NEWFSTATAT,
        // readv/writev: the iovec array is read in i386's layout (io.rs parse_iovecs).
        READV => READV,
        WRITEV => WRITEV,
        // Processes: wait4's rusage and waitid's siginfo are written in i386's layout for an
        // i386 call.
        WAIT4 => WAIT4,
        WAITID => WAITID,
        PRLIMIT64 => PRLIMIT64,
        // rusage, tms and sysinfo are written in i386's layout for an i386 call (misc/).
        GETRUSAGE => GETRUSAGE,
        TIMES => TIMES,
        SYSINFO => SYSINFO,
        PRCTL => PRCTL,
        SCHED_GETAFFINITY => SCHED_GETAFFINITY,
        SCHED_SETAFFINITY => SCHED_SETAFFINITY,
        GETPRIORITY => GETPRIORITY,
        SETPRIORITY => SETPRIORITY,
        GETCPU => GETCPU,
        ALARM => ALARM,
        // Robust futex lists are accepted and not walked (proc.rs), whatever their layout.
        SET_ROBUST_LIST => SET_ROBUST_LIST,
        FUTEX_TIME64 => FUTEX,
        // Signals: sigset_t is 8 bytes on both ABIs.
        RT_SIGPROCMASK => RT_SIGPROCMASK,
        RT_SIGPENDING => RT_SIGPENDING,
        RT_SIGSUSPEND => RT_SIGSUSPEND,
        // The siginfo in and out in i386's layout (sig.rs), the timeout a __kernel_timespec.
        RT_SIGQUEUEINFO => RT_SIGQUEUEINFO,
        RT_TGSIGQUEUEINFO => RT_TGSIGQUEUEINFO,
        RT_SIGTIMEDWAIT_TIME64 => RT_SIGTIMEDWAIT,
        // Sockets (the direct calls of Linux 4.3 on): the same structures for these, or the
        // x86-64 code reads i386's where they differ (compat_msghdr, compat_cmsghdr,
        // compat_mmsghdr: net.rs).
        SOCKET => SOCKET,
        SOCKETPAIR => SOCKETPAIR,
        BIND => BIND,
        CONNECT => CONNECT,
        LISTEN => LISTEN,
        ACCEPT4 => ACCEPT4,
        GETSOCKNAME => GETSOCKNAME,
        GETPEERNAME => GETPEERNAME,
        SENDTO => SENDTO,
        RECVFROM => RECVFROM,
        SHUTDOWN => SHUTDOWN,
        GETSOCKOPT => GETSOCKOPT,
        SETSOCKOPT => SETSOCKOPT,
        SENDMSG => SENDMSG,
        RECVMSG => RECVMSG,
        SENDMMSG => SENDMMSG,
        RECVMMSG_TIME64 => RECVMMSG;
    compat:
        NANOSLEEP => super::sleep::sys_nanosleep_time32,
        CLOCK_NANOSLEEP => super::sleep::sys_clock_nanosleep_time32,
        MMAP2 => sys_mmap_pgoff,
        MMAP => files::sys_ia32_mmap,
        _LLSEEK => files::sys_llseek,
        LSEEK => files::sys_lseek,
        PREAD64 => files::sys_ia32_pread64,
        PWRITE64 => files::sys_ia32_pwrite64,
        FTRUNCATE => files::sys_ftruncate,
        TRUNCATE => files::sys_truncate,
        FTRUNCATE64 => files::sys_ia32_ftruncate64,
        TRUNCATE64 => files::sys_ia32_truncate64,
        CLONE => process::sys_ia32_clone,
        CLONE3 => process::sys_clone3,
        EXECVE => process::sys_execve,
        WAITPID => process::sys_waitpid,
        UGETRLIMIT => process::sys_getrlimit,
        SETRLIMIT => process::sys_setrlimit,
        FUTEX => process::sys_futex_time32,
        TIME => time::sys_time32,
        GETTIMEOFDAY => time::sys_gettimeofday,
        CLOCK_GETTIME => time::sys_clock_gettime32,
        CLOCK_GETRES => time::sys_clock_getres_time32,
        GETITIMER => time::sys_getitimer,
        SETITIMER => time::sys_setitimer,
        SIGPROCMASK => sigset_old::sys_sigprocmask,
        SIGPENDING => sigset_old::sys_sigpending,
        SIGSUSPEND => sigset_old::sys_sigsuspend,
        STATFS => statfs::sys_statfs,
        FSTATFS => statfs::sys_fstatfs,
        STATFS64 => statfs::sys_statfs64,
        FSTATFS64 => statfs::sys_fstatfs64,
        RT_SIGACTION => signal::sys_rt_sigaction,
        SIGACTION => signal::sys_sigaction,
        SIGALTSTACK => signal::sys_sigaltstack,
        RT_SIGTIMEDWAIT => signal::sys_rt_sigtimedwait_time32,
        SIGRETURN => signal::sys_sigreturn,
        RT_SIGRETURN => signal::sys_rt_sigreturn,
        // select's bitmaps in 32-bit words, the 32-bit times, pselect6's compat argpack.
        SELECT => super::poll::sys_ia32_old_select,
        _NEWSELECT => super::poll::sys_ia32_newselect,
        PSELECT6 => super::poll::sys_ia32_pselect6_time32,
        PSELECT6_TIME64 => super::poll::sys_ia32_pselect6_time64,
        PPOLL => super::poll::sys_ia32_ppoll_time32,
        // A 32-bit tracer's views (user_regs_struct32, struct user32, 32-bit words).
        PTRACE => crate::ptrace::sys_ia32_ptrace,
        SOCKETCALL => net::sys_socketcall,
        // The 16-bit ids: old_uid_t in and out (Linux's kernel/uid16.c).
        GETUID => uid16::sys_getuid16,
        GETEUID => uid16::sys_geteuid16,
        GETGID => uid16::sys_getgid16,
        GETEGID => uid16::sys_getegid16,
        SETUID => uid16::sys_setuid16,
        SETGID => uid16::sys_setgid16,
        SETREUID => uid16::sys_setreuid16,
        SETREGID => uid16::sys_setregid16,
        SETRESUID => uid16::sys_setresuid16,
        SETRESGID => uid16::sys_setresgid16,
        GETRESUID => uid16::sys_getresuid16,
        GETRESGID => uid16::sys_getresgid16,
        SETFSUID => uid16::sys_setfsuid16,
        SETFSGID => uid16::sys_setfsgid16,
        GETGROUPS => uid16::sys_getgroups16,
        SETGROUPS => uid16::sys_setgroups16,
        CHOWN => uid16::sys_chown16,
        LCHOWN => uid16::sys_lchown16,
        FCHOWN => uid16::sys_fchown16,
        RECVMMSG => net::sys_recvmmsg_time32,
};

/// Runs x86-64 handler `NR` on the i386 arguments: EBX, ECX, EDX, ESI, EDI, EBP, each
/// zero-extended, in the slots the handler reads (RDI, RSI, RDX, R10, R8, R9), which get the
/// caller's values back afterwards (`int $0x80` preserves every register but RAX). Only for
/// handlers that change nothing else in the frame (no sigreturn, no exec): the frame a
/// tracer or a signal frame sees later is the caller's.
fn args_ia32<const NR: usize>(regs: &mut Regs) -> i64 {
    let args = ia32_args(regs);
    #[cfg(feature = "test-hooks")]
    if BREAK_ARGS.load(core::sync::atomic::Ordering::Relaxed) {
        // The negative run: the converted arguments stay in the caller's registers.
        [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = args;
        let handler: Handler = const { BUILT[NR] };
        return handler(regs);
    }
    call_native::<NR>(regs, args)
}

/// i386 mmap2 (Linux's sys_mmap_pgoff): mmap with the offset in pages (EBP) rather than
/// bytes, so a 32-bit program can map past 4 GiB of a file. Where it goes is the address
/// space's business: an i386 task's mappings stay below 4 GiB (`Limits::IA32`).
fn sys_mmap_pgoff(regs: &mut Regs) -> i64 {
    let pgoff = regs.rbp as u32 as u64;
    let kept = regs.rbp;
    // The byte offset the x86-64 mmap reads from R9 (args_ia32 moves EBP there).
    regs.rbp = pgoff << 12;
    let ret = args_ia32_wide::<{ nr::MMAP }>(regs);
    regs.rbp = kept;
    ret
}

/// [`args_ia32`] but the sixth argument (EBP) is taken whole: mmap2's byte offset, which
/// `sys_mmap_pgoff` computed and which may exceed 32 bits.
fn args_ia32_wide<const NR: usize>(regs: &mut Regs) -> i64 {
    let mut args = ia32_args(regs);
    args[5] = regs.rbp;
    call_native::<NR>(regs, args)
}

/// Runs x86-64 handler `NR` with the arguments `args` (a compat handler's converted ones) in
/// RDI, RSI, RDX, R10, R8, R9, and gives the caller's registers back afterwards.
pub(super) fn call_native<const NR: usize>(regs: &mut Regs, args: [u64; 6]) -> i64 {
    const { assert!(NR < BUILT.len()) };
    let kept = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
    [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = args;
    let handler: Handler = const { BUILT[NR] };
    let ret = handler(regs);
    [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = kept;
    ret
}

/// The six i386 arguments, EBX, ECX, EDX, ESI, EDI, EBP, zero-extended (Linux's
/// `(unsigned int)regs->bx` ...). Only for a frame no handler has touched yet.
pub(super) fn ia32_args(regs: &Regs) -> [u64; 6] {
    [regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp].map(|v| v as u32 as u64)
}

/// A 64-bit value an i386 call passes in two registers, low word first.
pub(super) fn lo_hi(lo: u64, hi: u64) -> u64 {
    (lo as u32 as u64) | ((hi as u32 as u64) << 32)
}

/// Test kernels (`kentry.break=int80_args`): the i386 wrapper leaves the arguments it moved
/// in RDI, RSI, RDX, R10, R8, R9, so the caller's registers come back changed.
#[cfg(feature = "test-hooks")]
pub static BREAK_ARGS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Test kernels (`kentry.break=socketcall_nargs`): socketcall reads six words of every
/// call's argument block instead of the call's count (Linux's `nas[]`), so a short block
/// at the end of readable memory is EFAULT.
#[cfg(feature = "test-hooks")]
pub static BREAK_SOCKETCALL_NARGS: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Test kernels (`kentry.break=arg6_fault`): a compat SYSCALL whose sixth-argument read
/// faults runs anyway, with 0 for that argument, instead of failing with -EFAULT (E30).
#[cfg(feature = "test-hooks")]
pub static BREAK_ARG6: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Test kernels (`kentry.break=ts_compat`): nothing knows a call is an i386 one — seccomp
/// judges it as x86-64, a tracer is told AUDIT_ARCH_X86_64, a restart uses x86-64's
/// `restart_syscall` number.
#[cfg(feature = "test-hooks")]
pub static BREAK_TS_COMPAT: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Whether the running task is inside an i386 system call (Linux's `in_ia32_syscall`:
/// kentry's `TS_COMPAT`, set from the `int $0x80` entry to the return to user mode).
#[inline(always)]
pub fn in_ia32_syscall() -> bool {
    #[cfg(feature = "test-hooks")]
    if BREAK_TS_COMPAT.load(core::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    kentry::syscall_32::in_ia32_syscall()
}

/// Whether off-CPU task `t` (a stopped tracee) is inside an i386 system call: its saved work
/// word's `TS_COMPAT`.
pub fn task_in_ia32_syscall(t: &crate::task::Task) -> bool {
    #[cfg(feature = "test-hooks")]
    if BREAK_TS_COMPAT.load(core::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    t.entry.pending_work() & kentry::syscall_32::TS_COMPAT != 0
}

/// An i386 number kentry does not serve: -ENOSYS (logged once per number).
fn ia32_ni(regs: &mut Regs) -> i64 {
    use core::sync::atomic::{AtomicU64, Ordering};
    static REPORTED: [AtomicU64; NR_SYSCALLS_32.div_ceil(64)] =
        [const { AtomicU64::new(0) }; NR_SYSCALLS_32.div_ceil(64)];
    let nr = regs.orig_rax as u32 as usize;
    let bit = 1u64 << (nr % 64);
    if REPORTED[nr / 64].fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        crate::klog!(
            "i386 syscall {nr} ({}) not implemented: -ENOSYS",
            kentry_abi::name32(nr)
        );
    }
    -ENOSYS
}

/// An invalid i386 number: -ENOSYS, but -1 keeps `rax` (Linux's `do_syscall_32_irqs_on`).
fn ia32_invalid(regs: &mut Regs) -> i64 {
    if regs.orig_rax as u32 == u32::MAX {
        regs.rax as i64
    } else {
        -ENOSYS
    }
}

/// kentry's `Host::syscall_ia32`: dispatch of an `int $0x80` call, interrupts on.
#[inline(always)]
pub fn dispatch_ia32(regs: &mut Regs) {
    #[cfg(feature = "test-hooks")]
    crate::percpu::EntryCounters::bump(&crate::percpu::this_cpu().counters.syscalls);
    let slot = kentry::syscall_entry::syscall_table_slot(regs.orig_rax, NR_SYSCALLS_32);
    // SAFETY: the slot is at most NR_SYSCALLS_32 and the table has one more entry.
    let handler = unsafe { IA32_TABLE.get_unchecked(slot) };
    regs.rax = handler(regs) as u64;
    #[cfg(feature = "test-hooks")]
    crate::preempt::check_syscall_exit(regs.orig_rax);
}

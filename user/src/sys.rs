//! Raw Linux x86-64 system calls.
//!
//! `syscall0`..`syscall6` execute one `syscall` instruction: number in RAX (all 64 bits are passed
//! as given), arguments in RDI, RSI, RDX, R10, R8, R9; the result comes back in RAX, and the CPU
//! overwrites RCX (return RIP) and R11 (RFLAGS). Errors are returned as `-errno` in
//! `[-4095, -1]`, never translated.
//!
//! The numbers are [`nr`]'s named constants; the wrappers here cover write, sched_yield, getpid,
//! arch_prctl, gettid and exit_group, and the programs issue the rest with `syscallN` directly.

use core::arch::asm;

/// Linux x86-64 syscall numbers (`nr::GETPID`, …): kentry-abi's, the same constants the
/// kernel registers its handlers by.
pub use kentry_abi::nr;

/// Error numbers (the kernel returns their negation), as `isize` for comparing with syscall
/// results; the values come from the one list in `kentry_abi::errno`.
pub mod errno {
    use kentry_abi::errno as abi;
    /// Operation not permitted.
    pub const EPERM: isize = abi::EPERM as isize;
    /// Interrupted system call.
    pub const EINTR: isize = abi::EINTR as isize;
    /// Bad file descriptor.
    pub const EBADF: isize = abi::EBADF as isize;
    /// Bad address.
    pub const EFAULT: isize = abi::EFAULT as isize;
    /// Invalid argument.
    pub const EINVAL: isize = abi::EINVAL as isize;
    /// Function not implemented.
    pub const ENOSYS: isize = abi::ENOSYS as isize;
}

/// `arch_prctl` codes.
pub mod arch {
    /// Set the GS base.
    pub const SET_GS: usize = 0x1001;
    /// Set the FS base.
    pub const SET_FS: usize = 0x1002;
    /// Store the FS base at `*addr`.
    pub const GET_FS: usize = 0x1003;
    /// Store the GS base at `*addr`.
    pub const GET_GS: usize = 0x1004;
}

/// System call with no argument.
///
/// # Safety
/// The call must not break memory safety (e.g. unmap or overwrite memory Rust uses).
#[inline(always)]
pub unsafe fn syscall0(nr: usize) -> isize {
    let ret: isize;
    // SAFETY: `syscall` only clobbers RAX (result), RCX and R11, all declared; it does not touch
    // the user stack. The caller vouches for the effects of the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, lateout("rcx") _, lateout("r11") _,
             options(nostack));
    }
    ret
}

/// System call with one argument.
///
/// # Safety
/// See [`syscall0`].
#[inline(always)]
pub unsafe fn syscall1(nr: usize, a0: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// System call with two arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline(always)]
pub unsafe fn syscall2(nr: usize, a0: usize, a1: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// System call with three arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline(always)]
pub unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1, in("rdx") a2,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// System call with four arguments (the fourth goes in R10, not RCX).
///
/// # Safety
/// See [`syscall0`].
#[inline(always)]
pub unsafe fn syscall4(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1, in("rdx") a2,
             in("r10") a3, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// System call with five arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline(always)]
pub unsafe fn syscall5(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1, in("rdx") a2,
             in("r10") a3, in("r8") a4, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// System call with six arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline(always)]
pub unsafe fn syscall6(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1, in("rdx") a2,
             in("r10") a3, in("r8") a4, in("r9") a5, lateout("rcx") _, lateout("r11") _,
             options(nostack));
    }
    ret
}

/// `write(fd, buf)`: the number of bytes written, or `-errno`.
pub fn write(fd: i32, buf: &[u8]) -> isize {
    // SAFETY: the kernel only reads `buf.len()` bytes from a live slice.
    unsafe { syscall3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()) }
}

/// Writes all of `buf` to `fd`, retrying after short writes and EINTR. Gives up on any other
/// error or on a write of 0 bytes.
pub fn write_all(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = write(fd, buf);
        if n == -errno::EINTR {
            continue;
        }
        if n <= 0 {
            return;
        }
        buf = &buf[(n as usize).min(buf.len())..];
    }
}

/// Waits until what was written to `fd` has left the machine, if `fd` is a terminal
/// (`tcdrain`: `ioctl(fd, TCSBRK, 1)`); elsewhere (a pipe, kentry's console) the ioctl fails
/// with ENOTTY at once. A Linux console writes asynchronously: a program that is init prints
/// its last line, exits, and Linux's "Attempted to kill init" panic can land in the middle of
/// that line on the serial port unless the line is drained first.
pub fn drain(fd: i32) {
    const TCSBRK: usize = 0x5409;
    // SAFETY: TCSBRK with a nonzero argument only waits; it reads and writes no memory.
    unsafe { syscall3(nr::IOCTL, fd as usize, TCSBRK, 1) };
}

/// `getpid()`.
pub fn getpid() -> isize {
    // SAFETY: getpid has no side effect.
    unsafe { syscall0(nr::GETPID) }
}

/// `gettid()`.
pub fn gettid() -> isize {
    // SAFETY: gettid has no side effect.
    unsafe { syscall0(nr::GETTID) }
}

/// `sched_yield()`: 0 on success.
pub fn sched_yield() -> isize {
    // SAFETY: sched_yield has no effect on this process's memory.
    unsafe { syscall0(nr::SCHED_YIELD) }
}

/// `arch_prctl(ARCH_SET_FS or ARCH_SET_GS, base)`: 0 or `-errno`.
///
/// # Safety
/// Nothing in the program may rely on the old base. (These programs use neither FS nor GS: the
/// target has no thread-local storage and no stack protector.)
pub unsafe fn arch_prctl_set(code: usize, base: usize) -> isize {
    // SAFETY: the kernel only changes a segment base; the caller vouches for its use.
    unsafe { syscall2(nr::ARCH_PRCTL, code, base) }
}

/// `arch_prctl(ARCH_GET_FS or ARCH_GET_GS, &out)`: the base, or `-errno`.
pub fn arch_prctl_get(code: usize) -> Result<usize, isize> {
    let mut out: usize = 0;
    // SAFETY: the kernel writes 8 bytes to `out`, a live local.
    let r = unsafe { syscall2(nr::ARCH_PRCTL, code, &raw mut out as usize) };
    if r == 0 { Ok(out) } else { Err(r) }
}

/// `exit_group(status)`: ends the process.
pub fn exit_group(status: i32) -> ! {
    // SAFETY: exit_group does not return; should a broken kernel return anyway, `ud2` ends the
    // process by SIGILL instead of running past the end of the block.
    unsafe {
        asm!("syscall", "ud2", in("rax") nr::EXIT_GROUP, in("rdi") status as isize as usize,
             options(noreturn, nostack));
    }
}

/// `exit(status)`: ends the calling thread (the process, for these single-threaded programs).
pub fn exit(status: i32) -> ! {
    // SAFETY: exit does not return; `ud2` stops a broken kernel's return, as in `exit_group`.
    unsafe {
        asm!("syscall", "ud2", in("rax") nr::EXIT, in("rdi") status as isize as usize,
             options(noreturn, nostack));
    }
}

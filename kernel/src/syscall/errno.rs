//! Linux errno values.

pub const EPERM: i64 = 1;
pub const ENOENT: i64 = 2;
pub const ESRCH: i64 = 3;
pub const EINTR: i64 = 4;
pub const ENXIO: i64 = 6;
pub const E2BIG: i64 = 7;
pub const ENOEXEC: i64 = 8;
pub const EBADF: i64 = 9;
pub const ECHILD: i64 = 10;
pub const EAGAIN: i64 = 11;
pub const ENOMEM: i64 = 12;
pub const EACCES: i64 = 13;
pub const EFAULT: i64 = 14;
pub const EBUSY: i64 = 16;
pub const EEXIST: i64 = 17;
pub const EXDEV: i64 = 18;
pub const ENODEV: i64 = 19;
pub const ENOTDIR: i64 = 20;
pub const EISDIR: i64 = 21;
pub const EINVAL: i64 = 22;
pub const EMFILE: i64 = 24;
pub const ENOTTY: i64 = 25;
pub const EFBIG: i64 = 27;
pub const ENOSPC: i64 = 28;
pub const ESPIPE: i64 = 29;
pub const EPIPE: i64 = 32;
pub const ERANGE: i64 = 34;
pub const ENAMETOOLONG: i64 = 36;
pub const ENOSYS: i64 = 38;
pub const ENOTEMPTY: i64 = 39;
pub const ELOOP: i64 = 40;
pub const EOPNOTSUPP: i64 = 95;
pub const ETIMEDOUT: i64 = 110;

// Kernel-internal "restart" results (linux-abi.md §6.6): never seen by user code. The signal
// code turns them into a restart of the call or into -EINTR on the way out.
pub const ERESTARTSYS: i64 = 512;
pub const ERESTARTNOINTR: i64 = 513;
pub const ERESTARTNOHAND: i64 = 514;
pub const ERESTART_RESTARTBLOCK: i64 = 516;

/// A short description of `-errno` (for the kernel's own messages).
pub fn describe(neg: i64) -> &'static str {
    match -neg {
        ENOENT => "no such file or directory",
        EACCES => "permission denied (not an executable file)",
        ENOEXEC => "exec format error",
        ENOMEM => "out of memory",
        E2BIG => "argument list too long",
        EISDIR => "is a directory",
        ENOTDIR => "not a directory",
        _ => "error",
    }
}

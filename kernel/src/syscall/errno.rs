//! Linux errno values used by the syscalls.

pub const EPERM: i64 = 1;
pub const EBADF: i64 = 9;
pub const EFAULT: i64 = 14;
pub const EINVAL: i64 = 22;
pub const ENOSYS: i64 = 38;

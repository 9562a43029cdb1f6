//! Linux errno values (positive: a syscall returns their negation), and the kernel-internal
//! restart codes that never reach user space. One list for the kernel, its logic crate, the
//! ring-3 programs and the example kernel.

/// Operation not permitted.
pub const EPERM: i64 = 1;
/// No such file or directory.
pub const ENOENT: i64 = 2;
/// No such process.
pub const ESRCH: i64 = 3;
/// Interrupted system call.
pub const EINTR: i64 = 4;
/// Input/output error (ptrace's answer to a bad request or address).
pub const EIO: i64 = 5;
/// No such device or address.
pub const ENXIO: i64 = 6;
/// Argument list too long.
pub const E2BIG: i64 = 7;
/// Exec format error.
pub const ENOEXEC: i64 = 8;
/// Bad file descriptor.
pub const EBADF: i64 = 9;
/// No child processes.
pub const ECHILD: i64 = 10;
/// Try again.
pub const EAGAIN: i64 = 11;
/// Out of memory.
pub const ENOMEM: i64 = 12;
/// Permission denied.
pub const EACCES: i64 = 13;
/// Bad address.
pub const EFAULT: i64 = 14;
/// Device or resource busy.
pub const EBUSY: i64 = 16;
/// File exists.
pub const EEXIST: i64 = 17;
/// Cross-device link.
pub const EXDEV: i64 = 18;
/// No such device.
pub const ENODEV: i64 = 19;
/// Not a directory.
pub const ENOTDIR: i64 = 20;
/// Is a directory.
pub const EISDIR: i64 = 21;
/// Invalid argument.
pub const EINVAL: i64 = 22;
/// Too many open files.
pub const EMFILE: i64 = 24;
/// Not a typewriter.
pub const ENOTTY: i64 = 25;
/// File too large.
pub const EFBIG: i64 = 27;
/// No space left on device.
pub const ENOSPC: i64 = 28;
/// Illegal seek.
pub const ESPIPE: i64 = 29;
/// Broken pipe.
pub const EPIPE: i64 = 32;
/// Math argument out of domain of function (a socket timeout's microseconds).
pub const EDOM: i64 = 33;
/// Result out of range.
pub const ERANGE: i64 = 34;
/// File name too long.
pub const ENAMETOOLONG: i64 = 36;
/// Function not implemented.
pub const ENOSYS: i64 = 38;
/// Directory not empty.
pub const ENOTEMPTY: i64 = 39;
/// Too many symbolic links.
pub const ELOOP: i64 = 40;
/// Value too large for defined data type (an i386 lseek past 2 GiB).
pub const EOVERFLOW: i64 = 75;
/// Socket operation on a descriptor that is not a socket.
pub const ENOTSOCK: i64 = 88;
/// Destination address required (a UDP send with no address on an unconnected socket).
pub const EDESTADDRREQ: i64 = 89;
/// Message too long.
pub const EMSGSIZE: i64 = 90;
/// Protocol wrong type for socket (connecting to a socket of another type).
pub const EPROTOTYPE: i64 = 91;
/// Protocol not available (an unknown socket option).
pub const ENOPROTOOPT: i64 = 92;
/// Protocol not supported.
pub const EPROTONOSUPPORT: i64 = 93;
/// Socket type not supported.
pub const ESOCKTNOSUPPORT: i64 = 94;
/// Operation not supported.
pub const EOPNOTSUPP: i64 = 95;
/// Address family not supported by protocol.
pub const EAFNOSUPPORT: i64 = 97;
/// Address already in use.
pub const EADDRINUSE: i64 = 98;
/// Cannot assign requested address (a bind outside the loopback).
pub const EADDRNOTAVAIL: i64 = 99;
/// Network is unreachable (a destination outside the loopback).
pub const ENETUNREACH: i64 = 101;
/// Connection reset by peer.
pub const ECONNRESET: i64 = 104;
/// No buffer space available.
pub const ENOBUFS: i64 = 105;
/// The socket is already connected.
pub const EISCONN: i64 = 106;
/// The socket is not connected.
pub const ENOTCONN: i64 = 107;
/// Connection timed out.
pub const ETIMEDOUT: i64 = 110;
/// Connection refused.
pub const ECONNREFUSED: i64 = 111;
/// Operation already in progress (a second connect while one runs).
pub const EALREADY: i64 = 114;
/// Operation now in progress (seccomp: a notification not in the state a request needs).
pub const EINPROGRESS: i64 = 115;

/// Restart the call if the handler has SA_RESTART (internal: never seen by user code).
pub const ERESTARTSYS: i64 = 512;
/// Always restart the call (internal).
pub const ERESTARTNOINTR: i64 = 513;
/// Restart only when no handler runs (internal).
pub const ERESTARTNOHAND: i64 = 514;
/// Restart through restart_syscall (internal).
pub const ERESTART_RESTARTBLOCK: i64 = 516;

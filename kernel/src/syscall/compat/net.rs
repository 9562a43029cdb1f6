//! i386 sockets: the `socketcall` multiplexer (102, Linux's `compat_sys_socketcall`), which
//! every i386 libc used before Linux 4.3 gave i386 one number per call (359-373, which the
//! table serves directly).
//!
//! Both ways run the x86-64 handlers. The layouts that differ are read where the x86-64 code
//! copies them, told by `in_ia32_syscall` that the call is an i386 one: `struct
//! compat_msghdr` and `compat_iovec` (net_msg.rs, io.rs), the 12-byte 4-aligned `struct
//! compat_cmsghdr` (net/scm.rs), and `compat_mmsghdr` (net_mmsg.rs). Everything else a
//! socket call takes (addresses, lengths as ints, option values) is the same once the 32-bit
//! words are zero-extended.

use super::call_native;
use crate::syscall::errno::{EFAULT, EINVAL};
use crate::uaccess::copy_from_user;
use kentry::Regs;
use kentry_abi::nr;

/// i386 recvmmsg (337): the timeout an `old_timespec32`.
pub(super) fn sys_recvmmsg_time32(regs: &mut Regs) -> i64 {
    crate::syscall::net_mmsg::recvmmsg_time32(super::ia32_args(regs))
}

/// socketcall's call numbers (Linux's `include/uapi/linux/net.h`).
const SYS_SOCKET: u32 = 1;
const SYS_SENDMMSG: u32 = 20;

/// How many u32 arguments each call reads from the block (Linux's `nas[]`, in words).
const NARGS: [u8; 21] = [
    0, 3, 3, 3, 2, 3, 3, 3, 4, 4, 4, 6, 6, 2, 5, 5, 3, 3, 4, 5, 4,
];

/// socketcall(call, args): reads the call's words from `args` (EINVAL for a call outside
/// 1..=20, EFAULT for an unreadable block) and runs the call, as Linux's
/// `compat_sys_socketcall`. The words are zero-extended: a pointer is `compat_ptr`, an int
/// argument is narrowed by the handler.
pub(super) fn sys_socketcall(regs: &mut Regs) -> i64 {
    let call = regs.rbx as u32;
    let block = regs.rcx as u32 as u64;
    if !(SYS_SOCKET..=SYS_SENDMMSG).contains(&call) {
        return -EINVAL;
    }
    #[allow(unused_mut)]
    let mut n = NARGS[call as usize] as usize;
    #[cfg(feature = "test-hooks")]
    if super::BREAK_SOCKETCALL_NARGS.load(core::sync::atomic::Ordering::Relaxed) {
        n = 6;
    }
    let mut raw = [0u8; 24];
    if copy_from_user(&mut raw[..n * 4], block).is_err() {
        return -EFAULT;
    }
    let mut a = [0u64; 6];
    for (i, w) in raw.chunks_exact(4).enumerate() {
        a[i] = u64::from(u32::from_ne_bytes(w.try_into().unwrap_or_default()));
    }
    match call {
        1 => call_native::<{ nr::SOCKET }>(regs, a),
        2 => call_native::<{ nr::BIND }>(regs, a),
        3 => call_native::<{ nr::CONNECT }>(regs, a),
        4 => call_native::<{ nr::LISTEN }>(regs, a),
        // SYS_ACCEPT: accept4 without flags.
        5 => call_native::<{ nr::ACCEPT4 }>(regs, [a[0], a[1], a[2], 0, 0, 0]),
        6 => call_native::<{ nr::GETSOCKNAME }>(regs, a),
        7 => call_native::<{ nr::GETPEERNAME }>(regs, a),
        8 => call_native::<{ nr::SOCKETPAIR }>(regs, a),
        // SYS_SEND and SYS_RECV: sendto and recvfrom without an address.
        9 => call_native::<{ nr::SENDTO }>(regs, [a[0], a[1], a[2], a[3], 0, 0]),
        10 => call_native::<{ nr::RECVFROM }>(regs, [a[0], a[1], a[2], a[3], 0, 0]),
        11 => call_native::<{ nr::SENDTO }>(regs, a),
        12 => call_native::<{ nr::RECVFROM }>(regs, a),
        13 => call_native::<{ nr::SHUTDOWN }>(regs, a),
        14 => call_native::<{ nr::SETSOCKOPT }>(regs, a),
        15 => call_native::<{ nr::GETSOCKOPT }>(regs, a),
        16 => call_native::<{ nr::SENDMSG }>(regs, a),
        17 => call_native::<{ nr::RECVMSG }>(regs, a),
        18 => call_native::<{ nr::ACCEPT4 }>(regs, a),
        // SYS_RECVMMSG's timeout is an old_timespec32 (Linux's `__sys_recvmmsg` with
        // `timeout32`), as for i386 recvmmsg (337).
        19 => crate::syscall::net_mmsg::recvmmsg_time32(a),
        _ => call_native::<{ nr::SENDMMSG }>(regs, a),
    }
}

//! Installing signal handlers without libc: `rt_sigaction` with a restorer that calls
//! `rt_sigreturn`, as libc does.

use crate::sys;
use crate::sys::nr;

pub const SA_SIGINFO: u64 = 4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;

/// A handler: `(signal, &siginfo, &ucontext)`.
pub type Handler = extern "C" fn(i32, *const u8, *mut u8);

// What a handler returns into: rt_sigreturn, which restores the frame the kernel built.
core::arch::global_asm!(
    ".globl kentry_user_sigreturn_restorer",
    "kentry_user_sigreturn_restorer:",
    "mov eax, {nr}",
    "syscall",
    "ud2",
    nr = const nr::RT_SIGRETURN,
);

unsafe extern "C" {
    fn kentry_user_sigreturn_restorer();
}

/// `rt_sigaction(sig, {handler, SA_SIGINFO | SA_RESTORER | extra_flags, restorer, 0})`;
/// returns the syscall's result.
pub fn install(sig: usize, handler: Handler, extra_flags: u64) -> isize {
    let act: [u64; 4] = [
        handler as *const () as u64,
        SA_SIGINFO | SA_RESTORER | extra_flags,
        kentry_user_sigreturn_restorer as *const () as u64,
        0,
    ];
    // SAFETY: rt_sigaction reads 32 bytes from `act`; the restorer is a valid return path.
    unsafe { sys::syscall4(nr::RT_SIGACTION, sig, act.as_ptr() as usize, 0, 8) }
}

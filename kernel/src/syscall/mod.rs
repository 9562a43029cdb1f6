//! Linux x86-64 system calls: dispatch, and the calls implemented so far, one module per area.
//! Each module adds its handlers to the table with a `const fn register`, by the named numbers
//! of `kentry_abi::nr` (numbers and names: kentry-abi's one list).

pub mod clone;
pub mod compat;
pub(crate) mod cred;
pub mod errno;
mod fs;
mod io;
mod mem;
pub mod misc;
mod net;
pub(crate) mod net_mmsg;
mod net_msg;
mod net_opt;
pub(crate) mod poll;
mod proc;
mod process_vm;
pub mod seccomp;
pub(crate) mod sig;
pub mod sleep;
pub(crate) mod table;
pub(crate) mod timespec;
pub mod user;

pub use misc::{RLIMIT_NOFILE, RLIMIT_SIGPENDING, no_new_privs, rlimit_cur};
pub(crate) use sig::do_sigaltstack as sig_do_sigaltstack;

use kentry::Regs;

/// A handler reads its arguments from the frame (rdi, rsi, rdx, r10, r8, r9) itself: copying
/// all six for every call would cost the fast path a dozen instructions.
pub type Handler = fn(&mut Regs) -> i64;

/// Called by kentry for every syscall, interrupts on.
#[inline(always)]
pub fn dispatch(regs: &mut Regs, _nr: i32) {
    #[cfg(feature = "test-hooks")]
    crate::percpu::EntryCounters::bump(&crate::percpu::this_cpu().counters.syscalls);
    let slot = kentry::syscall_entry::syscall_table_slot(regs.orig_rax, table::NR_SYSCALLS);
    // SAFETY: syscall_table_slot returns at most NR_SYSCALLS, and TABLE has NR_SYSCALLS + 1
    // entries; the clamp is a cmov, so no bounds-check branch is left to mispredict either.
    let handler = unsafe { table::TABLE.get_unchecked(slot) };
    regs.rax = handler(regs) as u64;
    // Test kernels: a syscall leaves the preempt count as it found it (a leaked lock guard or
    // `preempt::disable` would make the task non-preemptible, or its regions never open).
    #[cfg(feature = "test-hooks")]
    crate::preempt::check_syscall_exit(regs.orig_rax);
}

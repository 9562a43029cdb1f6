//! Linux x86-64 system calls: numbering, dispatch, and the calls implemented so far.

mod errno;
mod table;

use kentry::Regs;

/// Called by kentry for every syscall, interrupts on.
#[inline(always)]
pub fn dispatch(regs: &mut Regs, _nr: i32) {
    #[cfg(feature = "test-hooks")]
    crate::percpu::EntryCounters::bump(&crate::percpu::this_cpu().counters.syscalls);
    let slot = kentry::syscall::syscall_table_slot(regs.orig_rax, table::NR_SYSCALLS);
    // SAFETY: syscall_table_slot returns at most NR_SYSCALLS, and TABLE has NR_SYSCALLS + 1
    // entries; the clamp is a cmov, so no bounds-check branch is left to mispredict either.
    let handler = unsafe { table::TABLE.get_unchecked(slot) };
    regs.rax = handler(regs) as u64;
}

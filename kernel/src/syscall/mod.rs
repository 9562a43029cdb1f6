//! Linux x86-64 system calls: numbering, dispatch, and the calls implemented so far.

mod errno;
mod table;

pub use errno::*;

use kentry::Regs;

/// Called by kentry for every syscall, interrupts on.
#[inline(always)]
pub fn dispatch(regs: &mut Regs, _nr: i32) {
    #[cfg(feature = "test-hooks")]
    crate::percpu::EntryCounters::bump(&crate::percpu::this_cpu().counters.syscalls);
    match kentry::syscall::syscall_table_index(regs.orig_rax, table::TABLE.len()) {
        Some(i) => regs.rax = (table::TABLE[i])(regs) as u64,
        // nr = -1 leaves rax as it was (-ENOSYS preset, or what a tracer put there).
        None if regs.orig_rax as u32 == u32::MAX => {}
        None => regs.rax = (-ENOSYS) as u64,
    }
}

//! User page faults the kernel resolves itself: demand paging, copy-on-write and stack
//! growth, through the faulting process's address space ([`AddressSpace::handle_fault`]).
//!
//! [`AddressSpace::handle_fault`]: crate::mm::aspace::AddressSpace::handle_fault

use kentry::sysret::TASK_SIZE_MAX;

/// Tries to resolve a #PF at user address `addr` with error code `err`, taken in user mode
/// or by a kernel user-copy (uaccess); true when the access can be retried.
///
/// Runs with interrupts off, on the faulting task's kernel stack. It takes the process's
/// address-space lock, which no kernel path holds across a user copy.
pub fn handle_user_fault(addr: u64, err: u64) -> bool {
    if addr >= TASK_SIZE_MAX {
        return false;
    }
    let t = crate::percpu::current_task_ptr();
    if t.is_null() {
        return false;
    }
    // A user copy in an NMI-like handler may have interrupted a holder of the lock: never
    // wait for it there (the copy fails with -EFAULT).
    if crate::percpu::this_cpu()
        .entry
        .context_tracking
        .nmi_nesting()
        != 0
    {
        return false;
    }
    // SAFETY: the per-CPU current task stays alive while it runs (see task::current).
    let task = unsafe { &*t };
    // Another CPU's thread of this process may hold the lock (an mmap, a fault of its own),
    // and may be waiting for this CPU to flush its TLB: answer that while waiting
    // (interrupts may be off here). The lock is never held long, so a wait this long means
    // this very task holds it (a bug: a user copy under the lock): then the copy fails with
    // -EFAULT rather than deadlocking.
    let mm = task.process.mm();
    let mut spins = 0u32;
    let mut guard = loop {
        if let Some(g) = mm.aspace.try_lock() {
            break g;
        }
        spins += 1;
        if spins > 1 << 26 {
            return false;
        }
        crate::smp::ipi::poll_pending_call();
        core::hint::spin_loop();
    };
    match guard.as_mut() {
        Some(a) => a.handle_fault(addr, err),
        None => false,
    }
}

/// The signal and si_code Linux sends for a user #PF at `addr` (error code `err`) that
/// [`handle_user_fault`] could not resolve: Linux decides by the mappings, not by the error
/// code's present bit — SIGSEGV/SEGV_MAPERR where nothing is mapped (kernel addresses
/// included), SIGSEGV/SEGV_ACCERR where a mapping refuses the access (PROT_NONE pages are not
/// present, as on Linux), SIGBUS/BUS_ADRERR for a file mapping past the end of its file.
#[allow(dead_code, reason = "called by trap.rs once wired")]
pub fn fault_signal(addr: u64, err: u64) -> (u8, i32) {
    const SIGSEGV: u8 = 11;
    const SEGV_MAPERR: i32 = 1;
    const SEGV_ACCERR: i32 = 2;
    let by_err = (
        SIGSEGV,
        if err & 1 != 0 {
            SEGV_ACCERR
        } else {
            SEGV_MAPERR
        },
    );
    if addr >= TASK_SIZE_MAX {
        return (SIGSEGV, SEGV_MAPERR);
    }
    let t = crate::percpu::current_task_ptr();
    if t.is_null() {
        return by_err;
    }
    // SAFETY: as in handle_user_fault.
    let task = unsafe { &*t };
    let mm = task.process.mm();
    match mm.aspace.try_lock() {
        Some(g) => g.as_ref().map_or(by_err, |a| a.fault_signal(addr, err)),
        None => by_err,
    }
}

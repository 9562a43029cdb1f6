//! The part of each CPU's per-CPU area that the entry stubs reach through GS.
//!
//! The host kernel puts an [`EntryPerCpu`] at the very start of its per-CPU structure and
//! makes GS.base point at it while in the kernel. The stubs use fixed offsets into it, so the
//! layout is `repr(C)` and checked below.

use crate::context_tracking::ContextTracking;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Fields the stubs write through GS are atomics: plain `u64`s in memory (same layout), but
/// Rust may share the structure while asm changes them.
#[repr(C, align(64))]
pub struct EntryPerCpu {
    /// Address of this structure, so Rust code can find it with one GS-relative load.
    pub self_ptr: AtomicU64,
    /// The user RSP, parked by the SYSCALL stub before it has a stack.
    pub user_rsp_scratch: AtomicU64,
    /// Top of the running task's kernel stack (= TSS.RSP0): where SYSCALL builds its frame.
    pub task_stack_top: AtomicU64,
    /// Work flags of the running task, read by the exit loop with IRQs off.
    pub task_work: AtomicU64,
    pub context_tracking: ContextTracking,
    /// This CPU's number.
    pub cpu: AtomicU32,
    /// Depth of IST entries per IST slot (index = slot - 1); a re-entry of the same slot would
    /// overwrite the live frame, so it is reported instead.
    pub ist_depth: [AtomicU32; crate::gdt::ist::COUNT],
}

pub const OFFSET_SELF: usize = offset_of!(EntryPerCpu, self_ptr);
pub const OFFSET_USER_RSP: usize = offset_of!(EntryPerCpu, user_rsp_scratch);
pub const OFFSET_TASK_STACK_TOP: usize = offset_of!(EntryPerCpu, task_stack_top);

const _: () = {
    assert!(OFFSET_SELF == 0);
    assert!(OFFSET_USER_RSP == 8);
    assert!(OFFSET_TASK_STACK_TOP == 16);
};

impl EntryPerCpu {
    pub const fn new(cpu: u32) -> Self {
        EntryPerCpu {
            self_ptr: AtomicU64::new(0),
            user_rsp_scratch: AtomicU64::new(0),
            task_stack_top: AtomicU64::new(0),
            task_work: AtomicU64::new(0),
            context_tracking: ContextTracking::new(),
            cpu: AtomicU32::new(cpu),
            ist_depth: [const { AtomicU32::new(0) }; crate::gdt::ist::COUNT],
        }
    }

    /// Records where this structure lives; GS.base must then be set to the same address.
    pub fn set_self(&self, cpu: u32) {
        self.self_ptr
            .store(self as *const Self as u64, Ordering::Relaxed);
        self.cpu.store(cpu, Ordering::Relaxed);
    }

    /// The kernel stack top SYSCALL switches to (keep equal to TSS.RSP0).
    pub fn set_task_stack_top(&self, top: u64) {
        self.task_stack_top.store(top, Ordering::Relaxed);
    }

    /// Sets the work flags of the running task (from this CPU or, with an IPI, from another).
    pub fn raise_work(&self, bits: u64) {
        self.task_work.fetch_or(bits, Ordering::Release);
    }
}

/// This CPU's entry area, found through GS.
///
/// Only valid in kernel context with the kernel GS base live — which every Rust entry function
/// is, by construction of the stubs (and checked by the T1 tripwire in test kernels).
#[cfg(target_os = "none")]
#[inline(always)]
pub fn this_cpu() -> &'static EntryPerCpu {
    let p: u64;
    // SAFETY: in kernel context GS.base points at an EntryPerCpu whose first word is its own
    // address; the load has no side effects.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, preserves_flags, readonly, pure));
        &*(p as *const EntryPerCpu)
    }
}

//! The part of each CPU's per-CPU area that the entry stubs reach through GS.
//!
//! GS.base points at an [`EntryPerCpu`] whenever the CPU runs kernel code:
//! [`init_cpu`](crate::arch::setup::init_cpu) sets it (and KernelGsBase to 0) from the
//! `&'static EntryPerCpu` it is given. The stubs use fixed offsets into it, so the layout is
//! `repr(C)` and checked below. A host that wants its own per-CPU fields one GS-relative load
//! away puts the `EntryPerCpu` first in a `repr(C)` structure of its own (offset 0, asserted
//! with `offset_of!`) and casts [`this_cpu`]'s result back to that structure.

use crate::context_tracking::ContextTracking;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Fields the stubs write through GS are atomics: plain `u64`s in memory (same layout), but
/// Rust may share the structure while asm changes them. Only kentry writes them (the fields are
/// crate-private): a host reads them through the accessors and changes them only through
/// [`raise_work`](Self::raise_work), [`clear_work`](Self::clear_work) and the task switch, so
/// the stack top, TSS.RSP0 and the work word cannot drift apart.
#[repr(C, align(64))]
pub struct EntryPerCpu {
    /// Address of this structure, so Rust code can find it with one GS-relative load.
    pub(crate) self_ptr: AtomicU64,
    /// The user RSP, parked by the SYSCALL stub before it has a stack.
    pub(crate) user_rsp_scratch: AtomicU64,
    /// Top of the running task's kernel stack (= TSS.RSP0): where SYSCALL builds its frame.
    pub(crate) task_stack_top: AtomicU64,
    /// Work flags of the running task, read by the exit loop with IRQs off.
    pub(crate) task_work: AtomicU64,
    /// This CPU's context-tracking word (user/kernel state, NMI nesting, RCU counter).
    pub context_tracking: ContextTracking,
    /// This CPU's number.
    pub(crate) cpu: AtomicU32,
    /// Depth of IST entries per IST slot (index = slot - 1); a re-entry of the same slot would
    /// overwrite the live frame, so it is reported instead. (A nested kernel-mode NMI never
    /// gets this far: the NMI stub latches it, arch/nmi.rs.)
    pub(crate) ist_depth: [AtomicU32; crate::gdt::ist::COUNT],
    /// Address of this CPU's TSS.RSP0 (set by `init_cpu`), which the task switch keeps equal
    /// to `task_stack_top`. 0 until then.
    pub(crate) tss_rsp0: AtomicU64,
    /// Address of this CPU's NMI state word, at the top of its NMI stack (set by `init_cpu`;
    /// arch/nmi.rs). 0 until then.
    pub(crate) nmi_state_word: AtomicU64,
    /// Writable address of this CPU's espfix stack block (crate::espfix), where the exit
    /// path copies an IRET frame whose SS names the LDT. 0: this CPU has none.
    pub(crate) espfix_waddr: AtomicU64,
    /// The read-only alias of the same block with address bits 31:16 zero, into which the
    /// exit path ORs the user's RSP bits 31:16.
    pub(crate) espfix_stack: AtomicU64,
}

/// Offset of the self pointer (GS:0; [`EntryPerCpu::self_ptr`]).
pub const OFFSET_SELF: usize = offset_of!(EntryPerCpu, self_ptr);
/// Offset of the slot where the SYSCALL stub parks the user RSP.
pub const OFFSET_USER_RSP: usize = offset_of!(EntryPerCpu, user_rsp_scratch);
/// Offset of the running task's kernel stack top ([`EntryPerCpu::task_stack_top`]).
pub const OFFSET_TASK_STACK_TOP: usize = offset_of!(EntryPerCpu, task_stack_top);
/// Offset of the running task's work word ([`EntryPerCpu::task_work`]).
pub const OFFSET_TASK_WORK: usize = offset_of!(EntryPerCpu, task_work);
/// The context-tracking word (first field of ContextTracking).
pub const OFFSET_CT_WORD: usize = offset_of!(EntryPerCpu, context_tracking);
/// Offset of the espfix stack's writable address (set by `espfix::init_cpu`).
pub const OFFSET_ESPFIX_WADDR: usize = offset_of!(EntryPerCpu, espfix_waddr);
/// Offset of the espfix stack's read-only alias with bits 31:16 zero.
pub const OFFSET_ESPFIX_STACK: usize = offset_of!(EntryPerCpu, espfix_stack);

const _: () = {
    assert!(OFFSET_SELF == 0);
    assert!(OFFSET_USER_RSP == 8);
    assert!(OFFSET_TASK_STACK_TOP == 16);
};

impl EntryPerCpu {
    /// An area for CPU `cpu`, not yet installed: context tracking says "kernel", no task.
    pub const fn new(cpu: u32) -> Self {
        EntryPerCpu {
            self_ptr: AtomicU64::new(0),
            user_rsp_scratch: AtomicU64::new(0),
            task_stack_top: AtomicU64::new(0),
            task_work: AtomicU64::new(0),
            context_tracking: ContextTracking::new(),
            cpu: AtomicU32::new(cpu),
            ist_depth: [const { AtomicU32::new(0) }; crate::gdt::ist::COUNT],
            tss_rsp0: AtomicU64::new(0),
            nmi_state_word: AtomicU64::new(0),
            espfix_waddr: AtomicU64::new(0),
            espfix_stack: AtomicU64::new(0),
        }
    }

    /// Records where this structure lives; GS.base must then be set to the same address
    /// (`init_cpu` does both).
    #[cfg_attr(not(target_os = "none"), allow(dead_code))] // its caller is arch-only
    pub(crate) fn set_self(&self, cpu: u32) {
        self.self_ptr
            .store(self as *const Self as u64, Ordering::Relaxed);
        self.cpu.store(cpu, Ordering::Relaxed);
    }

    /// The kernel stack top SYSCALL switches to, and TSS.RSP0 with it: the two change only
    /// together, here (called by the task switch).
    #[cfg_attr(not(target_os = "none"), allow(dead_code))] // host tests reach it by hand_over
    pub(crate) fn set_rsp0(&self, top: u64) {
        self.task_stack_top.store(top, Ordering::Relaxed);
        let rsp0 = self.tss_rsp0.load(Ordering::Relaxed);
        if rsp0 != 0 {
            // SAFETY: `tss_rsp0` is this CPU's TSS.RSP0 slot, recorded by `init_cpu` from a
            // 'static TSS (or, in host tests, a live buffer). The TSS is packed: the slot is
            // only 4-byte aligned.
            unsafe { core::ptr::write_unaligned(rsp0 as *mut u64, top) };
        }
    }

    /// This CPU's NMI state word (idle, executing, latched: arch/nmi.rs), which the stubs keep
    /// at the top of the NMI stack.
    ///
    /// # Panics
    /// Before `init_cpu`.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))] // its caller is arch-only
    #[inline(always)] // entry text (noinstr): no call out before the report below
    pub(crate) fn nmi_state(&self) -> &AtomicU64 {
        let word = self.nmi_state_word.load(Ordering::Relaxed);
        if word == 0 {
            crate::instrumentation_begin!();
            panic!("kentry: NMI before init_cpu");
        }
        // SAFETY: set by init_cpu to a word of this CPU's NMI stack, which stays mapped and
        // belongs to kentry's NMI path for as long as the CPU runs; an aligned u64.
        unsafe { AtomicU64::from_ptr(word as *mut u64) }
    }

    /// Sets the work flags of the running task (from this CPU or, with an IPI, from another).
    pub fn raise_work(&self, bits: u64) {
        self.task_work.fetch_or(bits, Ordering::Release);
    }

    /// Clears work flags of the running task once the host has done that work.
    pub fn clear_work(&self, bits: u64) {
        self.task_work.fetch_and(!bits, Ordering::AcqRel);
    }

    /// The running task's work flags.
    pub fn task_work(&self) -> u64 {
        self.task_work.load(Ordering::Acquire)
    }

    /// This CPU's number, as given to `init_cpu`.
    #[inline]
    pub fn cpu(&self) -> u32 {
        self.cpu.load(Ordering::Relaxed)
    }

    /// The address this area was installed at (what GS.base holds in kernel mode); 0 before
    /// `init_cpu`.
    pub fn self_ptr(&self) -> u64 {
        self.self_ptr.load(Ordering::Relaxed)
    }

    /// The running task's kernel stack top (= TSS.RSP0).
    pub fn task_stack_top(&self) -> u64 {
        self.task_stack_top.load(Ordering::Relaxed)
    }
}

/// This CPU's entry area, found through GS.
///
/// Only valid in kernel context with the kernel GS base live — which every Rust entry function
/// is, by construction of the stubs (and checked by the T1 tripwire in test kernels).
#[cfg(any(target_os = "none", doc))]
#[inline(always)]
pub fn this_cpu() -> &'static EntryPerCpu {
    let p: u64;
    // SAFETY: in kernel context GS.base points at an EntryPerCpu whose first word is its own
    // address; the load has no side effects.
    unsafe {
        core::arch::asm!(
            "mov {p}, gs:[{self_ptr}]",
            p = out(reg) p,
            self_ptr = const OFFSET_SELF,
            options(nostack, preserves_flags, readonly, pure)
        );
        &*(p as *const EntryPerCpu)
    }
}

/// GS-relative per-CPU operations for the syscall fast path: one instruction each, with no
/// load of the per-CPU base first (Linux's `this_cpu_*` operations).
#[cfg(any(target_os = "none", doc))]
pub mod this_cpu_ops {
    use super::{OFFSET_CT_WORD, OFFSET_TASK_WORK};
    use crate::context_tracking::{self, CtWord};

    /// This CPU's context-tracking word, addressed through GS: the entry paths run the same
    /// transition functions as the host tests, over this word.
    #[derive(Clone, Copy)]
    pub struct ThisCpuCtWord;

    impl CtWord for ThisCpuCtWord {
        #[inline(always)]
        fn add_return<const DELTA: u64>(self) -> u64 {
            let new: u64;
            // SAFETY: a locked add on this CPU's context-tracking word, which GS addresses in
            // kernel context; a full barrier, as RCU needs. The add of DELTA to the old value
            // stays inside the asm, so the caller's test is on the new word (one `test`).
            unsafe {
                core::arch::asm!(
                    "lock xadd qword ptr gs:[{off}], {v}",
                    "add {v}, {delta}",
                    off = const OFFSET_CT_WORD,
                    delta = const DELTA,
                    v = inout(reg) DELTA => new,
                    options(nostack),
                );
            }
            new
        }

        #[inline(always)]
        fn add<const DELTA: u64>(self) {
            // SAFETY: as above.
            unsafe {
                core::arch::asm!(
                    "lock add qword ptr gs:[{off}], {d}",
                    off = const OFFSET_CT_WORD,
                    d = const DELTA,
                    options(nostack),
                );
            }
        }
    }

    /// Context tracking user → kernel; `Err(old word)` if the state was not "user, no NMI".
    #[inline(always)]
    pub fn ct_exit_user_checked() -> Result<(), u64> {
        context_tracking::exit_user_checked(ThisCpuCtWord)
    }

    /// Context tracking kernel → user.
    #[inline(always)]
    pub fn ct_enter_user() {
        context_tracking::enter_user(ThisCpuCtWord)
    }

    /// Whether the running task has syscall work ([`crate::syscall_work`]): one `test` of the
    /// per-CPU word against an immediate and one branch (an `asm!` goto, which the caller's
    /// `if` folds into; a Rust test of a loaded word would cost a third instruction).
    #[inline(always)]
    pub fn syscall_work_pending() -> bool {
        // SAFETY: a read of this CPU's work word; the label only returns.
        unsafe {
            core::arch::asm!(
                "test dword ptr gs:[{off}], {mask}",
                "jnz {pending}",
                off = const OFFSET_TASK_WORK,
                mask = const crate::syscall_work::SYSCALL_WORK_MASK,
                pending = label { return true; },
                options(nostack, readonly),
            );
        }
        false
    }

    /// Whether the running task has exit work ([`crate::exit_work::ExitWork`]): one `test` of
    /// the work word's low byte against an immediate and one branch, as
    /// [`syscall_work_pending`] (a load, a test and a branch otherwise).
    #[inline(always)]
    pub fn exit_work_pending() -> bool {
        const MASK: u64 = crate::exit_work::ExitWork::all().bits();
        // The test reads the word's low byte.
        const _: () = assert!(MASK <= 0xff);
        // SAFETY: a read of this CPU's work word; the label only returns.
        unsafe {
            core::arch::asm!(
                "test byte ptr gs:[{off}], {mask}",
                "jnz {pending}",
                off = const OFFSET_TASK_WORK,
                mask = const MASK,
                pending = label { return true; },
                options(nostack, readonly),
            );
        }
        false
    }

    /// Clears [`TS_COMPAT`](crate::syscall_32::TS_COMPAT) in this CPU's work word: one locked
    /// `and` with an immediate (remote CPUs may set work bits in the word meanwhile), inline
    /// and call-free, for the end of the `int $0x80` path.
    #[inline(always)]
    pub fn clear_ts_compat() {
        const KEEP: i32 = !(crate::syscall_32::TS_COMPAT as i32);
        // The immediate sign-extends: every bit above 31 is kept too.
        const _: () = assert!(crate::syscall_32::TS_COMPAT < 1 << 31);
        // SAFETY: an atomic update of this CPU's work word that clears one status bit.
        unsafe {
            core::arch::asm!(
                "lock and qword ptr gs:[{off}], {keep}",
                off = const OFFSET_TASK_WORK,
                keep = const KEEP,
                options(nostack),
            );
        }
    }

    /// Sets [`TS_COMPAT`](crate::syscall_32::TS_COMPAT) in this CPU's work word: one locked
    /// `or` with an immediate, GS-relative (the i386 entries' first step; going through
    /// [`this_cpu`](super::this_cpu) first would load the area's address for nothing).
    #[inline(always)]
    pub fn set_ts_compat() {
        const SET: i32 = crate::syscall_32::TS_COMPAT as i32;
        // The immediate sign-extends: nothing above bit 31 is set.
        const _: () = assert!(crate::syscall_32::TS_COMPAT < 1 << 31);
        // SAFETY: an atomic update of this CPU's work word that sets one status bit.
        unsafe {
            core::arch::asm!(
                "lock or qword ptr gs:[{off}], {set}",
                off = const OFFSET_TASK_WORK,
                set = const SET,
                options(nostack),
            );
        }
    }

    /// The running task's work flags (exit work and syscall work).
    #[inline(always)]
    pub fn task_work() -> u64 {
        let w: u64;
        // SAFETY: a plain load of this CPU's work word.
        unsafe {
            core::arch::asm!(
                "mov {w}, qword ptr gs:[{off}]",
                off = const OFFSET_TASK_WORK,
                w = out(reg) w,
                options(nostack, readonly, preserves_flags),
            );
        }
        w
    }
}

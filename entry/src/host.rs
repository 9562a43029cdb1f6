//! How a kernel plugs into kentry.
//!
//! The kernel implements [`Host`] and expands [`entry_points!`](crate::entry_points) once; the
//! macro defines the three `extern "C"` functions the asm stubs call, each a monomorphised
//! kentry function, so the host's handlers inline into the entry path with no indirect call.

use crate::context_tracking::CtViolation;
use crate::exit_work::ExitWork;
use crate::frame::Regs;
use crate::irqentry::Fault;

/// What a kernel provides to kentry: one handler per kind of entry, monomorphised into the
/// entry paths (no indirect calls). See [`crate::irqentry`] for which path calls which method,
/// on which stack, and entry/README.md for the rest of the contract (CPU setup, task switch,
/// linker fragment).
///
/// Contexts, as the methods below name them:
/// - *task context, IRQs on*: may sleep and schedule; runs on the task's kernel stack.
/// - *IRQs off*: must not sleep or schedule; may take spinlocks that are only ever taken with
///   IRQs off. Work for later is raised as [`ExitWork`] ([`EntryPerCpu::raise_work`]), which
///   runs on the way back to user mode, with IRQs on, in [`Host::exit_work`].
/// - *NMI context*: may have interrupted anything, even code holding a spinlock with IRQs off
///   or an entry stub. No sleeping, no locks that normal context takes, no exit work after
///   it; only per-CPU atomics, and raising work.
///
/// [`EntryPerCpu::raise_work`]: crate::entry_percpu::EntryPerCpu::raise_work
pub trait Host: 'static {
    /// Runs system call `nr` (the low 32 bits of `orig_rax`, signed). The result goes in
    /// `regs.rax`; -1 leaves `rax` as it is (-ENOSYS unless a tracer changed it).
    /// Task context, IRQs on: may sleep, and may change `regs` (kentry then returns by IRET
    /// when SYSRET could not restore the change).
    fn syscall(regs: &mut Regs, nr: i32);

    /// Runs i386 system call `nr` (`int $0x80`: the low 32 bits of `orig_rax`, signed; the
    /// arguments are EBX, ECX, EDX, ESI, EDI, EBP). As [`Host::syscall`] otherwise: the result
    /// goes in `regs.rax`, -1 leaves it; task context, IRQs on.
    /// [`crate::syscall_32::in_ia32_syscall`] is true from the entry until the return to
    /// user mode. The default: no i386 table, every call fails with -ENOSYS.
    fn syscall_ia32(regs: &mut Regs, nr: i32) {
        let _ = nr;
        regs.rax = (-38i64) as u64;
    }

    /// Reads the 32-bit word at user address `addr` (below 4 GiB), task context with IRQs on:
    /// the sixth argument of a compat SYSCALL, which the caller left at `[ESP]`
    /// ([`crate::syscall_32::do_fast_syscall_32`]). `None` when the read faults. The default
    /// (no user-memory access): every read faults, so such a call fails with -EFAULT.
    fn get_user_u32(addr: u64) -> Option<u32> {
        let _ = addr;
        None
    }

    /// Where a compat fast system call (SYSCALL from compat mode, SYSENTER) returns: the calling
    /// process's 32-bit vDSO `int80_landing_pad`, right after `__kernel_vsyscall`'s
    /// `int $0x80`, as Linux's `do_fast_syscall_32` sets it. There the vDSO gives back the
    /// ECX, EDX and EBP it saved, and a restart (two bytes back) re-runs the call through
    /// `int $0x80`. Task context, IRQs on. `None` (the default): the process has no 32-bit
    /// vDSO, and a SYSCALL returns after its instruction, a SYSENTER (which saves no return
    /// address) to address 0, where the process faults. A u32: the SYSRETL test relies on
    /// the return point being below 4 GiB (SYSRETL's EIP is ECX); a host whose pad lies
    /// above (a vDSO a 32-bit program could not call) answers `None`.
    fn vdso32_landing_pad() -> Option<u32> {
        None
    }

    /// A non-IST exception (vector < 32 other than #DB, NMI, #DF, #MC) with its error code (0
    /// where the CPU pushes none) and, for #PF, CR2. IRQs off (the kernel may enable them
    /// where it knows it is safe, e.g. a user page fault). `regs` is a user frame when the
    /// exception came from user mode (including a fault on the return to user, which kentry
    /// rebuilds as the user's fault): then it is the task's own, and a signal it raises is
    /// delivered by the exit work on the way out.
    fn exception(regs: &mut Regs, fault: Fault);

    /// #DB or #MC taken in user mode. These use IST stacks, but from user mode kentry moves
    /// the frame to the task stack and runs the ordinary entry and exit around this call, so
    /// it is the task's own exception, exactly as in [`Host::exception`] (IRQs off, not NMI
    /// context); a signal it raises is delivered on the way out. The same vectors from
    /// kernel mode go to [`Host::nmi_like`] instead.
    fn ist_exception_from_user(regs: &mut Regs, fault: Fault);

    /// An external interrupt or IPI (vector ≥ 32), or `int n` from user mode to a DPL-3
    /// gate. IRQs off: must not sleep; the host sends its own EOI.
    fn interrupt(regs: &mut Regs, vector: u8);

    /// NMI context: an NMI (from user or kernel mode), or #DB, #MC from kernel mode, or #DF.
    /// Kernel-mode ones run on their IST stack with the kernel GS base installed, whatever
    /// GS base was live; a user-mode NMI runs on the task stack. No sleeping, no exit work,
    /// no locks shared with normal context. #DF must not return.
    fn nmi_like(regs: &mut Regs, vector: u8, error_code: u64);

    /// Does exit work before a return to user mode: `work` is the set of flags that were
    /// pending (still set in the per-CPU word: the host clears what it handles). Task
    /// context, IRQs on: may schedule, deliver signals (changing `regs`), or never return
    /// (the task exits). kentry calls it again while work is pending, then returns with
    /// IRQs off.
    fn exit_work(regs: &mut Regs, work: ExitWork);

    /// Context tracking did not fit the frame at an entry: report loudly and stop.
    fn context_violation(regs: &Regs, vector: Option<u8>, violation: CtViolation) -> !;

    /// An IST vector re-entered its own stack (the live frame would be overwritten).
    fn ist_recursion(regs: &Regs, vector: u8) -> !;

    /// Context tracking's user → kernel hook (Linux's `user_exit_irqoff`): called at every
    /// entry from user mode, right after the state moved to "kernel", with IRQs off, only
    /// while the host has turned [`USER_HOOKS`](crate::context_tracking::USER_HOOKS) on (with
    /// context tracking; off, the hook costs nothing, not even a NOP). A `nohz_full` kernel
    /// charges the user time that just ended here.
    #[inline(always)]
    fn user_exit() {}

    /// Context tracking's kernel → user hook (Linux's `user_enter_irqoff` with
    /// `tick_nohz_user_enter_prepare`): called at every return to user mode after the exit
    /// work loop, just before the state moves to "user", with IRQs off until SYSRET/IRET,
    /// only while [`USER_HOOKS`](crate::context_tracking::USER_HOOKS) is on. A `nohz_full`
    /// kernel decides here whether this
    /// CPU's periodic tick may stop. Work it finds must go out by an IPI to this CPU (taken
    /// at the first user instruction), since the exit work loop has already run.
    #[inline(always)]
    fn user_enter() {}

    /// A new task's first instructions, before its first exit to user mode (Linux's
    /// `schedule_tail`): the host finishes the switch that started it (e.g. marks the task it
    /// switched away from as off this CPU). IRQs off, on the new task's stack.
    fn schedule_tail() {}

    /// Kernel preemption at an interrupt's return (Linux's `irqentry_exit_cond_resched`), part
    /// one: may the interrupted kernel code be preempted? kentry asks only at the return of an
    /// interrupt or non-IST exception to kernel mode — never
    /// after an NMI-like entry, never for the idle EQS, never for a return to user mode (that
    /// one preempts through [`ExitWork::NEED_RESCHED`] in [`Host::exit_work`]); on a yes it
    /// checks, out of line, that the frame had interrupts on and the per-CPU NEED_RESCHED
    /// bit is set. IRQs off. Keep it to a load and a compare: it runs on every kernel-mode
    /// interrupt return. A host with a preempt count answers "count is 0". The default,
    /// `false`, compiles the whole check out: such a host's kernel code is never preempted,
    /// as before this hook existed.
    #[inline(always)]
    fn irq_exit_preemptible(regs: &Regs) -> bool {
        let _ = regs;
        false
    }

    /// Kernel preemption at an interrupt's return, part two (Linux's `preempt_schedule_irq`):
    /// called when [`Host::irq_exit_preemptible`] said yes and NEED_RESCHED is set in this
    /// CPU's work word. IRQs off, on the interrupted task's kernel stack, whose frame `regs`
    /// stays there while other tasks run; context tracking says "kernel". The host raises its
    /// count, clears NEED_RESCHED and schedules, again while another reschedule is pending,
    /// and returns with IRQs off (kentry then returns to the interrupted code, maybe on
    /// another CPU: nothing of this entry's per-CPU state is read after the call). kentry
    /// calls it from a `#[cold]` out-of-line function, so the interrupt paths do not grow.
    fn preempt_schedule_irq(regs: &mut Regs) {
        let _ = regs;
    }

    /// Syscall entry work (a task with [`SyscallWork::SYSCALL_TRACE`] or `SYSCALL_EMU`): the
    /// tracer's syscall-entry stop (Linux's `ptrace_report_syscall_entry`). The tracer may
    /// change any register, `orig_rax` (the number) included. Returns true to skip the
    /// syscall (`rax` is then its result: -ENOSYS unless the tracer set one). The host clears
    /// the flags on the running task ([`EntryPerCpu::clear_work`]) if it finds no tracer. Task
    /// context, IRQs on. The default: no tracing.
    ///
    /// [`SyscallWork::SYSCALL_TRACE`]: crate::syscall_work::SyscallWork::SYSCALL_TRACE
    /// [`EntryPerCpu::clear_work`]: crate::entry_percpu::EntryPerCpu::clear_work
    fn ptrace_report_syscall_entry(regs: &mut Regs) -> bool {
        let _ = regs;
        false
    }

    /// Syscall entry work (a task with [`SyscallWork::SECCOMP`]), after the tracer's stop:
    /// whether syscall `orig_rax` with these arguments may run (Linux's `secure_computing`).
    /// On false the syscall is skipped: the host has set `rax` (an errno) or ended the
    /// thread or process, or raised a signal. Task context, IRQs on. The default: allowed.
    ///
    /// [`SyscallWork::SECCOMP`]: crate::syscall_work::SyscallWork::SECCOMP
    fn secure_computing(regs: &mut Regs) -> bool {
        let _ = regs;
        true
    }

    /// Syscall exit work, first in the exit-work loop: the tracer's syscall-exit stop, or with
    /// `step` the single-step trap of a syscall stepped over (Linux's
    /// `ptrace_report_syscall_exit`). Task context, IRQs on. The default: nothing.
    fn ptrace_report_syscall_exit(regs: &mut Regs, step: bool) {
        let _ = (regs, step);
    }

    /// Tripwire T1 (test kernels): whether `addr` is the start of some CPU's per-CPU area.
    /// Runs before context tracking says "kernel": it must inline into the entry text and
    /// call nothing (entry/README.md "Entry text rules").
    #[inline(always)]
    fn is_percpu_base(addr: u64) -> bool {
        let _ = addr;
        true
    }

    /// Tripwire T2 (test kernels): whether `rsp` lies on a kernel stack of this CPU (the
    /// running task's, or one of its IST stacks). Same rules as `is_percpu_base`.
    #[inline(always)]
    fn on_kernel_stack(rsp: u64) -> bool {
        let _ = rsp;
        true
    }

    /// Test kernels only (kentry's `test-hooks` feature; never called otherwise): called by
    /// the #PF path right after context tracking says "kernel", the first point where a host
    /// may fault. A host's test can make a page fault of its own here, to show that the
    /// fault's CR2 was read before it (E20).
    fn test_pf_entry_probe() {}
}

/// Defines the `extern "C"` entry points the asm stubs call, for host type `$host`.
#[macro_export]
macro_rules! entry_points {
    ($host:ty) => {
        /// SYSCALL: called by the LSTAR stub with the frame; returns true for SYSRET.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.kentry.noinstr")]
        extern "C" fn kentry_rust_syscall(regs: &mut $crate::Regs) -> bool {
            $crate::syscall_entry::do_syscall_64::<$host>(regs)
        }

        /// `int $0x80`: called by its stub with the frame; returns by IRET.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.kentry.noinstr")]
        extern "C" fn kentry_rust_int80(regs: &mut $crate::Regs) {
            $crate::syscall_32::do_int80_syscall_32::<$host>(regs)
        }

        /// SYSCALL from compat mode (CSTAR): called by its stub with the frame (the slot
        /// below it is Rust's too); returns true for SYSRETL.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.kentry.noinstr")]
        extern "C" fn kentry_rust_fast_syscall_32(regs: *mut $crate::Regs) -> bool {
            // SAFETY: the stub passes its frame, and reserved the slot just below it (a
            // pointer from assembly, whose provenance is the whole task stack).
            unsafe {
                $crate::syscall_32::do_fast_syscall_32::<$host>(
                    &mut *regs,
                    regs.cast::<u64>().wrapping_sub(1),
                )
            }
        }

        /// SYSENTER from compat mode: called by its stub with the frame (the slot below it
        /// is Rust's too); returns true for SYSRETL.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.kentry.noinstr")]
        extern "C" fn kentry_rust_sysenter_32(regs: *mut $crate::Regs) -> bool {
            // SAFETY: the stub passes its frame, and reserved the slot just below it (a
            // pointer from assembly, whose provenance is the whole task stack).
            unsafe {
                $crate::syscall_32::do_sysenter_32::<$host>(
                    &mut *regs,
                    regs.cast::<u64>().wrapping_sub(1),
                )
            }
        }

        /// Every non-IST IDT vector.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.kentry.noinstr")]
        extern "C" fn kentry_rust_idt(regs: &mut $crate::Regs, vector: u64) {
            $crate::irqentry::do_idt::<$host>(regs, vector)
        }

        /// A new task's first way out to user mode.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.kentry.noinstr")]
        extern "C" fn kentry_rust_ret_from_fork(regs: &mut $crate::Regs) {
            $crate::irqentry::ret_from_fork::<$host>(regs)
        }

        /// The IST vectors (NMI, #DB, #MC, #DF), with the kernel GS base installed.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.kentry.noinstr")]
        extern "C" fn kentry_rust_paranoid(regs: &mut $crate::Regs, vector: u64) {
            $crate::irqentry::do_paranoid::<$host>(regs, vector)
        }
    };
}

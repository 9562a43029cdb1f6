//! How a kernel plugs into kentry.
//!
//! The kernel implements [`Host`] and expands [`entry_points!`](crate::entry_points) once; the
//! macro defines the three `extern "C"` functions the asm stubs call, each a monomorphised
//! kentry function, so the host's handlers inline into the entry path with no indirect call.

use crate::context_tracking::CtViolation;
use crate::exit_work::ExitWork;
use crate::frame::Regs;

pub trait Host: 'static {
    /// Runs system call `nr` (the low 32 bits of `orig_rax`, signed). The result goes in
    /// `regs.rax`; -1 leaves `rax` as it is (-ENOSYS unless a tracer changed it). Interrupts
    /// are on.
    fn syscall(regs: &mut Regs, nr: i32);

    /// A non-IST exception (vector < 32) with its error code (0 where the CPU pushes none).
    /// Interrupts are off. `regs` is a user frame when the exception came from user mode
    /// (including a fault on the return to user, which kentry rebuilds as the user's fault).
    fn exception(regs: &mut Regs, fault: crate::irqentry::Fault);

    /// An external interrupt or IPI (vector ≥ 32). Interrupts are off.
    fn interrupt(regs: &mut Regs, vector: u8);

    /// An IST vector: NMI, #DB, #MC or #DF. Runs on its IST stack with the kernel GS base
    /// installed, in NMI-like context: no sleeping, no exit work, no locks shared with normal
    /// context. #DF must not return.
    fn nmi_like(regs: &mut Regs, vector: u8, error_code: u64);

    /// Does exit work with interrupts on (reschedule, signals, task work). May change `regs`
    /// or never return.
    fn exit_work(regs: &mut Regs, work: ExitWork);

    /// Context tracking did not fit the frame at an entry: report loudly and stop.
    fn context_violation(regs: &Regs, vector: Option<u8>, violation: CtViolation) -> !;

    /// An IST vector re-entered its own stack (the live frame would be overwritten).
    fn ist_recursion(regs: &Regs, vector: u8) -> !;

    /// Tripwire T1 (test kernels): whether `addr` is the start of some CPU's per-CPU area.
    fn is_percpu_base(addr: u64) -> bool {
        let _ = addr;
        true
    }

    /// Tripwire T2 (test kernels): whether `rsp` lies on a kernel stack of this CPU (the
    /// running task's, or one of its IST stacks).
    fn on_kernel_stack(rsp: u64) -> bool {
        let _ = rsp;
        true
    }
}

/// Defines the `extern "C"` entry points the asm stubs call, for host type `$host`.
#[macro_export]
macro_rules! entry_points {
    ($host:ty) => {
        /// SYSCALL: called by the LSTAR stub with the frame; returns true for SYSRET.
        #[unsafe(no_mangle)]
        extern "C" fn kentry_rust_syscall(regs: &mut $crate::Regs) -> bool {
            $crate::syscall::do_syscall_64::<$host>(regs)
        }

        /// Every non-IST IDT vector.
        #[unsafe(no_mangle)]
        extern "C" fn kentry_rust_idt(regs: &mut $crate::Regs, vector: u64) {
            $crate::irqentry::do_idt::<$host>(regs, vector)
        }

        /// A new task's first way out to user mode.
        #[unsafe(no_mangle)]
        extern "C" fn kentry_rust_ret_from_fork(regs: &mut $crate::Regs) {
            $crate::irqentry::ret_from_fork::<$host>(regs)
        }

        /// The IST vectors (NMI, #DB, #MC, #DF), with the kernel GS base installed.
        #[unsafe(no_mangle)]
        extern "C" fn kentry_rust_paranoid(regs: &mut $crate::Regs, vector: u64) {
            $crate::irqentry::do_paranoid::<$host>(regs, vector)
        }
    };
}

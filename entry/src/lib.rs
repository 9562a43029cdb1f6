//! kentry — the x86-64 kernel entry and exit layer.
//!
//! Assembly lives only where the CPU forces it (`arch/`): the SYSCALL stub, one stub per IDT
//! vector and the paranoid (IST) stubs. Every decision is made in Rust:
//! - [`syscall_entry`]: `do_syscall_64`, syscall number decoding and the SYSRET-or-IRET choice;
//! - [`syscall_32`]: `do_int80_syscall_32`, the i386 system calls of `int $0x80`;
//! - [`irqentry`]: `irqentry_enter`/`irqentry_exit` for interrupts and exceptions, and the
//!   NMI-like entries of the IST vectors;
//! - [`exit_work`]: the exit-to-user work loop;
//! - [`syscall_work`]: syscall entry and exit work (tracing, seccomp) when a task's flag asks;
//! - [`context_tracking`]: the per-CPU user/kernel/NMI state and its RCU "watching" counter.
//!
//! - [`task`]: the part of a task kentry owns, the task switch and the fork frame.
//!
//! A kernel plugs in by implementing [`Host`], expanding [`entry_points!`] once, setting each
//! CPU up with `arch::setup::init_cpu`, running its tasks through [`task`], and including
//! kentry's linker fragment (`entry/link/kentry-tables.ld`). entry/README.md is the whole
//! contract, in order.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod context_tracking;
pub mod entry_percpu;
pub mod espfix;
pub mod exit_work;
pub mod frame;
pub mod gdt;
pub mod host;
pub mod idt;
pub mod irqentry;
pub mod msr;
pub mod noinstr;
pub mod static_key;
pub mod syscall_32;
pub mod syscall_entry;
pub mod syscall_work;
pub mod sysret;
pub mod task;
pub mod test_hooks;
pub mod vectors;

#[cfg(any(target_os = "none", doc))]
pub mod arch;

pub use frame::Regs;
pub use host::Host;

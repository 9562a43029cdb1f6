//! The one way back by IRET, for every non-IST entry (and for syscalls that may not SYSRET),
//! and a new task's first way out, `kentry_ret_from_fork`.
//!
//! Windows of `kentry_return_via_iret`:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_return_via_iret` | restore GPRs, test the CS returned to | kernel stack, kernel GS | NMI, #MC | IF=0 since the last exit-work check (or since the interrupt gate, on the way back to kernel) |
//! | `kentry_iret_swapgs` | `swapgs` (to user only) | kernel stack, user GS | NMI, #MC | IST + paranoid GS: they judge GS from MSR_GS_BASE, not from CS |
//! | `kentry_iret_to_user` | `iretq` to user | kernel stack at the hardware frame, user GS | NMI, #MC; #GP/#NP/#SS if the frame's CS/SS is bad (E14) | the IDT common path recognises `kentry_iret_to_user` as a user-GS instruction, swaps GS and hands the fault to Rust, which rebuilds it as the task's own fault |
//! | `kentry_iret_to_kernel` | `iretq` to kernel | kernel stack at the hardware frame, kernel GS | NMI, #MC | the CS/SS are the interrupted kernel context's own; no GS change |
//!
//! There is exactly one `iretq` to user mode, so the fault fixup has one address to know.
//!
//! Windows of `kentry_ret_from_fork`:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_ret_from_fork` | `movq`, `subq`, `call` into Rust, `addq` | the new task's kernel stack at its initial frame, kernel GS | NMI, #MC | IF=0: the context switch runs with interrupts off; the exit-work loop may enable them while it works and returns with them off; an ordinary kernel context |
//! | `kentry_ret_from_fork_jmp` | `jmp` to the IRET path | as above | NMI, #MC | the table above |

use crate::frame::HW_CS;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_return_via_iret",
    ".type kentry_return_via_iret, @function",
    "kentry_return_via_iret:",
    super::restore_gprs_for_iret!(),
    "testb $3, {hw_cs}(%rsp)", // the CS being returned to
    "jz kentry_iret_to_kernel",
    ".globl kentry_iret_swapgs",
    "kentry_iret_swapgs:",
    "swapgs",
    ".globl kentry_iret_to_user",
    "kentry_iret_to_user:",
    "iretq",
    ".globl kentry_iret_to_kernel",
    "kentry_iret_to_kernel:",
    "iretq",
    ".size kentry_return_via_iret, . - kentry_return_via_iret",
    "",
    // A new task's first return to user mode. Its kernel stack was prepared so that the
    // context switch `ret`s here with RSP at the task's initial frame.
    ".balign 16",
    ".globl kentry_ret_from_fork",
    ".type kentry_ret_from_fork, @function",
    "kentry_ret_from_fork:",
    "movq %rsp, %rdi",
    "subq $8, %rsp",
    "call kentry_rust_ret_from_fork",
    "addq $8, %rsp",
    ".globl kentry_ret_from_fork_jmp",
    "kentry_ret_from_fork_jmp:",
    "jmp kentry_return_via_iret",
    ".size kentry_ret_from_fork, . - kentry_ret_from_fork",
    ".popsection",
    hw_cs = const HW_CS,
    options(att_syntax)
);

unsafe extern "C" {
    /// Restores a full frame from RSP and returns by IRET (to user or kernel).
    pub fn kentry_return_via_iret();
    /// Where a new task's kernel stack "returns" to on its first switch-in: runs the exit
    /// path (work loop, context tracking → user) on its initial frame and IRETs to it.
    pub fn kentry_ret_from_fork();
}

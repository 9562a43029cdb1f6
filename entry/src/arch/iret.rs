//! The one way back by IRET, for every non-IST entry (and for syscalls that may not SYSRET).
//!
//! Windows:
//!
//! | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|
//! | restore GPRs | kernel stack, kernel GS | NMI, #MC | IF=0 since the last exit-work check |
//! | `swapgs` (to user only) | kernel stack, user GS | NMI, #MC | IST + paranoid GS |
//! | `iretq` | — | #GP/#NP/#SS if the frame's CS/SS is bad (E14) | the IDT common path recognises `kentry_iret_to_user` as a user-GS instruction, swaps GS and hands the fault to Rust, which rebuilds it as the task's own fault |
//!
//! There is exactly one `iretq` to user mode, so the fault fixup has one address to know.

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_return_via_iret",
    ".type kentry_return_via_iret, @function",
    "kentry_return_via_iret:",
    super::restore_gprs_for_iret!(),
    "testb $3, 8(%rsp)", // the CS being returned to
    "jz 1f",
    "swapgs",
    ".globl kentry_iret_to_user",
    "kentry_iret_to_user:",
    "iretq",
    "1:",
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
    "jmp kentry_return_via_iret",
    ".size kentry_ret_from_fork, . - kentry_ret_from_fork",
    ".popsection",
    options(att_syntax)
);

unsafe extern "C" {
    /// Restores a full frame from RSP and returns by IRET (to user or kernel).
    pub fn kentry_return_via_iret();
    /// Where a new task's kernel stack "returns" to on its first switch-in: runs the exit
    /// path (work loop, context tracking → user) on its initial frame and IRETs to it.
    pub fn kentry_ret_from_fork();
}

//! The one way back by IRET, for every non-IST entry (and for syscalls that may not SYSRET),
//! and a new task's first way out, `kentry_ret_from_fork`.
//!
//! Windows of `kentry_return_via_iret`:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_return_via_iret` | restore GPRs, test the CS returned to, test the SS's TI bit (to user only: one test-and-branch to `kentry_iret_espfix`) | kernel stack, kernel GS | NMI, #MC | IF=0 since the last exit-work check (or since the interrupt gate, on the way back to kernel) |
//! | `kentry_iret_swapgs` | `swapgs` (to user only) | kernel stack, or the espfix stack's read-only alias (from `kentry_iret_espfix`); user GS after it | NMI, #MC | IST + paranoid GS: they judge GS from MSR_GS_BASE, not from CS; they never push on the interrupted stack, and return to kernel mode with the full RSP |
//! | `kentry_iret_to_user` | `iretq` to user | kernel stack at the hardware frame, or the espfix stack at its copy; user GS | NMI, #MC; #GP/#NP/#SS if the frame's CS/SS is bad (E14) | on the kernel stack: the IDT common path recognises `kentry_iret_to_user` as a user-GS instruction, swaps GS and hands the fault to Rust, which rebuilds it as the task's own fault; on the espfix stack the CPU cannot push the fault's frame onto the read-only page: #PF, then #DF on its own IST stack, whose paranoid path (GS from the MSR) re-enters through the #GP stub as a #GP(0) from user mode with the user's frame on the task stack (`espfix::fixup_double_fault`) |
//! | `kentry_iret_to_kernel` | `iretq` to kernel | kernel stack at the hardware frame, kernel GS | NMI, #MC | the CS/SS are the interrupted kernel context's own; no GS change |
//!
//! There is exactly one `iretq` to user mode, so the fault fixups have one address to know.
//!
//! Windows of `kentry_iret_espfix` (E16, crate::espfix: the frame's SS names the LDT, so it
//! may be a 16-bit segment, whose IRET loads only SP and would leave the kernel stack's bits
//! 31:16 in ESP):
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_iret_espfix` | (test kernels: the negative run's branch to the plain path), park the user's RDI below the frame, load this CPU's writable espfix address; none: back to the plain path | kernel stack (the word below the IRET frame), kernel GS, user GPRs | NMI, #MC | IF=0; IST vectors never push on this stack; per-CPU words are GS-relative with the kernel GS |
//! | `kentry_iret_espfix_copy` | copy the user's RAX and the IRET frame to the espfix block (writable alias), build the read-only alias address: this CPU's base with the user's RSP bits 31:16, restore RDI | kernel stack, kernel GS | NMI, #MC | the block is this CPU's alone and only an exit to user mode writes it; a kernel-mode NMI or #MC returns to kernel mode by the paranoid path and never exits to user from inside this one, so nothing else writes the block before its `iretq` |
//! | `kentry_iret_espfix_switch` | `movq` to RSP (the read-only alias), `popq %rax`, `jmp` to the plain path's `swapgs` | espfix stack (read-only, mapped), kernel GS | NMI, #MC | IST vectors: the CPU switches to their stacks and never pushes on this one, and their paranoid path IRETs back with the full 64-bit RSP; the pop only reads |
//! | `kentry_iret_espfix_none` | restore RDI, `jmp` to the plain path | kernel stack, kernel GS | NMI, #MC | this CPU has no espfix stack (the host did not set one up, and so allows no 16-bit segment): a 32-bit LDT SS returns as any other frame |
//!
//! Windows of `kentry_ret_from_fork`:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_ret_from_fork` | `movq`, `subq`, `call` into Rust, `addq` | the new task's kernel stack at its initial frame, kernel GS | NMI, #MC | IF=0: the context switch runs with interrupts off; the exit-work loop may enable them while it works and returns with them off; an ordinary kernel context |
//! | `kentry_ret_from_fork_jmp` | `jmp` to the IRET path | as above | NMI, #MC | the table above |

use crate::entry_percpu::{OFFSET_ESPFIX_STACK, OFFSET_ESPFIX_WADDR};
use crate::espfix;
use crate::frame::{HW_CS, HwFrame};
use core::mem::offset_of;

/// Bits of a selector: the table indicator (set: the LDT).
const SELECTOR_TI: u8 = 4;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_return_via_iret",
    ".type kentry_return_via_iret, @function",
    "kentry_return_via_iret:",
    super::restore_gprs_for_iret!(),
    "testb $3, {hw_cs}(%rsp)", // the CS being returned to
    "jz kentry_iret_to_kernel",
    "testb ${ti}, {hw_ss}(%rsp)", // an LDT SS, maybe 16-bit: the espfix path (E16)
    "jnz kentry_iret_espfix",
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
    // The espfix path (E16): RSP at the IRET frame, every GPR the user's, kernel GS. RDI is
    // parked on the kernel stack, RAX on the espfix block, the frame goes there too, and the
    // `iretq` runs from the block's read-only alias whose bits 31:16 are the user's.
    ".balign 16",
    ".globl kentry_iret_espfix",
    ".type kentry_iret_espfix, @function",
    "kentry_iret_espfix:",
    ".if {hooks}", // test kernels: the negative run IRETs from the kernel stack
    "testb $1, {brk_espfix}(%rip)",
    "jnz kentry_iret_swapgs",
    ".endif",
    "pushq %rdi",
    "movq %gs:{waddr}, %rdi",
    "testq %rdi, %rdi",
    "jz kentry_iret_espfix_none",
    ".globl kentry_iret_espfix_copy",
    "kentry_iret_espfix_copy:",
    "movq %rax, {es_rax}(%rdi)",
    "movq 8+{hw_rip}(%rsp), %rax",
    "movq %rax, {es_rip}(%rdi)",
    "movq 8+{hw_cs}(%rsp), %rax",
    "movq %rax, {es_cs}(%rdi)",
    "movq 8+{hw_rflags}(%rsp), %rax",
    "movq %rax, {es_rflags}(%rdi)",
    "movq 8+{hw_ss}(%rsp), %rax",
    "movq %rax, {es_ss}(%rdi)",
    "movq 8+{hw_rsp}(%rsp), %rax",
    "movq %rax, {es_rsp}(%rdi)",
    "andl $0xffff0000, %eax", // the user's RSP bits 31:16 (the 32-bit op zero-extends)
    "orq %gs:{stack}, %rax",  // into this CPU's read-only alias
    "popq %rdi",
    ".globl kentry_iret_espfix_switch",
    "kentry_iret_espfix_switch:",
    "movq %rax, %rsp",
    "popq %rax",
    "jmp kentry_iret_swapgs",
    ".globl kentry_iret_espfix_none",
    "kentry_iret_espfix_none:",
    "popq %rdi",
    "jmp kentry_iret_swapgs",
    ".size kentry_iret_espfix, . - kentry_iret_espfix",
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
    hw_rip = const offset_of!(HwFrame, rip),
    hw_rflags = const offset_of!(HwFrame, rflags),
    hw_rsp = const offset_of!(HwFrame, rsp),
    hw_ss = const offset_of!(HwFrame, ss),
    ti = const SELECTOR_TI,
    waddr = const OFFSET_ESPFIX_WADDR,
    stack = const OFFSET_ESPFIX_STACK,
    es_rax = const espfix::OFFSET_RAX,
    es_rip = const espfix::OFFSET_RIP,
    es_cs = const espfix::OFFSET_CS,
    es_rflags = const espfix::OFFSET_RFLAGS,
    es_rsp = const espfix::OFFSET_RSP,
    es_ss = const espfix::OFFSET_SS,
    hooks = const crate::test_hooks::IN_STUBS,
    brk_espfix = sym crate::test_hooks::kentry_test_break_espfix,
    options(att_syntax)
);

unsafe extern "C" {
    /// Restores a full frame from RSP and returns by IRET (to user or kernel).
    pub fn kentry_return_via_iret();
    /// Where a new task's kernel stack "returns" to on its first switch-in: runs the exit
    /// path (work loop, context tracking → user) on its initial frame and IRETs to it.
    pub fn kentry_ret_from_fork();
}

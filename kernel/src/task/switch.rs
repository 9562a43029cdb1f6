//! The context switch: callee-saved registers and RSP, nothing else. Everything a task needs
//! at its switch-in (CR3, RSP0, FS/GS bases) is set by `task::switch_to` around this.

core::arch::global_asm!(
    ".pushsection .text.switch, \"ax\"",
    ".globl switch_context",
    "switch_context:",
    "pushq %rbp",
    "pushq %rbx",
    "pushq %r12",
    "pushq %r13",
    "pushq %r14",
    "pushq %r15",
    "movq %rsp, (%rdi)",
    "movq %rsi, %rsp",
    "popq %r15",
    "popq %r14",
    "popq %r13",
    "popq %r12",
    "popq %rbx",
    "popq %rbp",
    "ret",
    ".popsection",
    options(att_syntax)
);

unsafe extern "C" {
    /// Saves the current context's RSP to `*save` and resumes the one saved at `next`.
    pub fn switch_context(save: *mut u64, next: u64);
}

/// Callee-saved slots `switch_context` pops before its `ret`.
pub const SWITCH_FRAME_SLOTS: usize = 6;

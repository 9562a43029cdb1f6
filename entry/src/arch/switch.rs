//! The stack switch under [`crate::task::switch_to`]: callee-saved registers and RSP, nothing
//! else. It is ordinary kernel code (not entry code): it lives outside `.text.kentry`.

core::arch::global_asm!(
    ".pushsection .text.kentry_switch, \"ax\"",
    ".balign 16",
    ".globl kentry_switch_stacks",
    ".type kentry_switch_stacks, @function",
    "kentry_switch_stacks:",
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
    ".size kentry_switch_stacks, . - kentry_switch_stacks",
    ".popsection",
    options(att_syntax)
);

// The constructors in task.rs lay out exactly the six slots popped above.
const _: () = assert!(crate::task::SWITCH_FRAME_SLOTS == 6);

unsafe extern "C" {
    /// Saves the callee-saved registers and RSP to `*save` and resumes the context whose RSP
    /// is `next` (made by `TaskEntry::new_*` or saved here).
    pub(crate) fn kentry_switch_stacks(save: *mut u64, next: u64);
}

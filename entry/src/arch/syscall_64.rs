//! The SYSCALL (LSTAR) stub.
//!
//! Windows — what can interrupt each part, and why that is safe (E10, E11):
//!
//! | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|
//! | `swapgs` | user RSP, user GS | NMI, #MC, #DB (MOV SS, E21) | IF=0 (FMASK) blocks IRQs; the three use IST stacks and decide GS from MSR_GS_BASE, never from CS or RSP |
//! | park user RSP, load task stack | user RSP, kernel GS | NMI, #MC, #DB | the slots are per-CPU, GS-relative, always mapped; nothing reads or writes the user stack |
//! | build frame, `call` | kernel stack | NMI, #MC | a normal kernel context from here on |
//! | restore GPRs | kernel stack | NMI, #MC | — |
//! | load user RSP, `swapgs`, `sysretq` | user RSP, then user GS | NMI, #MC | IF stays 0 until SYSRET sets it with the CPL change; IST vectors as above; no memory is touched after the RSP load |
//!
//! The frame is [`Regs`](crate::Regs) with `rax` = -ENOSYS and `orig_rax` = the number;
//! `rcx`/`r11` in the frame are the return RIP/RFLAGS as the CPU left them. Rust decides the
//! way back: SYSRET reloads RCX and R11 from the frame, which `sysret_allowed` has checked
//! equal RIP and RFLAGS; anything else goes through the common IRET path.

use crate::gdt::{USER_CS, USER_DS};
use crate::percpu::{OFFSET_TASK_STACK_TOP, OFFSET_USER_RSP};

/// -ENOSYS: the preset result, so that `nr = -1` (skipped by a tracer) returns it.
const NEG_ENOSYS: i64 = -38;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_syscall_64",
    ".type kentry_syscall_64, @function",
    "kentry_syscall_64:",
    "swapgs",
    "movq %rsp, %gs:{user_rsp}",
    "movq %gs:{stack_top}, %rsp",
    "pushq ${user_ds}",        // ss
    "pushq %gs:{user_rsp}",    // rsp
    "pushq %r11",              // rflags
    "pushq ${user_cs}",        // cs
    "pushq %rcx",              // rip
    "pushq %rax",              // orig_rax
    "pushq %rdi",
    "pushq %rsi",
    "pushq %rdx",
    "pushq %rcx",
    "pushq ${enosys}",         // rax
    "pushq %r8",
    "pushq %r9",
    "pushq %r10",
    "pushq %r11",
    "pushq %rbx",
    "pushq %rbp",
    "pushq %r12",
    "pushq %r13",
    "pushq %r14",
    "pushq %r15",
    "movq %rsp, %rdi",
    "subq $8, %rsp",           // 16-byte alignment at the call (see frame.rs)
    "call kentry_rust_syscall",
    "addq $8, %rsp",
    "testb %al, %al",
    "jz kentry_return_via_iret",
    "popq %r15",
    "popq %r14",
    "popq %r13",
    "popq %r12",
    "popq %rbp",
    "popq %rbx",
    "popq %r11",               // == rflags (checked)
    "popq %r10",
    "popq %r9",
    "popq %r8",
    "popq %rax",
    "popq %rcx",               // == rip (checked)
    "popq %rdx",
    "popq %rsi",
    "popq %rdi",
    "movq 32(%rsp), %rsp",     // skip orig_rax, rip, cs, rflags: the user RSP
    "swapgs",
    "sysretq",
    ".size kentry_syscall_64, . - kentry_syscall_64",
    "",
    // CSTAR: SYSCALL from 32-bit code, until the compat ABI exists. It never leaves the user
    // stack or GS, so it only fails the call and returns where SYSCALL came from.
    ".balign 16",
    ".globl kentry_syscall32_ignore",
    ".type kentry_syscall32_ignore, @function",
    "kentry_syscall32_ignore:",
    "movl ${enosys}, %eax",
    "sysretl",
    ".size kentry_syscall32_ignore, . - kentry_syscall32_ignore",
    ".popsection",
    user_rsp = const OFFSET_USER_RSP,
    stack_top = const OFFSET_TASK_STACK_TOP,
    user_ds = const USER_DS,
    user_cs = const USER_CS,
    enosys = const NEG_ENOSYS,
    options(att_syntax)
);

unsafe extern "C" {
    /// The LSTAR target.
    pub fn kentry_syscall_64();
    /// The CSTAR target while there is no compat syscall entry: returns -ENOSYS.
    pub fn kentry_syscall32_ignore();
}

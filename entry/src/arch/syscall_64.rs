//! The SYSCALL (LSTAR) stub.
//!
//! Windows — what can interrupt each part, and why that is safe (E10, E11):
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_syscall_64` | `swapgs` | user RSP, user GS | NMI, #MC, #DB (MOV SS, E21) | IF=0 (FMASK) blocks IRQs; the three use IST stacks and decide GS from MSR_GS_BASE, never from CS or RSP |
//! | `kentry_syscall_64_park` | park user RSP, load task stack | user RSP, kernel GS | NMI, #MC | the slots are per-CPU, GS-relative, always mapped; nothing reads or writes the user stack |
//! | `kentry_syscall_64_frame` | build frame, `call` | kernel stack, kernel GS | NMI, #MC; everything once Rust enables IRQs | a normal kernel context from here on |
//! | `kentry_syscall_64_decide` | `testb`, `jz` to the IRET path | kernel stack, kernel GS, IF=0 (the exit path's) | NMI, #MC | iret.rs has the IRET way |
//! | `kentry_syscall_64_restore` | restore GPRs | kernel stack, kernel GS | NMI, #MC | IF=0 |
//! | `kentry_syscall_64_user_rsp` | load user RSP, `swapgs` | user RSP, then user GS | NMI, #MC | IF stays 0 until SYSRET sets it with the CPL change; IST vectors as above; no memory is touched after the RSP load |
//! | `kentry_syscall_64_sysret` | `sysretq` | user RSP, user GS | NMI, #MC; #GP in ring 0 on the user RSP if RCX were non-canonical (Intel, CVE-2012-0217) | `sysret_allowed` checked RCX == RIP < TASK_SIZE_MAX, so RCX is canonical |
//!
//! Test kernels only: when the stack switch left a user-half RSP (tripwire T2), the stub goes
//! to `kentry_syscall_t2_trip` before its first push, which reports it:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_syscall_t2_trip` | park the RSP found, load the task stack, `call` the report | user-half RSP, then the task stack; kernel GS | NMI, #MC | IF=0 (FMASK); nothing was pushed on the RSP found; the report does not return |
//!
//! #DB appears only in the first row: the MOV SS / POP SS case raises it on the first
//! instruction of the handler; the kernel sets no breakpoints in `.text.kentry` (E23), and
//! the stub touches no user memory that a ptrace watchpoint could cover.
//!
//! The frame is [`Regs`](crate::Regs) with `rax` = -ENOSYS and `orig_rax` = the number;
//! `rcx`/`r11` in the frame are the return RIP/RFLAGS as the CPU left them. Rust decides the
//! way back: SYSRET reloads RCX and R11 from the frame, which `sysret_allowed` has checked
//! equal RIP and RFLAGS; anything else goes through the common IRET path.

use crate::entry_percpu::{OFFSET_TASK_STACK_TOP, OFFSET_USER_RSP};
use crate::frame::ORIG_RAX_TO_USER_RSP;
use crate::gdt::{USER_CS, USER_DS};

/// -ENOSYS: the preset result, so that `nr = -1` (skipped by a tracer) returns it.
const NEG_ENOSYS: i64 = -38;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_syscall_64",
    ".type kentry_syscall_64, @function",
    "kentry_syscall_64:",
    "swapgs",
    ".globl kentry_syscall_64_park",
    "kentry_syscall_64_park:",
    "movq %rsp, %gs:{user_rsp}",
    ".if {hooks}", // test kernels: the negative run can skip the stack switch
    "cmpb $0, {brk_stack}(%rip)",
    "jne 2f",
    ".endif",
    "movq %gs:{stack_top}, %rsp",
    "2:",
    ".if {hooks}", // test kernels: tripwire T2 before the first push (see the module comment)
    "btq $63, %rsp",
    "jnc kentry_syscall_t2_trip",
    ".endif",
    ".globl kentry_syscall_64_frame",
    "kentry_syscall_64_frame:",
    "pushq ${user_ds}",        // ss
    "pushq %gs:{user_rsp}",    // rsp
    "pushq %r11",              // rflags
    "pushq ${user_cs}",        // cs
    "pushq %rcx",              // rip
    "pushq %rax",              // orig_rax
    "pushq %rdi",
    super::push_gprs_below_rdi!("${enosys}"), // rax: the preset result
    "movq %rsp, %rdi",
    "subq $8, %rsp",           // 16-byte alignment at the call (see frame.rs)
    "call kentry_rust_syscall",
    "addq $8, %rsp",
    ".globl kentry_syscall_64_decide",
    "kentry_syscall_64_decide:",
    "testb %al, %al",
    "jz kentry_return_via_iret",
    // rcx and r11 come back equal to RIP and RFLAGS: sysret_allowed checked them.
    ".globl kentry_syscall_64_restore",
    "kentry_syscall_64_restore:",
    super::pop_gprs!(),
    ".globl kentry_syscall_64_user_rsp",
    "kentry_syscall_64_user_rsp:",
    "movq {user_rsp_above}(%rsp), %rsp", // from the orig_rax slot to the saved user RSP
    "swapgs",
    ".globl kentry_syscall_64_sysret",
    "kentry_syscall_64_sysret:",
    "sysretq",
    ".size kentry_syscall_64, . - kentry_syscall_64",
    "",
    // Test kernels: the stub is about to build its frame on a user-half RSP (tripwire T2).
    // Move to the task stack (the stub's own switch, which was skipped or wrong) and report
    // the RSP it found; the report does not return.
    ".if {hooks}",
    ".balign 16",
    ".globl kentry_syscall_t2_trip",
    ".type kentry_syscall_t2_trip, @function",
    "kentry_syscall_t2_trip:",
    "movq %rsp, %rdi",
    "movq %gs:{stack_top}, %rsp",
    "andq $-16, %rsp",
    "call {t2_report}",
    "ud2",
    ".size kentry_syscall_t2_trip, . - kentry_syscall_t2_trip",
    ".endif",
    "",
    ".popsection",
    user_rsp = const OFFSET_USER_RSP,
    stack_top = const OFFSET_TASK_STACK_TOP,
    user_ds = const USER_DS,
    user_cs = const USER_CS,
    enosys = const NEG_ENOSYS,
    user_rsp_above = const ORIG_RAX_TO_USER_RSP,
    hooks = const crate::test_hooks::IN_STUBS,
    brk_stack = sym crate::test_hooks::kentry_test_break_syscall_stack,
    t2_report = sym syscall_t2_report,
    options(att_syntax)
);

/// Tripwire T2 at the SYSCALL stub (test kernels): the stub found a user-half RSP where its
/// stack switch should have left the task stack's top, before it pushed anything there. The
/// Rust entry functions check RSP against the known kernel stacks (`irqentry::tripwires`), but
/// a stub that kept the user's RSP would never reach them: its first push would write the
/// user's stack (a SMAP #PF on that same stack, then #DF).
#[unsafe(link_section = ".text.kentry.noinstr")]
extern "C" fn syscall_t2_report(rsp: u64) -> ! {
    crate::instrumentation_begin!();
    panic!(
        "T2 tripwire: entry code runs on RSP {rsp:#x}, not a kernel stack (kentry_syscall_64 after its stack switch, before its first push)"
    );
}

unsafe extern "C" {
    /// The LSTAR target.
    pub fn kentry_syscall_64();
}

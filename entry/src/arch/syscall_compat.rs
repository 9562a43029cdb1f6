//! The compat SYSCALL (CSTAR) stub: SYSCALL from 32-bit code (Linux's
//! `entry_SYSCALL_compat`), for i386 programs (docs/compat.md, E29, E30), and the SYSRETL way
//! back, `kentry_sysret32_from_system_call` (Linux's `sysret32_from_system_call`).
//!
//! SYSCALL leaves the return EIP in ECX and EFLAGS in R11, so the caller cannot pass its
//! second argument in ECX: it passes it in EBP, and its sixth argument at `[ESP]` (the vDSO's
//! convention, which Linux's entry assumes). The stub builds the frame as `int $0x80` would
//! have left it: an IRET frame (SS = __USER_DS, the user's ESP zero-extended, R11's EFLAGS,
//! CS = __USER32_CS, ECX's EIP), `orig_rax` = EAX zero-extended, and the registers with EBP in
//! ECX's slot. [`crate::syscall_32::do_fast_syscall_32`] reads the sixth argument from the
//! user stack into EBP and decides the way back: SYSRETL when
//! [`crate::sysret::sysretl_allowed`] finds the frame still the entry's own (the SYSRET
//! conditions, with the compat CS and a 32-bit EIP), else the common IRET path.
//!
//! `kentry_sysret32_from_system_call` is a path of its own so that every compat entry whose
//! frame passed `sysretl_allowed` can `jmp` to it with RSP at the frame (a SYSENTER entry
//! returns by SYSRETL too, as Linux's does). It restores the registers from the frame, zeroes
//! R8-R10 (R8 held the user ESP; Linux zeroes the three), puts the frame's RIP in ECX
//! (SYSRETL's EIP; ECX itself is lost on this way, as in Linux, where the vDSO reloads it),
//! takes R11 from the frame's flags slot (SYSRETL's EFLAGS; the R11 slot is not given back on
//! this way, as in Linux: a 32-bit program cannot see R11, and SYSCALL had left the flags in
//! it), loads the user ESP, swaps GS and executes SYSRETL, which loads CS = __USER32_CS and
//! SS = __USER_DS from STAR.
//!
//! Windows:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_syscall_compat` | `swapgs` | user RSP, user GS | NMI, #MC, #DB (MOV SS, E21) | IF=0 (FMASK applies to CSTAR too); the three use IST stacks and decide GS from MSR_GS_BASE, never from CS or RSP |
//! | `kentry_syscall_compat_park` | zero-extend ESP into R8, load the task stack | user RSP, then the task stack; kernel GS | NMI, #MC | the stack top is per-CPU, GS-relative, always mapped; nothing reads or writes the user stack |
//! | `kentry_syscall_compat_frame` | build the frame, `call` | task stack, kernel GS | NMI, #MC; everything once Rust enables IRQs | a normal kernel context from here on |
//! | `kentry_syscall_compat_return` | after the call: `testb`, `jnz` to SYSRETL, else `jmp` to the IRET path | task stack, kernel GS, IF=0 (the exit path's) | NMI, #MC | iret.rs has the IRET way; the table below the SYSRETL way |
//! | `kentry_sysret32_from_system_call` | pop R15-R12, RBP, RBX; load RAX, RDX, RSI, RDI, ECX = the frame's EIP, R11 = its flags; zero R8-R10 | task stack, kernel GS | NMI, #MC | IF=0 since the last exit-work check |
//! | `kentry_sysretl_compat_unsafe_stack` | load the user ESP, `swapgs` | user RSP, then user GS | NMI, #MC | IF stays 0 until SYSRETL sets it with the CPL change; the IST vectors decide GS from MSR_GS_BASE (paranoid), not from CS or RSP; no memory is touched after the RSP load |
//! | `kentry_sysretl_compat` | `sysretl` | user RSP, user GS | NMI, #MC | EIP < 4 GiB (checked), so ECX holds it whole; compat mode has no canonical-address #GP; TF clear (checked), so no #DB follows it before the first user instruction |

use crate::entry_percpu::OFFSET_TASK_STACK_TOP;
use crate::frame::Regs;
use crate::gdt::{USER_DS, USER32_CS};
use core::mem::offset_of;

/// Where RSP is once the SYSRETL way has popped R15 down to RBX: the R11 slot.
const R11: usize = offset_of!(Regs, r11);
const _: () = assert!(R11 == 6 * 8, "six pops reach the R11 slot");

/// -ENOSYS: the preset result (a tracer's skipped call, an unknown number).
const NEG_ENOSYS: i64 = -38;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_syscall_compat",
    ".type kentry_syscall_compat, @function",
    "kentry_syscall_compat:",
    "swapgs",
    ".globl kentry_syscall_compat_park",
    "kentry_syscall_compat_park:",
    // R8 is not visible to 32-bit code; the upper half of RSP is undefined after compat
    // mode, so only ESP counts.
    "movl %esp, %r8d",
    "movq %gs:{stack_top}, %rsp",
    ".globl kentry_syscall_compat_frame",
    "kentry_syscall_compat_frame:",
    "pushq ${user_ds}",   // ss
    "pushq %r8",          // rsp
    "pushq %r11",         // rflags
    "pushq ${user32_cs}", // cs
    "pushq %rcx",         // rip
    "movl %eax, %eax",    // the number, zero-extended, as Linux's orig_ax
    "pushq %rax",         // orig_rax
    "pushq %rdi",
    // push_gprs_below_rdi's order, but EBP, the second argument, goes in ECX's slot.
    "pushq %rsi",
    "pushq %rdx",
    "pushq %rbp",     // rcx
    "pushq ${enosys}", // rax: the preset result
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
    // No `cld`: FMASK clears DF (and AC, NT, TF, IF) for CSTAR as for LSTAR.
    "movq %rsp, %rdi",
    // 16-byte alignment at the call (see frame.rs); Rust keeps the return point in this
    // slot (syscall_32::do_fast_syscall_32).
    "subq $8, %rsp",
    "call kentry_rust_fast_syscall_32",
    ".globl kentry_syscall_compat_return",
    "kentry_syscall_compat_return:",
    "addq $8, %rsp",
    "testb %al, %al",
    "jnz kentry_sysret32_from_system_call",
    "jmp kentry_return_via_iret",
    ".size kentry_syscall_compat, . - kentry_syscall_compat",
    "",
    // The SYSRETL way back, for any compat entry whose frame passed `sysretl_allowed`: RSP at
    // the frame (r15 first), IF=0, kernel GS.
    ".globl kentry_sysret32_from_system_call",
    ".type kentry_sysret32_from_system_call, @function",
    "kentry_sysret32_from_system_call:",
    // The six registers the kernel's code keeps (RBX, RBP, R12-R15) by pops; the rest by
    // loads from where RSP then is (the R11 slot), skipping what SYSRETL does not give back
    // from the frame: R8-R10 (zeroed below), RCX (SYSRETL's EIP) and R11 (its EFLAGS).
    "popq %r15",
    "popq %r14",
    "popq %r13",
    "popq %r12",
    "popq %rbp",
    "popq %rbx",
    "movq {rax}(%rsp), %rax",
    "movq {rdx}(%rsp), %rdx",
    "movq {rsi}(%rsp), %rsi",
    "movq {rdi}(%rsp), %rdi",
    "movl {rip}(%rsp), %ecx", // SYSRETL's EIP: the frame's RIP (below 4 GiB, checked)
    // SYSRETL's EFLAGS from the frame's flags slot, as Linux's sysret32_from_system_call
    // takes them: R11 comes back as the flags (what SYSCALL left in it), never as a value
    // the frame's R11 slot holds, so the decision needs no "R11 = RFLAGS" term.
    "movq {flags}(%rsp), %r11",
    // R8-R10 are zeroed, as Linux's sysret32_from_system_call does: the compat SYSCALL
    // entry parks the user ESP in R8 (the frame's R8 slot holds it), and nothing the kernel
    // held may leak into registers a 32-bit program cannot even save (test_syscall_vdso_32:
    // "R8 has changed"). R12-R15 come back as the frame has them.
    "xorl %r8d, %r8d",
    "xorl %r9d, %r9d",
    "xorl %r10d, %r10d",
    ".globl kentry_sysretl_compat_unsafe_stack",
    "kentry_sysretl_compat_unsafe_stack:",
    "movq {rsp}(%rsp), %rsp", // from the R11 slot to the saved user ESP
    "swapgs",
    ".globl kentry_sysretl_compat",
    "kentry_sysretl_compat:",
    "sysretl",
    ".size kentry_sysret32_from_system_call, . - kentry_sysret32_from_system_call",
    ".popsection",
    stack_top = const OFFSET_TASK_STACK_TOP,
    user_ds = const USER_DS,
    user32_cs = const USER32_CS,
    enosys = const NEG_ENOSYS,
    rax = const offset_of!(Regs, rax) - R11,
    rdx = const offset_of!(Regs, rdx) - R11,
    rsi = const offset_of!(Regs, rsi) - R11,
    rdi = const offset_of!(Regs, rdi) - R11,
    rip = const offset_of!(Regs, rip) - R11,
    flags = const offset_of!(Regs, rflags) - R11,
    rsp = const offset_of!(Regs, rsp) - R11,
    options(att_syntax)
);

unsafe extern "C" {
    /// The CSTAR target.
    pub fn kentry_syscall_compat();
    /// The SYSRETL way back to compat mode: `jmp` here with RSP at a frame that passed
    /// [`crate::sysret::sysretl_allowed`], IF=0 and the kernel GS.
    pub fn kentry_sysret32_from_system_call();
}

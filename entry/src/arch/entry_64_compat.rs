//! The `int $0x80` stub: the i386 system call gate (Linux's `entry_INT80_compat`), for 64-bit
//! and (once kentry loads them) 32-bit programs alike (E28, docs/compat.md).
//!
//! The IDT's vector 0x80 is a DPL-3 interrupt gate pointing here, not at the generic IDT stub:
//! a system call needs the syscall frame (`orig_rax` = the number, `rax` = -ENOSYS preset),
//! not an interrupt's (vector, error code), and it runs with interrupts on in task context,
//! as the SYSCALL path does ([`crate::syscall_32`]). The way back is always IRET (the frame is
//! the CPU's own interrupt frame; nothing about it suits SYSRET).
//!
//! Only `int $0x80` executed in ring 3 comes here as a system call. The kernel never executes
//! it, but an external interrupt at vector 0x80 (a misprogrammed device, an injecting VMM)
//! could arrive in kernel mode: that one goes on to the ordinary IDT stub of vector 0x80,
//! which handles it as any stray interrupt (the user-mode test below is its only cost here).
//!
//! Windows:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_int80_compat` | `clac`, test the CS, `jz` to the generic vector-0x80 stub (test kernels: the `int80_cs` switch's test before it) | task stack (TSS.RSP0: the gate is reached from ring 3) or, for an external vector 0x80, the interrupted kernel stack; GS unknown | NMI, #MC; #DB on the first instruction only (MOV SS before `int $0x80`, E21) | IF=0 (interrupt gate); the three use IST stacks and judge GS from MSR_GS_BASE; nothing here uses GS or user memory |
//! | `kentry_int80_compat_user` | `swapgs`, `cld`, zero-extend EAX, build the frame | task stack, kernel GS | NMI, #MC | IF=0; the frame is pushed on the task stack the CPU switched to |
//! | `kentry_int80_compat_call` | `call` into Rust | task stack, kernel GS | NMI, #MC; everything once Rust enables IRQs | a normal kernel context from here on |
//! | `kentry_int80_compat_return` | after the call: `jmp` to the IRET path | task stack, kernel GS, IF=0 (the exit path's) | NMI, #MC | iret.rs has the rest |

use crate::frame::HW_CS;

/// -ENOSYS: the preset result (a tracer's skipped call, an unknown number).
const NEG_ENOSYS: i64 = -38;

/// Where the generic IDT stub of vector 0x80 lies, from `kentry_idt_stubs`.
const VECTOR_0X80_STUB: u64 = crate::vectors::IA32_SYSCALL as u64 * crate::idt::STUB_STRIDE;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_int80_compat",
    ".type kentry_int80_compat, @function",
    "kentry_int80_compat:",
    "1: clac",
    ".pushsection .kentry_clac_sites, \"a\"",
    ".quad 1b",
    ".popsection",
    "testb $3, {hw_cs}(%rsp)",
    ".if {hooks}", // test kernels: the negative run can swap GS from kernel mode too
    "jnz 2f",
    "testb $1, {brk}(%rip)",
    "jz kentry_idt_stubs + {v80}",
    "2:",
    ".else",
    "jz kentry_idt_stubs + {v80}",
    ".endif",
    ".globl kentry_int80_compat_user",
    "kentry_int80_compat_user:",
    "swapgs",
    // The user may enter with DF set; the interrupt gate clears IF, TF, NT but not DF.
    "cld",
    // The number is EAX: Linux's orig_ax holds it zero-extended.
    "movl %eax, %eax",
    "pushq %rax", // orig_rax
    "pushq %rdi",
    super::push_gprs_below_rdi!("${enosys}"), // rax: the preset result
    "movq %rsp, %rdi",
    ".globl kentry_int80_compat_call",
    "kentry_int80_compat_call:",
    "subq $8, %rsp", // 16-byte alignment at the call (see frame.rs)
    "call kentry_rust_int80",
    ".globl kentry_int80_compat_return",
    "kentry_int80_compat_return:",
    "addq $8, %rsp",
    "jmp kentry_return_via_iret",
    ".size kentry_int80_compat, . - kentry_int80_compat",
    ".popsection",
    hw_cs = const HW_CS,
    v80 = const VECTOR_0X80_STUB,
    enosys = const NEG_ENOSYS,
    hooks = const crate::test_hooks::IN_STUBS,
    brk = sym crate::test_hooks::kentry_test_break_int80_cs,
    options(att_syntax)
);

unsafe extern "C" {
    /// The vector-0x80 gate's target.
    pub fn kentry_int80_compat();
}

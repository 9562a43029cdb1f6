//! The 256 IDT stubs and the common path of the ordinary (non-IST) vectors.
//!
//! Each stub is 16 bytes at `kentry_idt_stubs + 16 * vector`: `clac` (SMAP: an exception in a
//! user copy arrives with AC=1, E07), a -1 error code where the CPU pushes none (one frame for
//! all vectors), the vector number, and a jump to the common path. The IST vectors (#DB, NMI,
//! #DF, #MC) jump to the paranoid path instead.
//!
//! The common path decides `swapgs` from the saved CS — plus one case: a fault on the
//! `iretq` to user (E12, E14) is a kernel-mode fault that finds the user's GS live.
//!
//! Windows:
//!
//! | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|
//! | stub, `cld`, save GPRs | kernel stack (RSP0 or the interrupted kernel stack); GS unknown | NMI, #MC, #DB | IF=0 (interrupt gates); IST vectors judge GS for themselves; nothing here uses GS |
//! | `swapgs` decision | kernel stack | NMI, #MC | as above |
//! | `call` into Rust | kernel stack, kernel GS | everything | a normal kernel context |

use crate::percpu::OFFSET_SELF;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_idt_stubs",
    "kentry_idt_stubs:",
    ".set kentry_vec, 0",
    ".rept 256",
    ".balign 16",
    "1: clac",
    ".pushsection .kentry_clac_sites, \"a\"",
    ".quad 1b",
    ".popsection",
    ".if (kentry_vec == 8) || (kentry_vec == 10) || (kentry_vec == 11) || (kentry_vec == 12) || (kentry_vec == 13) || (kentry_vec == 14) || (kentry_vec == 17) || (kentry_vec == 21) || (kentry_vec == 29) || (kentry_vec == 30)",
    ".else",
    "pushq $-1",
    ".endif",
    "pushq $kentry_vec",
    ".if (kentry_vec == 1) || (kentry_vec == 2) || (kentry_vec == 18)",
    "jmp kentry_ist_entry",
    ".elseif kentry_vec == 8",
    "jmp kentry_paranoid_common",
    ".else",
    "jmp kentry_idt_common",
    ".endif",
    ".set kentry_vec, kentry_vec + 1",
    ".endr",
    ".balign 16",
    ".globl kentry_idt_stubs_end",
    "kentry_idt_stubs_end:",
    "",
    ".balign 16",
    ".globl kentry_idt_common",
    ".type kentry_idt_common, @function",
    "kentry_idt_common:",
    "cld",
    super::save_gprs_vector_in_rsi!(),
    "testb $3, 136(%rsp)", // Regs.cs
    "jnz 2f",
    "leaq kentry_iret_to_user(%rip), %rax",
    "cmpq %rax, 128(%rsp)", // Regs.rip: a fault on the iretq to user?
    "jne kentry_idt_common_call",
    ".if {hooks}", // test kernels: the negative test can skip this swapgs
    "testb $1, {brk}(%rip)",
    "jnz kentry_idt_common_call",
    ".endif",
    "2: swapgs",
    ".globl kentry_idt_common_call",
    "kentry_idt_common_call:",
    "movq %rsp, %rdi",
    "subq $8, %rsp",
    "call kentry_rust_idt",
    "addq $8, %rsp",
    "jmp kentry_return_via_iret",
    ".size kentry_idt_common, . - kentry_idt_common",
    "",
    // The IST vectors #DB, NMI and #MC taken in user mode (E19): the CPU put the frame on the
    // IST stack, but nothing here needs that stack — user mode means the user's GS is live,
    // so this is an ordinary user entry. Swap GS, move the frame to the task stack and go on
    // as any user entry does, returning through the one iretq to user (E14). A nested NMI or
    // #MC can then no longer overwrite this frame, and exit work can run.
    //
    // | instructions | RSP / GS | can arrive | why it is safe |
    // |---|---|---|---|
    // | test CS | IST, GS unknown | NMI (for #DB/#MC), #MC | those use other IST stacks and the paranoid path, judging GS from the MSR |
    // | swapgs, copy the frame | IST, kernel GS | as above | this IST stack is read only; per-CPU data is GS-relative |
    // | the rest | task stack, kernel GS | as above | a normal kernel context |
    ".balign 16",
    ".globl kentry_ist_entry",
    ".type kentry_ist_entry, @function",
    "kentry_ist_entry:",
    "testb $3, 24(%rsp)", // CS: [vector][err][rip][cs]
    "jz kentry_paranoid_common",
    "swapgs",
    "pushq %rdx",
    "movq %rsp, %rdx",
    "movq %gs:{stack_top}, %rsp",
    "pushq 56(%rdx)", // ss
    "pushq 48(%rdx)", // rsp
    "pushq 40(%rdx)", // rflags
    "pushq 32(%rdx)", // cs
    "pushq 24(%rdx)", // rip
    "pushq 16(%rdx)", // error code
    "pushq 8(%rdx)",  // vector
    "movq (%rdx), %rdx",
    "cld",
    super::save_gprs_vector_in_rsi!(),
    "jmp kentry_idt_common_call",
    ".size kentry_ist_entry, . - kentry_ist_entry",
    ".popsection",
    hooks = const crate::test_hooks::IN_STUBS,
    stack_top = const crate::percpu::OFFSET_TASK_STACK_TOP,
    brk = sym crate::test_hooks::kentry_test_break_iret_gs,
    options(att_syntax)
);

// The per-CPU self pointer is what Rust reads to find its per-CPU area.
const _: () = assert!(OFFSET_SELF == 0);

unsafe extern "C" {
    static kentry_idt_stubs: u8;
    static kentry_idt_stubs_end: u8;
}

/// Address of vector 0's stub; vector v's is `+ 16 * v`.
pub fn stub_base() -> u64 {
    let (start, end) = (
        core::ptr::addr_of!(kentry_idt_stubs) as u64,
        core::ptr::addr_of!(kentry_idt_stubs_end) as u64,
    );
    assert_eq!(
        end - start,
        256 * crate::idt::STUB_STRIDE,
        "an IDT stub outgrew its 16-byte slot"
    );
    start
}

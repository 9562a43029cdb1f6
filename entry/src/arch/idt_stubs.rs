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
    ".if (kentry_vec == 1) || (kentry_vec == 2) || (kentry_vec == 8) || (kentry_vec == 18)",
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
    "jne 3f",
    ".if {hooks}", // test kernels: the negative test can skip this swapgs
    "testb $1, {brk}(%rip)",
    "jnz 3f",
    ".endif",
    "2: swapgs",
    "3:",
    "movq %rsp, %rdi",
    "subq $8, %rsp",
    "call kentry_rust_idt",
    "addq $8, %rsp",
    "jmp kentry_return_via_iret",
    ".size kentry_idt_common, . - kentry_idt_common",
    ".popsection",
    hooks = const crate::test_hooks::IN_STUBS,
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

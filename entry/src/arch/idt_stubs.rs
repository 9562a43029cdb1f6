//! The 256 IDT stubs and the common path of the ordinary (non-IST) vectors.
//!
//! Each stub is 16 bytes at `kentry_idt_stubs + 16 * vector`: `clac` (SMAP: an exception in a
//! user copy arrives with AC=1, E07), a -1 error code where the CPU pushes none (one frame for
//! all vectors), the vector number, and a jump to the common path. The IST vectors #DB and #MC
//! jump to `kentry_ist_entry`, NMI to `kentry_nmi_entry` (nmi.rs: its nesting latch, E18;
//! from user mode it comes back to `kentry_ist_entry_user`), #DF straight to the paranoid path.
//!
//! Which vector has an error code and which is an IST vector is not written here: the stubs
//! test one bit of the masks that vectors.rs derives from its lists (`ERROR_CODE_VECTORS`,
//! `IST_USER_ENTRY_VECTORS`, `IST_PARANOID_ONLY_VECTORS`), so the asm follows the lists.
//!
//! The common path decides `swapgs` from the saved CS — plus one case: a fault on the
//! `iretq` to user (E12, E14) is a kernel-mode fault that finds the user's GS live.
//!
//! Windows:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_idt_stubs`, `kentry_idt_common` | stub (`clac`, pushes, `jmp`), `cld`, save GPRs | kernel stack (TSS.RSP0 from user, else the interrupted kernel stack); GS unknown | NMI, #MC; #DB on the stub's first instruction only (MOV SS before `int n` from ring 3, E21) | IF=0 (interrupt gates); the three use IST stacks and judge GS from MSR_GS_BASE; nothing here uses GS; no other #DB: no breakpoints in `.text.kentry` (E23), and the stubs touch no user memory a ptrace watchpoint could cover |
//! | `kentry_idt_common_gs` | `swapgs` decision (CS test, the `kentry_iret_to_user` check) | kernel stack, GS unknown until `swapgs` | NMI, #MC | as above; after `swapgs`, kernel GS |
//! | `kentry_idt_common_call` | `call` into Rust | kernel stack, kernel GS | NMI, #MC; everything once Rust enables IRQs | a normal kernel context |
//! | `kentry_idt_common_return` | after the call: `jmp` to the IRET path | kernel stack, kernel GS | NMI, #MC | iret.rs has the rest |

use crate::frame::{REGS_CS, REGS_RIP, StubFrame};
use crate::vectors::{ERROR_CODE_VECTORS, IST_PARANOID_ONLY_VECTORS, IST_USER_ENTRY_VECTORS};
use core::mem::offset_of;

/// The IST stack as `kentry_ist_entry` reads it once it has parked `rdx` on it: `rdx` is
/// its one scratch register, and the stub's frame above it is copied to the task stack
/// through it.
#[repr(C)]
struct IstParked {
    rdx: u64,
    stub: StubFrame,
}

/// Offset of one field of the parked stub frame, for a `pushq off(%rdx)`.
macro_rules! parked {
    ($($field:tt)+) => {
        offset_of!(IstParked, stub) + offset_of!(StubFrame, $($field)+)
    };
}

use crate::entry_percpu::OFFSET_SELF;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_idt_stubs",
    "kentry_idt_stubs:",
    ".set kentry_vec, 0",
    ".rept 256",
    ".balign {stride}",
    "1: clac",
    ".pushsection .kentry_clac_sites, \"a\"",
    ".quad 1b",
    ".popsection",
    // This vector's bit in the masks (which cover the 32 exceptions); 0 for the others.
    ".set kentry_vec_bit, 0",
    ".if kentry_vec < {first_external}",
    ".set kentry_vec_bit, 1 << kentry_vec",
    ".endif",
    ".if ({error_code_vectors} & kentry_vec_bit) == 0",
    "pushq $-1",
    ".endif",
    "pushq $kentry_vec",
    ".if kentry_vec == {nmi}",
    "jmp kentry_nmi_entry", // kernel mode: the nesting latch (nmi.rs); user mode: below
    ".elseif {ist_user_entry} & kentry_vec_bit",
    "jmp kentry_ist_entry",
    ".elseif {paranoid_only} & kentry_vec_bit",
    "jmp kentry_paranoid_common",
    ".else",
    "jmp kentry_idt_common",
    ".endif",
    ".set kentry_vec, kentry_vec + 1",
    ".endr",
    ".balign {stride}",
    ".globl kentry_idt_stubs_end",
    "kentry_idt_stubs_end:",
    ".type kentry_idt_stubs, @function",
    ".size kentry_idt_stubs, kentry_idt_stubs_end - kentry_idt_stubs",
    "",
    ".balign 16",
    ".globl kentry_idt_common",
    ".type kentry_idt_common, @function",
    "kentry_idt_common:",
    "cld",
    super::save_gprs_vector_in_rsi!(),
    ".globl kentry_idt_common_gs",
    "kentry_idt_common_gs:",
    "testb $3, {regs_cs}(%rsp)",
    ".if {hooks}", // test kernels: the negative test can skip the user entry's swapgs
    "jz 3f",
    "testb $1, {brk_cs}(%rip)",
    "jnz kentry_idt_common_call",
    "jmp 2f",
    "3:",
    ".else",
    "jnz 2f",
    ".endif",
    "leaq kentry_iret_to_user(%rip), %rax",
    "cmpq %rax, {regs_rip}(%rsp)", // a fault on the iretq to user?
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
    ".globl kentry_idt_common_return",
    "kentry_idt_common_return:",
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
    // | from | instructions | RSP / GS | can arrive | why it is safe |
    // |---|---|---|---|---|
    // | `kentry_ist_entry` | test CS (for NMI: in `kentry_nmi_entry`) | own IST stack, GS unknown | NMI (for #DB/#MC), #MC (for #DB/NMI) | those use other IST stacks and the paranoid path, judging GS from the MSR; NMI blocks NMIs until IRET; #DB is never taken in entry code; a kernel-mode entry goes on to the paranoid path (NMI: to its latch, nmi.rs) |
    // | `kentry_ist_entry_user` | `swapgs`, park rdx | own IST stack, kernel GS | as above | the same vector cannot re-enter (as above), so this IST frame stays put |
    // | `kentry_ist_entry_copy` | load the task stack, copy the frame | task stack (empty: we came from user), kernel GS; the IST frame read through rdx | as above | per-CPU data is GS-relative; the IST stack is only read |
    // | `kentry_ist_entry_rest` | the rest | task stack, kernel GS | as above | a normal user entry from here on (the common path's table) |
    ".balign 16",
    ".globl kentry_ist_entry",
    ".type kentry_ist_entry, @function",
    "kentry_ist_entry:",
    "testb $3, {stub_cs}(%rsp)",
    "jz kentry_paranoid_common",
    ".globl kentry_ist_entry_user",
    "kentry_ist_entry_user:", // an NMI from user mode joins here from kentry_nmi_entry
    "swapgs",
    "pushq %rdx",
    "movq %rsp, %rdx",
    ".globl kentry_ist_entry_copy",
    "kentry_ist_entry_copy:",
    "movq %gs:{stack_top}, %rsp",
    "pushq {parked_ss}(%rdx)",
    "pushq {parked_rsp}(%rdx)",
    "pushq {parked_rflags}(%rdx)",
    "pushq {parked_cs}(%rdx)",
    "pushq {parked_rip}(%rdx)",
    "pushq {parked_error_code}(%rdx)",
    "pushq {parked_vector}(%rdx)",
    "movq {parked_rdx}(%rdx), %rdx",
    ".globl kentry_ist_entry_rest",
    "kentry_ist_entry_rest:",
    "cld",
    super::save_gprs_vector_in_rsi!(),
    "jmp kentry_idt_common_call",
    ".size kentry_ist_entry, . - kentry_ist_entry",
    ".popsection",
    error_code_vectors = const ERROR_CODE_VECTORS,
    stride = const crate::idt::STUB_STRIDE,
    first_external = const crate::vectors::FIRST_EXTERNAL,
    nmi = const crate::vectors::NMI,
    ist_user_entry = const IST_USER_ENTRY_VECTORS,
    paranoid_only = const IST_PARANOID_ONLY_VECTORS,
    regs_cs = const REGS_CS,
    regs_rip = const REGS_RIP,
    stub_cs = const offset_of!(StubFrame, hw.cs),
    parked_ss = const parked!(hw.ss),
    parked_rsp = const parked!(hw.rsp),
    parked_rflags = const parked!(hw.rflags),
    parked_cs = const parked!(hw.cs),
    parked_rip = const parked!(hw.rip),
    parked_error_code = const parked!(error_code),
    parked_vector = const parked!(vector),
    parked_rdx = const offset_of!(IstParked, rdx),
    hooks = const crate::test_hooks::IN_STUBS,
    stack_top = const crate::entry_percpu::OFFSET_TASK_STACK_TOP,
    brk = sym crate::test_hooks::kentry_test_break_iret_gs,
    brk_cs = sym crate::test_hooks::kentry_test_break_swapgs_cs,
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

//! The paranoid path of the IST vectors: NMI, #DB, #MC, #DF.
//!
//! These can arrive at any instruction — in the SYSCALL window, between `swapgs` and `iretq`,
//! with a user-chosen GS base (FSGSBASE lets user code write any canonical value, E13). So the
//! saved CS says nothing about which GS base is live. The path therefore never uses `swapgs`:
//! it saves the live MSR_GS_BASE, installs this CPU's per-CPU base from a slot parked right
//! above the hardware frame at the top of each IST stack, and restores the saved base before
//! IRET. No sign test, no guess.
//!
//! Windows:
//!
//! | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|
//! | save GPRs, RDMSR, WRMSR | own IST stack, GS unknown | #MC/NMI (other slots), #DF | each vector has its own IST stack, so only a re-entry of the same vector would overwrite this frame: NMIs stay blocked until IRET, #DB cannot hit this path (no breakpoint or watchpoint may cover entry text or data, E23; the one deferred #DB, after MOV SS, lands on a stub's first instruction, before this path runs), #MC while MCIP=1 shuts down; the depth counter reports a re-entry |
//! | `call` into Rust | own IST stack, kernel GS | as above | NMI-like context: no exit work, no sleeping |
//! | restore GS base, GPRs, `iretq` | own IST stack, the interrupted GS | as above | the interrupted context gets back exactly the GS base it had |

use crate::frame::REGS_SIZE;
use crate::msr::IA32_GS_BASE;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_paranoid_common",
    ".type kentry_paranoid_common, @function",
    "kentry_paranoid_common:",
    "cld",
    super::save_gprs_vector_in_rsi!(),
    "movl ${gs_base}, %ecx",
    "rdmsr",
    "shlq $32, %rdx",
    "orq %rax, %rdx",
    "movq %rdx, %rbx",              // the interrupted GS base; rbx survives the call
    "movq {regs_size}(%rsp), %rax", // this CPU's per-CPU base, parked at the IST top
    "movq %rax, %rdx",
    "shrq $32, %rdx",
    "wrmsr",
    "movq %rsp, %rdi",
    "subq $8, %rsp",
    "call kentry_rust_paranoid",
    "addq $8, %rsp",
    "movl ${gs_base}, %ecx",
    "movq %rbx, %rax",
    "movq %rbx, %rdx",
    "shrq $32, %rdx",
    "wrmsr",
    super::restore_gprs_for_iret!(),
    "iretq",
    ".size kentry_paranoid_common, . - kentry_paranoid_common",
    ".popsection",
    gs_base = const IA32_GS_BASE,
    regs_size = const REGS_SIZE,
    options(att_syntax)
);

/// Bytes reserved at the top of every IST stack: the per-CPU pointer slot and padding that
/// keeps the IST pointer 16-byte aligned. TSS.IST = top - IST_TOP_RESERVED.
pub const IST_TOP_RESERVED: u64 = 16;

/// Prepares an IST stack whose highest byte is `top - 1`: parks `percpu` in the slot the
/// paranoid path reads, and returns the value for TSS.IST.
///
/// # Safety
/// `top - 16 .. top` must be mapped, writable, and owned by this IST stack.
pub unsafe fn prepare_ist_stack(top: u64, percpu: u64) -> u64 {
    assert!(top.is_multiple_of(16));
    let ist = top - IST_TOP_RESERVED;
    // SAFETY: the caller owns the reserved slot at `ist`.
    unsafe { core::ptr::write(ist as *mut u64, percpu) };
    ist
}

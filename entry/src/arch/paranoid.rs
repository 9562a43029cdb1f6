//! The paranoid path of the IST vectors taken in kernel mode: #DB, #MC, #DF here, and NMI
//! through [`super::nmi`], which wraps the same body in its nesting latch (E18).
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
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_paranoid_common` | save GPRs, RDMSR, WRMSR | own IST stack, GS unknown | #MC/NMI (other slots), #DF | each vector has its own IST stack, so only a re-entry of the same vector would overwrite this frame: an NMI comes here only through nmi.rs's latch (its own table), #DB cannot hit this path (no breakpoint or watchpoint may cover entry text or data, E23; the one deferred #DB, after MOV SS, lands on a stub's first instruction, before this path runs), #MC while MCIP=1 shuts down; the depth counter reports a re-entry |
//! | `kentry_paranoid_common_call` | `call` into Rust | own IST stack, kernel GS | as above | NMI-like context: no exit work, no sleeping |
//! | `kentry_paranoid_common_restore` | restore GS base, GPRs, `iretq` | own IST stack, the interrupted GS | as above | the interrupted context gets back exactly the GS base it had |

use crate::frame::REGS_SIZE;
use crate::msr::IA32_GS_BASE;

/// The body every paranoid entry shares, from a stub frame at RSP to RSP at the hardware
/// frame the path returns through: complete the [`Regs`](crate::Regs), save the live
/// MSR_GS_BASE in rbx (callee-saved: it survives the call), install the per-CPU base parked
/// at `{percpu_slot}(%rsp)` (an asm operand of the caller: where the slot lies above the
/// frame), call `kentry_rust_paranoid`, put the saved GS base back and restore the GPRs.
/// `$labels` prefixes the two window labels it defines (`…_call`, `…_restore`).
/// Takes `{gs_base}` (IA32_GS_BASE), `{hooks}` ([`IN_STUBS`](crate::test_hooks::IN_STUBS))
/// and `{brk_gs}` (the [`Check::ParanoidGs`](crate::test_hooks::Check::ParanoidGs) flag byte)
/// from the caller too.
macro_rules! paranoid_body {
    ($labels:literal) => {
        concat!(
            "cld\n",
            $crate::arch::save_gprs_vector_in_rsi!(),
            "movl ${gs_base}, %ecx\n",
            "rdmsr\n",
            "shlq $32, %rdx\n",
            "orq %rax, %rdx\n",
            "movq %rdx, %rbx\n",                // the interrupted GS base
            "movq {percpu_slot}(%rsp), %rax\n", // this CPU's per-CPU base
            "movq %rax, %rdx\n",
            "shrq $32, %rdx\n",
            // Test kernels: the negative run keeps whatever GS base was live.
            ".if {hooks}\n",
            "testb $1, {brk_gs}(%rip)\n",
            "jnz 77f\n",
            ".endif\n",
            "wrmsr\n",
            "77:\n",
            ".globl ",
            $labels,
            "_call\n",
            $labels,
            "_call:\n",
            "movq %rsp, %rdi\n",
            "subq $8, %rsp\n",
            "call kentry_rust_paranoid\n",
            ".globl ",
            $labels,
            "_restore\n",
            $labels,
            "_restore:\n",
            "addq $8, %rsp\n",
            "movl ${gs_base}, %ecx\n",
            "movq %rbx, %rax\n",
            "movq %rbx, %rdx\n",
            "shrq $32, %rdx\n",
            "wrmsr\n",
            $crate::arch::restore_gprs_for_iret!(),
        )
    };
}
pub(crate) use paranoid_body;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_paranoid_common",
    ".type kentry_paranoid_common, @function",
    "kentry_paranoid_common:",
    paranoid_body!("kentry_paranoid_common"),
    "iretq",
    ".size kentry_paranoid_common, . - kentry_paranoid_common",
    ".popsection",
    gs_base = const IA32_GS_BASE,
    // The frame is right below the IST top, where the slot is.
    percpu_slot = const REGS_SIZE,
    hooks = const crate::test_hooks::IN_STUBS,
    brk_gs = sym crate::test_hooks::kentry_test_break_paranoid_gs,
    options(att_syntax)
);

/// Bytes reserved at the top of every IST stack: the per-CPU pointer slot, and a word that
/// keeps the IST pointer 16-byte aligned and on the NMI stack holds the NMI state
/// ([`super::nmi`]). TSS.IST = top - IST_TOP_RESERVED.
pub const IST_TOP_RESERVED: u64 = 16;

/// Prepares an IST stack whose highest byte is `top - 1`: parks `percpu` in the slot the
/// paranoid path reads, zeroes the word above it (the NMI state: idle), and returns the
/// value for TSS.IST.
///
/// # Safety
/// `top - 16 .. top` must be mapped, writable, and owned by this IST stack.
pub unsafe fn prepare_ist_stack(top: u64, percpu: u64) -> u64 {
    assert!(top.is_multiple_of(16));
    let ist = top - IST_TOP_RESERVED;
    // SAFETY: the caller owns the reserved words at `ist` and `ist + 8`.
    unsafe {
        core::ptr::write(ist as *mut u64, percpu);
        core::ptr::write((ist + 8) as *mut u64, 0);
    }
    ist
}

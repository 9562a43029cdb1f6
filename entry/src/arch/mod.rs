//! Everything that must be assembly, and the CPU setup that points the hardware at it.
//!
//! Assembly is confined to this module: the SYSCALL stub ([`syscall_64`]), the 256 IDT stubs
//! and their common path ([`idt_stubs`]), the paranoid IST path ([`paranoid`]), and the one
//! IRET return ([`iret`]); and, for the bench only, the floor stubs ([`bench_floor`]). All of
//! it lives in the `.text.kentry` section, so the kernel can
//! tell entry code apart (no breakpoints there, E23).

pub mod bench_floor;
pub mod idt_stubs;
pub mod iret;
pub mod paranoid;
pub mod setup;
pub mod smap;
pub mod switch;
pub mod syscall_64;

/// Saves the 15 general registers below the hardware frame + error-code slot, in `pt_regs`
/// order. Entry: the vector sits where `rdi` belongs; it ends up in `%rsi`.
macro_rules! save_gprs_vector_in_rsi {
    () => {
        concat!(
            "xchgq %rdi, (%rsp)\n", // rdi = vector; the slot keeps the interrupted rdi
            "pushq %rsi\n",
            "pushq %rdx\n",
            "pushq %rcx\n",
            "pushq %rax\n",
            "pushq %r8\n",
            "pushq %r9\n",
            "pushq %r10\n",
            "pushq %r11\n",
            "pushq %rbx\n",
            "pushq %rbp\n",
            "pushq %r12\n",
            "pushq %r13\n",
            "pushq %r14\n",
            "pushq %r15\n",
            "movq %rdi, %rsi\n",
        )
    };
}

/// Restores the 15 general registers and drops the `orig_rax` slot: RSP then points at the
/// hardware IRET frame.
macro_rules! restore_gprs_for_iret {
    () => {
        concat!(
            "popq %r15\n",
            "popq %r14\n",
            "popq %r13\n",
            "popq %r12\n",
            "popq %rbp\n",
            "popq %rbx\n",
            "popq %r11\n",
            "popq %r10\n",
            "popq %r9\n",
            "popq %r8\n",
            "popq %rax\n",
            "popq %rcx\n",
            "popq %rdx\n",
            "popq %rsi\n",
            "popq %rdi\n",
            "addq $8, %rsp\n",
        )
    };
}

pub(crate) use restore_gprs_for_iret;
pub(crate) use save_gprs_vector_in_rsi;

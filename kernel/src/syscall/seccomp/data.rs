//! `seccomp_data` of a syscall, in the calling convention of its entry (Linux's
//! `populate_seccomp_data` with `syscall_get_arch` and `syscall_get_arguments`): SYSCALL's
//! x86-64 one, or the i386 one of `int $0x80` (docs/compat.md).

use kentry::Regs;
use kentry_kernel_logic::seccomp_bpf::{self as bpf, SeccompData};

/// `seccomp_data` of a 64-bit syscall.
pub(super) fn data_x86_64(regs: &Regs) -> SeccompData {
    SeccompData {
        nr: regs.orig_rax as i32,
        arch: bpf::AUDIT_ARCH_X86_64,
        instruction_pointer: regs.rip,
        args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
    }
}

/// `seccomp_data` of an i386 syscall (`int $0x80`): the i386 number, and RBX, RCX, RDX, RSI,
/// RDI, RBP whole (Linux's `syscall_get_arguments` for a compat task copies the 64-bit
/// registers: from 64-bit code their high halves reach the filter, though the call itself
/// reads only the low ones).
pub(super) fn data_ia32(regs: &Regs) -> SeccompData {
    SeccompData {
        nr: regs.orig_rax as i32,
        arch: bpf::AUDIT_ARCH_I386,
        instruction_pointer: regs.rip,
        args: [regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp],
    }
}

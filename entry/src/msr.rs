//! Model-specific registers the entry layer owns.

/// SYSENTER's CS (0: SYSENTER faults).
pub const IA32_SYSENTER_CS: u32 = 0x174;
/// SYSENTER's stack.
pub const IA32_SYSENTER_ESP: u32 = 0x175;
/// SYSENTER's entry point.
pub const IA32_SYSENTER_EIP: u32 = 0x176;
/// Machine-check global status (MCIP, RIPV, EIPV).
pub const IA32_MCG_STATUS: u32 = 0x17a;
/// Extended features: SCE, LME, NXE.
pub const IA32_EFER: u32 = 0xc000_0080;
/// SYSCALL/SYSRET selectors.
pub const IA32_STAR: u32 = 0xc000_0081;
/// 64-bit SYSCALL entry point.
pub const IA32_LSTAR: u32 = 0xc000_0082;
/// Compat-mode SYSCALL entry point.
pub const IA32_CSTAR: u32 = 0xc000_0083;
/// RFLAGS bits SYSCALL clears.
pub const IA32_FMASK: u32 = 0xc000_0084;
/// FS base.
pub const IA32_FS_BASE: u32 = 0xc000_0100;
/// The live GS base.
pub const IA32_GS_BASE: u32 = 0xc000_0101;
/// The GS base `swapgs` exchanges with the live one.
pub const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;

/// EFER: SYSCALL enable.
pub const EFER_SCE: u64 = 1 << 0;
/// EFER: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// EFER: no-execute enable.
pub const EFER_NXE: u64 = 1 << 11;

use crate::frame::rflags::*;

/// RFLAGS bits SYSCALL clears: Linux's mask since 2021. TF (no #DB on the first kernel
/// instruction), IF (the stub runs on the user stack until it switches), DF and AC (string
/// ops and SMAP), NT (a kernel IRET would #GP), IOPL, RF, ID, and the arithmetic flags.
pub const SYSCALL_FMASK: u64 =
    CF | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | RF | AC | ID;

const _: () = assert!(SYSCALL_FMASK == 0x257fd5);

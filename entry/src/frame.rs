//! The one register frame every entry builds: Linux's `struct pt_regs`, lowest address first.
//!
//! SYSCALL and every IDT vector produce exactly this layout, so the rest of the kernel (signal
//! frames, ptrace, the SYSRET check) sees one shape whatever the way in was.

use crate::gdt::{USER_CS, USER_DS};
use core::mem::offset_of;

/// Saved user or kernel state at an entry, in `pt_regs` order.
///
/// `orig_rax` holds the syscall number on the syscall path and -1 everywhere else (the stub's
/// error-code slot is handed to Rust separately and then overwritten).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// Saved `r15`.
    pub r15: u64,
    /// Saved `r14`.
    pub r14: u64,
    /// Saved `r13`.
    pub r13: u64,
    /// Saved `r12`.
    pub r12: u64,
    /// Saved `rbp`.
    pub rbp: u64,
    /// Saved `rbx`.
    pub rbx: u64,
    /// Saved `r11` (RFLAGS at SYSCALL).
    pub r11: u64,
    /// Saved `r10` (4th syscall argument).
    pub r10: u64,
    /// Saved `r9`.
    pub r9: u64,
    /// Saved `r8`.
    pub r8: u64,
    /// Saved `rax` (syscall number in, result out).
    pub rax: u64,
    /// Saved `rcx` (return RIP at SYSCALL).
    pub rcx: u64,
    /// Saved `rdx`.
    pub rdx: u64,
    /// Saved `rsi`.
    pub rsi: u64,
    /// Saved `rdi`.
    pub rdi: u64,
    /// The syscall number on the syscall path; -1 on every other entry.
    pub orig_rax: u64,
    // The hardware interrupt frame (what IRETQ pops).
    /// Where the interrupted code resumes.
    pub rip: u64,
    /// Its code segment (RPL 3: user mode).
    pub cs: u64,
    /// Its RFLAGS.
    pub rflags: u64,
    /// Its stack pointer.
    pub rsp: u64,
    /// Its stack segment.
    pub ss: u64,
}

/// Number of 8-byte slots in [`Regs`].
pub const REGS_SLOTS: usize = 21;
/// Size of [`Regs`] in bytes.
pub const REGS_SIZE: usize = REGS_SLOTS * 8;

// The asm stubs push and pop this layout by hand; a field moved here must be moved there.
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<Regs>() == REGS_SIZE);
    assert!(offset_of!(Regs, r15) == 0);
    assert!(offset_of!(Regs, rbp) == 32);
    assert!(offset_of!(Regs, r11) == 48);
    assert!(offset_of!(Regs, rax) == 80);
    assert!(offset_of!(Regs, rcx) == 88);
    assert!(offset_of!(Regs, rdi) == 112);
    assert!(offset_of!(Regs, orig_rax) == 120);
    assert!(offset_of!(Regs, rip) == 128);
    assert!(offset_of!(Regs, cs) == 136);
    assert!(offset_of!(Regs, rflags) == 144);
    assert!(offset_of!(Regs, rsp) == 152);
    assert!(offset_of!(Regs, ss) == 160);
    // The CPU aligns RSP to 16 before it pushes an interrupt frame, and the SYSCALL stub starts
    // from a 16-aligned stack top, so after a full frame RSP is 8 mod 16. Every stub therefore
    // drops RSP by one more slot before `call` (the SysV ABI wants 16-byte alignment there).
    assert!(REGS_SIZE % 16 == 8);
};

/// The hardware interrupt frame: what the CPU pushes on an interrupt or exception in 64-bit
/// mode, lowest address first, and what `iretq` pops. It is the tail of [`Regs`].
#[repr(C)]
pub struct HwFrame {
    /// Where the interrupted code resumes.
    pub rip: u64,
    /// The interrupted code's CS (its low two bits are the privilege level it ran at).
    pub cs: u64,
    /// The interrupted code's RFLAGS.
    pub rflags: u64,
    /// The interrupted code's RSP.
    pub rsp: u64,
    /// The interrupted code's SS.
    pub ss: u64,
}

/// What an IDT stub leaves on the stack for the path it jumps to: the vector (in the slot
/// that becomes [`Regs::rdi`]), the error code (the CPU's or the stub's -1, in the slot that
/// becomes [`Regs::orig_rax`]), then the hardware frame.
#[repr(C)]
pub struct StubFrame {
    /// The vector, pushed by the stub.
    pub vector: u64,
    /// The CPU's error code, or the stub's -1 for vectors without one.
    pub error_code: u64,
    /// What the CPU pushed.
    pub hw: HwFrame,
}

// Offsets the asm stubs take as `const` operands, so that no stub spells a frame offset as a
// number.
/// [`Regs::cs`] from the frame base: its low two bits are the RPL, user mode when nonzero.
pub const REGS_CS: usize = offset_of!(Regs, cs);
/// [`Regs::rip`] from the frame base.
pub const REGS_RIP: usize = offset_of!(Regs, rip);
/// [`Regs::rsp`] from the `orig_rax` slot: where RSP points once the 15 GPRs are popped, on
/// the SYSRET way out.
pub const ORIG_RAX_TO_USER_RSP: usize = offset_of!(Regs, rsp) - offset_of!(Regs, orig_rax);
/// The saved CS in a bare hardware frame (RSP at the `iretq` frame).
pub const HW_CS: usize = offset_of!(HwFrame, cs);

const _: () = {
    use core::mem::size_of;
    // The stub frame is the top of Regs: vector in rdi's slot, error code in orig_rax's,
    // then the hardware frame, so that saving the GPRs below it completes a Regs.
    assert!(
        offset_of!(Regs, rdi) + offset_of!(StubFrame, error_code) == offset_of!(Regs, orig_rax)
    );
    assert!(offset_of!(Regs, rdi) + offset_of!(StubFrame, hw) == offset_of!(Regs, rip));
    assert!(offset_of!(Regs, rip) + size_of::<HwFrame>() == size_of::<Regs>());
    assert!(offset_of!(Regs, rip) + offset_of!(HwFrame, cs) == offset_of!(Regs, cs));
    assert!(offset_of!(Regs, rip) + offset_of!(HwFrame, rsp) == offset_of!(Regs, rsp));
    assert!(offset_of!(Regs, rip) + offset_of!(HwFrame, ss) == offset_of!(Regs, ss));
};

pub mod rflags {
    //! RFLAGS bits the entry code reasons about.
    /// Carry.
    pub const CF: u64 = 1 << 0;
    /// Bit 1, always set.
    pub const FIXED: u64 = 1 << 1;
    /// Parity.
    pub const PF: u64 = 1 << 2;
    /// Adjust.
    pub const AF: u64 = 1 << 4;
    /// Zero.
    pub const ZF: u64 = 1 << 6;
    /// Sign.
    pub const SF: u64 = 1 << 7;
    /// Trap (single-step).
    pub const TF: u64 = 1 << 8;
    /// Interrupts enabled.
    pub const IF: u64 = 1 << 9;
    /// Direction (string ops backwards).
    pub const DF: u64 = 1 << 10;
    /// Overflow.
    pub const OF: u64 = 1 << 11;
    /// I/O privilege level (2 bits).
    pub const IOPL: u64 = 3 << 12;
    /// Nested task.
    pub const NT: u64 = 1 << 14;
    /// Resume (suppresses one instruction breakpoint).
    pub const RF: u64 = 1 << 16;
    /// Virtual-8086 mode.
    pub const VM: u64 = 1 << 17;
    /// Alignment check / SMAP override.
    pub const AC: u64 = 1 << 18;
    /// CPUID available.
    pub const ID: u64 = 1 << 21;
}

impl Regs {
    /// Whether the frame was saved from ring 3 (the `user_mode(regs)` of Linux).
    #[inline(always)]
    pub fn user_mode(&self) -> bool {
        self.cs & 3 != 0
    }

    /// A fresh 64-bit user frame starting at `rip` with stack `rsp`: every GPR zero, IF set,
    /// user selectors, and `orig_rax` = -1 (not in a syscall).
    pub fn new_user(rip: u64, rsp: u64) -> Self {
        Regs {
            rip,
            rsp,
            cs: USER_CS as u64,
            ss: USER_DS as u64,
            rflags: rflags::FIXED | rflags::IF,
            orig_rax: u64::MAX,
            ..Default::default()
        }
    }

    /// Syscall arguments in ABI order (rdi, rsi, rdx, r10, r8, r9).
    #[inline(always)]
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_mode_follows_rpl() {
        let mut r = Regs::new_user(0x40_0000, 0x7fff_0000);
        assert!(r.user_mode());
        r.cs = crate::gdt::KERNEL_CS as u64;
        assert!(!r.user_mode());
    }

    #[test]
    fn new_user_frame_is_clean() {
        let r = Regs::new_user(0x1000, 0x2000);
        assert_eq!(r.orig_rax, u64::MAX);
        assert_eq!(r.cs, 0x33);
        assert_eq!(r.ss, 0x2b);
        assert_eq!(r.rflags, 0x202);
        assert_eq!(r.rax | r.rcx | r.r11, 0);
    }
}

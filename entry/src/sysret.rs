//! The SYSRET-or-IRET decision (E01, E02), made in Rust on the final frame.
//!
//! SYSRET restores only RIP (from RCX), RFLAGS (from R11) and fixed selectors. It is used
//! only when that is exactly the frame: anything a signal, ptrace, exec or sigreturn changed
//! goes back by IRET, which restores everything. A non-canonical RIP is never handed to SYSRET:
//! on Intel that #GP is taken in ring 0 on the user's stack (CVE-2012-0217).

use crate::frame::{Regs, rflags};
use crate::gdt::{USER_CS, USER_DS};

/// Highest user address + 1. The last page below 2^47 is never mapped, so a SYSCALL at the
/// very top cannot leave a non-canonical RCX (E03).
pub const TASK_SIZE_MAX: u64 = (1 << 47) - 4096;

/// True when SYSRET returns to exactly the state in `regs`.
#[inline(always)]
pub fn sysret_allowed(regs: &Regs) -> bool {
    // Written as one expression of ANDs (no short-circuit branches needed).
    ((regs.rcx == regs.rip) | !crate::test_hooks::enabled(crate::test_hooks::Check::SysretRcx))
        & ((regs.r11 == regs.rflags)
            | !crate::test_hooks::enabled(crate::test_hooks::Check::SysretR11))
        & ((regs.cs == USER_CS as u64)
            | !crate::test_hooks::enabled(crate::test_hooks::Check::SysretCs))
        & ((regs.ss == USER_DS as u64)
            | !crate::test_hooks::enabled(crate::test_hooks::Check::SysretSs))
        & ((regs.rip < TASK_SIZE_MAX)
            | !crate::test_hooks::enabled(crate::test_hooks::Check::SysretNoncanonical))
        & ((regs.rflags & (rflags::RF | rflags::TF) == 0)
            | !crate::test_hooks::enabled(crate::test_hooks::Check::SysretTf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syscall_frame() -> Regs {
        let mut r = Regs::new_user(0x40_1000, 0x7fff_f000);
        r.rcx = r.rip;
        r.rflags = 0x246;
        r.r11 = r.rflags;
        r
    }

    #[test]
    fn plain_syscall_frame_may_sysret() {
        assert!(sysret_allowed(&syscall_frame()));
    }

    #[test]
    fn each_condition_forces_iret() {
        let base = syscall_frame();
        let cases: [(&str, fn(&mut Regs)); 8] = [
            ("rcx != rip", |r| r.rcx += 1),
            ("r11 != rflags", |r| r.r11 ^= rflags::CF),
            ("cs", |r| r.cs = 0x23),
            ("ss", |r| r.ss = 0x18),
            ("rip at TASK_SIZE_MAX", |r| {
                r.rip = TASK_SIZE_MAX;
                r.rcx = r.rip
            }),
            ("non-canonical rip", |r| {
                r.rip = 1 << 47;
                r.rcx = r.rip
            }),
            ("TF", |r| {
                r.rflags |= rflags::TF;
                r.r11 = r.rflags
            }),
            ("RF", |r| {
                r.rflags |= rflags::RF;
                r.r11 = r.rflags
            }),
        ];
        for (name, change) in cases {
            let mut r = base;
            change(&mut r);
            assert!(!sysret_allowed(&r), "{name} must force IRET");
        }
    }

    #[test]
    fn every_bit_above_47_is_refused() {
        for n in 47..64 {
            let mut r = syscall_frame();
            r.rip = 1u64 << n;
            r.rcx = r.rip;
            assert!(!sysret_allowed(&r), "rip 2^{n}");
        }
        let mut r = syscall_frame();
        r.rip = TASK_SIZE_MAX - 2;
        r.rcx = r.rip;
        assert!(sysret_allowed(&r));
    }
}

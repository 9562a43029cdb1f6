//! The SYSRET-or-IRET decision (E01, E02), made in Rust on the final frame.
//!
//! SYSRET restores only RIP (from RCX), RFLAGS (from R11) and fixed selectors. It is used
//! only when that is exactly the frame: anything a signal, ptrace, exec or sigreturn changed
//! goes back by IRET, which restores everything. A non-canonical RIP is never handed to SYSRET:
//! on Intel that #GP is taken in ring 0 on the user's stack (CVE-2012-0217). The compat
//! SYSCALL's SYSRETL ([`sysretl_allowed`]) is decided by the same conditions but one (R11,
//! which its stub takes from the flags slot).

use crate::frame::{Regs, rflags};
use crate::gdt::{USER_CS, USER_DS, USER32_CS};

/// Highest user address + 1. The last page below 2^47 is never mapped, so a SYSCALL at the
/// very top cannot leave a non-canonical RCX (E03).
pub const TASK_SIZE_MAX: u64 = (1 << 47) - 4096;

/// Highest EIP + 1 that SYSRETL can return to: it loads EIP from ECX, so a RIP at or above
/// 4 GiB would come back truncated.
pub const SYSRETL_IP_END: u64 = 1 << 32;

/// True when SYSRET returns to exactly the state in `regs`.
#[inline(always)]
pub fn sysret_allowed(regs: &Regs) -> bool {
    sysret_frame_ok(regs, regs.rcx, USER_CS, TASK_SIZE_MAX)
}

/// True when SYSRETL returns to exactly the state in `regs` (Linux's opportunistic SYSRETL at
/// the end of `do_fast_syscall_32`). `return_ip` is where the compat entry chose to return:
/// the vDSO's landing pad, or the instruction after `syscall` without one. The frame's RCX
/// slot holds the caller's second argument (EBP), not the return EIP, so the "RIP = RCX" of
/// the 64-bit test becomes "RIP = the entry's return point"; SYSRETL's stub loads ECX from the
/// frame's RIP (ECX is clobbered on this way, as in Linux, where the vDSO restores it).
/// The other terms are SYSRET's, with the compat CS, but for "R11 = RFLAGS": the SYSRETL stub
/// takes R11 from the frame's flags slot, as Linux's does, so the flags are restored whatever
/// the R11 slot holds (a SYSENTER frame's is the user's R11); and for the RIP bound: SYSRETL's
/// EIP is ECX, so RIP must be below 4 GiB, which "RIP = `return_ip`" already says, `return_ip`
/// being a u32 (the landing pad of an i386 address space, which ends below 4 GiB, or the EIP
/// SYSCALL left in ECX).
///
/// Unlike [`sysret_allowed`]'s test this is a chain of branches: the first term that fails decides
/// (an untouched frame passes all of them), and each is a compare of a frame slot with a
/// constant or a register and a jump, fewer instructions than loading every term and or-ing
/// the results (issue 12's count of the compat fast paths).
#[inline(always)]
pub fn sysretl_allowed(regs: &Regs, return_ip: u32) -> bool {
    use crate::test_hooks::{Check, enabled};
    if regs.rip != u64::from(return_ip) && enabled(Check::SysretRcx) {
        return false;
    }
    if regs.cs != USER32_CS as u64 && enabled(Check::SysretCs) {
        return false;
    }
    if regs.ss != USER_DS as u64 && enabled(Check::SysretSs) {
        return false;
    }
    regs.rflags & (rflags::RF | rflags::TF) == 0 || !enabled(Check::SysretTf)
}

/// The conditions SYSRET needs, each switchable by its own
/// `kentry.break=` in test kernels: RIP is where the entry would return to (nothing — a
/// signal, a tracer, exec, sigreturn — moved it), R11 equals RFLAGS (SYSRET loads the flags
/// from R11), CS and SS are the selectors the instruction loads, RIP is below `ip_end` (E01;
/// for SYSRETL, EIP fits ECX), and neither RF nor TF is set (SYSRET cannot restore RF, and
/// restores TF with a trap before the first user instruction).
#[inline(always)]
fn sysret_frame_ok(regs: &Regs, return_ip: u64, cs: u16, ip_end: u64) -> bool {
    use crate::test_hooks::{Check, enabled};
    // Written as one expression of ANDs (no short-circuit branches needed).
    ((regs.rip == return_ip) | !enabled(Check::SysretRcx))
        & ((regs.r11 == regs.rflags) | !enabled(Check::SysretR11))
        & ((regs.cs == cs as u64) | !enabled(Check::SysretCs))
        & ((regs.ss == USER_DS as u64) | !enabled(Check::SysretSs))
        & ((regs.rip < ip_end) | !enabled(Check::SysretNoncanonical))
        & ((regs.rflags & (rflags::RF | rflags::TF) == 0) | !enabled(Check::SysretTf))
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

    fn compat_frame() -> Regs {
        let mut r = Regs::new_user(0x0804_9000, 0xffff_d000);
        r.cs = USER32_CS as u64;
        r.rcx = 0x1234; // the caller's EBP, in ECX's slot
        r.rflags = 0x246;
        r.r11 = r.rflags;
        r
    }

    #[test]
    fn plain_compat_frame_may_sysretl() {
        let r = compat_frame();
        assert!(sysretl_allowed(&r, r.rip as u32));
        assert!(!sysret_allowed(&r), "a compat frame never goes by SYSRETQ");
    }

    #[test]
    fn each_compat_condition_forces_iret() {
        let base = compat_frame();
        let landing = base.rip as u32;
        let cases: [(&str, fn(&mut Regs)); 7] = [
            ("rip moved", |r| r.rip += 5),
            ("64-bit cs", |r| r.cs = USER_CS as u64),
            ("ss", |r| r.ss = 0x18),
            ("eip past 4 GiB", |r| r.rip += SYSRETL_IP_END),
            ("TF", |r| {
                r.rflags |= rflags::TF;
                r.r11 = r.rflags
            }),
            ("RF", |r| {
                r.rflags |= rflags::RF;
                r.r11 = r.rflags
            }),
            ("exec's fresh frame", |r| {
                r.rip = 0x0804_8000;
                r.r11 = 0;
                r.rflags = 0x202
            }),
        ];
        for (name, change) in cases {
            let mut r = base;
            change(&mut r);
            assert!(!sysretl_allowed(&r, landing), "{name} must force IRET");
        }
    }

    #[test]
    fn compat_r11_slot_does_not_matter() {
        // The SYSRETL stub loads R11 from the flags slot: a SYSENTER frame's R11 slot holds
        // the user's R11, a tracer may have written it; neither forces IRET.
        let mut r = compat_frame();
        r.r11 = 0x1234_5678_9abc_def0;
        assert!(sysretl_allowed(&r, r.rip as u32));
    }

    #[test]
    fn a_rip_past_4_gib_is_refused() {
        // The return point is a u32; a RIP at or above 4 GiB (a tracer's, say) never equals
        // it, even where its low half does (SYSRETL would return there truncated).
        let mut r = compat_frame();
        r.rip = SYSRETL_IP_END + 0x1000;
        assert!(!sysretl_allowed(&r, 0x1000));
        r.rip = SYSRETL_IP_END - 2;
        assert!(sysretl_allowed(&r, r.rip as u32));
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

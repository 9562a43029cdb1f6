//! Exception vectors and the per-vector facts the IDT and the stubs need.

use crate::gdt::ist;

/// Divide error.
pub const DE: u8 = 0;
/// Debug.
pub const DB: u8 = 1;
/// Non-maskable interrupt.
pub const NMI: u8 = 2;
/// Breakpoint (`int3`).
pub const BP: u8 = 3;
/// Overflow (`into`).
pub const OF: u8 = 4;
/// Bound range.
pub const BR: u8 = 5;
/// Invalid opcode.
pub const UD: u8 = 6;
/// Device not available.
pub const NM: u8 = 7;
/// Double fault.
pub const DF: u8 = 8;
/// Invalid TSS.
pub const TS: u8 = 10;
/// Segment not present.
pub const NP: u8 = 11;
/// Stack-segment fault.
pub const SS: u8 = 12;
/// General protection.
pub const GP: u8 = 13;
/// Page fault.
pub const PF: u8 = 14;
/// x87 floating-point error.
pub const MF: u8 = 16;
/// Alignment check.
pub const AC: u8 = 17;
/// Machine check.
pub const MC: u8 = 18;
/// SIMD floating-point exception.
pub const XM: u8 = 19;
/// Virtualization exception.
pub const VE: u8 = 20;
/// Control-protection exception.
pub const CP: u8 = 21;
/// The first vector that is not an exception.
pub const FIRST_EXTERNAL: u8 = 32;
/// The legacy 32-bit syscall gate, reachable with `int $0x80` from ring 3.
pub const IA32_SYSCALL: u8 = 0x80;

/// Whether the CPU pushes an error code for this vector. The stubs push -1 for the others so
/// that every vector produces the same frame.
pub const fn has_error_code(v: u8) -> bool {
    matches!(v, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

/// The IST slot of a vector, 0 for none. Only the "paranoid" vectors — those that can hit
/// the SYSCALL window or any other instruction with a user RSP or user GS — have one.
/// #GP/#NP/#SS deliberately do not (CVE-2014-9322).
pub const fn ist_slot(v: u8) -> u8 {
    match v {
        DF => ist::DOUBLE_FAULT,
        NMI => ist::NMI,
        DB => ist::DEBUG,
        MC => ist::MACHINE_CHECK,
        _ => 0,
    }
}

/// Paranoid vectors decide the GS base from MSR_GS_BASE, never from the saved CS.
pub const fn is_paranoid(v: u8) -> bool {
    ist_slot(v) != 0
}

/// Gate privilege: only #BP, #OF and the int $0x80 gate can be reached by `int n` from ring 3
/// (Linux's layout; `mov_ss_trap` relies on vector 4 being DPL3).
pub const fn gate_dpl(v: u8) -> u8 {
    match v {
        BP | OF | IA32_SYSCALL => 3,
        _ => 0,
    }
}

/// A short name for vector `v`, for reports.
pub const fn name(v: u8) -> &'static str {
    match v {
        DE => "#DE divide error",
        DB => "#DB debug",
        NMI => "NMI",
        BP => "#BP breakpoint",
        OF => "#OF overflow",
        BR => "#BR bound range",
        UD => "#UD invalid opcode",
        NM => "#NM device not available",
        DF => "#DF double fault",
        TS => "#TS invalid TSS",
        NP => "#NP segment not present",
        SS => "#SS stack fault",
        GP => "#GP general protection",
        PF => "#PF page fault",
        MF => "#MF x87 error",
        AC => "#AC alignment check",
        MC => "#MC machine check",
        XM => "#XM SIMD exception",
        VE => "#VE virtualization",
        CP => "#CP control protection",
        32..=255 => "interrupt",
        _ => "reserved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paranoid_set_is_exactly_the_four() {
        let p: Vec<u8> = (0..=255u8).filter(|&v| is_paranoid(v)).collect();
        assert_eq!(p, vec![DB, NMI, DF, MC]);
        let slots: Vec<u8> = p.iter().map(|&v| ist_slot(v)).collect();
        assert_eq!(slots, vec![3, 2, 1, 4]);
    }

    #[test]
    fn only_three_user_gates() {
        let u: Vec<u8> = (0..=255u8).filter(|&v| gate_dpl(v) == 3).collect();
        assert_eq!(u, vec![BP, OF, IA32_SYSCALL]);
    }
}

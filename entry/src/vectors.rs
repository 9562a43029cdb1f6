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
/// #VC, the VMM communication exception (SEV-ES): has an error code.
pub const VC: u8 = 29;
/// #SX, the security exception (SVM): has an error code.
pub const SX: u8 = 30;
/// The first vector that is not an exception.
pub const FIRST_EXTERNAL: u8 = 32;
/// The legacy 32-bit syscall gate, reachable with `int $0x80` from ring 3.
pub const IA32_SYSCALL: u8 = 0x80;

/// The vectors for which the CPU pushes an error code: the one list, from which
/// [`has_error_code`] and the stubs' [`ERROR_CODE_VECTORS`] are derived. The stubs push -1
/// for every other vector, so that every vector produces the same frame.
const ERROR_CODE_LIST: [u8; 10] = [DF, TS, NP, SS, GP, PF, AC, CP, VC, SX];

/// Whether the CPU pushes an error code for this vector.
pub const fn has_error_code(v: u8) -> bool {
    let mut i = 0;
    while i < ERROR_CODE_LIST.len() {
        if ERROR_CODE_LIST[i] == v {
            return true;
        }
        i += 1;
    }
    false
}

/// The IST slot of a vector, 0 for none: the one list of IST vectors. Only the "paranoid"
/// vectors — those that can hit the SYSCALL window or any other instruction with a user RSP
/// or user GS — have one. #GP/#NP/#SS deliberately do not (CVE-2014-9322).
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

/// Whether a paranoid vector taken in user mode leaves its IST stack and goes on as an
/// ordinary user entry on the task stack (`kentry_ist_entry`, E19). #DF never does: it is an
/// abort and always runs the paranoid path on its own IST stack, whatever the mode.
pub const fn ist_user_entry(v: u8) -> bool {
    is_paranoid(v) && v != DF
}

/// Bit `v` set for every vector `v` that the const fn `$pred` holds for. Every such vector
/// must be an exception (below 32); const evaluation fails otherwise, since the stubs test
/// one `u32`. (A macro: const fns cannot call through function pointers.)
macro_rules! exception_mask {
    ($pred:path) => {{
        let mut mask = 0u32;
        let mut v: u16 = 0;
        while v <= 255 {
            if $pred(v as u8) {
                assert!(
                    v < FIRST_EXTERNAL as u16,
                    "only exceptions fit the stubs' masks"
                );
                mask |= 1 << v;
            }
            v += 1;
        }
        mask
    }};
}

/// [`has_error_code`] as a bit mask over the exception vectors, for the IDT stubs' asm: a stub
/// pushes the -1 error code exactly when its bit is clear.
pub const ERROR_CODE_VECTORS: u32 = exception_mask!(has_error_code);
/// [`is_paranoid`] as a bit mask over the exception vectors.
pub const IST_VECTORS: u32 = exception_mask!(is_paranoid);
/// [`ist_user_entry`] as a bit mask: the stubs that jump to `kentry_ist_entry`.
pub const IST_USER_ENTRY_VECTORS: u32 = exception_mask!(ist_user_entry);
/// The paranoid vectors that jump straight to the paranoid path (#DF).
pub const IST_PARANOID_ONLY_VECTORS: u32 = IST_VECTORS & !IST_USER_ENTRY_VECTORS;

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
        VC => "#VC VMM communication",
        SX => "#SX security exception",
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

    /// The asm tests one bit per vector: for every vector, that bit must say what the
    /// function the Rust half uses says.
    #[test]
    fn stub_masks_agree_with_the_functions() {
        let bit = |mask: u32, v: u8| v < 32 && (mask >> v) & 1 == 1;
        for v in 0..=255u8 {
            assert_eq!(bit(ERROR_CODE_VECTORS, v), has_error_code(v), "vector {v}");
            assert_eq!(bit(IST_VECTORS, v), is_paranoid(v), "vector {v}");
            assert_eq!(
                bit(IST_USER_ENTRY_VECTORS, v),
                ist_user_entry(v),
                "vector {v}"
            );
            let paranoid_only = is_paranoid(v) && !ist_user_entry(v);
            assert_eq!(
                bit(IST_PARANOID_ONLY_VECTORS, v),
                paranoid_only,
                "vector {v}"
            );
        }
        // Each list reaches its mask: neither is empty.
        assert_ne!(ERROR_CODE_VECTORS, 0);
        assert_ne!(IST_USER_ENTRY_VECTORS, 0);
        assert_ne!(IST_PARANOID_ONLY_VECTORS, 0);
    }

    /// The masks against values written out by hand from the SDM (vol. 3, table 6-1: error
    /// codes for #DF 8, #TS 10, #NP 11, #SS 12, #GP 13, #PF 14, #AC 17, #CP 21, #VC 29, #SX 30)
    /// and from Linux's IST use (#DB 1, NMI 2, #DF 8, #MC 18): not from the list they are
    /// built from, so a wrong list fails here.
    #[test]
    fn masks_match_values_written_by_hand() {
        assert_eq!(ERROR_CODE_VECTORS, 0x6022_7d00);
        assert_eq!(IST_VECTORS, 0x0004_0106);
        assert_eq!(IST_USER_ENTRY_VECTORS, 0x0004_0006);
        assert_eq!(IST_PARANOID_ONLY_VECTORS, 0x0000_0100);
    }

    #[test]
    fn only_three_user_gates() {
        let u: Vec<u8> = (0..=255u8).filter(|&v| gate_dpl(v) == 3).collect();
        assert_eq!(u, vec![BP, OF, IA32_SYSCALL]);
    }
}

//! Protections: PROT_* and VMA flags, ELF segment flags to PROT_*, and the page-table entry
//! for a page of a mapping.

pub const PROT_READ: u32 = 1;
pub const PROT_WRITE: u32 = 2;
pub const PROT_EXEC: u32 = 4;
pub const PROT_RWX: u32 = PROT_READ | PROT_WRITE | PROT_EXEC;

/// VMA flags.
pub const VM_SHARED: u32 = 1 << 0;
pub const VM_GROWSDOWN: u32 = 1 << 1;
/// MADV_DONTFORK: the child does not get this mapping.
pub const VM_DONTCOPY: u32 = 1 << 2;
/// MADV_WIPEONFORK: the child gets this mapping empty.
pub const VM_WIPEONFORK: u32 = 1 << 3;
/// A shared file mapping that mprotect may not make writable (Linux's VM_MAYWRITE clear: the
/// descriptor was not open for writing, or the file is write-sealed).
pub const VM_NOMAYWRITE: u32 = 1 << 4;

/// x86-64 page-table entry bits.
pub const PTE_P: u64 = 1 << 0;
pub const PTE_W: u64 = 1 << 1;
pub const PTE_U: u64 = 1 << 2;
pub const PTE_NX: u64 = 1 << 63;
/// A software bit in a non-present leaf entry: a PROT_NONE page whose frame is kept.
pub const PTE_PROTNONE: u64 = 1 << 58;

/// The leaf entry mapping `pa` with `prot`; `writable` is false while the page must stay
/// read-only (the zero page, a page shared copy-on-write). PROT_NONE keeps the frame in a
/// non-present entry; x86 cannot map write-only or exec-only, so any access right maps the
/// page present and readable.
#[inline]
pub fn pte_for(pa: u64, prot: u32, writable: bool) -> u64 {
    if prot & PROT_RWX == 0 {
        return pa | PTE_PROTNONE;
    }
    let mut e = pa | PTE_P | PTE_U;
    if writable && prot & PROT_WRITE != 0 {
        e |= PTE_W;
    }
    if prot & PROT_EXEC == 0 {
        e |= PTE_NX;
    }
    e
}

/// ELF program-header flags (p_flags).
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// The PROT_* of an ELF segment with flags `p_flags` (binfmt_elf's make_prot).
#[inline]
pub fn prot_of_segment(p_flags: u32) -> u32 {
    let mut p = 0;
    if p_flags & PF_R != 0 {
        p |= PROT_READ;
    }
    if p_flags & PF_W != 0 {
        p |= PROT_WRITE;
    }
    if p_flags & PF_X != 0 {
        p |= PROT_EXEC;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const PA: u64 = 0x1234_5000;

    #[test]
    fn prot_none_keeps_the_frame_in_a_non_present_entry() {
        assert_eq!(pte_for(PA, 0, true), 0x1234_5000 | (1 << 58));
        assert_eq!(pte_for(PA, 0, true) & 1, 0, "PROT_NONE must not be present");
    }

    #[test]
    fn read_only_is_present_user_no_write_no_exec() {
        assert_eq!(pte_for(PA, 1, true), 0x1234_5000 | 0b101 | (1 << 63));
    }

    #[test]
    fn read_write_sets_w_only_when_writable() {
        assert_eq!(pte_for(PA, 3, true), 0x1234_5000 | 0b111 | (1 << 63));
        // Copy-on-write or the zero page: read-only until the write fault.
        assert_eq!(pte_for(PA, 3, false), 0x1234_5000 | 0b101 | (1 << 63));
    }

    #[test]
    fn exec_clears_nx() {
        assert_eq!(pte_for(PA, 5, true), 0x1234_5000 | 0b101);
        assert_eq!(pte_for(PA, 7, true), 0x1234_5000 | 0b111);
    }

    #[test]
    fn write_only_and_exec_only_map_present() {
        // x86 has no write-only or exec-only pages: Linux maps them readable.
        assert_eq!(pte_for(PA, 2, true), 0x1234_5000 | 0b111 | (1 << 63));
        assert_eq!(pte_for(PA, 4, true), 0x1234_5000 | 0b101);
    }

    #[test]
    fn elf_flags_translate_bit_by_bit() {
        // p_flags: X=1 W=2 R=4; PROT_*: R=1 W=2 X=4.
        assert_eq!(prot_of_segment(0), 0);
        assert_eq!(prot_of_segment(4), 1); // R
        assert_eq!(prot_of_segment(5), 1 | 4); // R X
        assert_eq!(prot_of_segment(6), 1 | 2); // R W
        assert_eq!(prot_of_segment(7), 7);
        assert_eq!(prot_of_segment(1), 4); // X only
        assert_eq!(prot_of_segment(0xf0_0004), 1, "other bits are ignored");
    }
}

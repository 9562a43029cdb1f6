//! Pages: their size and address alignment.

pub const PAGE_SIZE: u64 = 4096;

/// `v` rounded up to a multiple of `a` (a power of two).
#[inline]
pub fn align_up(v: u64, a: u64) -> u64 {
    (v + a - 1) & !(a - 1)
}

/// `v` rounded down to a multiple of `a` (a power of two).
#[inline]
pub fn align_down(v: u64, a: u64) -> u64 {
    v & !(a - 1)
}

/// Whether `v` is page-aligned.
#[inline]
pub fn page_aligned(v: u64) -> bool {
    v & (PAGE_SIZE - 1) == 0
}

/// PAGE_ALIGN: `v` rounded up to a page boundary, `None` when that overflows (a length from
/// user space near 2^64).
#[inline]
pub fn page_align_checked(v: u64) -> Option<u64> {
    v.checked_add(PAGE_SIZE - 1).map(|x| x & !(PAGE_SIZE - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_up_rounds_to_the_next_boundary_and_keeps_aligned_values() {
        assert_eq!(align_up(0, 4096), 0);
        assert_eq!(align_up(1, 4096), 4096);
        assert_eq!(align_up(4095, 4096), 4096);
        assert_eq!(align_up(4096, 4096), 4096);
        assert_eq!(align_up(4097, 4096), 8192);
        assert_eq!(align_up(0x20_0001, 0x20_0000), 0x40_0000);
    }

    #[test]
    fn align_down_truncates() {
        assert_eq!(align_down(0, 4096), 0);
        assert_eq!(align_down(4095, 4096), 0);
        assert_eq!(align_down(4096, 4096), 4096);
        assert_eq!(align_down(0x7fff_ffff_efff, 4096), 0x7fff_ffff_e000);
        assert_eq!(align_down(0x5555_5555_4321, 0x20_0000), 0x5555_5540_0000);
    }

    #[test]
    fn page_align_checked_rounds_up_or_overflows() {
        assert_eq!(page_align_checked(0), Some(0));
        assert_eq!(page_align_checked(1), Some(0x1000));
        assert_eq!(page_align_checked(0x1000), Some(0x1000));
        assert_eq!(page_align_checked(u64::MAX - 0xfff), Some(u64::MAX - 0xfff));
        assert_eq!(page_align_checked(u64::MAX - 0xffe), None);
    }

    #[test]
    fn page_aligned_only_on_multiples_of_4096() {
        assert!(page_aligned(0));
        assert!(page_aligned(0x1000));
        assert!(!page_aligned(0x1001));
        assert!(!page_aligned(0x800));
    }
}

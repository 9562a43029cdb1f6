//! The VMA rules, with expected values worked out by hand from Linux's behaviour.

use super::*;
use crate::errno::{EINVAL, ENOMEM, EPERM};
use crate::prot::{PROT_READ, PROT_WRITE, VM_SHARED};

/// A backing for the tests: files and shared objects are told apart by a number.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TB {
    Anon,
    /// (file, limit)
    File(u32, u64),
    Shared(u32),
}

impl MapBacking for TB {
    fn anon() -> Self {
        TB::Anon
    }
    fn is_anon(&self) -> bool {
        matches!(self, TB::Anon)
    }
    fn is_shared(&self) -> bool {
        matches!(self, TB::Shared(_))
    }
    fn same_object(&self, other: &Self) -> bool {
        match (self, other) {
            (TB::File(a, la), TB::File(b, lb)) => a == b && la == lb,
            (TB::Shared(a), TB::Shared(b)) => a == b,
            _ => false,
        }
    }
}

const RW: u32 = PROT_READ | PROT_WRITE;

fn anon(start: u64, end: u64) -> Vma<TB> {
    Vma::anon(start, end, RW, 0)
}

fn file(start: u64, end: u64, id: u32, pgoff: u64) -> Vma<TB> {
    Vma {
        start,
        end,
        prot: PROT_READ,
        flags: 0,
        backing: TB::File(id, 0x10_0000),
        pgoff,
    }
}

fn list(vmas: &[Vma<TB>]) -> VmaList<TB> {
    let mut l = VmaList::new();
    for v in vmas {
        l.insert(v.clone());
    }
    l
}

fn ranges(l: &VmaList<TB>) -> Vec<(u64, u64)> {
    l.iter().map(|v| (v.start, v.end)).collect()
}

// ---- layout constants ---------------------------------------------------------------------

#[test]
fn layout_constants_match_linux_x86_64() {
    // 2^47 minus the guard page.
    assert_eq!(TASK_SIZE, 0x7fff_ffff_f000);
    // TASK_SIZE - (8 MiB rlimit + 16 GiB randomisation + 1 MiB guard gap).
    assert_eq!(MMAP_BASE, 0x7ffb_ff6f_f000);
    // The well-known PIE base without randomisation.
    assert_eq!(ELF_ET_DYN_BASE, 0x5555_5555_4000);
    assert_eq!(LEGACY_MMAP_BASE, 0x2aaa_aaaa_b000);
    assert_eq!(STACK_TOP, 0x7ffd_ffff_f000);
    assert_eq!(STACK_GUARD_GAP, 0x10_0000);
}

// ---- split and merge ------------------------------------------------------------------------

#[test]
fn split_anonymous_keeps_offset_zero() {
    let mut lo = anon(0x1000, 0x5000);
    let hi = lo.split_off(0x3000);
    assert_eq!((lo.start, lo.end, lo.pgoff), (0x1000, 0x3000, 0));
    assert_eq!((hi.start, hi.end, hi.pgoff), (0x3000, 0x5000, 0));
}

#[test]
fn split_file_moves_the_upper_offset() {
    let mut lo = file(0x40_0000, 0x40_5000, 1, 0x2000);
    let hi = lo.split_off(0x40_2000);
    assert_eq!((lo.end, lo.pgoff), (0x40_2000, 0x2000));
    assert_eq!((hi.start, hi.end, hi.pgoff), (0x40_2000, 0x40_5000, 0x4000));
}

#[test]
fn merge_rules() {
    assert!(anon(0x1000, 0x2000).can_merge(&anon(0x2000, 0x3000)));
    assert!(
        !anon(0x1000, 0x2000).can_merge(&anon(0x3000, 0x4000)),
        "gap"
    );
    let mut ro = anon(0x2000, 0x3000);
    ro.prot = PROT_READ;
    assert!(!anon(0x1000, 0x2000).can_merge(&ro), "protection differs");
    let mut grows = anon(0x2000, 0x3000);
    grows.flags = VM_GROWSDOWN;
    assert!(!anon(0x1000, 0x2000).can_merge(&grows), "flags differ");
    // A file: same file and limit, offsets that continue.
    assert!(file(0x1000, 0x3000, 1, 0).can_merge(&file(0x3000, 0x4000, 1, 0x2000)));
    assert!(!file(0x1000, 0x3000, 1, 0).can_merge(&file(0x3000, 0x4000, 1, 0x3000)));
    assert!(!file(0x1000, 0x3000, 1, 0).can_merge(&file(0x3000, 0x4000, 2, 0x2000)));
    let mut other_limit = file(0x3000, 0x4000, 1, 0x2000);
    other_limit.backing = TB::File(1, 0x1234);
    assert!(!file(0x1000, 0x3000, 1, 0).can_merge(&other_limit));
    // Anonymous next to a file never merges, even with matching numbers.
    let mut a = anon(0x3000, 0x4000);
    a.prot = PROT_READ;
    assert!(!file(0x1000, 0x3000, 1, 0).can_merge(&a));
    let shm = |s, e, id, off| Vma {
        start: s,
        end: e,
        prot: RW,
        flags: VM_SHARED,
        backing: TB::Shared(id),
        pgoff: off,
    };
    assert!(shm(0x1000, 0x2000, 7, 0).can_merge(&shm(0x2000, 0x3000, 7, 0x1000)));
    assert!(!shm(0x1000, 0x2000, 7, 0).can_merge(&shm(0x2000, 0x3000, 8, 0x1000)));
}

#[test]
fn insert_merges_with_both_neighbours() {
    let mut l = list(&[anon(0x1000, 0x2000), anon(0x3000, 0x4000)]);
    assert_eq!(ranges(&l), [(0x1000, 0x2000), (0x3000, 0x4000)]);
    l.insert(anon(0x2000, 0x3000));
    assert_eq!(ranges(&l), [(0x1000, 0x4000)]);
}

#[test]
fn insert_keeps_order_and_unmergeable_neighbours() {
    let mut l = list(&[anon(0x5000, 0x6000), file(0x1000, 0x2000, 1, 0)]);
    l.insert(anon(0x2000, 0x3000));
    assert_eq!(
        ranges(&l),
        [(0x1000, 0x2000), (0x2000, 0x3000), (0x5000, 0x6000)]
    );
}

#[test]
fn remove_range_inside_one_mapping_leaves_two() {
    let mut l = list(&[file(0x1000, 0x9000, 3, 0)]);
    let i = l.remove_range(0x3000, 0x5000);
    assert_eq!(i, 1);
    assert_eq!(ranges(&l), [(0x1000, 0x3000), (0x5000, 0x9000)]);
    assert_eq!(l[1].pgoff, 0x4000);
}

#[test]
fn remove_range_across_mappings_and_holes() {
    let mut l = list(&[
        anon(0x1000, 0x3000),
        file(0x4000, 0x6000, 1, 0),
        anon(0x8000, 0xa000),
    ]);
    let i = l.remove_range(0x2000, 0x9000);
    assert_eq!(i, 1);
    assert_eq!(ranges(&l), [(0x1000, 0x2000), (0x9000, 0xa000)]);
}

#[test]
fn split_at_a_boundary_or_in_a_hole_changes_nothing() {
    let mut l = list(&[anon(0x1000, 0x2000), file(0x2000, 0x3000, 1, 0)]);
    l.split_at_addr(0x2000);
    l.split_at_addr(0x5000);
    assert_eq!(ranges(&l), [(0x1000, 0x2000), (0x2000, 0x3000)]);
}

#[test]
fn merge_all_after_a_protection_change_reunites() {
    let mut l = list(&[anon(0x1000, 0x4000)]);
    l.split_at_addr(0x2000);
    l.split_at_addr(0x3000);
    l[1].prot = PROT_READ;
    l.merge_all();
    assert_eq!(
        ranges(&l),
        [(0x1000, 0x2000), (0x2000, 0x3000), (0x3000, 0x4000)]
    );
    l[1].prot = RW;
    l.merge_all();
    assert_eq!(ranges(&l), [(0x1000, 0x4000)]);
}

// ---- lookup ---------------------------------------------------------------------------------

#[test]
fn find_is_start_inclusive_end_exclusive() {
    let l = list(&[anon(0x1000, 0x2000), file(0x4000, 0x6000, 1, 0)]);
    assert_eq!(l.find(0xfff), None);
    assert_eq!(l.find(0x1000), Some(0));
    assert_eq!(l.find(0x1fff), Some(0));
    assert_eq!(l.find(0x2000), None);
    assert_eq!(l.find(0x5fff), Some(1));
    assert_eq!(l.find(0x6000), None);
}

#[test]
fn find_does_not_trust_a_stale_cache() {
    let mut l = list(&[anon(0x1000, 0x2000), file(0x4000, 0x6000, 1, 0)]);
    assert_eq!(l.find(0x4000), Some(1)); // caches index 1
    // Shrinking entry 1 by hand keeps the index but not the range.
    l[1].start = 0x5000;
    assert_eq!(l.find(0x4000), None);
    assert_eq!(l.find(0x1800), Some(0));
}

#[test]
fn free_and_mapped_ranges() {
    let l = list(&[
        anon(0x1000, 0x2000),
        file(0x2000, 0x3000, 1, 0),
        anon(0x5000, 0x6000),
    ]);
    assert!(
        l.is_mapped(0x1000, 0x3000),
        "two touching mappings cover it"
    );
    assert!(!l.is_mapped(0x1000, 0x4000));
    assert!(!l.is_mapped(0x0, 0x2000));
    assert!(l.is_free(0x3000, 0x5000));
    assert!(!l.is_free(0x3000, 0x5001));
    assert!(!l.is_free(0x2fff, 0x4000));
    assert!(l.is_free(0x6000, 0x7000));
}

#[test]
fn the_guard_gap_below_a_stack_is_not_free_for_hints() {
    let mut stack = anon(0x7000_0000, 0x7010_0000);
    stack.flags = VM_GROWSDOWN;
    assert_eq!(stack.start_gap(), 0x6ff0_0000);
    let l = list(&[stack]);
    assert!(l.fits_before_next(0x6fe0_0000, 0x6ff0_0000));
    assert!(!l.fits_before_next(0x6fe0_0000, 0x6ff0_1000));
    // is_free ignores the gap (MAP_FIXED may go there).
    assert!(l.is_free(0x6fe0_0000, 0x7000_0000));
}

// ---- get_unmapped_area ----------------------------------------------------------------------

#[test]
fn top_down_below_mmap_base() {
    let mut l: VmaList<TB> = VmaList::new();
    assert_eq!(
        l.get_unmapped_area(0, 0x1000, false, false),
        Ok(0x7ffb_ff6f_e000)
    );
    l.insert(anon(0x7ffb_ff6f_e000, 0x7ffb_ff6f_f000));
    // The next one right below (and the two would merge as memory).
    assert_eq!(
        l.get_unmapped_area(0, 0x2000, false, false),
        Ok(0x7ffb_ff6f_c000)
    );
}

#[test]
fn top_down_skips_a_gap_too_small() {
    // Mappings at [B-0x2000, B) and [B-0x5000, B-0x3000): a one-page hole between them.
    let b = MMAP_BASE;
    let l = list(&[anon(b - 0x2000, b), file(b - 0x5000, b - 0x3000, 1, 0)]);
    assert_eq!(l.get_unmapped_area(0, 0x1000, false, false), Ok(b - 0x3000));
    assert_eq!(l.get_unmapped_area(0, 0x2000, false, false), Ok(b - 0x7000));
}

#[test]
fn a_free_hint_is_taken_page_aligned_up() {
    let l = list(&[anon(0x1000_0000, 0x1000_1000)]);
    assert_eq!(
        l.get_unmapped_area(0x2000_0001, 0x1000, false, false),
        Ok(0x2000_1000)
    );
    // Occupied: top-down instead.
    assert_eq!(
        l.get_unmapped_area(0x1000_0000, 0x1000, false, false),
        Ok(0x7ffb_ff6f_e000)
    );
}

#[test]
fn a_hint_in_a_stack_guard_gap_is_refused() {
    let mut stack = anon(0x7000_0000, 0x7010_0000);
    stack.flags = VM_GROWSDOWN;
    let l = list(&[stack]);
    assert_eq!(
        l.get_unmapped_area(0x6ff0_0000, 0x1000, false, false),
        Ok(0x7ffb_ff6f_e000)
    );
    assert_eq!(
        l.get_unmapped_area(0x6fef_f000, 0x1000, false, false),
        Ok(0x6fef_f000)
    );
}

#[test]
fn fixed_is_checked_not_moved() {
    let l: VmaList<TB> = VmaList::new();
    assert_eq!(
        l.get_unmapped_area(0x1234_5000, 0x1000, true, false),
        Ok(0x1234_5000)
    );
    assert_eq!(
        l.get_unmapped_area(0x1234_5001, 0x1000, true, false),
        Err(EINVAL)
    );
    assert_eq!(l.get_unmapped_area(0, 0x1000, true, false), Err(EPERM));
    assert_eq!(
        l.get_unmapped_area(0x7fff_ffff_e000, 0x2000, true, false),
        Err(ENOMEM)
    );
    assert_eq!(
        l.get_unmapped_area(0x7fff_ffff_e000, 0x1000, true, false),
        Ok(0x7fff_ffff_e000)
    );
    assert_eq!(l.get_unmapped_area(0, 1 << 47, false, false), Err(ENOMEM));
}

#[test]
fn map32_searches_the_second_gib_bottom_up() {
    let mut l: VmaList<TB> = VmaList::new();
    assert_eq!(l.get_unmapped_area(0, 0x1000, false, true), Ok(0x4000_0000));
    l.insert(anon(0x4000_0000, 0x4000_2000));
    assert_eq!(l.get_unmapped_area(0, 0x1000, false, true), Ok(0x4000_2000));
    l.insert(file(0x4000_2000, 0x8000_0000, 1, 0));
    assert_eq!(l.get_unmapped_area(0, 0x1000, false, true), Err(ENOMEM));
}

#[test]
fn nothing_below_mmap_base_falls_back_bottom_up() {
    let l = list(&[anon(0x1000, MMAP_BASE)]);
    assert_eq!(l.get_unmapped_area(0, 0x1000, false, false), Ok(MMAP_BASE));
}

// ---- brk and stack growth ---------------------------------------------------------------------

#[test]
fn brk_rules() {
    let l = list(&[anon(0x60_3000, 0x60_4000)]);
    let s = 0x60_0000;
    assert_eq!(
        l.brk_change(s, s, 0x5f_f000),
        BrkChange::Refuse,
        "below start_brk"
    );
    assert_eq!(
        l.brk_change(s, s, 0x60_0010),
        BrkChange::Grow {
            from: s,
            to: 0x60_1000
        }
    );
    assert_eq!(l.brk_change(s, 0x60_0010, 0x60_0800), BrkChange::Move);
    assert_eq!(
        l.brk_change(s, 0x60_2345, 0x60_0100),
        BrkChange::Shrink {
            from: 0x60_1000,
            to: 0x60_3000
        }
    );
    // A page of gap stays below the next mapping.
    assert_eq!(
        l.brk_change(s, s, 0x60_2000),
        BrkChange::Grow {
            from: s,
            to: 0x60_2000
        }
    );
    assert_eq!(l.brk_change(s, s, 0x60_2001), BrkChange::Refuse);
    assert_eq!(l.brk_change(s, s, 1 << 47), BrkChange::Refuse);
}

fn stack_list(below: Option<Vma<TB>>) -> VmaList<TB> {
    let mut stack = anon(0x7000_0000, 0x7001_0000);
    stack.flags = VM_GROWSDOWN;
    let mut l = list(&[stack]);
    if let Some(b) = below {
        l.insert(b);
    }
    l
}

#[test]
fn stack_grows_down_to_the_faulting_page() {
    let mut l = stack_list(None);
    assert_eq!(l.grow_down(0x6fff_eff8, STACK_RLIMIT), Some(0));
    assert_eq!(ranges(&l), [(0x6fff_e000, 0x7001_0000)]);
    // The cache points at the grown stack.
    assert_eq!(l.find(0x6fff_e000), Some(0));
}

#[test]
fn stack_growth_limits() {
    // Past RLIMIT_STACK (here 128 KiB; the stack is 64 KiB).
    let mut l = stack_list(None);
    assert_eq!(l.grow_down(0x6ffe_ffff, 0x2_0000), None);
    assert_eq!(l.grow_down(0x6fff_0000, 0x2_0000), Some(0));
    // Too close to an accessible mapping below: the guard gap (1 MiB).
    let mut l = stack_list(Some(anon(0x6fe0_0000, 0x6ff0_0000)));
    assert_eq!(l.grow_down(0x6fff_f000, STACK_RLIMIT), None);
    // A PROT_NONE mapping below does not count.
    let mut guard = anon(0x6fe0_0000, 0x6ff0_0000);
    guard.prot = 0;
    let mut l = stack_list(Some(guard));
    assert_eq!(l.grow_down(0x6fff_f000, STACK_RLIMIT), Some(1));
    // A mapping that does not grow down is not a stack.
    let mut l = list(&[anon(0x7000_0000, 0x7001_0000)]);
    assert_eq!(l.grow_down(0x6fff_f000, STACK_RLIMIT), None);
}

#[test]
fn top_down_keeps_the_guard_gap_below_a_stack() {
    // A stack just below the mmap base: a new mapping must end 1 MiB (256 pages) below it.
    let mut stack = anon(MMAP_BASE - 0x10_0000, MMAP_BASE);
    stack.flags = VM_GROWSDOWN;
    let l = list(&[stack]);
    assert_eq!(
        l.get_unmapped_area(0, 0x1000, false, false),
        Ok(0x7ffb_ff6f_f000 - 0x20_0000 - 0x1000)
    );
}

#[test]
fn bottom_up_keeps_the_guard_gap_below_a_stack() {
    // MAP_32BIT with a stack at 1 GiB + 1 MiB: its guard gap covers [1 GiB, 1 GiB + 1 MiB),
    // so the first fit is above the stack.
    let mut stack = anon(0x4010_0000, 0x4020_0000);
    stack.flags = VM_GROWSDOWN;
    let l = list(&[stack]);
    assert_eq!(l.get_unmapped_area(0, 0x1000, false, true), Ok(0x4020_0000));
    // Without the flag the hole below it is free.
    let l = list(&[anon(0x4010_0000, 0x4020_0000)]);
    assert_eq!(l.get_unmapped_area(0, 0x1000, false, true), Ok(0x4000_0000));
}

#[test]
fn brk_stays_a_page_below_a_stack_guard_gap() {
    // A stack at 7 MiB: its guard gap reaches down to 6 MiB, and a page more must stay free.
    let mut stack = anon(0x70_0000, 0x71_0000);
    stack.flags = VM_GROWSDOWN;
    let l = list(&[stack]);
    let s = 0x50_0000;
    assert_eq!(
        l.brk_change(s, s, 0x5f_f000),
        BrkChange::Grow {
            from: s,
            to: 0x5f_f000
        }
    );
    assert_eq!(l.brk_change(s, s, 0x5f_f001), BrkChange::Refuse);
}

#[test]
fn an_ia32_address_space_maps_only_below_4_gib() {
    let mut l: VmaList<TB> = VmaList::new();
    l.limits = Limits::IA32;
    // Top-down below Linux's ia32 mmap_base: 0xffffe000 - 128 MiB.
    assert_eq!(IA32_MMAP_BASE, 0xf7ff_e000);
    assert_eq!(
        l.get_unmapped_area(0, 0x1000, false, false),
        Ok(0xf7ff_d000)
    );
    // A hint past 4 GiB is ignored, not honoured.
    let a = l
        .get_unmapped_area(0x1_0000_0000, 0x1000, false, false)
        .unwrap();
    assert_eq!(a, 0xf7ff_d000);
    // MAP_FIXED past the i386 TASK_SIZE is refused, as is a length that does not fit.
    assert_eq!(
        l.get_unmapped_area(0x1_0000_0000, 0x1000, true, false),
        Err(ENOMEM)
    );
    assert_eq!(
        l.get_unmapped_area(0, 0x1_0000_0000, false, false),
        Err(ENOMEM)
    );
    // brk cannot pass it either.
    assert_eq!(
        l.brk_change(0x1000_0000, 0x1000_0000, 0x1_0000_1000),
        BrkChange::Refuse
    );
}

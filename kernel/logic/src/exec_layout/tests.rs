//! ELF and stack layout decisions, with addresses worked out by hand.

use super::*;

#[test]
fn alignment_folding_takes_only_larger_powers_of_two() {
    assert_eq!(fold_align(0x1000, 0x20_0000), 0x20_0000);
    assert_eq!(fold_align(0x20_0000, 0x1000), 0x20_0000);
    assert_eq!(fold_align(0x1000, 0x3000), 0x1000, "not a power of two");
    assert_eq!(fold_align(0x1000, 0), 0x1000);
}

#[test]
fn et_exec_is_not_moved() {
    assert_eq!(load_bias(false, 0x40_0000, 0x20_0000), 0);
}

#[test]
fn static_pie_goes_to_the_pie_base() {
    // The base every unrandomised PIE gets on x86-64 Linux.
    assert_eq!(load_bias(true, 0, 0x1000), 0x5555_5555_4000);
    // 2 MiB-aligned segments: the base aligned down to 2 MiB.
    assert_eq!(load_bias(true, 0, 0x20_0000), 0x5555_5540_0000);
    // The first segment's address comes off (page-aligned).
    assert_eq!(load_bias(true, 0x1000, 0x1000), 0x5555_5555_3000);
    assert_eq!(load_bias(true, 0x1800, 0x1000), 0x5555_5555_2000);
    // Alignment is capped at 1 GiB.
    assert_eq!(load_bias(true, 0, 1 << 31), 0x5555_4000_0000);
}

#[test]
fn brk_starts_on_the_page_after_the_last_segment() {
    assert_eq!(brk_start(0x40_1234), 0x40_2000);
    assert_eq!(brk_start(0x40_2000), 0x40_2000);
}

#[test]
fn strings_are_packed_argv_envp_execfn_then_eight_zeros() {
    let (bytes, offsets) = pack_strings(&[b"ab"], &[b"X=1"], b"/p").unwrap();
    assert_eq!(bytes, b"ab\0X=1\0/p\0\0\0\0\0\0\0\0\0");
    assert_eq!(offsets, [0, 3, 7]);
}

#[test]
fn a_string_of_max_arg_strlen_is_too_big() {
    let ok = alloc::vec![b'a'; 32 * 4096 - 1];
    assert!(pack_strings(&[&ok], &[], b"/p").is_ok());
    let big = alloc::vec![b'a'; 32 * 4096];
    assert_eq!(pack_strings(&[&big], &[], b"/p"), Err(TooBig));
    assert_eq!(pack_strings(&[], &[&big], b"/p"), Err(TooBig));
}

#[test]
fn stack_layout_for_one_argument_and_one_variable() {
    let top = 0x7ffd_ffff_f000;
    // 18 bytes of strings, argc 1, envc 1, 20 auxv pairs.
    let l = stack_layout(top, 18, 1, 1, 20).unwrap();
    assert_eq!(l.strings_low, 0x7ffd_ffff_efee);
    // "x86_64\0" ends at the 16-aligned bottom of the strings.
    assert_eq!(l.platform, 0x7ffd_ffff_efd9);
    assert_eq!(l.random, 0x7ffd_ffff_efc9);
    // 5 words (argc, argv[0], NULL, envp[0], NULL) + 20 pairs = 360 bytes below random,
    // aligned down to 16.
    assert_eq!(l.sp, 0x7ffd_ffff_ee60);
    // 128 KiB below the strings' page.
    assert_eq!(l.map_start, 0x7ffd_fffd_e000);
}

#[test]
fn stack_layout_reaches_below_a_large_argument_block() {
    let top = 0x7ffd_ffff_f000;
    // 200 KiB of pointers: the mapping must start at the stack pointer's page.
    let l = stack_layout(top, 16, 25_000, 0, 20).unwrap();
    assert_eq!(l.sp % 16, 0);
    assert_eq!(l.map_start, l.sp & !0xfff);
    assert!(l.map_start < 0x7ffd_fffd_e000);
}

#[test]
fn more_than_a_quarter_of_the_stack_rlimit_is_too_big() {
    let top = 0x7ffd_ffff_f000;
    assert_eq!(stack_layout(top, 2 << 20, 0, 0, 20), Err(TooBig));
    assert!(stack_layout(top, (2 << 20) - 4096, 0, 0, 20).is_ok());
}

#[test]
fn ia32_stack_layout_uses_four_byte_words_and_i686() {
    let top = 0xffff_e000;
    let l = stack_layout_ia32(top, 18, 1, 1, 20).unwrap();
    assert_eq!(l.strings_low, 0xffff_dfee);
    // "i686\0" (5 bytes) ends at the 16-aligned bottom of the strings (0xffffdfe0).
    assert_eq!(l.platform, 0xffff_dfdb);
    assert_eq!(l.random, 0xffff_dfcb);
    // 5 words of 4 bytes + 20 pairs of 8 = 180 bytes below random (0xffffdf17), aligned
    // down to 16.
    assert_eq!(l.sp, 0xffff_df10);
    // 128 KiB below the strings' page: fffdd000-ffffe000, as Linux's [stack] of an i386 program.
    assert_eq!(l.map_start, 0xfffd_d000);
}

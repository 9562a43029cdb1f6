//! The negative runs of memfd's seals and of clone3's struct size rules, each switched off
//! (`kentry.break=<check>`) so that its C test must fail.

use super::BootTest;

pub const NEGATIVE_FILES_BOOTS: &[BootTest] = &[
    BootTest {
        // Seals recorded but not enforced (`kentry.break=memfd_seals`): every case that
        // expects a seal's EPERM, EBUSY or EACCES fails; the rest still pass.
        name: "negative_memfd_seals",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=memfd_seals",
            "kentry.only=c_memfd_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: memfd seals are recorded but enforce nothing",
            "ok 16 maps_memfd_name",
            "not ok 17 no_sealing_seal_seal",
            "not ok 20 seal_shrink",
            "not ok 21 seal_grow",
            "not ok 22 seal_write_busy_while_mapped",
            "not ok 23 seal_write_refuses_write",
            "not ok 24 seal_write_refuses_shared_rw_mmap",
            "not ok 25 seal_write_readonly_map_stays_readonly",
            "not ok 27 seal_seal_final",
            "not ok 28 seal_future_write",
            "not ok 1 c_memfd_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // clone3 without its size rules (`kentry.break=clone3_size`): a struct with a
        // non-zero tail, one over a page and one under 64 bytes each make a child instead of
        // failing with E2BIG or EINVAL.
        name: "negative_clone3_size",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=clone3_size",
            "kentry.only=c_clone3_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: clone3 reads its struct without the size rules",
            "ok 1 clone3_sizes_64_80_88_96",
            "not ok 2 clone3_nonzero_tail_e2big",
            "not ok 3 clone3_over_page_e2big",
            "not ok 4 clone3_short_einval",
            "ok 5 clone3_invalid_args_einval",
            "not ok 1 c_clone3_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
];

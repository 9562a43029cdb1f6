//! The negative runs of the vDSO: its publication of the clock and the special mappings'
//! rules, each switched off (`kentry.break=<check>`) so that user/c/vdso.c must fail.

use super::BootTest;

pub const NEGATIVE_VDSO_BOOTS: &[BootTest] = &[
    BootTest {
        // The vvar page never gets the clock (`kentry.break=vdso_publish`): the vDSO still
        // answers (through the syscall, so the bracketed comparisons pass), but libc's clocks
        // now enter the kernel, and a seccomp filter failing those syscalls fails them.
        name: "negative_vdso_publish",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=vdso_publish",
            "kentry.only=c_vdso_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: the clock is never published to the vDSO's vvar page",
            "ok 3 monotonic_bracketed",
            "not ok 17 libc_clocks_without_syscall",
            "not ok 1 c_vdso_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // The special mappings' rules off (`kentry.break=vdso_special`): growing the vDSO
        // with mremap succeeds where Linux gives EFAULT.
        name: "negative_vdso_special",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=vdso_special",
            "kentry.only=c_vdso_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: the vDSO's mappings may be split, grown and made writable",
            "# mremap_vdso_whole: child returned 2",
            "not ok 21 mremap_vdso_whole",
            "not ok 1 c_vdso_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
];

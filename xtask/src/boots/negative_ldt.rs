//! The negative runs of the LDT (kernel/src/task/ldt.rs), each switched off
//! (`kentry.break=<check>`) so that user/c/ldt.c must fail.

use super::BootTest;

pub const NEGATIVE_LDT_BOOTS: &[BootTest] = &[
    BootTest {
        // The context switch loads a saved selector naming a cleared LDT entry as it is
        // (`kentry.break=ldt_fit`): ldt.c's GS holds entry 7 when the entry is cleared, and
        // its nanosleep switches away and back. The kernel's load of GS runs between two
        // swapgs (the user's GS base live), so the #GP finds no per-CPU GS and tripwire T1
        // stops the kernel.
        name: "negative_ldt_fit",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=ldt_fit",
            "kentry.only=c_ldt_musl",
        ],
        expect_status: 5,
        expect_log: &[
            "test hook: the switch loads selectors that name an unusable LDT entry",
            "ok 11 ds_nulled_by_clear",
            "T1 tripwire: live GS base",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // An LDT write reloads only the writer's CPU (`kentry.break=ldt_ipi`): the thread on
        // CPU 1 clears the entry that the main thread, spinning in ring 3 on CPU 0, holds in
        // SS; CPU 0 keeps the old table and takes no fault, and the case fails (a round may
        // still fault when CPU 0 happens to switch tasks while the thread writes).
        name: "negative_ldt_ipi",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=ldt_ipi",
            "kentry.only=c_ldt_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: an LDT write reloads no other CPU (the old table is leaked)",
            "ok 16 iret_to_ldt_cs_ss",
            "not ok 17 cross_cpu_clear_faults_ss",
            "not ok 1 c_ldt_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The exit path IRETs from the kernel stack whatever the SS (`kentry.break=espfix`):
        // ia32_espfix.c's 16-bit SS comes back from int $0x80 and from a #PF with the kernel
        // stack's bits 31:16 in ESP, and its sigreturn to a not-present 16-bit SS faults on
        // the kernel stack (E14's path: QEMU's #NP, SIGBUS) instead of the espfix #GP(0).
        name: "negative_espfix",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=espfix",
            "kentry.only=c_ia32_espfix_glibc32",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: safety check 'espfix' is OFF",
            "ok 1 install_16bit_segments",
            "not ok 2 int80_keeps_esp_high",
            "not ok 3 page_fault_keeps_esp_high",
            "not ok 4 sigreturn_not_present_ss16_gp0",
            "not ok 1 c_ia32_espfix_glibc32",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The #DF of a faulting `iretq` from the read-only espfix stack is not turned into
        // the user's #GP(0) (`kentry.break=espfix_df`): ia32_espfix.c's sigreturn to a
        // not-present 16-bit SS reaches the kernel's double-fault report, which names the
        // `iretq` to user with RSP on the espfix alias, and powers off (status 7), instead of
        // the program's SIGSEGV.
        name: "negative_espfix_df",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=espfix_df",
            "kentry.only=c_ia32_espfix_glibc32",
        ],
        expect_status: 7,
        expect_log: &[
            "test hook: safety check 'espfix_df' is OFF",
            "ok 3 page_fault_keeps_esp_high",
            // The push of the #GP's frame onto the read-only alias faulted (CR2 there).
            "double fault (not a known stack guard: cr2=0xffffff0",
            "DOUBLE FAULT: #DF double fault err=0x0",
            "RIP: 0x",
            "<kentry_iret_to_user+0x0>",
            "RSP: 0xffffff0",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
];

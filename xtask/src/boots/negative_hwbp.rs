//! The negative runs of the in-kernel breakpoint API's region refusals (x86/hwbp.rs): with
//! one refusal switched off (`kentry.break=hwbp_<region>`), the test of that refusal must
//! fail and say why. Either the breakpoint is accepted (the test disarms it at once,
//! interrupts off, so it never fires), or — where the region lies inside a wider one that
//! is refused too — it is refused under the wider region's name: the GDT and TSS are part of
//! the per-CPU area, and the IST stacks are registered kernel stacks. Those tests ask for
//! the exact name, so each refusal is load-bearing for the name the report gives.

use super::BootTest;

pub const NEGATIVE_HWBP_BOOTS: &[BootTest] = &[
    BootTest {
        // A breakpoint on the entry stubs' first instruction (an execute breakpoint): accepted.
        name: "negative_hwbp_entry_text",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=hwbp_entry_text",
            "kentry.only=hwbp_refuses_entry_text",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: in-kernel breakpoints on the entry text are not refused",
            "a breakpoint on the entry text was accepted",
            "not ok 1 hwbp_refuses_entry_text",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // A breakpoint on this CPU's entry words: accepted.
        name: "negative_hwbp_percpu_entry_data",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=hwbp_percpu_entry_data",
            "kentry.only=hwbp_refuses_percpu_entry_data",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: in-kernel breakpoints on the per-CPU entry data are not refused",
            "a breakpoint on the per-CPU entry data was accepted",
            "not ok 1 hwbp_refuses_percpu_entry_data",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // A breakpoint on this CPU's GDT: refused as the per-CPU entry data it lies in.
        name: "negative_hwbp_gdt",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=hwbp_gdt",
            "kentry.only=hwbp_refuses_gdt",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: in-kernel breakpoints on the GDT are not refused",
            "refused as per-CPU entry data, not as GDT",
            "not ok 1 hwbp_refuses_gdt",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // A breakpoint on the #DB gate of the IDT: accepted.
        name: "negative_hwbp_idt",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=hwbp_idt",
            "kentry.only=hwbp_refuses_idt",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: in-kernel breakpoints on the IDT are not refused",
            "a breakpoint on the IDT was accepted",
            "not ok 1 hwbp_refuses_idt",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // A breakpoint on this CPU's TSS.RSP0: refused as the per-CPU entry data it lies in.
        name: "negative_hwbp_tss",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=hwbp_tss",
            "kentry.only=hwbp_refuses_tss",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: in-kernel breakpoints on the TSS are not refused",
            "refused as per-CPU entry data, not as TSS",
            "not ok 1 hwbp_refuses_tss",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // A breakpoint on the top of this CPU's #DB IST stack: refused as the task stack it lies in.
        name: "negative_hwbp_ist_stack",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=hwbp_ist_stack",
            "kentry.only=hwbp_refuses_ist_stack",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: in-kernel breakpoints on the IST stack are not refused",
            "refused as task stack, not as IST stack",
            "not ok 1 hwbp_refuses_ist_stack",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // A breakpoint on the running task's stack: accepted.
        name: "negative_hwbp_task_stack",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=hwbp_task_stack",
            "kentry.only=hwbp_refuses_task_stack",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: in-kernel breakpoints on the task stack are not refused",
            "a breakpoint on the task stack was accepted",
            "not ok 1 hwbp_refuses_task_stack",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
];

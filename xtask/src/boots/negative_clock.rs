//! The negative runs of the clock: its calibration's reference period and the order of a
//! rate change's TSC read and its sequence windows, each switched off
//! (`kentry.break=<check>`) so that their tests must fail.

use super::BootTest;

pub const NEGATIVE_CLOCK_BOOTS: &[BootTest] = &[
    BootTest {
        // clock_rate_step_readers with the writer's TSC read before the sequence windows
        // open (`kentry.break=clock_tsc_order`, the order before the fix): the reader on the
        // other CPU takes the old rate at TSCs past the new base, ahead of the
        // slower new clock, and its next readings go back.
        name: "negative_clock_tsc_order",
        cmdline: &[
            "kentry.mode=test",
            "kentry.test_rate_step=20",
            "kentry.break=clock_tsc_order",
            "kentry.only=c_clock_step_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: the clock's rate changes read their TSC before the windows open",
            "test hook: the clock's rate doubled at CPU-time read 20",
            "test hook: other CPUs ran inside the rate change's window",
            "    not ok 1 vdso_monotonic",
            "    not ok 2 syscall_monotonic",
            "not ok 1 c_clock_step_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // clock_rate_dropped_ticks with the reference period taken from the delivered ticks
        // (`kentry.break=clock_apic_ref`, the median of the first deltas as before): every
        // delta is two periods, the clock runs at half speed, and 2 RTC seconds read as 1 s.
        name: "negative_clock_apic_ref",
        cmdline: &[
            "kentry.mode=test",
            "kentry.drop_ticks=400",
            "kentry.break=clock_apic_ref",
            "kentry.only=clock_against_rtc",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: the clock's reference period is the median tick delta",
            "not ok 1 clock_against_rtc",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
];

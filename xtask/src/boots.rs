//! Boot tests: whole boots whose expected outcome is not a clean KTAP run — a deliberate stack
//! overflow, a safety check turned off (`kentry.break=`) that another check must catch. Each is
//! one boot with its own command line; it passes when QEMU ends with the expected status and
//! the serial log contains the expected text.

/// One boot test.
#[derive(Debug, Clone, Copy)]
pub struct BootTest {
    pub name: &'static str,
    /// The `-append` words.
    pub cmdline: &'static [&'static str],
    /// The QEMU exit status: `(v << 1) | 1` (5 = kernel panic, 7 = double fault).
    pub expect_status: i32,
    /// Texts the serial log must contain, each of them.
    pub expect_log: &'static [&'static str],
    /// More QEMU arguments, after the standard ones (a later `-cpu max,-smap` overrides
    /// `-cpu max`).
    pub qemu_args: &'static [&'static str],
    /// Other endings that show the same thing (status and log texts), for a break whose
    /// damage lands at a time-dependent place: any of the endings passes.
    pub or_endings: &'static [(i32, &'static [&'static str])],
}

/// The boot tests, run by `cargo xtask test` after the main test boot: those below, then the
/// negative runs (`negative.rs`).
pub const BOOT_TESTS: &[BootTest] =
    &concat::<{ OTHER_BOOTS.len() + NEGATIVE_BOOTS.len() }>(OTHER_BOOTS, NEGATIVE_BOOTS);

/// The negative runs: the entry and kernel checks' (`negative.rs`), the syscall-work checks'
/// (`negative_syscall_work.rs`), the in-kernel breakpoint refusals' (`negative_hwbp.rs`), then
/// memfd's seals and clone3's size rules (`negative_files.rs`), then the clock's
/// (`negative_clock.rs`), then the LDT's (`negative_ldt.rs`).
const NEGATIVE_BOOTS: &[BootTest] = &concat::<
    { WITH_CLOCK.len() + negative_ldt::NEGATIVE_LDT_BOOTS.len() },
>(WITH_CLOCK, negative_ldt::NEGATIVE_LDT_BOOTS);

const WITH_CLOCK: &[BootTest] = &concat::<
    { WITH_FILES.len() + negative_clock::NEGATIVE_CLOCK_BOOTS.len() },
>(WITH_FILES, negative_clock::NEGATIVE_CLOCK_BOOTS);

const WITH_FILES: &[BootTest] = &concat::<
    { WITH_HWBP.len() + negative_files::NEGATIVE_FILES_BOOTS.len() },
>(WITH_HWBP, negative_files::NEGATIVE_FILES_BOOTS);

const WITH_HWBP: &[BootTest] = &concat::<
    { ENTRY_AND_SYSCALL_WORK.len() + negative_hwbp::NEGATIVE_HWBP_BOOTS.len() },
>(ENTRY_AND_SYSCALL_WORK, negative_hwbp::NEGATIVE_HWBP_BOOTS);

const ENTRY_AND_SYSCALL_WORK: &[BootTest] = &concat::<
    { ENTRY_AND_SYSCALL_VDSO.len() + sysenter::SYSENTER_BOOTS.len() },
>(ENTRY_AND_SYSCALL_VDSO, sysenter::SYSENTER_BOOTS);

const ENTRY_AND_SYSCALL_VDSO: &[BootTest] =
    &concat::<{ ENTRY_AND_SYSCALL.len() + negative_vdso::NEGATIVE_VDSO_BOOTS.len() }>(
        ENTRY_AND_SYSCALL,
        negative_vdso::NEGATIVE_VDSO_BOOTS,
    );

const ENTRY_AND_SYSCALL: &[BootTest] = &concat::<
    { negative::NEGATIVE_BOOTS.len() + negative_syscall_work::NEGATIVE_SYSCALL_WORK_BOOTS.len() },
>(
    negative::NEGATIVE_BOOTS,
    negative_syscall_work::NEGATIVE_SYSCALL_WORK_BOOTS,
);

/// `a` then `b`, as one array (a `const` slice cannot be joined otherwise).
const fn concat<const N: usize>(a: &[BootTest], b: &[BootTest]) -> [BootTest; N] {
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    out
}

/// The boot tests that are not negative runs.
const OTHER_BOOTS: &[BootTest] = &[
    BootTest {
        // A kernel stack overflow must end in the #DF handler on its own IST stack, which
        // names the guard page it hit.
        name: "e26_stack_overflow",
        cmdline: &["kentry.mode=test", "kentry.only=e26_stack_overflow"],
        expect_status: 7,
        expect_log: &[
            "stack overflow: task stack",
            "DOUBLE FAULT: #DF",
            "RIP: 0x",
            "<kentry_kernel::test::selftests::e26_stack_overflow::recurse+",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // PVH boot on the `pc` machine too (i440FX, ACPI, PIT/HPET): ring 3 and the register
        // loop under timer interrupts work there as on microvm.
        name: "machine_pc_syscall_regs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.platform=tcg",
            "kentry.only=syscall_regs",
        ],
        expect_status: 1,
        expect_log: &[
            "ok 13 register_loop_preserves_registers_and_flags",
            "ok 1 syscall_regs",
        ],
        qemu_args: &["-M", "pc"],
        or_endings: &[],
    },
    BootTest {
        // On `pc`, a stack overflow ends in the #DF report as well.
        name: "machine_pc_e26_stack_overflow",
        cmdline: &["kentry.mode=test", "kentry.only=e26_stack_overflow"],
        expect_status: 7,
        expect_log: &["stack overflow: task stack", "DOUBLE FAULT: #DF"],
        qemu_args: &["-M", "pc"],
        or_endings: &[],
    },
    BootTest {
        // A kernel NULL dereference outside any user-copy fixup: a symbolized report
        // (function+offset, registers, backtrace) and a panic exit.
        name: "kernel_fault_report",
        cmdline: &["kentry.mode=test", "kentry.only=kernel_fault_report"],
        expect_status: 5,
        expect_log: &[
            "KERNEL FAULT: #PF page fault err=0x2 cr2=0x0",
            "RIP: 0x",
            "<kentry_kernel::test::selftests::kernel_fault_report+",
            "Backtrace:",
            "<kentry_kernel::kernel_continue+",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the hard-lockup detector on (`kentry.watchdog=1`), a CPU spinning with
        // interrupts off gets the other CPU's NMI, which prints its registers and symbolized
        // backtrace naming the spinning function and its caller, and stops the machine.
        name: "watchdog_hard_lockup",
        cmdline: &[
            "kentry.mode=test",
            "kentry.watchdog=1",
            "kentry.only=watchdog_hard_lockup",
        ],
        expect_status: 5,
        expect_log: &[
            "NMI watchdog: hard LOCKUP on cpu ",
            "HARD LOCKUP: NMI",
            "RIP: 0x",
            "<kentry_kernel::test::selftests::watchdog::watchdog_test_spin_irqs_off+",
            "Backtrace:",
            "<kentry_kernel::test::selftests::watchdog::hard_lockup+",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // A task taking a spin lock it holds (test kernels' lockup detector, lockcheck.rs,
        // its threshold cut to 2 s by the test): the spinner reports the lock with the place
        // it is wanted and the place it was last taken. Without the detector the boot hangs
        // until the timeout.
        name: "spinlock_lockup",
        cmdline: &["kentry.mode=test", "kentry.only=spinlock_lockup"],
        expect_status: 5,
        expect_log: &[
            "lockup test: taking a held lock again",
            "BUG: spinlock lockup suspected: lock 0x",
            "wanted at kernel/src/test/selftests/watchdog.rs:",
            "last taken at kernel/src/test/selftests/watchdog.rs:",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // The monotonic clock against the CMOS RTC (QEMU's runs from the host's time) while
        // every other one of the boot CPU's first 400 ticks is dropped, as QEMU drops the
        // ticks of a vCPU a loaded host starves: the clock's reference period comes from the
        // APIC timer's count, not from the delivered ticks, so 2 RTC seconds are 2 s.
        name: "clock_rate_dropped_ticks",
        cmdline: &[
            "kentry.mode=test",
            "kentry.drop_ticks=400",
            "kentry.only=clock_against_rtc",
        ],
        expect_status: 1,
        expect_log: &[
            "test hook: every other one of the first 400 ticks is dropped",
            "ok 1 clock_against_rtc",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // nohz_full (docs/nohz.md): a ring-3 program pinned to CPU 1 spins 5 s while CPU 0
        // runs a fork/exec/munmap load; CPU 1 must take no timer interrupt, IPI or NMI, and
        // the program's user time must match its spin; then a second task there must bring
        // the tick back. The watchdog is on, so it must skip
        // the tick-stopped CPU (else its NMI would end the boot).
        name: "nohz_full_quiet_cpu",
        cmdline: &[
            "kentry.mode=test",
            "nohz_full=1",
            "kentry.watchdog=1",
            "kentry.only=nohz_full_spin",
        ],
        expect_status: 1,
        expect_log: &[
            "nohz_full: CPUs 0x2 stop their tick",
            "    ok 2 loc_delta_zero",
            "    ok 3 res_delta_zero",
            "    ok 4 cal_delta_zero",
            "    ok 5 tlb_delta_zero",
            "    ok 6 nmi_delta_zero",
            "    ok 7 utime_matches_spin",
            "    ok 8 tick_restarts_for_second_task",
            "ok 1 nohz_full_spin",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // nohz_full CPU-time readers on another CPU (docs/nohz.md): a thread spins in user
        // mode on nohz_full CPU 1 (tick stopped, never switching, so nothing folds its time)
        // while the main thread on CPU 0 reads times(), getrusage and /proc/stat: they must
        // add what CPU 1 has pending and see the spinner's user time grow.
        name: "nohz_full_remote_times",
        cmdline: &[
            "kentry.mode=test",
            "nohz_full=1",
            "kentry.only=c_nohz_times_musl",
        ],
        expect_status: 1,
        expect_log: &[
            "nohz_full: CPUs 0x2 stop their tick",
            "    ok 1 remote_utime_grows",
            "    ok 2 remote_times_grows",
            "    ok 3 remote_utime_monotonic",
            "    ok 4 remote_cpu_row_grows",
            "ok 1 c_nohz_times_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The hang report (kernel/src/hang_report.rs), which xtask asks every test boot for a
        // little before its timeout: due at 2 s here, while user/c/sleepers.c keeps a child
        // asleep in read() and itself in nanosleep(); each must be listed in its syscall,
        // the reader with the kernel backtrace through the pipe read (the switch frame's
        // offsets and the unwinder from a sleeping task's stack).
        name: "hang_report_names_sleepers",
        cmdline: &[
            "kentry.mode=test",
            "kentry.hang_report=2",
            "kentry.only=c_sleepers_musl",
        ],
        expect_status: 1,
        expect_log: &[
            "hang report at 2 s (kentry.hang_report)",
            "(sleepers-musl) S cpu",
            "in syscall 0 (read)",
            "in syscall 35 (nanosleep)",
            "<kentry_kernel::fs::file::File::read+",
            "<kentry_kernel::syscall::io::sys_read+",
            "hang report end",
            "ok 1 c_sleepers_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The same while the clock's rate changes under the spinner's pending time
        // (`kentry.test_rate_step=25`: at the 25th read of the process's CPU time, between
        // the test's reads 21 and 22, the rate doubles, as a calibration refinement changes
        // it, only more): no read may go backwards. Readers that converted the pending TSC
        // cycles at the current rate saw the user time halve at the step (a provisional
        // 1 GHz rate refined to the measured 2.8 GHz during the reads did the same on a
        // loaded host).
        name: "nohz_full_rate_step",
        cmdline: &[
            "kentry.mode=test",
            "nohz_full=1",
            "kentry.test_rate_step=25",
            "kentry.only=c_nohz_times_musl",
        ],
        expect_status: 1,
        expect_log: &[
            "test hook: the clock's rate doubled at CPU-time read 25",
            "    ok 1 remote_utime_grows",
            "    ok 2 remote_times_grows",
            "    ok 3 remote_utime_monotonic",
            "    ok 4 remote_cpu_row_grows",
            "ok 1 c_nohz_times_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The clock's rate doubles (`kentry.test_rate_step=20`: at the 20th CPU-time read
        // of c_clock_step's main thread, with the writer spinning after reading the TSC its
        // new base starts at, until the reader has run there) while the
        // program's reader thread reads CLOCK_MONOTONIC on the other CPU without pause: no
        // reading, vDSO or syscall, may go back. Its negative run
        // (`negative_clock_tsc_order`) reads that TSC before the sequence windows open.
        name: "clock_rate_step_readers",
        cmdline: &[
            "kentry.mode=test",
            "kentry.test_rate_step=20",
            "kentry.only=c_clock_step_musl",
        ],
        expect_status: 1,
        expect_log: &[
            "test hook: the clock's rate doubled at CPU-time read 20",
            "test hook: other CPUs ran inside the rate change's window",
            "    ok 1 vdso_monotonic",
            "    ok 2 syscall_monotonic",
            "    ok 3 reader_overlapped",
            "ok 1 c_clock_step_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
];

/// The boot test of that name.
pub fn find(name: &str) -> Option<&'static BootTest> {
    BOOT_TESTS.iter().find(|b| b.name == name)
}

mod negative;
mod negative_clock;
mod negative_files;
mod negative_hwbp;
mod negative_ldt;
mod negative_syscall_work;
mod negative_vdso;
mod sysenter;
#[cfg(test)]
mod tests;

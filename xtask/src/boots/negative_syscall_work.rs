//! The negative runs of the syscall-work checks: seccomp's judgement, the seccomp listener's
//! checks, ptrace's register checks and rt_sigqueueinfo's checks, each switched off (`kentry.break=<check>`) so that its C test must fail.

use super::BootTest;

pub const NEGATIVE_SYSCALL_WORK_BOOTS: &[BootTest] = &[
    BootTest {
        // Seccomp with its checks off (`kentry.break=seccomp`): every forbidden syscall goes
        // through, so every case that expects a kill, an errno or a trap must fail.
        name: "negative_seccomp",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=seccomp",
            "kentry.only=c_seccomp_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: seccomp judges no syscall (strict mode and filters off)",
            "not ok 4 strict_kills_getpid",
            "not ok 5 strict_kills_exit_group",
            "not ok 7 strict_kills_int80",
            "not ok 8 strict_kills_only_the_thread",
            "not ok 10 filter_errno",
            "not ok 11 filter_kill_process",
            "not ok 12 filter_kill_thread",
            "not ok 13 filter_trap",
            "not ok 14 filter_stacked_and_inherited",
            "not ok 18 filter_kept_across_execve",
            "not ok 1 c_seccomp_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The seccomp listener's argument and state checks off (`kentry.break=seccomp_notify`):
        // TSYNC|NEW_LISTENER is taken, a second listener joins the chain, RECV reads into a
        // struct with garbage, CONTINUE comes with a value, and a notification not yet
        // received takes a reply and an ADDFD: each case that expects the refusal fails.
        name: "negative_seccomp_notify",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=seccomp_notify",
            "kentry.only=c_seccomp_notif_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: the seccomp listener's argument and state checks are off",
            "not ok 4 listener_flag_rules",
            "not ok 5 second_listener_ebusy",
            "not ok 6 recv_needs_zeroed_struct",
            "not ok 8 send_error_and_bad_replies",
            "not ok 9 reply_only_when_received",
            "not ok 1 c_seccomp_notif_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // A tracer's register writes unchecked (`kentry.break=ptrace_regs`): SETREGS takes a
        // null CS, a kernel-RPL SS and a kernel FS base (setregs_refused fails), and a GS
        // selector no segment backs reaches the context switch, whose load faults in the
        // kernel (the last case, bad_selector_survives, never reports).
        name: "negative_ptrace_regs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=ptrace_regs",
            "kentry.only=c_ptrace_musl",
        ],
        expect_status: 5,
        expect_log: &[
            "test hook: a tracer's register writes are taken unchecked",
            "not ok 8 setregs_refused",
            "ok 30 errors",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // rt_sigqueueinfo's forged-code check and RLIMIT_SIGPENDING off
        // (`kentry.break=sigqueue`): a forged SI_USER/SI_KERNEL/SI_TKILL reaches another
        // process, and queueing never fails with EAGAIN (nor does kill() past the limit lose
        // its siginfo).
        name: "negative_sigqueue",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sigqueue",
            "kentry.only=c_sigqueue_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: rt_sigqueueinfo takes forged si_codes and RLIMIT_SIGPENDING is off",
            "not ok 4 sigqueueinfo_forged_code_to_other_eperm",
            "ok 6 sigqueueinfo_forged_code_to_self",
            "not ok 10 rlimit_sigpending_eagain",
            "not ok 11 rlimit_kill_still_sends",
            "not ok 1 c_sigqueue_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
];

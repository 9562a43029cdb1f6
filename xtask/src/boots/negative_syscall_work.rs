//! The negative runs of the syscall-work checks: seccomp's judgement, the seccomp listener's
//! checks, ptrace's register checks, rt_sigqueueinfo's checks and the XSAVE header check, each
//! switched off (`kentry.break=<check>`) so that its C test must fail.

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
        // null CS, a kernel-RPL SS and a kernel FS base (setregs_refused fails). A GS selector
        // no segment backs then reaches the context switch, which checks every saved
        // selector before it loads one since the LDT came (task/ldt.rs; its own negative run
        // is negative_ldt_fit): the load no longer faults in the kernel, and the last case,
        // bad_selector_survives, passes.
        name: "negative_ptrace_regs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=ptrace_regs",
            "kentry.only=c_ptrace_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: a tracer's register writes are taken unchecked",
            "not ok 8 setregs_refused",
            "ok 36 bad_selector_survives",
            "not ok 1 c_ptrace_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // No call known as an i386 one (`kentry.break=ts_compat`): seccomp judges int80
        // calls as x86-64 ones (its filters and its listener see AUDIT_ARCH_X86_64), a tracer
        // is told AUDIT_ARCH_X86_64, and an interrupted
        // int80 sleep restarts with x86-64's restart_syscall number (219, i386 madvise).
        name: "negative_ts_compat",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=ts_compat",
            "kentry.only=c_int80_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: no call is known as an i386 one (TS_COMPAT ignored)",
            "not ok 8 int80_seccomp_i386",
            "not ok 9 int80_seccomp_user_notif",
            "not ok 10 int80_ptrace_stops",
            "not ok 11 int80_restart_syscall_traced",
            "not ok 1 c_int80_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // A compat SYSCALL whose sixth argument cannot be read runs anyway
        // (`kentry.break=arg6_fault`, E30): getpid with every register -1 (ESP too) returns
        // the pid, not -EFAULT (user/c/fast32.c; the SYSENTER twin is in sysenter.rs).
        name: "negative_arg6_fault",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=arg6_fault",
            "kentry.only=c_fast32_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: a compat SYSCALL runs although its sixth argument is unreadable",
            "not ok 3 syscall_fault_efault",
            "not ok 1 c_fast32_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The context switch loads a selector naming an empty TLS slot as it is
        // (`kentry.break=tls_fit`): a tracer whose slot 12 is set gives GS = 0x63 to a tracee
        // whose slot 12 is empty, and the kernel's load at the tracee's switch-in faults. The
        // load runs between two swapgs (the user's GS base live), so the #GP finds no per-CPU
        // GS and tripwire T1 stops the kernel.
        name: "negative_tls_fit",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=tls_fit",
            "kentry.only=c_tls_slots_musl",
        ],
        expect_status: 5,
        expect_log: &[
            "test hook: the switch loads selectors that name an empty TLS slot",
            "ok 2 gs_reads_slot_base",
            "T1 tripwire: live GS base",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The i386 wrapper does not give the caller's registers back
        // (`kentry.break=int80_args`): the cases that check them after a call with
        // arguments fail.
        name: "negative_int80_args",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=int80_args",
            "kentry.only=c_int80_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: i386 calls leave their arguments in the x86-64 registers",
            "not ok 2 int80_error_sign_extended",
            "not ok 4 int80_args_truncated",
            "not ok 5 int80_read_eintr",
            "not ok 6 int80_read_restart",
            "not ok 1 c_int80_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The int $0x80 stub swapping GS whatever the mode (`kentry.break=int80_cs`): a
        // kernel-mode int $0x80 reaches Rust on the user's GS base, and tripwire T1 must say
        // so (E28).
        name: "negative_int80_cs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=int80_cs",
            "kentry.only=int80_from_kernel",
        ],
        expect_status: 5,
        expect_log: &["T1 tripwire: live GS base 0x0 is not a per-CPU area"],
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
    BootTest {
        // The XSAVE header check off (`kentry.break=xstate_header`): a signal frame whose
        // header has reserved bits set is repaired instead of refused, so sigreturn raises no
        // SIGSEGV, and NT_X86_XSTATE takes a header with XCOMP_BV set; the frame and register
        // cases around them still pass.
        name: "negative_xstate_header",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=xstate_header",
            "kentry.only=c_xstate_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: user XSAVE headers are repaired instead of refused",
            "ok 7 sigframe_ymm_restored",
            "not ok 9 corrupt_header_segv",
            "not ok 12 ptrace_xstate",
            "not ok 1 c_xstate_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The SYSRET conditions' "RIP is where the entry returns" term off
        // (`kentry.break=sysret_rcx`, one switch for SYSRET and SYSRETL): the compat SYSCALL
        // whose RIP a tracer moved leaves by SYSRETL, which resumes at that RIP but puts it
        // in ECX, losing the frame's ECX (0x5a5a5a5a) that IRET restores.
        name: "negative_sysretl_rip",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_rcx",
            "kentry.only=c_sysretl_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "ok 2 sysretl_traced_plain",
            "(want the frame's 0x5a5a5a5a)",
            "not ok 3 sysretl_rip_moved",
            "not ok 1 c_sysretl_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // The SYSRET conditions' CS term off (`kentry.break=sysret_cs`): the compat SYSCALL
        // whose CS a tracer set to 0x33 leaves by SYSRETL, which loads the 32-bit CS, and the
        // return point runs in compat mode.
        name: "negative_sysretl_cs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_cs",
            "kentry.only=c_sysretl_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "ok 3 sysretl_rip_moved",
            "sysretl_cs64: run 0 exit stop 1 CS 0x23 (want 0x33)",
            "not ok 4 sysretl_cs64",
            "not ok 1 c_sysretl_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // The SYSRET conditions' RF/TF term off (`kentry.break=sysret_tf`): the compat SYSCALL
        // whose RFLAGS and R11 a tracer gave TF leaves by SYSRETL, which restores TF with a
        // trap before the first instruction at the return point instead of after it.
        name: "negative_sysretl_tf",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_tf",
            "kentry.only=c_sysretl_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "ok 4 sysretl_cs64",
            "not ok 5 sysretl_tf",
            "not ok 1 c_sysretl_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // PID-namespace isolation off (`kentry.break=pidns`): a number passed from inside a
        // namespace is taken as a global id, so its init's waitid(P_PID, 2) looks for global
        // process 2 (ECHILD) and its kill of an outer pid reaches that process instead of
        // ESRCH; the cases in the root namespace still pass.
        name: "negative_pidns",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=pidns",
            "kentry.only=c_pidns_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: a PID namespace's numbers are taken as global ids",
            "ok 1 newpid_child_is_pid1",
            "not ok 3 wait_and_kill_inside",
            "not ok 1 c_pidns_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // i386 rt_sigreturn takes the frame's EFLAGS whole (`kentry.break=sigreturn_flags`,
        // the 64-bit path's break, which the i386 frames share): a handler's IOPL 3 and NT
        // reach user mode and IF is cleared, so the sanitising case fails; the cases around
        // it pass.
        name: "negative_sigreturn32_flags",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sigreturn_flags",
            "kentry.only=c_ia32_signals_glibc32",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: rt_sigreturn takes IF, IOPL and NT from the user's frame",
            "ok 15 fsave_header_edit_wins",
            "not ok 16 sigreturn_eflags_sanitised",
            "not ok 1 c_ia32_signals_glibc32",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // i386 sigreturn loads the frame's data selectors without asking VERR first
        // (`kentry.break=sigreturn32_segs`): a handler's FS = 0xfff8 (no such GDT entry) is
        // loaded by the kernel, whose #GP has no fixup.
        name: "negative_sigreturn32_segs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sigreturn32_segs",
            "kentry.only=c_ia32_signals_glibc32",
        ],
        expect_status: 5,
        expect_log: &[
            "test hook: i386 sigreturn loads the frame's data selectors unchecked",
            "ok 16 sigreturn_eflags_sanitised",
            "KERNEL FAULT: #GP general protection err=0xfff8",
            "kentry_kernel::task::segments::reload_user",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
];

//! Linux's x86 selftests built `-m32` (the upstream Makefile's `_32` binaries: its
//! TARGETS_C_BOTHBITS, TARGETS_C_32BIT_ONLY and TARGETS_C_32BIT_NEEDED), run on kentry as
//! static i386 programs and held, as `expected.rs` holds the 64-bit builds, to what each
//! must print. Runner cases `linux_<name>_32`.
//!
//! Every one runs (none is gated any more: the 32-bit vDSO, SYSENTER, SYSRETL and the i386
//! ptrace of a 32-bit tracer are in). Counts were measured by running each on kentry (`cargo xtask test --only linux_NAME_32`,
//! -smp 1, `-cpu max`: QEMU's AMD model). "Native" in a comment is the same binary on this
//! host's Linux (6.18 on an Intel CPU, not QEMU); every count below the native one says why.
//! Left out, as their 64-bit builds are: iopl and ioperm (they would only test the
//! refusal); and entry_from_vm86, whose cases need vm86 mode, which no 64-bit kernel has
//! (Linux prints `[SKIP] vm86 not supported` for each).

use super::expected::{Capability, ExpectedSkip, SMP1, Selftest};

/// The 32-bit selftests that run on kentry.
pub const SELFTESTS_32: &[Selftest] = &[
    Selftest {
        name: "single_step_syscall_32",
        cpu: None,
        ok: 5,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "single-stepping (TF) across int $0x80 and the vDSO's fast entry from 32-bit \
                 code, and a signal handler's return with TF",
    },
    Selftest {
        name: "syscall_nt_32",
        cpu: None,
        ok: 9,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "i386 syscalls with NT, AC, DF and TF set in EFLAGS",
    },
    Selftest {
        name: "sysret_ss_attrs_32",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "SS usable after 1000 sleeping i386 syscalls (E04 itself, AMD's stale SS \
                 attributes, is not provoked: TCG's SYSRET writes full SS attributes)",
    },
    Selftest {
        name: "check_initial_reg_state_32",
        cpu: None,
        ok: 2,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "zeroed GPRs and EFLAGS 0x202 at an i386 program's first instruction",
    },
    Selftest {
        name: "sigreturn_32",
        cpu: None,
        // As natively: 16. 10 before espfix64, when modify_ldt refused 16-bit LDT segments:
        // four SKIPs, and the bogus-SS cases with a 16-bit CS left out ("[WARN] Could not
        // find 16-bit CS"). Its not-present CS (4f) and SS (57) cases run on modify_ldt's
        // segments.
        ok: 16,
        skips: &[],
        // Its 16-bit CS and SS cases are half its point (E16).
        needs: &[Capability::SixteenBitSegments],
        unexercised: &[],
        death: None,
        checks: "i386 sigreturn with every register requested back (a null FS comes back \
                 0), 32-, 64- and 16-bit CS with the flat and a 16-bit SS (espfix64), bogus \
                 SS or CS as #GP, and modify_ldt's not-present CS (#NP) and SS (#GP(0) \
                 through espfix's #DF fixup, as Linux)",
    },
    Selftest {
        name: "mov_ss_trap_32",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[Capability::Ptrace, Capability::DebugRegisters],
        unexercised: &[],
        death: None,
        checks: "a MOV SS whose load hits a data breakpoint (DR0, set by its 32-bit child \
                 through i386 ptrace's POKEUSER of u_debugreg) before INT3, INT n, ICEBP, \
                 CLI, a #PF, SYSENTER, INT $0x80 and a breakpointed NOP: each delivers its \
                 signal and the process lives. The deferred #DB itself (one instruction after MOV SS) is NOT \
                 provoked: QEMU TCG raises the watchpoint's #DB at once, so each case here \
                 takes a SIGTRAP at the MOV SS first; the 64-bit build dies of it \
                 (expected.rs)",
    },
    Selftest {
        name: "sigtrap_loop_32",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "a SIGTRAP handler that sets TF in its i386 frame, stepping on",
    },
    Selftest {
        name: "sigaltstack_32",
        cpu: None,
        // Native: 2. The too-small stack case runs only when AT_MINSIGSTKSZ exceeds
        // MINSIGSTKSZ (2048): a host with AVX-512 does; QEMU's XSAVE area does not, as the
        // 64-bit build's one [OK] shows.
        ok: 1,
        skips: &[],
        needs: &[Capability::Xsave],
        unexercised: &[],
        death: None,
        checks: "SIGALRM delivered on an alternate stack of AT_MINSIGSTKSZ + SIGSTKSZ bytes \
                 (an i386 frame with the XSAVE area)",
    },
    Selftest {
        name: "ldt_gdt_32",
        cpu: None,
        // Native: 64, as here (43 before modify_ldt). Booted with two CPUs (expected::SMP2)
        // for its cross-CPU invalidation; its 16-bit installs read back their AR bytes (they
        // were "rejected" lines before espfix64, one [OK] either way).
        ok: 64,
        skips: &[],
        needs: &[Capability::ModifyLdt],
        unexercised: &[],
        death: None,
        checks: "modify_ldt from an i386 program (int $0x80 123: every descriptor type read \
                 back by LAR/LSL, deletion rules, 8192 entries, fork copies, exec drops, a \
                 cross-CPU clear faults the SS on CPU 0 at once) and set_thread_area's GDT \
                 slots (invalidation while loaded, per-thread slots)",
    },
    Selftest {
        name: "test_FCMOV_32",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "x87 FCMOVcc in an i386 program",
    },
    Selftest {
        name: "test_FCOMI_32",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "x87 FCOMI/FUCOMI flags, with an SSE exception mask set up through a signal",
    },
    Selftest {
        name: "test_FISTTP_32",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "x87 FISTTP in an i386 program",
    },
    Selftest {
        name: "syscall_arg_fault_32",
        cpu: None,
        // Native (Intel): 2, and SYSCALL from compat mode is #UD there ([SKIP] Illegal
        // instruction). QEMU's TCG runs both SYSCALL and SYSENTER from compat mode with
        // the AMD model (it refuses SYSENTER only in 64-bit code), so all four run.
        ok: 4,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "SYSENTER and SYSCALL from 32-bit code with an invalid stack (the sixth \
                 argument's read faults: SIGSEGV), with and without TF",
    },
    Selftest {
        name: "test_syscall_vdso_32",
        // Its call64_from_32 thunk far-returns (lretq) in ring 3, which QEMU 7.2 TCG wrongly
        // checks as a supervisor access under SMAP (shared/README.md).
        cpu: Some("max,-smap"),
        ok: 8,
        skips: &[],
        needs: &[Capability::Ptrace],
        unexercised: &[],
        death: None,
        checks: "a six-argument call through __kernel_vsyscall (SYSCALL) and int $0x80: \
                 EBX..EBP and the flags given back, R8-R15 not leaking (zero or untouched \
                 after SYSRETL); the same again under a 32-bit tracer's PTRACE_SYSCALL stops \
                 (the call is pselect6, i386 308, with its sixth argument from the stack)",
    },
    Selftest {
        name: "unwind_vdso_32",
        cpu: None,
        ok: 10,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "AT_SYSINFO in linux-gate.so.1, and DWARF unwinding (the vDSO's CFI) from \
                 each instruction of __kernel_vsyscall stepped with TF",
    },
    Selftest {
        name: "vdso_restorer_32",
        cpu: None,
        ok: 2,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "handlers without SA_RESTORER (rt and not) returning through the vDSO's \
                 __kernel_rt_sigreturn and __kernel_sigreturn",
    },
    Selftest {
        name: "test_vsyscall_32",
        cpu: None,
        // Native (Linux 6.18): 6, with the vDSO's getcpu on CPU 0 and 1. Linux 6.1's
        // vdso32 has no __vdso_getcpu ("failed to find getcpu in vDSO", as here), and
        // there is no vsyscall page for i386 programs.
        ok: 2,
        skips: &[ExpectedSkip {
            line: "failed to force CPU 1",
            count: 1,
            why: SMP1,
        }],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "the 32-bit vDSO's gettimeofday and time against the syscalls, getcpu on \
                 CPU 0 by the syscall",
    },
    Selftest {
        name: "test_mremap_vdso_32",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "mremap of the whole 32-bit vDSO (two pages; one page is EINVAL) made \
                 through that vDSO: the call returns to the moved landing pad, then an \
                 int $0x80 exit",
    },
    Selftest {
        name: "ptrace_syscall_32",
        cpu: None,
        ok: 12,
        skips: &[],
        needs: &[Capability::Ptrace],
        unexercised: &[],
        death: None,
        checks: "registers across int $0x80 and the vDSO's fast entry, then a 32-bit \
                 tracer's GETREGS/SETREGS (user_regs_struct32): SYSEMU with a restart by \
                 EIP - 2 onto the vDSO's int $0x80, a changed number and arguments, SETREGS \
                 at entry and exit, pause(2) restarted after a signal while traced",
    },
    Selftest {
        name: "fsgsbase_restore_32",
        cpu: None,
        ok: 4,
        skips: &[],
        needs: &[Capability::Ptrace, Capability::OwnSegment],
        unexercised: &[],
        death: None,
        checks: "a 32-bit tracer's SETREGS of a tracee whose FS is LDT slot 0 (0x7, made \
                 by modify_ldt; a TLS slot, 0x6b, before kentry had an LDT): redirected, then \
                 restored, the tracee finds its segment and base again (putreg32 sets the \
                 base from the descriptor, in the tracee's LDT)",
    },
];

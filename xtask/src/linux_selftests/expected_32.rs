//! Linux's x86 selftests built `-m32` (the upstream Makefile's `_32` binaries), run on
//! kentry as static i386 programs: what each must print, as `expected.rs` says it for the
//! 64-bit builds, and the ones that cannot run yet (`GATED_32`, with why).
//!
//! Counts were measured by running each binary on kentry (`cargo xtask run -- <name>_32`);
//! "native" in a comment is the same binary on this host's Linux (an Intel CPU, not QEMU):
//! where kentry prints fewer `[OK]`, the reason is stated. Left out, as their 64-bit builds
//! are: iopl and ioperm (they would only test the refusal); and entry_from_vm86, whose 26
//! cases need vm86 mode, which no 64-bit kernel offers (it prints 26 `[SKIP] vm86 not
//! supported` on Linux too).

use super::expected::{Capability, ExpectedSkip, Selftest};
use super::x86_gated::{Gated, Need};

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
        checks: "single-stepping (TF) across int $0x80 and SYSCALL from 32-bit code, and a \
                 signal handler's return with TF",
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
        checks: "SS usable after returning from a sleeping i386 syscall on each CPU",
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
        // Native: 16; the other 6 need a 16-bit segment (the LDT).
        ok: 10,
        skips: &[
            ExpectedSkip {
                line: "Code segment unavailable",
                count: 2,
                why: "kentry gap: no modify_ldt (the 16-bit code segment lives in the LDT)",
            },
            ExpectedSkip {
                line: "Data segment unavailable",
                count: 2,
                why: "kentry gap: no modify_ldt (the 16-bit data segment lives in the LDT)",
            },
        ],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "i386 sigreturn with every register requested back (selectors included: a \
                 null FS comes back 0), 32-bit CS/SS combinations and bogus SS as #GP",
    },
    Selftest {
        name: "mov_ss_trap_32",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[Capability::Ptrace, Capability::DebugRegisters],
        unexercised: &[],
        death: None,
        checks: "MOV SS with a data breakpoint before int $0x80, int3 and SYSCALL from 32-bit \
                 code (TCG fires the #DB at once instead of one instruction later)",
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
        // Native: 2; the too-small stack case runs only when AT_MINSIGSTKSZ exceeds
        // MINSIGSTKSZ + 1 (2049): a host with AVX-512 does, QEMU's XSAVE area (1360) does not.
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
        // Native: 64; its LDT cases need modify_ldt.
        ok: 44,
        skips: &[
            ExpectedSkip {
                line: "modify_ldt unavailable",
                count: 1,
                why: "kentry gap: no modify_ldt (no LDT)",
            },
            ExpectedSkip {
                line: "we have no LDT",
                count: 1,
                why: "kentry gap: no modify_ldt (no LDT)",
            },
        ],
        needs: &[Capability::ModifyLdt],
        unexercised: &[],
        death: None,
        checks: "set_thread_area's GDT slots from an i386 program: descriptors read back by \
                 LAR/LSL, invalidation while loaded, per-thread slots",
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
];

/// The 32-bit selftests that cannot reach their point on kentry yet: not booted, SKIP with
/// the gap. `ok` is what each printed natively on this host (Linux 6.1 under QEMU, which
/// `cargo xtask linux-selftests` boots, is the count to hold kentry to once it runs).
pub const GATED_32: &[Gated] = &[
    Gated {
        test: Selftest {
            name: "ptrace_syscall_32",
            cpu: None,
            ok: 12,
            skips: &[],
            needs: &[Capability::Ptrace],
            unexercised: &[],
            death: None,
            checks: "a 32-bit tracer's view of int $0x80 and the vDSO's SYSENTER/SYSCALL",
        },
        needs: &[Need::Compat32Ptrace, Need::Vdso32],
        without: "PTRACE_TRACEME of the i386 child returns -ENOSYS (i386 ptrace, 26, is not \
                  in the table), and without AT_SYSINFO its vDSO parts SKIP: 4 [OK], exit 1",
    },
    Gated {
        test: Selftest {
            name: "fsgsbase_restore_32",
            cpu: None,
            ok: 4,
            skips: &[],
            needs: &[Capability::Ptrace, Capability::OwnSegment],
            unexercised: &[],
            death: None,
            checks: "a 32-bit tracer's POKEUSER of GS and its base in an i386 tracee",
        },
        needs: &[Need::Compat32Ptrace],
        without: "its tracer half is an i386 program: PTRACE_TRACEME and waitpid fail with \
                  -ENOSYS, 2 [OK], exit 1",
    },
    Gated {
        test: Selftest {
            name: "syscall_arg_fault_32",
            cpu: None,
            ok: 2,
            skips: &[],
            needs: &[],
            unexercised: &[],
            death: None,
            checks: "SYSENTER and SYSCALL from 32-bit code with an invalid stack, with TF",
        },
        needs: &[Need::Sysenter],
        without: "its two SYSENTER cases fault with #GP (the SYSENTER MSRs are 0) where \
                  Linux's CPU model raises #UD, and print [FAIL]; its SYSCALL cases pass \
                  (2 [OK])",
    },
    Gated {
        test: Selftest {
            name: "test_syscall_vdso_32",
            cpu: None,
            ok: 8,
            skips: &[],
            needs: &[],
            unexercised: &[],
            death: None,
            checks: "registers preserved by __kernel_vsyscall (int80, SYSENTER, SYSCALL)",
        },
        needs: &[Need::Vdso32],
        without: "it calls AT_SYSINFO's address, which kentry does not give: SIGSEGV",
    },
    Gated {
        test: Selftest {
            name: "unwind_vdso_32",
            cpu: None,
            ok: 10,
            skips: &[],
            needs: &[],
            unexercised: &[],
            death: None,
            checks: "DWARF unwinding through __kernel_vsyscall and a signal frame",
        },
        needs: &[Need::Vdso32],
        without: "no vDSO to unwind through: 1 [OK] of 10",
    },
    Gated {
        test: Selftest {
            name: "vdso_restorer_32",
            cpu: None,
            ok: 2,
            skips: &[],
            needs: &[],
            unexercised: &[],
            death: None,
            checks: "a handler without SA_RESTORER returning through the vDSO's restorers",
        },
        needs: &[Need::Vdso32],
        without: "it SKIPs: 'Failed to find vDSO'",
    },
    Gated {
        test: Selftest {
            name: "test_vsyscall_32",
            cpu: None,
            ok: 6,
            skips: &[],
            needs: &[],
            unexercised: &[],
            death: None,
            checks: "the 32-bit vDSO's gettimeofday, time and getcpu against the syscalls",
        },
        needs: &[Need::Vdso32],
        without: "'failed to find vDSO': every case runs without a verdict, 0 [OK]",
    },
    Gated {
        test: Selftest {
            name: "test_mremap_vdso_32",
            cpu: None,
            ok: 1,
            skips: &[],
            needs: &[],
            unexercised: &[],
            death: None,
            checks: "mremap of the 32-bit vDSO and a call through it",
        },
        needs: &[Need::Vdso32],
        without: "AT_SYSINFO_EHDR is 0: it prints [OK] without having moved anything",
    },
];

//! What each of Linux's x86 selftests is expected to print on kentry: the one table the
//! runner's cases and the judge (`judge.rs`) both read. Counts were measured by running each
//! selftest on kentry (`cargo xtask test --only linux_NAME`); every expected `[SKIP]` says
//! why, and every test whose point needs something kentry lacks names it.
//!
//! When a count changes, the judge fails and says so: fewer `[OK]`s is a regression, more is
//! progress that must be written down here, so the table stays true.

/// Something a selftest needs to reach its point. Whether kentry has it is a fact stated
/// here, never read off a test's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// ptrace(2): attaching to a process, its stops and registers.
    Ptrace,
    /// Per-task debug registers set through PTRACE_POKEUSER (u_debugreg).
    DebugRegisters,
    /// modify_ldt(2): segments of a process's own in the LDT.
    ModifyLdt,
    /// 16-bit segments from modify_ldt: Linux's CONFIG_X86_16BIT, which needs espfix64 for a
    /// return to a 16-bit stack segment (E16; kentry::espfix).
    SixteenBitSegments,
    /// A segment of the test's own: modify_ldt(2), or the 32-bit `set_thread_area` through
    /// `int $0x80`.
    OwnSegment,
    /// XSAVE: CR4.OSXSAVE set, and the xstate in signal frames.
    Xsave,
    /// The judge's unit tests: a capability kentry lacks (it has every real one now).
    #[cfg(test)]
    Lacking,
}

impl Capability {
    /// Whether kentry has it today. Flip it when kentry gains it: the tests that need it are
    /// then judged by their counts alone.
    pub const fn kentry_has(self) -> bool {
        match self {
            Capability::Ptrace => true,
            Capability::DebugRegisters => true,
            // task/ldt.rs (docs/compat.md "The LDT").
            Capability::ModifyLdt => true,
            Capability::SixteenBitSegments => true,
            // set_thread_area's GDT TLS slots (docs/compat.md), through `int $0x80`.
            Capability::OwnSegment => true,
            Capability::Xsave => true,
            #[cfg(test)]
            Capability::Lacking => false,
        }
    }

    /// The gap, as a skip reports it.
    pub const fn gap(self) -> &'static str {
        match self {
            Capability::Ptrace => "kentry gap: no ptrace (issue 11)",
            Capability::DebugRegisters => {
                "kentry gap: no debug registers through PTRACE_POKEUSER (issue 11)"
            }
            Capability::ModifyLdt => "kentry gap: no modify_ldt (no LDT)",
            Capability::SixteenBitSegments => {
                "kentry gap: 16-bit segments refused (a host without espfix64; Linux built \
                 without CONFIG_X86_16BIT refuses them too)"
            }
            Capability::OwnSegment => {
                "kentry gap: no modify_ldt and no compat set_thread_area (int $0x80): \
                 the test cannot create a segment"
            }
            Capability::Xsave => "kentry gap: CR4.OSXSAVE off / XSAVE (issue 12)",
            #[cfg(test)]
            Capability::Lacking => "kentry gap: lacking (a unit test's capability)",
        }
    }
}

/// `[SKIP]` lines a selftest is expected to print.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedSkip {
    /// Text the `[SKIP]` line contains (each observed line matches the first entry whose text
    /// it contains).
    pub line: &'static str,
    /// How many such lines.
    pub count: usize,
    /// Why: `kentry gap: …`, `TCG cannot provoke: …` or `harness: …`.
    pub why: &'static str,
}

/// A part of a selftest that cannot run for lack of a capability, known by the line it
/// prints instead (on stdout or stderr). The test's other parts still count.
#[derive(Debug, Clone, Copy)]
pub struct Unexercised {
    /// Text of the line it prints.
    pub line: &'static str,
    /// How many such lines while kentry lacks `lacks` (none once it has it).
    pub count: usize,
    pub lacks: Capability,
    /// The part that does not run.
    pub what: &'static str,
}

/// How a selftest ends on kentry when the platform keeps it from ending cleanly: its status,
/// and why (a `TCG cannot provoke: …` reason). Such a run is a SKIP naming the reason, never
/// a pass; any other ending fails.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedDeath {
    /// The shell status (128 + signal).
    pub status: u8,
    pub why: &'static str,
}

/// One selftest and what it must print on kentry.
#[derive(Debug, Clone, Copy)]
pub struct Selftest {
    /// The source file's stem in tools/testing/selftests/x86 (binary `<name>_64`).
    pub name: &'static str,
    /// A `-cpu` model other than `max`, for a QEMU bug the test would otherwise hit.
    pub cpu: Option<&'static str>,
    /// The number of `[OK]` lines (stdout and stderr together).
    pub ok: usize,
    pub skips: &'static [ExpectedSkip],
    /// What its point needs. If kentry lacks any of it, the test still runs (and still fails
    /// on a `[FAIL]`, a bad status or wrong counts), but reports SKIP naming the gap.
    pub needs: &'static [Capability],
    /// Parts of it that cannot run here (its point is reached by the rest).
    pub unexercised: &'static [Unexercised],
    /// How it ends when it cannot end cleanly here.
    pub death: Option<ExpectedDeath>,
    /// What a run on kentry checks (or, when a capability is missing, what it cannot).
    pub checks: &'static str,
}

pub const SMP1: &str = "harness: QEMU runs one CPU (-smp 1), there is no CPU 1 to move to";

/// The selftests booted with two CPUs (`-smp 2`; the others run on one, as every runner
/// case): their point needs a second CPU. ldt_gdt's cross-CPU LDT invalidation: a thread
/// pinned to CPU 1 clears the LDT entry that the main thread, spinning in ring 3 on CPU 0,
/// holds in SS; only the write's IPI to CPU 0 (task/ldt.rs) makes CPU 0's return from that
/// interrupt fault on the cleared SS, which the test requires (a SIGSEGV in each of 5 rounds).
pub const SMP2: &[&str] = &["ldt_gdt", "ldt_gdt_32"];

/// How many CPUs QEMU gives selftest `t`.
pub fn cpus(t: &Selftest) -> u32 {
    if SMP2.contains(&t.name) { 2 } else { 1 }
}

/// Linux's x86 selftests run on kentry, in the order of the runner's cases. ptrace_syscall
/// and syscall_numbering are run only when kentry has what they need (x86_gated.rs); iopl and
/// ioperm are left out (they would only test the refusal).
pub const SELFTESTS: &[Selftest] = &[
    Selftest {
        name: "sysret_rip",
        cpu: None,
        ok: 52,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "SYSRET vs IRET with non-canonical and edge RIPs, and RCX/R11 after SYSCALL",
    },
    Selftest {
        name: "syscall_nt",
        cpu: None,
        ok: 9,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "syscalls with NT, AC, DF and TF set in EFLAGS",
    },
    Selftest {
        name: "single_step_syscall",
        cpu: None,
        ok: 6,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "single-stepping (TF) across SYSCALL and int $0x80",
    },
    Selftest {
        name: "syscall_arg_fault",
        cpu: None,
        ok: 2,
        skips: &[ExpectedSkip {
            line: "Illegal instruction",
            count: 3,
            why: "harness: the CPU model, -cpu max, is AuthenticAMD, where SYSENTER in 64-bit mode is \
                  #UD (SIGILL); kentry's SYSENTER entry (Intel models) is tested by \
                  syscall_arg_fault_32 and sysenter_intel_vendor",
        }],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "SYSCALL with an invalid user stack, with and without TF",
    },
    Selftest {
        name: "sigreturn",
        cpu: None,
        // As natively: 19 (12 before espfix64, when modify_ldt refused its code16 and data16
        // segments and 5 cases SKIPped).
        ok: 19,
        skips: &[],
        // Its 16-bit CS and SS cases are half its point (E16).
        needs: &[Capability::SixteenBitSegments],
        unexercised: &[],
        death: None,
        checks: "rt_sigreturn to 64-, 32- and 16-bit CS with 32- and 16-bit SS and high SP \
                 bits (a 16-bit SS keeps ESP 31:16 through espfix64), bogus SS selectors as \
                 #GP (an LDT one: #GP(0) through espfix's #DF fixup, as Linux), a \
                 not-present LDT CS as #NP and a not-present LDT SS as #GP(0) (espfix), both \
                 from modify_ldt",
    },
    Selftest {
        name: "check_initial_reg_state",
        cpu: None,
        ok: 2,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "zeroed GPRs and FLAGS 0x202 at the first user instruction",
    },
    Selftest {
        name: "test_vsyscall",
        cpu: None,
        // 3 without a vDSO; the vDSO's gettimeofday, time, getcpu CPU and node add 4.
        ok: 7,
        skips: &[ExpectedSkip {
            line: "failed to force CPU 1",
            count: 1,
            why: SMP1,
        }],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "the vDSO's gettimeofday and time against the syscalls, its getcpu's CPU and \
                 node on CPU 0; no vsyscall page: reads and calls fault, process_vm_readv of it \
                 fails with EFAULT",
    },
    Selftest {
        name: "mov_ss_trap",
        cpu: None,
        // Its [OK] lines are still in its stdio buffer when it dies.
        ok: 0,
        skips: &[],
        needs: &[Capability::Ptrace, Capability::DebugRegisters],
        unexercised: &[],
        death: Some(ExpectedDeath {
            status: 128 + 11,
            why: "TCG cannot provoke: a #DB deferred past the instruction after MOV SS. QEMU \
                  TCG raises the watchpoint's #DB at once, so at `MOV SS; SYSCALL` (RSP just \
                  made non-canonical) the SIGTRAP frame cannot be written and the test dies \
                  of SIGSEGV; Debian's Linux 6.1 under the same QEMU dies at the same step. \
                  Not reached: the deferred #DB before SYSCALL, SYSENTER, INT $0x80 and the \
                  breakpointed NOP",
        }),
        checks: "a MOV SS whose load hits a hardware watchpoint (set through ptrace) before \
                 INT3, SYSCALL, INT $0x80 and friends",
    },
    Selftest {
        name: "sigaltstack",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "signal delivery on an alternate signal stack",
    },
    Selftest {
        name: "fsgsbase",
        cpu: None,
        // As natively on Linux with stdout a pipe: the lines a forked child prints before it
        // stops for its tracer stay in its stdio buffer (it leaves by _exit). (Before kentry
        // had ptrace, its PTRACE_TRACEME failed and err() flushed that buffer, duplicating
        // the parent's earlier lines: 130 then.) Until set_thread_area existed one of them was
        // vacuous: "[OK] GS remained 0x0" after the segment could not be made (`unexercised`,
        // judged only while kentry lacks OwnSegment).
        ok: 110,
        skips: &[],
        needs: &[],
        unexercised: &[Unexercised {
            line: "could not create a segment -- test won't do anything",
            count: 1,
            lacks: Capability::OwnSegment,
            what: "GSBASE changed behind the kernel's back through a segment of its own \
                   (the [OK] that follows is vacuous)",
        }],
        death: None,
        checks: "FS/GS bases and selectors through arch_prctl, WRFSBASE/WRGSBASE, \
                 context switches and signals",
    },
    Selftest {
        name: "fsgsbase_restore",
        cpu: None,
        ok: 4,
        skips: &[],
        needs: &[Capability::OwnSegment],
        unexercised: &[],
        death: None,
        checks: "GS base restored after a signal, with a segment of its own in GS",
    },
    Selftest {
        name: "ldt_gdt",
        cpu: None,
        // 35 before set_thread_area existed, 41 before modify_ldt; native (2 CPUs): 63, and
        // the same lines (its 16-bit installs print "[OK] ... has AR" since espfix64, where
        // they printed "[OK] modify_ldt rejected 16 bit segment": one line either way).
        // Booted with two CPUs (SMP2).
        ok: 63,
        skips: &[],
        needs: &[Capability::ModifyLdt],
        unexercised: &[],
        death: None,
        checks: "modify_ldt: descriptors read back by LAR/LSL (every type, G, AVL, not-present, \
                 lm ignored), entries beyond the table invalid, deletion rules, entry 8192 \
                 refused, all 8192 entries, the LDT copied by fork and dropped by exec, and \
                 an entry cleared by a thread on CPU 1 while CPU 0 spins with SS from it \
                 (SIGSEGV at once: the IPI); set_thread_area's GDT slots",
    },
    Selftest {
        name: "sigtrap_loop",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "no endless SIGTRAP when a handler returns with TF set",
    },
    Selftest {
        name: "corrupt_xstate_header",
        cpu: None,
        // "Got SIGSEGV" from the header check, then back from the signal, and back in the
        // main thread after a forced schedule; the fork's child flushes the buffered first
        // [OK] once more (stdout is a pipe, as on Linux).
        ok: 3,
        skips: &[],
        needs: &[Capability::Xsave],
        unexercised: &[],
        death: None,
        checks: "a signal frame with a corrupt XSAVE header",
    },
    Selftest {
        name: "sysret_ss_attrs",
        // Its 32-bit thunk far-returns (lret) in ring 3, which QEMU 7.2 TCG wrongly checks as
        // a supervisor access under SMAP (shared/README.md).
        cpu: Some("max,-smap"),
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "32-bit code pushes and pops on SS after each of 1000 sleeping syscalls. \
                 E04 itself (AMD SYSRET leaves stale SS attributes) is NOT provoked: TCG's \
                 SYSRET writes full SS attributes, and kentry has no E04 workaround",
    },
    Selftest {
        name: "test_mremap_vdso",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "a child finds the vDSO by AT_SYSINFO_EHDR, moves it whole with \
                 mremap(MREMAP_FIXED) (kentry's image is one page: the first size tried) and \
                 exits by a raw syscall; on the 64-bit build nothing then runs from the moved \
                 image (the 32-bit build, which returns through it, is expected_32.rs's)",
    },
];

/// The runner case of a selftest: `linux_<name>`.
pub fn case_name(t: &Selftest) -> String {
    format!("linux_{}", t.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sane() {
        let all: Vec<&Selftest> = SELFTESTS
            .iter()
            .chain(super::super::expected_32::SELFTESTS_32)
            .collect();
        let mut names: Vec<&str> = all.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a selftest is listed twice");
        for t in all {
            let missing = t.needs.iter().any(|c| !c.kentry_has());
            // A test with nothing to count passes on nothing: it must name what it lacks.
            assert!(
                t.ok > 0 || missing || t.death.is_some(),
                "{}: no [OK] and no gap named",
                t.name
            );
            if let Some(d) = t.death {
                assert!(
                    d.status > 128 && d.why.starts_with("TCG cannot provoke: "),
                    "{d:?}"
                );
            }
            assert!(!t.checks.is_empty(), "{}", t.name);
            for u in t.unexercised {
                assert!(
                    u.count > 0 && !u.line.is_empty() && !u.what.is_empty(),
                    "{u:?}"
                );
            }
            for s in t.skips {
                assert!(s.count > 0 && !s.line.is_empty(), "{}: {s:?}", t.name);
                assert!(
                    ["kentry gap: ", "TCG cannot provoke: ", "harness: "]
                        .iter()
                        .any(|p| s.why.starts_with(p)),
                    "{}: the reason of {:?} has no category",
                    t.name,
                    s.line
                );
            }
        }
    }
}

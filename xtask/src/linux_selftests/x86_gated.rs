//! Linux's x86 selftests that cannot run on kentry at all until it has what they need: run
//! without it, one would not end, or would end before its first check. While kentry lacks
//! it, the runner does not boot them and reports SKIP naming the gap; once every need is
//! there they run and are judged like the others (`judge.rs`), held to Linux's counts
//! (`cargo xtask linux-selftests` measures them on Linux under the same QEMU).

use super::expected::{Capability, Selftest};

/// What a gated selftest needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A capability of the x86 table (`expected.rs`).
    Has(Capability),
    /// An i386 syscall table behind `int $0x80` for 64-bit callers (its own entry,
    /// kernel/src/syscall/compat/): kentry has it, and runs static i386 programs too.
    Ia32Syscalls,
}

impl Need {
    pub const fn kentry_has(self) -> bool {
        match self {
            Need::Has(c) => c.kentry_has(),
            Need::Ia32Syscalls => true,
        }
    }

    pub const fn gap(self) -> &'static str {
        match self {
            Need::Has(c) => c.gap(),
            Need::Ia32Syscalls => {
                "kentry gap: no i386 syscall table (int $0x80 returns -ENOSYS for every call)"
            }
        }
    }

    /// The part of [`Self::gap`] that a reason naming this need contains (without its
    /// category; the table's check).
    #[cfg(test)]
    pub fn reason(self) -> &'static str {
        self.gap().trim_start_matches("kentry gap: ")
    }
}

/// A selftest run only when kentry has all of `needs`.
#[derive(Debug, Clone, Copy)]
pub struct Gated {
    /// Its counts are Linux's: what it must print once it runs.
    pub test: Selftest,
    pub needs: &'static [Need],
    /// What happens without them, from its source (why it is not run).
    pub without: &'static str,
}

impl Gated {
    /// Why it is not run today (`None`: it runs).
    pub fn not_run(&self) -> Option<String> {
        let gaps: Vec<&str> = self
            .needs
            .iter()
            .filter(|n| !n.kentry_has())
            .map(|n| n.gap())
            .collect();
        (!gaps.is_empty()).then(|| format!("{}; not run: {}", gaps.join("; "), self.without))
    }
}

pub const GATED: &[Gated] = &[
    Gated {
        test: Selftest {
            name: "ptrace_syscall",
            cpu: None,
            // Linux's count (cargo xtask linux-selftests).
            ok: 10,
            skips: &[],
            needs: &[Capability::Ptrace],
            unexercised: &[],
            death: None,
            checks: "registers across int $0x80 (gettid, kill with a handler), and syscall \
                     restart under ptrace: SYSEMU with a rewritten RIP, SETREGS at syscall \
                     entry and exit, pause(2) restarted after a signal while traced",
        },
        needs: &[Need::Has(Capability::Ptrace), Need::Ia32Syscalls],
        without: "its int $0x80 part calls i386 gettid (224) and kill (37), which kentry \
                  answers with -ENOSYS, and prints 2 [FAIL] (regs not preserved); its \
                  ptrace parts (SYSEMU restart, SETREGS at entry and exit, pause(2) \
                  restarted while traced) pass when it is run by hand: 8 [OK]",
    },
    Gated {
        test: Selftest {
            name: "syscall_numbering",
            cpu: None,
            // Linux's: 100 without ptrace (kentry gives these 100 today, measured with the
            // tracer's endless loop cut by a timeout), 600 under the tracer's 6 passes, and
            // the final one.
            ok: 701,
            skips: &[],
            needs: &[Capability::Ptrace],
            unexercised: &[],
            death: None,
            checks: "system call numbers: the high 32 bits of RAX ignored, x32 and \
                     out-of-range numbers -ENOSYS, orig_rax as a tracer sees it, and the \
                     number and return value rewritten by a tracer at syscall entry",
        },
        needs: &[Need::Has(Capability::Ptrace)],
        without: "it would never end: the traced child's PTRACE_TRACEME fails and it \
                  exits, the tracer reaps it in its first waitpid, then loops for ever \
                  on waitpid(child) (ECHILD) waiting for an exit it already reaped",
    },
];

/// The runner case of a gated selftest: `linux_<name>`, as the others.
pub fn case_name(g: &Gated) -> String {
    super::expected::case_name(&g.test)
}

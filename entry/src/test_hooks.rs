//! Named safety checks that a test kernel can switch off (`kentry.break=<name>`), so that a
//! negative test can show each check is load-bearing. Without the `test-hooks` feature every
//! check is always on and this compiles to nothing.

/// A safety check that can be broken on purpose in test kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Check {
    /// `exit_to_user_mode` moves context tracking to user. Broken: the state stays kernel,
    /// and the next entry from user must trip the context-tracking assertion.
    CtUserState = 1 << 0,
    /// FMASK clears AC and NT at SYSCALL (E06, E07). Broken: they stay as the user set them,
    /// and the dispatch-time flags tripwire must catch a syscall made with AC=1.
    SyscallFmask = 1 << 1,
    /// A fault on the `iretq` to user is recognised as carrying the user's GS (E12, E14).
    /// Broken: the IDT stub skips its `swapgs`, and tripwire T1 must catch Rust running on
    /// the user's GS base.
    IretUserGs = 1 << 2,
    /// FMASK clears DF at SYSCALL (E08). Broken: the kernel's syscall_msrs test must find
    /// FMASK unlike Linux's; on a CPU that carries DF across SYSCALL (not QEMU 7.2 TCG) the
    /// kernel's user copy also runs backwards, and syscall_flags' df_uname_copy fails. (The
    /// flags tripwire leaves DF alone then: the tests, not the tripwire, must catch it.)
    FmaskDf = 1 << 3,
    /// FMASK clears TF at SYSCALL (E05). Broken: a SYSCALL made with TF=1 takes #DB on the
    /// kernel's first instruction, which the kernel reports and stops on (syscall_flags'
    /// tf_across_syscall).
    FmaskTf = 1 << 4,
    /// The SYSRET predicate refuses SYSRET when R11 has RF or TF set (E02, E05). Broken:
    /// SYSRET restores TF and the #DB comes before the first user instruction instead of
    /// after it, and syscall_flags' tf_across_syscall must fail.
    SysretTf = 1 << 5,
    /// A kernel-mode NMI that finds another NMI running on this CPU is latched and re-run
    /// after it (E18). Broken: the NMI stub skips its state and exit-window checks, and the
    /// handler of a user-mode NMI keeps no state. A nested NMI then builds its frame over
    /// the running one's on the NMI stack, which the IST depth check must report
    /// (nmi_nested_latched), or re-enters a user-mode NMI's handler, which
    /// nmi_nested_latched_user must see.
    NmiLatch = 1 << 6,
    /// An NMI-like entry from an extended quiescent state (user mode, idle) makes RCU watch
    /// for its duration (`ContextTracking::nmi_enter`). Broken: it does not, and the host's
    /// assertion that RCU watches inside NMI-like handlers must fire (an NMI injected while a
    /// ring-3 program runs with context tracking on: nmi_from_user).
    RcuNmiWatch = 1 << 7,
    /// The SYSRET predicate refuses a return RIP at or above `TASK_SIZE_MAX` (E01: on Intel a
    /// non-canonical RCX makes SYSRET #GP at CPL0 on the user's stack). Broken: the RIP term
    /// is dropped, so a syscall returning to RIP = RCX = 2^n leaves by SYSRET, and the
    /// e01_sysret_noncanonical self-test, which counts such exits on the live exit path,
    /// must fail (17 by SYSRET, want 0). (TCG's SYSRET loads the non-canonical RIP and the
    /// #GP comes from the ring-3 fetch, so the machine survives the run.)
    SysretNoncanonical = 1 << 8,
    /// A #GP/#NP/#SS raised by the `iretq` to user is rebuilt as the task's own user-mode
    /// fault (E14, `fixup_bad_iret`). Broken: the fixup is skipped (the stub still swaps to
    /// the kernel's GS), so the fault stays a kernel-mode #GP at `kentry_iret_to_user`, and
    /// sigreturn_bad's first bad frame (a null CS) must end in the kernel's fault report
    /// naming that instruction instead of the program's SIGSEGV.
    IretFixup = 1 << 9,
    /// FMASK clears IF at SYSCALL (E10: the SYSCALL stub runs on the user's RSP and GS with
    /// interrupts off). Broken: IF stays as the user had it (set), and the dispatch-time flags
    /// tripwire must catch the first syscall still running with IF=1 (or, should a timer IRQ
    /// land inside the stub's user-RSP window first, tripwire T1 or T2 must).
    FmaskIf = 1 << 10,
    /// The IDT common path swaps to the kernel's GS when the saved CS is a user selector
    /// (E12). Broken: a user-mode exception or interrupt keeps the user's GS, and tripwire T1
    /// must catch Rust running on it at the first entry from user mode that is not a
    /// SYSCALL.
    SwapgsByCs = 1 << 11,
    /// The paranoid path gives the interrupted code back the CR2 it had (E20: an NMI can land
    /// between a #PF and its handler's CR2 read, and a fault of the NMI's own overwrites CR2).
    /// Broken: CR2 is left as the NMI left it, and nmi_keeps_cr2 must find its sentinel
    /// replaced by the address of the NMI handler's fixed-up #PF.
    ParanoidCr2 = 1 << 12,
    /// The SYSRET predicate requires RCX = RIP (E02: SYSRET takes RIP from RCX). Broken: the
    /// term is dropped, so a syscall whose exit work moved RIP — a signal delivered on the
    /// way out, which points RIP at the handler and leaves RCX alone — returns by SYSRET to
    /// RCX, after the syscall, and the handler never runs: sigreturn_bad's first hostile
    /// frame (SIGUSR1 from kill) must then see no SIGSEGV.
    SysretRcx = 1 << 13,
    /// FMASK clears NT at SYSCALL (E06), on its own. Broken: NT stays as the user set it, and
    /// the dispatch-time flags tripwire must name NT (0x4000) alone as leaked at
    /// syscall_flags' syscall made with NT set.
    FmaskNt = 1 << 14,
    /// FMASK clears AC at SYSCALL (E07), on its own. Broken: AC stays as the user set it
    /// (SMAP open in the kernel), and the dispatch-time flags tripwire must name AC
    /// (0x40000) alone as leaked at syscall_flags' syscall made with AC set.
    FmaskAc = 1 << 15,
    /// The paranoid path installs this CPU's GS base from its IST slot, whatever base was live
    /// (E13: an NMI, #MC or kernel-mode #DB can land where the user's GS base is live, so
    /// neither CS nor a sign test can tell). Broken: the stub keeps the live base, and
    /// tripwire T1 must catch the NMI that nmi_user_gs_base takes with a user-chosen GS base
    /// live in kernel mode.
    ParanoidGs = 1 << 16,
    /// The SYSRET predicate requires R11 = RFLAGS (E02: SYSRET loads RFLAGS from R11, and a
    /// sigreturn, or a tracer, can leave R11 unlike the flags it asked for — TF in R11 would
    /// single-step the next user instruction). Broken: the term is dropped, and
    /// sigreturn_bad's sysret_r11_differs, which returns with R11 = RFLAGS | TF | CF | ZF | SF
    /// | OF, must see those flags, or a SIGTRAP, instead of its RFLAGS.
    SysretR11 = 1 << 17,
    /// The SYSRET predicate requires the 64-bit user CS (E02: SYSRET loads the fixed 64-bit
    /// selector). Broken: the term is dropped, and sigreturn_bad's sysret_cs_compat, which
    /// returns to 32-bit code (CS 0x23) with RCX = RIP and R11 = RFLAGS, must see its code run
    /// in 64-bit mode (and its null-CS frame must come back without a SIGSEGV).
    SysretCs = 1 << 18,
    /// The SYSRET predicate requires the user data SS (E02: SYSRET loads the fixed selector).
    /// Broken: the term is dropped, and sigreturn_bad's sysret_ss_bad, which returns with a
    /// code segment as SS and RCX = RIP, R11 = RFLAGS, must see no SIGSEGV.
    SysretSs = 1 << 19,
    /// The SYSCALL stub switches to the task's kernel stack before it builds the frame (E11:
    /// the user's RSP is never trusted or touched). Broken: the switch is skipped, and
    /// tripwire T2, checked in the stub before its first push (test kernels), must report the
    /// user's RSP at the first syscall.
    SyscallStack = 1 << 20,
    /// The #PF path reads CR2 before anything that could fault (E20). Broken: it reads CR2
    /// after the host's probe point (`Host::test_pf_entry_probe`), where pf_cr2_read_first
    /// makes a page fault of its own, and that test must see the probe's address handed to
    /// the handler instead of the real fault's.
    Cr2First = 1 << 21,
    /// NMI-like entries turn the debug registers' breakpoints off while their handler runs
    /// and back on after it (E22, Linux's `local_db_save`). Broken: DR7 stays armed, and
    /// nmi_clears_dr7's watchpoint on data its NMI handler writes must fire inside the
    /// handler (a kernel-mode #DB there, which the kernel reports and stops on).
    ParanoidDr7 = 1 << 22,
    /// The `int $0x80` stub swaps GS only for an entry from user mode; from kernel mode (an
    /// external vector 0x80) it hands the vector to the generic stub with the kernel GS
    /// (E28). Broken: it swaps GS whatever the mode, and int80_from_kernel's kernel-mode
    /// `int $0x80` must reach Rust with the user's GS base (tripwire T1).
    Int80Cs = 1 << 23,
    /// An IRET to user mode whose SS names the LDT leaves from the CPU's espfix stack, whose
    /// address bits 31:16 are the user's RSP bits 31:16 (E16: an IRET to a 16-bit SS loads
    /// only SP). Broken: the exit stub skips the espfix path and IRETs from the kernel stack,
    /// and espfix.c's cases must find kernel address bits in ESP 31:16.
    Espfix = 1 << 24,
    /// The #DF that a faulting `iretq` from the (read-only) espfix stack becomes is turned into
    /// the user's #GP(0) (`espfix::fixup_double_fault`, Linux's `exc_double_fault` fixup).
    /// Broken: the #DF goes to the host like any other, and espfix.c's sigreturn to a
    /// not-present 16-bit SS must end in the kernel's double-fault report instead of SIGSEGV.
    EspfixDf = 1 << 25,
}

impl Check {
    /// Every check, for lookups by name.
    pub const ALL: [Check; 26] = [
        Check::CtUserState,
        Check::SyscallFmask,
        Check::IretUserGs,
        Check::FmaskDf,
        Check::FmaskTf,
        Check::SysretTf,
        Check::NmiLatch,
        Check::RcuNmiWatch,
        Check::SysretNoncanonical,
        Check::IretFixup,
        Check::FmaskIf,
        Check::SwapgsByCs,
        Check::ParanoidCr2,
        Check::SysretRcx,
        Check::FmaskNt,
        Check::FmaskAc,
        Check::ParanoidGs,
        Check::SysretR11,
        Check::SysretCs,
        Check::SysretSs,
        Check::SyscallStack,
        Check::Cr2First,
        Check::ParanoidDr7,
        Check::Int80Cs,
        Check::Espfix,
        Check::EspfixDf,
    ];

    /// The name `kentry.break=` uses for this check.
    pub const fn name(self) -> &'static str {
        match self {
            Check::CtUserState => "ct_user_state",
            Check::SyscallFmask => "syscall_fmask",
            Check::IretUserGs => "iret_user_gs",
            Check::FmaskDf => "fmask_df",
            Check::FmaskTf => "fmask_tf",
            Check::SysretTf => "sysret_tf",
            Check::NmiLatch => "nmi_latch",
            Check::RcuNmiWatch => "rcu_nmi_watch",
            Check::SysretNoncanonical => "sysret_noncanonical",
            Check::IretFixup => "iret_fixup",
            Check::FmaskIf => "fmask_if",
            Check::SwapgsByCs => "swapgs_by_cs",
            Check::ParanoidCr2 => "paranoid_cr2",
            Check::SysretRcx => "sysret_rcx",
            Check::FmaskNt => "fmask_nt",
            Check::FmaskAc => "fmask_ac",
            Check::ParanoidGs => "paranoid_gs",
            Check::SysretR11 => "sysret_r11",
            Check::SysretCs => "sysret_cs",
            Check::SysretSs => "sysret_ss",
            Check::SyscallStack => "syscall_stack",
            Check::Cr2First => "cr2_first",
            Check::ParanoidDr7 => "paranoid_dr7",
            Check::Int80Cs => "int80_cs",
            Check::Espfix => "espfix",
            Check::EspfixDf => "espfix_df",
        }
    }

    /// The check named `name`, if any.
    pub fn from_name(name: &str) -> Option<Check> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[cfg(feature = "test-hooks")]
static BROKEN: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Read by the IDT stub (test kernels only): nonzero when [`Check::IretUserGs`] is broken.
#[unsafe(no_mangle)]
pub static kentry_test_break_iret_gs: core::sync::atomic::AtomicU8 =
    core::sync::atomic::AtomicU8::new(0);

/// Read by the IDT common path (test kernels only): nonzero when [`Check::SwapgsByCs`] is
/// broken.
#[unsafe(no_mangle)]
pub static kentry_test_break_swapgs_cs: core::sync::atomic::AtomicU8 =
    core::sync::atomic::AtomicU8::new(0);

/// Read by the paranoid path (test kernels only): nonzero when [`Check::ParanoidGs`] is
/// broken.
#[unsafe(no_mangle)]
pub static kentry_test_break_paranoid_gs: core::sync::atomic::AtomicU8 =
    core::sync::atomic::AtomicU8::new(0);

/// Read by the SYSCALL stub (test kernels only): nonzero when [`Check::SyscallStack`] is
/// broken.
#[unsafe(no_mangle)]
pub static kentry_test_break_syscall_stack: core::sync::atomic::AtomicU8 =
    core::sync::atomic::AtomicU8::new(0);

/// Read by the NMI stub (test kernels only): nonzero when [`Check::NmiLatch`] is broken.
#[unsafe(no_mangle)]
pub static kentry_test_break_nmi_latch: core::sync::atomic::AtomicU8 =
    core::sync::atomic::AtomicU8::new(0);

/// Read by the `int $0x80` stub (test kernels only): nonzero when [`Check::Int80Cs`] is
/// broken.
#[unsafe(no_mangle)]
pub static kentry_test_break_int80_cs: core::sync::atomic::AtomicU8 =
    core::sync::atomic::AtomicU8::new(0);

/// Read by the IRET exit stub (test kernels only): nonzero when [`Check::Espfix`] is broken.
#[unsafe(no_mangle)]
pub static kentry_test_break_espfix: core::sync::atomic::AtomicU8 =
    core::sync::atomic::AtomicU8::new(0);

/// Whether the asm stubs carry their test-only switches.
pub const IN_STUBS: u8 = cfg!(feature = "test-hooks") as u8;

/// Turns `check` off. Only test kernels can.
#[cfg(feature = "test-hooks")]
pub fn break_check(check: Check) {
    BROKEN.fetch_or(check as u32, core::sync::atomic::Ordering::Relaxed);
    if check == Check::IretUserGs {
        kentry_test_break_iret_gs.store(1, core::sync::atomic::Ordering::Relaxed);
    }
    if check == Check::NmiLatch {
        kentry_test_break_nmi_latch.store(1, core::sync::atomic::Ordering::Relaxed);
    }
    if check == Check::ParanoidGs {
        kentry_test_break_paranoid_gs.store(1, core::sync::atomic::Ordering::Relaxed);
    }
    if check == Check::SyscallStack {
        kentry_test_break_syscall_stack.store(1, core::sync::atomic::Ordering::Relaxed);
    }
    if check == Check::SwapgsByCs {
        kentry_test_break_swapgs_cs.store(1, core::sync::atomic::Ordering::Relaxed);
    }
    if check == Check::Int80Cs {
        kentry_test_break_int80_cs.store(1, core::sync::atomic::Ordering::Relaxed);
    }
    if check == Check::Espfix {
        kentry_test_break_espfix.store(1, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether `check` is on.
#[inline(always)]
pub fn enabled(check: Check) -> bool {
    #[cfg(feature = "test-hooks")]
    {
        BROKEN.load(core::sync::atomic::Ordering::Relaxed) & check as u32 == 0
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        let _ = check;
        true
    }
}

/// Syscall exits to a RIP at or above 2^47 (outside the lower canonical half: on Intel a
/// SYSRET there faults at CPL0, E01), by how they left: [by SYSRET, by IRET]. Counted on the
/// live exit path from the decision the SYSCALL stub follows; test kernels only.
#[cfg(feature = "test-hooks")]
static SYSCALL_EXITS_ABOVE_USER_HALF: [core::sync::atomic::AtomicU64; 2] =
    [const { core::sync::atomic::AtomicU64::new(0) }; 2];

/// Records how a syscall leaves (test kernels; nothing otherwise).
#[inline(always)]
pub fn note_syscall_exit(rip: u64, by_sysret: bool) {
    #[cfg(feature = "test-hooks")]
    if rip >= 1 << 47 {
        SYSCALL_EXITS_ABOVE_USER_HALF[usize::from(!by_sysret)]
            .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = (rip, by_sysret);
}

/// (by SYSRET, by IRET) syscall exits to a RIP at or above 2^47 so far; `None` in kernels
/// built without test hooks, which do not count them.
pub fn syscall_exits_above_user_half() -> Option<(u64, u64)> {
    #[cfg(feature = "test-hooks")]
    {
        let [s, i] = &SYSCALL_EXITS_ABOVE_USER_HALF;
        Some((
            s.load(core::sync::atomic::Ordering::Relaxed),
            i.load(core::sync::atomic::Ordering::Relaxed),
        ))
    }
    #[cfg(not(feature = "test-hooks"))]
    None
}

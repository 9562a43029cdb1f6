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
    /// FMASK clears DF, AC and NT at SYSCALL (E06–E08). Broken: they stay as the user set
    /// them, and the dispatch-time flags tripwire must catch a syscall made with DF=1.
    SyscallFmask = 1 << 1,
    /// A fault on the `iretq` to user is recognised as carrying the user's GS (E12, E14).
    /// Broken: the IDT stub skips its `swapgs`, and tripwire T1 must catch Rust running on
    /// the user's GS base.
    IretUserGs = 1 << 2,
}

impl Check {
    pub const ALL: [Check; 3] = [Check::CtUserState, Check::SyscallFmask, Check::IretUserGs];

    pub const fn name(self) -> &'static str {
        match self {
            Check::CtUserState => "ct_user_state",
            Check::SyscallFmask => "syscall_fmask",
            Check::IretUserGs => "iret_user_gs",
        }
    }

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

/// Whether the asm stubs carry their test-only switches.
pub const IN_STUBS: u8 = cfg!(feature = "test-hooks") as u8;

/// Turns `check` off. Only test kernels can.
#[cfg(feature = "test-hooks")]
pub fn break_check(check: Check) {
    BROKEN.fetch_or(check as u32, core::sync::atomic::Ordering::Relaxed);
    if check == Check::IretUserGs {
        kentry_test_break_iret_gs.store(1, core::sync::atomic::Ordering::Relaxed);
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

//! Context tracking: which context this CPU is in (kernel, user, idle), plus the RCU
//! "watching" counter, in one word that a single atomic instruction updates.
//!
//! Layout of the word: bits 0–1 the state, bits 2–9 the NMI-like nesting depth, bits 10.. a
//! counter that is odd while RCU watches this CPU (kernel context) and even while it is in an
//! extended quiescent state (user mode, idle). Entering or leaving user mode changes state and
//! counter with one `lock xadd`, so an NMI on the same CPU sees either the old or the new word,
//! never half of it (E39); and the value that instruction returns is what the entry checks, so
//! checking costs no extra load. Another CPU that sees the counter even, or changed since its
//! snapshot, knows this CPU passed a quiescent state — without an IPI, which is what lets a
//! `nohz_full` CPU run user code undisturbed.
//!
//! NMI-like entries (NMI, #MC, #DB, #DF) may land anywhere, even between two instructions of a
//! transition, so they do not check the state: they count their nesting and make RCU watch for
//! their duration if it was not.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Context tracking on (for `nohz_full` CPUs, and in test kernels for the entry assertions).
/// Off, the entry and exit paths skip the state updates and checks at the cost of one NOP
/// each. Change it only with every other CPU parked in kernel context outside entry text (the
/// host's stop-machine flip, entry/README.md "Static keys"): each state word must say "kernel"
/// at the moment it starts or stops being maintained.
pub static CONTEXT_TRACKING: crate::static_key::StaticKey = crate::static_key::StaticKey::new();

/// The host's user-transition hooks ([`Host::user_exit`](crate::Host::user_exit),
/// [`Host::user_enter`](crate::Host::user_enter)) run, around the context-tracking updates
/// (which this key implies: it is on only while [`CONTEXT_TRACKING`] is). The two keys share
/// one site at each user transition (`static_select!`), so context tracking alone pays no NOP
/// for hooks it does not run, and with hooks it pays one jump, not two. Flip it as
/// [`CONTEXT_TRACKING`] (every other CPU parked), after turning that key on and before
/// turning it off.
pub static USER_HOOKS: crate::static_key::StaticKey = crate::static_key::StaticKey::new();

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// The context a CPU is in, as context tracking records it.
#[repr(u64)]
pub enum CtState {
    /// Kernel code: RCU watches.
    Kernel = 0,
    /// User code: an extended quiescent state for RCU.
    User = 1,
    /// The idle loop: an extended quiescent state for RCU.
    Idle = 2,
}

/// The word's state bits (a [`CtState`] value).
pub const STATE_MASK: u64 = 3;
const NMI_ONE: u64 = 1 << 2;
const NMI_MASK: u64 = 0xff << 2;
const COUNTER_SHIFT: u32 = 10;
const COUNTER_ONE: u64 = 1 << COUNTER_SHIFT;
/// Added at kernel → user: counter + 1, state Kernel → User.
pub(crate) const DELTA_ENTER_USER: u64 = COUNTER_ONE + CtState::User as u64;
/// Added at user → kernel: counter + 1, state User → Kernel.
pub(crate) const DELTA_EXIT_USER: u64 = COUNTER_ONE.wrapping_sub(CtState::User as u64);

const _: () = assert!(DELTA_ENTER_USER.wrapping_add(DELTA_EXIT_USER) == 2 * COUNTER_ONE);

/// Added at kernel → idle: counter + 1, state Kernel → Idle.
const DELTA_ENTER_IDLE: u64 = COUNTER_ONE + CtState::Idle as u64;
/// Added at idle → kernel: counter + 1, state Idle → Kernel.
const DELTA_EXIT_IDLE: u64 = COUNTER_ONE.wrapping_sub(CtState::Idle as u64);

pub(crate) const STATE_AND_NMI_MASK: u64 = STATE_MASK | NMI_MASK;

/// Where a context-tracking word lives, and the one locked add every user transition is.
/// The entry paths use this CPU's word through GS ([`crate::entry_percpu::this_cpu_ops::ThisCpuCtWord`],
/// one instruction, no load of the per-CPU base); host tests use a plain `&AtomicU64`. The
/// transition logic below is written once, over either.
pub trait CtWord {
    /// Adds `DELTA` and returns the new word (a full barrier, as RCU needs).
    fn add_return<const DELTA: u64>(self) -> u64;
    /// Adds `DELTA` (a full barrier).
    fn add<const DELTA: u64>(self);
}

impl CtWord for &AtomicU64 {
    #[inline(always)]
    fn add_return<const DELTA: u64>(self) -> u64 {
        AtomicU64::fetch_add(self, DELTA, Ordering::SeqCst).wrapping_add(DELTA)
    }
    #[inline(always)]
    fn add<const DELTA: u64>(self) {
        AtomicU64::fetch_add(self, DELTA, Ordering::SeqCst);
    }
}

/// User → kernel at an entry from user mode, checked: the word must have said "user, no
/// NMI-like nesting". The check reads the value the update itself returned; on failure the
/// error is that raw word (see [`ContextTracking::violation`]), cheap to hand to a cold path.
#[inline(always)]
pub fn exit_user_checked(word: impl CtWord) -> Result<(), u64> {
    let new = word.add_return::<DELTA_EXIT_USER>();
    // The old word was "user, no NMI" exactly when the new one has all state and nesting bits
    // clear (User + DELTA carries into the counter): one `test` decides, and the old word is
    // recomputed only on the cold path.
    if new & STATE_AND_NMI_MASK == 0 {
        Ok(())
    } else {
        Err(new.wrapping_sub(DELTA_EXIT_USER))
    }
}

/// Kernel → user: one locked add moves the state to User and makes the counter even.
#[inline(always)]
pub fn enter_user(word: impl CtWord) {
    word.add::<DELTA_ENTER_USER>();
}

/// One CPU's context-tracking state: the word (state, NMI nesting, RCU counter) and what each NMI-like level must undo.
#[repr(C)]
pub struct ContextTracking {
    word: AtomicU64,
    /// Bit n set: the NMI-like entry at nesting depth n made RCU watch and must undo it.
    nmi_made_watching: AtomicU32,
}

/// What an exception entry found: the one of the three allowed cases that holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryContext {
    /// State user and the frame is user mode.
    FromUser,
    /// State kernel and the frame is kernel mode.
    FromKernel,
    /// Inside an NMI-like entry: the state may be anything.
    NmiNested,
    /// State idle and the frame is kernel mode: an interrupt in the idle loop's extended
    /// quiescent state. The entry makes RCU watch ([`ContextTracking::exit_idle`]) for the
    /// handler's duration, and the exit puts the CPU back into the idle EQS (Linux's
    /// `ct_irq_enter`/`ct_irq_exit`), so that RCU readers in interrupt handlers are safe.
    FromIdle,
}

/// The state did not fit the frame: the report a kernel prints before it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtViolation {
    /// The state found (a [`CtState`] value).
    pub state: u64,
    /// Whether the frame was a user-mode one.
    pub user_mode: bool,
    /// The NMI-like nesting depth found.
    pub nmi_nesting: u32,
}

impl ContextTracking {
    /// A CPU in kernel context with RCU watching: the state at boot.
    pub const fn new() -> Self {
        ContextTracking {
            // Kernel, watching (counter 1).
            word: AtomicU64::new(COUNTER_ONE),
            nmi_made_watching: AtomicU32::new(0),
        }
    }

    /// The state bits (a [`CtState`] value).
    #[inline(always)]
    pub fn state(&self) -> u64 {
        self.word.load(Ordering::Relaxed) & STATE_MASK
    }

    /// The RCU counter; odd while RCU is watching this CPU.
    #[inline(always)]
    pub fn rcu_counter(&self) -> u64 {
        self.word.load(Ordering::Acquire) >> COUNTER_SHIFT
    }

    /// Whether RCU watches this CPU (the counter is odd).
    #[inline(always)]
    pub fn rcu_watching(&self) -> bool {
        self.rcu_counter() & 1 == 1
    }

    /// How many NMI-like entries are live on this CPU.
    #[inline(always)]
    pub fn nmi_nesting(&self) -> u32 {
        ((self.word.load(Ordering::Relaxed) & NMI_MASK) >> 2) as u32
    }

    /// The report for a word an entry found wrong.
    pub fn violation(word: u64, user_mode: bool) -> CtViolation {
        CtViolation {
            state: word & STATE_MASK,
            user_mode,
            nmi_nesting: ((word & NMI_MASK) >> 2) as u32,
        }
    }

    /// Classifies an exception or interrupt entry; exactly one case must hold.
    #[inline(always)]
    pub fn classify_entry(&self, user_mode: bool) -> Result<EntryContext, CtViolation> {
        let word = self.word.load(Ordering::Relaxed);
        if word & NMI_MASK != 0 {
            return Ok(EntryContext::NmiNested);
        }
        let state = word & STATE_MASK;
        match (state, user_mode) {
            (s, true) if s == CtState::User as u64 => Ok(EntryContext::FromUser),
            (s, false) if s == CtState::Kernel as u64 => Ok(EntryContext::FromKernel),
            (s, false) if s == CtState::Idle as u64 => Ok(EntryContext::FromIdle),
            _ => Err(Self::violation(word, user_mode)),
        }
    }

    /// Kernel → idle (the idle loop, interrupts off): one locked add moves the state to Idle
    /// and makes the counter even, an extended quiescent state that another CPU sees without
    /// an IPI. Checked: the word must have said "kernel, no NMI-like nesting"; the error is the
    /// word found.
    #[inline]
    pub fn enter_idle(&self) -> Result<(), u64> {
        let old = self.word.fetch_add(DELTA_ENTER_IDLE, Ordering::SeqCst);
        if old & STATE_AND_NMI_MASK == CtState::Kernel as u64 {
            Ok(())
        } else {
            Err(old)
        }
    }

    /// Idle → kernel (the idle loop after its halt, or an interrupt entry that found
    /// [`EntryContext::FromIdle`]): RCU watches again. Checked like [`Self::enter_idle`]: the
    /// word must have said "idle, no NMI-like nesting".
    #[inline]
    pub fn exit_idle(&self) -> Result<(), u64> {
        let old = self.word.fetch_add(DELTA_EXIT_IDLE, Ordering::SeqCst);
        if old & STATE_AND_NMI_MASK == CtState::Idle as u64 {
            Ok(())
        } else {
            Err(old)
        }
    }

    /// NMI-like entry: raise the nesting count; if RCU was not watching, make it watch.
    /// (Test kernels, `kentry.break=rcu_nmi_watch`: it does not, and the host's assertion
    /// inside the handler must fire.)
    #[inline(always)]
    pub fn nmi_enter(&self) {
        let depth = (self.word.fetch_add(NMI_ONE, Ordering::Relaxed) & NMI_MASK) >> 2;
        if !self.rcu_watching() && crate::test_hooks::enabled(crate::test_hooks::Check::RcuNmiWatch)
        {
            self.word.fetch_add(COUNTER_ONE, Ordering::Acquire);
            self.nmi_made_watching
                .fetch_or(1 << (depth & 31), Ordering::Relaxed);
        }
    }

    /// NMI-like exit: undo exactly what the matching [`Self::nmi_enter`] did.
    #[inline(always)]
    pub fn nmi_exit(&self) {
        let depth = self.nmi_nesting() - 1;
        let bit = 1 << (depth & 31);
        if self.nmi_made_watching.load(Ordering::Relaxed) & bit != 0 {
            self.nmi_made_watching.fetch_and(!bit, Ordering::Relaxed);
            self.word.fetch_add(COUNTER_ONE, Ordering::Release);
        }
        self.word.fetch_sub(NMI_ONE, Ordering::Relaxed);
    }
}

impl Default for ContextTracking {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the word found by a user → kernel entry was "user, no NMI-like nesting".
    fn was_user(old: u64) -> bool {
        old & STATE_AND_NMI_MASK == CtState::User as u64
    }

    #[test]
    fn user_round_trip_flips_watching_and_state() {
        let ct = ContextTracking::new();
        assert!(ct.rcu_watching());
        assert_eq!(ct.state(), CtState::Kernel as u64);
        let c0 = ct.rcu_counter();
        enter_user(&ct.word);
        assert_eq!(ct.state(), CtState::User as u64);
        assert!(!ct.rcu_watching());
        assert_eq!(ct.rcu_counter(), c0 + 1);
        exit_user_checked(&ct.word).unwrap();
        assert_eq!(ct.state(), CtState::Kernel as u64);
        assert!(ct.rcu_watching());
        assert_eq!(ct.rcu_counter(), c0 + 2);
    }

    #[test]
    fn classify_accepts_exactly_the_three_cases() {
        let ct = ContextTracking::new();
        assert_eq!(ct.classify_entry(false), Ok(EntryContext::FromKernel));
        assert!(ct.classify_entry(true).is_err());
        enter_user(&ct.word);
        assert_eq!(ct.classify_entry(true), Ok(EntryContext::FromUser));
        let v = ct.classify_entry(false).unwrap_err();
        assert_eq!(v.state, CtState::User as u64);
        assert!(!v.user_mode);
        ct.nmi_enter();
        assert_eq!(ct.classify_entry(false), Ok(EntryContext::NmiNested));
        ct.nmi_exit();
        assert!(ct.classify_entry(false).is_err());
    }

    #[test]
    fn nmi_in_user_makes_rcu_watch_and_restores() {
        let ct = ContextTracking::new();
        enter_user(&ct.word);
        let c = ct.rcu_counter();
        ct.nmi_enter();
        assert!(ct.rcu_watching());
        ct.nmi_enter(); // nested: already watching, no change
        assert_eq!(ct.rcu_counter(), c + 1);
        ct.nmi_exit();
        assert!(ct.rcu_watching());
        ct.nmi_exit();
        assert!(!ct.rcu_watching());
        assert_eq!(ct.rcu_counter(), c + 2);
        assert_eq!(ct.state(), CtState::User as u64);
        assert_eq!(ct.nmi_nesting(), 0);
    }

    #[test]
    fn checked_exit_from_user() {
        let ct = ContextTracking::new();
        // Kernel state at a user entry: refused, and the report names the state found.
        let v = ContextTracking::violation(exit_user_checked(&ct.word).unwrap_err(), true);
        assert_eq!((v.state, v.nmi_nesting), (CtState::Kernel as u64, 0));
        let ct = ContextTracking::new();
        enter_user(&ct.word);
        assert_eq!(exit_user_checked(&ct.word), Ok(()));
        assert_eq!(ct.state(), CtState::Kernel as u64);
        assert!(ct.rcu_watching());
        // User state but an NMI-like entry still counted: refused too.
        let ct = ContextTracking::new();
        enter_user(&ct.word);
        ct.nmi_enter();
        let word = exit_user_checked(&ct.word).unwrap_err();
        assert_eq!(ContextTracking::violation(word, true).nmi_nesting, 1);
    }

    /// The fast path's test: "old was user, no NMI" ⟺ "old + DELTA_EXIT_USER has no state
    /// or nesting bits" — for every combination of those bits.
    #[test]
    fn exit_user_test_on_the_new_word() {
        for low in 0..=STATE_AND_NMI_MASK {
            for counter in [0u64, 1, 2, 0x1234_5677] {
                let old = (counter << COUNTER_SHIFT) | low;
                let new = old.wrapping_add(DELTA_EXIT_USER);
                assert_eq!(
                    new & STATE_AND_NMI_MASK == 0,
                    was_user(old),
                    "low bits {low:#x}"
                );
            }
        }
    }

    #[test]
    fn idle_round_trip_is_an_eqs() {
        let ct = ContextTracking::new();
        let c0 = ct.rcu_counter();
        ct.enter_idle().unwrap();
        assert_eq!(ct.state(), CtState::Idle as u64);
        assert!(!ct.rcu_watching());
        assert_eq!(ct.rcu_counter(), c0 + 1);
        // An interrupt in idle: classified as such, watches for its duration, goes back.
        assert_eq!(ct.classify_entry(false), Ok(EntryContext::FromIdle));
        ct.exit_idle().unwrap();
        assert!(ct.rcu_watching());
        assert_eq!(ct.classify_entry(false), Ok(EntryContext::FromKernel));
        ct.enter_idle().unwrap();
        assert!(!ct.rcu_watching());
        // An NMI in idle watches too, and leaves the idle EQS as it was.
        ct.nmi_enter();
        assert!(ct.rcu_watching());
        assert_eq!(ct.classify_entry(false), Ok(EntryContext::NmiNested));
        ct.nmi_exit();
        assert!(!ct.rcu_watching());
        assert_eq!(ct.state(), CtState::Idle as u64);
        ct.exit_idle().unwrap();
        assert_eq!(ct.state(), CtState::Kernel as u64);
        assert!(ct.rcu_watching());
        assert_eq!(ct.rcu_counter(), c0 + 6);
    }

    #[test]
    fn idle_transitions_are_checked() {
        let ct = ContextTracking::new();
        // Not idle: leaving idle is refused and the report names the state found.
        let w = ct.exit_idle().unwrap_err();
        assert_eq!(w & STATE_MASK, CtState::Kernel as u64);
        let ct = ContextTracking::new();
        enter_user(&ct.word);
        // From user, idle cannot be entered.
        let w = ct.enter_idle().unwrap_err();
        assert_eq!(w & STATE_MASK, CtState::User as u64);
        // Inside an NMI-like entry neither can it.
        let ct = ContextTracking::new();
        ct.nmi_enter();
        assert_eq!(
            ContextTracking::violation(ct.enter_idle().unwrap_err(), false).nmi_nesting,
            1
        );
    }

    #[test]
    fn nmi_in_kernel_changes_nothing() {
        let ct = ContextTracking::new();
        let c = ct.rcu_counter();
        ct.nmi_enter();
        ct.nmi_exit();
        assert_eq!(ct.rcu_counter(), c);
    }
}

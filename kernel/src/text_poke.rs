//! Writing kernel text at run time (static keys), on a live SMP machine.
//!
//! Text is mapped read-only; every physical page is also visible, writable and
//! non-executable, through the direct map, so a write goes through that alias: W^X holds for
//! every mapping at every moment.
//!
//! # Flipping a key while other CPUs run: the protocol (stop-machine, no INT3)
//!
//! Linux patches live text with the INT3 dance (write `int3` over the first byte, sync IPI,
//! write the tail, sync IPI, write the first byte, sync IPI); a CPU that meets the half-written
//! site takes #BP and the handler emulates the jump. kentry cannot: the patched sites are in
//! entry text (user entry right after `swapgs`/stack switch, the exit path with the user's GS
//! about to be loaded), and a #BP there would run a kernel-mode exception on whatever GS and
//! stack the window holds — the very state the entry code is building. Entry text never takes
//! a breakpoint. So a flip parks every other CPU instead ([`flip_key`]):
//!
//! 1. The flipping CPU turns interrupts off and sends a call-function IPI to every other
//!    online CPU (`ipi::call_on_others`, which serialises requests and, while it waits, runs
//!    any request sent to itself). Each target runs the park closure in interrupt context:
//!    interrupts off, in this file's loop — a known place that is not entry text.
//! 2. The last CPU to arrive writes every site of the key, then releases the others. The
//!    flipping CPU meanwhile spins in `call_on_mask`'s wait loop, also not entry text.
//! 3. Each CPU runs `cpuid` (serialising: no stale prefetched or decoded copy of a site
//!    survives) before it leaves the park; the flipping CPU runs it after the call returns.
//!
//! Why that is safe:
//! - No CPU executes a site while it changes: every CPU is in the park or the wait loop with
//!   interrupts off, and the only way back into entry code is an NMI or #MC.
//! - NMI-like entries from kernel mode hold no site: `irqentry_nmi_enter`/`irqentry_nmi_exit`
//!   update the context-tracking word unconditionally (no static branch); the sites are in
//!   `enter_from_user_mode` (entries from ring 3 only), `exit_to_user_mode` (returns to ring
//!   3 only) and `irqentry_enter`'s kernel branch (non-IST vectors). A parked CPU is in ring 0,
//!   so an NMI or #MC landing there enters from kernel mode and meets no site. The one
//!   remaining way is an exception taken inside such an NMI handler (a fixed-up #PF): for that,
//!   a site that lies inside one aligned 8-byte word is written with one 8-byte store, which
//!   x86 performs atomically, so an instruction fetch sees the old 5 bytes or the new 5 bytes,
//!   and either is a whole instruction with the right meaning (`irqentry_enter` in an NMI
//!   classifies as `NmiNested` whatever the key says). `static_branch!` therefore aligns every
//!   site so that it lies inside one 8-byte word (one multi-byte NOP of padding where it would
//!   straddle: one instruction on that path). A site that still straddled would be written
//!   byte-wise and could be fetched torn; [`straddling_sites`] counts them at boot and the
//!   `static_key_flips_smp` test requires none. The user transitions' sites
//!   (`static_select!`, shared by `CONTEXT_TRACKING` and `USER_HOOKS`) are the exception:
//!   only code entering from or returning to ring 3 runs them, which a parked CPU and an NMI
//!   on it never do, so they are not aligned and pay no padding NOP on every syscall.
//! - Context-tracking state stays exact across a flip. The word is maintained only while the
//!   key is on, and kentry's invariant is: key off ⇒ every CPU's word says "kernel, watching".
//!   A parked CPU is in kernel context and every transition is done with interrupts off,
//!   between the sampling of a site and the update it guards (entry: the update precedes
//!   `sti`; exit: `cli` precedes the site and stays until SYSRET/IRET), so no CPU is ever
//!   parked between "decided by the key" and "did the update". Hence at the flip each word
//!   says "kernel": turning on, the next return to user does Kernel → User and the next entry
//!   User → Kernel, in pairs; turning off, the word is left at "kernel, watching", as the
//!   invariant wants. A CPU in ring 3 at the moment of the flip is impossible: it is parked.
//!   The park checks its own word after every flip ([`PARK_WORD_ERRORS`]).
//! - IRQ-off waits cannot deadlock: a CPU spinning with interrupts off for another CPU polls
//!   its call-function slot (ipi.rs), so it parks where it spins.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kentry::static_key::StaticKey;

/// Writes `bytes` over kernel code at `addr`. A write of at most 8 bytes that lies inside one
/// aligned 8-byte word is one 8-byte store (atomic for instruction fetch on other CPUs).
///
/// # Safety
/// `addr..addr+len` must be kernel text that no CPU executes while it changes except through
/// an atomic store ([`flip_key`]'s park), and `bytes` must leave whole instructions there.
pub unsafe fn write_text(addr: u64, bytes: &[u8]) {
    let alias = crate::mm::phys_to_virt(crate::mm::kernel_virt_to_phys(addr));
    let in_word = alias & 7;
    if in_word as usize + bytes.len() <= 8 {
        let word_addr = alias & !7;
        // SAFETY: the aligned word is in the same text page (8-aligned words never cross a
        // page) and mapped writable through the alias; only this CPU writes text now (key
        // flips are serialised by FLIP_LOCK), so the bytes around the site are stable.
        unsafe {
            let word = &*(word_addr as *const AtomicU64);
            let mut b = word.load(Ordering::Relaxed).to_le_bytes();
            b[in_word as usize..in_word as usize + bytes.len()].copy_from_slice(bytes);
            word.store(u64::from_le_bytes(b), Ordering::Release);
        }
        return;
    }
    // SAFETY: the alias maps the same frames writably; the caller vouches for the rest.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), alias as *mut u8, bytes.len()) };
}

/// How many live sites of `key` (those a CPU may run while a key flips) straddle an 8-byte
/// boundary (written byte-wise, so fetched torn). `static_select!`'s parked-only sites at the
/// user transitions may straddle: no CPU runs them during a flip.
pub fn straddling_sites(key: &'static StaticKey) -> usize {
    key.sites()
        .filter(|e| e.is_live() && e.site & 7 > 3)
        .count()
}

/// One key flip at a time.
static FLIP_LOCK: crate::sync::Mutex<()> = crate::sync::Mutex::new(());
/// CPUs parked for the current flip.
static PARKED: AtomicU32 = AtomicU32::new(0);
/// Bumped by the CPU that patched: the parked CPUs leave when it changes.
static RELEASE: AtomicU64 = AtomicU64::new(0);
/// Parked CPUs whose context-tracking word was not "kernel, watching, no NMI" right after a
/// flip (a lost or doubled transition): the flip test reads it.
pub static PARK_WORD_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Test kernels, `kentry.break=key_park`: flips patch with the other CPUs running (the
/// negative run of `static_key_flips_smp`, which the entry assertions must catch).
pub static SKIP_PARK: AtomicBool = AtomicBool::new(false);
/// Flips done through the park.
pub static PARKED_FLIPS: AtomicU64 = AtomicU64::new(0);

/// Turns `key` on or off with every other CPU parked (module docs); returns the sites patched.
pub fn flip_key(key: &'static StaticKey, on: bool) -> usize {
    use kentry::context_tracking::{CONTEXT_TRACKING, USER_HOOKS};
    // USER_HOOKS implies CONTEXT_TRACKING: the sites they share would otherwise run the
    // transitions (and their checks) with context tracking off.
    let hooks_without_tracking = if on {
        core::ptr::eq(key, &USER_HOOKS) && !CONTEXT_TRACKING.is_enabled()
    } else {
        core::ptr::eq(key, &CONTEXT_TRACKING) && USER_HOOKS.is_enabled()
    };
    assert!(
        !hooks_without_tracking,
        "static keys: USER_HOOKS may be on only while CONTEXT_TRACKING is"
    );
    let _serial = FLIP_LOCK.lock();
    let others = crate::smp::online_count().saturating_sub(1);
    if others == 0 || SKIP_PARK.load(Ordering::Relaxed) {
        return set_here(key, on);
    }
    let patched = AtomicU64::new(0);
    x86_64::instructions::interrupts::without_interrupts(|| {
        PARKED.store(0, Ordering::Relaxed);
        let generation = RELEASE.load(Ordering::Relaxed);
        let ran = crate::smp::ipi::call_on_others(|| {
            if PARKED.fetch_add(1, Ordering::AcqRel) + 1 == others {
                patched.store(set_here(key, on) as u64, Ordering::Relaxed);
                RELEASE.store(generation + 1, Ordering::Release);
            } else {
                while RELEASE.load(Ordering::Acquire) == generation {
                    core::hint::spin_loop();
                }
            }
            // Serialise before this CPU runs any patched site again.
            core::arch::x86_64::__cpuid(0);
            check_own_word();
        });
        assert_eq!(ran, others, "key flip: a CPU did not park");
        core::arch::x86_64::__cpuid(0);
    });
    PARKED_FLIPS.fetch_add(1, Ordering::Relaxed);
    patched.load(Ordering::Relaxed) as usize
}

/// Patches `key`'s sites from this CPU (the others parked, or none online).
fn set_here(key: &'static StaticKey, on: bool) -> usize {
    if on { key.enable() } else { key.disable() }
}

/// A parked CPU is in kernel context: its word must say so, with RCU watching and no NMI.
fn check_own_word() {
    let ct = &crate::percpu::this_cpu().entry.context_tracking;
    if ct.state() != 0 || !ct.rcu_watching() || ct.nmi_nesting() != 0 {
        PARK_WORD_ERRORS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Turns context tracking on or off (boot command line `kentry.ct=on|off`; on by default in
/// test kernels, whose entry assertions depend on it; always on when a CPU is nohz_full,
/// whose tick decision and time accounting run from its transitions).
pub fn apply_context_tracking(cmdline: &str) {
    let default_on = cfg!(feature = "test-hooks");
    let setting = crate::boot::cmdline_value(cmdline, "kentry.ct");
    let mut on = match setting {
        Some("on" | "hooks") => true,
        Some("off") => false,
        _ => default_on,
    };
    if crate::nohz::full_mask() != 0 && !on {
        crate::klog!("context tracking: turned on for nohz_full");
        on = true;
    }
    let ct = &kentry::context_tracking::CONTEXT_TRACKING;
    if on {
        let n = flip_key(ct, true);
        crate::klog!(
            "context tracking: on ({n} static-branch sites patched, {} live ones straddle an 8-byte word)",
            straddling_sites(ct)
        );
    }
    // The nohz_full hooks (time accounting, the tick decision) at every user transition.
    // `kentry.ct=hooks` turns them on with no CPU nohz_full (they then find nothing to do):
    // the verify and the lean kernel's ring-3 tests run the hooks' copy of the transitions.
    if crate::nohz::full_mask() != 0 || setting == Some("hooks") {
        let n = flip_key(&kentry::context_tracking::USER_HOOKS, true);
        crate::klog!("context tracking: user-transition hooks on ({n} sites)");
    }
}

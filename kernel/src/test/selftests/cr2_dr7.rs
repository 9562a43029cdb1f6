//! The order and the state the entry paths keep for the code they interrupt:
//! - E20, CR2 read first: the #PF path must read CR2 before the first point where anything
//!   could fault. Before that point the entry text calls nothing (the noinstr check proves
//!   it, E23); at it, test kernels let a test make a page fault of its own
//!   (`Host::test_pf_entry_probe`). `pf_cr2_read_first` takes a real fault with that probe
//!   armed: the handler must be handed the real fault's address, not the probe's.
//! - E22, DR7 on the paranoid path: an NMI handler must run with the debug registers'
//!   breakpoints off and give them back afterwards. `nmi_clears_dr7` arms a data watchpoint
//!   on a word its NMI hook writes; the hook must run without a #DB, see DR7 off, and the
//!   watchpoint must be armed again after the NMI.

use super::{Ctx, Outcome};
use crate::percpu::this_cpu;
use alloc::format;
use core::sync::atomic::{AtomicU64, Ordering};

/// The user address of the real fault: unmapped, and unlike the probe's 0x1000.
#[cfg(feature = "test-hooks")]
const REAL_FAULT: u64 = 0x3000;

#[cfg(feature = "test-hooks")]
pub fn pf_cr2_read_first(_: &Ctx) -> Outcome {
    use crate::trap::{LAST_FIXUP_CR2, PF_PROBE_ARMED};
    LAST_FIXUP_CR2.store(0, Ordering::Relaxed);
    PF_PROBE_ARMED.store(true, Ordering::Relaxed);
    let mut buf = [0u8; 8];
    let copied = crate::uaccess::copy_from_user(&mut buf, REAL_FAULT);
    let probe_ran = !PF_PROBE_ARMED.swap(false, Ordering::Relaxed);
    let seen = LAST_FIXUP_CR2.load(Ordering::Relaxed);
    crate::kprint!(
        "# e20: #PF at {REAL_FAULT:#x} with a fault at 0x1000 made after the entry: its handler was handed CR2 {seen:#x}\n"
    );
    check!(
        copied.is_err(),
        "the copy from {REAL_FAULT:#x} did not fail"
    );
    check!(probe_ran, "the #PF path never reached its probe point");
    check!(
        seen == REAL_FAULT,
        "the #PF handler was handed CR2 {seen:#x}, not the fault's {REAL_FAULT:#x}: CR2 was read after a later fault replaced it"
    );
    Outcome::Pass
}

/// The word the NMI hook writes, under a write watchpoint (DR0).
static WATCHED: AtomicU64 = AtomicU64::new(0);
/// DR7 as the NMI hook saw it (0 until it ran).
static DR7_IN_NMI: AtomicU64 = AtomicU64::new(0);

/// DR7: breakpoint 0 enabled (L0), on writes (R/W0 = 01), 8 bytes long (LEN0 = 10), with
/// the bit that always reads as 1.
const DR7_WATCH_DR0: u64 = 1 | (0b01 << 16) | (0b10 << 18) | (1 << 10);
const DR7_OFF: u64 = 1 << 10;

fn read_dr7() -> u64 {
    let v: u64;
    // SAFETY: reading DR7 at CPL 0 has no side effect.
    unsafe { core::arch::asm!("mov {}, dr7", out(reg) v, options(nomem, nostack)) };
    v
}

/// # Safety
/// Ring 0; `dr7`'s breakpoints must cover nothing that runs before they are turned off again.
unsafe fn write_dr7(dr7: u64) {
    // SAFETY: the caller's.
    unsafe { core::arch::asm!("mov dr7, {}", in(reg) dr7, options(nomem, nostack)) };
}

/// Inside the NMI: write the watched word (a #DB here, with the watchpoint armed, is the bug).
fn write_watched(_: &kentry::Regs) {
    WATCHED.fetch_add(1, Ordering::Relaxed);
    DR7_IN_NMI.store(read_dr7(), Ordering::Relaxed);
}

pub fn nmi_clears_dr7(_: &Ctx) -> Outcome {
    let cpu = this_cpu();
    DR7_IN_NMI.store(0, Ordering::Relaxed);
    let writes_before = WATCHED.load(Ordering::Relaxed);
    let (got, after) = x86_64::instructions::interrupts::without_interrupts(|| {
        let before = cpu.counters.nmis.load(Ordering::Relaxed);
        // SAFETY: ring 0, interrupts off: until DR7 is turned off below, only the NMI runs
        // besides this function, which does not write WATCHED.
        unsafe {
            core::arch::asm!("mov dr0, {}", in(reg) WATCHED.as_ptr() as u64, options(nomem, nostack));
            write_dr7(DR7_WATCH_DR0);
        }
        // SAFETY: single aligned store of the hook pointer, read by this CPU's NMI handler.
        unsafe { *cpu.nmi_hook.get() = Some(write_watched) };
        crate::x86::apic::send_self_nmi();
        let mut spins = 0;
        while cpu.counters.nmis.load(Ordering::Relaxed) == before && spins < 10_000_000 {
            core::hint::spin_loop();
            spins += 1;
        }
        let after = read_dr7();
        // SAFETY: turns the watchpoint off; as above for the hook slot.
        unsafe {
            write_dr7(DR7_OFF);
            *cpu.nmi_hook.get() = None;
        }
        (cpu.counters.nmis.load(Ordering::Relaxed) - before, after)
    });
    let in_nmi = DR7_IN_NMI.load(Ordering::Relaxed);
    let writes = WATCHED.load(Ordering::Relaxed) - writes_before;
    crate::kprint!(
        "# e22: DR7 {DR7_WATCH_DR0:#x} before the NMI, {in_nmi:#x} inside it, {after:#x} after\n"
    );
    check!(got == 1, "expected 1 NMI, saw {got}");
    check!(
        writes == 1,
        "the NMI hook wrote the watched word {writes} times, want 1"
    );
    check!(
        in_nmi & !DR7_OFF == 0,
        "the NMI handler ran with DR7 {in_nmi:#x}: its breakpoints were still armed"
    );
    check!(
        after == DR7_WATCH_DR0,
        "DR7 after the NMI is {after:#x}, not the {DR7_WATCH_DR0:#x} it interrupted"
    );
    Outcome::Pass
}

//! What the paranoid path must hand back to the kernel code an NMI interrupted, whatever that
//! code was in the middle of:
//! - E20: the CR2 it had. An NMI whose handler takes a page fault of its own (a user-address
//!   load the exception table fixes up) must not leave that address for a #PF stub that has not
//!   read CR2 yet (`nmi_keeps_cr2`).
//! - E13: the GS base it had, and a per-CPU base for the handler. An NMI that lands in kernel
//!   mode with a user-chosen GS base live (the SYSCALL stub's first instruction, the exit path
//!   after its `swapgs`) must run on this CPU's base and give the user's back
//!   (`nmi_user_gs_base`).

use super::super::regcheck::kernel_fixup_register_check;
use super::{Ctx, Outcome};
use crate::percpu::this_cpu;
use alloc::format;
use core::sync::atomic::{AtomicU64, Ordering};

/// A kernel address no page fault reports here: the top of the kernel half, page-aligned.
const SENTINEL: u64 = 0xffff_ffff_ffff_e000;

/// CR2 as the NMI hook found it right after its own fixed-up #PF (0 until it ran).
static CR2_IN_NMI: AtomicU64 = AtomicU64::new(0);

/// Inside the NMI: a load from user address 0x1000 faults (CR2 = 0x1000) and is fixed up.
fn fault_in_nmi(_: &kentry::Regs) {
    let patterns = [0u64; 14];
    // SAFETY: a self-contained SysV function; its load faults and is fixed up.
    unsafe { kernel_fixup_register_check(0, &patterns) };
    CR2_IN_NMI.store(
        x86_64::registers::control::Cr2::read_raw(),
        Ordering::Relaxed,
    );
}

pub fn nmi_keeps_cr2(_: &Ctx) -> Outcome {
    let cpu = this_cpu();
    CR2_IN_NMI.store(0, Ordering::Relaxed);
    let (got, after) = x86_64::instructions::interrupts::without_interrupts(|| {
        let before = cpu.counters.nmis.load(Ordering::Relaxed);
        // SAFETY: CR2 only reports page faults; nothing reads it until the check below, and
        // interrupts are off, so only the NMI can run in between.
        unsafe { core::arch::asm!("mov cr2, {}", in(reg) SENTINEL, options(nostack)) };
        // SAFETY: single aligned store of the hook pointer, read by this CPU's NMI handler.
        unsafe { *cpu.nmi_hook.get() = Some(fault_in_nmi) };
        crate::x86::apic::send_self_nmi();
        let mut spins = 0;
        while cpu.counters.nmis.load(Ordering::Relaxed) == before && spins < 10_000_000 {
            core::hint::spin_loop();
            spins += 1;
        }
        let after = x86_64::registers::control::Cr2::read_raw();
        // SAFETY: as above.
        unsafe { *cpu.nmi_hook.get() = None };
        (cpu.counters.nmis.load(Ordering::Relaxed) - before, after)
    });
    let in_nmi = CR2_IN_NMI.load(Ordering::Relaxed);
    crate::kprint!(
        "# e20: CR2 {SENTINEL:#x} before the NMI, {in_nmi:#x} inside it, {after:#x} after\n"
    );
    check!(got == 1, "expected 1 NMI, saw {got}");
    check!(
        in_nmi == 0x1000,
        "the NMI's own #PF left CR2 = {in_nmi:#x}, want 0x1000"
    );
    check!(
        after == SENTINEL,
        "CR2 after the NMI is {after:#x}, not the {SENTINEL:#x} it interrupted"
    );
    Outcome::Pass
}

/// A user-chosen GS base (canonical, below `TASK_SIZE_MAX`, not a per-CPU area).
const USER_GS_BASE: u64 = 0x1234_5000;

/// The GS base the NMI handler ran on (0 until it ran).
static GS_IN_NMI: AtomicU64 = AtomicU64::new(0);

fn record_gs(_: &kentry::Regs) {
    GS_IN_NMI.store(
        x86_64::registers::model_specific::GsBase::read().as_u64(),
        Ordering::Relaxed,
    );
}

/// E13: a self-NMI taken in kernel mode while a user-chosen GS base is live. Between the two
/// writes of IA32_GS_BASE nothing here reads through GS: the counter is read through a
/// reference taken before, and the APIC is reached through its own statics.
pub fn nmi_user_gs_base(_: &Ctx) -> Outcome {
    use x86_64::registers::model_specific::Msr;
    let cpu = this_cpu();
    let percpu = cpu as *const _ as u64;
    GS_IN_NMI.store(0, Ordering::Relaxed);
    // SAFETY: single aligned store of the hook pointer, read by this CPU's NMI handler.
    unsafe { *cpu.nmi_hook.get() = Some(record_gs) };
    let (got, after) = x86_64::instructions::interrupts::without_interrupts(|| {
        let before = cpu.counters.nmis.load(Ordering::Relaxed);
        let mut gs = Msr::new(kentry::msr::IA32_GS_BASE);
        // SAFETY: interrupts are off and nothing below reads through GS until the base is
        // put back; only the NMI runs in between, and the paranoid path installs its own.
        unsafe { gs.write(USER_GS_BASE) };
        crate::x86::apic::send_self_nmi();
        let mut spins = 0;
        while cpu.counters.nmis.load(Ordering::Relaxed) == before && spins < 10_000_000 {
            core::hint::spin_loop();
            spins += 1;
        }
        // SAFETY: reading IA32_GS_BASE has no side effect.
        let after = unsafe { gs.read() };
        // SAFETY: this CPU's own per-CPU base, as it was before the test.
        unsafe { gs.write(percpu) };
        (cpu.counters.nmis.load(Ordering::Relaxed) - before, after)
    });
    // SAFETY: as above.
    unsafe { *cpu.nmi_hook.get() = None };
    let in_nmi = GS_IN_NMI.load(Ordering::Relaxed);
    crate::kprint!(
        "# e13: GS base {USER_GS_BASE:#x} before the NMI, {in_nmi:#x} inside it, {after:#x} after\n"
    );
    check!(got == 1, "expected 1 NMI, saw {got}");
    check!(
        in_nmi == percpu,
        "the NMI handler ran on GS base {in_nmi:#x}, not this CPU's {percpu:#x}"
    );
    check!(
        after == USER_GS_BASE,
        "GS base after the NMI is {after:#x}, not the {USER_GS_BASE:#x} it interrupted"
    );
    Outcome::Pass
}

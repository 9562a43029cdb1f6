//! The lock-context checks (lockcheck.rs) catch what they are for: a lock taken in an NMI
//! handler, and a lock taken both in hardirq context and with interrupts on; and they do not
//! fire on a lock used correctly. The checks are switched to recording for these tests; with
//! `kentry.break=lockcheck` nothing is recorded and both tests fail (`negative_lockcheck`).

use super::{Ctx, Outcome};
use crate::lockcheck::{RECORD_ONLY, RECORDED};
use crate::percpu::this_cpu;
use crate::smp::{self, ipi};
use crate::sync::Mutex;
use alloc::format;
use core::sync::atomic::{AtomicU64, Ordering};

/// Taken only by the NMI hook (never held when an NMI can come: a lock the NMI interrupted
/// would deadlock it, which is the very hazard the check reports).
static NMI_LOCK: Mutex<u64> = Mutex::new(0);
static NMI_HOOK_RAN: AtomicU64 = AtomicU64::new(0);
static IRQ_UNSAFE_LOCK: Mutex<u64> = Mutex::new(0);
static IRQ_SAFE_LOCK: Mutex<u64> = Mutex::new(0);

/// Runs `f` with the checks recording; the violations it caused.
fn recorded(f: impl FnOnce() -> Result<(), &'static str>) -> Result<u64, Outcome> {
    RECORD_ONLY.store(true, Ordering::Relaxed);
    let before = RECORDED.load(Ordering::Relaxed);
    let r = f();
    let n = RECORDED.load(Ordering::Relaxed) - before;
    RECORD_ONLY.store(false, Ordering::Relaxed);
    r.map(|()| n).map_err(|e| Outcome::Fail(e.into()))
}

fn take_nmi_lock(_: &kentry::Regs) {
    *NMI_LOCK.lock() += 1;
    NMI_HOOK_RAN.fetch_add(1, Ordering::Relaxed);
}

/// A blocking lock() inside an NMI handler is reported.
pub fn nmi_lock(_: &Ctx) -> Outcome {
    let cpu = this_cpu();
    let n = recorded(|| {
        let before = NMI_HOOK_RAN.load(Ordering::Relaxed);
        // SAFETY: single aligned store of the hook pointer, read by this CPU's NMI handler.
        unsafe { *cpu.nmi_hook.get() = Some(take_nmi_lock) };
        crate::x86::apic::send_self_nmi();
        let mut spins = 0u64;
        while NMI_HOOK_RAN.load(Ordering::Relaxed) == before && spins < 100_000_000 {
            core::hint::spin_loop();
            spins += 1;
        }
        // SAFETY: as above.
        unsafe { *cpu.nmi_hook.get() = None };
        if NMI_HOOK_RAN.load(Ordering::Relaxed) == before {
            return Err("the NMI hook never ran");
        }
        Ok(())
    });
    match n {
        Ok(0) => Outcome::Fail("a lock taken in an NMI handler was not reported".into()),
        Ok(_) => Outcome::Pass,
        Err(o) => o,
    }
}

/// A lock taken in hardirq context (a call-function IPI's handler on another CPU) and then
/// with interrupts on is reported; one taken in hardirq context and otherwise only with
/// interrupts off is not.
pub fn irq_unsafe_lock(_: &Ctx) -> Outcome {
    let Some(other) =
        (0..crate::percpu::MAX_CPUS).find(|&n| n != smp::this_cpu_id() && smp::is_online(n))
    else {
        return Outcome::Skip("one CPU online: no other CPU to run a hardirq handler");
    };
    let safe = recorded(|| {
        ipi::call_on(other, || *IRQ_SAFE_LOCK.lock() += 1).ok_or("call_on did not run")?;
        x86_64::instructions::interrupts::without_interrupts(|| *IRQ_SAFE_LOCK.lock() += 1);
        Ok(())
    });
    let unsafe_ = recorded(|| {
        ipi::call_on(other, || *IRQ_UNSAFE_LOCK.lock() += 1).ok_or("call_on did not run")?;
        if !x86_64::instructions::interrupts::are_enabled() {
            return Err("the test runs with interrupts off");
        }
        *IRQ_UNSAFE_LOCK.lock() += 1;
        Ok(())
    });
    match (safe, unsafe_) {
        (Ok(0), Ok(n)) if n > 0 => Outcome::Pass,
        (Ok(s), Ok(u)) => Outcome::Fail(format!(
            "{s} reports for the IRQ-safe lock (want 0), {u} for the IRQ-unsafe one (want 1 or more)"
        )),
        (Err(o), _) | (_, Err(o)) => o,
    }
}

//! Machine checks (E25): banks enabled at boot, and each #MC's severity
//! ([`McRecord::severity`]): an action-required error in user mode becomes SIGBUS
//! (BUS_MCEERR_AR) for the task; an error that did not corrupt the interrupted context and
//! was not consumed by it is logged and the CPU resumes, in kernel mode too (its report is
//! deferred, [`DeferredLog`]); anything else is a fatal report.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

const IA32_MCG_CAP: u32 = 0x179;
const IA32_MCG_STATUS: u32 = 0x17a;
const IA32_MCG_CTL: u32 = 0x17b;
const IA32_MC0_CTL: u32 = 0x400;
const MCG_CTL_P: u64 = 1 << 8;
pub const MCG_STATUS_RIPV: u64 = 1 << 0;
const MCI_STATUS_VAL: u64 = 1 << 63;
const MCI_STATUS_UC: u64 = 1 << 61;
/// Processor context corrupt: nothing interrupted may go on.
const MCI_STATUS_PCC: u64 = 1 << 57;
/// Action required: the interrupted instruction consumed the bad data (SRAR).
const MCI_STATUS_AR: u64 = 1 << 55;

fn banks() -> u32 {
    // SAFETY: MCG_CAP is readable when CPUID reports MCE/MCA (checked by the caller).
    (unsafe { Msr::new(IA32_MCG_CAP).read() } & 0xff) as u32
}

/// Enables reporting in every bank and clears stale status. Call once CR4.MCE is set.
pub fn init() {
    // SAFETY: architectural MCA MSRs, present when the CPU reports MCE (the caller checks).
    unsafe {
        if Msr::new(IA32_MCG_CAP).read() & MCG_CTL_P != 0 {
            Msr::new(IA32_MCG_CTL).write(u64::MAX);
        }
        for b in 0..banks() {
            Msr::new(IA32_MC0_CTL + 4 * b).write(u64::MAX);
            Msr::new(IA32_MC0_CTL + 4 * b + 1).write(0);
        }
        Msr::new(IA32_MCG_STATUS).write(0);
    }
}

/// What a #MC found: MCG_STATUS and the first valid bank (index, status, address).
#[derive(Clone, Copy, Debug, Default)]
pub struct McRecord {
    pub mcg_status: u64,
    pub bank: u32,
    pub status: u64,
    pub addr: u64,
}

/// What the handler does with a #MC (Linux's mce_severity, without its tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// RIPV=0 (no restartable RIP) or PCC=1 (the context is corrupt): stop the machine.
    Fatal,
    /// An uncorrected, action-required error (the interrupted instruction consumed it): the
    /// task gets SIGBUS in user mode; in kernel mode the kernel consumed it, and kentry has no
    /// recovery tables (Linux's `EX_TYPE_*_MCE_SAFE` fixups), so it stops too.
    ActionRequired,
    /// Anything else with RIPV=1 and PCC=0 — action optional (SRAO, e.g. a patrol-scrub hit),
    /// or no action: the interrupted context is intact and did not consume the error. Log it
    /// and resume, in either mode.
    Recoverable,
}

/// Test kernels, `kentry.break=mce_severity`: the action-required rule is skipped, so an
/// action-required #MC counts as recoverable — in kernel mode it is logged and resumed, and
/// the verify run's fatal-#MC boot must fail (`verify_negative_mce_severity`).
#[cfg(feature = "test-hooks")]
pub static BREAK_SEVERITY: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

impl McRecord {
    pub fn severity(&self) -> Severity {
        #[cfg(feature = "test-hooks")]
        let action_required_rule = !BREAK_SEVERITY.load(Ordering::Relaxed);
        #[cfg(not(feature = "test-hooks"))]
        let action_required_rule = true;
        if self.mcg_status & MCG_STATUS_RIPV == 0 || self.status & MCI_STATUS_PCC != 0 {
            Severity::Fatal
        } else if action_required_rule
            && self.status & MCI_STATUS_UC != 0
            && self.status & MCI_STATUS_AR != 0
        {
            Severity::ActionRequired
        } else {
            Severity::Recoverable
        }
    }
}

/// Records kept for a recovered #MC's report.
const LOG_SLOTS: usize = 8;

/// A CPU's recovered machine checks, waiting to be printed. The #MC handler may interrupt
/// this CPU anywhere — inside a print holding the console lock, or inside the drain itself —
/// so it takes no lock and prints nothing: it fills the next slot ([`DeferredLog::push`]),
/// and this CPU's timer tick prints and frees them ([`DeferredLog::drain`]), with IRQs off.
/// One producer (the #MC handler, never nested: MCIP) and one consumer (this CPU's tick),
/// each moving its own index; a slot is reused only after the tick has read it. When all
/// slots are full the record is counted as lost, as Linux's MCE pool does.
pub struct DeferredLog {
    /// Records pushed, and records printed: `head - tail` slots are in use.
    head: AtomicU64,
    tail: AtomicU64,
    lost: AtomicU64,
    /// Per slot: mcg_status, bank, status, addr, rip, user mode.
    slots: [[AtomicU64; 6]; LOG_SLOTS],
}

impl DeferredLog {
    pub const fn new() -> Self {
        DeferredLog {
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            slots: [const { [const { AtomicU64::new(0) }; 6] }; LOG_SLOTS],
        }
    }

    /// From the #MC handler: keeps `rec`, taken at `rip` in `user` mode, for the tick.
    pub fn push(&self, rec: &McRecord, rip: u64, user: bool) {
        let head = self.head.load(Ordering::Relaxed);
        if head - self.tail.load(Ordering::Acquire) >= LOG_SLOTS as u64 {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let slot = &self.slots[head as usize % LOG_SLOTS];
        let words = [
            rec.mcg_status,
            u64::from(rec.bank),
            rec.status,
            rec.addr,
            rip,
            u64::from(user),
        ];
        for (s, w) in slot.iter().zip(words) {
            s.store(w, Ordering::Relaxed);
        }
        self.head.store(head + 1, Ordering::Release);
    }

    /// From this CPU's timer tick (IRQs off, so never inside a print of this CPU): prints
    /// each kept record, `[kentry] machine check recovered: …`, and the count of lost ones.
    pub fn drain(&self) {
        // Plain loads first: the tick pays no locked instruction while nothing is logged.
        if self.lost.load(Ordering::Relaxed) != 0 {
            let lost = self.lost.swap(0, Ordering::Relaxed);
            crate::klog!("machine check log full: {lost} recovered machine checks not logged");
        }
        loop {
            let tail = self.tail.load(Ordering::Relaxed);
            if tail == self.head.load(Ordering::Acquire) {
                return;
            }
            let w = self.slots[tail as usize % LOG_SLOTS]
                .each_ref()
                .map(|s| s.load(Ordering::Relaxed));
            self.tail.store(tail + 1, Ordering::Release);
            crate::klog!(
                "machine check recovered: mcg_status={:#x} bank {} status={:#x} addr={:#x} from {} mode at rip={:#x}",
                w[0],
                w[1],
                w[2],
                w[3],
                if w[5] != 0 { "user" } else { "kernel" },
                w[4]
            );
        }
    }
}

/// Reads and clears the error records. MCG_STATUS (with MCIP) is cleared last, by
/// [`finish`]: until then a second #MC would shut the CPU down rather than corrupt this one.
pub fn collect() -> McRecord {
    let mut r = McRecord::default();
    // SAFETY: architectural MCA MSRs of this CPU, read and cleared in #MC context.
    unsafe {
        r.mcg_status = Msr::new(IA32_MCG_STATUS).read();
        for b in 0..banks() {
            let status = Msr::new(IA32_MC0_CTL + 4 * b + 1).read();
            if status & MCI_STATUS_VAL != 0 && r.status == 0 {
                r.bank = b;
                r.status = status;
                r.addr = Msr::new(IA32_MC0_CTL + 4 * b + 2).read();
            }
            Msr::new(IA32_MC0_CTL + 4 * b + 1).write(0);
        }
    }
    r
}

/// Clears MCG_STATUS (and with it MCIP): further machine checks may be delivered again.
pub fn finish() {
    // SAFETY: clearing MCG_STATUS is the architected end of #MC handling.
    unsafe { Msr::new(IA32_MCG_STATUS).write(0) };
}

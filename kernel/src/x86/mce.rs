//! Machine checks (E25): banks enabled at boot; a #MC from user mode with a restartable RIP
//! becomes SIGBUS (BUS_MCEERR_AR) for the task; anything else is a fatal report.

use x86_64::registers::model_specific::Msr;

const IA32_MCG_CAP: u32 = 0x179;
const IA32_MCG_STATUS: u32 = 0x17a;
const IA32_MCG_CTL: u32 = 0x17b;
const IA32_MC0_CTL: u32 = 0x400;
const MCG_CTL_P: u64 = 1 << 8;
pub const MCG_STATUS_RIPV: u64 = 1 << 0;
const MCI_STATUS_VAL: u64 = 1 << 63;

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

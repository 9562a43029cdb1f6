//! The local APIC: x2APIC through MSRs where the CPU has it, else xAPIC through MMIO.
//! Periodic timer, EOI, and NMI self-IPIs.

use crate::mm::paging::{PTE_G, PTE_NX, PTE_W, kernel_table};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

pub const TIMER_VECTOR: u8 = 0x20;
pub const SPURIOUS_VECTOR: u8 = 0xff;

const REG_ID: u32 = 0x20;
const REG_EOI: u32 = 0xb0;
const REG_SVR: u32 = 0xf0;
const REG_ICR_LOW: u32 = 0x300;
const REG_ICR_HIGH: u32 = 0x310;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_LINT0: u32 = 0x350;
const REG_LVT_LINT1: u32 = 0x360;
const REG_TIMER_INIT: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIV: u32 = 0x3e0;

const IA32_APIC_BASE: u32 = 0x1b;
const XAPIC_PHYS: u64 = 0xfee0_0000;

static X2APIC: AtomicBool = AtomicBool::new(false);
static MMIO: AtomicU64 = AtomicU64::new(0);

fn read(reg: u32) -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: x2APIC register MSRs (0x800 + reg/16) are readable in x2APIC mode.
        unsafe { Msr::new(0x800 + (reg >> 4)).read() as u32 }
    } else {
        // SAFETY: the xAPIC page is mapped uncached at MMIO.
        unsafe {
            core::ptr::read_volatile((MMIO.load(Ordering::Relaxed) + reg as u64) as *const u32)
        }
    }
}

fn write(reg: u32, v: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: as in read().
        unsafe { Msr::new(0x800 + (reg >> 4)).write(v as u64) }
    } else {
        // SAFETY: as in read().
        unsafe {
            core::ptr::write_volatile((MMIO.load(Ordering::Relaxed) + reg as u64) as *mut u32, v)
        }
    }
}

/// Masks the legacy 8259 PICs (if the machine has them) so only the APIC delivers.
fn mask_pic() {
    // SAFETY: writing the PIC mask registers; harmless where no PIC decodes these ports.
    unsafe {
        x86_64::instructions::port::Port::<u8>::new(0x21).write(0xff);
        x86_64::instructions::port::Port::<u8>::new(0xa1).write(0xff);
    }
}

/// Which CPUs take LINT1's NMI ([`lint1_route`]): a CPU number, or [`LINT1_EVERY_CPU`].
static LINT1_CPUS: AtomicU32 = AtomicU32::new(0);
/// [`LINT1_CPUS`] for `kentry.lint1=all`.
const LINT1_EVERY_CPU: u32 = u32::MAX;

/// `kentry.lint1=` → which CPUs take LINT1: `all`, or one CPU's number (the boot CPU, 0,
/// when absent). A word that is neither is ignored with a message, and the boot CPU keeps
/// the line.
fn lint1_route(word: Option<&str>) -> Result<u32, &str> {
    match word {
        None => Ok(0),
        Some("all") => Ok(LINT1_EVERY_CPU),
        Some(n) => n.parse::<u32>().map_err(|_| n),
    }
}

/// The boot CPU's local APIC: picks the mode for every CPU (x2APIC where the CPU has it),
/// maps the xAPIC page once, masks the 8259s. `kentry.lint1=` on the command line routes
/// the NMI line (QEMU's `inject-nmi`) to every CPU (`all`) or to one CPU other than the
/// boot CPU (its number): `cargo xtask fuzz` wants NMIs on every CPU, and `cargo xtask
/// verify` injects on one chosen CPU, which must take the NMI it injects.
pub fn init(x2apic: bool, cmdline: &str) {
    mask_pic();
    let route =
        lint1_route(crate::boot::cmdline_value(cmdline, "kentry.lint1")).unwrap_or_else(|bad| {
            crate::klog!("kentry.lint1={bad}: not `all` nor a CPU number; ignored");
            0
        });
    LINT1_CPUS.store(route, Ordering::Relaxed);
    X2APIC.store(x2apic, Ordering::Relaxed);
    if !x2apic {
        let va = crate::mm::stack::reserve_va(1);
        kernel_table()
            .map_4k(va, XAPIC_PHYS, PTE_W | PTE_NX | PTE_G | (1 << 4) | (1 << 3))
            .expect("map xAPIC");
        MMIO.store(va, Ordering::Relaxed);
    }
    init_this_cpu(0);
}

/// Enables CPU `cpu`'s local APIC (this CPU's) in the mode the boot CPU chose. LINT0 is
/// masked (no 8259 virtual wire). LINT1 delivers NMIs on the boot CPU only, which is how
/// QEMU's `inject-nmi` (and a real board's NMI button) reaches the machine; QEMU raises
/// LINT1 on every CPU, and like Linux the other CPUs keep it masked so one button press is
/// one NMI — unless `kentry.lint1=` ([`init`]) routes it elsewhere.
pub fn init_this_cpu(cpu: usize) {
    let mut base = Msr::new(IA32_APIC_BASE);
    // SAFETY: enabling this CPU's local APIC (and x2APIC mode where the boot CPU chose it).
    unsafe {
        let v = base.read() | (1 << 11);
        if X2APIC.load(Ordering::Relaxed) {
            base.write(v | (1 << 10));
        } else {
            base.write(v);
        }
    }
    write(REG_SVR, 0x100 | SPURIOUS_VECTOR as u32);
    write(REG_LVT_LINT0, 1 << 16);
    let route = LINT1_CPUS.load(Ordering::Relaxed);
    let takes_nmi = route == LINT1_EVERY_CPU || route as usize == cpu;
    write(
        REG_LVT_LINT1,
        if takes_nmi {
            0b100 << 8
        } else {
            (0b100 << 8) | (1 << 16)
        },
    );
}

pub fn id() -> u32 {
    let v = read(REG_ID);
    if X2APIC.load(Ordering::Relaxed) {
        v
    } else {
        v >> 24
    }
}

/// This CPU's initial APIC ID from CPUID (usable before its APIC is set up).
pub fn id_from_cpuid() -> u32 {
    raw_cpuid::CpuId::new()
        .get_feature_info()
        .map_or(0, |f| f.initial_local_apic_id() as u32)
}

pub fn is_x2apic() -> bool {
    X2APIC.load(Ordering::Relaxed)
}

/// Periodic timer every `count` APIC timer ticks (divide by 1).
pub fn start_timer(count: u32) {
    start_timer_on(TIMER_VECTOR, count);
}

/// Periodic timer every `count` APIC timer ticks (divide by 1) on `vector`. Writing the
/// initial count restarts the countdown: the first interrupt comes `count` ticks after it.
pub fn start_timer_on(vector: u8, count: u32) {
    write(REG_TIMER_DIV, 0xb);
    write(REG_LVT_TIMER, (1 << 17) | vector as u32);
    write(REG_TIMER_INIT, count);
}

/// APIC timer ticks left until this CPU's timer next fires.
pub fn timer_current_count() -> u32 {
    read(REG_TIMER_CURRENT)
}

/// The vector this CPU's LVT timer entry delivers.
pub fn timer_vector() -> u8 {
    read(REG_LVT_TIMER) as u8
}

/// Masks or unmasks this CPU's timer interrupt (the LVT entry's mask bit); the count runs on.
/// A masked tick is lost, not held pending.
pub fn set_timer_masked(masked: bool) {
    write(
        REG_LVT_TIMER,
        (u32::from(masked) << 16) | (1 << 17) | TIMER_VECTOR as u32,
    );
}

/// Stops this CPU's timer: an initial count of 0 stops the APIC timer in periodic mode too
/// (SDM 11.5.4). A tick already pending is still delivered.
pub fn stop_timer() {
    write(REG_TIMER_INIT, 0);
}

/// Restarts this CPU's periodic timer stopped by [`stop_timer`] (divider and LVT as
/// [`start_timer`] left them): the next tick is `count` APIC ticks away.
pub fn restart_timer(count: u32) {
    write(REG_TIMER_INIT, count);
}

pub fn eoi() {
    write(REG_EOI, 0);
}

/// Sends fixed interrupt `vector` to this CPU: the x2APIC SELF IPI register, or the ICR with
/// the "self" shorthand (one store: the destination register is not used).
pub fn send_self_ipi(vector: u8) {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: the x2APIC SELF IPI register takes a vector.
        unsafe { Msr::new(0x83f).write(vector as u64) };
        return;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        while read(REG_ICR_LOW) & ICR_DELIVERY_PENDING != 0 {
            core::hint::spin_loop();
        }
        write(REG_ICR_LOW, ICR_SELF | ICR_FIXED | vector as u32);
    });
}

/// Sends an NMI to this CPU through the ICR, by APIC ID with NMI delivery mode (the "self"
/// shorthand is documented for fixed delivery only).
pub fn send_self_nmi() {
    send_icr(id(), ICR_NMI);
}

/// ICR delivery modes (bits 8-10) with the level bit (14) set.
pub const ICR_FIXED: u32 = 1 << 14;
pub const ICR_NMI: u32 = (0b100 << 8) | (1 << 14);
pub const ICR_INIT: u32 = (0b101 << 8) | (1 << 14);
pub const ICR_STARTUP: u32 = (0b110 << 8) | (1 << 14);
const ICR_DELIVERY_PENDING: u32 = 1 << 12;
/// ICR destination shorthand "self" (bits 18-19 = 01).
const ICR_SELF: u32 = 1 << 18;

/// [`send_icr`] for NMI context (the NMI IPIs of the watchdog and of the NMI flood): an NMI
/// can land between the interrupted code's two xAPIC stores, so this one puts the destination
/// register back as it found it and leaves the ICR idle, and the interrupted send then goes
/// where it was meant to. (x2APIC: one MSR write, nothing to split.)
pub fn send_icr_from_nmi(dest: u32, low: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        send_icr(dest, low);
        return;
    }
    let saved_dest = read(REG_ICR_HIGH);
    while read(REG_ICR_LOW) & ICR_DELIVERY_PENDING != 0 {
        core::hint::spin_loop();
    }
    write(REG_ICR_HIGH, dest << 24);
    write(REG_ICR_LOW, low);
    while read(REG_ICR_LOW) & ICR_DELIVERY_PENDING != 0 {
        core::hint::spin_loop();
    }
    write(REG_ICR_HIGH, saved_dest);
}

/// Writes the ICR: `low` (vector, delivery mode) to the CPU with APIC ID `dest`. IRQs are off
/// around the write, because in xAPIC mode it is two stores (destination, then command) that
/// an interrupt handler sending its own IPI must not split. Lock-free, so an NMI handler may
/// use it on a CPU whose interrupted code was not itself between those two stores.
pub fn send_icr(dest: u32, low: u32) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if X2APIC.load(Ordering::Relaxed) {
            // SAFETY: a 64-bit ICR write in x2APIC mode.
            unsafe { Msr::new(0x830).write(((dest as u64) << 32) | low as u64) };
        } else {
            // The previous IPI must have left before the next command is written.
            while read(REG_ICR_LOW) & ICR_DELIVERY_PENDING != 0 {
                core::hint::spin_loop();
            }
            write(REG_ICR_HIGH, dest << 24);
            write(REG_ICR_LOW, low);
        }
    });
}

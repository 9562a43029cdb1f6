//! The I/O APIC: routes one legacy ISA interrupt (the COM1 receive interrupt, IRQ 4) to a
//! vector on one CPU. Only the tty (kernel/src/tty/) uses it; every other entry keeps
//! the mask it had at reset.
//!
//! Both machines `cargo xtask run` boots (`-M microvm` and `pc`) put their first I/O APIC at
//! the architectural address 0xfec00000 and wire ISA IRQ n to its pin n for the serial ports
//! (no interrupt source override for IRQ 4), so the kernel does not read the MADT for it.

use crate::mm::paging::{PTE_G, PTE_NX, PTE_W, kernel_table};
use core::sync::atomic::{AtomicU64, Ordering};

const IOAPIC_PHYS: u64 = 0xfec0_0000;
/// Register select and data window (offsets in the MMIO page).
const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
/// The first redirection table register; pin n uses 0x10 + 2n (low) and 0x11 + 2n (high).
const IOREDTBL: u32 = 0x10;

static MMIO: AtomicU64 = AtomicU64::new(0);

fn write(reg: u32, v: u32) {
    let base = MMIO.load(Ordering::Relaxed);
    // SAFETY: the I/O APIC page is mapped uncached at `base` (see `route`); a register write is
    // a select followed by a data write, done with interrupts off so nothing on this CPU can
    // come between them, and only the tty's set-up (once, from one task) calls this.
    unsafe {
        core::ptr::write_volatile((base + IOREGSEL) as *mut u32, reg);
        core::ptr::write_volatile((base + IOWIN) as *mut u32, v);
    }
}

/// Routes ISA interrupt `pin` to `vector` on the CPU with local APIC id `apic_id`: fixed
/// delivery, physical destination, edge-triggered, active high (the ISA convention).
pub fn route(pin: u32, vector: u8, apic_id: u32) {
    if MMIO.load(Ordering::Relaxed) == 0 {
        let va = crate::mm::stack::reserve_va(1);
        // PCD | PWT: device registers, uncached.
        kernel_table()
            .map_4k(
                va,
                IOAPIC_PHYS,
                PTE_W | PTE_NX | PTE_G | (1 << 4) | (1 << 3),
            )
            .expect("map I/O APIC");
        MMIO.store(va, Ordering::Relaxed);
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        // High word first: the entry is unmasked only once its destination is right.
        write(IOREDTBL + 2 * pin + 1, (apic_id & 0xff) << 24);
        write(IOREDTBL + 2 * pin, u32::from(vector));
    });
}

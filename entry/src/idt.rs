//! The IDT: 256 interrupt gates, each pointing at its asm stub.

use crate::gdt::KERNEL_CS;
use crate::vectors;

/// One 16-byte 64-bit interrupt gate.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    /// A not-present gate (any use of the vector is #GP).
    pub const EMPTY: Gate = Gate {
        offset_low: 0,
        selector: 0,
        ist: 0,
        type_attr: 0,
        offset_mid: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// An interrupt gate (type 0xE: IF cleared on delivery) to `handler`.
    pub const fn interrupt(handler: u64, ist: u8, dpl: u8) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector: KERNEL_CS,
            ist: ist & 7,
            type_attr: 0x80 | ((dpl & 3) << 5) | 0xe,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }

    /// The handler address the gate points at.
    pub fn handler(&self) -> u64 {
        self.offset_low as u64 | (self.offset_mid as u64) << 16 | (self.offset_high as u64) << 32
    }
}

/// The 256 gates of an IDT.
#[repr(C, align(16))]
pub struct Idt(pub [Gate; 256]);

/// Distance between consecutive stubs in the stub table.
pub const STUB_STRIDE: u64 = 16;

impl Idt {
    /// All 256 gates, vector `v` going to `stub_base + v * STUB_STRIDE`, with the IST slot and
    /// DPL of [`vectors`] — but the i386 syscall gate (0x80), which goes to its own stub
    /// `int80` (Linux's `entry_INT80_compat`: a system call, not an interrupt).
    pub fn new(stub_base: u64, int80: u64) -> Idt {
        let mut gates = [Gate::default(); 256];
        for (v, gate) in gates.iter_mut().enumerate() {
            let v = v as u8;
            *gate = Gate::interrupt(
                if v == vectors::IA32_SYSCALL {
                    int80
                } else {
                    stub_base + v as u64 * STUB_STRIDE
                },
                vectors::ist_slot(v),
                vectors::gate_dpl(v),
            );
        }
        Idt(gates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_encoding() {
        let g = Gate::interrupt(0xffff_ffff_8012_3456, 2, 0);
        assert_eq!(g.handler(), 0xffff_ffff_8012_3456);
        assert_eq!(g.type_attr, 0x8e);
        assert_eq!(g.ist, 2);
        assert_eq!(core::mem::size_of::<Gate>(), 16);
        assert_eq!(Gate::interrupt(0, 0, 3).type_attr, 0xee);
    }

    #[test]
    fn table_points_at_strided_stubs() {
        let idt = Idt::new(0xffff_ffff_8100_0000, 0xffff_ffff_8200_0000);
        assert_eq!(idt.0[0x7f].handler(), 0xffff_ffff_8100_07f0);
        assert_eq!(idt.0[0x81].handler(), 0xffff_ffff_8100_0810);
        assert_eq!(idt.0[0x80].handler(), 0xffff_ffff_8200_0000);
        assert_eq!(idt.0[0x80].type_attr, 0xee, "int $0x80: DPL 3");
        assert_eq!(idt.0[2].ist, 2);
        assert_eq!(idt.0[13].ist, 0);
    }
}

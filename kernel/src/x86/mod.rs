//! The x86 hardware this kernel drives beside the entry layer (kentry owns the entry asm and the
//! descriptor tables): control registers and CPU features, the local APIC, machine-check banks.

pub mod apic;
pub mod cpu;
pub mod debugreg;
pub mod hwbp;
pub mod ioapic;
pub mod madt;
pub mod mce;

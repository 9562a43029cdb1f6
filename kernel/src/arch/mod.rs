//! CPU facts and setup outside the entry layer: control registers, features, the APIC.

pub mod apic;
pub mod cpu;
pub mod mce;

//! The GDT in Linux's layout, and the TSS.
//!
//! SYSCALL and SYSRET hard-wire the selectors they load from STAR, so the order is forced:
//! kernel CS then kernel DS (SYSCALL), and user32 CS, user DS, user CS (SYSRET). Linux's
//! selftests also read descriptors with `lar`, so the attribute bits match Linux's too.

use x86_64::structures::tss::TaskStateSegment;

/// 32-bit kernel code (Linux's `__KERNEL32_CS`; unused by kentry, kept for the layout).
pub const KERNEL32_CS: u16 = 0x08;
/// 64-bit kernel code: what SYSCALL and every IDT gate load.
pub const KERNEL_CS: u16 = 0x10;
/// Kernel data / stack segment (SYSCALL's SS).
pub const KERNEL_DS: u16 = 0x18;
/// 32-bit user code (compat mode), RPL 3; STAR's SYSRET base.
pub const USER32_CS: u16 = 0x23;
/// User data / stack segment, RPL 3.
pub const USER_DS: u16 = 0x2b;
/// 64-bit user code, RPL 3.
pub const USER_CS: u16 = 0x33;
/// The TSS (a 16-byte descriptor: entries 8 and 9).
pub const TSS_SEL: u16 = 0x40;
/// The LDT's system descriptor (16 bytes: entries 10 and 11, Linux's GDT_ENTRY_LDT). The
/// host writes it with [`ldt_descriptor`] before `lldt`; entries 10–11 stay zero while no
/// LDT is loaded.
pub const LDT_SEL: u16 = 0x50;
/// First of the three TLS slots (12–14) reserved for `set_thread_area`.
pub const TLS_FIRST_ENTRY: usize = 12;
/// Entries in each CPU's GDT.
pub const GDT_ENTRIES: usize = 16;

/// STAR: SYSCALL loads CS = 0x10, SS = 0x18; SYSRET loads CS = 0x23 (+16 for 64-bit = 0x33)
/// and SS = 0x2b.
pub const STAR_VALUE: u64 = ((USER32_CS as u64) << 48) | ((KERNEL_CS as u64) << 32);

/// IST slots (1-based, as IDT gates name them).
pub mod ist {
    /// IST slot of #DF.
    pub const DOUBLE_FAULT: u8 = 1;
    /// IST slot of NMI.
    pub const NMI: u8 = 2;
    /// IST slot of #DB.
    pub const DEBUG: u8 = 3;
    /// IST slot of #MC.
    pub const MACHINE_CHECK: u8 = 4;
    /// Number of IST slots kentry uses (1..=COUNT).
    pub const COUNT: usize = 4;
}

/// The top (the address just past the highest byte) of each IST stack of one CPU, by the
/// vector that uses it. Each must be 16-byte aligned, at least 4 KiB deep (kentry's own use
/// is one frame; the host's `nmi_like` runs there too), mapped, and used by nothing else.
#[derive(Clone, Copy, Debug)]
pub struct IstStacks {
    /// #DF: must never be the stack that overflowed, so a stack overflow can be reported.
    pub double_fault: u64,
    /// NMI.
    pub nmi: u64,
    /// #DB (from kernel mode; user-mode #DB moves to the task stack).
    pub debug: u64,
    /// #MC (from kernel mode; user-mode #MC moves to the task stack).
    pub machine_check: u64,
}

impl IstStacks {
    /// The tops in IST slot order (slot 1 first), as the TSS and the IDT number them.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))] // init_cpu is arch-only
    pub(crate) fn by_slot(&self) -> [u64; crate::gdt::ist::COUNT] {
        let mut tops = [0; ist::COUNT];
        tops[ist::DOUBLE_FAULT as usize - 1] = self.double_fault;
        tops[ist::NMI as usize - 1] = self.nmi;
        tops[ist::DEBUG as usize - 1] = self.debug;
        tops[ist::MACHINE_CHECK as usize - 1] = self.machine_check;
        tops
    }
}

/// Raw descriptors, accessed bit preset so the CPU never writes the table.
pub const fn base_descriptors() -> [u64; GDT_ENTRIES] {
    let mut d = [0u64; GDT_ENTRIES];
    d[1] = 0x00cf_9b00_0000_ffff; // KERNEL32_CS
    d[2] = 0x00af_9b00_0000_ffff; // KERNEL_CS, L=1
    d[3] = 0x00cf_9300_0000_ffff; // KERNEL_DS
    d[4] = 0x00cf_fb00_0000_ffff; // USER32_CS, D=1, DPL3
    d[5] = 0x00cf_f300_0000_ffff; // USER_DS, DPL3
    d[6] = 0x00af_fb00_0000_ffff; // USER_CS, L=1, DPL3
    d
}

/// The two descriptor words of a 64-bit available TSS (type 9) at `base`.
pub const fn tss_descriptor(base: u64, limit: u32) -> [u64; 2] {
    let low = (limit as u64 & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89u64 << 40) // present, DPL0, type 9
        | (((limit as u64 >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// The two descriptor words of an LDT system descriptor (type 2, present, DPL 0) for a table
/// of `entries` 8-byte descriptors at `base` (`entries` ≥ 1; the limit is the last byte).
pub const fn ldt_descriptor(base: u64, entries: u32) -> [u64; 2] {
    let limit = (entries as u64 * 8 - 1) & 0xf_ffff;
    let low = (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x82u64 << 40) // present, DPL0, type 2 (LDT)
        | ((limit >> 16) << 48)
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// One CPU's descriptor tables: its GDT and its TSS (RSP0 and the IST stacks).
#[repr(C, align(64))]
pub struct CpuTables {
    /// The GDT: [`base_descriptors`] plus this CPU's TSS descriptor and the TLS slots.
    pub gdt: [u64; GDT_ENTRIES],
    /// The TSS: RSP0 (kept by the task switch) and the IST stacks (set by `init_cpu`).
    pub tss: TaskStateSegment,
}

impl CpuTables {
    /// Tables with the base descriptors and an empty TSS; `init_cpu` completes them.
    pub const fn new() -> Self {
        CpuTables {
            gdt: base_descriptors(),
            tss: TaskStateSegment::new(),
        }
    }

    /// Points the TSS descriptor at this table's own TSS. Call once the table has its final
    /// address.
    pub fn install_tss_descriptor(&mut self) {
        let base = &self.tss as *const TaskStateSegment as u64;
        // The I/O map base lies past the limit: no I/O permission bitmap, every port is #GP
        // from ring 3 whatever IOPL says.
        let limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u32;
        let [lo, hi] = tss_descriptor(base, limit);
        self.gdt[(TSS_SEL >> 3) as usize] = lo;
        self.gdt[(TSS_SEL >> 3) as usize + 1] = hi;
        self.tss.iomap_base = core::mem::size_of::<TaskStateSegment>() as u16;
    }
}

impl Default for CpuTables {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_linux() {
        assert_eq!(STAR_VALUE, 0x0023_0010_0000_0000);
        // SYSRET's 64-bit selectors derive from STAR[63:48].
        assert_eq!(((STAR_VALUE >> 48) + 16) | 3, USER_CS as u64);
        assert_eq!(((STAR_VALUE >> 48) + 8) | 3, USER_DS as u64);
        assert_eq!(((STAR_VALUE >> 32) & 0xffff) + 8, KERNEL_DS as u64);
    }

    #[test]
    fn only_user_segments_are_dpl3() {
        let d = base_descriptors();
        for (i, desc) in d.iter().enumerate() {
            let dpl = (desc >> 45) & 3;
            let expect = if matches!(i, 4..=6) { 3 } else { 0 };
            assert_eq!(dpl, expect, "entry {i}");
        }
    }

    /// Each vector's stack lands in the IST slot its IDT gate names.
    #[test]
    fn ist_stacks_follow_the_gates() {
        use crate::vectors::{DB, DF, MC, NMI, ist_slot};
        let s = IstStacks {
            double_fault: 0x1000,
            nmi: 0x2000,
            debug: 0x3000,
            machine_check: 0x4000,
        };
        let tops = s.by_slot();
        for (v, top) in [(DF, 0x1000), (NMI, 0x2000), (DB, 0x3000), (MC, 0x4000)] {
            assert_eq!(tops[ist_slot(v) as usize - 1], top, "vector {v}");
        }
    }

    #[test]
    fn ldt_descriptor_fields() {
        // 8192 entries: limit 0xffff, the largest an LDT can have.
        let [lo, hi] = ldt_descriptor(0xffff_8880_1234_5678, 8192);
        assert_eq!(lo & 0xffff, 0xffff);
        assert_eq!((lo >> 48) & 0xf, 0);
        assert_eq!((lo >> 16) & 0xff_ffff, 0x34_5678);
        assert_eq!((lo >> 40) & 0xff, 0x82);
        assert_eq!((lo >> 56) & 0xff, 0x12);
        assert_eq!(hi, 0xffff_8880);
        let [lo, _] = ldt_descriptor(0x1000, 1);
        assert_eq!(lo & 0xffff, 7);
        assert_eq!(LDT_SEL >> 3, 10);
    }

    #[test]
    fn tss_descriptor_fields() {
        let [lo, hi] = tss_descriptor(0xffff_8880_1234_5678, 0x67);
        assert_eq!(lo & 0xffff, 0x67);
        assert_eq!((lo >> 16) & 0xff_ffff, 0x34_5678);
        assert_eq!((lo >> 40) & 0xff, 0x89);
        assert_eq!((lo >> 56) & 0xff, 0x12);
        assert_eq!(hi, 0xffff_8880);
    }
}

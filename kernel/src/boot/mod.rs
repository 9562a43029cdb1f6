//! From PVH entry to a described machine: command line, memory map, initrd.

pub mod pvh;

use crate::mm::phys_to_virt_early;
use pvh::{MEMMAP_RAM, MemmapEntry, ModuleEntry, START_INFO_MAGIC, StartInfo};

/// A physical range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

/// What the boot loader told us, copied out before the identity map goes away.
pub struct BootInfo {
    pub cmdline: &'static str,
    pub ram: [PhysRange; 16],
    pub ram_count: usize,
    pub initrd: Option<PhysRange>,
    /// start_info and the structures it points to, to keep clear of the frame allocator.
    pub start_info: PhysRange,
    /// The ACPI RSDP's physical address as PVH reports it (0: none given; search for it).
    pub rsdp: u64,
}

static mut CMDLINE_BUF: [u8; 1024] = [0; 1024];

/// Reads `hvm_start_info` at physical `addr` (identity-mapped at this point).
pub fn parse_start_info(addr: u64) -> BootInfo {
    // SAFETY: PVH guarantees a valid start_info at %ebx, inside the identity-mapped first GiB.
    let si = unsafe { *(phys_to_virt_early(addr) as *const StartInfo) };
    assert_eq!(si.magic, START_INFO_MAGIC, "not booted through PVH");
    let mut info = BootInfo {
        cmdline: "",
        ram: [PhysRange { start: 0, end: 0 }; 16],
        ram_count: 0,
        initrd: None,
        start_info: PhysRange {
            start: addr & !0xfff,
            end: (addr + 4096) & !0xfff,
        },
        rsdp: si.rsdp_paddr,
    };
    if si.cmdline_paddr != 0 {
        // SAFETY: a NUL-terminated string in low memory; copied into a static buffer once, on
        // the boot CPU, before anything else reads the buffer.
        unsafe {
            let src = phys_to_virt_early(si.cmdline_paddr) as *const u8;
            let buf = &mut *core::ptr::addr_of_mut!(CMDLINE_BUF);
            let mut n = 0;
            while n < buf.len() - 1 && *src.add(n) != 0 {
                buf[n] = *src.add(n);
                n += 1;
            }
            info.cmdline = core::str::from_utf8(&buf[..n]).unwrap_or("");
        }
    }
    if si.version >= 1 && si.memmap_paddr != 0 {
        for i in 0..si.memmap_entries as usize {
            // SAFETY: memmap_entries entries at memmap_paddr, per the PVH ABI.
            let e = unsafe { *(phys_to_virt_early(si.memmap_paddr) as *const MemmapEntry).add(i) };
            if e.kind == MEMMAP_RAM && info.ram_count < info.ram.len() {
                info.ram[info.ram_count] = PhysRange {
                    start: e.addr,
                    end: e.addr + e.size,
                };
                info.ram_count += 1;
            }
        }
    }
    if si.nr_modules > 0 {
        // SAFETY: nr_modules entries at modlist_paddr, per the PVH ABI.
        let m = unsafe { *(phys_to_virt_early(si.modlist_paddr) as *const ModuleEntry) };
        info.initrd = Some(PhysRange {
            start: m.paddr,
            end: m.paddr + m.size,
        });
    }
    info
}

/// Value of `key=` on the command line, if present.
pub fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_ascii_whitespace()
        .take_while(|w| *w != "--")
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The words after `--` on the command line (arguments for the run-mode program).
pub fn cmdline_args(cmdline: &str) -> impl Iterator<Item = &str> {
    cmdline
        .split_ascii_whitespace()
        .skip_while(|w| *w != "--")
        .skip(1)
}

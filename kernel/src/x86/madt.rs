//! CPU discovery from the ACPI MADT: the local APIC ID of every usable CPU.
//!
//! Parsed by hand rather than with the `acpi` crate: the kernel needs two entry kinds of one
//! table (Processor Local APIC and Processor Local x2APIC), read once at boot while the
//! identity map of low memory is still live. The crate would add a mapping-handler trait and
//! an allocator-aware API (which changes between its major versions) for about 80 lines of
//! fixed-layout reads. The MP tables would do as well on `pc`, but QEMU's `microvm` has none,
//! and it has ACPI (on by default in QEMU 7.2, as on `pc`).

use crate::mm::phys_to_virt_early;
use crate::percpu::MAX_CPUS;

/// The CPUs the firmware lists as usable, by local APIC ID, in MADT order.
pub struct CpuList {
    pub apic_ids: [u32; MAX_CPUS],
    pub count: usize,
}

/// Reads `len` bytes at physical `pa` through the boot identity map.
///
/// # Safety
/// `pa..pa+len` is RAM or firmware memory inside the identity-mapped first GiB.
unsafe fn bytes(pa: u64, len: usize) -> &'static [u8] {
    // SAFETY: per the contract.
    unsafe { core::slice::from_raw_parts(phys_to_virt_early(pa) as *const u8, len) }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn checksum_ok(b: &[u8]) -> bool {
    b.iter().fold(0u8, |a, &x| a.wrapping_add(x)) == 0
}

/// The RSDP: where PVH says, else the BIOS area search ACPI specifies (0xE0000..0x100000,
/// on 16-byte boundaries).
fn find_rsdp(given: u64) -> Option<u64> {
    let valid = |pa: u64| {
        // SAFETY: the 20-byte ACPI 1.0 part of a candidate below 1 MiB or where PVH points.
        let b = unsafe { bytes(pa, 20) };
        &b[..8] == b"RSD PTR " && checksum_ok(b)
    };
    if given != 0 && given < (1 << 30) && valid(given) {
        return Some(given);
    }
    (0xe_0000..0x10_0000u64).step_by(16).find(|&pa| valid(pa))
}

/// The physical address of the table with `signature`, from the XSDT (ACPI 2+) or the RSDT.
fn find_table(rsdp: u64, signature: &[u8; 4]) -> Option<u64> {
    // SAFETY: a checksummed RSDP; revision 2+ has the 36-byte form.
    let r = unsafe { bytes(rsdp, 36) };
    let (root, entry_size) = if r[15] >= 2 && u64_at(r, 24) != 0 {
        (u64_at(r, 24), 8)
    } else {
        (u32_at(r, 16) as u64, 4)
    };
    if root == 0 || root >= (1 << 30) {
        return None;
    }
    // SAFETY: the root table's header, then its length, inside the identity map (checked).
    let len = u32_at(unsafe { bytes(root, 36) }, 4) as usize;
    // SAFETY: as above.
    let t = unsafe { bytes(root, len) };
    (36..len)
        .step_by(entry_size)
        .map(|off| {
            if entry_size == 8 {
                u64_at(t, off)
            } else {
                u32_at(t, off) as u64
            }
        })
        .filter(|&pa| pa != 0 && pa < (1 << 30))
        // SAFETY: each root entry points at a table header.
        .find(|&pa| unsafe { &bytes(pa, 4)[..4] } == signature)
}

/// The usable CPUs: enabled (flag bit 0) or online-capable (bit 1) local APIC and x2APIC
/// entries. `None` without ACPI or a MADT.
pub fn discover(rsdp_given: u64) -> Option<CpuList> {
    let madt = find_table(find_rsdp(rsdp_given)?, b"APIC")?;
    // SAFETY: the MADT's header, then the whole table by its length.
    let len = u32_at(unsafe { bytes(madt, 8) }, 4) as usize;
    // SAFETY: as above.
    let t = unsafe { bytes(madt, len) };
    if !checksum_ok(t) {
        return None;
    }
    let mut list = CpuList {
        apic_ids: [0; MAX_CPUS],
        count: 0,
    };
    // Entries follow the 36-byte header, the local APIC address and the flags.
    let mut off = 44;
    while off + 2 <= len {
        let (kind, entry_len) = (t[off], t[off + 1] as usize);
        if entry_len < 2 || off + entry_len > len {
            break;
        }
        let e = &t[off..off + entry_len];
        let usable = |flags: u32| flags & 0b11 != 0;
        let id = match kind {
            0 if entry_len >= 8 && usable(u32_at(e, 4)) => Some(e[3] as u32),
            9 if entry_len >= 16 && usable(u32_at(e, 8)) => Some(u32_at(e, 4)),
            _ => None,
        };
        if let Some(id) = id
            && list.count < MAX_CPUS
            && !list.apic_ids[..list.count].contains(&id)
        {
            list.apic_ids[list.count] = id;
            list.count += 1;
        }
        off += entry_len;
    }
    (list.count > 0).then_some(list)
}

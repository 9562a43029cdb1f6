//! Memory: physical frames, page tables, the kernel heap, guarded kernel stacks.
//!
//! Virtual layout (4-level paging):
//! | range | what |
//! |---|---|
//! | `0 .. 0x7fff_ffff_f000` | user space (the last page below 2^47 is never mapped, E03) |
//! | `0xffff_8880_0000_0000 ..` | direct map of all RAM (RW, NX) |
//! | `0xffff_c900_0000_0000 ..` | kernel stacks (each with an unmapped guard page) and MMIO |
//! | `0xffff_ff00_0000_0000 ..` | espfix64: 4 GiB of read-only aliases of one stack page per CPU (kentry::espfix) |
//! | `0xffff_ffff_8000_0000 ..` | the kernel image: text RX, rodata R NX, data RW NX |

pub mod aspace;
pub mod espfix;
pub mod fault;
pub mod frame;
pub mod heap;
pub mod paging;
pub mod remote;
pub mod stack;

use core::sync::atomic::{AtomicU64, Ordering};

pub use kentry_kernel_logic::page::{PAGE_SIZE, align_down, align_up};
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
pub const DIRECT_MAP_BASE: u64 = 0xffff_8880_0000_0000;
pub const VMALLOC_BASE: u64 = 0xffff_c900_0000_0000;
pub const VMALLOC_END: u64 = 0xffff_c980_0000_0000;

/// Where physical memory is visible: 0 while the boot identity map is live, then the direct
/// map.
static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);

/// Virtual address of physical `pa` during early boot (identity map of the first GiB).
pub fn phys_to_virt_early(pa: u64) -> u64 {
    pa
}

/// Virtual address of physical `pa`, through whichever map is live.
#[inline]
pub fn phys_to_virt(pa: u64) -> u64 {
    pa + PHYS_OFFSET.load(Ordering::Relaxed)
}

/// Physical address of a kernel-image symbol.
pub fn kernel_virt_to_phys(va: u64) -> u64 {
    va - KERNEL_VMA
}

pub(crate) fn switch_to_direct_map() {
    PHYS_OFFSET.store(DIRECT_MAP_BASE, Ordering::Relaxed);
}

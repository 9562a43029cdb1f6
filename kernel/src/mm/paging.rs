//! 4-level page tables: building the kernel's, cloning its upper half into each process's,
//! mapping and unmapping pages, and walking them.

use super::frame::{alloc_frame, free_frame};
use super::{DIRECT_MAP_BASE, KERNEL_VMA, PAGE_SIZE, phys_to_virt};
use crate::sync::Mutex;

pub use kentry_kernel_logic::prot::{PTE_NX, PTE_P, PTE_U, PTE_W};
pub const PTE_PS: u64 = 1 << 7;
pub const PTE_G: u64 = 1 << 8;
pub const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    NoMemory,
    AlreadyMapped,
    HugePageInTheWay,
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

fn table(pa: u64) -> &'static mut [u64; 512] {
    // SAFETY: `pa` is a page-table frame owned by a PageTable, visible through the physical
    // map; page-table edits are serialised by their owner (the kernel table's lock, or the
    // single task owning a user table).
    unsafe { &mut *(phys_to_virt(pa) as *mut [u64; 512]) }
}

/// A page-table tree, by the physical address of its PML4.
#[derive(Debug)]
pub struct PageTable {
    pub root: u64,
}

/// Frees the page table at `pa` (at `level`: 1 holds 4 KiB leaves) and every table below it,
/// handing each non-zero leaf entry to `leaf`, which owns the frame it names, if any.
fn free_table_tree<F: FnMut(u64) + ?Sized>(pa: u64, level: u32, leaf: &mut F) {
    for &e in table(pa).iter() {
        if e == 0 {
            continue;
        }
        if level == 1 {
            leaf(e);
        } else if e & PTE_P != 0 && e & PTE_PS == 0 {
            free_table_tree(e & PTE_ADDR, level - 1, leaf);
        }
    }
    free_frame(pa);
}

impl PageTable {
    pub fn new_empty() -> Result<PageTable, MapError> {
        Ok(PageTable {
            root: alloc_frame().ok_or(MapError::NoMemory)?,
        })
    }

    /// A new user address space: empty lower half, the kernel's upper half shared.
    pub fn new_user() -> Result<PageTable, MapError> {
        let pt = Self::new_empty()?;
        let k = table(KERNEL_ROOT.lock().expect("kernel page table not built"));
        let u = table(pt.root);
        u[256..].copy_from_slice(&k[256..]);
        Ok(pt)
    }

    /// The entry for `va` at `level` (1 = 4 KiB page), creating intermediate tables.
    fn entry(&mut self, va: u64, level: u32) -> Result<&'static mut u64, MapError> {
        let user = va < (1 << 47);
        let mut t = self.root;
        for l in (level + 1..=4).rev() {
            let e = &mut table(t)[index(va, l)];
            if *e & PTE_P == 0 {
                let f = alloc_frame().ok_or(MapError::NoMemory)?;
                *e = f | PTE_P | PTE_W | if user { PTE_U } else { 0 };
            } else if *e & PTE_PS != 0 {
                return Err(MapError::HugePageInTheWay);
            }
            t = *e & PTE_ADDR;
        }
        Ok(&mut table(t)[index(va, level)])
    }

    pub fn map_4k(&mut self, va: u64, pa: u64, flags: u64) -> Result<(), MapError> {
        let e = self.entry(va, 1)?;
        if *e & PTE_P != 0 {
            return Err(MapError::AlreadyMapped);
        }
        *e = (pa & PTE_ADDR) | flags | PTE_P;
        Ok(())
    }

    pub fn map_2m(&mut self, va: u64, pa: u64, flags: u64) -> Result<(), MapError> {
        let e = self.entry(va, 2)?;
        *e = (pa & PTE_ADDR) | flags | PTE_P | PTE_PS;
        Ok(())
    }

    /// Removes the 4 KiB mapping of `va`; returns the frame it mapped. The caller flushes.
    pub fn unmap_4k(&mut self, va: u64) -> Option<u64> {
        let e = self.leaf_entry_existing(va)?;
        if *e & PTE_P == 0 {
            return None;
        }
        let pa = *e & PTE_ADDR;
        *e = 0;
        Some(pa)
    }

    /// Physical address and flags of the page holding `va`.
    pub fn translate(&self, va: u64) -> Option<(u64, u64)> {
        let mut t = self.root;
        for l in (1..=4).rev() {
            let e = table(t)[index(va, l)];
            if e & PTE_P == 0 {
                return None;
            }
            if l == 1 || e & PTE_PS != 0 {
                let size = 1u64 << (12 + 9 * (l - 1));
                return Some(((e & PTE_ADDR & !(size - 1)) | (va & (size - 1)), e));
            }
            t = e & PTE_ADDR;
        }
        None
    }

    /// Frees every user page and user page table (lower half) and the root.
    pub fn destroy_user(self) {
        self.destroy_user_with(|e| {
            if e & PTE_P != 0 {
                free_frame(e & PTE_ADDR);
            }
        });
    }

    /// The 4 KiB leaf entry of user address `va`, creating the intermediate tables.
    pub fn leaf_entry(&mut self, va: u64) -> Result<&'static mut u64, MapError> {
        self.entry(va, 1)
    }

    /// The 4 KiB leaf entry of `va` if its page tables exist (the entry itself may be empty).
    pub fn leaf_entry_existing(&self, va: u64) -> Option<&'static mut u64> {
        let mut t = self.root;
        for l in (2..=4).rev() {
            let e = table(t)[index(va, l)];
            if e & PTE_P == 0 || e & PTE_PS != 0 {
                return None;
            }
            t = e & PTE_ADDR;
        }
        Some(&mut table(t)[index(va, 1)])
    }

    /// Calls `f(va, entry)` for every non-zero 4 KiB leaf entry of [start, end) in the lower
    /// half, skipping absent page tables. Entries need not be present (software-marked
    /// entries with P clear are visited too).
    pub fn for_each_leaf_mut(&self, start: u64, end: u64, mut f: impl FnMut(u64, &mut u64)) {
        fn walk(
            pa: u64,
            level: u32,
            base: u64,
            start: u64,
            end: u64,
            f: &mut dyn FnMut(u64, &mut u64),
        ) {
            let span = 1u64 << (12 + 9 * (level - 1));
            let t = table(pa);
            let first = if start > base {
                ((start - base) / span) as usize
            } else {
                0
            };
            for (i, e) in t.iter_mut().enumerate().skip(first) {
                let va = base + i as u64 * span;
                if va >= end {
                    break;
                }
                if *e == 0 {
                    continue;
                }
                if level == 1 {
                    f(va, e);
                } else if *e & PTE_P != 0 && *e & PTE_PS == 0 {
                    walk(*e & PTE_ADDR, level - 1, va, start, end, f);
                }
            }
        }
        let end = end.min(1 << 47);
        if start < end {
            walk(self.root, 4, 0, start, end, &mut f);
        }
    }

    /// Frees the page tables of the lower half whose whole span lies in [floor, ceiling) (a
    /// range holding no mapping any more) and that intersect [start, end), as Linux's
    /// free_pgtables does after munmap. Any leaf entry still found goes to `leaf`. Returns
    /// whether a table was freed (the caller then flushes the TLB).
    pub fn free_tables(
        &mut self,
        start: u64,
        end: u64,
        floor: u64,
        ceiling: u64,
        mut leaf: impl FnMut(u64),
    ) -> bool {
        #[allow(clippy::too_many_arguments)]
        fn walk(
            pa: u64,
            level: u32,
            base: u64,
            start: u64,
            end: u64,
            floor: u64,
            ceiling: u64,
            leaf: &mut dyn FnMut(u64),
        ) -> bool {
            // Span of one entry of this table.
            let span = 1u64 << (12 + 9 * (level - 1));
            let first = (start.max(base) - base) / span;
            let mut freed = false;
            for i in first as usize..512 {
                let va = base + i as u64 * span;
                if va >= end {
                    break;
                }
                let e = table(pa)[i];
                if e & PTE_P == 0 || e & PTE_PS != 0 {
                    continue;
                }
                if va >= floor && va + span <= ceiling {
                    free_table_tree(e & PTE_ADDR, level - 1, leaf);
                    table(pa)[i] = 0;
                    freed = true;
                } else if level > 2 {
                    freed |= walk(
                        e & PTE_ADDR,
                        level - 1,
                        va,
                        start,
                        end,
                        floor,
                        ceiling,
                        leaf,
                    );
                }
            }
            freed
        }
        let (end, ceiling) = (end.min(1 << 47), ceiling.min(1 << 47));
        start < end && walk(self.root, 4, 0, start, end, floor, ceiling, &mut leaf)
    }

    /// Frees every user page table (lower half) and the root, handing each non-zero leaf
    /// entry to `leaf` (which owns the frame it names, if any).
    pub fn destroy_user_with(self, mut leaf: impl FnMut(u64)) {
        let root = table(self.root);
        for &e in &root[..256] {
            if e & PTE_P != 0 {
                free_table_tree(e & PTE_ADDR, 3, &mut leaf);
            }
        }
        free_frame(self.root);
    }

    /// Makes this table the live one.
    ///
    /// # Safety
    /// The table must map the kernel exactly as the current one does.
    pub unsafe fn activate(&self) {
        // SAFETY: per the caller; the upper half is shared with the kernel table.
        unsafe {
            core::arch::asm!("mov cr3, {}", in(reg) self.root, options(nostack, preserves_flags));
        }
    }
}

/// Root of the kernel page table (the upper half every address space shares).
pub static KERNEL_ROOT: Mutex<Option<u64>> = Mutex::new(None);

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
}

fn sym(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// The kernel image's sections as (start, end, flags).
pub fn kernel_sections() -> [(u64, u64, u64); 3] {
    // SAFETY: linker-script symbols; only their addresses are used.
    unsafe {
        [
            (sym(&__text_start), sym(&__text_end), PTE_G),
            (sym(&__rodata_start), sym(&__rodata_end), PTE_G | PTE_NX),
            (
                sym(&__data_start),
                sym(&__kernel_end),
                PTE_G | PTE_W | PTE_NX,
            ),
        ]
    }
}

/// Builds the kernel page table: the image with W^X, the direct map of RAM (2 MiB pages,
/// RW, NX), and the stack area's top-level entry. Returns the table; the caller activates it.
pub fn build_kernel_table(ram_end: u64) -> PageTable {
    let mut pt = PageTable::new_empty().expect("no memory for the kernel page table");
    for (start, end, flags) in kernel_sections() {
        let mut va = start;
        while va < end {
            pt.map_4k(va, va - KERNEL_VMA, flags)
                .expect("kernel image map");
            va += PAGE_SIZE;
        }
    }
    let mut pa = 0;
    while pa < ram_end {
        pt.map_2m(DIRECT_MAP_BASE + pa, pa, PTE_G | PTE_W | PTE_NX)
            .expect("direct map");
        pa += 2 << 20;
    }
    // Make sure the stack area has its PDPT now, so every process table (which copies the
    // upper half once) sees stacks mapped later.
    pt.entry(super::VMALLOC_BASE, 3).expect("stack area");
    // The espfix area's PDPT likewise: each CPU fills its entries later (mm/espfix.rs).
    pt.entry(kentry::espfix::BASE_ADDR, 3).expect("espfix area");
    *KERNEL_ROOT.lock() = Some(pt.root);
    pt
}

/// The kernel page table (for mapping kernel stacks and MMIO).
pub fn kernel_table() -> PageTable {
    PageTable {
        root: KERNEL_ROOT.lock().expect("kernel page table not built"),
    }
}

/// Flushes one page from this CPU's TLB.
pub fn flush_page(va: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
}

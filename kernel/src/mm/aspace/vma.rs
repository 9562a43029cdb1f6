//! One mapping (a VMA) and the sorted set of them: lookup, splitting, merging, inserting.

use super::{AddressSpace, Backing, STACK_GUARD_GAP, VM_GROWSDOWN};
use alloc::sync::Arc;

/// One mapping: [start, end), page-aligned.
#[derive(Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: u32,
    pub flags: u32,
    pub backing: Backing,
    /// Offset (bytes) into the file or shared object of `start` (0 for private anonymous).
    pub pgoff: u64,
}

impl Vma {
    pub(super) fn anon(start: u64, end: u64, prot: u32, flags: u32) -> Vma {
        Vma {
            start,
            end,
            prot,
            flags,
            backing: Backing::Anon,
            pgoff: 0,
        }
    }

    /// Cuts this VMA at `at` (start < at < end); returns the upper part.
    fn split_off(&mut self, at: u64) -> Vma {
        let mut hi = self.clone();
        hi.start = at;
        if !matches!(self.backing, Backing::Anon) {
            hi.pgoff = self.pgoff + (at - self.start);
        }
        self.end = at;
        hi
    }

    /// Whether `next` continues this VMA exactly (Linux merges such neighbours).
    fn can_merge(&self, next: &Vma) -> bool {
        if self.end != next.start || self.prot != next.prot || self.flags != next.flags {
            return false;
        }
        let contiguous = next.pgoff == self.pgoff + (self.end - self.start);
        match (&self.backing, &next.backing) {
            (Backing::Anon, Backing::Anon) => true,
            (Backing::File { file: a, limit: la }, Backing::File { file: b, limit: lb }) => {
                Arc::ptr_eq(a, b) && la == lb && contiguous
            }
            (Backing::Shared(a), Backing::Shared(b)) => Arc::ptr_eq(a, b) && contiguous,
            _ => false,
        }
    }

    pub(super) fn is_shared(&self) -> bool {
        matches!(self.backing, Backing::Shared(_))
    }

    /// The lowest address a new mapping below this one may end at (Linux's vm_start_gap).
    pub(super) fn start_gap(&self) -> u64 {
        if self.flags & VM_GROWSDOWN != 0 {
            self.start.saturating_sub(STACK_GUARD_GAP)
        } else {
            self.start
        }
    }
}

impl AddressSpace {
    // ---- lookup ------------------------------------------------------------------------

    /// Index of the first VMA that ends above `addr`.
    pub(super) fn first_ending_after(&self, addr: u64) -> usize {
        self.vmas.partition_point(|v| v.end <= addr)
    }

    /// Index of the VMA containing `addr`.
    #[inline]
    pub(super) fn find(&self, addr: u64) -> Option<usize> {
        let c = self.cache.get();
        if let Some(v) = self.vmas.get(c)
            && v.start <= addr
            && addr < v.end
        {
            return Some(c);
        }
        let i = self.first_ending_after(addr);
        if i < self.vmas.len() && self.vmas[i].start <= addr {
            self.cache.set(i);
            Some(i)
        } else {
            None
        }
    }

    /// The VMA containing `addr`.
    #[allow(dead_code, reason = "for other kernel areas: /proc, readlink, loaders")]
    pub fn vma_at(&self, addr: u64) -> Option<&Vma> {
        self.find(addr).map(|i| &self.vmas[i])
    }

    /// Whether no mapping intersects [start, end).
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        let i = self.first_ending_after(start);
        i >= self.vmas.len() || self.vmas[i].start >= end
    }

    /// Whether [start, end) fits below the next mapping's start gap (Linux's hint check).
    pub(super) fn fits_before_next(&self, start: u64, end: u64) -> bool {
        let i = self.first_ending_after(start);
        i >= self.vmas.len() || end <= self.vmas[i].start_gap()
    }

    // ---- structure ---------------------------------------------------------------------

    /// Makes sure no VMA straddles `addr`.
    pub(super) fn split_at(&mut self, addr: u64) {
        if let Some(i) = self.find(addr)
            && self.vmas[i].start < addr
        {
            let hi = self.vmas[i].split_off(addr);
            self.vmas.insert(i + 1, hi);
        }
    }

    /// Merges every pair of neighbours that continue each other.
    pub(super) fn merge_all(&mut self) {
        let mut i = 1;
        while i < self.vmas.len() {
            if self.vmas[i - 1].can_merge(&self.vmas[i]) {
                self.vmas[i - 1].end = self.vmas[i].end;
                self.vmas.remove(i);
            } else {
                i += 1;
            }
        }
        self.cache.set(0);
    }

    /// Adds `v` over a free range, merging it with its neighbours.
    pub(super) fn insert_vma(&mut self, v: Vma) {
        debug_assert!(self.is_free(v.start, v.end));
        let i = self.vmas.partition_point(|x| x.start < v.start);
        self.vmas.insert(i, v);
        if i + 1 < self.vmas.len() && self.vmas[i].can_merge(&self.vmas[i + 1]) {
            self.vmas[i].end = self.vmas[i + 1].end;
            self.vmas.remove(i + 1);
        }
        if i > 0 && self.vmas[i - 1].can_merge(&self.vmas[i]) {
            self.vmas[i - 1].end = self.vmas[i].end;
            self.vmas.remove(i);
        }
        self.cache.set(0);
    }
}

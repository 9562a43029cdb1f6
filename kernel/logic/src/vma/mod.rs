//! One mapping (a VMA) and the sorted set of them: lookup, splitting, merging, inserting,
//! growing a stack down; and the layout constants of a 64-bit address space.
//!
//! What backs a mapping's pages is the kernel's business (frames, files, shared objects): a
//! [`Vma`] is generic over it, and asks it only what the merge and split rules need
//! ([`MapBacking`]).

mod place;

pub use place::BrkChange;
#[cfg(test)]
mod tests;

use crate::page::PAGE_SIZE;
use crate::prot::{PROT_RWX, VM_GROWSDOWN};
use alloc::vec::Vec;
use core::cell::Cell;
use core::ops::{Deref, DerefMut};

/// The highest user address + 1; the page below 2^47 is never mapped (E03).
pub const TASK_SIZE: u64 = kentry::sysret::TASK_SIZE_MAX;
/// vm.mmap_min_addr (Linux's default).
pub const MMAP_MIN_ADDR: u64 = 4096;
/// The gap kept below a stack that grows down (Linux's stack_guard_gap, 256 pages).
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// RLIMIT_STACK (Linux's default soft limit).
pub const STACK_RLIMIT: u64 = 8 << 20;
/// Linux randomises the stack top below TASK_SIZE_MAX by up to 16 GiB (STACK_RND_MASK); kentry
/// uses one fixed draw from that window (the middle), so layouts are reproducible and the
/// pages just below TASK_SIZE_MAX stay free, as programs like sysret_rip expect.
const STACK_RND_MAX: u64 = 16 << 30;
pub const STACK_TOP: u64 = TASK_SIZE - STACK_RND_MAX / 2;
/// Linux's mmap_base for a 64-bit process: TASK_SIZE minus the stack gap (RLIMIT_STACK plus
/// the stack randomisation range plus the guard gap, at least 128 MiB); mmap allocates top-down
/// below it.
pub const MMAP_BASE: u64 = {
    let gap = STACK_RLIMIT + STACK_RND_MAX + STACK_GUARD_GAP;
    let gap = if gap < (128 << 20) { 128 << 20 } else { gap };
    (TASK_SIZE - gap) & !(PAGE_SIZE - 1)
};
/// Where a bottom-up search starts (Linux's TASK_UNMAPPED_BASE).
pub const LEGACY_MMAP_BASE: u64 = (TASK_SIZE / 3 + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
/// Where an ET_DYN program without an interpreter (static-pie) is loaded.
pub const ELF_ET_DYN_BASE: u64 = (TASK_SIZE / 3 * 2) & !(PAGE_SIZE - 1);
/// MAP_32BIT allocates in [MAP32_BASE, MAP32_END).
pub const MAP32_BASE: u64 = 0x4000_0000;
pub const MAP32_END: u64 = 0x8000_0000;

/// An i386 task's TASK_SIZE (Linux's IA32_PAGE_OFFSET): everything it can map lies below.
pub const IA32_TASK_SIZE: u64 = 0xffff_e000;
/// An i386 task's stack top: Linux's STACK_TOP for a compat task with randomisation off.
pub const IA32_STACK_TOP: u64 = IA32_TASK_SIZE;
/// An i386 task's mmap_base: IA32_TASK_SIZE minus the stack gap (RLIMIT_STACK plus the guard
/// gap, no randomisation), at least 128 MiB, as Linux's mmap_base() computes it.
pub const IA32_MMAP_BASE: u64 = {
    let gap = STACK_RLIMIT + STACK_GUARD_GAP;
    let gap = if gap < (128 << 20) { 128 << 20 } else { gap };
    (IA32_TASK_SIZE - gap) & !(PAGE_SIZE - 1)
};
/// An i386 static-pie's load address (Linux's ELF_ET_DYN_BASE for an ia32 task).
pub const IA32_ELF_ET_DYN_BASE: u64 = 0x40_0000;

/// The bounds a task's mappings live in: a 64-bit task's, or an i386 task's (all below
/// 4 GiB, Linux's TIF_ADDR32 address space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The highest user address + 1 for this task.
    pub task_size: u64,
    /// Top-down mmap searches start below this.
    pub mmap_base: u64,
    /// A bottom-up search (when top-down finds nothing) starts here.
    pub legacy_base: u64,
}

impl Limits {
    pub const NATIVE: Limits = Limits {
        task_size: TASK_SIZE,
        mmap_base: MMAP_BASE,
        legacy_base: LEGACY_MMAP_BASE,
    };
    pub const IA32: Limits = Limits {
        task_size: IA32_TASK_SIZE,
        mmap_base: IA32_MMAP_BASE,
        legacy_base: (IA32_TASK_SIZE / 3 + PAGE_SIZE - 1) & !(PAGE_SIZE - 1),
    };
}

/// What a mapping's backing must tell the VMA rules.
pub trait MapBacking: Clone {
    /// Private anonymous memory (no object behind it; its offset means nothing).
    fn anon() -> Self;
    fn is_anon(&self) -> bool;
    /// Shared memory: pages come from an object every mapping of it shares.
    fn is_shared(&self) -> bool;
    /// Whether `self` and `other` are views of the same object (same file with the same
    /// file-backed limit, or the same shared object), so that neighbours whose offsets
    /// continue each other may merge. Never true for anonymous memory.
    fn same_object(&self, other: &Self) -> bool;
}

/// One mapping: [start, end), page-aligned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma<B> {
    pub start: u64,
    pub end: u64,
    pub prot: u32,
    pub flags: u32,
    pub backing: B,
    /// Offset (bytes) into the file or shared object of `start` (0 for private anonymous).
    pub pgoff: u64,
}

impl<B: MapBacking> Vma<B> {
    pub fn anon(start: u64, end: u64, prot: u32, flags: u32) -> Self {
        Vma {
            start,
            end,
            prot,
            flags,
            backing: B::anon(),
            pgoff: 0,
        }
    }

    /// Cuts this VMA at `at` (start < at < end); returns the upper part, whose offset into
    /// its object moves with it.
    pub fn split_off(&mut self, at: u64) -> Self {
        let mut hi = self.clone();
        hi.start = at;
        if !self.backing.is_anon() {
            hi.pgoff = self.pgoff + (at - self.start);
        }
        self.end = at;
        hi
    }

    /// Whether `next` continues this VMA exactly (Linux merges such neighbours): adjacent,
    /// same protection and flags, and either both anonymous or the same object at
    /// contiguous offsets.
    pub fn can_merge(&self, next: &Self) -> bool {
        if self.end != next.start || self.prot != next.prot || self.flags != next.flags {
            return false;
        }
        match (self.backing.is_anon(), next.backing.is_anon()) {
            (true, true) => true,
            (false, false) => {
                self.backing.same_object(&next.backing)
                    && next.pgoff == self.pgoff + (self.end - self.start)
            }
            _ => false,
        }
    }

    pub fn is_shared(&self) -> bool {
        self.backing.is_shared()
    }

    /// The lowest address a new mapping below this one may end at (Linux's vm_start_gap).
    pub fn start_gap(&self) -> u64 {
        if self.flags & VM_GROWSDOWN != 0 {
            self.start.saturating_sub(STACK_GUARD_GAP)
        } else {
            self.start
        }
    }
}

/// The mappings of an address space, sorted by address, never overlapping, with the index of
/// the last lookup's hit cached. Reads (and changes that keep the order: protections, flags)
/// go through the slice it derefs to.
#[derive(Clone)]
pub struct VmaList<B> {
    vmas: Vec<Vma<B>>,
    /// Index of the VMA the last lookup found (a hint; checked before use).
    cache: Cell<usize>,
    /// Where mappings may go (64-bit or i386 bounds).
    pub limits: Limits,
}

impl<B> Deref for VmaList<B> {
    type Target = [Vma<B>];
    fn deref(&self) -> &[Vma<B>] {
        &self.vmas
    }
}

impl<B> DerefMut for VmaList<B> {
    fn deref_mut(&mut self) -> &mut [Vma<B>] {
        &mut self.vmas
    }
}

impl<B> Default for VmaList<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> VmaList<B> {
    pub const fn new() -> Self {
        VmaList {
            vmas: Vec::new(),
            cache: Cell::new(0),
            limits: Limits::NATIVE,
        }
    }
}

impl<B: MapBacking> VmaList<B> {
    // ---- lookup ------------------------------------------------------------------------

    /// Index of the first VMA that ends above `addr`.
    pub fn first_ending_after(&self, addr: u64) -> usize {
        self.vmas.partition_point(|v| v.end <= addr)
    }

    /// Index of the VMA containing `addr`.
    #[inline]
    pub fn find(&self, addr: u64) -> Option<usize> {
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
    pub fn vma_at(&self, addr: u64) -> Option<&Vma<B>> {
        self.find(addr).map(|i| &self.vmas[i])
    }

    /// Whether no mapping intersects [start, end).
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        let i = self.first_ending_after(start);
        i >= self.vmas.len() || self.vmas[i].start >= end
    }

    /// Whether [start, end) is entirely mapped (mlock, msync).
    pub fn is_mapped(&self, start: u64, end: u64) -> bool {
        let mut k = self.first_ending_after(start);
        let mut pos = start;
        while pos < end {
            match self.vmas.get(k) {
                Some(v) if v.start <= pos => {
                    pos = v.end;
                    k += 1;
                }
                _ => return false,
            }
        }
        true
    }

    /// Whether [start, end) fits below the next mapping's start gap (Linux's hint check).
    pub fn fits_before_next(&self, start: u64, end: u64) -> bool {
        let i = self.first_ending_after(start);
        i >= self.vmas.len() || end <= self.vmas[i].start_gap()
    }

    // ---- structure ---------------------------------------------------------------------

    /// Makes sure no VMA straddles `addr`.
    pub fn split_at_addr(&mut self, addr: u64) {
        if let Some(i) = self.find(addr)
            && self.vmas[i].start < addr
        {
            let hi = self.vmas[i].split_off(addr);
            self.vmas.insert(i + 1, hi);
        }
    }

    /// Merges every pair of neighbours that continue each other.
    pub fn merge_all(&mut self) {
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
    pub fn insert(&mut self, v: Vma<B>) {
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

    /// Appends `v` above every mapping (fork copies a sorted list in order; no merging,
    /// the neighbours were not mergeable in the parent either).
    pub fn push(&mut self, v: Vma<B>) {
        debug_assert!(self.vmas.last().is_none_or(|l| l.end <= v.start));
        self.vmas.push(v);
    }

    /// Removes [start, end) from the list (the pages are the caller's), cutting the VMAs
    /// that straddle its ends. Returns the index where the hole is: the mappings below and
    /// above it are at `i - 1` and `i`.
    pub fn remove_range(&mut self, start: u64, end: u64) -> usize {
        self.split_at_addr(start);
        self.split_at_addr(end);
        let i = self.first_ending_after(start);
        let j = self.vmas.partition_point(|v| v.start < end);
        if i < j {
            self.vmas.drain(i..j);
        }
        self.cache.set(0);
        i
    }

    /// Grows a VM_GROWSDOWN mapping down to cover `addr` (Linux's expand_stack): the
    /// mapping above `addr` must grow down, stay within `rlimit` bytes, stay above
    /// MMAP_MIN_ADDR, and keep STACK_GUARD_GAP from an accessible mapping below it. Returns
    /// the VMA's index.
    pub fn grow_down(&mut self, addr: u64, rlimit: u64) -> Option<usize> {
        let j = self.first_ending_after(addr);
        let v = self.vmas.get(j)?;
        if v.flags & VM_GROWSDOWN == 0 {
            return None;
        }
        let new_start = crate::page::align_down(addr, PAGE_SIZE);
        if v.end - new_start > rlimit || new_start < MMAP_MIN_ADDR {
            return None;
        }
        if j > 0 {
            let p = &self.vmas[j - 1];
            if p.flags & VM_GROWSDOWN == 0
                && p.prot & PROT_RWX != 0
                && new_start - p.end < STACK_GUARD_GAP
            {
                return None;
            }
        }
        self.vmas[j].start = new_start;
        self.cache.set(j);
        Some(j)
    }
}

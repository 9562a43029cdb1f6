//! A process's user address space: its page table and its mappings (VMAs), with demand
//! paging, copy-on-write fork, the program break, the growable stack and `/proc/self/maps`.
//!
//! Pages:
//! - A private page is allocated (zeroed, or filled from its file) on first touch. A read of a
//!   fresh anonymous page maps the shared zero page read-only; the first write replaces it.
//! - Every user frame has a reference count (`frame::page_ref`): one per page-table entry
//!   naming it, plus one for a shared-memory object holding it. fork shares private pages
//!   read-only in both processes; a write fault copies a page still shared (count > 1) or
//!   takes it back writable when the count is 1 again.
//! - A PROT_NONE page keeps its frame in a non-present entry marked [`PTE_PROTNONE`].
//!
//! Locking: the address space lives in `Process::aspace` (a spin lock). The page-fault hook
//! takes that lock, so kernel code never copies to or from user memory while holding it
//! (such a copy can fault); the kernel is not preempted, so on one CPU the lock is never
//! contended by a fault.

use crate::mm::frame::{self, page_ref};
use crate::mm::paging::{MapError, PTE_ADDR, PTE_NX, PTE_P, PTE_U, PTE_W, PageTable, flush_page};
use crate::mm::{PAGE_SIZE, align_down, align_up, phys_to_virt};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use kentry::sysret::TASK_SIZE_MAX;

pub const PROT_READ: u32 = 1;
pub const PROT_WRITE: u32 = 2;
pub const PROT_EXEC: u32 = 4;
const PROT_RWX: u32 = PROT_READ | PROT_WRITE | PROT_EXEC;

/// VMA flags.
pub const VM_SHARED: u32 = 1 << 0;
pub const VM_GROWSDOWN: u32 = 1 << 1;
/// MADV_DONTFORK: the child does not get this mapping.
pub const VM_DONTCOPY: u32 = 1 << 2;
/// MADV_WIPEONFORK: the child gets this mapping empty.
pub const VM_WIPEONFORK: u32 = 1 << 3;

/// The highest user address + 1; the page below 2^47 is never mapped (E03).
pub const TASK_SIZE: u64 = TASK_SIZE_MAX;
/// vm.mmap_min_addr (Linux's default, and this host's).
pub const MMAP_MIN_ADDR: u64 = 4096;
/// The gap kept below a stack that grows down (Linux's stack_guard_gap, 256 pages).
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// RLIMIT_STACK (Linux's default soft limit).
pub const STACK_RLIMIT: u64 = 8 << 20;
/// Linux randomises the stack top below TASK_SIZE_MAX by up to 16 GiB (STACK_RND_MASK); kentry
/// uses one fixed draw from that window (the middle), so layouts are reproducible and the
/// pages just below TASK_SIZE_MAX stay free, as programs like sysret_rip expect.
const STACK_RND_MAX: u64 = 16 << 30;
pub const STACK_TOP: u64 = TASK_SIZE_MAX - STACK_RND_MAX / 2;
/// Linux's mmap_base for a 64-bit process: TASK_SIZE minus the stack gap (RLIMIT_STACK plus
/// the stack randomisation range plus the guard gap, at least 128 MiB); mmap allocates top-down
/// below it.
pub const MMAP_BASE: u64 = {
    let gap = STACK_RLIMIT + STACK_RND_MAX + STACK_GUARD_GAP;
    let gap = if gap < (128 << 20) { 128 << 20 } else { gap };
    (TASK_SIZE - gap) & !(PAGE_SIZE - 1)
};
/// Where a bottom-up search starts (Linux's TASK_UNMAPPED_BASE).
const LEGACY_MMAP_BASE: u64 = align_const(TASK_SIZE / 3);
/// Where an ET_DYN program without an interpreter (static-pie) is loaded.
pub const ELF_ET_DYN_BASE: u64 = (TASK_SIZE / 3 * 2) & !(PAGE_SIZE - 1);
/// MAP_32BIT allocates in [MAP32_BASE, MAP32_END).
const MAP32_BASE: u64 = 0x4000_0000;
const MAP32_END: u64 = 0x8000_0000;

const fn align_const(v: u64) -> u64 {
    (v + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// A software bit in a non-present leaf entry: a PROT_NONE page whose frame is kept.
pub const PTE_PROTNONE: u64 = 1 << 58;

// Linux errno values used here (positive; callers negate).
const EPERM: i64 = 1;
const ENOMEM: i64 = 12;
const EFAULT: i64 = 14;
const EEXIST: i64 = 17;
const EINVAL: i64 = 22;
const EACCES: i64 = 13;

/// Page-fault error code bits.
const PF_WRITE: u64 = 1 << 1;
const PF_RSVD: u64 = 1 << 3;
const PF_INSTR: u64 = 1 << 4;
const PF_PK: u64 = 1 << 5;

/// The shared zero page (mapped read-only for reads of fresh anonymous pages).
static ZERO_PAGE: AtomicU64 = AtomicU64::new(0);

#[inline]
fn zero_page() -> u64 {
    ZERO_PAGE.load(Ordering::Relaxed)
}

/// Takes a reference to a user frame.
#[inline]
fn page_get(pa: u64) {
    if pa != zero_page() {
        page_ref(pa).fetch_add(1, Ordering::Relaxed);
    }
}

/// Drops a reference to a user frame; the last one frees it.
#[inline]
fn page_put(pa: u64) {
    if pa != zero_page() && page_ref(pa).fetch_sub(1, Ordering::AcqRel) == 1 {
        frame::free_frame(pa);
    }
}

/// A fresh private frame (reference count 1), zeroed.
#[inline]
fn new_zeroed_page() -> Option<u64> {
    let f = frame::alloc_frame_fast_zero()?;
    page_ref(f).store(1, Ordering::Relaxed);
    Some(f)
}

/// A zeroed user page with one reference, for [`AddressSpace::install_pages`].
pub fn alloc_user_page() -> Option<u64> {
    new_zeroed_page()
}

/// Drops a reference to a user page (from [`alloc_user_page`]).
pub fn put_user_page(pa: u64) {
    page_put(pa)
}

/// The leaf entry mapping `pa` with `prot`; `writable` is false while the page must stay
/// read-only (the zero page, a page shared copy-on-write).
#[inline]
fn pte_for(pa: u64, prot: u32, writable: bool) -> u64 {
    if prot & PROT_RWX == 0 {
        return pa | PTE_PROTNONE;
    }
    let mut e = pa | PTE_P | PTE_U;
    if writable && prot & PROT_WRITE != 0 {
        e |= PTE_W;
    }
    if prot & PROT_EXEC == 0 {
        e |= PTE_NX;
    }
    e
}

/// A file mapped privately (the executable's segments, mmap of a file). Its pages are
/// copied from the file when it is mapped; a page dropped later (MADV_DONTNEED) comes back
/// zeroed (Linux would read the file again).
pub struct MappedFile {
    /// The path shown in /proc/self/maps.
    pub path: String,
    /// Device (major, minor) and inode shown in /proc/self/maps.
    pub dev: (u32, u32),
    pub ino: u64,
}

impl MappedFile {
    /// A file named `path`, on device `dev` (st_dev encoding) with inode `ino`.
    pub fn new(path: &str, dev: u64, ino: u64) -> Arc<MappedFile> {
        Arc::new(MappedFile {
            path: String::from(path),
            dev: dev_pair(dev),
            ino,
        })
    }
}

/// (major, minor) of an st_dev value (Linux's new_decode_dev).
pub fn dev_pair(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS): its pages by index, shared by every
/// mapping of it in every process (fork keeps sharing it).
pub struct SharedMem {
    pages: spin::Mutex<BTreeMap<u64, u64>>,
    pub ino: u64,
}

static SHMEM_INO: AtomicU64 = AtomicU64::new(1000);

impl SharedMem {
    pub fn new() -> Arc<SharedMem> {
        Arc::new(SharedMem {
            pages: spin::Mutex::new(BTreeMap::new()),
            ino: SHMEM_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The frame of page `index`, allocated zeroed on first use. The object keeps one
    /// reference; the caller gets none.
    fn page(&self, index: u64) -> Option<u64> {
        let mut p = self.pages.lock();
        if let Some(&pa) = p.get(&index) {
            return Some(pa);
        }
        let pa = new_zeroed_page()?;
        p.insert(index, pa);
        Some(pa)
    }

    fn has_page(&self, index: u64) -> bool {
        self.pages.lock().contains_key(&index)
    }

    /// MADV_REMOVE: frees pages [first, last) (mappings must have been zapped).
    fn remove(&self, first: u64, last: u64) {
        let mut p = self.pages.lock();
        let gone: Vec<u64> = p.range(first..last).map(|(&k, _)| k).collect();
        for k in gone {
            if let Some(pa) = p.remove(&k) {
                page_put(pa);
            }
        }
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        for &pa in self.pages.get_mut().values() {
            page_put(pa);
        }
    }
}

/// What backs a mapping's pages.
#[derive(Clone)]
pub enum Backing {
    /// Private anonymous memory: zero-filled on first touch.
    Anon,
    /// A private copy of a file's bytes; bytes at file offsets from `limit` on read as zero
    /// (the end of an ELF segment's file part, or of the file).
    File { file: Arc<MappedFile>, limit: u64 },
    /// Shared anonymous memory.
    Shared(Arc<SharedMem>),
}

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
    fn anon(start: u64, end: u64, prot: u32, flags: u32) -> Vma {
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

    fn is_shared(&self) -> bool {
        matches!(self.backing, Backing::Shared(_))
    }

    /// The lowest address a new mapping below this one may end at (Linux's vm_start_gap).
    fn start_gap(&self) -> u64 {
        if self.flags & VM_GROWSDOWN != 0 {
            self.start.saturating_sub(STACK_GUARD_GAP)
        } else {
            self.start
        }
    }
}

/// A process's user address space.
pub struct AddressSpace {
    pub pt: PageTable,
    /// The mappings, sorted by address, never overlapping.
    vmas: Vec<Vma>,
    /// Index of the VMA the last lookup found (a hint; checked before use).
    cache: Cell<usize>,
    /// The program break: where it starts (page-aligned, after the last ELF segment) and
    /// where it is (exactly as the program set it).
    pub start_brk: u64,
    pub brk: u64,
    /// The initial stack pointer (the VMA holding it is `[stack]`).
    pub start_stack: u64,
    /// The executable, for /proc/self/maps and /proc/self/exe.
    pub exe: Option<Arc<MappedFile>>,
    /// The page of the last fault that found nothing to fix, and how many times in a row.
    spurious: (u64, u32),
}

impl AddressSpace {
    pub fn new() -> Result<Self, MapError> {
        if zero_page() == 0 {
            let z = frame::alloc_frame().ok_or(MapError::NoMemory)?;
            if ZERO_PAGE
                .compare_exchange(0, z, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                frame::free_frame(z);
            }
        }
        Ok(AddressSpace {
            pt: PageTable::new_user()?,
            vmas: Vec::new(),
            cache: Cell::new(0),
            start_brk: 0,
            brk: 0,
            start_stack: 0,
            exe: None,
            spurious: (0, 0),
        })
    }

    /// Physical address of the PML4, for CR3.
    pub fn root(&self) -> u64 {
        self.pt.root
    }

    /// The executable's path (for /proc/self/exe).
    #[allow(dead_code, reason = "for other kernel areas: /proc, readlink, loaders")]
    pub fn exe_path(&self) -> Option<&str> {
        self.exe.as_ref().map(|f| f.path.as_str())
    }

    /// Names the executable's mappings in /proc/self/maps: its canonical path, device
    /// (major, minor) and inode (exec's caller knows them once the file is found; the image is
    /// built with the path execve was given).
    #[allow(dead_code, reason = "for the file layer's execve")]
    pub fn set_exe_identity(&mut self, path: &str, dev: u64, ino: u64) {
        let new = MappedFile::new(path, dev, ino);
        if let Some(old) = self.exe.replace(new.clone()) {
            for v in &mut self.vmas {
                if let Backing::File { file, .. } = &mut v.backing
                    && Arc::ptr_eq(file, &old)
                {
                    *file = new.clone();
                }
            }
        }
    }

    /// The mappings, in address order.
    #[allow(dead_code, reason = "for other kernel areas: /proc, readlink, loaders")]
    pub fn vmas(&self) -> &[Vma] {
        &self.vmas
    }

    // ---- lookup ------------------------------------------------------------------------

    /// Index of the first VMA that ends above `addr`.
    fn first_ending_after(&self, addr: u64) -> usize {
        self.vmas.partition_point(|v| v.end <= addr)
    }

    /// Index of the VMA containing `addr`.
    #[inline]
    fn find(&self, addr: u64) -> Option<usize> {
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
    fn fits_before_next(&self, start: u64, end: u64) -> bool {
        let i = self.first_ending_after(start);
        i >= self.vmas.len() || end <= self.vmas[i].start_gap()
    }

    // ---- structure ---------------------------------------------------------------------

    /// Makes sure no VMA straddles `addr`.
    fn split_at(&mut self, addr: u64) {
        if let Some(i) = self.find(addr)
            && self.vmas[i].start < addr
        {
            let hi = self.vmas[i].split_off(addr);
            self.vmas.insert(i + 1, hi);
        }
    }

    /// Merges every pair of neighbours that continue each other.
    fn merge_all(&mut self) {
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
    fn insert_vma(&mut self, v: Vma) {
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

    /// Whether this address space is the one loaded in CR3.
    fn is_active(&self) -> bool {
        let cr3: u64;
        // SAFETY: reading CR3 has no side effects.
        unsafe { core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
        cr3 & PTE_ADDR == self.pt.root
    }

    /// Flushes [start, end) from this CPU's TLB if this address space is live here.
    fn flush_range(&self, start: u64, end: u64) {
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

    /// Drops every page mapped in [start, end).
    fn zap(&mut self, start: u64, end: u64) {
        let mut any = false;
        self.pt.for_each_leaf_mut(start, end, |_, e| {
            let old = core::mem::replace(e, 0);
            if old & (PTE_P | PTE_PROTNONE) != 0 {
                page_put(old & PTE_ADDR);
                any = true;
            }
        });
        if any {
            self.flush_range(start, end);
        }
    }

    /// Removes every mapping (and page) in [start, end), page-aligned.
    pub fn unmap(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        self.split_at(start);
        self.split_at(end);
        let i = self.first_ending_after(start);
        let j = self.vmas.partition_point(|v| v.start < end);
        if i < j {
            self.vmas.drain(i..j);
        }
        self.cache.set(0);
        self.zap(start, end);
        // Page tables that now map nothing between the neighbouring mappings go too.
        let floor = if i > 0 { self.vmas[i - 1].end } else { 0 };
        let ceiling = self.vmas.get(i).map_or(1 << 47, |v| v.start);
        let freed = self.pt.free_tables(start, end, floor, ceiling, |e| {
            if e & (PTE_P | PTE_PROTNONE) != 0 {
                page_put(e & PTE_ADDR);
            }
        });
        if freed && self.is_active() {
            // SAFETY: reloading CR3 with its own value flushes the paging-structure caches
            // that may still hold the freed tables.
            unsafe {
                core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack))
            };
        }
    }

    /// Rewrites the entries of mapped pages in `v` for its protection.
    fn reprotect(&self, v: &Vma) {
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
        self.insert_vma(v);
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
        self.split_at(start);
        self.split_at(end);
        let i = self.first_ending_after(start);
        let j = self.vmas.partition_point(|v| v.start < end);
        for k in i..j {
            self.vmas[k].prot |= prot;
            let v = self.vmas[k].clone();
            self.reprotect(&v);
        }
        self.merge_all();
    }

    /// The private frame of `page` (which must be mapped), allocated or unshared now: for
    /// the loader's writes into a new image, whatever the page's protection.
    fn private_page(&mut self, page: u64) -> Result<u64, MapError> {
        let i = self.find(page).ok_or(MapError::NoMemory)?;
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
        flush_page(page);
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
            Backing::File { limit, .. } => {
                if v.pgoff + (page - v.start) >= *limit {
                    // Wholly past the end of the file (Linux: SIGBUS).
                    return None;
                }
                new_zeroed_page()
            }
            Backing::Shared(obj) => {
                let pa = obj.page((v.pgoff + (page - v.start)) / PAGE_SIZE)?;
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
        let i = match self.find(addr) {
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
            *e = pte_for(pa, prot, true);
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
            } else {
                let Some(f) = self.copy_of(pa) else {
                    return false;
                };
                *e = pte_for(f, prot, true);
                page_put(pa);
            }
            flush_page(page);
            return true;
        }
        if err & PF_INSTR != 0 && cur & PTE_NX != 0 {
            *e = cur & !PTE_NX;
            flush_page(page);
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
        let Some(i) = self.find(addr) else {
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
        if let Backing::File { limit, .. } = &v.backing
            && allowed
            && v.pgoff + (align_down(addr, PAGE_SIZE) - v.start) >= *limit
        {
            return (SIGBUS, BUS_ADRERR);
        }
        (SIGSEGV, SEGV_ACCERR)
    }

    /// Grows a VM_GROWSDOWN mapping down to cover `addr` (Linux's expand_stack), within
    /// RLIMIT_STACK and the guard gap. Returns the VMA's index.
    fn grow_stack(&mut self, addr: u64) -> Option<usize> {
        let j = self.first_ending_after(addr);
        let v = self.vmas.get(j)?;
        if v.flags & VM_GROWSDOWN == 0 {
            return None;
        }
        let new_start = align_down(addr, PAGE_SIZE);
        if v.end - new_start > STACK_RLIMIT || new_start < MMAP_MIN_ADDR {
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

    /// Faults in the mapped pages of [start, end) as Linux's populate_vma_page_range does
    /// (write faults for private writable mappings), ignoring failures: mlock, MAP_POPULATE.
    pub fn prefault(&mut self, start: u64, end: u64) {
        let mut page = start;
        while page < end {
            if let Some(i) = self.find(page) {
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
            let prot = self.find(va).map(|i| self.vmas[i].prot);
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

    /// Faults in [start, end) as reads or writes (MADV_POPULATE_*, MAP_POPULATE).
    pub fn populate(&mut self, start: u64, end: u64, write: bool) -> Result<(), i64> {
        let mut page = start;
        while page < end {
            let e = self.pt.leaf_entry_existing(page).map_or(0, |e| *e);
            let ok = e & PTE_P != 0 && (!write || e & PTE_W != 0);
            if !ok && !self.handle_fault(page, if write { PF_WRITE } else { 0 }) {
                return Err(if self.find(page).is_none() {
                    ENOMEM
                } else {
                    EFAULT
                });
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }

    // ---- placement ---------------------------------------------------------------------

    /// Chooses where a new mapping of `len` bytes goes (Linux's get_unmapped_area for a
    /// 64-bit process): the hint if it is free, else the highest free range below the mmap
    /// base; MAP_32BIT searches [1 GiB, 2 GiB) bottom-up. `fixed` returns `hint` itself.
    pub fn get_unmapped_area(
        &self,
        hint: u64,
        len: u64,
        fixed: bool,
        map32: bool,
    ) -> Result<u64, i64> {
        if len > TASK_SIZE {
            return Err(ENOMEM);
        }
        let addr = if fixed {
            hint
        } else if map32 {
            self.bottom_up(hint, len, MAP32_BASE, MAP32_END)?
        } else {
            let h = align_up(hint.min(TASK_SIZE), PAGE_SIZE);
            if hint != 0 && h <= TASK_SIZE - len && self.fits_before_next(h, h + len) {
                h
            } else {
                match self.top_down(len, PAGE_SIZE, MMAP_BASE) {
                    Some(a) => a,
                    None => self.bottom_up(hint, len, LEGACY_MMAP_BASE, TASK_SIZE)?,
                }
            }
        };
        if addr > TASK_SIZE - len {
            return Err(ENOMEM);
        }
        if addr & (PAGE_SIZE - 1) != 0 {
            return Err(EINVAL);
        }
        if addr < MMAP_MIN_ADDR {
            return Err(EPERM);
        }
        Ok(addr)
    }

    /// The highest `len`-byte free range inside [low, high).
    fn top_down(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let n = self.vmas.len();
        for i in (0..=n).rev() {
            let gap_start = if i == 0 { 0 } else { self.vmas[i - 1].end };
            let gap_end = if i == n {
                TASK_SIZE
            } else {
                self.vmas[i].start_gap()
            };
            let end = gap_end.min(high);
            let start = gap_start.max(low);
            if end >= start && end - start >= len {
                return Some(end - len);
            }
            if gap_start <= low {
                break;
            }
        }
        None
    }

    /// The hint if free, else the lowest `len`-byte free range inside [begin, end).
    fn bottom_up(&self, hint: u64, len: u64, begin: u64, end: u64) -> Result<u64, i64> {
        if len > end {
            return Err(ENOMEM);
        }
        if hint != 0 {
            let h = align_up(hint.min(TASK_SIZE), PAGE_SIZE);
            if end - len >= h && self.fits_before_next(h, h + len) {
                return Ok(h);
            }
        }
        let n = self.vmas.len();
        for i in self.first_ending_after(begin)..=n {
            let gap_start = if i == 0 { 0 } else { self.vmas[i - 1].end };
            let gap_end = if i == n {
                TASK_SIZE
            } else {
                self.vmas[i].start_gap()
            };
            let start = gap_start.max(begin);
            let e = gap_end.min(end);
            if e >= start && e - start >= len {
                return Ok(start);
            }
            if gap_end >= end {
                break;
            }
        }
        Err(ENOMEM)
    }

    // ---- system calls ------------------------------------------------------------------

    /// mmap's work once the arguments are checked: places and maps the region.
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        hint: u64,
        len: u64,
        prot: u32,
        flags: u32,
        backing: Backing,
        pgoff: u64,
        fixed: bool,
        noreplace: bool,
        map32: bool,
    ) -> Result<u64, i64> {
        let addr = self.get_unmapped_area(hint, len, fixed || noreplace, map32)?;
        if noreplace && !self.is_free(addr, addr + len) {
            return Err(EEXIST);
        }
        self.map_fixed(Vma {
            start: addr,
            end: addr + len,
            prot,
            flags,
            backing,
            pgoff,
        });
        Ok(addr)
    }

    /// mprotect over [start, end) (page-aligned, non-empty). `growsdown`: PROT_GROWSDOWN,
    /// extending the range down to the start of a VM_GROWSDOWN mapping.
    pub fn mprotect(
        &mut self,
        mut start: u64,
        end: u64,
        prot: u32,
        growsdown: bool,
    ) -> Result<(), i64> {
        let i = self.first_ending_after(start);
        let Some(first) = self.vmas.get(i) else {
            return Err(ENOMEM);
        };
        if growsdown {
            if first.start >= end {
                return Err(ENOMEM);
            }
            if first.flags & VM_GROWSDOWN == 0 {
                return Err(EINVAL);
            }
            start = first.start;
        } else if first.start > start {
            return Err(ENOMEM);
        }
        self.split_at(start);
        self.split_at(end);
        let mut k = self.first_ending_after(start);
        let mut pos = start;
        let mut result = Ok(());
        while pos < end {
            let Some(v) = self.vmas.get(k) else {
                result = Err(ENOMEM);
                break;
            };
            if v.start != pos {
                result = Err(ENOMEM);
                break;
            }
            if v.flags & VM_SHARED != 0
                && matches!(v.backing, Backing::File { .. })
                && prot & PROT_WRITE != 0
            {
                result = Err(EACCES);
                break;
            }
            self.vmas[k].prot = prot;
            let v = self.vmas[k].clone();
            self.reprotect(&v);
            pos = v.end;
            k += 1;
        }
        self.merge_all();
        result
    }

    /// mremap (arguments checked by the caller: page-aligned, `new_len` > 0; `old_len` may be
    /// 0 for a shared mapping). `new_addr` is the target with `fixed`, a hint with
    /// `dontunmap`. Returns the new address.
    #[allow(clippy::too_many_arguments)]
    pub fn mremap(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        maymove: bool,
        fixed: bool,
        dontunmap: bool,
        new_addr: u64,
    ) -> Result<u64, i64> {
        let mut old_len = old_len;
        let Some(i) = self.find(addr) else {
            return Err(EFAULT);
        };
        if fixed || dontunmap {
            // Linux's mremap_to.
            if fixed {
                if new_addr & (PAGE_SIZE - 1) != 0 {
                    return Err(EINVAL);
                }
                if new_len > TASK_SIZE || new_addr > TASK_SIZE - new_len {
                    return Err(EINVAL);
                }
                if addr + old_len > new_addr && new_addr + new_len > addr {
                    return Err(EINVAL);
                }
                self.unmap(new_addr, new_addr + new_len);
            }
            if old_len > new_len {
                self.unmap(addr + new_len, addr + old_len);
                old_len = new_len;
            }
            let i = self.find(addr).ok_or(EFAULT)?;
            self.check_resize(i, addr, old_len)?;
            let dest = self.get_unmapped_area(new_addr, new_len, fixed, false)?;
            let i = self.find(addr).ok_or(EFAULT)?;
            self.move_range(i, addr, old_len, new_len, dest, dontunmap)?;
            return Ok(dest);
        }
        if old_len >= new_len {
            self.unmap(addr + new_len, addr + old_len);
            return Ok(addr);
        }
        self.check_resize(i, addr, old_len)?;
        let v = &self.vmas[i];
        if old_len == v.end - addr {
            let (vend, delta) = (v.end, new_len - old_len);
            if vend.checked_add(delta).is_some_and(|e| e <= TASK_SIZE)
                && self.is_free(vend, vend + delta)
            {
                // Grow in place.
                self.vmas[i].end = vend + delta;
                self.merge_all();
                return Ok(addr);
            }
        }
        if !maymove {
            return Err(ENOMEM);
        }
        let dest = self.get_unmapped_area(0, new_len, false, false)?;
        self.move_range(i, addr, old_len, new_len, dest, false)?;
        Ok(dest)
    }

    /// Linux's vma_to_resize checks for [addr, addr+old_len) in VMA `i`.
    fn check_resize(&self, i: usize, addr: u64, old_len: u64) -> Result<(), i64> {
        let v = &self.vmas[i];
        if old_len == 0 && !v.is_shared() {
            return Err(EINVAL);
        }
        if old_len > v.end - addr {
            return Err(EFAULT);
        }
        Ok(())
    }

    /// Moves [addr, addr+old_len) of VMA `i` to a new mapping [new_addr, new_addr+new_len)
    /// (free, or cleared by the caller), pages included. With `old_len` 0 (shared memory) the
    /// new mapping is a second view of the same pages. `keep_old`: MREMAP_DONTUNMAP, the old
    /// range stays mapped, empty.
    fn move_range(
        &mut self,
        i: usize,
        addr: u64,
        old_len: u64,
        new_len: u64,
        new_addr: u64,
        keep_old: bool,
    ) -> Result<(), i64> {
        let mut nv = self.vmas[i].clone();
        if !matches!(nv.backing, Backing::Anon) {
            nv.pgoff += addr - nv.start;
        }
        nv.start = new_addr;
        nv.end = new_addr + new_len;
        self.unmap(new_addr, new_addr + new_len);
        // Move the page-table entries.
        let mut moved: Vec<(u64, u64)> = Vec::new();
        if old_len != 0 {
            self.pt.for_each_leaf_mut(addr, addr + old_len, |va, e| {
                let old = core::mem::replace(e, 0);
                if old & (PTE_P | PTE_PROTNONE) != 0 {
                    moved.push((va - addr + new_addr, old));
                }
            });
            self.flush_range(addr, addr + old_len);
        }
        let mut failed = false;
        for (va, e) in moved {
            match self.pt.leaf_entry(va) {
                Ok(slot) => *slot = e,
                Err(_) => {
                    page_put(e & PTE_ADDR);
                    failed = true;
                }
            }
        }
        // The new mapping first: unmapping the old range frees page tables no mapping covers,
        // and the moved entries may sit in a table the two ranges share.
        self.insert_vma(nv);
        if old_len != 0 && !keep_old {
            self.unmap(addr, addr + old_len);
        }
        // With keep_old the old range stays, its pages gone (they read as fresh memory).
        if failed { Err(ENOMEM) } else { Ok(()) }
    }

    /// brk: moves the break (Linux's rules: below the start or into another mapping, it stays
    /// where it was). Returns the break.
    pub fn set_brk(&mut self, brk: u64) -> u64 {
        if brk < self.start_brk || brk > TASK_SIZE {
            return self.brk;
        }
        let newbrk = align_up(brk, PAGE_SIZE);
        let oldbrk = align_up(self.brk, PAGE_SIZE);
        if newbrk == oldbrk {
            self.brk = brk;
            return brk;
        }
        if brk <= self.brk {
            self.unmap(newbrk, oldbrk);
            self.brk = brk;
            return brk;
        }
        // A page of gap must stay below the next mapping (and its guard gap).
        let i = self.first_ending_after(oldbrk);
        if let Some(next) = self.vmas.get(i)
            && newbrk + PAGE_SIZE > next.start_gap()
        {
            return self.brk;
        }
        if newbrk > TASK_SIZE {
            return self.brk;
        }
        self.insert_vma(Vma::anon(oldbrk, newbrk, PROT_READ | PROT_WRITE, 0));
        self.brk = brk;
        brk
    }

    /// madvise over [start, end) (page-aligned, non-empty), for the advice values that do
    /// something here. Unmapped parts give ENOMEM after the mapped ones are done.
    pub fn madvise(&mut self, start: u64, end: u64, advice: i32) -> Result<(), i64> {
        const MADV_DONTNEED: i32 = 4;
        const MADV_FREE: i32 = 8;
        const MADV_REMOVE: i32 = 9;
        const MADV_DONTFORK: i32 = 10;
        const MADV_DOFORK: i32 = 11;
        const MADV_WIPEONFORK: i32 = 18;
        const MADV_KEEPONFORK: i32 = 19;
        const MADV_POPULATE_READ: i32 = 22;
        const MADV_POPULATE_WRITE: i32 = 23;
        const MADV_DONTNEED_LOCKED: i32 = 24;
        // Validity first, over the whole range.
        let mut k = self.first_ending_after(start);
        let mut pos = start;
        let mut hole = false;
        while pos < end {
            match self.vmas.get(k) {
                Some(v) if v.start < end => {
                    if v.start > pos {
                        hole = true;
                    }
                    let anon_private = matches!(v.backing, Backing::Anon);
                    match advice {
                        MADV_FREE | MADV_WIPEONFORK if !anon_private => return Err(EINVAL),
                        MADV_REMOVE if !v.is_shared() => return Err(EINVAL),
                        _ => {}
                    }
                    pos = v.end;
                    k += 1;
                }
                _ => {
                    hole = true;
                    break;
                }
            }
        }
        match advice {
            MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE | MADV_REMOVE => {
                let mut k = self.first_ending_after(start);
                while let Some(v) = self.vmas.get(k) {
                    if v.start >= end {
                        break;
                    }
                    let (s, e) = (v.start.max(start), v.end.min(end));
                    let shm = match &v.backing {
                        Backing::Shared(o) if advice == MADV_REMOVE => {
                            Some((o.clone(), (v.pgoff + (s - v.start)) / PAGE_SIZE))
                        }
                        _ => None,
                    };
                    self.zap(s, e);
                    if let Some((o, first)) = shm {
                        o.remove(first, first + (e - s) / PAGE_SIZE);
                    }
                    k += 1;
                }
            }
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK => {
                let (set, clear) = match advice {
                    MADV_DONTFORK => (VM_DONTCOPY, 0),
                    MADV_DOFORK => (0, VM_DONTCOPY),
                    MADV_WIPEONFORK => (VM_WIPEONFORK, 0),
                    _ => (0, VM_WIPEONFORK),
                };
                self.split_at(start);
                self.split_at(end);
                let mut k = self.first_ending_after(start);
                while let Some(v) = self.vmas.get_mut(k) {
                    if v.start >= end {
                        break;
                    }
                    v.flags = (v.flags | set) & !clear;
                    k += 1;
                }
                self.merge_all();
            }
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                let mut k = self.first_ending_after(start);
                while let Some(v) = self.vmas.get(k) {
                    if v.start >= end {
                        break;
                    }
                    let (s, e) = (v.start.max(start), v.end.min(end));
                    if v.prot & PROT_RWX == 0 {
                        return Err(ENOMEM);
                    }
                    self.populate(s, e, advice == MADV_POPULATE_WRITE)?;
                    k = self.first_ending_after(e);
                }
            }
            _ => {}
        }
        if hole { Err(ENOMEM) } else { Ok(()) }
    }

    /// mincore for `pages` pages from `start`: one byte per page, 1 when resident. Err(ENOMEM)
    /// when a page is not mapped.
    pub fn mincore(&self, start: u64, pages: u64, out: &mut Vec<u8>) -> Result<(), i64> {
        for n in 0..pages {
            let va = start + n * PAGE_SIZE;
            let Some(i) = self.find(va) else {
                return Err(ENOMEM);
            };
            let e = self.pt.leaf_entry_existing(va).map_or(0, |e| *e);
            let v = &self.vmas[i];
            let resident = e & (PTE_P | PTE_PROTNONE) != 0
                || match &v.backing {
                    Backing::Shared(o) => o.has_page((v.pgoff + (va - v.start)) / PAGE_SIZE),
                    _ => false,
                };
            out.push(resident as u8);
        }
        Ok(())
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

    // ---- fork, maps, teardown ------------------------------------------------------------

    /// A copy of this address space for fork: the same mappings; private pages shared
    /// copy-on-write (read-only in both until one writes), shared memory shared.
    pub fn fork_copy(&self) -> Result<AddressSpace, MapError> {
        let mut child = AddressSpace::new()?;
        child.start_brk = self.start_brk;
        child.brk = self.brk;
        child.start_stack = self.start_stack;
        child.exe = self.exe.clone();
        let mut err = None;
        for v in &self.vmas {
            if v.flags & VM_DONTCOPY != 0 {
                continue;
            }
            child.vmas.push(v.clone());
            if v.is_shared() || v.flags & VM_WIPEONFORK != 0 {
                // Shared pages fault in from the object; wiped ones start empty.
                continue;
            }
            let cpt = &mut child.pt;
            self.pt.for_each_leaf_mut(v.start, v.end, |va, e| {
                if err.is_some() {
                    return;
                }
                let cur = *e;
                if cur & (PTE_P | PTE_PROTNONE) == 0 {
                    return;
                }
                let ro = cur & !PTE_W;
                match cpt.leaf_entry(va) {
                    Ok(slot) => {
                        page_get(cur & PTE_ADDR);
                        *e = ro;
                        *slot = ro;
                    }
                    Err(x) => err = Some(x),
                }
            });
        }
        // The parent's pages just lost their write right.
        if self.is_active() {
            // SAFETY: reloading CR3 with its own value only flushes non-global entries.
            unsafe {
                core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack))
            };
        }
        match err {
            Some(e) => {
                child.destroy();
                Err(e)
            }
            None => Ok(child),
        }
    }

    /// The text of `/proc/self/maps` for this address space, exactly in Linux's format.
    #[allow(dead_code, reason = "for other kernel areas: /proc, readlink, loaders")]
    pub fn proc_maps(&self) -> String {
        let mut s = String::new();
        for v in &self.vmas {
            let line_start = s.len();
            let (pgoff, dev, ino, name): (u64, (u32, u32), u64, Option<&str>) = match &v.backing {
                Backing::File { file, .. } => (
                    v.pgoff,
                    file.dev,
                    file.ino,
                    Some(file.path.as_str()).filter(|p| !p.is_empty()),
                ),
                Backing::Shared(o) => (v.pgoff, (0, 1), o.ino, Some("/dev/zero (deleted)")),
                Backing::Anon => {
                    let name =
                        if v.start <= self.brk && v.end >= self.start_brk && self.start_brk != 0 {
                            Some("[heap]")
                        } else if v.start <= self.start_stack && v.end >= self.start_stack {
                            Some("[stack]")
                        } else {
                            None
                        };
                    (0, (0, 0), 0, name)
                }
            };
            let _ = write!(
                s,
                "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
                v.start,
                v.end,
                if v.prot & PROT_READ != 0 { 'r' } else { '-' },
                if v.prot & PROT_WRITE != 0 { 'w' } else { '-' },
                if v.prot & PROT_EXEC != 0 { 'x' } else { '-' },
                if v.flags & VM_SHARED != 0 { 's' } else { 'p' },
                pgoff,
                dev.0,
                dev.1,
                ino
            );
            if let Some(name) = name {
                // seq_pad: pad to 25 + 6 * sizeof(void *) - 1 columns, then one space.
                while s.len() - line_start < 72 {
                    s.push(' ');
                }
                s.push(' ');
                s.push_str(name);
            }
            s.push('\n');
        }
        s
    }

    /// Frees every page and page table of this address space. It must not be live on any CPU.
    pub fn destroy(self) {
        let AddressSpace { pt, vmas, .. } = self;
        pt.destroy_user_with(|e| {
            if e & (PTE_P | PTE_PROTNONE) != 0 {
                page_put(e & PTE_ADDR);
            }
        });
        drop(vmas);
    }
}

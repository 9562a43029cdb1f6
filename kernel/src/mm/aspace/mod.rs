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
//!
//! The parts: `vma` (the mappings and their lookup), `backing` (page references and what
//! backs a mapping), `map` (mapping, unmapping, re-protecting ranges), `fault` (demand
//! paging), `mmap`, `mremap` and `madvise` (the memory system calls), `fork` and
//! `maps` (`/proc/self/maps`).

mod backing;
mod fault;
mod fork;
mod madvise;
mod map;
mod maps;
mod mmap;
mod mremap;
mod vma;

pub use backing::{Backing, MappedFile, SharedMem, alloc_user_page, put_user_page};
pub use vma::Vma;

use crate::mm::PAGE_SIZE;
use crate::mm::frame;
use crate::mm::paging::{MapError, PTE_ADDR, PTE_P, PageTable};
use alloc::sync::Arc;
use alloc::vec::Vec;
use backing::{ZERO_PAGE, page_put, zero_page};
use core::cell::Cell;
use core::sync::atomic::Ordering;
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

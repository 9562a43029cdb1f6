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
//! (such a copy can fault). Threads on other CPUs may hold it: the fault path then waits,
//! answering TLB-shootdown requests meanwhile (mm/fault.rs). A change that takes a page or a
//! right away flushes every CPU that has this address space loaded (`smp::tlb`).
//!
//! The parts: the mappings and their rules (split, merge, lookup, placement) are
//! `kentry_kernel_logic::vma`, unit-tested on the host; here, `backing` (page references and what
//! backs a mapping), `map` (mapping, unmapping, re-protecting ranges), `fault` (demand
//! paging), `mmap`, `mremap` and `madvise` (the memory system calls), `fork` and
//! `maps` (`/proc/self/maps`), `special` (the vDSO's mappings).

mod backing;
mod fault;
mod fork;
mod madvise;
mod map;
mod maps;
mod mmap;
mod mremap;
mod special;

pub use backing::{Backing, MappedFile, SharedMem, SpecialMapping, alloc_user_page, put_user_page};
pub use maps::MemSummary;

use crate::mm::frame;
use crate::mm::paging::{MapError, PTE_ADDR, PTE_P, PageTable};
use alloc::sync::Arc;
use backing::{ZERO_PAGE, page_put, zero_page};
use core::sync::atomic::Ordering;
use kentry_kernel_logic::vma::VmaList;

// The protections, VMA flags and layout constants, and the VMA rules themselves, live in
// kentry-kernel-logic, where host unit tests check them.
pub use kentry_kernel_logic::prot::{
    PROT_EXEC, PROT_READ, PROT_RWX, PROT_WRITE, PTE_PROTNONE, VM_DONTCOPY, VM_GROWSDOWN,
    VM_NOMAYWRITE, VM_SHARED, VM_WIPEONFORK,
};
pub use kentry_kernel_logic::vma::{MMAP_MIN_ADDR, STACK_RLIMIT, STACK_TOP, TASK_SIZE};

/// One mapping of this kernel: [`kentry_kernel_logic::vma::Vma`] with its pages' [`Backing`].
pub type Vma = kentry_kernel_logic::vma::Vma<Backing>;

// Linux errno values used here (positive; callers negate).
use kentry_abi::errno::{EACCES, EEXIST, EFAULT, EINVAL, ENOMEM};

/// A process's user address space.
pub struct AddressSpace {
    pub pt: PageTable,
    /// The mappings, sorted by address, never overlapping.
    vmas: VmaList<Backing>,
    /// The program break: where it starts (page-aligned, after the last ELF segment) and
    /// where it is (exactly as the program set it).
    pub start_brk: u64,
    pub brk: u64,
    /// The initial stack pointer (the VMA holding it is `[stack]`).
    pub start_stack: u64,
    /// Where exec put the argument and environment strings (Linux's `arg_start`..`arg_end`,
    /// `env_start`..`env_end`): /proc/PID/cmdline and environ read them there.
    pub args: (u64, u64),
    pub env: (u64, u64),
    /// The executable, for /proc/self/maps and /proc/self/exe.
    pub exe: Option<Arc<MappedFile>>,
    /// Where the vDSO image is (0: none), as Linux's `mm->context.vdso`: set at exec,
    /// followed by mremap.
    pub vdso: u64,
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
            vmas: VmaList::new(),
            start_brk: 0,
            brk: 0,
            start_stack: 0,
            args: (0, 0),
            env: (0, 0),
            exe: None,
            vdso: 0,
            spurious: (0, 0),
        })
    }

    /// Makes this an i386 task's address space (Linux's TIF_ADDR32): every mapping the kernel
    /// chooses, the program break and the stack stay below 4 GiB.
    pub fn set_ia32(&mut self) {
        self.vmas.limits = kentry_kernel_logic::vma::Limits::IA32;
    }

    /// The highest user address + 1 for this address space.
    pub fn task_size(&self) -> u64 {
        self.vmas.limits.task_size
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
            for v in self.vmas.iter_mut() {
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

    /// The VMA containing `addr`.
    #[allow(dead_code, reason = "for other kernel areas: /proc, readlink, loaders")]
    pub fn vma_at(&self, addr: u64) -> Option<&Vma> {
        self.vmas.vma_at(addr)
    }

    /// Whether no mapping intersects [start, end).
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.vmas.is_free(start, end)
    }

    /// Whether [start, end) is entirely mapped (mlock, msync).
    pub fn is_mapped(&self, start: u64, end: u64) -> bool {
        self.vmas.is_mapped(start, end)
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

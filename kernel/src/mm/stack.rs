//! Kernel stacks: each is a run of pages in the stack area with an unmapped guard page below,
//! so an overflow faults (→ #DF on its own IST stack, E26) instead of silently corrupting its
//! neighbour. Every stack is registered by name so the #DF report can say whose guard was hit.

use super::paging::{PTE_G, PTE_NX, PTE_W, flush_page, kernel_table};
use super::{PAGE_SIZE, VMALLOC_BASE, VMALLOC_END};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Clone, Copy, Debug)]
pub struct KernelStack {
    /// The unmapped guard page.
    pub guard: u64,
    /// Lowest mapped byte.
    pub bottom: u64,
    /// One past the highest byte (16-byte aligned).
    pub top: u64,
    pub name: &'static str,
}

static NEXT_VA: AtomicU64 = AtomicU64::new(VMALLOC_BASE);

const MAX_STACKS: usize = 256;
static REGISTRY: crate::sync::Mutex<[Option<KernelStack>; MAX_STACKS]> =
    crate::sync::Mutex::new([None; MAX_STACKS]);

/// Reserves `pages` pages of virtual space in the stack area (no mapping).
pub fn reserve_va(pages: u64) -> u64 {
    let va = NEXT_VA.fetch_add(pages * PAGE_SIZE, Ordering::Relaxed);
    assert!(
        va + pages * PAGE_SIZE <= VMALLOC_END,
        "stack area exhausted"
    );
    va
}

/// Serializes changes to the stack area's page tables. `PageTable::entry` creates a missing
/// page table by a plain read and store, so two CPUs mapping stacks in the same new 2 MiB
/// region at once would each install a table of their own, and the stack mapped in the losing
/// one would vanish with it while its task still runs on the TLB's copy. (Found by the entry
/// fuzzer after ~100 000 forks on two CPUs: a #DF in end_process at its first stack access
/// after the CR3 switch, cr2 on a task stack that no guard page explains.)
static MAP_LOCK: crate::sync::Mutex<()> = crate::sync::Mutex::new(());

/// Test kernels, `kentry.break=stack_map_lock`: [`alloc_stack`] maps without [`MAP_LOCK`], and
/// the `stack_map_smp` self-test must find a stack page gone.
pub static BREAK_MAP_LOCK: AtomicBool = AtomicBool::new(false);

/// A new stack of `pages` mapped pages above one guard page.
pub fn alloc_stack(pages: u64, name: &'static str) -> KernelStack {
    let guard = reserve_va(pages + 1);
    let bottom = guard + PAGE_SIZE;
    {
        let broken = cfg!(feature = "test-hooks") && BREAK_MAP_LOCK.load(Ordering::Relaxed);
        let _map = (!broken).then(|| MAP_LOCK.lock());
        let mut kt = kernel_table();
        for i in 0..pages {
            let f = super::frame::alloc_frame().expect("no memory for a kernel stack");
            kt.map_4k(bottom + i * PAGE_SIZE, f, PTE_W | PTE_NX | PTE_G)
                .expect("stack map");
        }
    }
    let s = KernelStack {
        guard,
        bottom,
        top: bottom + pages * PAGE_SIZE,
        name,
    };
    let mut reg = REGISTRY.lock();
    if let Some(slot) = reg.iter_mut().find(|s| s.is_none()) {
        *slot = Some(s);
    }
    s
}

/// Task stacks whose task is gone, to be freed by [`free_deferred`].
static DEFERRED: crate::sync::Mutex<Vec<KernelStack>> = crate::sync::Mutex::new(Vec::new());
/// `DEFERRED` may hold stacks (read without the lock).
static DEFERRED_ANY: AtomicBool = AtomicBool::new(false);

/// Frees `s` later, from a context where unmapping is safe ([`free_deferred`]): a task's last
/// reference may go anywhere — an interrupt handler, a wait queue's drain, an RCU callback —
/// while freeing a stack unmaps pages and flushes. The stack must no longer be run on: a task
/// is dropped only once it is off every CPU (its run queue, or `dead`, hold it until then).
pub fn free_later(s: KernelStack) {
    x86_64::instructions::interrupts::without_interrupts(|| DEFERRED.lock().push(s));
    DEFERRED_ANY.store(true, Ordering::Release);
}

/// Frees the stacks [`free_later`] collected (task context or the scheduler's switch tail,
/// never an interrupt handler). One load when there are none.
pub fn free_deferred() {
    if !DEFERRED_ANY.load(Ordering::Acquire) {
        return;
    }
    DEFERRED_ANY.store(false, Ordering::Relaxed);
    let stacks = x86_64::instructions::interrupts::without_interrupts(|| {
        core::mem::take(&mut *DEFERRED.lock())
    });
    for s in stacks {
        free_stack(s);
    }
}

/// Unmaps and frees a stack (its virtual range is not reused).
pub fn free_stack(s: KernelStack) {
    {
        let mut reg = REGISTRY.lock();
        for slot in reg.iter_mut() {
            if matches!(slot, Some(x) if x.bottom == s.bottom) {
                *slot = None;
            }
        }
    }
    let _map = MAP_LOCK.lock();
    let mut kt = kernel_table();
    let mut va = s.bottom;
    while va < s.top {
        if let Some(pa) = kt.unmap_4k(va) {
            flush_page(va);
            super::frame::free_frame(pa);
        }
        va += PAGE_SIZE;
    }
}

/// The registered stack whose pages or guard page hold `addr`, waiting for the registry's
/// lock (process context only: [`find`] is the one for fault paths).
pub fn containing(addr: u64) -> Option<KernelStack> {
    let reg = REGISTRY.lock();
    reg.iter()
        .flatten()
        .find(|s| (s.guard..s.top).contains(&addr))
        .copied()
}

/// Which registered stack (and whether its guard page) holds `addr`. Used from #DF, so it
/// must not wait for a lock another context may hold.
pub fn find(addr: u64) -> Option<(KernelStack, bool)> {
    let reg = REGISTRY.try_lock()?;
    reg.iter().flatten().find_map(|s| {
        if (s.guard..s.bottom).contains(&addr) {
            Some((*s, true))
        } else if (s.bottom..s.top).contains(&addr) {
            Some((*s, false))
        } else {
            None
        }
    })
}

//! The kernel heap: `linked_list_allocator` over a contiguous block of the direct map, with
//! interrupts held off while its lock is taken — interrupt handlers (the scheduler tick
//! growing a queue) may allocate, and must never spin on a lock the code they interrupted
//! holds.

use core::alloc::{GlobalAlloc, Layout};
use linked_list_allocator::LockedHeap;

struct IrqSafeHeap(LockedHeap);

// SAFETY: delegates to LockedHeap, whose alloc/dealloc are sound; disabling interrupts around
// them only changes when they may run.
unsafe impl GlobalAlloc for IrqSafeHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        x86_64::instructions::interrupts::without_interrupts(|| unsafe { self.0.alloc(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        x86_64::instructions::interrupts::without_interrupts(|| unsafe {
            self.0.dealloc(ptr, layout)
        })
    }
}

#[global_allocator]
static HEAP: IrqSafeHeap = IrqSafeHeap(LockedHeap::empty());

pub const HEAP_SIZE: u64 = 32 << 20;

pub fn init() {
    let pa = super::frame::alloc_contiguous(HEAP_SIZE / super::PAGE_SIZE)
        .expect("no memory for the heap");
    // SAFETY: the block is ours alone, mapped through the direct map, and HEAP_SIZE long.
    unsafe {
        HEAP.0
            .lock()
            .init(super::phys_to_virt(pa) as *mut u8, HEAP_SIZE as usize)
    };
}

//! The kernel heap: `linked_list_allocator` over a contiguous block of the direct map.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

pub const HEAP_SIZE: u64 = 8 << 20;

pub fn init() {
    let pa = super::frame::alloc_contiguous(HEAP_SIZE / super::PAGE_SIZE)
        .expect("no memory for the heap");
    // SAFETY: the block is ours alone, mapped through the direct map, and HEAP_SIZE long.
    unsafe {
        HEAP.lock()
            .init(super::phys_to_virt(pa) as *mut u8, HEAP_SIZE as usize)
    };
}

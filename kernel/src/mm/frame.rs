//! Physical frame allocator: RAM ranges from the PVH memory map, minus what is in use (low
//! 1 MiB, the kernel image, the initrd, start_info), handed out by a bump pointer; freed
//! frames go on a free list threaded through the frames themselves.

use super::{PAGE_SIZE, align_down, align_up, phys_to_virt};
use crate::boot::PhysRange;
use crate::sync::Mutex;

const MAX_RANGES: usize = 32;

struct FrameAllocator {
    ranges: [PhysRange; MAX_RANGES],
    count: usize,
    /// Index of the range being bumped, and the next free address in it.
    current: usize,
    next: u64,
    free_list: u64,
    free_frames: u64,
    total_frames: u64,
}

static FRAMES: Mutex<FrameAllocator> = Mutex::new(FrameAllocator {
    ranges: [PhysRange { start: 0, end: 0 }; MAX_RANGES],
    count: 0,
    current: 0,
    next: 0,
    free_list: 0,
    free_frames: 0,
    total_frames: 0,
});

/// Removes `hole` from every range in `ranges`.
fn subtract(ranges: &mut [PhysRange; MAX_RANGES], count: &mut usize, hole: PhysRange) {
    let mut out = [PhysRange { start: 0, end: 0 }; MAX_RANGES];
    let mut n = 0;
    for r in &ranges[..*count] {
        let mut push = |s: u64, e: u64| {
            if s < e && n < MAX_RANGES {
                out[n] = PhysRange { start: s, end: e };
                n += 1;
            }
        };
        if hole.end <= r.start || hole.start >= r.end {
            push(r.start, r.end);
        } else {
            push(r.start, hole.start.max(r.start));
            push(hole.end.min(r.end), r.end);
        }
    }
    *ranges = out;
    *count = n;
}

/// Sets up the allocator from RAM ranges, excluding `reserved`.
pub fn init(ram: &[PhysRange], reserved: &[PhysRange]) {
    let mut a = FRAMES.lock();
    for r in ram {
        let s = align_up(r.start.max(0x10_0000), PAGE_SIZE);
        let e = align_down(r.end, PAGE_SIZE);
        if s < e && a.count < MAX_RANGES {
            let i = a.count;
            a.ranges[i] = PhysRange { start: s, end: e };
            a.count += 1;
        }
    }
    for h in reserved {
        let hole = PhysRange {
            start: align_down(h.start, PAGE_SIZE),
            end: align_up(h.end, PAGE_SIZE),
        };
        let FrameAllocator { ranges, count, .. } = &mut *a;
        subtract(ranges, count, hole);
    }
    a.total_frames = a.ranges[..a.count]
        .iter()
        .map(|r| (r.end - r.start) / PAGE_SIZE)
        .sum();
    a.current = 0;
    a.next = a.ranges[0].start;
}

impl FrameAllocator {
    fn bump(&mut self, n: u64) -> Option<u64> {
        while self.current < self.count {
            let r = self.ranges[self.current];
            if self.next < r.start {
                self.next = r.start;
            }
            if self.next + n * PAGE_SIZE <= r.end {
                let pa = self.next;
                self.next += n * PAGE_SIZE;
                return Some(pa);
            }
            self.current += 1;
        }
        None
    }
}

/// One zeroed 4 KiB frame.
pub fn alloc_frame() -> Option<u64> {
    let pa = {
        let mut a = FRAMES.lock();
        if a.free_list != 0 {
            let pa = a.free_list;
            // SAFETY: a free frame's first word links to the next free frame.
            a.free_list = unsafe { *(phys_to_virt(pa) as *const u64) };
            a.free_frames -= 1;
            pa
        } else {
            a.bump(1)?
        }
    };
    // SAFETY: the frame is ours alone now and visible through the physical map.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, PAGE_SIZE as usize) };
    Some(pa)
}

/// `n` physically contiguous frames (not zeroed), from the bump region only.
pub fn alloc_contiguous(n: u64) -> Option<u64> {
    FRAMES.lock().bump(n)
}

/// Returns a frame to the allocator.
pub fn free_frame(pa: u64) {
    let mut a = FRAMES.lock();
    // SAFETY: the caller gives up the frame; its first word becomes the free-list link.
    unsafe { *(phys_to_virt(pa) as *mut u64) = a.free_list };
    a.free_list = pa;
    a.free_frames += 1;
}

/// (total frames, frames never handed out + freed ones).
pub fn stats() -> (u64, u64) {
    let a = FRAMES.lock();
    let mut unused = a.free_frames;
    if a.current < a.count {
        unused += (a.ranges[a.current].end - a.next) / PAGE_SIZE;
        for r in &a.ranges[a.current + 1..a.count] {
            unused += (r.end - r.start) / PAGE_SIZE;
        }
    }
    (a.total_frames, unused)
}

/// One 4 KiB frame whose content is left as it was (the caller overwrites all of it).
pub fn alloc_frame_uninit() -> Option<u64> {
    let mut a = FRAMES.lock();
    if a.free_list != 0 {
        let pa = a.free_list;
        // SAFETY: a free frame's first word links to the next free frame.
        a.free_list = unsafe { *(phys_to_virt(pa) as *const u64) };
        a.free_frames -= 1;
        Some(pa)
    } else {
        a.bump(1)
    }
}

/// One zeroed 4 KiB frame, cleared with a single `rep stosq` (the cheapest clear under
/// QEMU's instruction count: 512 iterations).
pub fn alloc_frame_fast_zero() -> Option<u64> {
    let pa = alloc_frame_uninit()?;
    // SAFETY: the frame is ours alone, 4 KiB long and visible through the physical map.
    unsafe {
        core::arch::asm!(
            "rep stosq",
            inout("rdi") phys_to_virt(pa) => _,
            inout("rcx") PAGE_SIZE / 8 => _,
            in("rax") 0u64,
            options(nostack, preserves_flags)
        );
    }
    Some(pa)
}

/// Copies one 4 KiB frame to another (`rep movsq`).
pub fn copy_frame(dst: u64, src: u64) {
    // SAFETY: both frames are 4 KiB, visible through the physical map, and `dst` is the
    // caller's alone.
    unsafe {
        core::arch::asm!(
            "rep movsq",
            inout("rdi") phys_to_virt(dst) => _,
            inout("rsi") phys_to_virt(src) => _,
            inout("rcx") PAGE_SIZE / 8 => _,
            options(nostack, preserves_flags)
        );
    }
}

/// The end of the highest RAM range the allocator manages.
pub fn phys_end() -> u64 {
    let a = FRAMES.lock();
    a.ranges[..a.count].iter().map(|r| r.end).max().unwrap_or(0)
}

/// Reference counts of user page frames, one per frame of RAM: how many page-table entries
/// (and shared-memory objects) hold the frame. Set up on first use.
static REFS: spin::Once<&'static [core::sync::atomic::AtomicU32]> = spin::Once::new();

/// The reference count of the frame at `pa`.
#[inline]
pub fn page_ref(pa: u64) -> &'static core::sync::atomic::AtomicU32 {
    let refs = REFS.call_once(|| {
        let n = (phys_end() / PAGE_SIZE) as usize;
        let bytes = (n * 4) as u64;
        let pa = alloc_contiguous(align_up(bytes, PAGE_SIZE) / PAGE_SIZE)
            .expect("no memory for the page reference counts");
        let p = phys_to_virt(pa) as *mut u8;
        // SAFETY: the block is ours alone, `bytes` long, and zero is a valid AtomicU32.
        unsafe {
            core::ptr::write_bytes(p, 0, bytes as usize);
            core::slice::from_raw_parts(p as *const core::sync::atomic::AtomicU32, n)
        }
    });
    &refs[(pa / PAGE_SIZE) as usize]
}

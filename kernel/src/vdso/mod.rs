//! The 64-bit vDSO: the image xtask builds from `kernel/vdso/` (embedded here), and the vvar
//! page that timekeeping publishes for it (docs/vdso.md).
//!
//! Both live in the kernel image, page-aligned: their frames are mapped into every 64-bit
//! process at exec (`AddressSpace::map_vdso`), never copied. Each frame holds one permanent
//! reference ([`pages`]), so the user mappings' reference counting never frees it and a
//! write to a vDSO page (after mprotect, or by ptrace) copies it as for any shared page.
//!
//! The vvar page is a sequence-locked copy of the clock's parameters (`time::clock`): the
//! writer (interrupts off, one at a time under [`VVAR_LOCK`]) makes `seq` odd, reads the TSC
//! its new base starts at, stores the fields, makes `seq` even ([`ClockWrite`]); the vDSO
//! reads `seq`, the fields and the TSC, and retries if `seq` was odd or changed. x86 keeps
//! stores in order and loads in order, so compiler barriers order the fields and `seq`; the
//! TSC, which is no memory access, needs fences on both sides (see `ClockWrite`).

pub mod ia32;

use crate::mm::{PAGE_SIZE, kernel_virt_to_phys};
use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The image, padded with zeros to whole pages (nothing else of the kernel shares its last
/// page, so nothing else is shown to user space).
const IMAGE_BYTES: &[u8] = include_bytes!(env!("KENTRY_VDSO"));
pub const IMAGE_PAGES: usize = IMAGE_BYTES.len().div_ceil(PAGE_SIZE as usize);

#[repr(C, align(4096))]
struct Image([u8; IMAGE_PAGES * PAGE_SIZE as usize]);

static IMAGE: Image = Image({
    let mut b = [0u8; IMAGE_PAGES * PAGE_SIZE as usize];
    let mut i = 0;
    while i < IMAGE_BYTES.len() {
        b[i] = IMAGE_BYTES[i];
        i += 1;
    }
    b
});

/// `clock_mode`: the vDSO must make the syscall (the clock has not started).
pub const VDSO_CLOCKMODE_NONE: u32 = 0;
/// `clock_mode`: the TSC formula below holds.
pub const VDSO_CLOCKMODE_TSC: u32 = 1;
/// `getcpu_mode`: no TSC_AUX; the syscall.
pub const VDSO_GETCPU_SYSCALL: u32 = 0;
/// `getcpu_mode`: RDTSCP gives IA32_TSC_AUX.
pub const VDSO_GETCPU_RDTSCP: u32 = 1;
/// `getcpu_mode`: RDPID gives IA32_TSC_AUX.
pub const VDSO_GETCPU_RDPID: u32 = 2;

/// The vvar data, as `struct vdso_data` of kernel/vdso/vvar.h (offsets checked on both sides).
#[repr(C)]
pub struct VdsoData {
    seq: AtomicU32,
    clock_mode: AtomicU32,
    /// CLOCK_MONOTONIC = base_ns + ((tsc - base_tsc) * mult) >> 32.
    base_tsc: AtomicU64,
    base_ns: AtomicU64,
    mult: AtomicU64,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC.
    realtime_offset_ns: AtomicU64,
    getcpu_mode: AtomicU32,
    pad: u32,
}

const _: () = {
    assert!(offset_of!(VdsoData, seq) == 0);
    assert!(offset_of!(VdsoData, clock_mode) == 4);
    assert!(offset_of!(VdsoData, base_tsc) == 8);
    assert!(offset_of!(VdsoData, base_ns) == 16);
    assert!(offset_of!(VdsoData, mult) == 24);
    assert!(offset_of!(VdsoData, realtime_offset_ns) == 32);
    assert!(offset_of!(VdsoData, getcpu_mode) == 40);
    assert!(size_of::<VdsoData>() == 48);
};

#[repr(C, align(4096))]
struct VvarPage(VdsoData);

static VVAR: VvarPage = VvarPage(VdsoData {
    seq: AtomicU32::new(0),
    clock_mode: AtomicU32::new(VDSO_CLOCKMODE_NONE),
    base_tsc: AtomicU64::new(0),
    base_ns: AtomicU64::new(0),
    mult: AtomicU64::new(0),
    realtime_offset_ns: AtomicU64::new(0),
    getcpu_mode: AtomicU32::new(VDSO_GETCPU_SYSCALL),
    pad: 0,
});

const _: () = assert!(size_of::<VvarPage>() == PAGE_SIZE as usize);

/// Test kernels (`kentry.break=vdso_publish`): the clock is never published, so the vDSO
/// makes the system call for every clock (user/c/vdso.c's libc_clocks_without_syscall must
/// then fail).
#[cfg(feature = "test-hooks")]
pub static BREAK_PUBLISH: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Test kernels (`kentry.break=vdso_special`): the special mappings' munmap/mprotect/mremap
/// rules are off (user/c/vdso.c's mremap_vdso_whole must then fail).
#[cfg(feature = "test-hooks")]
pub static BREAK_SPECIAL: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Whether the special mappings' rules hold (always, outside test kernels).
#[inline(always)]
pub fn special_checks_on() -> bool {
    #[cfg(feature = "test-hooks")]
    return !BREAK_SPECIAL.load(Ordering::Relaxed);
    #[cfg(not(feature = "test-hooks"))]
    true
}

/// Serialises the writers (they run with interrupts off, possibly on two CPUs).
static VVAR_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// An open write of the vvar page's clock: from [`ClockWrite::begin`] to
/// [`ClockWrite::publish`] `seq` is odd and every vDSO reader retries.
///
/// The writer must read the TSC its new base starts at *inside* this window (after `begin`
/// and a full fence), never before: a reader on another CPU that saw the old fields with an
/// even `seq` could otherwise have read a later TSC than the writer's, and computed from the
/// old rate a time the new rate only reaches later, so that its next reading goes back
/// (`time::clock::set_rate`, docs/vdso.md).
pub struct ClockWrite {
    /// The lock, and `seq`'s odd value; `None` in test kernels that never publish.
    open: Option<(spin::MutexGuard<'static, ()>, u32)>,
}

impl ClockWrite {
    /// Makes `seq` odd. Interrupts off.
    pub fn begin() -> ClockWrite {
        #[cfg(feature = "test-hooks")]
        if BREAK_PUBLISH.load(Ordering::Relaxed) {
            return ClockWrite { open: None };
        }
        let g = VVAR_LOCK.lock();
        let d = &VVAR.0;
        let odd = d.seq.load(Ordering::Relaxed).wrapping_add(1);
        d.seq.store(odd, Ordering::Relaxed);
        core::sync::atomic::fence(Ordering::Release);
        ClockWrite {
            open: Some((g, odd)),
        }
    }

    /// Publishes the clock and makes `seq` even: monotonic = base_ns + ((tsc - base_tsc) *
    /// mult) >> 32, realtime = monotonic + `realtime_offset_ns` (`None`: not known yet, the
    /// vDSO keeps making the syscall).
    pub fn publish(self, base_tsc: u64, base_ns: u64, mult: u64, realtime_offset_ns: Option<u64>) {
        let Some((_g, odd)) = self.open else {
            return;
        };
        let d = &VVAR.0;
        d.base_tsc.store(base_tsc, Ordering::Relaxed);
        d.base_ns.store(base_ns, Ordering::Relaxed);
        d.mult.store(mult, Ordering::Relaxed);
        match realtime_offset_ns {
            Some(off) => {
                d.realtime_offset_ns.store(off, Ordering::Relaxed);
                d.clock_mode.store(VDSO_CLOCKMODE_TSC, Ordering::Relaxed);
            }
            None => d.clock_mode.store(VDSO_CLOCKMODE_NONE, Ordering::Relaxed),
        }
        d.seq.store(odd.wrapping_add(1), Ordering::Release);
    }
}

const IA32_TSC_AUX: u32 = 0xc000_0103;

/// Per-CPU set-up (every CPU, at bring-up, interrupts off): IA32_TSC_AUX = (node << 12) |
/// cpu, as Linux's setup_getcpu, when the CPU has RDTSCP or RDPID; the vDSO's getcpu reads it
/// (RDPID preferred: it does not also read the TSC).
pub fn init_cpu(cpu: usize) {
    let id = raw_cpuid::CpuId::new();
    let rdtscp = id
        .get_extended_processor_and_feature_identifiers()
        .is_some_and(|f| f.has_rdtscp());
    let rdpid = id
        .get_extended_feature_info()
        .is_some_and(|f| f.has_rdpid());
    if !rdtscp && !rdpid {
        return;
    }
    // SAFETY: IA32_TSC_AUX exists when RDTSCP or RDPID does; it only feeds those
    // instructions.
    unsafe { x86_64::registers::model_specific::Msr::new(IA32_TSC_AUX).write(cpu as u64) };
    let mode = if rdpid {
        VDSO_GETCPU_RDPID
    } else {
        VDSO_GETCPU_RDTSCP
    };
    VVAR.0.getcpu_mode.store(mode, Ordering::Relaxed);
}

/// The kernel pages a special mapping shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Pages {
    Vvar,
    /// The 64-bit image.
    Image,
    /// The 32-bit image ([`ia32`]).
    Image32,
}

/// The frame of page `index` of the vvar page or of one of the images.
pub fn page(which: Pages, index: u64) -> Option<u64> {
    let (pa, pages) = match which {
        Pages::Vvar => (kernel_virt_to_phys(&VVAR as *const VvarPage as u64), 1),
        Pages::Image => (
            kernel_virt_to_phys(&IMAGE as *const Image as u64),
            IMAGE_PAGES as u64,
        ),
        Pages::Image32 => {
            let (pa, pages) = ia32::image_frames();
            (pa, pages as u64)
        }
    };
    if index >= pages {
        return None;
    }
    Some(pages_ref_once(pa + index * PAGE_SIZE))
}

/// `pa`, after making sure every vDSO frame holds its permanent reference.
fn pages_ref_once(pa: u64) -> u64 {
    static ONCE: spin::Once<()> = spin::Once::new();
    ONCE.call_once(|| {
        let mut frames = alloc::vec![kernel_virt_to_phys(&VVAR as *const VvarPage as u64)];
        let img = kernel_virt_to_phys(&IMAGE as *const Image as u64);
        frames.extend((0..IMAGE_PAGES as u64).map(|i| img + i * PAGE_SIZE));
        let (img32, pages32) = ia32::image_frames();
        frames.extend((0..pages32 as u64).map(|i| img32 + i * PAGE_SIZE));
        for f in frames {
            crate::mm::frame::page_ref(f).fetch_add(1, Ordering::Relaxed);
        }
    });
    pa
}

//! The 32-bit vDSO for i386 programs (docs/vdso.md, "The 32-bit vDSO"): the image xtask
//! builds from `kernel/vdso/vdso32.c` and `vsyscall32.S`, embedded here, the offsets of its
//! symbols that xtask generated from its symbol table (Linux's vdso2c), and the choice of
//! `__kernel_vsyscall`'s fast entry, written into the image once at boot.
//!
//! It reads the same vvar page as the 64-bit one (`super::VVAR`): `struct vdso_data` has the
//! same offsets in both ABIs (vvar.h asserts them for either build).

use crate::mm::{PAGE_SIZE, kernel_virt_to_phys};
use core::cell::UnsafeCell;

/// The generated offsets (`VDSO32_SYM_*`); the signal restorers' are for the compat signal
/// frames.
#[allow(dead_code)]
mod syms {
    include!(env!("KENTRY_VDSO32_SYMS"));
}
pub use syms::*;

const IMAGE_BYTES: &[u8] = include_bytes!(env!("KENTRY_VDSO32"));
pub const IMAGE_PAGES: usize = IMAGE_BYTES.len().div_ceil(PAGE_SIZE as usize);

/// The image, padded to whole pages. Writable in the kernel only so that [`select_entry`]
/// can patch it once at boot, before any user process exists; user space maps its frames
/// read-only (and a write there after mprotect gets a private copy).
#[repr(C, align(4096))]
struct Image(UnsafeCell<[u8; IMAGE_PAGES * PAGE_SIZE as usize]>);

// SAFETY: written only by `select_entry`, on the boot CPU before user space and the other
// CPUs run; read-only afterwards.
unsafe impl Sync for Image {}

static IMAGE: Image = Image(UnsafeCell::new({
    let mut b = [0u8; IMAGE_PAGES * PAGE_SIZE as usize];
    let mut i = 0;
    while i < IMAGE_BYTES.len() {
        b[i] = IMAGE_BYTES[i];
        i += 1;
    }
    b
}));

/// `__kernel_vsyscall`'s fast sequence on Intel-type CPUs: `movl %esp, %ebp; sysenter`
/// (the kernel's SYSENTER entry takes the user stack pointer from EBP).
pub const SEQ_SYSENTER: [u8; 4] = [0x89, 0xe5, 0x0f, 0x34];
/// On AMD-type CPUs: `movl %ecx, %ebp; syscall` (the second argument moves to EBP, since
/// SYSCALL overwrites ECX with the return address).
pub const SEQ_SYSCALL: [u8; 4] = [0x89, 0xcd, 0x0f, 0x05];

/// Which entry `__kernel_vsyscall` uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VsyscallEntry {
    /// `int $0x80` only (the image as built).
    Int80,
    Sysenter,
    Syscall,
}

/// Whether the kernel has an entry for SYSENTER: always (kentry's `enable_syscall` points
/// IA32_SYSENTER_EIP at `kentry_sysenter_compat` on every CPU). Test kernels can refuse it
/// (`kentry.break=vsyscall_int80`: `__kernel_vsyscall` keeps `int $0x80`).
pub fn sysenter_available() -> bool {
    #[cfg(feature = "test-hooks")]
    if BREAK_FAST.load(core::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    true
}

/// Test kernels (`kentry.break=vsyscall_int80`): no fast entry is written into the image.
#[cfg(feature = "test-hooks")]
pub static BREAK_FAST: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The entry for this CPU: SYSCALL on AMD and Hygon, where SYSENTER raises #UD in long mode
/// (compat mode included); SYSENTER on Intel, Centaur and Zhaoxin, where SYSCALL raises #UD
/// in compat mode; `int $0x80` otherwise. Linux makes the same choice per vendor
/// (X86_FEATURE_SYSCALL32 / X86_FEATURE_SYSENTER32, applied to the image by its
/// alternatives). One choice at boot fits every process, since all CPUs of a machine share
/// a vendor.
pub fn entry_for_cpu() -> VsyscallEntry {
    let info = raw_cpuid::CpuId::new().get_vendor_info();
    match info.as_ref().map(|v| v.as_str()) {
        Some("AuthenticAMD" | "HygonGenuine") => VsyscallEntry::Syscall,
        Some("GenuineIntel" | "CentaurHauls" | "  Shanghai  ") if sysenter_available() => {
            VsyscallEntry::Sysenter
        }
        _ => VsyscallEntry::Int80,
    }
}

/// Writes the chosen fast entry over the 4-byte nop at `vsyscall_fast` (boot CPU, before
/// any user process). Returns the choice, for the boot log.
pub fn select_entry() -> VsyscallEntry {
    let entry = entry_for_cpu();
    #[cfg(feature = "test-hooks")]
    if BREAK_FAST.load(core::sync::atomic::Ordering::Relaxed) {
        return VsyscallEntry::Int80;
    }
    let seq = match entry {
        VsyscallEntry::Int80 => return entry,
        VsyscallEntry::Sysenter => SEQ_SYSENTER,
        VsyscallEntry::Syscall => SEQ_SYSCALL,
    };
    let at = VDSO32_SYM_VSYSCALL_FAST as usize;
    // SAFETY: see `Image`'s Sync: no user mapping and no other CPU reads the image yet; the
    // four bytes are inside it (xtask's check32 verified the site).
    unsafe { core::ptr::copy_nonoverlapping(seq.as_ptr(), IMAGE.0.get().cast::<u8>().add(at), 4) };
    entry
}

/// The image's first frame and its size in pages.
pub fn image_frames() -> (u64, usize) {
    (kernel_virt_to_phys(IMAGE.0.get() as u64), IMAGE_PAGES)
}

/// The landing pad of a 32-bit vDSO at `base` (0: none, and 0 back). An i386 address space
/// places its mappings below 4 GiB, so the pad fits a u32 (kentry's SYSRETL test relies on
/// that). Only a MREMAP_FIXED of the vDSO (whose check is still the 64-bit TASK_SIZE) could
/// move it above, where the program's 32-bit code cannot call it: that pad is recorded as
/// none, and a fast system call then returns after its instruction (SYSENTER: to 0).
pub fn landing_pad_of(base: u64) -> u32 {
    if base == 0 {
        return 0;
    }
    u32::try_from(base + VDSO32_SYM_INT80_LANDING_PAD).unwrap_or(0)
}

/// The calling process's 32-bit vDSO landing pad, if it has one (the compat fast system
/// calls' return point, Linux's `landing_pad` in `do_fast_syscall_32`): one load, no lock.
pub fn current_landing_pad() -> Option<u32> {
    let pad = crate::task::current()
        .process
        .vdso32_landing_pad
        .load(core::sync::atomic::Ordering::Relaxed);
    (pad != 0).then_some(pad)
}

/// The calling process's 32-bit vDSO, if it has one (Linux's `current->mm->context.vdso` for
/// an i386 process): where `[vdso]` is mapped now (mremap moves it). One load, no lock: the
/// compat fast system calls ask on every call ([`crate::process::Process::vdso32`]).
pub fn current_base() -> Option<u64> {
    let base = crate::task::current()
        .process
        .vdso32
        .load(core::sync::atomic::Ordering::Relaxed);
    (base != 0).then_some(base)
}

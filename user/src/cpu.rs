//! Single-instruction helpers usable in ring 3.

use core::arch::asm;

/// RFLAGS bits.
pub mod rflags {
    /// Carry.
    pub const CF: u64 = 1 << 0;
    /// Trap (single-step).
    pub const TF: u64 = 1 << 8;
    /// Interrupt enable.
    pub const IF: u64 = 1 << 9;
    /// Direction.
    pub const DF: u64 = 1 << 10;
    /// Nested task.
    pub const NT: u64 = 1 << 14;
    /// Resume.
    pub const RF: u64 = 1 << 16;
    /// Alignment check (with CR0.AM, at CPL 3).
    pub const AC: u64 = 1 << 18;
}

/// Selectors a 64-bit Linux process sees (linux-abi.md §1.3).
pub mod sel {
    /// USER_CS.
    pub const USER_CS: u16 = 0x33;
    /// USER_DS, the stack segment after SYSRET/IRET.
    pub const USER_DS: u16 = 0x2b;
}

/// `lfence; rdtsc`: the TSC, read after every earlier instruction has completed.
#[inline(always)]
pub fn rdtsc_ordered() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: lfence and rdtsc only read the TSC into EDX:EAX (CR4.TSD is clear on Linux and
    // kentry, so rdtsc is allowed in ring 3).
    unsafe {
        asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi,
             options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// [`rdtsc_ordered`] with the marked `rdtsc` of the bench programs ([`crate::marked_rdtsc!`]),
/// for a timed region that is not a [`crate::timed_asm!`] block: the same read, one
/// instruction more or less nowhere.
#[inline(always)]
pub fn rdtsc_ordered_marked() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: as in rdtsc_ordered; the DS prefix has no effect on rdtsc.
    unsafe {
        asm!("lfence", crate::marked_rdtsc!(), out("eax") lo, out("edx") hi,
             options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The current RFLAGS (as `pushfq` shows them: RF and VM read as 0).
#[inline(always)]
pub fn rflags() -> u64 {
    let f: u64;
    // SAFETY: pushfq/pop only use 8 bytes of stack and write the output register.
    unsafe {
        asm!("pushfq", "pop {}", out(reg) f, options(nomem, preserves_flags));
    }
    f
}

/// The CS selector.
#[inline(always)]
pub fn cs() -> u16 {
    let v: u16;
    // SAFETY: reading a segment register has no side effect.
    unsafe { asm!("mov {:x}, cs", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// The SS selector.
#[inline(always)]
pub fn ss() -> u16 {
    let v: u16;
    // SAFETY: reading a segment register has no side effect.
    unsafe { asm!("mov {:x}, ss", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// The DS, ES, FS and GS selectors.
#[inline(always)]
pub fn data_selectors() -> [u16; 4] {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment registers has no side effect.
    unsafe {
        asm!("mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs",
             out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs,
             options(nomem, nostack, preserves_flags));
    }
    [ds, es, fs, gs]
}

/// Reads the 8 bytes at offset 0 of the FS segment (`mov rax, fs:[0]`).
///
/// # Safety
/// The FS base must point at 8 readable bytes.
#[inline(always)]
pub unsafe fn read_fs0() -> u64 {
    let v: u64;
    // SAFETY: the caller guarantees that FS base .. +8 is readable.
    unsafe {
        asm!("mov {}, qword ptr fs:[0]", out(reg) v, options(nostack, preserves_flags, readonly));
    }
    v
}

/// Reads the 8 bytes at offset 0 of the GS segment (`mov rax, gs:[0]`).
///
/// # Safety
/// The GS base must point at 8 readable bytes.
#[inline(always)]
pub unsafe fn read_gs0() -> u64 {
    let v: u64;
    // SAFETY: the caller guarantees that GS base .. +8 is readable.
    unsafe {
        asm!("mov {}, qword ptr gs:[0]", out(reg) v, options(nostack, preserves_flags, readonly));
    }
    v
}

/// CPUID.(EAX=7,ECX=0):EBX bit 0: the CPU has RDFSBASE/WRGSBASE and friends (usable in ring 3
/// once the kernel sets CR4.FSGSBASE, which kentry and Linux do where the CPU has it).
pub fn has_fsgsbase() -> bool {
    // CPUID leaf 7 on a CPU whose max leaf is lower reads as another leaf's data, but no
    // such CPU runs these tests (QEMU's `max` has leaf 7).
    let r = core::arch::x86_64::__cpuid_count(7, 0);
    r.ebx & 1 != 0
}

/// Sets the GS base with WRGSBASE.
///
/// # Safety
/// Nothing may use the old GS base afterwards; CR4.FSGSBASE must be set.
pub unsafe fn wrgsbase(v: u64) {
    // SAFETY: the caller vouches for CR4.FSGSBASE and for the GS base's users.
    unsafe { core::arch::asm!("wrgsbase {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// Reads the GS base with RDGSBASE (CR4.FSGSBASE must be set: callers check
/// [`has_fsgsbase`] first).
pub fn rdgsbase() -> u64 {
    let v: u64;
    // SAFETY: reads a register; the callers probed FSGSBASE.
    unsafe { core::arch::asm!("rdgsbase {}", out(reg) v, options(nostack, preserves_flags)) };
    v
}

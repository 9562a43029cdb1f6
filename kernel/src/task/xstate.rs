//! XSAVE set-up and the user ABI of the extended state (Linux's arch/x86/kernel/fpu/xstate.c):
//! which components XCR0 enables, the buffer size and layout from CPUID leaf 0xD, the
//! software-reserved bytes (`struct _fpx_sw_bytes`) user space finds in the legacy area, and
//! the header checks applied to every state that comes from user space. docs/xstate.md.

use super::fpu::{FpuState, HEADER, MXCSR};
use spin::Once;

pub const FP: u64 = 1 << 0;
pub const SSE: u64 = 1 << 1;
pub const FPSSE: u64 = FP | SSE;
pub const YMM: u64 = 1 << 2;
/// AVX-512: opmask, ZMM_Hi256, Hi16_ZMM.
pub const AVX512: u64 = 0b111 << 5;

/// The user components kentry enables when the CPU offers them: Linux 6.1's
/// XFEATURE_MASK_USER_SUPPORTED without PKRU (protection keys need CR4.PKE and the pkey
/// syscalls, which kentry does not have) and without AMX (its permission protocol is
/// missing too). MPX (bits 3, 4) is not supported by Linux since 5.6 either.
const SUPPORTED: u64 = FPSSE | YMM | AVX512;
const _: () = assert!(SUPPORTED < 1 << 8, "Config::comps holds components 0..8");

/// `struct _fpx_sw_bytes` magic words (uapi/asm/sigcontext.h).
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
pub const FP_XSTATE_MAGIC2_SIZE: usize = 4;
/// Offset of `sw_reserved` in the legacy area (its last 48 bytes).
pub const SW_RESERVED: usize = 464;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// XSAVEOPT/XRSTOR: XSAVE's standard format, skipping components that are in their
    /// initial state or unchanged since the last XRSTOR from the same buffer.
    XsaveOpt,
    /// XSAVE/XRSTOR (a CPU without XSAVEOPT).
    Xsave,
    /// FXSAVE/FXRSTOR (a CPU without XSAVE).
    Fxsave,
}

/// One enabled component beyond x87/SSE: its number and place in the standard format.
#[derive(Clone, Copy, Debug)]
pub struct Component {
    pub nr: u32,
    pub offset: usize,
    pub size: usize,
}

pub struct Config {
    pub mode: Mode,
    /// XCR0: the enabled components (0 in FXSAVE mode).
    pub mask: u64,
    /// Bytes of the buffer: the end of the last enabled component (512 without XSAVE).
    pub size: usize,
    /// Indexed by component number; only 2..8 can be enabled (`SUPPORTED`).
    comps: [Option<Component>; 8],
}

impl Config {
    /// The enabled components numbered 2 and up (those with their own area).
    pub fn components(&self) -> impl Iterator<Item = Component> + '_ {
        self.comps.iter().flatten().copied()
    }

    pub fn xsave(&self) -> bool {
        self.mode != Mode::Fxsave
    }
}

static CONFIG: Once<Config> = Once::new();

/// What the CPU offers, decided once from CPUID (the same on every CPU).
pub fn config() -> &'static Config {
    CONFIG.call_once(|| {
        let leaf1 = core::arch::x86_64::__cpuid(1);
        let mut cfg = Config {
            mode: Mode::Fxsave,
            mask: 0,
            size: 512,
            comps: [None; 8],
        };
        if leaf1.ecx & (1 << 26) == 0 {
            return cfg;
        }
        let d0 = core::arch::x86_64::__cpuid_count(0xd, 0);
        let d1 = core::arch::x86_64::__cpuid_count(0xd, 1);
        let offered = (d0.eax as u64) | ((d0.edx as u64) << 32);
        let mut mask = offered & SUPPORTED;
        // AVX-512's three components go together or not at all (XSETBV refuses a part).
        if mask & AVX512 != AVX512 {
            mask &= !AVX512;
        }
        let mut size = 512 + 64;
        for nr in 2..8u32 {
            if mask & (1 << nr) == 0 {
                continue;
            }
            let d = core::arch::x86_64::__cpuid_count(0xd, nr);
            let c = Component {
                nr,
                offset: d.ebx as usize,
                size: d.eax as usize,
            };
            size = size.max(c.offset + c.size);
            cfg.comps[nr as usize] = Some(c);
        }
        cfg.mask = mask;
        cfg.size = size;
        cfg.mode = if d1.eax & 1 != 0 {
            Mode::XsaveOpt
        } else {
            Mode::Xsave
        };
        cfg
    })
}

/// Per CPU: CR4.OSXSAVE and XCR0 as `config()` decided. Called with CR4.OSFXSR already set.
pub fn init_cpu() {
    let cfg = config();
    if !cfg.xsave() {
        return;
    }
    const CR4_OSXSAVE: u64 = 1 << 18;
    // SAFETY: the CPU has XSAVE (CPUID.1:ECX.XSAVE), so CR4.OSXSAVE may be set; XCR0 gets
    // only components CPUID 0xD offers, x87 always, AVX-512 whole: XSETBV cannot #GP.
    unsafe {
        let cr4: u64;
        core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack));
        core::arch::asm!("mov cr4, {}", in(reg) cr4 | CR4_OSXSAVE, options(nostack));
        core::arch::asm!("xsetbv", in("ecx") 0, in("eax") cfg.mask as u32,
            in("edx") (cfg.mask >> 32) as u32, options(nomem, nostack));
    }
    // CPUID 0xD.0:EBX now reports the size for this XCR0: it must be what the buffers hold.
    let ebx = core::arch::x86_64::__cpuid_count(0xd, 0).ebx as usize;
    assert_eq!(ebx, cfg.size, "XSAVE area size from the component layout");
}

/// The bytes of a user xstate buffer (signal frame, NT_X86_XSTATE): the standard format.
pub fn user_size() -> usize {
    config().size
}

/// The fpstate area of a 64-bit signal frame: the XSAVE area plus FP_XSTATE_MAGIC2 after it
/// (Linux's xstate_sigframe_size), or the 512-byte FXSAVE image.
pub fn sigframe_size() -> usize {
    if config().xsave() {
        user_size() + FP_XSTATE_MAGIC2_SIZE
    } else {
        512
    }
}

/// NT_X86_XSTATE's software-reserved words (Linux's xstate_fx_sw_bytes, what gdb reads the
/// XCR0 from): the first u64 is the enabled mask, the other five are zero.
pub fn put_ptrace_sw_words(buf: &mut [u8]) {
    let sw = &mut buf[SW_RESERVED..512];
    sw.fill(0);
    sw[0..8].copy_from_slice(&config().mask.to_ne_bytes());
}

/// Writes `struct _fpx_sw_bytes` of a signal frame into the legacy area's reserved words
/// (Linux's save_sw_bytes): magic1, extended_size, xfeatures, xstate_size, zero padding.
pub fn put_sw_bytes(buf: &mut [u8]) {
    let cfg = config();
    let sw = &mut buf[SW_RESERVED..512];
    let magic_ext = FP_XSTATE_MAGIC1 as u64 | (sigframe_size() as u64) << 32;
    let words = [magic_ext, cfg.mask, cfg.size as u64, 0, 0, 0];
    for (i, w) in words.iter().enumerate() {
        sw[8 * i..8 * i + 8].copy_from_slice(&w.to_ne_bytes());
    }
}

/// The software bytes of a legacy area, when they carry the XSAVE magic and describe a
/// state this kernel can take (Linux's check_xstate_in_sigframe): (xfeatures, xstate_size).
pub fn sw_bytes(buf: &[u8]) -> Option<(u64, usize)> {
    let sw = buf.get(SW_RESERVED..512)?;
    let word = |o: usize| u32::from_ne_bytes(sw[o..o + 4].try_into().unwrap_or([0; 4]));
    let xfeatures = u64::from_ne_bytes(sw[8..16].try_into().unwrap_or([0; 8]));
    let (extended, size) = (word(4) as usize, word(16) as usize);
    let ok = word(0) == FP_XSTATE_MAGIC1
        && size >= HEADER + 64
        && size <= user_size()
        && size <= extended;
    ok.then_some((xfeatures, size))
}

/// Why a user xstate was refused.
#[derive(Debug)]
pub struct Invalid;

/// Test kernels, `kentry.break=xstate_header`: a user XSAVE header is not checked but
/// silently repaired (so XRSTOR cannot fault): a corrupted header in a signal frame no longer
/// ends in SIGSEGV and NT_X86_XSTATE takes one, so `c_xstate_musl`'s `corrupt_header_segv`
/// and `ptrace_xstate` must fail (boot `negative_xstate_header`).
pub static BREAK_HEADER: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

fn header_check_broken() -> bool {
    cfg!(feature = "test-hooks") && BREAK_HEADER.load(core::sync::atomic::Ordering::Relaxed)
}

fn word(buf: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(buf[off..off + 8].try_into().unwrap_or([0; 8]))
}

/// Linux's validate_user_xstate_header plus the MXCSR check: XSTATE_BV only enabled user
/// components, XCOMP_BV zero (the standard format) and the header's reserved bytes zero;
/// no MXCSR bit the CPU lacks. These are what XRSTOR would #GP on.
pub fn validate(buf: &[u8]) -> Result<(), Invalid> {
    if buf.len() < HEADER + 64 {
        return Err(Invalid);
    }
    let mxcsr = word(buf, MXCSR) as u32;
    let reserved = (1..8).any(|i| word(buf, HEADER + 8 * i) != 0);
    if word(buf, HEADER) & !config().mask != 0 || reserved || mxcsr & !super::fpu::mxcsr_mask() != 0
    {
        return Err(Invalid);
    }
    Ok(())
}

/// Takes the user XSAVE area that was copied into the first `len` bytes of `fpu` (the
/// standard format) as the new state: components in `rfbm` (and in the area's XSTATE_BV)
/// are loaded, all others return to their initial state (as XRSTOR with that mask followed
/// by an init of the rest, Linux's __fpu_restore_sig). Err: the header or MXCSR would make
/// XRSTOR fault; `fpu` is then unusable until the caller resets it.
pub fn accept_user(fpu: &mut FpuState, len: usize, rfbm: u64) -> Result<(), Invalid> {
    let cfg = config();
    let b = fpu.bytes_mut();
    if header_check_broken() {
        // The check switched off: repair instead of refusing (never outside test kernels).
        b[HEADER + 8..HEADER + 64].fill(0);
        let m = word(b, MXCSR) as u32 & super::fpu::mxcsr_mask();
        b[MXCSR..MXCSR + 4].copy_from_slice(&m.to_ne_bytes());
        let bv = word(b, HEADER) & cfg.mask;
        b[HEADER..HEADER + 8].copy_from_slice(&bv.to_ne_bytes());
    }
    validate(&b[..len])?;
    // A component the area is too short to hold stays initial.
    let mut keep = word(b, HEADER) & rfbm & cfg.mask;
    for c in cfg.components() {
        if c.offset + c.size > len {
            keep &= !(1 << c.nr);
        }
    }
    // MXCSR is loaded whenever SSE or AVX is requested, whatever XSTATE_BV says: it keeps
    // the user's (checked) value. sw_reserved is not state (XRSTOR ignores it, and every
    // export writes its own words there); the rest of the header was checked zero.
    b[HEADER..HEADER + 8].copy_from_slice(&keep.to_ne_bytes());
    Ok(())
}

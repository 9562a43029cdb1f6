//! The user's extended state (x87, SSE, AVX and whatever else XCR0 enables), saved and
//! restored eagerly at every context switch (the kernel itself never touches it: it is built
//! without SSE). docs/xstate.md.
//!
//! With XSAVE the buffer is a standard-format (not compacted) XSAVE area, the very layout
//! user space sees in signal frames and NT_X86_XSTATE, so exporting it is a copy. Without
//! XSAVE (a CPU model that lacks it) it is a 512-byte FXSAVE image.

use super::xstate::{self, Mode};
use alloc::vec::Vec;

/// One 64-byte piece of the buffer: XSAVE needs a 64-byte aligned area.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Chunk([u8; 64]);

/// A task's saved extended state: `xstate::config().size` bytes, 64-aligned, on the heap
/// (an inline 1 KiB buffer measured no cheaper for fork: the task's moves copy it).
#[derive(Clone)]
pub struct FpuState(Vec<Chunk>);

/// Offset of MXCSR and MXCSR_MASK in the legacy (FXSAVE) area.
pub const MXCSR: usize = 24;
/// Offset of the XSAVE header (after the 512-byte legacy area).
pub const HEADER: usize = 512;

/// The state a new program (and every signal handler) starts with — Linux's: FCW 0x37f,
/// MXCSR 0x1f80, all else in its initial configuration (XSTATE_BV 0). Built once, so
/// loading it costs one XRSTOR.
pub fn initial_state() -> &'static FpuState {
    static INITIAL: spin::Once<FpuState> = spin::Once::new();
    INITIAL.call_once(|| {
        let mut s = FpuState::zeroed();
        let b = s.bytes_mut();
        b[0..2].copy_from_slice(&0x37fu16.to_ne_bytes());
        b[MXCSR..MXCSR + 4].copy_from_slice(&0x1f80u32.to_ne_bytes());
        b[MXCSR + 4..MXCSR + 8].copy_from_slice(&0xffffu32.to_ne_bytes());
        s
    })
}

impl FpuState {
    fn zeroed() -> Self {
        let n = xstate::config().size.div_ceil(64);
        FpuState(alloc::vec![Chunk([0; 64]); n])
    }

    /// The 64-byte aligned start of the buffer, which holds at least `config().size` bytes.
    fn ptr(&self) -> *const Chunk {
        self.0.as_ptr()
    }

    fn mut_ptr(&mut self) -> *mut Chunk {
        self.0.as_mut_ptr()
    }

    pub fn initial() -> Self {
        initial_state().clone()
    }

    /// The whole buffer (`xstate::config().size` bytes).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the chunks are contiguous plain bytes; `zeroed` made at least `size` of them.
        unsafe { core::slice::from_raw_parts(self.ptr().cast(), xstate::config().size) }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `self` is borrowed mutably.
        unsafe { core::slice::from_raw_parts_mut(self.mut_ptr().cast(), xstate::config().size) }
    }

    /// Saves the CPU's user state here (the task is current and its state is live).
    pub fn save(&mut self) {
        let p = self.mut_ptr();
        match xstate::config().mode {
            // SAFETY: XSAVEOPT/XSAVE write at most `size` bytes (CPUID 0xD for the enabled
            // XCR0) to this 64-byte aligned buffer of that size. EDX:EAX all ones = every
            // enabled component. XSAVEOPT's modified optimisation is safe: this buffer is only
            // changed behind the CPU's back while its task is off-CPU, and every switch-in
            // (or exec / sigreturn / signal delivery) ends with an XRSTOR (docs/xstate.md).
            Mode::XsaveOpt => unsafe {
                core::arch::asm!("xsaveopt64 [{}]", in(reg) p, in("eax") u32::MAX,
                    in("edx") u32::MAX, options(nostack))
            },
            // SAFETY: as above, without the optimisation.
            Mode::Xsave => unsafe {
                core::arch::asm!("xsave64 [{}]", in(reg) p, in("eax") u32::MAX,
                    in("edx") u32::MAX, options(nostack))
            },
            // SAFETY: FXSAVE64 writes 512 bytes to a 16-byte aligned buffer of 512.
            Mode::Fxsave => unsafe {
                core::arch::asm!("fxsave64 [{}]", in(reg) p, options(nostack))
            },
        }
    }

    /// Loads this state into the CPU.
    pub fn restore(&self) {
        let p = self.ptr();
        match xstate::config().mode {
            // SAFETY: the buffer is a valid standard-format area: it came from XSAVE, from
            // `initial_state`, or through `xstate::accept_user`/`set_legacy`, which leave no
            // reserved MXCSR bit, XSTATE_BV within XCR0 and the rest of the header zero — the
            // conditions under which XRSTOR cannot #GP.
            Mode::XsaveOpt | Mode::Xsave => unsafe {
                core::arch::asm!("xrstor64 [{}]", in(reg) p, in("eax") u32::MAX,
                    in("edx") u32::MAX, options(nostack, readonly))
            },
            // SAFETY: FXRSTOR64 from a valid FXSAVE image (no reserved MXCSR bit, as above).
            Mode::Fxsave => unsafe {
                core::arch::asm!("fxrstor64 [{}]", in(reg) p, options(nostack, readonly))
            },
        }
    }

    /// XSTATE_BV of the header (0 in FXSAVE mode).
    pub fn xstate_bv(&self) -> u64 {
        if xstate::config().mode == Mode::Fxsave {
            return 0;
        }
        u64::from_ne_bytes(
            self.bytes()[HEADER..HEADER + 8]
                .try_into()
                .unwrap_or([0; 8]),
        )
    }

    /// The legacy 512-byte image as ptrace shows it (GETFPREGS, NT_PRFPREG): x87/SSE left
    /// out of the save as initial read as their initial values, and the software-reserved
    /// words hold XCR0 (Linux's xfpregs_get copies xstate_fx_sw_bytes there).
    pub fn legacy(&self) -> [u8; 512] {
        let mut out = [0u8; 512];
        out.copy_from_slice(&self.export()[..512]);
        if xstate::config().xsave() {
            xstate::put_ptrace_sw_words(&mut out);
        }
        out
    }

    /// SETFPREGS / NT_PRFPREG / a frame without the XSAVE magic: the legacy image replaces
    /// the x87 and SSE state (marked in use so XRSTOR reads it); the caller has checked MXCSR.
    pub fn set_legacy(&mut self, image: &[u8; 512]) {
        let xsave = xstate::config().mode != Mode::Fxsave;
        let b = self.bytes_mut();
        b[..512].copy_from_slice(image);
        if xsave {
            let bv = u64::from_ne_bytes(b[HEADER..HEADER + 8].try_into().unwrap_or([0; 8]));
            b[HEADER..HEADER + 8].copy_from_slice(&(bv | xstate::FPSSE).to_ne_bytes());
        }
    }

    /// Makes the buffer read as user space must see it (Linux's uabi format), in place:
    /// components not in XSTATE_BV get their initial values (XSAVEOPT may have left stale
    /// bytes there), XSTATE_BV gains x87 and SSE (so a program that edits the legacy area of
    /// a signal frame sees its edits restored), the rest of the header stays zero. The state it
    /// describes is unchanged, so the task may keep running on it. Without XSAVE: nothing.
    pub fn make_uabi(&mut self) {
        let cfg = xstate::config();
        if cfg.mode == Mode::Fxsave {
            return;
        }
        let bv = self.xstate_bv();
        let out = self.bytes_mut();
        if bv & xstate::FP == 0 {
            // x87 initial: FCW 0x37f, everything else (FSW, tag, pointers, ST0-7) zero.
            out[0..24].fill(0);
            out[0..2].copy_from_slice(&0x37fu16.to_ne_bytes());
            out[32..160].fill(0);
        }
        if bv & xstate::SSE == 0 {
            out[160..416].fill(0);
        }
        for c in cfg.components() {
            if bv & (1 << c.nr) == 0 {
                out[c.offset..c.offset + c.size].fill(0);
            }
        }
        // XSAVE never writes the header past XSTATE_BV, and every other writer of the buffer
        // leaves those 56 bytes zero (`initial_state`, `set_legacy`, `xstate::accept_user`).
        let bv = (bv & cfg.mask) | xstate::FPSSE;
        out[HEADER..HEADER + 8].copy_from_slice(&bv.to_ne_bytes());
    }

    /// A copy of the buffer in the user format (`make_uabi`), for ptrace.
    pub fn export(&self) -> Vec<u8> {
        let mut c = self.clone();
        c.make_uabi();
        c.bytes().to_vec()
    }

    /// Takes `other`'s state, in place (no allocation).
    pub fn copy_from(&mut self, other: &FpuState) {
        self.bytes_mut().copy_from_slice(other.bytes());
    }

    /// Back to the initial state, in place (no allocation).
    pub fn set_initial(&mut self) {
        self.bytes_mut().copy_from_slice(initial_state().bytes());
    }
}

/// The MXCSR bits this CPU has (FXSAVE's MXCSR_MASK, 0xffbf when the CPU reports 0): a
/// value with any other bit makes FXRSTOR/XRSTOR fault. Read once.
pub fn mxcsr_mask() -> u32 {
    static MASK: spin::Once<u32> = spin::Once::new();
    *MASK.call_once(|| {
        #[repr(C, align(64))]
        struct Fx([u8; 512]);
        let mut probe = Fx([0; 512]);
        // SAFETY: FXSAVE64 writes 512 bytes into this 16-byte aligned local.
        unsafe {
            core::arch::asm!("fxsave64 [{}]", in(reg) probe.0.as_mut_ptr(), options(nostack))
        };
        match u32::from_ne_bytes(probe.0[28..32].try_into().unwrap_or([0; 4])) {
            0 => 0xffbf,
            m => m,
        }
    })
}

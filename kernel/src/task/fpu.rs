//! The user's x87/SSE state, saved and restored eagerly at every context switch (the kernel
//! itself never touches it: it is built without SSE).

/// An FXSAVE area.
#[repr(C, align(64))]
#[derive(Clone)]
pub struct FpuState(pub [u8; 512]);

/// The state a new program (and every signal handler) starts with — Linux's: FCW 0x37f,
/// MXCSR 0x1f80, all else 0. Kept as one static image, so loading it costs one FXRSTOR.
pub static INITIAL: FpuState = {
    let mut a = [0u8; 512];
    a[0] = 0x7f;
    a[1] = 0x03;
    a[24] = 0x80;
    a[25] = 0x1f;
    a[28] = 0xff; // MXCSR_MASK
    a[29] = 0xff;
    FpuState(a)
};

impl FpuState {
    pub fn initial() -> Self {
        INITIAL.clone()
    }

    pub fn save(&mut self) {
        // SAFETY: FXSAVE64 writes 512 bytes to a 16-byte aligned buffer we own.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    pub fn restore(&self) {
        // SAFETY: FXRSTOR64 from a valid FXSAVE image (reserved MXCSR bits are clear: the
        // image came from FXSAVE or `initial`, or was sanitised by sigreturn).
        unsafe {
            core::arch::asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly))
        };
    }
}

//! The user's x87/SSE state, saved and restored eagerly at every context switch (the kernel
//! itself never touches it: it is built without SSE).

/// An FXSAVE area.
#[repr(C, align(64))]
#[derive(Clone)]
pub struct FpuState(pub [u8; 512]);

impl FpuState {
    /// The state a new program starts with (Linux's: FCW 0x37f, MXCSR 0x1f80, all else 0).
    pub fn initial() -> Self {
        let mut a = [0u8; 512];
        a[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        a[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        a[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR_MASK
        FpuState(a)
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

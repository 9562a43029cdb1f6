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

/// The MXCSR bits this CPU has (FXSAVE's MXCSR_MASK, 0xffbf when the CPU reports 0): a
/// value with any other bit makes FXRSTOR fault. Read once.
pub fn mxcsr_mask() -> u32 {
    static MASK: spin::Once<u32> = spin::Once::new();
    *MASK.call_once(|| {
        let mut probe = FpuState::initial();
        probe.save();
        match u32::from_ne_bytes([probe.0[28], probe.0[29], probe.0[30], probe.0[31]]) {
            0 => 0xffbf,
            m => m,
        }
    })
}

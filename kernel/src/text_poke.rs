//! Writing kernel text at run time (static keys). Text is mapped read-only; every physical
//! page is also visible, writable and non-executable, through the direct map, so a write
//! goes through that alias: W^X holds for every mapping at every moment.

/// Writes `bytes` over kernel code at `addr`.
///
/// # Safety
/// `addr..addr+len` must be kernel text no CPU is executing while it changes (interrupts off,
/// one CPU), and `bytes` must leave whole instructions there.
pub unsafe fn write_text(addr: u64, bytes: &[u8]) {
    let alias = crate::mm::phys_to_virt(crate::mm::kernel_virt_to_phys(addr));
    // SAFETY: the alias maps the same frames writably; the caller vouches for the rest.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), alias as *mut u8, bytes.len()) };
}

/// Turns context tracking on or off (boot command line `kentry.ct=on|off`; on by default in
/// test kernels, whose entry assertions depend on it).
pub fn apply_context_tracking(cmdline: &str) {
    let default_on = cfg!(feature = "test-hooks");
    let on = match crate::boot::cmdline_value(cmdline, "kentry.ct") {
        Some("on") => true,
        Some("off") => false,
        _ => default_on,
    };
    if on {
        let n = kentry::context_tracking::CONTEXT_TRACKING.enable();
        crate::klog!("context tracking: on ({n} static-branch sites patched)");
    }
}

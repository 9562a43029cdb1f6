//! `clac` is the first instruction of every IDT stub (E07). It is #UD on a CPU without SMAP,
//! so there every recorded site is patched to a 3-byte NOP once at boot, while kernel text is
//! still writable.

unsafe extern "C" {
    static __kentry_clac_sites_start: u64;
    static __kentry_clac_sites_end: u64;
}

/// Number of recorded `clac` sites.
pub fn clac_site_count() -> usize {
    (core::ptr::addr_of!(__kentry_clac_sites_end) as usize
        - core::ptr::addr_of!(__kentry_clac_sites_start) as usize)
        / 8
}

/// Replaces every `clac` with `nopl (%rax)` when the CPU lacks SMAP.
///
/// # Safety
/// Kernel text must be writable, this must run on the boot CPU before any other CPU runs, and
/// no IDT stub may be executing.
pub unsafe fn patch_clac_if_no_smap(has_smap: bool) {
    if has_smap {
        return;
    }
    const CLAC: [u8; 3] = [0x0f, 0x01, 0xca];
    const NOP3: [u8; 3] = [0x0f, 0x1f, 0x00];
    // SAFETY: the linker script bounds the table; each entry is the address of a 3-byte
    // `clac` in kentry's text, which the caller guarantees is writable and idle.
    unsafe {
        let start = core::ptr::addr_of!(__kentry_clac_sites_start);
        for i in 0..clac_site_count() {
            let site = *start.add(i) as *mut [u8; 3];
            assert_eq!(*site, CLAC, "clac site table is stale");
            core::ptr::write_volatile(site, NOP3);
        }
    }
}

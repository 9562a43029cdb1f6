//! Static keys: a feature switch whose disabled state costs one 5-byte NOP in the code that
//! tests it, and whose enabled state costs one direct jump (Linux's jump labels).
//!
//! Each test site is emitted by [`static_branch!`](crate::static_branch) as a 5-byte NOP, with an entry in the
//! `__kentry_jump_table` section: (site, target, key). Turning a key on rewrites each of its
//! sites into `jmp rel32` to the target; turning it off writes the NOP back. Kernel text is
//! read-only, so the bytes are written through a writer the kernel installs (an alias of the
//! text page that is writable), with interrupts off. [`StaticKey::enable`] and
//! [`StaticKey::disable`] patch from the calling CPU only: on SMP the host must first park every
//! other CPU outside entry text (the host kernel's `text_poke::flip_key`, entry/README.md
//! "Static keys"). kentry never uses INT3 patching: entry text must not take a breakpoint.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A feature switch. Read with [`static_branch!`](crate::static_branch); change with [`StaticKey::enable`] /
/// [`StaticKey::disable`].
#[repr(C, align(8))]
pub struct StaticKey {
    enabled: AtomicBool,
}

impl StaticKey {
    /// A key, initially disabled.
    pub const fn new() -> Self {
        StaticKey {
            enabled: AtomicBool::new(false),
        }
    }

    /// The current state (a load: for code that is not hot).
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }
}

impl Default for StaticKey {
    fn default() -> Self {
        Self::new()
    }
}

/// `true` when `key` is enabled — decided by the patched instruction at this site, not by a
/// load: a disabled key costs one NOP.
#[macro_export]
macro_rules! static_branch {
    ($key:path) => {
        'static_branch: {
            #[allow(unused_unsafe)]
            // SAFETY: the asm is a 5-byte NOP (or, once patched, a jump to the label) plus a
            // jump-table entry naming this site, the label and the key.
            unsafe {
                core::arch::asm!(
                    // Keep the site inside one aligned 8-byte word, so a live flip rewrites it
                    // with a single store: at most one multi-byte NOP (≤ 4 bytes) of padding,
                    // emitted only where the site would otherwise straddle a word.
                    ".balign 8, , 4",
                    "2: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00",
                    ".pushsection __kentry_jump_table, \"aw\"",
                    ".balign 8",
                    ".quad 2b, {yes}, {key}",
                    ".popsection",
                    key = sym $key,
                    yes = label { break 'static_branch true },
                    options(nostack, preserves_flags),
                )
            }
            false
        }
    };
}

/// One entry of the jump table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct JumpEntry {
    /// Address of the 5-byte patch site.
    pub site: u64,
    /// Where the site jumps when the key is enabled.
    pub target: u64,
    /// Address of the [`StaticKey`] the site belongs to.
    pub key: u64,
}

/// The 5-byte NOP of a disabled site.
pub const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];

/// The 5 bytes at `site` for `enabled`: `jmp rel32` to `target`, or the NOP.
pub fn site_bytes(site: u64, target: u64, enabled: bool) -> [u8; 5] {
    if !enabled {
        return NOP5;
    }
    let rel = target.wrapping_sub(site + 5) as i64;
    assert!(
        i32::try_from(rel).is_ok(),
        "static branch target out of rel32 range"
    );
    let r = (rel as i32).to_le_bytes();
    [0xe9, r[0], r[1], r[2], r[3]]
}

/// Writes code bytes: installed by the kernel (it knows how to reach its text writably).
pub type TextWriter = unsafe fn(addr: u64, bytes: &[u8]);

static WRITER: AtomicUsize = AtomicUsize::new(0);

/// Installs the text writer; must happen before any key changes.
pub fn set_text_writer(w: TextWriter) {
    WRITER.store(w as usize, Ordering::Release);
}

#[cfg(any(target_os = "none", doc))]
mod patch {
    use super::*;

    unsafe extern "C" {
        static __kentry_jump_table_start: JumpEntry;
        static __kentry_jump_table_end: JumpEntry;
    }

    pub fn table() -> &'static [JumpEntry] {
        let start = core::ptr::addr_of!(__kentry_jump_table_start);
        let end = core::ptr::addr_of!(__kentry_jump_table_end);
        // SAFETY: the linker script brackets the table with these symbols; entries are
        // plain triples of addresses emitted by `static_branch!`.
        unsafe { core::slice::from_raw_parts(start, end.offset_from(start) as usize) }
    }

    impl StaticKey {
        fn set(&'static self, on: bool) -> usize {
            let w = WRITER.load(Ordering::Acquire);
            assert!(
                w != 0,
                "static key changed before the kernel installed a text writer"
            );
            // SAFETY: the value stored is a `TextWriter` (set_text_writer).
            let write: TextWriter = unsafe { core::mem::transmute::<usize, TextWriter>(w) };
            let me = self as *const StaticKey as u64;
            let mut n = 0;
            x86_64::instructions::interrupts::without_interrupts(|| {
                self.enabled.store(on, Ordering::Release);
                for e in table().iter().filter(|e| e.key == me) {
                    // SAFETY: `e.site` is a 5-byte patch site made by `static_branch!`;
                    // interrupts are off here and the host parked every other CPU outside
                    // entry text (the contract of enable/disable).
                    unsafe { write(e.site, &site_bytes(e.site, e.target, on)) };
                    n += 1;
                }
                // A serialising instruction: no stale decoded copy of a site survives.
                core::arch::x86_64::__cpuid(0);
            });
            n
        }

        /// Turns the key on; returns how many sites were patched. On SMP, only with every
        /// other CPU parked outside entry text (module docs).
        pub fn enable(&'static self) -> usize {
            self.set(true)
        }

        /// Turns the key off; returns how many sites were patched. Same contract as
        /// [`Self::enable`].
        pub fn disable(&'static self) -> usize {
            self.set(false)
        }

        /// The sites of this key (for tests and reports).
        pub fn sites(&'static self) -> impl Iterator<Item = &'static JumpEntry> {
            let me = self as *const StaticKey as u64;
            table().iter().filter(move |e| e.key == me)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_encoding() {
        assert_eq!(
            site_bytes(0x1000, 0x1100, true),
            [0xe9, 0xfb, 0x00, 0x00, 0x00]
        );
        assert_eq!(
            site_bytes(0x1000, 0x0f00, true),
            [0xe9, 0xfb, 0xfe, 0xff, 0xff]
        );
        assert_eq!(site_bytes(0x1000, 0x1100, false), NOP5);
    }
}

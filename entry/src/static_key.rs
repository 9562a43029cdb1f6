//! Static keys: a feature switch whose disabled state costs one 5-byte NOP in the code that
//! tests it, and whose enabled state costs one direct jump (Linux's jump labels).
//!
//! Each test site is emitted by [`static_branch!`](crate::static_branch) as a 5-byte NOP, with an entry in the
//! `__kentry_jump_table` section: (site, target, key). Turning a key on rewrites each of its
//! sites into `jmp rel32` to the target; turning it off writes the NOP back.
//! [`static_select!`](crate::static_select) makes one site serve two keys (two entries, same
//! site, in order of precedence): the site jumps to the target of the first enabled one. A
//! fast path that would otherwise test a second key inside the first one's block pays one
//! NOP fewer each time the first key is on. Kernel text is
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

    /// The current state (a load: for code that is not hot). Inlined: entry code (noinstr)
    /// reads it.
    #[inline(always)]
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
///
/// The site is a *live* one: it lies inside one aligned 8-byte word, so that a CPU that runs
/// it while a key flips (an exception inside an NMI on a parked CPU, kernel/src/text_poke.rs)
/// fetches the old or the new instruction whole. Where the site would straddle a word, one
/// multi-byte NOP of padding precedes it: one more instruction on that path.
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
                    ".quad 2b, {yes}, {key} + {live}",
                    ".popsection",
                    key = sym $key,
                    live = const $crate::static_key::LIVE_SITE,
                    yes = label { break 'static_branch true },
                    options(nostack, preserves_flags),
                )
            }
            false
        }
    };
}

/// One site for two keys: runs `$on_first` when `$first` is enabled, else `$on_second` when
/// `$second` is, else nothing — one 5-byte NOP or one jump, whatever the combination (two
/// jump-table entries for the same site, `$first`'s ahead). The blocks are the asm's jump
/// targets themselves, so no value records which key won (a value would be materialised on
/// the path where neither is on).
///
/// Its sites are *parked-only*: not aligned, so no padding NOP ever runs before them, and
/// therefore allowed only where no CPU can be while a key flips. The user-mode transitions
/// (`enter_from_user_mode`, `exit_to_user_mode`) are such places: a flip parks every other
/// CPU in ring 0 with interrupts off, and an NMI or #MC landing there enters from kernel
/// mode, which never reaches them. The kernel's straddle check skips these sites.
#[macro_export]
macro_rules! static_select {
    ($first:path => $on_first:block, $second:path => $on_second:block $(,)?) => {{
        // The blocks as closures, so that their code is not inside the `unsafe` below (each
        // is called once, from its label: inlined).
        let on_first = || $on_first;
        let on_second = || $on_second;
        #[allow(unused_unsafe)]
        // SAFETY: the asm is a 5-byte NOP (or, once patched, a jump to one of the blocks)
        // plus two jump-table entries naming this site, a block and a key each.
        unsafe {
            core::arch::asm!(
                "2: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00",
                ".pushsection __kentry_jump_table, \"aw\"",
                ".balign 8",
                ".quad 2b, {one}, {first}",
                ".quad 2b, {two}, {second}",
                ".popsection",
                first = sym $first,
                second = sym $second,
                one = label { on_first() },
                two = label { on_second() },
                options(nostack, preserves_flags),
            )
        }
    }};
}

/// Low bit of a jump entry's key field (keys are 8-byte aligned, so the bit is free): the
/// site is live ([`static_branch!`](crate::static_branch)) and must lie inside one aligned
/// 8-byte word.
pub const LIVE_SITE: u64 = 1;

/// One entry of the jump table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct JumpEntry {
    /// Address of the 5-byte patch site.
    pub site: u64,
    /// Where the site jumps when the key is enabled.
    pub target: u64,
    /// Address of the [`StaticKey`] the site belongs to, plus [`LIVE_SITE`] for a live
    /// site. Read it with [`JumpEntry::key`] and [`JumpEntry::is_live`].
    pub key_and_flags: u64,
}

impl JumpEntry {
    /// Address of the [`StaticKey`] the site belongs to.
    pub fn key(&self) -> u64 {
        self.key_and_flags & !LIVE_SITE
    }

    /// Whether a CPU may run the site while a key flips (it must then lie inside one aligned
    /// 8-byte word).
    pub fn is_live(&self) -> bool {
        self.key_and_flags & LIVE_SITE != 0
    }
}

/// The 5 bytes a site holds given its entries in order of precedence, each as (target,
/// enabled): a jump to the first enabled one's target, or the NOP.
pub fn select_bytes(site: u64, entries: impl IntoIterator<Item = (u64, bool)>) -> [u8; 5] {
    match entries.into_iter().find(|&(_, on)| on) {
        Some((target, _)) => site_bytes(site, target, true),
        None => NOP5,
    }
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
                for e in table().iter().filter(|e| e.key() == me) {
                    // The site follows the first enabled key of its entries (one, or two
                    // for `static_select!`), this one's new state included.
                    let entries = table().iter().filter(|f| f.site == e.site).map(|f| {
                        // SAFETY: a jump entry's key is the address of a `StaticKey`
                        // static (`sym` in the macros).
                        let key = unsafe { &*(f.key() as *const StaticKey) };
                        (f.target, key.is_enabled())
                    });
                    let bytes = select_bytes(e.site, entries);
                    // SAFETY: `e.site` is a 5-byte patch site made by `static_branch!` or
                    // `static_select!`; interrupts are off here and the host parked every
                    // other CPU outside entry text (the contract of enable/disable).
                    unsafe { write(e.site, &bytes) };
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
            table().iter().filter(move |e| e.key() == me)
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

    #[test]
    fn a_shared_site_follows_its_first_enabled_key() {
        let (first, second) = (0x1100, 0x1200);
        let jmp_first = [0xe9, 0xfb, 0x00, 0x00, 0x00];
        let jmp_second = [0xe9, 0xfb, 0x01, 0x00, 0x00];
        assert_eq!(
            select_bytes(0x1000, [(first, false), (second, false)]),
            NOP5
        );
        assert_eq!(
            select_bytes(0x1000, [(first, false), (second, true)]),
            jmp_second
        );
        assert_eq!(
            select_bytes(0x1000, [(first, true), (second, true)]),
            jmp_first
        );
        assert_eq!(
            select_bytes(0x1000, [(first, true), (second, false)]),
            jmp_first
        );
    }

    #[test]
    fn the_live_flag_rides_in_the_key_field() {
        let e = JumpEntry {
            site: 0x1000,
            target: 0x1100,
            key_and_flags: 0x2008 | LIVE_SITE,
        };
        assert_eq!((e.key(), e.is_live()), (0x2008, true));
        let e = JumpEntry {
            key_and_flags: 0x2008,
            ..e
        };
        assert_eq!((e.key(), e.is_live()), (0x2008, false));
    }
}

//! The 64-bit syscall path in Rust, and syscall-number decoding (E31).

/// The table slot for syscall number `orig_rax` in a table of `table_len` real entries followed
/// by one more, the "invalid number" entry: the number itself when valid, else `table_len`.
///
/// Same Linux semantics as [`syscall_table_index`], but branch-free: a `cmov` clamps the
/// index, so there is no bounds-check branch for the CPU to mispredict (Spectre v1) and no
/// separate path for invalid numbers.
#[inline(always)]
pub fn syscall_table_slot(orig_rax: u64, table_len: usize) -> usize {
    let nr = orig_rax as u32 as usize;
    #[cfg(target_arch = "x86_64")]
    {
        let slot: usize;
        // SAFETY: pure register arithmetic.
        unsafe {
            core::arch::asm!(
                "cmp {nr}, {len}",
                "cmovae {nr}, {len}",
                nr = inout(reg) nr => slot,
                len = in(reg) table_len,
                options(pure, nomem, nostack),
            );
        }
        slot
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        nr.min(table_len)
    }
}

/// The table index for syscall number `orig_rax`, or `None` (→ -ENOSYS).
///
/// Linux semantics: only the low 32 bits count, as a signed int (`0xffffffff_00000027` is
/// getpid); negative numbers and numbers past the table are invalid; the x32 bit (1 << 30)
/// makes a number invalid since kentry has no x32 ABI. The returned index is also clamped with
/// a branch-free mask, so a mispredicted bounds check cannot speculatively index past the
/// table (Spectre v1).
#[inline(always)]
pub fn syscall_table_index(orig_rax: u64, table_len: usize) -> Option<usize> {
    let nr = orig_rax as u32 as usize;
    if nr < table_len {
        Some(nr & index_mask_nospec(nr, table_len))
    } else {
        None
    }
}

/// All ones when `index < size`, else zero — computed without a branch (Linux's
/// `array_index_mask_nospec`: `cmp; sbb`).
#[inline(always)]
pub fn index_mask_nospec(index: usize, size: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let mask: usize;
        // SAFETY: pure register arithmetic.
        unsafe {
            core::arch::asm!(
                "cmp {i}, {s}",
                "sbb {m}, {m}",
                i = in(reg) index,
                s = in(reg) size,
                m = lateout(reg) mask,
                options(pure, nomem, nostack),
            );
        }
        mask
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        if index < size { usize::MAX } else { 0 }
    }
}

/// Tripwire (test kernels): the flags a user can set and the kernel must never run with —
/// DF (string ops backwards), AC (SMAP off), NT (a kernel IRET would #GP), TF — and IF (the
/// stub's user-RSP window must be closed to interrupts) are clear at dispatch. FMASK guarantees it; this proves it.
#[cfg(any(target_os = "none", doc))]
#[inline(always)]
fn check_kernel_flags() {
    #[cfg(feature = "test-hooks")]
    {
        use crate::frame::rflags::{AC, DF, IF, NT, TF};
        use crate::test_hooks::{Check, enabled};
        let f = x86_64::registers::rflags::read_raw();
        // With FMASK's DF switched off on purpose, DF is left for syscall_flags to catch.
        // IF: the stub ran on the user's RSP and GS, which only IF=0 makes safe (E10).
        let watched = if enabled(Check::FmaskDf) {
            DF | AC | NT | TF | IF
        } else {
            AC | NT | TF | IF
        };
        if f & watched != 0 {
            let leaked = f & watched;
            let bit = |b: u64| u8::from(leaked & b != 0);
            panic!(
                "user flags leaked into the kernel at syscall entry: RFLAGS={f:#x}, leaked {leaked:#x} (AC {} NT {} TF {} DF {} IF {})",
                bit(AC),
                bit(NT),
                bit(TF),
                bit(DF),
                bit(IF)
            );
        }
    }
}

/// The deliberate mistake of the noinstr check's negative build (feature `noinstr-negative`):
/// formatting a message, out of line and outside the entry text, before context tracking
/// says "kernel". The check must name the path to it.
#[cfg(all(feature = "noinstr-negative", any(target_os = "none", doc)))]
#[inline(never)]
fn misplaced_log(nr: u64) {
    use core::fmt::Write;
    struct Sink;
    impl Write for Sink {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            core::hint::black_box(s);
            Ok(())
        }
    }
    let _ = write!(Sink, "syscall {nr}");
}

/// The Rust half of the SYSCALL path. Interrupts are off on entry (FMASK clears IF) and off on
/// return. Returns true when the final frame may go back by SYSRET.
#[cfg(any(target_os = "none", doc))]
#[inline(always)]
pub fn do_syscall_64<H: crate::Host>(regs: &mut crate::Regs) -> bool {
    crate::irqentry::tripwires::<H>();
    #[cfg(feature = "noinstr-negative")]
    misplaced_log(regs.orig_rax);
    crate::irqentry::enter_from_user_mode::<H>(regs, None);
    // Context tracking says "kernel" (when on): the syscall may call anything.
    crate::instrumentation_begin!();
    check_kernel_flags();
    crate::irqentry::local_irq_enable();
    if crate::entry_percpu::this_cpu_ops::syscall_work_pending() {
        crate::syscall_work::syscall_enter_from_user_mode_work::<H, false>(
            regs,
            crate::entry_percpu::this_cpu_ops::task_work(),
        );
    } else {
        H::syscall(regs, regs.orig_rax as i32);
    }
    finish_syscall::<H>(regs)
}

/// The return of every syscall: exit work, context tracking, and the SYSRET-or-IRET choice.
#[cfg(any(target_os = "none", doc))]
#[inline(always)]
fn finish_syscall<H: crate::Host>(regs: &mut crate::Regs) -> bool {
    crate::irqentry::exit_to_user_mode::<H>(regs);
    let by_sysret = crate::sysret::sysret_allowed(regs);
    crate::test_hooks::note_syscall_exit(regs.rip, by_sysret);
    by_sysret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_follows_linux() {
        let n = 451;
        assert_eq!(syscall_table_index(39, n), Some(39));
        assert_eq!(syscall_table_index(0xffff_ffff_0000_0027, n), Some(39));
        assert_eq!(syscall_table_index(u64::MAX, n), None); // -1
        assert_eq!(syscall_table_index(451, n), None);
        assert_eq!(syscall_table_index(0x4000_0000 | 39, n), None); // x32
        assert_eq!(syscall_table_index(0x8000_0000, n), None);
        assert_eq!(syscall_table_index(0x7fff_ffff, n), None);
        assert_eq!(syscall_table_index((-5i64) as u64, n), None);
        assert_eq!(syscall_table_index(450, n), Some(450));
    }

    #[test]
    fn clamped_slot_agrees_with_index() {
        let n = 451;
        for nr in [
            0u64,
            39,
            450,
            451,
            452,
            1000,
            u64::MAX,
            0xffff_ffff_0000_0027,
            0x4000_0027,
            0x8000_0000,
            0x7fff_ffff,
        ] {
            let want = syscall_table_index(nr, n).unwrap_or(n);
            assert_eq!(syscall_table_slot(nr, n), want, "nr {nr:#x}");
        }
    }

    #[test]
    fn nospec_mask() {
        assert_eq!(index_mask_nospec(0, 1), usize::MAX);
        assert_eq!(index_mask_nospec(1, 1), 0);
        assert_eq!(index_mask_nospec(usize::MAX, 10), 0);
        assert_eq!(index_mask_nospec(9, 10), usize::MAX);
    }
}

//! The user's data-segment selectors (DS, ES, FS, GS): saved and restored at every context
//! switch, and zeroed by arch_prctl(ARCH_SET_FS/GS) as Linux does. Loading GS in the kernel
//! would replace the kernel's live GS base, so GS is loaded between two `swapgs`, with
//! interrupts off; the base MSRs are written after every load (a selector load may change
//! the base).

/// DS, ES, FS, GS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selectors(pub [u16; 4]);

impl Selectors {
    /// An i386 program's first selectors: DS = ES = __USER_DS, FS = GS = 0.
    pub const fn ia32_start() -> Self {
        let ds = kentry::gdt::USER_DS;
        Selectors([ds, ds, 0, 0])
    }

    /// The selectors live on this CPU now.
    pub fn read() -> Self {
        let (ds, es, fs, gs): (u16, u16, u16, u16);
        // SAFETY: reading segment registers has no effect.
        unsafe {
            core::arch::asm!(
                "mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs",
                out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs,
                options(nomem, nostack, preserves_flags)
            )
        };
        Selectors([ds, es, fs, gs])
    }

    /// These selectors with every one that names an empty TLS slot of `tls`, or an LDT entry
    /// of `ldt` that DS/ES/FS/GS may not hold (none, not present, a system or execute-only
    /// segment), made null: a tracer's SETREGS checks a selector against its own CPU's GDT
    /// (`loadable`), which holds the tracer's TLS descriptors, not the tracee's; another
    /// thread's modify_ldt may have changed an entry since the selector was saved; and
    /// loading a selector of an unusable descriptor in the kernel would fault (Linux's loads
    /// have a fixup that leaves null; kentry's have none).
    pub fn fit(
        self,
        tls: &[u64; super::tls::TLS_ENTRIES],
        ldt: Option<&super::ldt::LdtTable>,
    ) -> Self {
        #[cfg(feature = "test-hooks")]
        if super::tls::BREAK_FIT.load(core::sync::atomic::Ordering::Relaxed) {
            return self;
        }
        let first = kentry::gdt::TLS_FIRST_ENTRY;
        let mut s = self;
        for v in s.0.iter_mut() {
            let i = (*v >> 3) as usize;
            if *v & 4 != 0 {
                #[cfg(feature = "test-hooks")]
                if super::ldt::BREAK_FIT.load(core::sync::atomic::Ordering::Relaxed) {
                    continue;
                }
                if !super::ldt::selector_ok(ldt, *v) {
                    *v = 0;
                }
            } else if (first..first + tls.len()).contains(&i) && tls[i - first] == 0 {
                *v = 0;
            }
        }
        s
    }

    /// Loads these selectors. The caller rewrites FS_BASE and KERNEL_GS_BASE afterwards.
    ///
    /// # Safety
    /// Interrupts off; each selector null or a valid DPL-3 data selector of the GDT (it was
    /// read from user state, where the CPU checked it, and the GDT never changes).
    pub unsafe fn load(self) {
        let [ds, es, fs, gs] = self.0;
        // SAFETY: per the caller; GS is loaded with the user's GS base swapped in, so the
        // kernel's per-CPU base in the live GS is untouched (swapgs twice).
        unsafe {
            core::arch::asm!(
                "mov ds, {0:x}", "mov es, {1:x}", "mov fs, {2:x}",
                "swapgs", "mov gs, {3:x}", "swapgs",
                in(reg) ds, in(reg) es, in(reg) fs, in(reg) gs,
                options(nostack, preserves_flags)
            )
        };
    }
}

/// Whether `sel` may be loaded into DS, ES, FS or GS from user mode by a thread of a process
/// whose LDT is `ldt`: null; an LDT selector of a loadable entry of `ldt` (checked in memory:
/// the CPU asking may have another process's LDT loaded, and VERR ignores the present bit);
/// or a GDT segment readable at privilege 3 (VERR, which checks without faulting). A
/// tracer's selector passes this before the context switch ever loads it.
pub fn loadable(sel: u16, ldt: &super::ldt::MmLdt) -> bool {
    if sel & !3 == 0 {
        return true;
    }
    if sel & 4 != 0 {
        return ldt.selector_loadable(sel);
    }
    let ok: u8;
    // SAFETY: VERR only reads the descriptor tables and sets ZF; it never faults.
    unsafe {
        core::arch::asm!("verr {0:x}", "setz {1}", in(reg) sel, out(reg_byte) ok,
            options(nomem, nostack))
    };
    ok != 0 && sel & 3 == 3
}

/// Loads a null FS selector (ARCH_SET_FS); the caller then writes FS_BASE.
pub fn zero_fs() {
    // SAFETY: a null selector is always valid in 64-bit mode; the base is rewritten next.
    unsafe { core::arch::asm!("mov fs, {0:x}", in(reg) 0u16, options(nostack, preserves_flags)) };
}

/// Loads a null GS selector (ARCH_SET_GS) without touching the kernel's live GS base; the
/// caller then writes KERNEL_GS_BASE.
pub fn zero_gs() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: as in `load`: between the two swapgs the live GS is the user's.
        unsafe {
            core::arch::asm!("swapgs", "mov gs, {0:x}", "swapgs", in(reg) 0u16, options(nostack, preserves_flags))
        };
    });
}

/// Makes `new` the current task's data selectors (an i386 signal frame's setup and its
/// sigreturn): loaded now if they differ from the live ones, and kept for the next switch.
/// A selector loaded from a descriptor takes its base; FS or GS loaded null keeps the base
/// it had (as a null load may clear it on some CPUs). Each selector must pass [`loadable`]
/// on this CPU (whose GDT holds this task's TLS slots), or be null.
pub fn reload_user(new: Selectors) {
    use x86_64::registers::model_specific::Msr;
    x86_64::instructions::interrupts::without_interrupts(|| {
        if Selectors::read() == new {
            return;
        }
        let mut fs_base = Msr::new(kentry::msr::IA32_FS_BASE);
        let mut gs_base = Msr::new(kentry::msr::IA32_KERNEL_GS_BASE);
        // SAFETY: interrupts off; every selector null or checked by the caller as one the
        // user could load (VERR on this CPU's GDT), so the loads do not fault (the test break
        // `sigreturn32_segs` skips that check, and the kernel's tripwire then catches the
        // fault). Reading and rewriting the user's base MSRs has no other effect.
        unsafe {
            let (fs, gs) = (fs_base.read(), gs_base.read());
            new.load();
            if new.0[2] == 0 {
                fs_base.write(fs);
            }
            if new.0[3] == 0 {
                gs_base.write(gs);
            }
        }
        crate::task::current_inner().selectors = new;
    });
}

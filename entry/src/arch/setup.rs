//! Points the CPU at kentry: GDT, TSS, IDT, and the SYSCALL MSRs.

use crate::frame::rflags::{AC, DF, NT, TF};
use crate::gdt::{CpuTables, KERNEL_CS, KERNEL_DS, STAR_VALUE, TSS_SEL};
use crate::idt::Idt;
use crate::msr::*;
use x86_64::registers::model_specific::Msr;

/// Loads `tables`' GDT and TSS on this CPU and reloads every segment register.
///
/// # Safety
/// `tables` must stay at this address for as long as the CPU runs (it is per-CPU static
/// data), with its TSS descriptor installed.
pub unsafe fn load_gdt_and_tss(tables: &'static CpuTables) {
    let ptr = x86_64::structures::DescriptorTablePointer {
        limit: (core::mem::size_of_val(&tables.gdt) - 1) as u16,
        base: x86_64::VirtAddr::from_ptr(tables.gdt.as_ptr()),
    };
    // SAFETY: the table is valid and static; the selectors below index entries it defines
    // (kernel CS at 0x10, kernel DS at 0x18, TSS at 0x40).
    unsafe {
        x86_64::instructions::tables::lgdt(&ptr);
        core::arch::asm!(
            "push {cs}",
            "lea 2f(%rip), {tmp}",
            "push {tmp}",
            "lretq",
            "2:",
            "mov {ds:e}, %ds",
            "mov {ds:e}, %es",
            "mov {ds:e}, %ss",
            cs = in(reg) KERNEL_CS as u64,
            ds = in(reg) KERNEL_DS as u64,
            tmp = lateout(reg) _,
            options(att_syntax)
        );
        // FS/GS selectors 0: their bases come from the MSRs.
        core::arch::asm!("mov {0:e}, %fs", "mov {0:e}, %gs", in(reg) 0u32, options(att_syntax, nostack));
        // A null LDTR. After reset the LDTR is base 0, limit 0xffff: an LDT selector (in an
        // IRET frame from sigreturn, say) would make the CPU read a "descriptor" from linear
        // address 0 — user memory. Loaded null, any LDT reference is #GP instead (E17).
        core::arch::asm!("lldt {0:x}", in(reg) 0u16, options(nostack));
        x86_64::instructions::tables::load_tss(x86_64::structures::gdt::SegmentSelector(TSS_SEL));
    }
}

/// Loads `idt` on this CPU.
///
/// # Safety
/// `idt` must stay valid and at this address for as long as the CPU runs.
pub unsafe fn load_idt(idt: &'static Idt) {
    let ptr = x86_64::structures::DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: x86_64::VirtAddr::from_ptr(idt),
    };
    // SAFETY: a complete 256-gate table whose gates point at kentry's stubs.
    unsafe { x86_64::instructions::tables::lidt(&ptr) };
}

/// Programs STAR, LSTAR, CSTAR, FMASK and the SYSENTER MSRs, then sets EFER.SCE. FMASK is
/// written before SCE so that no SYSCALL can ever run with the reset mask (E05).
///
/// # Safety
/// The GDT must be loaded and this CPU's per-CPU area reachable through GS, as the SYSCALL
/// stub assumes both from its first instruction.
pub unsafe fn enable_syscall(cstar_target: u64) {
    // SAFETY: architectural MSRs of this CPU, written with the values kentry's stubs need.
    unsafe {
        use crate::test_hooks::{Check, enabled};
        let mut mask = SYSCALL_FMASK;
        for (check, bits) in [
            (Check::SyscallFmask, AC | NT),
            (Check::FmaskDf, DF),
            (Check::FmaskTf, TF),
        ] {
            if !enabled(check) {
                mask &= !bits;
            }
        }
        Msr::new(IA32_FMASK).write(mask);
        Msr::new(IA32_STAR).write(STAR_VALUE);
        Msr::new(IA32_LSTAR).write(super::syscall_64::kentry_syscall_64 as *const () as u64);
        Msr::new(IA32_CSTAR).write(cstar_target);
        // No 32-bit SYSENTER entry yet: a null CS makes SYSENTER #GP (→ SIGSEGV) instead of
        // entering the kernel in an unprepared state.
        Msr::new(IA32_SYSENTER_CS).write(0);
        Msr::new(IA32_SYSENTER_ESP).write(0);
        Msr::new(IA32_SYSENTER_EIP).write(0);
        let mut efer = Msr::new(IA32_EFER);
        let v = efer.read();
        efer.write(v | EFER_SCE | EFER_NXE);
    }
}

//! The CPU's descriptor tables and SYSCALL MSRs as the CPU holds them (`sidt`, `sgdt`,
//! `rdmsr`), compared with Linux's literal values — never with the code that built them.

use super::{Ctx, Outcome};
use crate::percpu::this_cpu;
use alloc::format;

pub(super) fn idt_gates(_: &Ctx) -> Outcome {
    let ptr = x86_64::instructions::tables::sidt();
    check!(
        ptr.limit as usize == 256 * 16 - 1,
        "IDT limit {:#x}",
        ptr.limit
    );
    // SAFETY: the loaded IDT, 256 16-byte gates.
    let gates = unsafe { core::slice::from_raw_parts(ptr.base.as_u64() as *const [u8; 16], 256) };
    let base = kentry::arch::idt_stubs::stub_base();
    for (v, g) in gates.iter().enumerate() {
        let handler = u16::from_le_bytes([g[0], g[1]]) as u64
            | (u16::from_le_bytes([g[6], g[7]]) as u64) << 16
            | (u32::from_le_bytes([g[8], g[9], g[10], g[11]]) as u64) << 32;
        // int $0x80 has its own stub (a system call entry, entry_64_compat.rs); every other
        // vector its slot of the stub array.
        let want = if v == 0x80 {
            kentry::arch::entry_64_compat::kentry_int80_compat as *const () as u64
        } else {
            base + 16 * v as u64
        };
        check!(handler == want, "vector {v} handler {handler:#x}");
        let dpl = (g[5] >> 5) & 3;
        let want_dpl = if matches!(v, 3 | 4 | 0x80) { 3 } else { 0 };
        check!(dpl == want_dpl, "vector {v} DPL {dpl}");
        let ist = g[4] & 7;
        let want_ist = match v {
            8 => 1,
            2 => 2,
            1 => 3,
            18 => 4,
            _ => 0,
        };
        check!(ist == want_ist, "vector {v} IST {ist}");
        check!(
            g[5] & 0x8f == 0x8e,
            "vector {v} is not a present interrupt gate"
        );
    }
    Outcome::Pass
}

/// Linux's x86-64 GDT entries 0–7 as literal descriptors (linux-abi.md §1.1; arch/x86's
/// GDT_ENTRY_INIT in kernel/cpu/common.c): written out here, not taken from the code that
/// builds kentry's table. Linux presets the accessed bit (type 0xb/0x3), so the CPU never
/// writes them and an exact comparison is honest: a descriptor without it would differ at
/// least until the CPU first loads it.
const LINUX_GDT: [(&str, u64); 8] = [
    ("null", 0),
    ("__KERNEL32_CS", 0x00cf_9b00_0000_ffff),
    ("__KERNEL_CS", 0x00af_9b00_0000_ffff),
    ("__KERNEL_DS", 0x00cf_9300_0000_ffff),
    ("__USER32_CS", 0x00cf_fb00_0000_ffff),
    ("__USER_DS", 0x00cf_f300_0000_ffff),
    ("__USER_CS", 0x00af_fb00_0000_ffff),
    ("unused", 0),
];

/// The live GDT (read back with `sgdt`) in Linux's layout: 16 entries, 0–7 equal to Linux's
/// literal descriptors, a busy 64-bit TSS at 0x40 pointing at this CPU's TSS, no LDT
/// descriptor, empty TLS slots; TR at the TSS, LDTR's selector null. (The LDTR's hidden base
/// and limit cannot be read back; that LDT selectors #GP instead of reading linear address 0
/// is proven from ring 3 by sigreturn_bad's ldt_ss case.)
pub(super) fn gdt_layout(_: &Ctx) -> Outcome {
    let ptr = x86_64::instructions::tables::sgdt();
    check!(ptr.limit == 16 * 8 - 1, "GDT limit {:#x}", ptr.limit);
    // SAFETY: the loaded GDT, 16 8-byte descriptors (limit checked above).
    let gdt = unsafe { core::slice::from_raw_parts(ptr.base.as_u64() as *const u64, 16) };
    for (i, (name, want)) in LINUX_GDT.iter().enumerate() {
        check!(
            gdt[i] == *want,
            "GDT[{i}] ({name}) = {:#018x}, Linux has {want:#018x}",
            gdt[i]
        );
    }
    // The TSS descriptor: present, DPL0, type 0xb (64-bit TSS, busy since `ltr`), base = this
    // CPU's TSS, limit covering the 0x68-byte TSS.
    let (lo, hi) = (gdt[8], gdt[9]);
    // SAFETY: only the address of this CPU's TSS is taken.
    let tss = unsafe { core::ptr::addr_of!((*this_cpu().tables.get()).tss) } as u64;
    let base = (lo >> 16) & 0xff_ffff | ((lo >> 56) & 0xff) << 24 | hi << 32;
    let limit = lo & 0xffff | ((lo >> 48) & 0xf) << 16;
    check!(
        (lo >> 40) & 0xff == 0x8b,
        "TSS descriptor access byte {:#x}, want 0x8b",
        (lo >> 40) & 0xff
    );
    check!(
        base == tss,
        "TSS base {base:#x}, this CPU's TSS is at {tss:#x}"
    );
    check!(limit >= 0x67, "TSS limit {limit:#x}");
    check!(gdt[10] == 0 && gdt[11] == 0, "an LDT descriptor is present");
    check!(
        gdt[12..15].iter().all(|&d| d == 0),
        "TLS slots are not empty"
    );
    let (tr, ldtr): (u16, u16);
    // SAFETY: reading TR and LDTR.
    unsafe {
        core::arch::asm!("str {0:x}", "sldt {1:x}", out(reg) tr, out(reg) ldtr, options(nostack))
    };
    check!(tr == 0x40, "TR = {tr:#x}, want 0x40");
    check!(ldtr == 0, "LDTR = {ldtr:#x}");
    Outcome::Pass
}

/// The SYSCALL MSRs as Linux programs them (linux-abi.md §1.2), read back with `rdmsr` and
/// compared with Linux's literal values, not with kentry's constants: STAR
/// 0x0023_0010_0000_0000, FMASK 0x257fd5 (TF, DF, AC, NT… cleared at every SYSCALL), LSTAR at
/// the SYSCALL stub, EFER.SCE on. (QEMU 7.2 TCG clears DF at SYSCALL whatever FMASK says, so
/// there no ring-3 test can see a DF missing from FMASK; this one does.)
pub(super) fn syscall_msrs(_: &Ctx) -> Outcome {
    use x86_64::registers::model_specific::Msr;
    // SAFETY: reading architectural MSRs that exist on every x86-64 CPU.
    let rd = |msr: u32| unsafe { Msr::new(msr).read() };
    let (efer, star, lstar, fmask) = (
        rd(0xc000_0080),
        rd(0xc000_0081),
        rd(0xc000_0082),
        rd(0xc000_0084),
    );
    check!(
        fmask == 0x257fd5,
        "FMASK = {fmask:#x}, Linux has 0x257fd5 (missing {:#x}, extra {:#x})",
        0x257fd5 & !fmask,
        fmask & !0x257fd5
    );
    check!(
        star == 0x0023_0010_0000_0000,
        "STAR = {star:#x}, Linux has 0x0023001000000000"
    );
    let stub = kentry::arch::syscall_64::kentry_syscall_64 as *const () as u64;
    check!(
        lstar == stub,
        "LSTAR = {lstar:#x}, the SYSCALL stub is at {stub:#x}"
    );
    check!(efer & 1 == 1, "EFER.SCE is off (EFER = {efer:#x})");
    Outcome::Pass
}

/// CR0 and CR4 as the CPU holds them, bit by bit against literal positions (Intel SDM vol. 3
/// §2.5), with the optional CR4 features decided by CPUID here — not by the kernel's own probe.
/// CR0.AM matters beyond alignment: QEMU TCG never raises #AC, so `fault_ac` skips there, and
/// this is the test that fails if the kernel stops allowing user #AC.
pub(super) fn control_registers(_: &Ctx) -> Outcome {
    let (cr0, cr4): (u64, u64);
    // SAFETY: reading control registers has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack, preserves_flags));
        core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
    }
    let bit = |v: u64, n: u32| v >> n & 1 == 1;
    for (n, name) in [
        (0, "PE"),
        (1, "MP"),
        (5, "NE"),
        (16, "WP"),
        (18, "AM"),
        (31, "PG"),
    ] {
        check!(bit(cr0, n), "CR0 {cr0:#x}: {name} (bit {n}) clear");
    }
    for (n, name) in [(2, "EM"), (3, "TS"), (29, "NW"), (30, "CD")] {
        check!(!bit(cr0, n), "CR0 {cr0:#x}: {name} (bit {n}) set");
    }
    for (n, name) in [(5, "PAE"), (9, "OSFXSR"), (10, "OSXMMEXCPT")] {
        check!(bit(cr4, n), "CR4 {cr4:#x}: {name} (bit {n}) clear");
    }
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0).ebx;
    let leaf1 = core::arch::x86_64::__cpuid(1).edx;
    let leaf1_ecx = core::arch::x86_64::__cpuid(1).ecx;
    for (n, name, cpu_has) in [
        (18, "OSXSAVE", leaf1_ecx >> 26 & 1 == 1),
        (20, "SMEP", leaf7 >> 7 & 1 == 1),
        (21, "SMAP", leaf7 >> 20 & 1 == 1),
        (16, "FSGSBASE", leaf7 & 1 == 1),
        (6, "MCE", leaf1 >> 7 & 1 == 1),
    ] {
        check!(
            bit(cr4, n) == cpu_has,
            "CR4 {cr4:#x}: {name} (bit {n}) is {} where the CPU {} it",
            bit(cr4, n),
            if cpu_has { "has" } else { "lacks" }
        );
    }
    // XCR0: x87, SSE, AVX and AVX-512 exactly as CPUID 0xD offers them (docs/xstate.md), so
    // a kernel that leaves AVX out fails here even though user tests would only SKIP.
    if leaf1_ecx >> 26 & 1 == 1 {
        let offered = core::arch::x86_64::__cpuid_count(0xd, 0).eax as u64;
        let avx512 = if offered & 0xe0 == 0xe0 { 0xe0 } else { 0 };
        let want = offered & 0x7 | avx512;
        let (lo, hi): (u32, u32);
        // SAFETY: XGETBV of XCR0 is allowed once CR4.OSXSAVE is set (checked above).
        unsafe { core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi) };
        let xcr0 = lo as u64 | (hi as u64) << 32;
        check!(
            xcr0 == want,
            "XCR0 {xcr0:#x}, CPUID 0xD offers {offered:#x}: want {want:#x}"
        );
    }
    Outcome::Pass
}

/// `int $0x80` executed in kernel mode (what only an external vector 0x80 could cause): the
/// i386 syscall stub must see kernel mode, keep the kernel GS (no `swapgs`: test kernels'
/// tripwire T1 would stop the boot at the next entry function) and hand the vector to the
/// generic stub, which treats it as a stray interrupt: one more kernel-mode interrupt, every
/// register back, context tracking still "kernel".
pub(super) fn int80_from_kernel(_: &Ctx) -> Outcome {
    let c = &this_cpu().counters;
    let self_ptr = this_cpu() as *const _ as u64;
    // Interrupts off around the count: a timer tick between the two loads is a kernel-mode
    // interrupt too (CI once counted 2). `int` is delivered with IF=0 and its IRET keeps IF=0.
    let (before, after, rax, r12, r8, r11) =
        x86_64::instructions::interrupts::without_interrupts(|| {
            let before = c
                .irq_from_kernel
                .load(core::sync::atomic::Ordering::Relaxed);
            let (rax, r12, r8, r11): (u64, u64, u64, u64);
            // SAFETY: a software interrupt to a DPL-3 gate from ring 0: the stub returns by IRET to
            // the next instruction, every register kept (the generic IDT path saves them all).
            unsafe {
                core::arch::asm!(
                    "int 0x80",
                    inout("rax") 0x1234_5678_0000_0014u64 => rax,
                    inout("r12") 0x1c1c_1c1c_1c1c_1c1cu64 => r12,
                    inout("r8") 0x8888_8888_8888_8888u64 => r8,
                    inout("r11") 0xbbbb_bbbb_bbbb_bbbbu64 => r11,
                );
            }
            let after = c
                .irq_from_kernel
                .load(core::sync::atomic::Ordering::Relaxed);
            (before, after, rax, r12, r8, r11)
        });
    check!(
        after == before + 1,
        "{} kernel-mode interrupts counted for one int $0x80",
        after - before
    );
    check!(
        rax == 0x1234_5678_0000_0014
            && r12 == 0x1c1c_1c1c_1c1c_1c1c
            && r8 == 0x8888_8888_8888_8888
            && r11 == 0xbbbb_bbbb_bbbb_bbbb,
        "registers changed: rax {rax:#x} r12 {r12:#x} r8 {r8:#x} r11 {r11:#x}"
    );
    check!(
        this_cpu() as *const _ as u64 == self_ptr,
        "GS base changed across a kernel-mode int $0x80"
    );
    let ct = &this_cpu().entry.context_tracking;
    check!(
        ct.state() == 0 && ct.rcu_watching(),
        "context tracking not kernel/watching"
    );
    Outcome::Pass
}

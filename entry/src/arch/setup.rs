//! Points the CPU at kentry: GDT, TSS, IDT, and the SYSCALL MSRs.

use crate::frame::rflags::{AC, DF, IF, NT, TF};
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
            (Check::FmaskIf, IF),
            (Check::FmaskNt, NT),
            (Check::FmaskAc, AC),
        ] {
            if !enabled(check) {
                mask &= !bits;
            }
        }
        Msr::new(IA32_FMASK).write(mask);
        Msr::new(IA32_STAR).write(STAR_VALUE);
        Msr::new(IA32_LSTAR).write(super::syscall_64::kentry_syscall_64 as *const () as u64);
        Msr::new(IA32_CSTAR).write(cstar_target);
        // SYSENTER (Intel-type CPUs; AMD ones raise #UD for it in long mode and truncate
        // these MSRs, harmlessly): CS = __KERNEL_CS (SS is CS + 8, __KERNEL_DS), the stub,
        // and no stack: the stub loads the task stack before anything pushes
        // (sysenter_compat.rs).
        Msr::new(IA32_SYSENTER_CS).write(KERNEL_CS as u64);
        Msr::new(IA32_SYSENTER_ESP).write(0);
        Msr::new(IA32_SYSENTER_EIP)
            .write(super::sysenter_compat::kentry_sysenter_compat as *const () as u64);
        let mut efer = Msr::new(IA32_EFER);
        let v = efer.read();
        efer.write(v | EFER_SCE | EFER_NXE);
    }
}

pub use crate::gdt::IstStacks;

/// The one IDT every CPU loads: 256 gates to kentry's stubs, built by the first
/// [`init_cpu`].
struct SharedIdt(core::cell::UnsafeCell<Idt>);

// SAFETY: written once, by the first `init_cpu` (boot CPU, before any other CPU starts and
// before the table is loaded), and only read after `IDT_READY` is set.
unsafe impl Sync for SharedIdt {}

static IDT: SharedIdt = SharedIdt(core::cell::UnsafeCell::new(Idt(
    [crate::idt::Gate::EMPTY; 256]
)));
static IDT_READY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The IDT [`init_cpu`] loads (to load it again after a temporary one, e.g. the bench's).
///
/// # Panics
/// Before the first `init_cpu`.
pub fn idt() -> &'static Idt {
    assert!(
        IDT_READY.load(core::sync::atomic::Ordering::Acquire),
        "kentry's IDT is built by the first init_cpu"
    );
    // SAFETY: built and published (IDT_READY) by the first init_cpu; never written again.
    unsafe { &*IDT.0.get() }
}

/// Sets this CPU up for kentry, in the order the hardware needs: records the per-CPU area,
/// parks its address at the top of each IST stack (the paranoid path reads it there) and puts
/// the IST stacks in the TSS in kentry's slot order, installs the TSS descriptor, loads the
/// GDT, TSS and a null LDT, sets GS.base to `percpu` and KernelGsBase to 0 (the first user
/// GS base: the host's task switch writes the task's own there), loads the IDT, and programs
/// the SYSCALL MSRs (FMASK before EFER.SCE). From its return on, every entry path works on
/// this CPU; what is left to the host is a task to run ([`crate::task`]).
///
/// It also checks that the host linked the sections kentry needs (`entry/link/kentry-tables.ld`): the
/// `clac` site table must list every IDT stub, and the jump table must hold the context
/// tracking sites.
///
/// # Safety
/// Call once per CPU, on that CPU, with interrupts off, before anything can enter kentry.
/// `percpu` and `tables` belong to this CPU alone; `tables` is not touched by the host after
/// this (kentry updates TSS.RSP0 in it at every task switch; reading it is fine). The IST
/// stacks are as [`IstStacks`] says. CR4 and EFER.LME/NXE are the host's (kentry sets SCE
/// and NXE).
pub unsafe fn init_cpu(
    cpu: u32,
    percpu: &'static crate::entry_percpu::EntryPerCpu,
    tables: &'static mut CpuTables,
    ist: IstStacks,
) {
    use core::sync::atomic::Ordering;
    // What the contract asks of the caller and can be checked cheaply, checked: an entry
    // arriving half-way through would find no GS base or no IST, and two IST slots on one
    // stack would let one IST vector overwrite another's live frame.
    assert!(
        !x86_64::instructions::interrupts::are_enabled(),
        "init_cpu: interrupts must be off"
    );
    assert!(
        percpu.self_ptr() == 0,
        "init_cpu: CPU {cpu}'s EntryPerCpu is already installed"
    );
    let tops = ist.by_slot();
    for (i, a) in tops.iter().enumerate() {
        assert!(
            tops[i + 1..].iter().all(|b| b != a),
            "init_cpu: two IST slots share the stack top {a:#x}"
        );
    }
    check_linked_sections();
    percpu.set_self(cpu);
    let base = percpu as *const crate::entry_percpu::EntryPerCpu as u64;
    for (slot, top) in tops.into_iter().enumerate() {
        // SAFETY: the caller owns the top of each IST stack (IstStacks' contract).
        let ist_ptr = unsafe { super::paranoid::prepare_ist_stack(top, base) };
        tables.tss.interrupt_stack_table[slot] = x86_64::VirtAddr::new(ist_ptr);
    }
    percpu
        .nmi_state_word
        .store(super::nmi::state_word_address(ist.nmi), Ordering::Relaxed);
    tables.install_tss_descriptor();
    let rsp0 = core::ptr::addr_of_mut!(tables.tss.privilege_stack_table) as u64;
    percpu.tss_rsp0.store(rsp0, Ordering::Relaxed);
    if !IDT_READY.load(Ordering::Acquire) {
        // SAFETY: the first init_cpu runs alone (boot CPU, before any other), and no CPU has
        // loaded the table yet.
        unsafe {
            *IDT.0.get() = Idt::new(
                super::idt_stubs::stub_base(),
                super::entry_64_compat::kentry_int80_compat as *const () as u64,
            )
        };
        IDT_READY.store(true, Ordering::Release);
    }
    // SAFETY: the tables are this CPU's and 'static; the per-CPU area is installed as GS.base
    // before the IDT and SYSCALL can send anything through GS.
    unsafe {
        load_gdt_and_tss(tables);
        x86_64::registers::model_specific::GsBase::write(x86_64::VirtAddr::new(base));
        x86_64::registers::model_specific::KernelGsBase::write(x86_64::VirtAddr::new(0));
        load_idt(idt());
        enable_syscall(super::syscall_compat::kentry_syscall_compat as *const () as u64);
    }
}

/// The start-up check of the linker fragment: the sections are there, whole.
fn check_linked_sections() {
    let clac = super::smap::clac_site_count();
    assert!(
        clac == 257,
        "kentry: {clac} clac sites linked, 257 expected (256 IDT stubs, int $0x80): INCLUDE kentry-tables.ld in \
         the linker script (entry/README.md)"
    );
    let ct = &crate::context_tracking::CONTEXT_TRACKING;
    assert!(
        ct.sites().next().is_some(),
        "kentry: no context-tracking site in the jump table: INCLUDE \
         kentry-tables.ld in the linker script (entry/README.md)"
    );
}

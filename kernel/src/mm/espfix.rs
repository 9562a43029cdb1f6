//! The host's half of espfix64 (kentry's `espfix` module has the why and the address
//! arithmetic): the espfix area's PDPT exists from the first kernel page table on, so every
//! process table, which copies the kernel's PML4 upper half once, shares it; each CPU then
//! fills its own four PDPT entries with a page directory and page table of its own that alias
//! one stack page read-only, and gives kentry the page's direct-map address to write through.

use super::frame::alloc_frame;
use super::paging::{PTE_ADDR, PTE_P, kernel_table};
use super::phys_to_virt;
use core::sync::atomic::{AtomicBool, Ordering};

/// `kentry.espfix=off`: no CPU gets an espfix stack. The kernel then behaves as a host of
/// the crate that sets none up (examples/minimal): modify_ldt refuses 16-bit segments, and an
/// IRET to an LDT SS takes kentry's no-espfix way, which `cargo xtask verify` must reach too.
static OFF: AtomicBool = AtomicBool::new(false);

/// Reads `kentry.espfix=` (`off`; anything else is logged and leaves espfix on). Before the
/// first [`init_cpu`].
pub fn configure(cmdline: &str) {
    match crate::boot::cmdline_value(cmdline, "kentry.espfix") {
        None | Some("on") => {}
        Some("off") => {
            OFF.store(true, Ordering::Relaxed);
            crate::klog!("espfix: off (kentry.espfix=off): no 16-bit LDT segments");
        }
        Some(bad) => crate::klog!("kentry.espfix={bad}: not `on` nor `off`; ignored"),
    }
}

/// Sets up CPU `n`'s espfix stack and tables, unless `kentry.espfix=off`. Runs once per CPU,
/// on that CPU, with interrupts off, before it runs a user task.
pub fn init_cpu(n: usize, entry: &kentry::entry_percpu::EntryPerCpu) {
    if OFF.load(Ordering::Relaxed) {
        return;
    }
    let cpu = u32::try_from(n).expect("CPU number");
    assert!(cpu < kentry::espfix::MAX_CPUS, "CPU {n}: no espfix slot");
    let alloc = || alloc_frame().expect("no memory for the espfix stack");
    let (stack, pt, pd) = (alloc(), alloc(), alloc());
    // SAFETY: three fresh zeroed frames owned here, visible through the direct map; nothing
    // else refers to them yet.
    let (pt_table, pd_table) = unsafe {
        (
            &mut *(phys_to_virt(pt) as *mut [u64; 512]),
            &mut *(phys_to_virt(pd) as *mut [u64; 512]),
        )
    };
    kentry::espfix::fill_tables(stack, pt_table, pt, pd_table);
    let pml4e = {
        let root = kernel_table().root;
        // SAFETY: the kernel PML4, read only; its espfix entry was made by
        // build_kernel_table and never changes.
        unsafe { (*(phys_to_virt(root) as *const [u64; 512]))[kentry::espfix::PML4_INDEX] }
    };
    assert!(pml4e & PTE_P != 0, "espfix PDPT missing");
    // SAFETY: the espfix area's PDPT, shared by every address space; this CPU writes only
    // the entries kentry assigns to it, which no other CPU writes or has cached (they were
    // not present).
    let pdpt = unsafe { &mut *(phys_to_virt(pml4e & PTE_ADDR) as *mut [u64; 512]) };
    for i in kentry::espfix::pud_indices(cpu) {
        assert_eq!(pdpt[i], 0, "espfix PDPT entry {i} taken");
        pdpt[i] = pd | kentry::espfix::TABLE_FLAGS;
    }
    // SAFETY: the direct-map address of the stack page just mapped, which only kentry's exit
    // path on this CPU writes; this CPU has not run a user task yet.
    unsafe { kentry::espfix::init_cpu(entry, cpu, phys_to_virt(stack)) };
}

/// Whether every online CPU has its espfix stack (modify_ldt allows 16-bit segments only
/// then).
pub fn ready() -> bool {
    crate::smp::ipi::online_cpus().all(|(_, cpu)| kentry::espfix::available(&cpu.entry))
}

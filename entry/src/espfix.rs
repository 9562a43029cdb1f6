//! espfix64: the IRET to a 16-bit stack segment without leaking the kernel's RSP (E16).
//!
//! An IRET from 64-bit mode to compatibility mode with a 16-bit SS (descriptor B bit 0)
//! loads only SP, bits 15:0 of the stack pointer: bits 31:16 of ESP keep whatever RSP held at
//! the `iretq`. On the kernel stack those are kernel address bits, which the user then reads
//! (and a 16-bit program that relies on ESP's high half being its own breaks). Linux's answer
//! (`arch/x86/kernel/espfix_64.c`) is kentry's too: when the frame's SS comes from the LDT
//! (GDT user segments are all flat), the exit path copies the IRET frame onto a small per-CPU
//! stack whose *virtual address* has bits 31:16 equal to the user's RSP bits 31:16, and IRETs
//! from there. Every such address is an alias of one physical page, so the copy can always be
//! found; what ESP's high half shows after the IRET is then the user's own.
//!
//! Address space: PML4 slot [`PML4_INDEX`] (512 GiB at [`BASE_ADDR`]). CPU `n` owns the 4 GiB
//! at `BASE_ADDR + n << 32`: four PDPT entries → one page directory of its own, whose 512
//! entries all name one page table, whose every 16th entry (page 0 of every 64 KiB) names the
//! CPU's stack page, read-only. So `BASE_ADDR + n << 32 + X << 16 + off` (off < 4096) reaches
//! the stack page at `off` for every 16-bit X. kentry writes the frame through a writable
//! alias (the host's own mapping of the page) and only reads through the read-only ones.
//!
//! Read-only on purpose, as in Linux: if the `iretq` from the espfix stack faults (#GP, #NP,
//! #SS from a bad user frame, E14), the CPU cannot push the fault's frame there: the push
//! raises #PF, whose own push raises #DF, which has an IST stack. The #DF path
//! ([`fixup_double_fault`]) recognises the `iretq` with an espfix RSP and re-enters the kernel
//! as a #GP(0) from user mode with the user's frame, so the task gets its SIGSEGV (Linux's
//! `exc_double_fault` espfix fixup). Nothing but the final `popq`s and `iretq` ever runs on the
//! espfix stack, and NMIs and #MCs arriving there use their IST stacks (arch/iret.rs).
//!
//! The host builds the tables per CPU with [`fill_tables`] and hands kentry the stack page
//! with [`init_cpu`]; a CPU without it returns from the kernel stack (no leak protection),
//! so a host must not allow 16-bit segments unless every CPU has one ([`available`]).

use crate::entry_percpu::EntryPerCpu;
use crate::frame::HwFrame;
use core::mem::offset_of;
use core::sync::atomic::Ordering;

/// The PML4 slot of the espfix aliases (Linux's ESPFIX_PGD_ENTRY is -2 too).
pub const PML4_INDEX: usize = 510;
/// Start of the espfix area: PML4 slot [`PML4_INDEX`], sign-extended.
pub const BASE_ADDR: u64 = 0xffff_0000_0000_0000 | ((PML4_INDEX as u64) << 39);
/// Each CPU's aliases span 4 GiB: 2^16 values of bits 31:16 times 64 KiB.
pub const CPU_SPAN_SHIFT: u32 = 32;
/// PDPT entries (1 GiB each) per CPU.
pub const PUDS_PER_CPU: usize = 1 << (CPU_SPAN_SHIFT - 30);
/// How many CPUs the slot holds.
pub const MAX_CPUS: u32 = (512 / PUDS_PER_CPU) as u32;
/// 64 KiB: the alias stride. Bits 15:0 of an espfix address are the CPU's own (page 0 of a
/// 64 KiB chunk plus the offset in it), bits 31:16 the user's.
const ALIAS_STRIDE: u64 = 1 << 16;
const PAGE_SIZE: u64 = 4096;

/// Page-table entry bits (architectural).
const PTE_P: u64 = 1 << 0;
const PTE_W: u64 = 1 << 1;
const PTE_A: u64 = 1 << 5;
const PTE_G: u64 = 1 << 8;
const PTE_NX: u64 = 1 << 63;
const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

/// The espfix stack of one CPU, as the exit path fills it (through the writable alias) and
/// pops it (through a read-only one): the user's RAX, which the path needed as a scratch
/// register, then the IRET frame. RSP is pointed at `rax`.
#[repr(C)]
pub struct EspfixStack {
    /// The user's RAX, popped right before the `iretq`.
    pub rax: u64,
    /// The IRET frame, copied from the kernel stack.
    pub iret: HwFrame,
    /// Unused, so the block is 64 bytes (as Linux's ESPFIX_STACK_SIZE).
    pub spare: [u64; 2],
}

/// Where in the stack page the [`EspfixStack`] lies: at the page's end, so that the fault
/// frame a bad `iretq` would push lies below it in the same (read-only) page.
pub const STACK_OFFSET: u64 = PAGE_SIZE - core::mem::size_of::<EspfixStack>() as u64;

/// Offsets the exit stub takes as `const` operands.
pub const OFFSET_RAX: usize = offset_of!(EspfixStack, rax);
/// The IRET frame's RIP in the espfix stack.
pub const OFFSET_RIP: usize = offset_of!(EspfixStack, iret) + offset_of!(HwFrame, rip);
/// The IRET frame's CS in the espfix stack.
pub const OFFSET_CS: usize = offset_of!(EspfixStack, iret) + offset_of!(HwFrame, cs);
/// The IRET frame's RFLAGS in the espfix stack.
pub const OFFSET_RFLAGS: usize = offset_of!(EspfixStack, iret) + offset_of!(HwFrame, rflags);
/// The IRET frame's RSP in the espfix stack.
pub const OFFSET_RSP: usize = offset_of!(EspfixStack, iret) + offset_of!(HwFrame, rsp);
/// The IRET frame's SS in the espfix stack.
pub const OFFSET_SS: usize = offset_of!(EspfixStack, iret) + offset_of!(HwFrame, ss);

const _: () = {
    assert!(core::mem::size_of::<EspfixStack>() == 64);
    assert!(OFFSET_RAX == 0);
    // The whole block stays inside one page and below bit 16, so adding the user's bits 31:16
    // can never carry into them.
    assert!(STACK_OFFSET + 64 <= PAGE_SIZE);
    assert!(STACK_OFFSET.is_multiple_of(16));
    assert!(MAX_CPUS == 128);
};

/// The read-only alias of CPU `cpu`'s espfix stack with bits 31:16 zero; the exit path ORs
/// the user's RSP bits 31:16 into it.
pub const fn stack_base(cpu: u32) -> u64 {
    assert!(cpu < MAX_CPUS);
    BASE_ADDR + ((cpu as u64) << CPU_SPAN_SHIFT) + STACK_OFFSET
}

/// Whether `addr` lies in the espfix area (any CPU's aliases).
#[inline(always)]
pub const fn is_espfix_address(addr: u64) -> bool {
    addr >> 39 == BASE_ADDR >> 39
}

/// The PDPT entries (indices into the table that PML4 slot [`PML4_INDEX`] names) that CPU
/// `cpu` owns: each must name the page directory [`fill_tables`] filled, with
/// [`TABLE_FLAGS`].
pub const fn pud_indices(cpu: u32) -> core::ops::Range<usize> {
    assert!(cpu < MAX_CPUS);
    let first = cpu as usize * PUDS_PER_CPU;
    first..first + PUDS_PER_CPU
}

/// Flags of the non-leaf entries (PML4, PDPT, page directory): present, writable (the
/// leaves decide), supervisor.
pub const TABLE_FLAGS: u64 = PTE_P | PTE_W;

/// Fills one CPU's page directory and page table: every page-directory entry names the page
/// table (physical `pte_table_pa`), and the page table maps page 0 of each of its 32 64-KiB
/// chunks to the stack page (physical `stack_pa`), read-only, global, not executable. Other
/// entries are left zero (not present).
pub fn fill_tables(
    stack_pa: u64,
    pte_table: &mut [u64; 512],
    pte_table_pa: u64,
    page_directory: &mut [u64; 512],
) {
    assert!(stack_pa.is_multiple_of(PAGE_SIZE) && pte_table_pa.is_multiple_of(PAGE_SIZE));
    let pages_per_alias = (ALIAS_STRIDE / PAGE_SIZE) as usize;
    for (i, e) in pte_table.iter_mut().enumerate() {
        *e = if i % pages_per_alias == 0 {
            (stack_pa & PTE_ADDR) | PTE_P | PTE_A | PTE_G | PTE_NX
        } else {
            0
        };
    }
    for e in page_directory.iter_mut() {
        *e = (pte_table_pa & PTE_ADDR) | TABLE_FLAGS;
    }
}

/// Gives CPU `cpu` (whose entry area is `percpu`) its espfix stack: `writable_page` is a
/// writable kernel mapping of the stack page that [`fill_tables`] mapped read-only for this
/// CPU, and the tables must be live in every address space this CPU runs user tasks in.
///
/// # Safety
/// `writable_page` must map that page, stay mapped, and be written by nothing else; call it
/// on CPU `cpu` before it returns to a user task whose SS may name the LDT (or on another CPU
/// before CPU `cpu` starts).
pub unsafe fn init_cpu(percpu: &EntryPerCpu, cpu: u32, writable_page: u64) {
    assert!(writable_page.is_multiple_of(PAGE_SIZE));
    percpu
        .espfix_waddr
        .store(writable_page + STACK_OFFSET, Ordering::Relaxed);
    percpu
        .espfix_stack
        .store(stack_base(cpu), Ordering::Relaxed);
}

/// Whether `percpu`'s CPU has an espfix stack (a host checks every CPU before it allows
/// 16-bit segments).
pub fn available(percpu: &EntryPerCpu) -> bool {
    percpu.espfix_waddr.load(Ordering::Relaxed) != 0
}

#[cfg(any(target_os = "none", doc))]
pub use imp::fixup_double_fault;

#[cfg(any(target_os = "none", doc))]
mod imp {
    use crate::frame::Regs;
    use core::sync::atomic::Ordering;

    unsafe extern "C" {
        static kentry_idt_stubs: u8;
    }

    /// The #DF that a faulting `iretq` from the espfix stack becomes (module comment): moves
    /// the IRET frame to the top of the task's kernel stack below an error code 0, and points
    /// the #DF's return at the #GP stub, so the kernel is entered again as by a #GP(0) from
    /// user mode with the user's frame (Linux's `exc_double_fault` espfix fixup). Returns
    /// whether it did; the paranoid path then returns at once, and its `iretq` restores the
    /// GS base it found (the user's, as the #GP stub expects from user mode) and the user's
    /// GPRs.
    #[inline(always)]
    pub fn fixup_double_fault(regs: &mut Regs) -> bool {
        if regs.user_mode()
            || regs.rip != crate::irqentry::iret_to_user_address()
            || !super::is_espfix_address(regs.rsp)
            || !crate::test_hooks::enabled(crate::test_hooks::Check::EspfixDf)
        {
            return false;
        }
        let top = crate::entry_percpu::this_cpu()
            .task_stack_top
            .load(Ordering::Relaxed);
        // The frame a #GP from user mode leaves on the task stack: error code, then the five
        // words the CPU pushes, ending at the (16-byte aligned) stack top.
        let gp = top - 6 * 8;
        // SAFETY: regs.rsp is the read-only espfix alias the `iretq` ran on, at the five-word
        // IRET frame the exit path copied there (mapped for as long as the kernel runs). The
        // task's kernel stack is unused: this CPU was leaving the kernel for user mode, with
        // IF=0, and the paranoid path runs on the #DF IST stack.
        unsafe {
            let iret = core::ptr::read(regs.rsp as *const [u64; 5]);
            let frame = gp as *mut u64;
            frame.write(0);
            for (i, w) in iret.iter().enumerate() {
                frame.add(1 + i).write(*w);
            }
        }
        let gp_stub = core::ptr::addr_of!(kentry_idt_stubs) as u64
            + u64::from(crate::vectors::GP) * crate::idt::STUB_STRIDE;
        regs.rip = gp_stub;
        regs.rsp = gp;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks `va` through one CPU's tables as the MMU would (PDPT index from the CPU's range).
    fn walk(
        va: u64,
        cpu: u32,
        pd: &[u64; 512],
        pd_pa: u64,
        pt: &[u64; 512],
        pt_pa: u64,
    ) -> Option<(u64, u64)> {
        assert!(is_espfix_address(va));
        let pud = ((va >> 30) & 0x1ff) as usize;
        if !pud_indices(cpu).contains(&pud) {
            return None;
        }
        let _ = pd_pa;
        let pde = pd[((va >> 21) & 0x1ff) as usize];
        assert_eq!(pde & PTE_ADDR, pt_pa);
        assert_eq!(pde & 0xfff, 0x3);
        let pte = pt[((va >> 12) & 0x1ff) as usize];
        if pte & PTE_P == 0 {
            return None;
        }
        Some(((pte & PTE_ADDR) | (va & 0xfff), pte))
    }

    #[test]
    fn addresses_worked_out_by_hand() {
        assert_eq!(BASE_ADDR, 0xffff_ff00_0000_0000);
        assert_eq!(stack_base(0), 0xffff_ff00_0000_0fc0);
        assert_eq!(stack_base(1), 0xffff_ff01_0000_0fc0);
        assert_eq!(stack_base(127), 0xffff_ff7f_0000_0fc0);
        assert_eq!(pud_indices(0), 0..4);
        assert_eq!(pud_indices(3), 12..16);
        assert!(is_espfix_address(0xffff_ff7f_ffff_ffff));
        assert!(!is_espfix_address(0xffff_ff80_0000_0000));
        assert!(!is_espfix_address(0xffff_feff_ffff_ffff));
        assert_eq!(OFFSET_RIP, 8);
        assert_eq!(OFFSET_SS, 40);
    }

    #[test]
    fn every_alias_reaches_the_stack_page_read_only() {
        let (stack_pa, pt_pa, pd_pa) = (0x0012_3000, 0x0045_6000, 0x0078_9000);
        let (mut pt, mut pd) = ([0xdead_u64; 512], [0xdead_u64; 512]);
        fill_tables(stack_pa, &mut pt, pt_pa, &mut pd);
        assert_eq!(pt.iter().filter(|&&e| e != 0).count(), 32);
        for cpu in [0, 1, 7, 127] {
            for user_high in [0u64, 1, 0x1234, 0x8000, 0xedcb, 0xffff] {
                let va = stack_base(cpu) | (user_high << 16);
                // Bits 31:16 are exactly the user's: what ESP shows after the IRET.
                assert_eq!((va >> 16) & 0xffff, user_high);
                for word in 0..8 {
                    let (pa, pte) = walk(va + word * 8, cpu, &pd, pd_pa, &pt, pt_pa)
                        .expect("every alias is mapped");
                    assert_eq!(pa, 0x0012_3fc0 + word * 8);
                    assert_eq!(pte & PTE_W, 0, "read-only");
                    assert_ne!(pte & PTE_NX, 0);
                }
                // The #GP frame a bad iretq would push lies below, in the same page: mapped
                // read-only too, so the push faults (#PF) rather than reaching another page.
                let (pa, pte) = walk(va - 48, cpu, &pd, pd_pa, &pt, pt_pa).unwrap();
                assert_eq!(pa, 0x0012_3f90);
                assert_eq!(pte & PTE_W, 0);
            }
        }
        // Pages 1..15 of a 64 KiB chunk are not mapped: nothing else is reachable there.
        assert!(walk(stack_base(0) + 0x1000, 0, &pd, pd_pa, &pt, pt_pa).is_none());
        // Another CPU's range is not this CPU's tables.
        assert!(walk(stack_base(1), 0, &pd, pd_pa, &pt, pt_pa).is_none());
    }
}

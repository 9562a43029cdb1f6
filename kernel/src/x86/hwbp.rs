//! In-kernel hardware breakpoints, for tests: one per CPU, in DR3, held while preemption is
//! off (the context switch owns the debug registers otherwise).
//!
//! No breakpoint may cover what the entry paths touch before they can take a #DB, or what a
//! #DB handler itself runs on (E22, E23): [`install`] refuses the entry text, every CPU's
//! per-CPU area (kentry's entry words, reached through GS from a stub's first instructions),
//! GDT, TSS and IST stacks, the IDT, and every task stack (a watchpoint there fires inside
//! any entry that pushes a frame on it). Linux refuses the same things (`within_cpu_entry`
//! in arch/x86/kernel/hw_breakpoint.c, and the kprobe blacklist for execute breakpoints).

use crate::percpu::{MAX_CPUS, cpu_area, this_cpu};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use kentry_kernel_logic::debugreg::DR7_FIXED_1;

/// What an in-kernel breakpoint watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HwbpKind {
    Execute = 0,
    Write = 1,
    ReadWrite = 3,
}

/// Why [`install`] said no. Each region refusal has a test (test/selftests/hwbp.rs) and a
/// negative run that switches it off (`kentry.break=hwbp_<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Refusal {
    EntryText = 1,
    PerCpuEntryData = 2,
    Gdt = 3,
    Idt = 4,
    Tss = 5,
    IstStack = 6,
    TaskStack = 7,
    /// A length other than 1, 2, 4 or 8, an unaligned address, or an execute breakpoint
    /// longer than 1.
    BadShape = 8,
    /// DR3 is in use on this CPU (the running task's, or another in-kernel breakpoint).
    Busy = 9,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::EntryText => "entry text",
            Refusal::PerCpuEntryData => "per-CPU entry data",
            Refusal::Gdt => "GDT",
            Refusal::Idt => "IDT",
            Refusal::Tss => "TSS",
            Refusal::IstStack => "IST stack",
            Refusal::TaskStack => "task stack",
            Refusal::BadShape => "bad length or alignment",
            Refusal::Busy => "DR3 busy",
        }
    }
}

/// Test kernels (`kentry.break=hwbp_*`): the region refusal that is switched off (0: none).
pub static BREAK_REFUSAL: AtomicU8 = AtomicU8::new(0);

/// Test kernels: switches refusal `r` off (`kentry.break=hwbp_*`).
#[cfg(feature = "test-hooks")]
pub fn break_refusal(r: Refusal) {
    crate::klog!(
        "test hook: in-kernel breakpoints on the {} are not refused",
        r.name()
    );
    BREAK_REFUSAL.store(r as u8, Ordering::Relaxed);
}

/// Hits of in-kernel breakpoints, all CPUs.
pub static HITS: AtomicU64 = AtomicU64::new(0);

const SLOT: usize = 3;

/// An installed breakpoint; dropping it disarms it. Holds preemption off.
pub struct KernelBreakpoint {
    _no_preempt: crate::preempt::PreemptGuard,
}

unsafe extern "C" {
    static __kentry_text_start: u8;
    static __kentry_text_end: u8;
}

/// Which protected region `[start, end]` overlaps, if any.
fn protected_region(start: u64, end: u64) -> Option<Refusal> {
    let broken = BREAK_REFUSAL.load(Ordering::Relaxed);
    let overlaps = |lo: u64, len: u64| end >= lo && start < lo + len;
    let hit = |r: Refusal, lo: u64, len: u64| (broken != r as u8 && overlaps(lo, len)).then_some(r);
    let text = (
        core::ptr::addr_of!(__kentry_text_start) as u64,
        core::ptr::addr_of!(__kentry_text_end) as u64,
    );
    if let Some(r) = hit(Refusal::EntryText, text.0, text.1 - text.0) {
        return Some(r);
    }
    let (idt_base, idt_limit) = sidt();
    if let Some(r) = hit(Refusal::Idt, idt_base, idt_limit as u64 + 1) {
        return Some(r);
    }
    for n in 0..MAX_CPUS {
        let cpu = cpu_area(n);
        let tables = cpu.tables.get();
        // SAFETY: only the addresses of the tables are taken, no reference to their contents.
        let (gdt, tss) = unsafe {
            (
                core::ptr::addr_of!((*tables).gdt),
                core::ptr::addr_of!((*tables).tss),
            )
        };
        if let Some(r) = hit(Refusal::Gdt, gdt as u64, size_of_val_raw(gdt)) {
            return Some(r);
        }
        if let Some(r) = hit(Refusal::Tss, tss as u64, size_of_val_raw(tss)) {
            return Some(r);
        }
        // SAFETY: each CPU's IST stack records are written once, at its setup.
        let ist = unsafe { &*cpu.ist_stacks.get() };
        for s in ist.iter().flatten() {
            if let Some(r) = hit(Refusal::IstStack, s.guard, s.top - s.guard) {
                return Some(r);
            }
        }
        let area = cpu as *const crate::percpu::PerCpu as u64;
        let size = core::mem::size_of::<crate::percpu::PerCpu>() as u64;
        if let Some(r) = hit(Refusal::PerCpuEntryData, area, size) {
            return Some(r);
        }
    }
    // Every other registered stack is a task's (or a kernel thread's, or an AP's boot
    // stack): an entry pushes its frame there. A breakpoint is at most 8 bytes, aligned, so
    // it lies in one page: its two ends name the stack.
    for a in [start, end] {
        if let Some(s) = crate::mm::stack::containing(a)
            && let Some(r) = hit(Refusal::TaskStack, s.guard, s.top - s.guard)
        {
            return Some(r);
        }
    }
    let (lo, hi) = crate::percpu::boot_stack_range();
    hit(Refusal::TaskStack, lo, hi - lo)
}

fn size_of_val_raw<T>(_: *const T) -> u64 {
    core::mem::size_of::<T>() as u64
}

/// The IDT's base and limit, as the CPU has them.
fn sidt() -> (u64, u16) {
    let mut d = [0u8; 10];
    // SAFETY: SIDT stores 10 bytes into the buffer.
    unsafe { core::arch::asm!("sidt [{}]", in(reg) d.as_mut_ptr(), options(nostack)) };
    let limit = u16::from_le_bytes([d[0], d[1]]);
    let mut base = [0u8; 8];
    base.copy_from_slice(&d[2..10]);
    (u64::from_le_bytes(base), limit)
}

/// Arms a breakpoint on this CPU: `len` bytes at `addr` (1, 2, 4 or 8, aligned; an execute
/// breakpoint: 1). Refused where a #DB must never come from (see the module comment).
pub fn install(addr: u64, len: u64, kind: HwbpKind) -> Result<KernelBreakpoint, Refusal> {
    let len_bits = match (kind, len) {
        (HwbpKind::Execute, 1) => 0b00,
        (HwbpKind::Execute, _) => return Err(Refusal::BadShape),
        (_, 1) => 0b00,
        (_, 2) => 0b01,
        (_, 4) => 0b11,
        (_, 8) => 0b10,
        _ => return Err(Refusal::BadShape),
    };
    if addr & (len - 1) != 0 {
        return Err(Refusal::BadShape);
    }
    if let Some(r) = protected_region(addr, addr + len - 1) {
        return Err(r);
    }
    let guard = crate::preempt::guard();
    let cpu = this_cpu();
    let task = crate::percpu::current_task_ptr();
    // SAFETY: `current` points at a live task while set (task::current).
    let task_uses_slot = cpu.debugreg.task_dr_live()
        && !task.is_null()
        && unsafe { (*task).debugreg.hw_dr7() } & (3 << (2 * SLOT)) != 0;
    if task_uses_slot || cpu.debugreg.kernel_slot.load(Ordering::Relaxed) != 0 {
        return Err(Refusal::Busy);
    }
    let field = (kind as u64 | len_bits << 2) << (16 + 4 * SLOT) | 2 << (2 * SLOT);
    x86_64::instructions::interrupts::without_interrupts(|| {
        cpu.debugreg
            .kernel_slot
            .store(kind as u8 + 1, Ordering::Relaxed);
        // SAFETY: DR3 is free (checked above) and `addr` lies in none of the regions an entry
        // path or the #DB handler touches; DR7 keeps the other slots as they are.
        unsafe {
            core::arch::asm!("mov dr3, {}", in(reg) addr, options(nostack, nomem));
            let dr7 = read_dr7() & !(0xf << (16 + 4 * SLOT) | 3 << (2 * SLOT));
            core::arch::asm!("mov dr7, {}", in(reg) dr7 | field | DR7_FIXED_1, options(nostack, nomem));
        }
    });
    Ok(KernelBreakpoint { _no_preempt: guard })
}

impl Drop for KernelBreakpoint {
    fn drop(&mut self) {
        x86_64::instructions::interrupts::without_interrupts(|| {
            // SAFETY: turns DR3's breakpoint off, leaving the other slots as they are.
            unsafe {
                let dr7 = read_dr7() & !(0xf << (16 + 4 * SLOT) | 3 << (2 * SLOT));
                core::arch::asm!("mov dr7, {}", in(reg) dr7 | DR7_FIXED_1, options(nostack, nomem));
            }
            this_cpu().debugreg.kernel_slot.store(0, Ordering::Relaxed);
        });
    }
}

fn read_dr7() -> u64 {
    let v: u64;
    // SAFETY: reading DR7 at CPL 0 has no side effect.
    unsafe { core::arch::asm!("mov {}, dr7", out(reg) v, options(nostack, nomem)) };
    v
}

/// From the kernel-mode #DB handler: which DR6 bits (positive polarity) this CPU's
/// in-kernel breakpoint explains, counted in [`HITS`], and whether it was an execute
/// breakpoint (the return must set RF).
pub fn note_hits(dr6: u64) -> (u64, bool) {
    let kind = this_cpu().debugreg.kernel_slot.load(Ordering::Relaxed);
    if kind == 0 || dr6 & (1 << SLOT) == 0 {
        return (0, false);
    }
    HITS.fetch_add(1, Ordering::Relaxed);
    (1 << SLOT, kind == HwbpKind::Execute as u8 + 1)
}

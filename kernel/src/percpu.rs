//! Per-CPU data, reached through the GS base from the first instruction of every entry.
//!
//! One area per CPU, up to MAX_CPUS; `smp` brings up the APs.

use crate::mm::stack::KernelStack;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kentry::entry_percpu::EntryPerCpu;
use kentry::gdt::CpuTables;

pub const MAX_CPUS: usize = 64;

/// Counters of entries, by kind — what tests read to prove an event really happened.
#[derive(Default)]
pub struct EntryCounters {
    pub syscalls: AtomicU64,
    pub irq_from_user: AtomicU64,
    pub irq_from_kernel: AtomicU64,
    pub exceptions_from_user: AtomicU64,
    pub exceptions_from_kernel: AtomicU64,
    pub nmis: AtomicU64,
    pub nmis_from_user: AtomicU64,
    pub machine_checks: AtomicU64,
    /// #AC exceptions from user mode: the capability probe behind the SKIP of the #AC tests
    /// (QEMU TCG never raises #AC; a CPU that does must not see them skip).
    pub ac_from_user: AtomicU64,
    pub timer_ticks: AtomicU64,
    /// IPIs taken, by kind (/proc/interrupts' RES, CAL and TLB rows).
    pub ipi_reschedule: AtomicU64,
    pub ipi_call: AtomicU64,
    pub ipi_tlb: AtomicU64,
    /// nohz_full: times this CPU stopped its periodic tick, and restarted it.
    pub tick_stops: AtomicU64,
    pub tick_restarts: AtomicU64,
}

impl EntryCounters {
    pub const fn new() -> Self {
        EntryCounters {
            syscalls: AtomicU64::new(0),
            irq_from_user: AtomicU64::new(0),
            irq_from_kernel: AtomicU64::new(0),
            exceptions_from_user: AtomicU64::new(0),
            exceptions_from_kernel: AtomicU64::new(0),
            nmis: AtomicU64::new(0),
            nmis_from_user: AtomicU64::new(0),
            machine_checks: AtomicU64::new(0),
            ac_from_user: AtomicU64::new(0),
            timer_ticks: AtomicU64::new(0),
            ipi_reschedule: AtomicU64::new(0),
            ipi_call: AtomicU64::new(0),
            ipi_tlb: AtomicU64::new(0),
            tick_stops: AtomicU64::new(0),
            tick_restarts: AtomicU64::new(0),
        }
    }

    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

#[repr(C, align(64))]
pub struct PerCpu {
    /// kentry's part; must stay first (GS:0 is its self pointer).
    pub entry: EntryPerCpu,
    pub tables: UnsafeCell<CpuTables>,
    pub counters: EntryCounters,
    /// The running task (null while the CPU runs its boot context).
    pub current: UnsafeCell<*mut crate::task::Task>,
    pub ist_stacks: UnsafeCell<[Option<KernelStack>; kentry::gdt::ist::COUNT]>,
    /// An NMI hook for self-tests (test kernels), run from the NMI handler with the NMI's
    /// frame.
    pub nmi_hook: UnsafeCell<Option<fn(&kentry::Regs)>>,
    /// The running task's preempt count (preempt.rs), changed only by single GS-relative
    /// instructions of this CPU; saved into the task and reloaded at each switch.
    pub preempt_count: AtomicU32,
    /// Test kernels: interrupt handlers running on this CPU (hardirq depth, lockcheck.rs),
    /// changed by single GS-relative instructions.
    pub hardirq_depth: AtomicU32,
    /// nohz_full's transition accounting (nohz/vtime.rs): written only by this CPU.
    pub vtime: crate::nohz::vtime::VtimeCpu,
    /// Nonzero: a nohz_full CPU is to decide about its tick at its next return to user mode
    /// (`nohz::request_tick_recheck`); set by any CPU, taken by this one.
    pub tick_recheck: AtomicU32,
    /// Recovered machine checks of this CPU, printed by its next timer tick (x86/mce.rs).
    pub mce_log: crate::x86::mce::DeferredLog,
    /// Whose breakpoints this CPU's debug registers hold (x86/debugreg.rs, x86/hwbp.rs).
    pub debugreg: crate::x86::debugreg::CpuDebugRegs,
}

// SAFETY: each PerCpu is only mutated by its own CPU (with interrupts off where an interrupt
// handler also touches the field); other CPUs only use the atomics.
unsafe impl Sync for PerCpu {}

const _: () = assert!(core::mem::offset_of!(PerCpu, entry) == 0);

impl PerCpu {
    const fn new() -> Self {
        PerCpu {
            entry: EntryPerCpu::new(0),
            tables: UnsafeCell::new(CpuTables::new()),
            counters: EntryCounters::new(),
            current: UnsafeCell::new(core::ptr::null_mut()),
            ist_stacks: UnsafeCell::new([None; kentry::gdt::ist::COUNT]),
            nmi_hook: UnsafeCell::new(None),
            preempt_count: AtomicU32::new(crate::preempt::KERNEL_DEFAULT),
            hardirq_depth: AtomicU32::new(0),
            vtime: crate::nohz::vtime::VtimeCpu::new(),
            tick_recheck: AtomicU32::new(0),
            mce_log: crate::x86::mce::DeferredLog::new(),
            debugreg: crate::x86::debugreg::CpuDebugRegs::new(),
        }
    }
}

static PERCPU: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];

/// Whether `addr` is the start of one of the per-CPU areas. Inlined: the T1 tripwire calls it
/// in the entry text, before context tracking says "kernel" (noinstr).
#[inline(always)]
pub fn is_percpu_base(addr: u64) -> bool {
    let start = PERCPU.as_ptr() as u64;
    let size = core::mem::size_of::<PerCpu>() as u64;
    addr >= start && addr < start + size * MAX_CPUS as u64 && (addr - start).is_multiple_of(size)
}

unsafe extern "C" {
    static boot_stack: u8;
    static boot_stack_top: u8;
}

/// Whether `rsp` lies on a kernel stack of this CPU: the running task's, one of its IST
/// stacks, or (before the first task) the boot stack. Reads only this CPU's own data.
/// Inlined: the T2 tripwire calls it in the entry text, before the transition (noinstr).
#[inline(always)]
pub fn on_kernel_stack(rsp: u64) -> bool {
    let cpu = this_cpu();
    let within = |lo: u64, hi: u64| rsp >= lo && rsp <= hi;
    let task = current_task_ptr();
    // SAFETY: `current` points at a live task while set (see task::current).
    if !task.is_null() && unsafe { within((*task).kstack.bottom, (*task).kstack.top) } {
        return true;
    }
    // SAFETY: this CPU's IST stack records are written once at CPU setup.
    let ist = unsafe { &*cpu.ist_stacks.get() };
    if ist.iter().flatten().any(|s| within(s.bottom, s.top)) {
        return true;
    }
    within(
        core::ptr::addr_of!(boot_stack) as u64,
        core::ptr::addr_of!(boot_stack_top) as u64,
    )
}

/// The boot stack: [bottom, top).
pub fn boot_stack_range() -> (u64, u64) {
    (
        core::ptr::addr_of!(boot_stack) as u64,
        core::ptr::addr_of!(boot_stack_top) as u64,
    )
}

/// Points GS at CPU `n`'s area as the CPU's first step, before anything takes a lock: every
/// lock raises the preempt count in the per-CPU area (preempt.rs). kentry's `init_cpu` sets
/// the same base again later.
pub fn early_gs_base(n: usize) {
    let base = &PERCPU[n] as *const PerCpu as u64;
    // The per-CPU area is a static of the kernel image, mapped from the first instruction;
    // nothing read through GS yet on this CPU.
    x86_64::registers::model_specific::GsBase::write(x86_64::VirtAddr::new(base));
}

/// Fatal-report paths (panic, kernel fault report): if the live GS base is not a per-CPU area
/// (a negative test that skips a `swapgs` leaves the user's live), point it at this CPU's
/// area again, found by its APIC ID. The report takes locks, and every lock raises the preempt
/// count through GS: on the user's GS base that would fault again and recurse until the
/// stack overflows, before the report names what went wrong.
pub fn repair_gs_base_for_report() {
    let live = x86_64::registers::model_specific::GsBase::read().as_u64();
    if is_percpu_base(live) {
        return;
    }
    // CPUID leaf 1: EBX[31:24] is the initial APIC ID (IDs above 255 do not occur here).
    let apic = core::arch::x86_64::__cpuid(1).ebx >> 24;
    let n = (0..MAX_CPUS)
        .find(|&n| crate::smp::apic_id(n) == apic)
        .unwrap_or(0);
    early_gs_base(n);
}

/// The per-CPU area of CPU `n` (for setup, before GS points at it).
pub fn cpu_area(n: usize) -> &'static PerCpu {
    &PERCPU[n]
}

/// The running task, read with one GS-relative load (the syscall fast path's `current`).
#[inline(always)]
pub fn current_task_ptr() -> *mut crate::task::Task {
    let p: *mut crate::task::Task;
    // SAFETY: GS points at this CPU's PerCpu in kernel context; `current` is a plain pointer
    // (UnsafeCell has its inner type's layout), changed only by this CPU with IRQs off.
    unsafe {
        core::arch::asm!(
            "mov {p}, qword ptr gs:[{off}]",
            off = const core::mem::offset_of!(PerCpu, current),
            p = out(reg) p,
            options(nostack, readonly, preserves_flags),
        );
    }
    p
}

/// This CPU's per-CPU area.
#[inline(always)]
pub fn this_cpu() -> &'static PerCpu {
    let e = kentry::entry_percpu::this_cpu();
    // SAFETY: EntryPerCpu is the first field of PerCpu (asserted above), and GS points at a
    // PerCpu in PERCPU.
    unsafe { &*(e as *const EntryPerCpu as *const PerCpu) }
}

//! More than one CPU: discovery (ACPI MADT), AP start-up (INIT-SIPI-SIPI into the trampoline),
//! the online mask, and the IPIs (`ipi`).
//!
//! Each AP gets what the boot CPU has: its per-CPU area, GDT/TSS/IST stacks with guard pages,
//! GS base, IDT and SYSCALL MSRs through kentry's `init_cpu`, its local APIC and timer, and
//! an idle task, whose loop runs the scheduler (sched/mod.rs: per-CPU run queues).

pub mod ipi;
pub mod tlb;
mod trampoline;

use crate::mm::paging::{PTE_P, PTE_PS, PTE_W};
use crate::mm::{frame, paging, phys_to_virt};
use crate::percpu::{MAX_CPUS, cpu_area};
use crate::task::{Task, TaskRef};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use spin::Once;
use x86_64::instructions::interrupts;

/// The local APIC ID of each CPU by kernel CPU number (0: the boot CPU).
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// The CPUs the firmware lists (the boot CPU first).
static POSSIBLE: AtomicU32 = AtomicU32::new(1);
/// Bit n: CPU n is up and takes interrupts.
static ONLINE: AtomicU64 = AtomicU64::new(1);
/// The APs' idle tasks, kept alive for the whole run.
static IDLE_TASKS: crate::sync::Mutex<Vec<TaskRef>> = crate::sync::Mutex::new(Vec::new());
/// The timer period every CPU's APIC timer uses.
static TIMER_PERIOD: Once<u32> = Once::new();

/// Records the CPUs the MADT lists (called on the boot CPU while low memory is identity
/// mapped). Without a MADT the machine is taken to have one CPU.
pub fn discover(rsdp: u64) {
    let boot_id = crate::x86::apic::id_from_cpuid();
    APIC_IDS[0].store(boot_id, Ordering::Relaxed);
    let Some(list) = crate::x86::madt::discover(rsdp) else {
        crate::klog!("smp: no ACPI MADT; one CPU");
        return;
    };
    let mut n = 1;
    for &id in &list.apic_ids[..list.count] {
        if id != boot_id && n < MAX_CPUS {
            APIC_IDS[n].store(id, Ordering::Relaxed);
            n += 1;
        }
    }
    POSSIBLE.store(n as u32, Ordering::Relaxed);
}

/// The number of CPUs the firmware lists (online or not).
pub fn possible_count() -> usize {
    POSSIBLE.load(Ordering::Relaxed) as usize
}

/// The number of CPUs online.
pub fn online_count() -> u32 {
    ONLINE.load(Ordering::Acquire).count_ones()
}

/// The online CPUs as a bit mask.
pub fn online_mask() -> u64 {
    ONLINE.load(Ordering::Acquire)
}

/// The CPUs in `mask`, lowest first: one step per set bit, not one per possible CPU (the
/// call-function sender walks its targets this way: 442 → about 50 instructions at -smp 2).
pub fn cpus_in(mask: u64) -> impl Iterator<Item = usize> {
    let mut rest = mask;
    core::iter::from_fn(move || {
        (rest != 0).then(|| {
            let cpu = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            cpu
        })
    })
}

/// Whether CPU `n` is online.
pub fn is_online(n: usize) -> bool {
    n < MAX_CPUS && online_mask() & (1 << n) != 0
}

/// The APIC ID of CPU `n`.
pub fn apic_id(n: usize) -> u32 {
    APIC_IDS[n].load(Ordering::Relaxed)
}

/// This CPU's kernel number.
pub fn this_cpu_id() -> usize {
    crate::percpu::this_cpu().entry.cpu() as usize
}

/// The trampoline page table: the kernel's upper half (shared PML4 entries) and an identity
/// map of the first 2 MiB (where the trampoline runs), executable.
fn trampoline_table() -> u64 {
    let kernel = paging::kernel_table().root;
    let alloc = || frame::alloc_frame().expect("no memory for the AP trampoline table");
    let (pml4, pdpt, pd) = (alloc(), alloc(), alloc());
    let t = |pa: u64| phys_to_virt(pa) as *mut u64;
    // SAFETY: three fresh zeroed frames owned here; the kernel PML4 is only read.
    unsafe {
        for i in 256..512 {
            *t(pml4).add(i) = *t(kernel).add(i);
        }
        *t(pml4) = pdpt | PTE_P | PTE_W;
        *t(pdpt) = pd | PTE_P | PTE_W;
        *t(pd) = PTE_P | PTE_W | PTE_PS;
    }
    pml4
}

/// Starts every AP the MADT listed, one at a time; returns when each is online or has
/// failed to come up within a second. Runs in a task with interrupts on (the boot CPU's
/// timer measures the waits).
pub fn start_aps(timer_period: u32) {
    TIMER_PERIOD.call_once(|| timer_period);
    let possible = POSSIBLE.load(Ordering::Relaxed) as usize;
    if possible == 1 {
        return;
    }
    let pml4 = trampoline_table();
    let kernel_cr3 = paging::kernel_table().root;
    for cpu in 1..possible {
        prepare_cpu(cpu);
        let stack = crate::mm::stack::alloc_stack(4, "AP boot stack");
        // SAFETY: the previous AP is online (or never arrived and is not expected to), so no
        // CPU runs the trampoline.
        unsafe {
            trampoline::install(&trampoline::ApStart {
                pml4,
                kernel_cr3,
                stack_top: stack.top,
                cpu: cpu as u64,
                entry: ap_main,
            });
        }
        let id = apic_id(cpu);
        let sipi = crate::x86::apic::ICR_STARTUP | (trampoline::TRAMPOLINE_PHYS >> 12) as u32;
        crate::x86::apic::send_icr(id, crate::x86::apic::ICR_INIT);
        wait_ticks(10);
        crate::x86::apic::send_icr(id, sipi);
        wait_ticks(1);
        if !is_online(cpu) {
            crate::x86::apic::send_icr(id, sipi);
        }
        let deadline = crate::sched::ticks() + 1000;
        while !is_online(cpu) && crate::sched::ticks() < deadline {
            core::hint::spin_loop();
        }
        if !is_online(cpu) {
            crate::klog!("smp: CPU {cpu} (APIC {id}) did not come up");
        }
    }
    crate::klog!("smp: {} of {possible} CPUs online", online_count());
}

fn wait_ticks(n: u64) {
    let until = crate::sched::ticks() + n;
    while crate::sched::ticks() < until {
        core::hint::spin_loop();
    }
}

/// What an AP needs that takes locks and allocates, made by the boot CPU: its IST stacks and
/// its idle task.
fn prepare_cpu(cpu: usize) {
    let area = cpu_area(cpu);
    let alloc = |name| crate::mm::stack::alloc_stack(4, name);
    let stacks = [
        Some(alloc("#DF IST stack (AP)")),
        Some(alloc("NMI IST stack (AP)")),
        Some(alloc("#DB IST stack (AP)")),
        Some(alloc("#MC IST stack (AP)")),
    ];
    let idle = crate::sched::new_idle();
    // SAFETY: CPU `cpu` is not running yet; its per-CPU area is written here and read by it
    // after it is started (the trampoline slots are written after, and the STARTUP IPI
    // orders them).
    unsafe {
        *area.ist_stacks.get() = stacks;
        *area.current.get() = alloc::sync::Arc::as_ptr(&idle) as *mut Task;
    }
    interrupts::without_interrupts(|| IDLE_TASKS.lock().push(idle));
}

/// An AP's first Rust: the kernel's page table, control registers, kentry's per-CPU set-up,
/// the local APIC and its timer, then into the idle task (the boot stack is abandoned).
extern "C" fn ap_main(cpu: u64, kernel_cr3: u64) -> ! {
    // SAFETY: the kernel table maps everything the trampoline table's upper half does (they
    // share those entries), including this stack and this code.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) kernel_cr3, options(nostack)) };
    let cpu = cpu as usize;
    crate::percpu::early_gs_base(cpu);
    let f = *crate::x86::cpu::probe();
    crate::x86::cpu::setup_control_registers(&f);
    crate::init_cpu_tables(cpu);
    if f.mce {
        crate::x86::mce::init();
    }
    crate::x86::apic::init_this_cpu(cpu);
    crate::x86::apic::start_timer(*TIMER_PERIOD.get().expect("timer period"));
    let area = cpu_area(cpu);
    // SAFETY: `current` is this CPU's idle task (prepare_cpu), one reference of which
    // IDLE_TASKS keeps: this makes a second one.
    let idle = unsafe {
        let p = *area.current.get() as *const Task;
        alloc::sync::Arc::increment_strong_count(p);
        alloc::sync::Arc::from_raw(p)
    };
    ONLINE.fetch_or(1 << cpu, Ordering::AcqRel);
    // The idle task runs the scheduler's idle loop: it takes tasks queued here or pulls them
    // from busier CPUs.
    crate::sched::start(idle.clone(), idle)
}

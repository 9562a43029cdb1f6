//! The SMP parts of bench mode (docs/bench.md "Per-CPU figures"):
//! - `kentry.bench_cpu=N`: the bench mode's programs run on CPU N (`cargo xtask bench --smp`
//!   runs them on CPU 1 and on CPU 0 of `-smp 2`);
//! - `kentry.mode=bench-ipi`: the call-function IPI round trip, CPU 0 to CPU 1 and back.
//!
//! The round trip marks its regions with `ds rdtsc` (the marker the insn-count plugin counts
//! at, as the ring-3 bench programs do), so that xtask counts each CPU's instructions:
//! - the sender (CPU 0), per round trip: from a mark before `call_on_mask_then` to a mark right
//!   after the ICR write (`send`), and from there to the next round trip's first mark
//!   (`wait`: the spin until CPU 1 has run the function, the return, and the spin until CPU 1
//!   is halted again). The wait spins for as long as the receiver takes in host time, so its
//!   count under the plugin depends on wall time: indicative only;
//! - the receiver (CPU 1), per batch: one region around [`RECEIVER_LOOP_INSNS`] loop
//!   instructions and one IPI per round trip; the IPI costs what it takes from its IDT stub's
//!   first instruction to its `iretq`, inclusive.
//!
//! Both CPUs mask their timer during a batch, so only the IPIs come in (a raised task priority
//! would not do: QEMU may deliver a tick it blocks as a spurious interrupt); CPU 1 waits in
//! `hlt` and executes nothing while it waits, and fails the run if a batch took any other
//! interrupt.
//!
//! The nohz_full figures (getpid on a nohz_full CPU, what that CPU received meanwhile, a grace
//! period while it spins in user mode) come from `kentry.mode=bench-nohz`, bench_nohz.rs.

use crate::power::ExitCode;
use crate::smp;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Round trips per batch.
pub const IPI_ITERS: u64 = 1000;
/// Timed batches (after one warm-up batch).
pub const IPI_BATCHES: usize = 11;
/// The receiver loop's instructions per round trip besides the IPI (see [`receiver_batch`]).
pub const RECEIVER_LOOP_INSNS: u64 = 6;

/// Round trips the receiver is ready for: it counts one up, with interrupts off, before each
/// `hlt` that waits for an IPI. The sender sends round trip `k` only once this reached `k`.
static ARMED: AtomicU64 = AtomicU64::new(0);
/// Receiver batches completed.
static RECEIVER_DONE: AtomicU64 = AtomicU64::new(0);
/// A receiver batch took another interrupt than the round trips' IPIs.
static RECEIVER_BAD: AtomicBool = AtomicBool::new(false);

/// Reads the TSC with the marker instruction (`ds rdtsc`) that tools/insn-count counts at.
#[inline(always)]
pub(crate) fn marked_rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` with an ignored segment prefix; reads the TSC, changes nothing else.
    // Not `nomem`: the compiler keeps memory accesses (the ICR write) on their side of it.
    unsafe {
        core::arch::asm!(".byte 0x3e, 0x0f, 0x31", out("eax") lo, out("edx") hi,
            options(nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The CPU bench mode runs its programs on: `kentry.bench_cpu=N`, default the boot CPU.
pub fn bench_cpu(cmdline: &str) -> Result<usize, &'static str> {
    match crate::boot::cmdline_value(cmdline, "kentry.bench_cpu") {
        None => Ok(0),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if smp::is_online(n) => Ok(n),
            Ok(_) => Err("kentry.bench_cpu names a CPU that is not online"),
            Err(_) => Err("kentry.bench_cpu is not a CPU number"),
        },
    }
}

/// Runs `bench` (bench mode) with the kernel's main thread on the CPU `kentry.bench_cpu=`
/// names; bench mode pins itself and its programs to the CPU it starts on.
pub fn on_bench_cpu(cmdline: &str, bench: fn() -> ExitCode) -> ExitCode {
    let cpu = match bench_cpu(cmdline) {
        Ok(c) => c,
        Err(e) => {
            crate::klog!("bench: {e}");
            return ExitCode::Failed;
        }
    };
    crate::klog!("bench: programs on CPU {cpu}");
    let old = crate::sched::pin_current(1 << cpu);
    let code = bench();
    crate::sched::pin_current(old);
    code
}

/// `kentry.mode=bench-ipi`: call-function IPI round trips from CPU 0 to CPU 1. Prints
/// `bench ipi-roundtrip …` in TSC ticks per round trip (the plugin's instruction counts come
/// from the marks, xtask/src/bench_smp.rs).
pub fn run_ipi_bench() -> ExitCode {
    if !smp::is_online(1) {
        crate::klog!("bench-ipi: needs CPU 1 online (-smp 2)");
        return ExitCode::Failed;
    }
    let old = crate::sched::pin_current(1 << 1);
    // The receiver thread inherits the mask: it runs on CPU 1 only.
    let receiver = crate::task::Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "IPI bench receiver stack",
        receiver_thread,
    );
    crate::sched::spawn(receiver);
    crate::sched::pin_current(1 << 0);
    let mut per = [0u64; IPI_BATCHES];
    let mut next = 0;
    for batch in 0..=IPI_BATCHES {
        let ticks = sender_batch(&mut next);
        // Per round trip, rounded; batch 0 is the warm-up.
        if batch > 0 {
            per[batch - 1] = (ticks + IPI_ITERS / 2) / IPI_ITERS;
        }
    }
    while RECEIVER_DONE.load(Ordering::Acquire) <= IPI_BATCHES as u64 {
        core::hint::spin_loop();
    }
    crate::sched::pin_current(old);
    if RECEIVER_BAD.load(Ordering::Relaxed) {
        crate::klog!("bench-ipi: CPU 1 took other interrupts than the IPIs in a batch");
        return ExitCode::Failed;
    }
    per.sort_unstable();
    // xtask subtracts the loop from the receiver's regions: it checks this line.
    crate::klog!("bench-ipi: receiver loop {RECEIVER_LOOP_INSNS} instructions per round trip");
    crate::klog!(
        "bench ipi-roundtrip median={} min={} max={} iters={IPI_ITERS} batches={IPI_BATCHES}",
        per[IPI_BATCHES / 2],
        per[0],
        per[IPI_BATCHES - 1]
    );
    ExitCode::Done
}

/// One batch of [`IPI_ITERS`] round trips from this CPU (0) to CPU 1; returns its TSC ticks.
/// Two marks per round trip: before the call and right after the IPI is sent.
fn sender_batch(next: &mut u64) -> u64 {
    let nothing = || {};
    crate::x86::apic::set_timer_masked(true);
    let start = marked_rdtsc();
    for _ in 0..IPI_ITERS {
        *next += 1;
        while ARMED.load(Ordering::Acquire) < *next {
            core::hint::spin_loop();
        }
        marked_rdtsc();
        smp::ipi::call_on_mask_then(1 << 1, &nothing, || {
            marked_rdtsc();
        });
    }
    let end = marked_rdtsc();
    crate::x86::apic::set_timer_masked(false);
    end - start
}

/// The receiver, a kernel thread on CPU 1: the warm-up batch and [`IPI_BATCHES`] batches,
/// then it idles (bench mode powers off next).
extern "C" fn receiver_thread() -> ! {
    crate::sched::kernel_thread_prologue();
    for _ in 0..=IPI_BATCHES {
        let (irqs, calls) = receiver_batch();
        // Every `hlt` must have ended with one call-function IPI, or the region holds
        // something else (xtask's figure would be wrong): bench mode fails.
        if irqs != IPI_ITERS || calls != IPI_ITERS {
            crate::klog!(
                "bench-ipi: CPU 1 took {irqs} interrupts and {calls} call-function IPIs in a batch of {IPI_ITERS} round trips"
            );
            RECEIVER_BAD.store(true, Ordering::Relaxed);
        }
        RECEIVER_DONE.fetch_add(1, Ordering::Release);
    }
    loop {
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

/// One batch on CPU 1, between two marks, interrupts off but in `sti; hlt`: per round trip it
/// arms (counts [`ARMED`] up), halts with interrupts on until the IPI has been handled, turns
/// interrupts off and loops: [`RECEIVER_LOOP_INSNS`] = 6 instructions (`inc`, `sti`, `hlt`,
/// `cli`, `dec`, `jnz`) besides the IPI. `sti` holds interrupts off for one instruction, so an
/// IPI that arrived before `sti` is taken after `hlt`, as one that arrives during it.
///
/// Returns the interrupts and the call-function IPIs this CPU took in the batch.
fn receiver_batch() -> (u64, u64) {
    let c = &crate::percpu::this_cpu().counters;
    let counts = || {
        (
            c.irq_from_kernel.load(Ordering::Relaxed),
            c.ipi_call.load(Ordering::Relaxed),
        )
    };
    // The timer off, and a tick it already raised taken now, before the batch: with a raised
    // task priority instead, QEMU may deliver the blocked tick as a spurious interrupt.
    x86_64::instructions::interrupts::disable();
    crate::x86::apic::set_timer_masked(true);
    // SAFETY: opens the interrupt window for one instruction (QEMU ends a translation block
    // after an instruction in an `sti` shadow, so a pending interrupt is taken before `cli`).
    unsafe { core::arch::asm!("sti", "nop", "cli", options(nomem, nostack)) };
    let before = counts();
    marked_rdtsc();
    // SAFETY: increments a static the sender only reads; `sti; hlt; cli` leaves interrupts as
    // they were (off); the IPI handler runs on this thread's stack like any interrupt.
    unsafe {
        core::arch::asm!(
            "2:",
            "inc qword ptr [{armed}]",
            "sti",
            "hlt",
            "cli",
            "dec {n}",
            "jnz 2b",
            armed = in(reg) ARMED.as_ptr(),
            n = inout(reg) IPI_ITERS => _,
        );
    }
    marked_rdtsc();
    let after = counts();
    crate::x86::apic::set_timer_masked(false);
    x86_64::instructions::interrupts::enable();
    (after.0 - before.0, after.1 - before.1)
}

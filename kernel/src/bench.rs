//! Bench mode (`kentry.mode=bench`, docs/bench.md): runs the bench programs pinned to this CPU,
//! some of them with a piece of this CPU's hardware swapped for the run (LSTAR, the IDT, the
//! timer). Nothing here is on a path of the other modes: the swaps exist only inside
//! [`run_bench`], and the one vector it adds ([`FAST_TIMER_VECTOR`]) is tested only where the
//! interrupt handler has no arm for a vector (trap.rs `other_interrupt`).
//!
//! ## The fast timer of `irq-user`
//! spec/bench.md wants `irq-user` ("a timer/self-IPI interrupt taken in ring 3 with no exit
//! work") as ≥ 11 batches of ≥ 10,000 round trips. At the 1 ms tick that is ~110 s of guest
//! time, 1.1·10^11 instructions under `-icount shift=0`. So for the `/bin/bench irq-user` run
//! this CPU's LAPIC timer fires every [`FAST_TIMER_PERIOD`] (10 µs) on [`FAST_TIMER_VECTOR`]:
//! one batch of 10,000 interrupts is 0.1 s of guest time.
//!
//! Why the figure is still "an interrupt from ring 3, no exit work": the fast timer's
//! interrupts take the same path as the tick: the same IDT stub kind and common path
//! (`kentry_idt_common`), kentry's `irqentry` entry and exit with the same context-tracking
//! and exit-work checks, `iretq`. They differ only inside the kernel's handler, where the tick
//! does its bookkeeping (watchdog, scheduler, clock) and the fast timer counts down and EOIs.
//! So the figure is kentry's entry and exit around an interrupt whose handler does next to
//! nothing, the interrupt cost a real handler adds its own work to. Every
//! [`FAST_PER_TICK`]th fast interrupt sends this CPU the timer vector, so the 1 ms tick runs
//! as ever, on its own vector and code, on the 1 ms grid (late by one fast interrupt, never
//! early): the tick count, sleeps and the clock's calibration go on as before. Those gaps
//! hold two interrupts, one with the tick's work (and maybe exit work); the bench takes each
//! batch's median gap, which they do not reach (1 in 100).
//!
//! Bench-only: the normal timer vector's handler and every syscall path are untouched; the
//! fast timer runs only between [`start_fast_timer`] and [`stop_fast_timer`] around one
//! program, and the bench program refuses to report `irq-user` if interrupts do not come fast
//! enough (it is no measurement on a kernel that lacks this, Linux included).

use crate::power::ExitCode;
use crate::x86::apic;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use spin::Once;

/// The vector of the bench mode's fast timer (unused otherwise).
pub const FAST_TIMER_VECTOR: u8 = 0x21;
/// The fast timer's period in APIC timer ticks (1 ns; one instruction under `-icount
/// shift=0`): 10 µs, some 1,000 iterations of the bench's `rdtsc` loop between interrupts, and
/// well above an interrupt's round trip even when TCG runs slower than the guest clock
/// (`--plugin` without `-icount`).
const FAST_TIMER_PERIOD: u32 = 10_000;
/// Fast interrupts per 1 ms tick.
pub(crate) const FAST_PER_TICK: u32 = crate::TIMER_PERIOD / FAST_TIMER_PERIOD;
const _: () = assert!(FAST_PER_TICK * FAST_TIMER_PERIOD == crate::TIMER_PERIOD);

/// Fast interrupts left until the next one that is also the 1 ms tick. Only the bench CPU
/// touches it, from its fast-timer interrupts and (IRQs off) from [`start_fast_timer`].
static FAST_LEFT: AtomicU32 = AtomicU32::new(FAST_PER_TICK);
/// [`stop_fast_timer`] asks the next forwarded tick to put the 1 ms timer back.
static FAST_STOP: AtomicBool = AtomicBool::new(false);
/// The fast timer is armed (cleared by the interrupt that disarms it).
static FAST_ACTIVE: AtomicBool = AtomicBool::new(false);

/// The fast timer's interrupt (through kentry's IRQ path like the tick, trap::interrupt): a
/// countdown and an EOI. Every [`FAST_PER_TICK`]th also sends this CPU the timer vector, so
/// the tick itself runs on its own vector and code, right after this interrupt returns (late
/// by this handler, never early): the tick's path is the same with or without the bench.
#[inline(always)]
pub fn fast_timer_interrupt() {
    let left = FAST_LEFT.load(Ordering::Relaxed).saturating_sub(1);
    if left != 0 {
        FAST_LEFT.store(left, Ordering::Relaxed);
        apic::eoi();
        return;
    }
    FAST_LEFT.store(FAST_PER_TICK, Ordering::Relaxed);
    if FAST_STOP.load(Ordering::Relaxed) {
        // Now, at a tick's time: the 1 ms timer's grid goes on from here (late by this
        // handler's first instructions, never early).
        apic::start_timer(crate::TIMER_PERIOD);
        FAST_ACTIVE.store(false, Ordering::Release);
    }
    apic::eoi();
    // Held while this CPU has IRQs off: taken when the `iretq` returns.
    apic::send_self_ipi(apic::TIMER_VECTOR);
}

/// Switches this CPU's LAPIC timer to the fast timer, so that its forwarded ticks keep the
/// 1 ms grid: the first comes at the first fast interrupt at or after the tick that was due
/// (late by less than one fast period, never early), then one every 1 ms.
pub(crate) fn start_fast_timer() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        // Close to a tick, let it come first (it stays pending until IRQs are back on), so
        // that it cannot fire between the read below and the switch.
        let mut left_ns = apic::timer_current_count();
        while left_ns < 2 * FAST_TIMER_PERIOD {
            core::hint::spin_loop();
            left_ns = apic::timer_current_count();
        }
        FAST_LEFT.store(left_ns.div_ceil(FAST_TIMER_PERIOD), Ordering::Relaxed);
        FAST_STOP.store(false, Ordering::Relaxed);
        FAST_ACTIVE.store(true, Ordering::Relaxed);
        apic::start_timer_on(FAST_TIMER_VECTOR, FAST_TIMER_PERIOD);
    });
}

/// Puts the 1 ms timer back, at the fast timer's next forwarded tick (within 1 ms).
pub(crate) fn stop_fast_timer() {
    FAST_STOP.store(true, Ordering::Relaxed);
    while FAST_ACTIVE.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// Bench mode: every path as configured, then getpid again with context tracking on (what a
/// `nohz_full` CPU pays) as `getpid-ct`, then `irq-user` with the fast timer, then the floor
/// runs (docs/bench.md).
pub fn run_bench() -> ExitCode {
    // The LSTAR/IDT/timer swaps below are for this CPU alone: every bench program runs pinned
    // here (the programs inherit the mask). The key flips park the other CPUs
    // (text_poke::flip_key).
    let old_mask = crate::sched::pin_current(1 << crate::smp::this_cpu_id());
    let code = run_bench_pinned();
    crate::sched::pin_current(old_mask);
    code
}

fn run_bench_pinned() -> ExitCode {
    match only_program() {
        Some(Some(program)) => return run_program_mode(program, &[]),
        Some(None) => {
            crate::klog!("bench: kentry.bench_only names no bench program");
            return ExitCode::Failed;
        }
        None => {}
    }
    let code = run_program_mode("/bin/bench", &[]);
    let code_mem = run_program_mode("/bin/bench_mem", &[]);
    let code_ia32 = run_program_mode(IA32_BENCH, &[]);
    let ct = &kentry::context_tracking::CONTEXT_TRACKING;
    let was_on = ct.is_enabled();
    if !was_on {
        // Every state word says "kernel" when the other CPUs park (text_poke.rs).
        crate::text_poke::flip_key(ct, true);
    }
    let code_ct = run_program_mode("/bin/bench", &["ct"]);
    if !was_on {
        crate::text_poke::flip_key(ct, false);
    }
    let code_irq = run_irq_user();
    let code_floor = run_floor("floor-bare", kentry::arch::bench_floor::kentry_floor_bare);
    let code_frame = run_floor("floor-frame", kentry::arch::bench_floor::kentry_floor_frame);
    let code_int3 = run_floor_int3();
    [
        code, code_mem, code_ia32, code_ct, code_irq, code_floor, code_frame, code_int3,
    ]
    .into_iter()
    .find(|c| *c != ExitCode::Done)
    .unwrap_or(ExitCode::Done)
}

/// The 32-bit process's paths (`int80-getpid-32`, `syscall32-getpid`): user/c/ia32_bench.c.
const IA32_BENCH: &str = "/bin/ia32_bench-glibc32";

/// `kentry.bench_only=<program>` (`cargo xtask bench --program`): run only `/bin/<program>`,
/// without arguments, instead of the whole sequence; for measuring one program's paths
/// without the minutes of the others. `Some(None)`: the name is not a bench program's.
fn only_program() -> Option<Option<&'static str>> {
    const PROGRAMS: [&str; 3] = ["/bin/bench", "/bin/bench_mem", IA32_BENCH];
    let cmdline = crate::CMDLINE.get().copied().unwrap_or("");
    let name = crate::boot::cmdline_value(cmdline, "kentry.bench_only")?;
    Some(
        PROGRAMS
            .into_iter()
            .find(|p| p.strip_prefix("/bin/") == Some(name)),
    )
}

/// Runs `/bin/bench irq-user` with this CPU's timer on the fast timer (see the module
/// comment), then puts the 1 ms timer back.
fn run_irq_user() -> ExitCode {
    start_fast_timer();
    let code = run_program_mode("/bin/bench", &["irq-user"]);
    stop_fast_timer();
    if apic::timer_vector() != apic::TIMER_VECTOR {
        crate::klog!("bench: the 1 ms timer is not back after irq-user");
        return ExitCode::Failed;
    }
    code
}

/// Runs `/bin/bench <path>` with this CPU's LSTAR on a floor stub, then puts the real SYSCALL
/// entry back. Bench programs run pinned to this CPU, so the program runs where LSTAR changed.
fn run_floor(path: &str, stub: unsafe extern "C" fn()) -> ExitCode {
    use kentry::arch::bench_floor::set_syscall_target;
    // SAFETY: a floor stub handles every SYSCALL (other numbers go on to the real entry), and
    // enable_syscall ran on this CPU at boot.
    unsafe { set_syscall_target(stub as *const () as u64) };
    let code = run_program_mode("/bin/bench", &[path]);
    // SAFETY: back to the real entry, as enable_syscall left it.
    unsafe { set_syscall_target(kentry::arch::syscall_64::kentry_syscall_64 as *const () as u64) };
    code
}

/// The IDT of the `floor-int3` run (bench mode only).
static FLOOR_IDT: Once<kentry::idt::Idt> = Once::new();

/// Runs `/bin/bench floor-int3` with this CPU's IDT swapped for one whose #BP gate is the
/// `iretq`-only floor stub, then loads the real IDT again.
fn run_floor_int3() -> ExitCode {
    let stubs = kentry::arch::idt_stubs::stub_base();
    let floor = FLOOR_IDT.call_once(|| kentry::arch::bench_floor::floor_idt(stubs));
    let real = kentry::arch::setup::idt();
    // SAFETY: a complete table, identical to the real one but for #BP, whose stub returns past
    // the `int3` that raised it; the bench program runs pinned to this CPU; the kernel raises no #BP of its own
    // (static keys are patched without INT3) until the real IDT is back.
    unsafe { kentry::arch::setup::load_idt(floor) };
    let code = run_program_mode("/bin/bench", &["floor-int3"]);
    // SAFETY: the real IDT, as init_this_cpu loaded it.
    unsafe { kentry::arch::setup::load_idt(real) };
    code
}

/// Runs one program and reports how it ended.
pub(crate) fn run_program_mode(path: &str, args: &[&str]) -> ExitCode {
    match crate::test::run_program(path, args) {
        Ok(reason) => {
            crate::klog!("{path} ended: status {}", reason.shell_status());
            if reason.shell_status() == 0 {
                ExitCode::Done
            } else {
                ExitCode::Failed
            }
        }
        Err(e) => {
            crate::klog!("cannot run {path}: {e}");
            ExitCode::Failed
        }
    }
}

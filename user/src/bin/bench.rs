//! Round-trip costs of kernel entry paths (spec/bench.md, docs/harness.md "Bench").
//!
//! Prints one line per path:
//! `bench <path> median=<ticks> min=<ticks> max=<ticks> iters=<n> batches=<k>`
//! with ticks per round trip, the empty-loop cost subtracted; lines starting with `#` are comments.
//!
//! - `getpid`: SYSCALL getpid (39), SYSRET back.
//! - `enosys`: SYSCALL with an invalid number (1000).
//! - `getpid-ct` (with the argument `ct`; the kernel's bench mode runs it with context tracking
//!   switched on, as on a `nohz_full` CPU): getpid again.
//!
//!   Method: a warm-up batch, then [`BATCHES`] batches of [`N`] round trips, each batch timed with
//!   `lfence; rdtsc`. The same loop without the `syscall` instruction, timed the same way, gives
//!   the empty-loop cost (median over as many batches), which is subtracted from every batch.
//!   median/min/max are over the per-batch figures, divided by N (rounded). Under
//!   `-icount shift=0` a tick is one instruction, so the figure is the instruction count of one
//!   round trip, the `syscall` instruction included.
//! - `irq-user`: an interrupt taken in ring 3 (the kernel's timer) with no exit work. A loop of
//!   `lfence; rdtsc` notes every gap between consecutive reads that is much larger than a normal
//!   iteration; each such gap is one interrupt round trip. The figure per gap is the gap minus the
//!   average normal iteration; median/min/max are over the gaps, `iters` is the number of gaps
//!   and `batches` is 1. The loop is bounded ([`IRQ_MAX_ITERS`] iterations, or [`IRQ_MAX_GAPS`]
//!   gaps); with no gap at all it prints the line with zeros and `# irq-user: no interrupts seen`.
//!   Natively on Linux, host interrupts, preemption and VM exits all show up as gaps: that
//!   figure is only indicative.
//!
//! - `int3-signal`: `int3` → SIGTRAP handler (empty) → `rt_sigreturn`, back after the `int3`.
//!   Same batch method as the syscall paths, [`N_SIGNAL`] round trips per batch; the empty loop
//!   has a `nop` in place of the `int3`.
//!
//! Syscalls: getpid, 1000 (invalid), rt_sigaction, rt_sigreturn, write, exit_group.

#![no_std]
#![no_main]

use core::arch::asm;

use kentry_user::sys::nr;
use kentry_user::{entry, println};

entry!(main);

/// Round trips per batch.
const N: u64 = 10_000;
/// Timed batches per path.
const BATCHES: usize = 15;
/// The invalid syscall number of the `enosys` path.
const ENOSYS_NR: u64 = 1000;
/// Upper bound on the iterations of the `irq-user` loop.
const IRQ_MAX_ITERS: u64 = 8_000_000;
/// The `irq-user` loop stops after this many gaps.
const IRQ_MAX_GAPS: usize = 63;

/// Ticks for `n` iterations of `mov eax, nr; syscall; dec; jnz`.
#[inline(never)]
fn time_syscalls(number: u64, n: u64) -> u64 {
    let ticks: u64;
    // SAFETY: the loop only issues syscall `number` (getpid or an invalid number: no effect on
    // memory); RCX and R11 (clobbered by `syscall`) and RAX/RDX (rdtsc) are declared. `t0` and
    // `n` live in registers `syscall` preserves.
    unsafe {
        asm!(
            "lfence",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "mov {t0}, rax",
            "2:",
            "mov rax, {nr}",
            "syscall",
            "dec {n}",
            "jnz 2b",
            "lfence",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "sub rax, {t0}",
            nr = in(reg) number,
            n = inout(reg) n => _,
            t0 = out(reg) _,
            out("rax") ticks,
            out("rdx") _,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    ticks
}

/// Ticks for `n` iterations of the same loop without the `syscall`.
#[inline(never)]
fn time_empty(number: u64, n: u64) -> u64 {
    let ticks: u64;
    // SAFETY: register-only loop; RAX/RDX (rdtsc) and RCX/R11 are declared, as in
    // `time_syscalls`, so that both loops get the same register allocation.
    unsafe {
        asm!(
            "lfence",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "mov {t0}, rax",
            "2:",
            "mov rax, {nr}",
            "dec {n}",
            "jnz 2b",
            "lfence",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "sub rax, {t0}",
            nr = in(reg) number,
            n = inout(reg) n => _,
            t0 = out(reg) _,
            out("rax") ticks,
            out("rdx") _,
            out("rcx") _,
            out("r11") _,
            options(nostack, nomem),
        );
    }
    ticks
}

/// median, min, max of a sorted non-empty slice.
fn stats(sorted: &[u64]) -> (u64, u64, u64) {
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

fn bench_syscall(path: &str, number: u64) {
    // Warm-up: caches, TLB, QEMU's translation blocks.
    time_syscalls(number, N / 10);
    time_empty(number, N / 10);

    let mut empty = [0u64; BATCHES];
    for e in empty.iter_mut() {
        *e = time_empty(number, N);
    }
    empty.sort_unstable();
    let empty_batch = empty[BATCHES / 2];

    let mut per_rt = [0u64; BATCHES];
    for p in per_rt.iter_mut() {
        let ticks = time_syscalls(number, N);
        *p = (ticks.saturating_sub(empty_batch) + N / 2) / N;
    }
    per_rt.sort_unstable();
    let (median, min, max) = stats(&per_rt);
    println!(
        "# {path}: empty loop {} ticks per {N} iterations",
        empty_batch
    );
    println!("bench {path} median={median} min={min} max={max} iters={N} batches={BATCHES}");
}

/// What one run of [`spin`] saw.
struct Spin {
    /// Gaps (ticks between consecutive TSC reads) above the threshold, in order.
    gaps: [u64; IRQ_MAX_GAPS],
    ngaps: usize,
    /// Sum and count of the deltas at or below the threshold, and the largest of them.
    normal_sum: u64,
    normal_count: u64,
    normal_max: u64,
}

/// Reads the TSC (`lfence; rdtsc`) `iters` times; a delta above `threshold` is a gap. Stops
/// early once [`IRQ_MAX_GAPS`] gaps are recorded. The same code serves calibration (threshold
/// `u64::MAX`) and measurement, so a normal iteration costs the same in both.
#[inline(never)]
fn spin(iters: u64, threshold: u64) -> Spin {
    let mut s = Spin {
        gaps: [0; IRQ_MAX_GAPS],
        ngaps: 0,
        normal_sum: 0,
        normal_count: 0,
        normal_max: 0,
    };
    let mut prev = kentry_user::cpu::rdtsc_ordered();
    for _ in 0..iters {
        let now = kentry_user::cpu::rdtsc_ordered();
        let d = now.wrapping_sub(prev);
        prev = now;
        if d > threshold {
            s.gaps[s.ngaps] = d;
            s.ngaps += 1;
            if s.ngaps == IRQ_MAX_GAPS {
                break;
            }
        } else {
            s.normal_sum += d;
            s.normal_count += 1;
            s.normal_max = s.normal_max.max(d);
        }
    }
    s
}

fn bench_irq_user() {
    // Calibration: the smallest of several short runs' largest delta is the normal iteration's
    // ceiling (a run that caught an interrupt has a larger maximum).
    let mut ceiling = u64::MAX;
    for _ in 0..8 {
        ceiling = ceiling.min(spin(1000, u64::MAX).normal_max);
    }
    let threshold = 2 * ceiling + 16;

    let s = spin(IRQ_MAX_ITERS, threshold);
    let normal = (s.normal_sum + s.normal_count / 2)
        .checked_div(s.normal_count)
        .unwrap_or(0);
    println!(
        "# irq-user: normal iteration {normal} ticks, gap threshold {threshold} ticks, {} gaps in {} iterations",
        s.ngaps,
        s.normal_count + s.ngaps as u64
    );
    if s.ngaps == 0 {
        println!("# irq-user: no interrupts seen");
        println!("bench irq-user median=0 min=0 max=0 iters=0 batches=1");
        return;
    }
    let mut cost = [0u64; IRQ_MAX_GAPS];
    for (c, &g) in cost.iter_mut().zip(&s.gaps[..s.ngaps]) {
        *c = g.saturating_sub(normal);
    }
    let cost = &mut cost[..s.ngaps];
    cost.sort_unstable();
    let (median, min, max) = stats(cost);
    println!(
        "bench irq-user median={median} min={min} max={max} iters={} batches=1",
        s.ngaps
    );
}

/// Round trips per batch of the signal path (each costs thousands of instructions).
const N_SIGNAL: u64 = 2_000;

extern "C" fn empty_handler(_sig: i32, _info: *const u8, _uc: *mut u8) {}

core::arch::global_asm!(
    ".globl bench_sigreturn_restorer",
    "bench_sigreturn_restorer:",
    "mov eax, 15",
    "syscall",
    "ud2",
);

unsafe extern "C" {
    fn bench_sigreturn_restorer();
}

/// Ticks for `n` iterations of `int3` (with a SIGTRAP handler installed) or of `nop`.
#[inline(never)]
fn time_int3(n: u64, trap: bool) -> u64 {
    let ticks: u64;
    // SAFETY: each `int3` enters the SIGTRAP handler, which returns through rt_sigreturn with
    // every register restored; only RAX/RDX (rdtsc) and the counter change.
    unsafe {
        if trap {
            asm!(
                "lfence", "rdtsc", "shl rdx, 32", "or rax, rdx", "mov {t0}, rax",
                "2:", "int3", "dec {n}", "jnz 2b",
                "lfence", "rdtsc", "shl rdx, 32", "or rax, rdx", "sub rax, {t0}",
                n = inout(reg) n => _, t0 = out(reg) _, out("rax") ticks, out("rdx") _,
            );
        } else {
            asm!(
                "lfence", "rdtsc", "shl rdx, 32", "or rax, rdx", "mov {t0}, rax",
                "2:", "nop", "dec {n}", "jnz 2b",
                "lfence", "rdtsc", "shl rdx, 32", "or rax, rdx", "sub rax, {t0}",
                n = inout(reg) n => _, t0 = out(reg) _, out("rax") ticks, out("rdx") _,
            );
        }
    }
    ticks
}

fn bench_int3_signal() {
    const SA_SIGINFO: u64 = 4;
    const SA_RESTORER: u64 = 0x0400_0000;
    let act: [u64; 4] = [
        empty_handler as *const () as u64,
        SA_SIGINFO | SA_RESTORER,
        bench_sigreturn_restorer as *const () as u64,
        0,
    ];
    // SAFETY: rt_sigaction(SIGTRAP) reads 32 bytes from `act`.
    let r = unsafe { kentry_user::sys::syscall4(13, 5, act.as_ptr() as usize, 0, 8) };
    if r != 0 {
        println!("# int3-signal: rt_sigaction failed ({r})");
        return;
    }
    time_int3(N_SIGNAL / 10, true);
    let mut empty = [0u64; BATCHES];
    for e in empty.iter_mut() {
        *e = time_int3(N_SIGNAL, false);
    }
    empty.sort_unstable();
    let empty = empty[BATCHES / 2];
    let mut per = [0u64; BATCHES];
    for p in per.iter_mut() {
        *p = (time_int3(N_SIGNAL, true).saturating_sub(empty) + N_SIGNAL / 2) / N_SIGNAL;
    }
    per.sort_unstable();
    let (median, min, max) = stats(&per);
    println!(
        "bench int3-signal median={median} min={min} max={max} iters={N_SIGNAL} batches={BATCHES}"
    );
}

fn main(args: kentry_user::rt::Args) -> i32 {
    if args.get(1) == Some(b"ct".as_slice()) {
        // Run by the kernel once more with context tracking switched on.
        bench_syscall("getpid-ct", nr::GETPID as u64);
        return 0;
    }
    println!("# kentry bench: {BATCHES} batches of {N} round trips, ticks per round trip");
    bench_syscall("getpid", nr::GETPID as u64);
    bench_syscall("enosys", ENOSYS_NR);
    bench_irq_user();
    bench_int3_signal();
    0
}

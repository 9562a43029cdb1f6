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
//! - `fork-exit-wait`: fork; the child exits at once; the parent's wait4 reaps it.
//!   [`BATCHES`] batches of [`N_FORK`] round trips, timed around the whole loop (there is no
//!   empty-loop subtraction: the loop overhead is a few instructions against thousands).
//! - `exec`: execve of this same program (argv[0]) to its `main`, which reads the TSC first
//!   thing: the figure is from the execve instruction to that read, the new image's startup
//!   code included. [`N_EXEC`] execs chained through argv, one batch.
//!
//! Syscalls: getpid, 1000 (invalid), rt_sigaction, rt_sigreturn, fork, wait4, execve,
//! exit, write, exit_group.

#![no_std]
#![no_main]

use kentry_user::bench::{report, stats};
use kentry_user::sys::nr;
use kentry_user::{entry, println, timed_asm};

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
    // SAFETY: the loop only issues syscall `number` (getpid or an invalid number: no effect on
    // memory); RCX and R11 (clobbered by `syscall`) are declared. `t0` and `n` live in
    // registers `syscall` preserves.
    unsafe {
        timed_asm!(
            ["2:", "mov rax, {nr}", "syscall", "dec {n}", "jnz 2b"],
            [nr = in(reg) number, n = inout(reg) n => _,],
            [out("rcx") _, out("r11") _, options(nostack),]
        )
    }
}

/// Ticks for `n` iterations of the same loop without the `syscall`.
#[inline(never)]
fn time_empty(number: u64, n: u64) -> u64 {
    // SAFETY: register-only loop; RCX/R11 are declared as in `time_syscalls`, so that both
    // loops get the same register allocation.
    unsafe {
        timed_asm!(
            ["2:", "mov rax, {nr}", "dec {n}", "jnz 2b"],
            [nr = in(reg) number, n = inout(reg) n => _,],
            [out("rcx") _, out("r11") _, options(nostack, nomem),]
        )
    }
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
    println!(
        "# {path}: empty loop {} ticks per {N} iterations",
        empty_batch
    );
    report(path, &mut per_rt, N);
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

/// Ticks for `n` iterations of `int3` (with a SIGTRAP handler installed) or of `nop`.
#[inline(never)]
fn time_int3(n: u64, trap: bool) -> u64 {
    // SAFETY: each `int3` enters the SIGTRAP handler, which returns through rt_sigreturn with
    // every register restored; only RAX/RDX (rdtsc) and the counter change.
    unsafe {
        if trap {
            timed_asm!(["2:", "int3", "dec {n}", "jnz 2b"], [n = inout(reg) n => _,], [])
        } else {
            timed_asm!(["2:", "nop", "dec {n}", "jnz 2b"], [n = inout(reg) n => _,], [])
        }
    }
}

fn bench_int3_signal() {
    let r = kentry_user::signal::install(5, empty_handler, 0);
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
    report("int3-signal", &mut per, N_SIGNAL);
}

/// fork + exit + wait round trips per batch.
const N_FORK: u64 = 100;
/// Chained execs of the `exec` path.
const N_EXEC: u64 = 50;

fn bench_fork_exit_wait() {
    use kentry_user::sys::syscall4;
    let mut per = [0u64; BATCHES];
    for p in per.iter_mut() {
        let t0 = kentry_user::cpu::rdtsc_ordered();
        for _ in 0..N_FORK {
            // SAFETY: fork (57); the child only calls exit (60); wait4 (61) reaps it.
            unsafe {
                let pid = kentry_user::sys::syscall0(57);
                if pid == 0 {
                    kentry_user::sys::syscall1(60, 0);
                }
                if pid < 0 {
                    println!("# fork-exit-wait: fork failed ({pid})");
                    return;
                }
                syscall4(61, pid as usize, 0, 0, 0);
            }
        }
        *p = (kentry_user::cpu::rdtsc_ordered() - t0 + N_FORK / 2) / N_FORK;
    }
    report("fork-exit-wait", &mut per, N_FORK);
}

fn parse_u64(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &c| {
        a.wrapping_mul(10).wrapping_add((c - b'0') as u64)
    })
}

/// Formats `v` in decimal into `buf` (NUL-terminated); returns the digits.
fn fmt_u64(mut v: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = 22;
    buf[23] = 0;
    loop {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
        i -= 1;
    }
    &buf[i..24]
}

/// One link of the exec chain: argv = [self, "exec-round", rounds left, sum, min, max, t0].
fn exec_round(args: &kentry_user::rt::Args, now: u64) -> i32 {
    let a = |i| parse_u64(args.get(i).unwrap_or(b"0"));
    let (left, sum, min, max, t0) = (a(2), a(3), a(4), a(5), a(6));
    let d = now.wrapping_sub(t0);
    // min travels as 0 until the first measurement.
    let min = if min == 0 { u64::MAX } else { min };
    let (sum, min, max) = if t0 == 0 {
        (0, u64::MAX, 0)
    } else {
        (sum + d, min.min(d), max.max(d))
    };
    if left == 0 {
        // The chain made N_EXEC + 1 measured execs (rounds N_EXEC down to 0).
        let n = N_EXEC + 1;
        println!(
            "bench exec median={} min={min} max={max} iters={n} batches=1",
            sum / n
        );
        println!("# exec: the median column is the mean over the chain");
        return 0;
    }
    let mut b = [[0u8; 24]; 5];
    let [b0, b1, b2, b3, b4] = &mut b;
    let self_path = args.get(0).unwrap_or(b"/bin/bench");
    let mut path = [0u8; 256];
    path[..self_path.len()].copy_from_slice(self_path);
    let left_s = fmt_u64(left - 1, b0).as_ptr();
    let sum_s = fmt_u64(sum, b1).as_ptr();
    let min_s = fmt_u64(if min == u64::MAX { 0 } else { min }, b2).as_ptr();
    let max_s = fmt_u64(max, b3).as_ptr();
    let t0_slot = b4;
    let argv = [
        path.as_ptr(),
        c"exec-round".as_ptr() as *const u8,
        left_s,
        sum_s,
        min_s,
        max_s,
        core::ptr::null(),
        core::ptr::null(),
    ];
    let mut argv = argv;
    let envp: [*const u8; 1] = [core::ptr::null()];
    let t0 = kentry_user::cpu::rdtsc_ordered();
    argv[6] = fmt_u64(t0, t0_slot).as_ptr();
    // SAFETY: execve (59) with NUL-terminated strings and NULL-terminated arrays.
    let r = unsafe {
        kentry_user::sys::syscall3(
            59,
            path.as_ptr() as usize,
            argv.as_ptr() as usize,
            envp.as_ptr() as usize,
        )
    };
    println!("# exec: execve failed ({r})");
    1
}

fn main(args: kentry_user::rt::Args) -> i32 {
    let now = kentry_user::cpu::rdtsc_ordered();
    if args.get(1) == Some(b"exec-round".as_slice()) {
        return exec_round(&args, now);
    }
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
    bench_fork_exit_wait();
    // Last: it replaces this program.
    let _ = now;
    let self_path = args.get(0).unwrap_or(b"/bin/bench");
    let mut path = [0u8; 256];
    path[..self_path.len()].copy_from_slice(self_path);
    let t0 = kentry_user::cpu::rdtsc_ordered();
    let mut b = [0u8; 24];
    let left = [b'0' + (N_EXEC / 10) as u8, b'0' + (N_EXEC % 10) as u8, 0];
    let argv: [*const u8; 8] = [
        path.as_ptr(),
        c"exec-round".as_ptr() as *const u8,
        left.as_ptr(),
        c"0".as_ptr() as *const u8,
        c"0".as_ptr() as *const u8,
        c"0".as_ptr() as *const u8,
        fmt_u64(t0, &mut b).as_ptr(),
        core::ptr::null(),
    ];
    let envp: [*const u8; 1] = [core::ptr::null()];
    // SAFETY: execve (59) with NUL-terminated strings and NULL-terminated arrays.
    let r = unsafe {
        kentry_user::sys::syscall3(
            59,
            path.as_ptr() as usize,
            argv.as_ptr() as usize,
            envp.as_ptr() as usize,
        )
    };
    println!("# exec: execve failed ({r})");
    0
}

//! Round-trip costs of kernel entry paths (spec/bench.md, docs/harness.md "Bench").
//!
//! Prints one line per path:
//! `bench <path> median=<ticks> min=<ticks> max=<ticks> iters=<n> batches=<k>`
//! with ticks per round trip, the empty-loop cost subtracted; lines starting with `#` are comments.
//!
//! - `getpid`: SYSCALL getpid (39), SYSRET back.
//! - `enosys`: SYSCALL with an invalid number (1000).
//! - `int80-getpid`: `int $0x80` with the i386 getpid (20), from this 64-bit program; back by
//!   IRET.
//! - `vdso-clock_gettime`: CLOCK_MONOTONIC through the vDSO's `__vdso_clock_gettime` (found
//!   through AT_SYSINFO_EHDR), no kernel entry; the call's cost less the empty loop's. Run
//!   last, by the exec chain's last process.
//! - `getpid-seccomp`: getpid in a child under a 4-instruction seccomp filter that allows it.
//! - `getpid-traced`: getpid in a child whose tracer resumed it with PTRACE_CONT (no syscall
//!   stops: the fast path must not notice the tracer).
//! - `getpid-ptrace`: getpid in a child whose tracer stops it at each syscall's entry and exit
//!   (PTRACE_SYSCALL): the stops, two switches each way and the tracer's wait4 and ptrace.
//! - `getpid-ct` (with the argument `ct`; the kernel's bench mode runs it with context tracking
//!   switched on, as on a `nohz_full` CPU): getpid again.
//!
//!   Method: a warm-up batch, then [`BATCHES`] batches of [`N`] round trips, each batch timed with
//!   `lfence; rdtsc`. The same loop without the `syscall` instruction, timed the same way, gives
//!   the empty-loop cost (median over as many batches), which is subtracted from every batch.
//!   median/min/max are over the per-batch figures, divided by N (rounded). Under
//!   `-icount shift=0` a tick is one instruction, so the figure is the instruction count of one
//!   round trip, the `syscall` instruction included.
//! - `irq-user` (with the argument `irq-user`; the kentry bench kernel runs it with its fast
//!   timer, an interrupt every 10 µs, kernel/src/bench.rs): an interrupt taken in ring 3 with
//!   no exit work. A loop of `lfence; rdtsc` notes every gap between consecutive reads that is
//!   much larger than a normal iteration; each gap is one interrupt round trip, and its figure
//!   is the gap less the batch's mean normal iteration. A warm-up batch of [`N_IRQ_WARMUP`]
//!   gaps, then [`BATCHES`] batches of [`N_IRQ`] gaps; a batch's figure is the median of its
//!   gaps (the mean would take in the 1 in 100 interrupts that are also the kernel's 1 ms tick,
//!   with its bookkeeping and exit work); median/min/max are over the batches' figures. If the
//!   interrupts come too slowly for that (any kernel without the fast timer), it reports nothing
//!   and fails.
//! - `irq-user-indicative` (without an argument, on kentry and on Linux): the same loop with
//!   the kernel's own timer tick, at most [`IRQ_MAX_GAPS`] gaps in [`IRQ_MAX_ITERS`]
//!   iterations (at 1 kHz the spec's counts would take ~110 s of guest time); median/min/max
//!   are over the gaps, `iters` is the number of gaps and `batches` is 1. With no gap at all it
//!   prints the line with zeros and `# irq-user-indicative: no interrupts seen`. Linux has no
//!   interrupt that ring 3 can raise and that returns without exit work, so this is its only
//!   `irq-user` figure; it counts whatever the tick does (and natively, host interrupts,
//!   preemption and VM exits show up as gaps too): indicative only.
//!
//! - `int3-signal`: `int3` → SIGTRAP handler (empty) → `rt_sigreturn`, back after the `int3`.
//!   Same batch method as the syscall paths, [`N_SIGNAL`] round trips per batch; the empty loop
//!   has a `nop` in place of the `int3`.
//!
//! - `fork-exit-wait`: fork; the child exits at once; the parent's wait4 reaps it.
//!   A warm-up batch, then [`BATCHES`] batches of [`N_FORK`] round trips, timed around the
//!   whole loop (there is no empty-loop subtraction: the loop overhead is a few instructions
//!   against thousands).
//! - `exec`: execve of this same program (argv[0]) to its `main`, which reads the TSC first
//!   thing: the figure is from the execve instruction to that read, the new image's startup
//!   code included. The execs are chained through argv: a warm-up batch, then [`BATCHES`]
//!   batches of [`N_EXEC`] execs; the figure of a batch is its mean per exec.
//! - `floor-bare`, `floor-frame` (with that argument; only the kentry bench kernel runs them,
//!   with LSTAR on its floor stubs): the `getpid` loop with the floor stubs' syscall number.
//! - `floor-int3` (likewise, with the kernel's `iretq`-only #BP gate): the `int3-signal` loop
//!   with no signal delivered.
//!
//! Syscalls: getpid, 1000 (invalid), i386 getpid (20, `int $0x80`), rt_sigaction, rt_sigreturn, fork, wait4, execve, pipe,
//! read, exit, write, ioctl (TCSBRK, after each bench line), exit_group.

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
/// The i386 getpid of the `int80-getpid` path.
const I386_GETPID: u64 = 20;
/// The invalid syscall number of the `enosys` path.
const ENOSYS_NR: u64 = 1000;
/// Upper bound on the iterations of the `irq-user-indicative` loop.
const IRQ_MAX_ITERS: u64 = 8_000_000;
/// The `irq-user-indicative` loop stops after this many gaps.
const IRQ_MAX_GAPS: usize = 63;

/// The syscall loop of `getpid`, `enosys`, `getpid-ct` and the floor paths, [`BATCHES`] batches
/// of [`N`] (kentry_user::bench::bench_syscall, shared with bench_nohz).
fn bench_syscall(path: &str, number: u64) {
    kentry_user::bench::bench_syscall::<BATCHES>(path, number, N);
}

/// What one run of [`spin`] saw.
struct Spin {
    /// Gaps recorded (the first entries of the buffer [`spin`] was given).
    ngaps: usize,
    /// Sum and count of the deltas at or below the threshold, and the largest of them.
    normal_sum: u64,
    normal_count: u64,
    normal_max: u64,
}

impl Spin {
    /// The mean normal iteration, rounded (0 if there was none).
    fn normal_mean(&self) -> u64 {
        (self.normal_sum + self.normal_count / 2)
            .checked_div(self.normal_count)
            .unwrap_or(0)
    }
}

/// Reads the TSC (`lfence; rdtsc`) `iters` times; a delta above `threshold` is a gap, recorded
/// in `gaps`. Stops early once `gaps` is full. The same code serves calibration (threshold
/// `u64::MAX`) and measurement, so a normal iteration costs the same in both.
#[inline(never)]
fn spin(iters: u64, threshold: u64, gaps: &mut [u64]) -> Spin {
    let mut s = Spin {
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
            gaps[s.ngaps] = d;
            s.ngaps += 1;
            if s.ngaps == gaps.len() {
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

/// The gap threshold: twice the normal iteration's ceiling, plus 16. The ceiling is the
/// smallest of many short runs' largest delta (a run that caught an interrupt has a larger
/// maximum); the runs are short enough (some 1,000 ticks) that most of them catch none of
/// the fast timer's interrupts either (one every 10,000 ticks).
fn irq_threshold() -> u64 {
    let mut ceiling = u64::MAX;
    for _ in 0..64 {
        ceiling = ceiling.min(spin(100, u64::MAX, &mut []).normal_max);
    }
    2 * ceiling + 16
}

/// `irq-user-indicative`: the kernel's own timer tick (see the module comment).
fn bench_irq_user_indicative() {
    const PATH: &str = "irq-user-indicative";
    let threshold = irq_threshold();
    let mut gaps = [0u64; IRQ_MAX_GAPS];
    let s = spin(IRQ_MAX_ITERS, threshold, &mut gaps);
    let normal = s.normal_mean();
    println!(
        "# {PATH}: normal iteration {normal} ticks, gap threshold {threshold} ticks, {} gaps in {} iterations; indicative: the timer tick's gaps, fewer than spec/bench.md asks",
        s.ngaps,
        s.normal_count + s.ngaps as u64
    );
    if s.ngaps == 0 {
        println!("# {PATH}: no interrupts seen");
        println!("bench {PATH} median=0 min=0 max=0 iters=0 batches=1");
        return;
    }
    let cost = &mut gaps[..s.ngaps];
    for c in cost.iter_mut() {
        *c = c.saturating_sub(normal);
    }
    cost.sort_unstable();
    let (median, min, max) = stats(cost);
    println!(
        "bench {PATH} median={median} min={min} max={max} iters={} batches=1",
        s.ngaps
    );
}

/// Gaps per timed batch of `irq-user` (spec/bench.md: N ≥ 10,000).
const N_IRQ: usize = 10_000;
/// Gaps of the `irq-user` warm-up batch.
const N_IRQ_WARMUP: usize = 1_000;
/// The `irq-user` warm-up gives up after this many loop iterations per gap: the interrupts
/// do not come from the kentry bench kernel's fast timer. Under `-icount` the loop sees that
/// timer every ~600 iterations and the 1 ms tick every ~60,000. Under plain TCG the check has
/// no teeth: the host's own delays show up as gaps too (one every ~3,000 iterations), and
/// QEMU merges timer interrupts it delivers late on a busy host (the fast timer has been seen
/// at a few per cent of its rate), so the bound is loose. A sanity check, not a proof: the
/// kentry bench kernel is what arms the fast timer.
const IRQ_WARMUP_MAX_ITERS_PER_GAP: u64 = 30_000;
/// A timed batch gives up after this many iterations per gap (only so that it ends).
const IRQ_MAX_ITERS_PER_GAP: u64 = 200_000;

/// One batch of gaps into all of `gaps`, or `None` (and a comment) if the interrupts did not
/// come within `max_iters_per_gap` iterations per gap.
fn irq_batch(threshold: u64, gaps: &mut [u64], max_iters_per_gap: u64) -> Option<Spin> {
    let n = gaps.len();
    let s = spin(n as u64 * max_iters_per_gap, threshold, gaps);
    if s.ngaps < n {
        println!(
            "# irq-user: {} gaps in {} iterations, fewer than {n}: no fast interrupt source (the kentry bench kernel arms one for this run)",
            s.ngaps,
            s.normal_count + s.ngaps as u64
        );
        return None;
    }
    Some(s)
}

/// `irq-user` with the kentry bench kernel's fast timer (see the module comment). Never
/// inlined: its 80 KB of gaps stay off `main`'s frame, whose stack probes would otherwise fault
/// in 20 pages in every run, the exec chain's links included (a larger `exec` figure).
#[inline(never)]
fn bench_irq_user() -> i32 {
    let threshold = irq_threshold();
    let mut gaps = [0u64; N_IRQ];
    if irq_batch(
        threshold,
        &mut gaps[..N_IRQ_WARMUP],
        IRQ_WARMUP_MAX_ITERS_PER_GAP,
    )
    .is_none()
    {
        return 1;
    }
    let mut per_batch = [0u64; BATCHES];
    let (mut lowest, mut highest) = (u64::MAX, 0);
    let (mut normal_lo, mut normal_hi) = (u64::MAX, 0);
    for p in per_batch.iter_mut() {
        let Some(s) = irq_batch(threshold, &mut gaps, IRQ_MAX_ITERS_PER_GAP) else {
            return 1;
        };
        let normal = s.normal_mean();
        normal_lo = normal_lo.min(normal);
        normal_hi = normal_hi.max(normal);
        for g in gaps.iter_mut() {
            *g = g.saturating_sub(normal);
        }
        gaps.sort_unstable();
        let (median, min, max) = stats(&gaps);
        *p = median;
        lowest = lowest.min(min);
        highest = highest.max(max);
    }
    println!(
        "# irq-user: normal iteration {normal_lo}-{normal_hi} ticks, gap threshold {threshold} ticks; a batch's figure is the median of its {N_IRQ} gaps; single gaps {lowest}-{highest}"
    );
    report("irq-user", &mut per_batch, N_IRQ as u64);
    0
}

/// Round trips per batch of the signal path (spec: N ≥ 10,000, as for the syscall paths).
const N_SIGNAL: u64 = 10_000;

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

/// Warm-up, empty loop, then [`BATCHES`] batches of [`N_SIGNAL`] `int3`s: ticks per round
/// trip, reported as `path`.
fn int3_batches(path: &str) {
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
    report(path, &mut per, N_SIGNAL);
}

fn bench_int3_signal() {
    let r = kentry_user::signal::install(5, empty_handler, 0);
    if r != 0 {
        println!("# int3-signal: rt_sigaction failed ({r})");
        return;
    }
    int3_batches("int3-signal");
}

/// Set by [`note_sigtrap`]: a SIGTRAP was delivered.
static SIGTRAP_SEEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

extern "C" fn note_sigtrap(_sig: i32, _info: *const u8, _uc: *mut u8) {
    SIGTRAP_SEEN.store(true, core::sync::atomic::Ordering::Relaxed);
}

/// `floor-int3`: run by the kentry bench kernel with the `iretq`-only #BP gate. A SIGTRAP
/// handler is installed first: if one `int3` reaches it, the kernel's real #BP path answered,
/// not the floor stub, and nothing is timed.
fn bench_floor_int3() -> i32 {
    let r = kentry_user::signal::install(5, note_sigtrap, 0);
    if r != 0 {
        println!("# floor-int3: rt_sigaction failed ({r})");
        return 1;
    }
    time_int3(1, true);
    if SIGTRAP_SEEN.load(core::sync::atomic::Ordering::Relaxed) {
        println!("# floor-int3: int3 raised SIGTRAP: no floor stub answered");
        return 1;
    }
    int3_batches("floor-int3");
    0
}

/// fork + exit + wait round trips per batch.
const N_FORK: u64 = 100;
/// Execs per batch of the `exec` path.
const N_EXEC: u64 = 10;
/// Batches of the exec chain: a warm-up batch, then [`BATCHES`] timed ones.
const EXEC_BATCHES: u64 = BATCHES as u64 + 1;

/// Ticks of one fork + exit + wait4, averaged over `n`; `None` if fork failed.
fn fork_batch(n: u64) -> Option<u64> {
    use kentry_user::sys::syscall4;
    let t0 = kentry_user::cpu::rdtsc_ordered_marked();
    for _ in 0..n {
        // SAFETY: fork; the child only calls exit; wait4 reaps it.
        unsafe {
            let pid = kentry_user::sys::syscall0(nr::FORK);
            if pid == 0 {
                kentry_user::sys::syscall1(nr::EXIT, 0);
            }
            if pid < 0 {
                println!("# fork-exit-wait: fork failed ({pid})");
                return None;
            }
            syscall4(nr::WAIT4, pid as usize, 0, 0, 0);
        }
    }
    Some((kentry_user::cpu::rdtsc_ordered_marked() - t0 + n / 2) / n)
}

fn bench_fork_exit_wait() {
    // Warm-up batch: the page tables and QEMU translations of the fork, exit and wait paths.
    if fork_batch(N_FORK).is_none() {
        return;
    }
    let mut per = [0u64; BATCHES];
    for p in per.iter_mut() {
        match fork_batch(N_FORK) {
            Some(t) => *p = t,
            None => return,
        }
    }
    report("fork-exit-wait", &mut per, N_FORK);
}

/// `getpid-seccomp`: getpid under a 4-instruction seccomp filter that allows it (load the
/// arch, compare, return ALLOW, or KILL_PROCESS), in a forked child (a filter is for life).
/// The cost of the filter path: the syscall-work slow path and four BPF instructions.
fn bench_getpid_seccomp() {
    // SAFETY: fork; the child installs a filter on itself, measures, and exits; wait4 reaps.
    unsafe {
        let pid = kentry_user::sys::syscall0(nr::FORK);
        if pid == 0 {
            // struct sock_filter { u16 code; u8 jt, jf; u32 k; }: LD W ABS 4 (arch); JEQ
            // AUDIT_ARCH_X86_64 ? 0 : 1; RET ALLOW; RET KILL_PROCESS.
            let prog: [u64; 4] = [
                0x20 | (4u64 << 32),
                0x15 | (1u64 << 24) | (0xc000_003eu64 << 32),
                0x06 | (0x7fff_0000u64 << 32),
                0x06 | (0x8000_0000u64 << 32),
            ];
            let fprog: [u64; 2] = [prog.len() as u64, prog.as_ptr() as u64];
            // PR_SET_NO_NEW_PRIVS (38), then SECCOMP_SET_MODE_FILTER (1).
            kentry_user::sys::syscall2(nr::PRCTL, 38, 1);
            if kentry_user::sys::syscall3(nr::SECCOMP, 1, 0, fprog.as_ptr() as usize) != 0 {
                println!("# getpid-seccomp: the filter was refused");
                kentry_user::sys::exit_group(1);
            }
            bench_syscall("getpid-seccomp", nr::GETPID as u64);
            kentry_user::sys::exit_group(0);
        }
        if pid > 0 {
            let mut status = 0i32;
            kentry_user::sys::syscall4(nr::WAIT4, pid as usize, &raw mut status as usize, 0, 0);
        }
    }
}

/// Round trips per batch of `getpid-ptrace`: each getpid there is two stops, each a switch to
/// the tracer, its wait4 and ptrace, and a switch back (N = 10,000 would take minutes under
/// TCG on Linux).
const N_PTRACE: u64 = 200;

/// `getpid-traced` and `getpid-ptrace`: getpid in a child this process traces (TRACEME, then
/// a SIGSTOP the tracer waits for), resumed each time with PTRACE_CONT (`syscall_stops`
/// false: a tracer that asks for no syscall stops must leave the syscall fast path as it is)
/// or PTRACE_SYSCALL (a stop at each syscall's entry and exit). Every stop the child makes
/// (its SIGSTOP, syscall stops) is resumed without a signal; it ends when the child does.
fn bench_getpid_ptrace(path: &str, syscall_stops: bool, n: u64) {
    const TRACEME: usize = 0;
    const CONT: usize = 7;
    const SYSCALL: usize = 24;
    const WALL: usize = 0x4000_0000;
    use kentry_user::sys::{syscall0, syscall2, syscall4};
    // SAFETY: fork; the child asks to be traced, stops, measures and exits; this process
    // resumes each of its stops and reaps it.
    unsafe {
        let pid = syscall0(nr::FORK);
        if pid == 0 {
            syscall4(nr::PTRACE, TRACEME, 0, 0, 0);
            syscall2(nr::KILL, syscall0(nr::GETPID) as usize, 19);
            kentry_user::bench::bench_syscall::<BATCHES>(path, nr::GETPID as u64, n);
            kentry_user::sys::exit_group(0);
        }
        if pid < 0 {
            println!("# {path}: fork failed ({pid})");
            return;
        }
        let req = if syscall_stops { SYSCALL } else { CONT };
        loop {
            let mut status = 0i32;
            let w = syscall4(nr::WAIT4, pid as usize, &raw mut status as usize, WALL, 0);
            // Stopped: the low byte is 0x7f; anything else is the end.
            if w != pid || status & 0xff != 0x7f {
                break;
            }
            if syscall4(nr::PTRACE, req, pid as usize, 0, 0) != 0 {
                println!("# {path}: ptrace resume failed");
                syscall2(nr::KILL, pid as usize, 9);
            }
        }
    }
}

fn parse_u64(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &c| {
        a.wrapping_mul(10).wrapping_add((c - b'0') as u64)
    })
}

/// Formats `v` in decimal into `buf`, zero-padded to 20 digits and NUL-terminated; returns
/// the digits. A fixed width keeps every exec of the chain copying the same argv bytes.
fn fmt_u64(mut v: u64, buf: &mut [u8; 24]) -> &[u8] {
    buf[20] = 0;
    for i in (0..20).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    &buf[..21]
}

/// The argv slots of the exec chain: [self, "exec-round", done, batch sum, t0, pipe read end,
/// pipe write end]. `done` counts the execs measured so far. Each finished timed batch's
/// per-exec mean goes into the pipe (8 bytes), whose ends survive the execs, so argv keeps
/// the same size and each exec copies the same bytes (the numbers are fixed width).
const ARG_DONE: usize = 2;
const ARG_SUM: usize = 3;
const ARG_T0: usize = 4;
const ARG_PIPE_READ: usize = 5;
const ARG_PIPE_WRITE: usize = 6;
const EXEC_ARGS: usize = 7;

/// Execs this program (argv[0]) as the next link of the exec chain with the given state, the
/// TSC read last thing before the execve. Returns only if execve failed.
fn exec_next(self_path: &[u8], done: u64, sum: u64, pipe: [u64; 2]) -> i32 {
    let mut path = [0u8; 256];
    path[..self_path.len()].copy_from_slice(self_path);
    let mut bufs = [[0u8; 24]; 5];
    let [b_done, b_sum, b_t0, b_read, b_write] = &mut bufs;
    let mut argv: [*const u8; EXEC_ARGS + 1] = [core::ptr::null(); EXEC_ARGS + 1];
    argv[0] = path.as_ptr();
    argv[1] = c"exec-round".as_ptr() as *const u8;
    argv[ARG_DONE] = fmt_u64(done, b_done).as_ptr();
    argv[ARG_SUM] = fmt_u64(sum, b_sum).as_ptr();
    argv[ARG_PIPE_READ] = fmt_u64(pipe[0], b_read).as_ptr();
    argv[ARG_PIPE_WRITE] = fmt_u64(pipe[1], b_write).as_ptr();
    let envp: [*const u8; 1] = [core::ptr::null()];
    let t0 = kentry_user::cpu::rdtsc_ordered();
    argv[ARG_T0] = fmt_u64(t0, b_t0).as_ptr();
    // SAFETY: execve with NUL-terminated strings and NULL-terminated arrays.
    let r = unsafe {
        kentry_user::sys::syscall3(
            nr::EXECVE,
            path.as_ptr() as usize,
            argv.as_ptr() as usize,
            envp.as_ptr() as usize,
        )
    };
    println!("# exec: execve failed ({r})");
    1
}

/// Starts the exec chain: the pipe for the batch figures, then the first exec.
fn start_exec_chain(self_path: &[u8]) -> i32 {
    let mut fds = [0i32; 2];
    // SAFETY: pipe writes two fds into `fds`.
    let r = unsafe { kentry_user::sys::syscall1(nr::PIPE, fds.as_mut_ptr() as usize) };
    if r != 0 {
        println!("# exec: pipe failed ({r})");
        return 1;
    }
    exec_next(self_path, 0, 0, [fds[0] as u64, fds[1] as u64])
}

/// One link of the exec chain: adds this exec's ticks (from the execve to `now`, read first
/// thing in `main`) to the batch; closes a batch every [`N_EXEC`] execs (the first batch is
/// the warm-up and is not kept); reports after [`EXEC_BATCHES`] batches, else execs the next
/// link.
fn exec_round(args: &kentry_user::rt::Args, now: u64) -> i32 {
    let a = |i| parse_u64(args.get(i).unwrap_or(b"0"));
    let done = a(ARG_DONE) + 1;
    let mut sum = a(ARG_SUM) + now.wrapping_sub(a(ARG_T0));
    let pipe = [a(ARG_PIPE_READ), a(ARG_PIPE_WRITE)];
    if done % N_EXEC == 0 {
        if done > N_EXEC {
            let mean = (sum + N_EXEC / 2) / N_EXEC;
            let w = kentry_user::sys::write(pipe[1] as i32, &mean.to_ne_bytes());
            if w != 8 {
                println!("# exec: write to the result pipe failed ({w})");
                return 1;
            }
        }
        sum = 0;
    }
    if done == EXEC_BATCHES * N_EXEC {
        let mut bytes = [0u8; 8 * BATCHES];
        // SAFETY: read into this buffer; all batch figures are in the pipe by now.
        let r = unsafe {
            kentry_user::sys::syscall3(
                nr::READ,
                pipe[0] as usize,
                bytes.as_mut_ptr() as usize,
                bytes.len(),
            )
        };
        if r != bytes.len() as isize {
            println!("# exec: read of the batch figures returned {r}");
            return 1;
        }
        let mut results = [0u64; BATCHES];
        for (r, b) in results.iter_mut().zip(bytes.chunks_exact(8)) {
            *r = u64::from_ne_bytes(b.try_into().unwrap_or([0; 8]));
        }
        report("exec", &mut results, N_EXEC);
        // Last, in the chain's last process: a process whose vDSO pages are mapped pays more
        // per fork and exec (docs/vdso.md), and the fork and exec paths above must not.
        bench_vdso_clock_gettime(args);
        return 0;
    }
    exec_next(args.get(0).unwrap_or(b"/bin/bench"), done, sum, pipe)
}

/// The syscall number kentry's floor stubs answer (kentry::arch::bench_floor::FLOOR_NR); they
/// return it unchanged, where a real kernel returns -ENOSYS.
const FLOOR_NR: u64 = 0x0046_4c52;

/// `floor-bare` / `floor-frame`: run by the kentry bench kernel with LSTAR on a floor stub.
fn bench_floor(path: &str) -> i32 {
    // SAFETY: a syscall with no arguments that no kernel gives a meaning to but the floor stub.
    let r = unsafe { kentry_user::sys::syscall0(FLOOR_NR as usize) };
    if r as u64 != FLOOR_NR {
        println!("# {path}: no floor stub answered syscall {FLOOR_NR:#x} (got {r})");
        return 1;
    }
    bench_syscall(path, FLOOR_NR);
    0
}

/// `vdso-clock_gettime`: CLOCK_MONOTONIC through the vDSO, no kernel entry (docs/vdso.md).
fn bench_vdso_clock_gettime(args: &kentry_user::rt::Args) {
    use kentry_user::vdso;
    let Some(base) = args.auxv(vdso::AT_SYSINFO_EHDR).filter(|&b| b != 0) else {
        println!("# vdso-clock_gettime: no vDSO (AT_SYSINFO_EHDR)");
        return;
    };
    // SAFETY: `base` is the kernel's AT_SYSINFO_EHDR.
    match unsafe { vdso::lookup(base, b"__vdso_clock_gettime") } {
        Some(f) => kentry_user::bench::bench_vdso::<BATCHES>("vdso-clock_gettime", f, N),
        None => println!("# vdso-clock_gettime: no __vdso_clock_gettime in the vDSO"),
    }
}

fn main(args: kentry_user::rt::Args) -> i32 {
    let now = kentry_user::cpu::rdtsc_ordered();
    match args.get_str(1) {
        Some("exec-round") => return exec_round(&args, now),
        Some("ct") => {
            // Run by the kernel once more with context tracking switched on.
            bench_syscall("getpid-ct", nr::GETPID as u64);
            return 0;
        }
        Some(p @ ("floor-bare" | "floor-frame")) => return bench_floor(p),
        Some("floor-int3") => return bench_floor_int3(),
        Some("irq-user") => return bench_irq_user(),
        _ => {}
    }
    println!("# kentry bench: {BATCHES} batches of {N} round trips, ticks per round trip");
    bench_syscall("getpid", nr::GETPID as u64);
    bench_syscall("enosys", ENOSYS_NR);
    kentry_user::bench::bench_int80::<BATCHES>("int80-getpid", I386_GETPID, N);
    bench_getpid_seccomp();
    bench_getpid_ptrace("getpid-traced", false, N);
    bench_getpid_ptrace("getpid-ptrace", true, N_PTRACE);
    bench_irq_user_indicative();
    bench_int3_signal();
    bench_fork_exit_wait();
    // Last: it replaces this program.
    start_exec_chain(args.get(0).unwrap_or(b"/bin/bench"))
}

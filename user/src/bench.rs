//! Shared pieces of the benchmark programs: timing an asm loop with the TSC, and reporting
//! per-batch figures as a `bench` line (docs/harness.md "Bench").
//!
//! Both TSC reads of [`timed_asm!`] are marked (`ds rdtsc`, see [`MARKED_RDTSC`]) so that the
//! instruction-counting QEMU plugin (tools/insn-count) can count each timed region per vCPU.
//! xtask redoes each path's arithmetic on the plugin's counts: the order of a path's timed
//! regions (warm-ups, empty loops, timed loops) is written down in xtask/src/bench_plugin.rs
//! `layout_of`, which a change of the regions here must follow (a mismatch fails the run).
//! The bench line is not longer for it: the fork and exec figures grow with the program.

/// `rdtsc` with a DS segment prefix, as assembler text: the marker of tools/insn-count. A
/// segment prefix on an instruction without a memory operand has no effect, so this reads the
/// TSC exactly as `rdtsc` does and is one instruction, natively and under `-icount`.
#[macro_export]
macro_rules! marked_rdtsc {
    () => {
        ".byte 0x3e, 0x0f, 0x31"
    };
}

/// The bytes of [`marked_rdtsc!`] (tools/insn-count's `MARKER`).
pub const MARKED_RDTSC: [u8; 3] = [0x3e, 0x0f, 0x31];

/// Runs the asm `body` between two `lfence; rdtsc` reads (marked, see [`marked_rdtsc!`]) and evaluates to the ticks between
/// them (RAX and RDX are clobbered). Operands come in two lists: named ones (`n = inout(reg)
/// n => _`), then explicit registers and options (`out("rcx") _, options(nostack)`), as
/// `asm!` wants them in that order.
///
/// For example, `timed_asm!(["2:", "syscall", "dec {n}", "jnz 2b"], [n = inout(reg) n => _,],
/// [out("rcx") _, out("r11") _,])` times `n` syscalls (inside an `unsafe` block).
#[macro_export]
macro_rules! timed_asm {
    ([$($body:literal),+ $(,)?], [$($named:tt)*], [$($explicit:tt)*]) => {{
        let ticks: u64;
        core::arch::asm!(
            "lfence",
            $crate::marked_rdtsc!(),
            "shl rdx, 32",
            "or rax, rdx",
            "mov {t0}, rax",
            $($body),+,
            "lfence",
            $crate::marked_rdtsc!(),
            "shl rdx, 32",
            "or rax, rdx",
            "sub rax, {t0}",
            $($named)*
            t0 = out(reg) _,
            out("rax") ticks,
            out("rdx") _,
            $($explicit)*
        );
        ticks
    }};
}

/// median, min, max of a sorted non-empty slice.
pub fn stats(sorted: &[u64]) -> (u64, u64, u64) {
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

/// Sorts the per-batch figures and prints `bench <path> median=… min=… max=… iters=… batches=…`.
pub fn report(path: &str, per_batch: &mut [u64], iters: u64) {
    per_batch.sort_unstable();
    let (median, min, max) = stats(per_batch);
    crate::println!(
        "bench {path} median={median} min={min} max={max} iters={iters} batches={}",
        per_batch.len()
    );
    // Whole on the serial port before anything else can happen (sys::drain).
    crate::sys::drain(1);
}

/// Ticks for `n` iterations of `mov eax, nr; syscall; dec; jnz`.
#[inline(never)]
fn time_syscalls(number: u64, n: u64) -> u64 {
    // SAFETY: the loop only issues syscall `number` (getpid or an invalid number: no effect on
    // memory); RCX and R11 (clobbered by `syscall`) are declared. `t0` and `n` live in
    // registers `syscall` preserves.
    unsafe {
        crate::timed_asm!(
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
        crate::timed_asm!(
            ["2:", "mov rax, {nr}", "dec {n}", "jnz 2b"],
            [nr = in(reg) number, n = inout(reg) n => _,],
            [out("rcx") _, out("r11") _, options(nostack, nomem),]
        )
    }
}

/// A syscall path (`getpid`, `enosys`, `getpid-ct`, `getpid-nohz`, the floors): a warm-up
/// loop with the syscall and one without, `BATCHES` empty loops of `n`, then `BATCHES` timed
/// loops of `n`; each batch's figure is (its ticks − the median empty loop + n/2) / n. This
/// order of marked regions is xtask/src/bench_plugin.rs `Layout::SubMedian { warmup: 2 }`.
pub fn bench_syscall<const BATCHES: usize>(path: &str, number: u64, n: u64) {
    bench_loops::<BATCHES>(
        path,
        n,
        |k| time_syscalls(number, k),
        |k| time_empty(number, k),
    );
}

/// The method of [`bench_syscall`] for any pair of timed loops: `timed(k)` and `empty(k)`
/// time `k` iterations with and without the path. Warm-up loops of each (caches, TLB, QEMU's
/// translation blocks), `BATCHES` empty loops, then `BATCHES` timed ones; each batch's figure
/// is (its ticks − the median empty loop + n/2) / n.
fn bench_loops<const BATCHES: usize>(
    path: &str,
    n: u64,
    timed: impl Fn(u64) -> u64,
    empty: impl Fn(u64) -> u64,
) {
    timed(n / 10);
    empty(n / 10);

    let mut empties = [0u64; BATCHES];
    for e in empties.iter_mut() {
        *e = empty(n);
    }
    empties.sort_unstable();
    let empty_batch = empties[BATCHES / 2];

    let mut per_rt = [0u64; BATCHES];
    for p in per_rt.iter_mut() {
        let ticks = timed(n);
        *p = (ticks.saturating_sub(empty_batch) + n / 2) / n;
    }
    crate::println!("# {path}: empty loop {empty_batch} ticks per {n} iterations");
    report(path, &mut per_rt, n);
}

/// Ticks for `n` iterations of `mov eax, nr; int 0x80; dec; jnz`: the i386 system call gate
/// from 64-bit code, which preserves every register but RAX.
#[inline(never)]
fn time_int80(number: u64, n: u64) -> u64 {
    // SAFETY: the loop only issues i386 syscall `number` (getpid: no effect on memory);
    // `int $0x80` changes RAX only, which the macro already declares.
    unsafe {
        crate::timed_asm!(
            ["2:", "mov eax, {nr:e}", "int 0x80", "dec {n}", "jnz 2b"],
            [nr = in(reg) number, n = inout(reg) n => _,],
            [options(nostack),]
        )
    }
}

/// Ticks for `n` iterations of the same loop without the `int 0x80`.
#[inline(never)]
fn time_int80_empty(number: u64, n: u64) -> u64 {
    // SAFETY: register-only loop, with the same operands as `time_int80`.
    unsafe {
        crate::timed_asm!(
            ["2:", "mov eax, {nr:e}", "dec {n}", "jnz 2b"],
            [nr = in(reg) number, n = inout(reg) n => _,],
            [options(nostack, nomem),]
        )
    }
}

/// `int80-getpid`: i386 getpid (20) through `int $0x80` from 64-bit code, by
/// [`bench_syscall`]'s method and order of marked regions (a warm-up loop with the call and
/// one without, the empty loops, the timed loops: `Layout::SubMedian { warmup: 2 }`).
pub fn bench_int80<const BATCHES: usize>(path: &str, number: u64, n: u64) {
    bench_loops::<BATCHES>(
        path,
        n,
        |k| time_int80(number, k),
        |k| time_int80_empty(number, k),
    );
}

/// Ticks for `n` iterations of `mov edi, 1; mov rsi, ts; [call f]; dec; jnz`, between two
/// marked `lfence; rdtsc` reads as [`timed_asm!`] takes them (which cannot be used here: a
/// call needs `clobber_abi("C")`, and that wants every output in an explicit register). The
/// loop's own values live in callee-saved registers, which the call keeps.
macro_rules! vdso_loop {
    ($f:expr, $ts:expr, $n:expr, $($call:literal)?) => {{
        let ticks: u64;
        core::arch::asm!(
            "lfence",
            $crate::marked_rdtsc!(),
            "shl rdx, 32",
            "or rax, rdx",
            "mov r15, rax",
            "2:",
            "mov edi, 1",
            "mov rsi, r13",
            $($call,)?
            "dec r14",
            "jnz 2b",
            "lfence",
            $crate::marked_rdtsc!(),
            "shl rdx, 32",
            "or rax, rdx",
            "sub rax, r15",
            inout("r12") $f => _,
            inout("r13") $ts => _,
            inout("r14") $n => _,
            out("r15") _,
            out("rax") ticks,
            out("rdx") _,
            clobber_abi("C"),
        );
        ticks
    }};
}

/// Ticks for `n` calls of the vDSO function at `f` as `f(CLOCK_MONOTONIC, ts)`
/// (`vdso-clock_gettime`).
#[inline(never)]
fn time_vdso_calls(f: u64, ts: *mut [u64; 2], n: u64) -> u64 {
    // SAFETY: `f` is the vDSO's __vdso_clock_gettime (found by `crate::vdso::lookup`), called
    // with the C ABI: `clobber_abi("C")` declares every register it may change, and the loop's
    // own values are in callee-saved R12–R15; it writes only `*ts`. The stack pointer is as
    // the compiler left it for this function's body, 16-byte aligned, and nothing is pushed
    // before the call.
    unsafe { vdso_loop!(f, ts, n, "call r12") }
}

/// Ticks for `n` iterations of the same loop without the call.
#[inline(never)]
fn time_vdso_empty(f: u64, ts: *mut [u64; 2], n: u64) -> u64 {
    // SAFETY: register-only loop, with the same operands as `time_vdso_calls`.
    unsafe { vdso_loop!(f, ts, n,) }
}

/// `vdso-clock_gettime`: CLOCK_MONOTONIC through the vDSO's `__vdso_clock_gettime` at `f`, by
/// [`bench_syscall`]'s method and order of marked regions (`Layout::SubMedian { warmup: 2 }`).
/// The call is checked first: it must succeed and give a time.
pub fn bench_vdso<const BATCHES: usize>(path: &str, f: u64, n: u64) {
    let mut ts = [0u64; 2];
    let ts_ptr: *mut [u64; 2] = &mut ts;
    // SAFETY: as in `time_vdso_calls`, one call.
    let r: i64 = unsafe {
        let call: extern "C" fn(i64, *mut [u64; 2]) -> i64 = core::mem::transmute(f as usize);
        call(1, ts_ptr)
    };
    if r != 0 || ts == [0, 0] {
        crate::println!("# {path}: __vdso_clock_gettime failed ({r})");
        return;
    }
    time_vdso_calls(f, ts_ptr, n / 10);
    time_vdso_empty(f, ts_ptr, n / 10);
    let mut empty = [0u64; BATCHES];
    for e in empty.iter_mut() {
        *e = time_vdso_empty(f, ts_ptr, n);
    }
    empty.sort_unstable();
    let empty_batch = empty[BATCHES / 2];
    let mut per_call = [0u64; BATCHES];
    for p in per_call.iter_mut() {
        let ticks = time_vdso_calls(f, ts_ptr, n);
        *p = (ticks.saturating_sub(empty_batch) + n / 2) / n;
    }
    crate::println!("# {path}: empty loop {empty_batch} ticks per {n} iterations");
    report(path, &mut per_call, n);
}

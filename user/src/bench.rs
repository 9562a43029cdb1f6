//! Shared pieces of the benchmark programs: timing an asm loop with the TSC, and reporting
//! per-batch figures as a `bench` line (docs/harness.md "Bench").

/// Runs the asm `body` between two `lfence; rdtsc` reads and evaluates to the ticks between
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
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "mov {t0}, rax",
            $($body),+,
            "lfence",
            "rdtsc",
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
}

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
}

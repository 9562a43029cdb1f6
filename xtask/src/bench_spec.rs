//! What spec/bench.md asks of the bench lines: every path a ring-3 loop of N ≥ 10,000 round
//! trips per batch, reported over ≥ 11 batches. Each bench boot's lines are checked here, so a
//! run that measured less (as `irq-user` once did: 63 timer gaps in one batch) fails instead of
//! printing a figure that looks like the others. A path named `…-indicative` is exempt and says
//! so in its name, the table and the JSON.

use crate::bench::BenchLine;

/// Round trips per batch the spec asks for.
pub const SPEC_MIN_ITERS: u64 = 10_000;
/// Batches the spec asks for.
pub const SPEC_MIN_BATCHES: u64 = 11;

/// The suffix of a path whose figure is indicative only (fewer round trips than the spec's).
pub const INDICATIVE_SUFFIX: &str = "-indicative";

/// The paths every kentry bench boot prints, each exactly once: spec/bench.md's paths.
pub const KENTRY_PATHS: [&str; 12] = [
    "getpid",
    "enosys",
    "int80-getpid",
    "int80-getpid-32",
    "syscall32-getpid",
    "vdso-clock_gettime",
    "getpid-ct",
    "irq-user",
    "int3-signal",
    "pf-zero",
    "fork-exit-wait",
    "exec",
];

/// The paths of the Intel-vendor boot of the 32-bit bench program, each exactly once: the
/// SYSENTER entry, which the AMD-vendor model of the main boot raises #UD for
/// (user/c/ia32_bench.c).
pub const INTEL_PATHS: [&str; 1] = ["sysenter-getpid"];

/// The CPU model of that boot: the main boots' `max` with the Intel vendor.
pub const INTEL_CPU: &str = "max,vendor=GenuineIntel";

/// The lines of the Intel-vendor boot: every path of [`INTEL_PATHS`] exactly once, and none
/// short of its counts.
pub fn check_intel_boot(lines: &[BenchLine]) -> Result<(), String> {
    check_boot(lines, &INTEL_PATHS)
}

/// `run`'s lines with `intel`'s [`INTEL_PATHS`] lines put after its `syscall32-getpid` line
/// (the table keeps the order of first appearance), or at the end without one.
pub fn with_intel_lines(mut run: Vec<BenchLine>, intel: &[BenchLine]) -> Vec<BenchLine> {
    let at = run
        .iter()
        .position(|l| l.path == "syscall32-getpid")
        .map_or(run.len(), |i| i + 1);
    let extra: Vec<BenchLine> = intel
        .iter()
        .filter(|l| INTEL_PATHS.contains(&l.path.as_str()))
        .cloned()
        .collect();
    run.splice(at..at, extra);
    run
}

/// Why kentry has no Linux figure for `irq-user` (Linux prints `irq-user-indicative` only).
pub const LINUX_IRQ_USER_NOT_MEASURED: &str = "Linux irq-user not measured: Linux has no \
interrupt that ring 3 can raise and that returns without exit work, and its 1 ms tick gives \
too few gaps for the spec's counts; irq-user-indicative is the tick's gaps on both kernels";

/// The note under the table for the indicative paths.
pub const INDICATIVE_NOTE: &str = "irq-user-indicative: the timer tick's gaps in a ring-3 rdtsc \
loop, 1 batch of at most 63, with the tick's own work: indicative only; irq-user: kentry's \
bench timer (an interrupt every 10 µs, a tick every 100th), 15 batches of 10,000";

pub fn is_indicative(path: &str) -> bool {
    path.ends_with(INDICATIVE_SUFFIX)
}

/// The least round trips per batch a path must report. The spec's N, except for the paths
/// that run fewer, as docs/bench.md says (a fork, an exec or a traced syscall's four switches
/// cost 10^4–10^5 instructions, so N = 10,000 would take minutes per boot): a shortfall kept
/// visible here.
fn min_iters(path: &str) -> u64 {
    match path {
        "fork-exit-wait" => 100,
        "exec" => 10,
        "getpid-ptrace" => 200,
        _ => SPEC_MIN_ITERS,
    }
}

/// Why `line` has fewer round trips or batches than it must report, if it has.
pub fn shortfall(line: &BenchLine) -> Option<String> {
    if is_indicative(&line.path) {
        return None;
    }
    let (Some(iters), Some(batches)) = (line.iters, line.batches) else {
        return Some(format!(
            "{}: no iters= or batches= (spec/bench.md: N ≥ {SPEC_MIN_ITERS} per batch, ≥ \
             {SPEC_MIN_BATCHES} batches)",
            line.path
        ));
    };
    let need = min_iters(&line.path);
    (iters < need || batches < SPEC_MIN_BATCHES).then(|| {
        format!(
            "{}: iters={iters} batches={batches}, but it must report ≥ {need} round trips per \
             batch and ≥ {SPEC_MIN_BATCHES} batches (spec/bench.md)",
            line.path
        )
    })
}

/// The lines of any bench boot (kentry's or Linux's): none falls short of its counts.
pub fn check_lines(lines: &[BenchLine]) -> Result<(), String> {
    let short: Vec<String> = lines.iter().filter_map(shortfall).collect();
    if short.is_empty() {
        Ok(())
    } else {
        Err(short.join("; "))
    }
}

/// A problem for each of `paths` that a boot did not print exactly once.
pub fn once_each(lines: &[BenchLine], paths: &[&str]) -> Vec<String> {
    let mut trouble = Vec::new();
    for p in paths {
        match lines.iter().filter(|l| l.path == *p).count() {
            1 => {}
            0 => trouble.push(format!("{p}: no bench line")),
            n => trouble.push(format!("{p}: {n} bench lines")),
        }
    }
    trouble
}

/// The lines of one kentry bench boot: every path of [`KENTRY_PATHS`] exactly once, and none
/// short of its counts.
pub fn check_kentry_boot(lines: &[BenchLine]) -> Result<(), String> {
    check_boot(lines, &KENTRY_PATHS)
}

/// Every path of `paths` exactly once in `lines`, and none of `lines` short of its counts.
fn check_boot(lines: &[BenchLine], paths: &[&str]) -> Result<(), String> {
    let mut trouble = once_each(lines, paths);
    if let Err(e) = check_lines(lines) {
        trouble.push(e);
    }
    if trouble.is_empty() {
        Ok(())
    } else {
        Err(trouble.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::parse_line;

    fn parse(text: &str) -> Vec<BenchLine> {
        text.lines()
            .filter_map(parse_line)
            .map(|l| l.expect("well-formed"))
            .collect()
    }

    /// A kentry boot's lines as the bench programs print them, with `irq_user` as its
    /// irq-user line.
    fn kentry_boot(irq_user: &str) -> Vec<BenchLine> {
        parse(&format!(
            "bench getpid median=92 min=92 max=92 iters=10000 batches=15\n\
             bench enosys median=92 min=92 max=92 iters=10000 batches=15\n\
             bench int80-getpid median=77 min=77 max=77 iters=10000 batches=15\n\
             bench vdso-clock_gettime median=60 min=60 max=60 iters=10000 batches=15\n\
             bench irq-user-indicative median=162 min=162 max=293 iters=63 batches=1\n\
             bench int3-signal median=1216 min=1216 max=1216 iters=10000 batches=15\n\
             bench fork-exit-wait median=47686 min=47449 max=47687 iters=100 batches=15\n\
             bench exec median=75577 min=75421 max=75645 iters=10 batches=15\n\
             bench pf-zero median=891 min=891 max=891 iters=10000 batches=15\n\
             bench pf-read median=316 min=316 max=316 iters=10000 batches=15\n\
             bench int80-getpid-32 median=75 min=75 max=75 iters=10000 batches=15\n\
             bench syscall32-getpid median=80 min=80 max=80 iters=10000 batches=15\n\
             bench getpid-ct median=99 min=99 max=99 iters=10000 batches=15\n\
             {irq_user}\n\
             bench floor-bare median=9 min=9 max=9 iters=10000 batches=15\n"
        ))
    }

    #[test]
    fn a_full_kentry_boot_passes() {
        let lines = kentry_boot("bench irq-user median=120 min=120 max=121 iters=10000 batches=15");
        assert_eq!(check_kentry_boot(&lines), Ok(()));
    }

    #[test]
    fn a_short_irq_user_line_fails() {
        // What the bench printed before the fast timer: 63 tick gaps in one batch.
        let lines = kentry_boot("bench irq-user median=162 min=162 max=293 iters=63 batches=1");
        let e = check_kentry_boot(&lines).unwrap_err();
        assert!(e.contains("irq-user: iters=63 batches=1"), "{e}");
        // Either count alone is short too.
        for l in [
            "bench irq-user median=1 min=1 max=1 iters=9999 batches=15",
            "bench irq-user median=1 min=1 max=1 iters=10000 batches=10",
            "bench irq-user median=1 min=1 max=1",
        ] {
            let e = check_kentry_boot(&kentry_boot(l)).unwrap_err();
            assert!(e.starts_with("irq-user: "), "{l}: {e}");
        }
    }

    #[test]
    fn a_missing_or_repeated_path_fails() {
        let lines = kentry_boot("# irq-user: no fast interrupt source");
        let e = check_kentry_boot(&lines).unwrap_err();
        assert_eq!(e, "irq-user: no bench line");
        let line = "bench irq-user median=120 min=120 max=121 iters=10000 batches=15";
        let mut twice = kentry_boot(line);
        twice.extend(parse(line));
        assert_eq!(
            check_kentry_boot(&twice).unwrap_err(),
            "irq-user: 2 bench lines"
        );
    }

    #[test]
    fn indicative_lines_are_exempt_and_named_so() {
        let lines =
            parse("bench irq-user-indicative median=2569 min=2400 max=9000 iters=3 batches=1");
        assert_eq!(check_lines(&lines), Ok(()));
        assert!(is_indicative("irq-user-indicative"));
        assert!(!is_indicative("irq-user"));
        // A Linux boot's short line that is not indicative fails like kentry's.
        let lines = parse("bench getpid median=306 min=306 max=306 iters=100 batches=15");
        assert!(check_lines(&lines).unwrap_err().starts_with("getpid: "));
    }
}

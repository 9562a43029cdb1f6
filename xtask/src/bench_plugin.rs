//! Instruction counts from the QEMU plugin `tools/insn-count` instead of `-icount`: the
//! counting mode of `cargo xtask bench --plugin` (docs/bench.md "Counting with the plugin").
//!
//! The bench programs mark both TSC reads around every timed loop (`ds rdtsc`). The plugin
//! prints, for every marked read a vCPU executes, `kentry-insn vcpu=<v> count=<n>`, where `n`
//! is the number of instructions that vCPU had executed before the read. Two consecutive marks
//! of the benchmarked vCPU bound one timed region, and the difference of their counts is what
//! the difference of the two TSC reads is under `-icount shift=0`: the instructions after the
//! first read up to and including the second.
//!
//! The programs do their arithmetic on TSC ticks. [`layout_of`] writes down, per path, the
//! order of its timed regions and that arithmetic (user/src/bin/bench.rs and bench_mem.rs);
//! [`replace_figures`] redoes it on the plugin's regions, line by line in the order the lines
//! were printed, and fails unless every region is used exactly once. (The programs do not
//! print their layout: the fork and exec figures grow with the program's size.)

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::bench::{BenchLine, parse_line};
use crate::qemu::BootLog;
use crate::workspace::Workspace;

/// The package of the plugin (a cdylib).
pub const PLUGIN_PACKAGE: &str = "insn-count";

/// Builds the plugin (a host cdylib, release) and returns the path of the shared library.
pub fn build_plugin(ws: &Workspace) -> Result<PathBuf> {
    let target_dir = ws.target().join("host-tools");
    let status = ws
        .cargo()
        .args(["build", "--release", "-p", PLUGIN_PACKAGE, "--lib"])
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .context("running cargo build of the insn-count plugin")?;
    if !status.success() {
        bail!("cargo build -p {PLUGIN_PACKAGE} failed ({status})");
    }
    let so = target_dir.join("release").join("libinsn_count.so");
    if !so.is_file() {
        bail!("the plugin build left no {}", so.display());
    }
    Ok(so)
}

/// The QEMU arguments that load the plugin and send its output (`qemu_plugin_outs`) to
/// QEMU's stderr; `cpus`: `-smp` (the boot's `-smp 1` is overridden by this later one).
pub fn qemu_args(plugin: &Path, cpus: u32) -> Vec<String> {
    vec![
        "-plugin".into(),
        plugin.display().to_string(),
        "-d".into(),
        "plugin".into(),
        "-smp".into(),
        cpus.to_string(),
    ]
}

/// One `kentry-insn vcpu=<v> count=<n>` line of the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub vcpu: u32,
    pub count: u64,
}

/// The plugin's marks in the order printed; `Some(Err)` for a malformed mark line.
pub fn parse_mark(line: &str) -> Option<Result<Mark>> {
    let rest = line.trim().strip_prefix("kentry-insn ")?;
    let parse = || -> Result<Mark> {
        let mut vcpu = None;
        let mut count = None;
        for w in rest.split_whitespace() {
            match w.split_once('=') {
                Some(("vcpu", v)) => vcpu = Some(v.parse().context("vcpu")?),
                Some(("count", v)) => count = Some(v.parse().context("count")?),
                _ => bail!("unexpected {w:?}"),
            }
        }
        Ok(Mark {
            vcpu: vcpu.context("no vcpu=")?,
            count: count.context("no count=")?,
        })
    };
    Some(parse().with_context(|| format!("bad plugin line {line:?}")))
}

/// The timed regions of `vcpu`: consecutive pairs of its marks, as instruction counts. Only
/// the bench program executes marks, so a mark on another vCPU means it did not stay on
/// `vcpu` (or was never put there), and the regions would be wrong: an error.
pub fn regions(stderr: &str, vcpu: u32) -> Result<Vec<u64>> {
    let mut counts = Vec::new();
    for l in stderr.lines() {
        if let Some(m) = parse_mark(l) {
            let m = m?;
            if m.vcpu != vcpu {
                bail!(
                    "a mark on vCPU {} (the bench should run on vCPU {vcpu} only)",
                    m.vcpu
                );
            }
            counts.push(m.count);
        }
    }
    pair_regions(vcpu, &counts)
}

/// The timed regions of `vcpu`'s marks `counts` (in the order executed): consecutive pairs,
/// as instruction counts. An odd number of marks, or a count that goes back, is an error.
pub fn pair_regions(vcpu: u32, counts: &[u64]) -> Result<Vec<u64>> {
    if !counts.len().is_multiple_of(2) {
        bail!(
            "vCPU {vcpu} executed {} marks: not pairs of begin and end",
            counts.len()
        );
    }
    counts
        .chunks_exact(2)
        .map(|p| {
            p[1].checked_sub(p[0])
                .with_context(|| format!("vCPU {vcpu}: count went back from {} to {}", p[0], p[1]))
        })
        .collect()
}

/// The bench lines of a finished boot with the plugin's figures, counted on `vcpu`; fails
/// with the whole log printed if the plugin's marks do not match the lines.
pub fn figures_of_boot(log: &BootLog, vcpu: u32, mode: &str) -> Result<Vec<BenchLine>> {
    match regions(&log.stderr, vcpu).and_then(|r| replace_figures(&log.lines, &r)) {
        Ok(lines) => Ok(lines),
        Err(e) => {
            log.print_full(&format!("bench ({mode})"));
            bail!("the {mode} bench boot: plugin counts: {e:#}")
        }
    }
}

/// How a bench line's figures came from its timed regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `warmup` regions, then one empty-loop region per batch, then one timed region per
    /// batch: figure = (timed - median of the empty ones + iters/2) / iters.
    SubMedian { warmup: usize },
    /// `warmup` regions, then per batch a timed region and its loop-only region: figure =
    /// (timed - loop + iters/2) / iters.
    Pairs { warmup: usize },
    /// `warmup` regions, then one region per batch: figure = (region + iters/2) / iters.
    Plain { warmup: usize },
    /// No marked regions (irq-user, exec, and any path this table does not know).
    Unmarked,
}

/// The layout of a bench path's timed regions, as the bench programs run them.
pub fn layout_of(path: &str) -> Layout {
    match path {
        // bench_syscall: a warm-up loop with the syscall and one without, then the batches.
        // (bench_nohz runs the same function for getpid-nohz, and the bench's seccomp child
        // for getpid-seccomp, and its traced children for getpid-traced and getpid-ptrace.)
        "getpid" | "enosys" | "getpid-ct" | "getpid-nohz" | "getpid-seccomp" | "getpid-traced"
        | "getpid-ptrace" | "floor-bare" | "floor-frame" => Layout::SubMedian { warmup: 2 },
        // bench_int80: the same order as bench_syscall.
        "int80-getpid" => Layout::SubMedian { warmup: 2 },
        // ia32_bench.c's bench_loops: the same order as bench_syscall.
        "int80-getpid-32" | "syscall32-getpid" => Layout::SubMedian { warmup: 2 },
        // bench_vdso: the same order as bench_syscall.
        "vdso-clock_gettime" => Layout::SubMedian { warmup: 2 },
        // int3_batches: a warm-up loop, then the batches.
        "int3-signal" => Layout::SubMedian { warmup: 1 },
        // bench_floor_int3: the probe of one int3, then int3_batches.
        "floor-int3" => Layout::SubMedian { warmup: 2 },
        // bench_mem: a warm-up batch of two passes, then two passes per batch.
        "pf-zero" | "pf-read" => Layout::Pairs { warmup: 2 },
        // fork_batch: a warm-up batch, then one region per batch.
        "fork-exit-wait" => Layout::Plain { warmup: 1 },
        _ => Layout::Unmarked,
    }
}

impl Layout {
    /// Timed regions a path with this layout ran for `batches` batches.
    pub fn regions(self, batches: usize) -> usize {
        match self {
            Layout::SubMedian { warmup } | Layout::Pairs { warmup } => warmup + 2 * batches,
            Layout::Plain { warmup } => warmup + batches,
            Layout::Unmarked => 0,
        }
    }

    /// The per-batch figures from this path's regions (`regions.len() ==
    /// self.regions(batches)`), with the bench program's own arithmetic.
    fn figures(self, regions: &[u64], batches: usize, iters: u64) -> Vec<u64> {
        let per = |ticks: u64| (ticks + iters / 2) / iters;
        match self {
            Layout::SubMedian { warmup } => {
                let mut empty = regions[warmup..warmup + batches].to_vec();
                empty.sort_unstable();
                let empty = empty[batches / 2];
                regions[warmup + batches..]
                    .iter()
                    .map(|&t| per(t.saturating_sub(empty)))
                    .collect()
            }
            Layout::Pairs { warmup } => regions[warmup..]
                .chunks_exact(2)
                .map(|p| per(p[0].saturating_sub(p[1])))
                .collect(),
            Layout::Plain { warmup } => regions[warmup..].iter().map(|&t| per(t)).collect(),
            Layout::Unmarked => Vec::new(),
        }
    }
}

/// The bench lines of a serial log with the plugin's figures in place of the TSC's: each line
/// with a layout takes its regions from `regions` in order. Lines without marked regions
/// (irq-user, exec) are left out. Fails if the regions do not add up.
pub fn replace_figures(serial: &[String], regions: &[u64]) -> Result<Vec<BenchLine>> {
    let mut out = Vec::new();
    let mut next = 0;
    for l in serial {
        let Some(line) = parse_line(l) else { continue };
        let line = line?;
        let layout = layout_of(&line.path);
        if layout == Layout::Unmarked {
            continue;
        }
        let batches = line
            .batches
            .context("a marked bench line without batches=")? as usize;
        let iters = line.iters.context("a marked bench line without iters=")?;
        if batches == 0 || iters == 0 {
            bail!("{}: no batches or iterations", line.path);
        }
        let n = layout.regions(batches);
        let Some(mine) = regions.get(next..next + n) else {
            bail!(
                "{}: needs {n} timed regions from #{next}; the plugin saw {}",
                line.path,
                regions.len()
            );
        };
        next += n;
        let mut per = layout.figures(mine, batches, iters);
        per.sort_unstable();
        out.push(BenchLine {
            path: line.path,
            median: per[per.len() / 2] as f64,
            min: per[0] as f64,
            max: per[per.len() - 1] as f64,
            iters: Some(iters),
            batches: Some(batches as u64),
        });
    }
    if next != regions.len() {
        bail!(
            "the bench lines account for {next} timed regions; the plugin saw {}",
            regions.len()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_marks() {
        assert_eq!(
            parse_mark("kentry-insn vcpu=1 count=123").unwrap().unwrap(),
            Mark {
                vcpu: 1,
                count: 123
            }
        );
        assert!(parse_mark("qemu-system-x86_64: warning").is_none());
        assert!(parse_mark("kentry-insn vcpu=x count=1").unwrap().is_err());
        assert!(parse_mark("kentry-insn vcpu=1").unwrap().is_err());
        assert!(
            parse_mark("kentry-insn vcpu=1 count=2 extra")
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn pairs_the_marks_of_the_bench_vcpu() {
        let stderr = "kentry-insn vcpu=1 count=10\n\
                      some QEMU warning\n\
                      kentry-insn vcpu=1 count=17\n\
                      kentry-insn vcpu=1 count=20\n\
                      kentry-insn vcpu=1 count=120\n";
        assert_eq!(regions(stderr, 1).unwrap(), vec![7, 100]);
        // Marks on another vCPU: the bench was not where it should be.
        assert!(regions(stderr, 0).is_err());
        let moved = format!("{stderr}kentry-insn vcpu=0 count=5\nkentry-insn vcpu=0 count=9\n");
        assert!(regions(&moved, 1).is_err());
        assert!(
            regions("kentry-insn vcpu=1 count=1\n", 1).is_err(),
            "one mark is no region"
        );
        assert_eq!(regions("", 2).unwrap(), Vec::<u64>::new());
        assert!(
            regions(
                "kentry-insn vcpu=0 count=9\nkentry-insn vcpu=0 count=3\n",
                0
            )
            .is_err()
        );
    }

    #[test]
    fn counts_regions() {
        assert_eq!(layout_of("getpid").regions(15), 32);
        assert_eq!(layout_of("getpid-seccomp").regions(15), 32);
        assert_eq!(layout_of("int3-signal").regions(15), 31);
        assert_eq!(layout_of("pf-zero").regions(15), 32);
        assert_eq!(layout_of("fork-exit-wait").regions(15), 16);
        assert_eq!(layout_of("exec").regions(15), 0);
    }

    #[test]
    fn redoes_the_programs_arithmetic() {
        let serial: Vec<String> = [
            "# kentry bench",
            "bench getpid median=999 min=1 max=1 iters=10 batches=3",
            "bench irq-user median=5 min=5 max=5 iters=3 batches=1",
            "bench pf-zero median=999 min=1 max=1 iters=10 batches=2",
            "bench fork-exit-wait median=999 min=1 max=1 iters=10 batches=2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let regions = [
            // getpid: 2 warm-up, empty 30 31 29 (median 30), timed 940 934 955
            7, 7, 30, 31, 29, 940, 934, 955, //
            // pf-zero: 2 warm-up, (1000 - 40), (1010 - 40)
            1, 1, 1000, 40, 1010, 40, //
            // fork: 1 warm-up, 104, 95
            9, 104, 95,
        ];
        let lines = replace_figures(&serial, &regions).unwrap();
        let got: Vec<(&str, f64, f64, f64)> = lines
            .iter()
            .map(|l| (l.path.as_str(), l.median, l.min, l.max))
            .collect();
        assert_eq!(
            got,
            vec![
                // (940-30+5)/10 = 91, (934-30+5)/10 = 90, (955-30+5)/10 = 93
                ("getpid", 91.0, 90.0, 93.0),
                // (960+5)/10 = 96, (970+5)/10 = 97; median of two is the upper one
                ("pf-zero", 97.0, 96.0, 97.0),
                ("fork-exit-wait", 10.0, 10.0, 10.0),
            ]
        );
        // A region too many or too few is an error, not a shifted table.
        assert!(replace_figures(&serial, &regions[1..]).is_err());
        let mut more = regions.to_vec();
        more.push(1);
        assert!(replace_figures(&serial, &more).is_err());
    }
}

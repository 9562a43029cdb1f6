//! `cargo xtask bench --smp`: per-CPU instruction counts on `-smp 2`, counted by the insn-count
//! plugin (QEMU 7.2's `-icount` hangs multi-CPU boots). docs/bench.md "Per-CPU figures".
//!
//! Boots, all with the plugin and without `-icount`:
//! - kentry's bench mode on `-smp 1` (the reference), and on `-smp 2` with its programs on
//!   CPU 1 and on CPU 0 (`kentry.bench_cpu=`); SMP may cost the fast paths ([`FAST_PATHS`])
//!   at most [`SMP_BUDGET`] instructions over the reference, or the run fails;
//! - kentry's `bench-ipi` mode (kernel/src/bench_smp.rs): call-function IPI round trips from
//!   CPU 0 to CPU 1, and the same mode under plain TCG for its TSC ticks;
//! - kentry's `bench-nohz` mode with `nohz_full=1` (kernel/src/bench_nohz.rs, bench_nohz.rs
//!   here): getpid on the nohz_full CPU, held to its own ceiling [`NOHZ_FULL_BUDGET`] over
//!   `getpid-ct` on one CPU, what that CPU took meanwhile, and a grace period while it spins
//!   in user mode;
//! - Linux `mitigations=off` and `mitigations=off nohz_full=1 isolcpus=1` on `-smp 2`, the
//!   bench pinned to CPU 1, and `/bench_nohz` pinned there with nohz_full (unless
//!   `--no-linux`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::bench::{BenchArgs, BenchLine, Figures, bench_boot_log, parse_log, summarize};
use crate::bench_linux::{
    self, CONFIGS, Counter, LinuxBench, NOHZ_FULL, NOHZ_FULL_CPU, NOHZ_PROGRAM,
};
use crate::bench_nohz::{self, IrqLine, NOHZ_GETPID_PATH};
use crate::bench_plugin::{self, parse_mark};
use crate::bench_smp_report::{NohzReport, SmpReport};
use crate::qemu::Boot;
use crate::workspace::{self, Workspace};
use crate::{build, install, linux_image};

/// The paths whose SMP cost is held to [`SMP_BUDGET`] (issue 9: "SMP must not cost the fast
/// path more than 5 instructions").
pub const FAST_PATHS: [&str; 2] = ["getpid", "getpid-ct"];
/// Instructions SMP may add to a fast path over the one-CPU figure.
pub const SMP_BUDGET: f64 = 5.0;
/// The receiver loop's instructions per round trip besides the IPI (kernel/src/bench_smp.rs
/// `RECEIVER_LOOP_INSNS`: `inc`, `sti`, `hlt`, `cli`, `dec`, `jnz`).
pub const RECEIVER_LOOP_INSNS: u64 = 6;
/// The CPU that sends the round trip's IPIs, and the one that answers.
pub const IPI_SENDER: u32 = 0;
pub const IPI_RECEIVER: u32 = 1;
/// getpid on the nohz_full CPU is held to [`NOHZ_FULL_BUDGET`] against this one-CPU path
/// (getpid with context tracking on, which a nohz_full CPU needs).
pub const NOHZ_BASE_PATH: &str = "getpid-ct";
/// Instructions getpid on a nohz_full CPU may cost over [`NOHZ_BASE_PATH`] on one CPU. Not
/// SMP's cost ([`SMP_BUDGET`] is, and getpid/getpid-ct stay held to it on every CPU) but the
/// nohz_full feature's own, paid only on nohz_full CPUs: CPU-time accounting at both
/// transitions (the nohz_full test, `rdtsc` and an add or subtract into a per-CPU user-time
/// accumulator: 7 instructions each, kernel/src/nohz/vtime.rs), the check for a pending tick
/// decision (3) and the static-key jumps into and out of the two hook blocks. Measured +17
/// (120 against 103; +52 while each transition restamped under a sequence count and the
/// decision ran at every return); the ceiling leaves 8 for layout noise, so that a change that
/// makes the transitions dearer fails the run. Linux 6.1 pays 624 − 306 = +318.
pub const NOHZ_FULL_BUDGET: f64 = 25.0;

/// Per path, its figures (in the order printed).
pub type PathFigures = Vec<(String, Figures)>;

/// One fast path over budget: `cpu`'s figure against the one-CPU figure.
#[derive(Debug, Clone, PartialEq)]
pub struct OverBudget {
    pub path: String,
    pub cpu: u32,
    pub one_cpu: f64,
    pub smp: f64,
}

/// Checks every fast path on every CPU of the SMP boots against the one-CPU figure: a path
/// missing on either side is an error too (nothing was compared).
pub fn check_budget(
    one_cpu: &[(String, Figures)],
    per_cpu: &[(u32, Vec<(String, Figures)>)],
) -> Result<Vec<OverBudget>> {
    let get =
        |figs: &[(String, Figures)], p: &str| figs.iter().find(|(q, _)| q == p).map(|f| f.1.median);
    let mut over = Vec::new();
    for path in FAST_PATHS {
        let base = get(one_cpu, path).with_context(|| format!("no one-CPU {path} figure"))?;
        for (cpu, figs) in per_cpu {
            let smp = get(figs, path).with_context(|| format!("no {path} figure on CPU {cpu}"))?;
            if smp - base > SMP_BUDGET {
                over.push(OverBudget {
                    path: path.to_string(),
                    cpu: *cpu,
                    one_cpu: base,
                    smp,
                });
            }
        }
    }
    Ok(over)
}

/// getpid on the nohz_full CPU (`nohz`: the bench-nohz boots' figures) against
/// [`NOHZ_BASE_PATH`] on one CPU, held to [`NOHZ_FULL_BUDGET`]; a figure missing on either
/// side is an error.
pub fn check_nohz_budget(
    one_cpu: &[(String, Figures)],
    nohz: &[(String, Figures)],
) -> Result<Option<OverBudget>> {
    let get =
        |figs: &[(String, Figures)], p: &str| figs.iter().find(|(q, _)| q == p).map(|f| f.1.median);
    let base = get(one_cpu, NOHZ_BASE_PATH)
        .with_context(|| format!("no one-CPU {NOHZ_BASE_PATH} figure"))?;
    let smp =
        get(nohz, NOHZ_GETPID_PATH).with_context(|| format!("no {NOHZ_GETPID_PATH} figure"))?;
    Ok((smp - base > NOHZ_FULL_BUDGET).then(|| OverBudget {
        path: NOHZ_GETPID_PATH.to_string(),
        cpu: NOHZ_FULL_CPU,
        one_cpu: base,
        smp,
    }))
}

/// The IPI round trip's instruction counts per round trip, per batch (warm-up left out).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IpiBatches {
    /// Sender: from before `call_on_mask_then` to right after the ICR write.
    pub send: Vec<u64>,
    /// Sender: the rest of the round trip (the wait for CPU 1, wall-time dependent).
    pub wait: Vec<u64>,
    /// Receiver: IDT stub to `iretq`, inclusive.
    pub receive: Vec<u64>,
}

/// The plugin's marks per vCPU, in the order printed.
pub fn marks_by_vcpu(stderr: &str) -> Result<Vec<(u32, Vec<u64>)>> {
    let mut out: Vec<(u32, Vec<u64>)> = Vec::new();
    for l in stderr.lines() {
        if let Some(m) = parse_mark(l) {
            let m = m?;
            match out.iter_mut().find(|(v, _)| *v == m.vcpu) {
                Some((_, c)) => c.push(m.count),
                None => out.push((m.vcpu, vec![m.count])),
            }
        }
    }
    Ok(out)
}

/// Redoes the round trip's arithmetic on the plugin's marks (kernel/src/bench_smp.rs): the
/// sender marks the start of a batch, then twice per round trip (before the call, after the
/// send), then the end; the receiver marks the start and the end of a batch. One warm-up
/// batch, then `batches` of `iters` round trips. Fails unless the marks are exactly those.
pub fn ipi_batches(stderr: &str, iters: u64, batches: usize) -> Result<IpiBatches> {
    let marks = marks_by_vcpu(stderr)?;
    let of = |v: u32| -> &[u64] {
        marks
            .iter()
            .find(|(c, _)| *c == v)
            .map(|m| &m.1[..])
            .unwrap_or(&[])
    };
    if let Some((v, _)) = marks
        .iter()
        .find(|(v, _)| *v != IPI_SENDER && *v != IPI_RECEIVER)
    {
        bail!("marks on vCPU {v}, which takes no part in the round trip");
    }
    let (sender, receiver) = (of(IPI_SENDER), of(IPI_RECEIVER));
    let per_batch = 2 * iters as usize + 2;
    if sender.len() != (batches + 1) * per_batch {
        bail!(
            "the sender made {} marks; {} batches of {iters} make {}",
            sender.len(),
            batches + 1,
            (batches + 1) * per_batch
        );
    }
    if receiver.len() != (batches + 1) * 2 {
        bail!(
            "the receiver made {} marks; {} batches make {}",
            receiver.len(),
            batches + 1,
            (batches + 1) * 2
        );
    }
    let diff = |a: u64, b: u64| b.checked_sub(a).context("a count went back");
    let per = |total: u64| (total + iters / 2) / iters;
    let mut out = IpiBatches::default();
    for b in sender.chunks_exact(per_batch).skip(1) {
        // b = [start, a1, s1, a2, s2, …, aN, sN, end]
        let (mut send, mut wait) = (0, diff(b[0], b[1])?);
        for k in 0..iters as usize {
            let (a, s, next) = (b[1 + 2 * k], b[2 + 2 * k], b[3 + 2 * k]);
            send += diff(a, s)?;
            wait += diff(s, next)?;
        }
        out.send.push(per(send));
        out.wait.push(per(wait));
    }
    for r in receiver.chunks_exact(2).skip(1) {
        let loop_insns = RECEIVER_LOOP_INSNS * iters;
        let region = diff(r[0], r[1])?;
        let ipi = region
            .checked_sub(loop_insns)
            .context("a receiver batch shorter than its loop")?;
        out.receive.push(per(ipi));
    }
    Ok(out)
}

/// Median, minimum and maximum of per-batch figures as a bench line.
pub fn line_of(path: &str, per_batch: &[u64], iters: u64) -> Option<BenchLine> {
    let mut v = per_batch.to_vec();
    v.sort_unstable();
    Some(BenchLine {
        path: path.into(),
        median: *v.get(v.len() / 2)? as f64,
        min: v[0] as f64,
        max: v[v.len() - 1] as f64,
        iters: Some(iters),
        batches: Some(v.len() as u64),
    })
}

pub fn run(ws: &Workspace, args: &BenchArgs) -> Result<()> {
    let qemu = install::qemu()?;
    install::ensure_toolchain(ws)?;
    let vmlinuz = if args.no_linux {
        None
    } else {
        Some(linux_image::ensure_linux_image(&ws.target())?)
    };
    let art = build::all(ws, workspace::Flavor::Lean)?;
    let plugin = bench_plugin::build_plugin(ws)?;
    let timeout = Duration::from_secs(args.timeout);
    let boot_of = |cpus: u32, words: &[&str], with_plugin: bool| {
        let mut b = Boot::new(&art.kernel, &art.initrd, words);
        b.machine = args.machine;
        b.timeout = Some(timeout);
        b.cpus = cpus;
        if with_plugin {
            b.extra_args.extend(bench_plugin::qemu_args(&plugin, cpus));
        }
        b
    };
    // (label, cpus, bench cpu)
    let kentry_boots: [(u32, u32); 3] = [(1, 0), (2, 1), (2, 0)];
    let mut per_boot: Vec<Vec<Vec<BenchLine>>> = vec![Vec::new(); kentry_boots.len()];
    let mut tsc_lines = Vec::new();
    let mut ipi_runs: Vec<Vec<BenchLine>> = Vec::new();
    let mut nohz_runs = Vec::new();
    for i in 0..args.runs {
        for (k, &(cpus, cpu)) in kentry_boots.iter().enumerate() {
            let arg = format!("kentry.bench_cpu={cpu}");
            let name = format!("TCG, plugin, -smp {cpus}, programs on CPU {cpu}");
            eprintln!("xtask: bench boot {}/{} ({name})", i + 1, args.runs);
            let log = bench_boot_log(
                &qemu,
                &boot_of(cpus, &["kentry.mode=bench", &arg], true),
                &name,
                crate::bench_spec::check_kentry_boot,
            )?;
            per_boot[k].push(bench_plugin::figures_of_boot(&log, cpu, &name)?);
        }
        let name = "TCG, plugin, -smp 2, IPI round trip";
        eprintln!("xtask: bench boot {}/{} ({name})", i + 1, args.runs);
        let log = bench_boot_log(
            &qemu,
            &boot_of(2, &["kentry.mode=bench-ipi"], true),
            name,
            check_ipi_boot,
        )?;
        let (lines, _) = parse_log(&log.lines);
        let rt = lines
            .iter()
            .find(|l| l.path == "ipi-roundtrip")
            .context("no ipi-roundtrip line")?;
        let (iters, batches) = (
            rt.iters.context("no iters=")?,
            rt.batches.context("no batches=")? as usize,
        );
        let loop_line =
            format!("bench-ipi: receiver loop {RECEIVER_LOOP_INSNS} instructions per round trip");
        if !log.lines.iter().any(|l| l.ends_with(&loop_line)) {
            log.print_full(name);
            bail!("the IPI bench did not say \"{loop_line}\": its receiver loop changed");
        }
        let b = match ipi_batches(&log.stderr, iters, batches) {
            Ok(b) => b,
            Err(e) => {
                log.print_full(name);
                bail!("the IPI bench: plugin counts: {e:#}");
            }
        };
        ipi_runs.push(
            [
                ("ipi-send", &b.send),
                ("ipi-wait", &b.wait),
                ("ipi-receive", &b.receive),
            ]
            .iter()
            .filter_map(|(p, v)| line_of(p, v, iters))
            .collect(),
        );
        let name = "TCG, -smp 2, IPI round trip";
        eprintln!("xtask: bench boot {}/{} ({name})", i + 1, args.runs);
        let log = bench_boot_log(
            &qemu,
            &boot_of(2, &["kentry.mode=bench-ipi"], false),
            name,
            check_ipi_boot,
        )?;
        tsc_lines.push(parse_log(&log.lines).0);
        let name = "TCG, plugin, -smp 2, nohz_full=1";
        eprintln!("xtask: bench boot {}/{} ({name})", i + 1, args.runs);
        let nohz_cpu = format!("nohz_full={NOHZ_FULL_CPU}");
        let log = bench_boot_log(
            &qemu,
            &boot_of(2, &["kentry.mode=bench-nohz", &nohz_cpu], true),
            name,
            bench_nohz::check_kentry_boot,
        )?;
        match bench_nohz::kentry_run(&log.lines, &log.stderr, NOHZ_FULL_CPU) {
            Ok(r) => nohz_runs.push(r),
            Err(e) => {
                log.print_full(name);
                bail!("the nohz bench: {e:#}");
            }
        }
    }
    let (linux, linux_nohz) = match &vmlinuz {
        Some(v) => {
            let (cols, nohz) = linux_smp(ws, &qemu, v, args, &plugin)?;
            (Some(cols), Some(nohz))
        }
        None => (None, None),
    };
    let kentry: Vec<Vec<(String, Figures)>> = per_boot.iter().map(|runs| summarize(runs)).collect();
    let report = SmpReport {
        one_cpu: kentry[0].clone(),
        per_cpu: vec![(1, kentry[1].clone()), (0, kentry[2].clone())],
        ipi: summarize(&ipi_runs),
        ipi_tsc: summarize(&tsc_lines),
        nohz: NohzReport::new(&nohz_runs, linux_nohz.as_ref())?,
        linux,
        runs: args.runs,
    };
    let mut over = check_budget(&report.one_cpu, &report.per_cpu)?;
    over.extend(check_nohz_budget(&report.one_cpu, &report.nohz.kentry)?);
    print!("{}", report.table(&over));
    let out = ws.bench_dir().join("smp.json");
    std::fs::create_dir_all(ws.bench_dir())
        .with_context(|| format!("creating {}", ws.bench_dir().display()))?;
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&report.to_json(&over))? + "\n",
    )
    .with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", workspace::shown(&out, &ws.root));
    if !over.is_empty() {
        let what: Vec<String> = over
            .iter()
            .map(|o| {
                let (base, budget) = if o.path == NOHZ_GETPID_PATH {
                    (NOHZ_BASE_PATH, NOHZ_FULL_BUDGET)
                } else {
                    (o.path.as_str(), SMP_BUDGET)
                };
                format!(
                    "{} on CPU {}: {} against {base} {} on one CPU (at most +{budget})",
                    o.path, o.cpu, o.smp, o.one_cpu
                )
            })
            .collect();
        bail!("over budget: {}", what.join("; "));
    }
    Ok(())
}

/// Linux's `/bench_nohz` runs on its nohz_full CPU: getpid-nohz (plugin) and the
/// `bench-irqs` line of each run.
pub type LinuxNohz = (Vec<Vec<BenchLine>>, Vec<IrqLine>);

/// Linux on `-smp 2` under the plugin, `/bench` pinned to CPU 1: mitigations off, and
/// mitigations off with nohz_full=1 isolcpus=1 (CPU 1 is the nohz_full CPU); then
/// `/bench_nohz` on that CPU with nohz_full.
fn linux_smp(
    ws: &Workspace,
    qemu: &Path,
    vmlinuz: &Path,
    args: &BenchArgs,
    plugin: &Path,
) -> Result<(Vec<(String, PathFigures)>, LinuxNohz)> {
    std::fs::create_dir_all(ws.bench_dir())
        .with_context(|| format!("creating {}", ws.bench_dir().display()))?;
    let initramfs = bench_linux::initramfs_path(&ws.bench_dir());
    bench_linux::write_initramfs(&ws.user_bin_dir(), &ws.user_c_bin_dir(), &initramfs)?;
    let bench = LinuxBench {
        qemu,
        vmlinuz,
        initramfs: &initramfs,
        machine: args.machine,
        timeout: Duration::from_secs(args.timeout),
    };
    let mut out = Vec::new();
    for config in [CONFIGS[0], NOHZ_FULL] {
        let mut runs = Vec::new();
        for i in 0..args.runs {
            eprintln!(
                "xtask: Linux ({}) /bench boot {}/{} (TCG, plugin, -smp 2, CPU {NOHZ_FULL_CPU})",
                config.key,
                i + 1,
                args.runs
            );
            let counter = Counter::Plugin {
                plugin,
                cpus: 2,
                pin: Some(NOHZ_FULL_CPU),
            };
            let (_, counted) = bench.boot(&config, "bench", counter)?;
            runs.push(counted.unwrap_or_default());
        }
        out.push((config.key.to_string(), summarize(&runs)));
    }
    let counter = Counter::Plugin {
        plugin,
        cpus: 2,
        pin: Some(NOHZ_FULL_CPU),
    };
    let mut nohz: LinuxNohz = (Vec::new(), Vec::new());
    for i in 0..args.runs {
        eprintln!(
            "xtask: Linux ({}) /{NOHZ_PROGRAM} boot {}/{} (TCG, plugin, -smp 2, CPU {NOHZ_FULL_CPU})",
            NOHZ_FULL.key,
            i + 1,
            args.runs
        );
        let (_, counted, log) = bench.boot_with_log(&NOHZ_FULL, NOHZ_PROGRAM, counter)?;
        let irqs = match bench_nohz::linux_irqs(&log.lines, NOHZ_FULL_CPU) {
            Ok(l) => l,
            Err(e) => {
                log.print_full("Linux /bench_nohz");
                bail!("Linux /{NOHZ_PROGRAM}: {e:#}");
            }
        };
        nohz.0.push(counted.unwrap_or_default());
        nohz.1.push(irqs);
    }
    Ok((out, nohz))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tests::figures as figs;

    #[test]
    fn budget_check_fails_a_path_over_budget() {
        let one = figs(&[("getpid", 92.0), ("getpid-ct", 99.0)]);
        // Within budget: +5 exactly.
        let ok = vec![(1, figs(&[("getpid", 97.0), ("getpid-ct", 99.0)]))];
        assert!(check_budget(&one, &ok).unwrap().is_empty());
        // getpid-ct on CPU 0 costs 6 more: over.
        let bad = vec![
            (1, figs(&[("getpid", 92.0), ("getpid-ct", 100.0)])),
            (0, figs(&[("getpid", 93.0), ("getpid-ct", 105.0)])),
        ];
        assert_eq!(
            check_budget(&one, &bad).unwrap(),
            vec![OverBudget {
                path: "getpid-ct".into(),
                cpu: 0,
                one_cpu: 99.0,
                smp: 105.0
            }]
        );
        // A missing figure is an error, not a pass.
        assert!(check_budget(&one, &[(1, figs(&[("getpid", 92.0)]))]).is_err());
        assert!(check_budget(&figs(&[("getpid", 92.0)]), &ok).is_err());
    }

    #[test]
    fn nohz_budget_compares_with_getpid_ct_on_one_cpu() {
        let one = figs(&[("getpid", 92.0), ("getpid-ct", 99.0)]);
        // The nohz_full ceiling, not SMP's 5: within it passes, at it too, one over fails.
        let ok = figs(&[(NOHZ_GETPID_PATH, 99.0 + 21.0)]);
        assert_eq!(check_nohz_budget(&one, &ok).unwrap(), None);
        let at = figs(&[(NOHZ_GETPID_PATH, 99.0 + NOHZ_FULL_BUDGET)]);
        assert_eq!(check_nohz_budget(&one, &at).unwrap(), None);
        let just_over = figs(&[(NOHZ_GETPID_PATH, 100.0 + NOHZ_FULL_BUDGET)]);
        assert!(check_nohz_budget(&one, &just_over).unwrap().is_some());
        let over = check_nohz_budget(&one, &figs(&[(NOHZ_GETPID_PATH, 226.0)])).unwrap();
        assert_eq!(
            over,
            Some(OverBudget {
                path: NOHZ_GETPID_PATH.into(),
                cpu: NOHZ_FULL_CPU,
                one_cpu: 99.0,
                smp: 226.0
            })
        );
        // Either figure missing is an error, not a pass.
        assert!(check_nohz_budget(&one, &[]).is_err());
        assert!(check_nohz_budget(&figs(&[("getpid", 92.0)]), &ok).is_err());
    }

    /// Marks as the plugin prints them for a run of `batches` + 1 batches of `iters`.
    fn synthetic(iters: u64, batches: usize, send: u64, wait: u64, ipi: u64) -> String {
        let mut s = String::new();
        let (mut c0, mut c1) = (1000u64, 5000u64);
        for _ in 0..=batches {
            s += &format!("kentry-insn vcpu=1 count={c1}\n");
            c0 += 3;
            s += &format!("kentry-insn vcpu=0 count={c0}\n");
            for _ in 0..iters {
                c0 += wait;
                s += &format!("kentry-insn vcpu=0 count={c0}\n");
                c0 += send;
                s += &format!("kentry-insn vcpu=0 count={c0}\n");
            }
            c0 += 4;
            s += &format!("kentry-insn vcpu=0 count={c0}\n");
            c1 += (RECEIVER_LOOP_INSNS + ipi) * iters + 1;
            s += &format!("kentry-insn vcpu=1 count={c1}\n");
            c1 += 50;
        }
        s
    }

    #[test]
    fn redoes_the_round_trip_arithmetic() {
        let b = ipi_batches(&synthetic(10, 3, 40, 300, 120), 10, 3).unwrap();
        assert_eq!(b.send, vec![40; 3]);
        // 10 waits of 300, plus 4 at the end of the batch: 3004 / 10 rounds to 300.
        assert_eq!(b.wait, vec![300; 3]);
        assert_eq!(b.receive, vec![120; 3]);
        // A batch too many or too few, or marks on a third vCPU, fail.
        assert!(ipi_batches(&synthetic(10, 3, 40, 300, 120), 10, 2).is_err());
        assert!(ipi_batches(&synthetic(10, 3, 40, 300, 120), 9, 3).is_err());
        let third = synthetic(10, 3, 40, 300, 120) + "kentry-insn vcpu=2 count=1\n";
        assert!(ipi_batches(&third, 10, 3).is_err());
        let line = line_of("ipi-send", &[41, 40, 44], 10).unwrap();
        assert_eq!((line.median, line.min, line.max), (41.0, 40.0, 44.0));
        assert!(line_of("ipi-send", &[], 10).is_none());
    }
}

/// The IPI bench boot's lines are not the spec's ring-3 paths (bench_spec.rs): their batch
/// counts and the receiver loop are checked where the figures are taken.
fn check_ipi_boot(_: &[BenchLine]) -> Result<(), String> {
    Ok(())
}

//! The nohz_full figures of `cargo xtask bench --smp` (docs/bench.md "Per-CPU figures"):
//! kentry's `kentry.mode=bench-nohz` boot (kernel/src/bench_nohz.rs) and Linux's
//! `pin 1 /bench_nohz` boot (user/src/bin/bench_nohz.rs), both on `-smp 2` with CPU 1
//! nohz_full, counted by the insn-count plugin.
//!
//! What they print, and what is checked here before a figure is taken:
//! - `bench getpid-nohz …` (the getpid loop on the nohz_full CPU): its marks are all on that
//!   CPU's vCPU and have `getpid`'s layout (bench_plugin::layout_of);
//! - `bench-irqs <path> cpu=<n> LOC=… RES=… CAL=… TLB=… NMI=… [key=count…]`: what the
//!   nohz_full CPU took during `<path>`; every row must be there, as a count;
//! - kentry only, `bench rcu-gp-user-tsc …`: TSC ticks per grace period, and the grace-period
//!   batches' marks on vCPU 0, one pair per batch (a warm-up batch, then `batches=`), from
//!   which [`gp_batches`] takes CPU 0's instructions per grace period (`rcu-gp-user`); its
//!   `bench-irqs rcu-gp-user` line must count at least the grace periods run, each CPU 1
//!   quiescent state found once.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use crate::bench::{BenchLine, parse_log};
use crate::bench_plugin;
use crate::bench_smp::{line_of, marks_by_vcpu};

/// getpid on the nohz_full CPU.
pub const NOHZ_GETPID_PATH: &str = "getpid-nohz";
/// One grace period with the nohz_full CPU in user mode: CPU 0's instructions (plugin).
pub const GRACE_PERIOD_PATH: &str = "rcu-gp-user";
/// The same, in TSC ticks as the kernel timed it (host time under TCG: indicative).
pub const GRACE_PERIOD_TSC_PATH: &str = "rcu-gp-user-tsc";
/// The /proc/interrupts rows every `bench-irqs` line has (user/src/procfs.rs `IRQ_ROWS`).
pub const IRQ_ROWS: [&str; 5] = ["LOC", "RES", "CAL", "TLB", "NMI"];
/// The vCPU that runs the grace periods (the housekeeping CPU).
pub const GP_VCPU: u32 = 0;

/// One `bench-irqs` line: what CPU `cpu` took during `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct IrqLine {
    pub path: String,
    pub cpu: u32,
    /// [`IRQ_ROWS`] and any further counts of the line, by key.
    pub counts: BTreeMap<String, u64>,
}

impl IrqLine {
    pub fn get(&self, key: &str) -> Option<u64> {
        self.counts.get(key).copied()
    }

    /// `LOC 0 RES 0 CAL 0 TLB 0 NMI 0`.
    pub fn rows_text(&self) -> String {
        IRQ_ROWS
            .iter()
            .map(|r| format!("{r} {}", self.get(r).unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The worst of several runs' `bench-irqs` lines of one path: per key, the largest count
/// (`None` for no lines, or lines of different paths or CPUs).
pub fn worst(lines: &[IrqLine]) -> Option<IrqLine> {
    let first = lines.first()?;
    if lines
        .iter()
        .any(|l| l.path != first.path || l.cpu != first.cpu)
    {
        return None;
    }
    let mut out = first.clone();
    for l in &lines[1..] {
        for (k, v) in &l.counts {
            let e = out.counts.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }
    Some(out)
}

/// Reads a `bench-irqs` line (from a user program, or the kernel's `[kentry] ` log);
/// `None` for other lines, `Some(Err)` for a malformed one: a word that is not `key=count`,
/// a repeated key, no `cpu=` or a row of [`IRQ_ROWS`] missing.
pub fn parse_irq_line(line: &str) -> Option<Result<IrqLine>> {
    let line = line.trim();
    let line = line.strip_prefix("[kentry] ").unwrap_or(line);
    let rest = line.strip_prefix("bench-irqs ")?;
    let parse = || -> Result<IrqLine> {
        let mut words = rest.split_whitespace();
        let path = words.next().context("no path")?;
        let mut counts = BTreeMap::new();
        for w in words {
            let (k, v) = w
                .split_once('=')
                .with_context(|| format!("{w:?} is not key=count"))?;
            let v: u64 = v
                .parse()
                .with_context(|| format!("{k}={v} is not a count"))?;
            if counts.insert(k.to_string(), v).is_some() {
                bail!("{k}= twice");
            }
        }
        let cpu = counts.remove("cpu").context("no cpu=")?;
        for r in IRQ_ROWS {
            if !counts.contains_key(r) {
                bail!("no {r}=");
            }
        }
        Ok(IrqLine {
            path: path.to_string(),
            cpu: u32::try_from(cpu).context("cpu= is not a CPU number")?,
            counts,
        })
    };
    Some(parse().with_context(|| format!("bad bench-irqs line {line:?}")))
}

/// The one `bench-irqs` line of `path` in a serial log (an error if none or several, or if
/// any `bench-irqs` line is malformed).
pub fn irq_line(lines: &[String], path: &str) -> Result<IrqLine> {
    let mut found = Vec::new();
    for l in lines {
        if let Some(r) = parse_irq_line(l) {
            let r = r?;
            if r.path == path {
                found.push(r);
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!("no bench-irqs {path} line"),
        n => bail!("{n} bench-irqs {path} lines"),
    }
}

/// CPU 0's instructions per grace period, per batch (warm-up left out), from its marks: a
/// pair per batch, `batches` + 1 pairs of `iters` grace periods each.
pub fn gp_batches(marks: &[u64], iters: u64, batches: usize) -> Result<Vec<u64>> {
    if marks.len() != 2 * (batches + 1) {
        bail!(
            "vCPU {GP_VCPU} made {} marks; {} grace-period batches make {}",
            marks.len(),
            batches + 1,
            2 * (batches + 1)
        );
    }
    if iters == 0 {
        bail!("no grace periods per batch");
    }
    let regions = bench_plugin::pair_regions(GP_VCPU, marks)?;
    Ok(regions[1..]
        .iter()
        .map(|r| (r + iters / 2) / iters)
        .collect())
}

/// The figures of one nohz boot, each checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NohzRun {
    /// `getpid-nohz` with the plugin's figures; kentry also `rcu-gp-user` (plugin) and
    /// `rcu-gp-user-tsc` (as printed).
    pub lines: Vec<BenchLine>,
    /// `getpid-nohz`; kentry also `rcu-gp-user`.
    pub irqs: Vec<IrqLine>,
}

/// The `getpid-nohz` line counted on its CPU's marks, and that run's `bench-irqs` line
/// (whose `cpu=` says which vCPU the marks must come from). Marks on other vCPUs are left to
/// the caller.
fn getpid_nohz(
    serial: &[String],
    marks: &[(u32, Vec<u64>)],
    nohz_cpu: u32,
) -> Result<(BenchLine, IrqLine)> {
    let irqs = irq_line(serial, NOHZ_GETPID_PATH)?;
    if irqs.cpu != nohz_cpu {
        bail!(
            "getpid-nohz ran on CPU {}, not on the nohz_full CPU {nohz_cpu}",
            irqs.cpu
        );
    }
    let mine = marks
        .iter()
        .find(|(v, _)| *v == nohz_cpu)
        .map(|(_, m)| &m[..])
        .unwrap_or(&[]);
    let regions = bench_plugin::pair_regions(nohz_cpu, mine)?;
    let only: Vec<String> = serial
        .iter()
        .filter(|l| {
            crate::bench::parse_line(l).is_some_and(|b| b.is_ok_and(|b| b.path == NOHZ_GETPID_PATH))
        })
        .cloned()
        .collect();
    let lines = bench_plugin::replace_figures(&only, &regions)?;
    match &lines[..] {
        [l] => Ok((l.clone(), irqs)),
        _ => bail!("{} getpid-nohz lines", lines.len()),
    }
}

/// kentry's `bench-nohz` boot (its serial lines and QEMU's stderr, with the plugin's marks):
/// getpid-nohz on `nohz_cpu`, the grace periods on vCPU 0.
pub fn kentry_run(serial: &[String], stderr: &str, nohz_cpu: u32) -> Result<NohzRun> {
    let marks = marks_by_vcpu(stderr)?;
    if let Some((v, _)) = marks.iter().find(|(v, _)| *v != nohz_cpu && *v != GP_VCPU) {
        bail!("marks on vCPU {v}, which runs neither getpid-nohz nor the grace periods");
    }
    let (getpid, getpid_irqs) = getpid_nohz(serial, &marks, nohz_cpu)?;
    let (printed, bad) = parse_log(serial);
    if !bad.is_empty() {
        bail!("bad bench lines: {}", bad.join("; "));
    }
    let tsc = printed
        .iter()
        .find(|l| l.path == GRACE_PERIOD_TSC_PATH)
        .context("no rcu-gp-user-tsc line")?;
    let (iters, batches) = (
        tsc.iters.context("rcu-gp-user-tsc: no iters=")?,
        tsc.batches.context("rcu-gp-user-tsc: no batches=")? as usize,
    );
    let gp_marks = marks
        .iter()
        .find(|(v, _)| *v == GP_VCPU)
        .map(|(_, m)| &m[..])
        .unwrap_or(&[]);
    let per = gp_batches(gp_marks, iters, batches)?;
    let gp = line_of(GRACE_PERIOD_PATH, &per, iters).context("no grace-period batch")?;
    let gp_irqs = irq_line(serial, GRACE_PERIOD_PATH)?;
    check_gp_irqs(&gp_irqs, nohz_cpu, iters * (batches as u64 + 1))?;
    Ok(NohzRun {
        lines: vec![getpid, gp, tsc.clone()],
        irqs: vec![getpid_irqs, gp_irqs],
    })
}

/// The grace periods' `bench-irqs` line: on `nohz_cpu`, at least `min_gps` grace periods,
/// and that CPU's quiescent state found once for each (from its counter or its report).
pub fn check_gp_irqs(l: &IrqLine, nohz_cpu: u32, min_gps: u64) -> Result<()> {
    if l.cpu != nohz_cpu {
        bail!(
            "the grace periods watched CPU {}, not the nohz_full CPU {nohz_cpu}",
            l.cpu
        );
    }
    let get = |k: &str| {
        l.get(k)
            .with_context(|| format!("bench-irqs rcu-gp-user: no {k}="))
    };
    let (gps, ct, report) = (get("gps")?, get("qs-ct")?, get("qs-report")?);
    if gps < min_gps {
        bail!("{gps} grace periods completed, but {min_gps} were run");
    }
    if ct + report != gps {
        bail!(
            "CPU {nohz_cpu}'s quiescent states: {ct} from its counter and {report} reported, for {gps} grace periods"
        );
    }
    Ok(())
}

/// Linux's `pin 1 /bench_nohz` boot: its getpid-nohz line with the plugin's figures (the
/// caller's boot already checked the marks) and its `bench-irqs` line.
pub fn linux_irqs(serial: &[String], nohz_cpu: u32) -> Result<IrqLine> {
    let l = irq_line(serial, NOHZ_GETPID_PATH)?;
    if l.cpu != nohz_cpu {
        bail!("Linux ran /bench_nohz on CPU {}, not {nohz_cpu}", l.cpu);
    }
    Ok(l)
}

/// The bench-nohz boot's printed lines: `getpid-nohz` as spec/bench.md asks of a syscall
/// path, `rcu-gp-user-tsc` with at least 11 batches (its grace periods per batch are fewer
/// than the spec's 10,000 round trips: a grace period is thousands of instructions).
pub fn check_kentry_boot(lines: &[BenchLine]) -> Result<(), String> {
    let mut trouble =
        crate::bench_spec::once_each(lines, &[NOHZ_GETPID_PATH, GRACE_PERIOD_TSC_PATH]);
    for l in lines {
        let short = if l.path == GRACE_PERIOD_TSC_PATH {
            (l.batches.unwrap_or(0) < crate::bench_spec::SPEC_MIN_BATCHES
                || l.iters.unwrap_or(0) == 0)
                .then(|| format!("{}: iters={:?} batches={:?}", l.path, l.iters, l.batches))
        } else {
            crate::bench_spec::shortfall(l)
        };
        trouble.extend(short);
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

    fn s(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn parses_irq_lines() {
        let l = parse_irq_line("bench-irqs getpid-nohz cpu=1 LOC=0 RES=2 CAL=0 TLB=0 NMI=1")
            .unwrap()
            .unwrap();
        assert_eq!((l.path.as_str(), l.cpu), ("getpid-nohz", 1));
        assert_eq!((l.get("RES"), l.get("NMI")), (Some(2), Some(1)));
        assert_eq!(l.rows_text(), "LOC 0 RES 2 CAL 0 TLB 0 NMI 1");
        let k = parse_irq_line(
            "[kentry] bench-irqs rcu-gp-user cpu=1 LOC=0 RES=0 CAL=0 TLB=0 NMI=0 irqs=0 gps=12",
        )
        .unwrap()
        .unwrap();
        assert_eq!((k.get("gps"), k.get("irqs")), (Some(12), Some(0)));
        assert!(parse_irq_line("bench getpid median=1 min=1 max=1").is_none());
        assert!(parse_irq_line("# bench-irqs are printed below").is_none());
        // Malformed: a row missing, no cpu=, not a count, a word without =, a key twice.
        for bad in [
            "bench-irqs getpid-nohz cpu=1 LOC=0 RES=0 CAL=0 TLB=0",
            "bench-irqs getpid-nohz LOC=0 RES=0 CAL=0 TLB=0 NMI=0",
            "bench-irqs getpid-nohz cpu=1 LOC=-1 RES=0 CAL=0 TLB=0 NMI=0",
            "bench-irqs getpid-nohz cpu=1 LOC=0 RES=0 CAL=0 TLB=0 NMI=0 garbage",
            "bench-irqs getpid-nohz cpu=1 LOC=0 LOC=1 RES=0 CAL=0 TLB=0 NMI=0",
        ] {
            assert!(parse_irq_line(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn worst_of_runs_takes_the_largest_count() {
        let l = |t: &str| parse_irq_line(t).unwrap().unwrap();
        let a = l("bench-irqs getpid-nohz cpu=1 LOC=2 RES=0 CAL=0 TLB=0 NMI=0");
        let b = l("bench-irqs getpid-nohz cpu=1 LOC=0 RES=1 CAL=0 TLB=0 NMI=0");
        assert_eq!(
            worst(&[a.clone(), b]).unwrap().rows_text(),
            "LOC 2 RES 1 CAL 0 TLB 0 NMI 0"
        );
        assert!(worst(&[]).is_none());
        let other_cpu = l("bench-irqs getpid-nohz cpu=0 LOC=0 RES=0 CAL=0 TLB=0 NMI=0");
        assert!(worst(&[a, other_cpu]).is_none());
    }

    #[test]
    fn finds_exactly_one_irq_line_per_path() {
        let one = s("x\nbench-irqs getpid-nohz cpu=1 LOC=0 RES=0 CAL=0 TLB=0 NMI=0\n");
        assert_eq!(irq_line(&one, "getpid-nohz").unwrap().cpu, 1);
        assert!(irq_line(&one, "rcu-gp-user").is_err());
        let mut two = one.clone();
        two.extend(one.clone());
        assert!(irq_line(&two, "getpid-nohz").is_err());
        // A malformed line for another path fails too: nothing printed is ignored.
        let mut bad = one.clone();
        bad.push("bench-irqs rcu-gp-user cpu=1".into());
        assert!(irq_line(&bad, "getpid-nohz").is_err());
    }

    #[test]
    fn grace_period_arithmetic() {
        // Warm-up pair, then two batches of 100 grace periods: 518,300 and 518,449.
        let marks = [10, 600_000, 700_000, 1_218_300, 1_300_000, 1_818_449];
        assert_eq!(gp_batches(&marks, 100, 2).unwrap(), vec![5183, 5184]);
        assert!(gp_batches(&marks, 100, 3).is_err());
        assert!(gp_batches(&marks[..5], 100, 2).is_err());
        assert!(gp_batches(&[5, 4, 6, 7], 100, 1).is_err());
        assert!(gp_batches(&marks, 0, 2).is_err());
    }

    #[test]
    fn grace_period_counts_must_add_up() {
        let l = |t: &str| parse_irq_line(t).unwrap().unwrap();
        let base = "bench-irqs rcu-gp-user LOC=0 RES=0 CAL=0 TLB=0 NMI=0";
        let ok = l(&format!("{base} cpu=1 gps=1201 qs-ct=1201 qs-report=0"));
        assert!(check_gp_irqs(&ok, 1, 1200).is_ok());
        // Fewer grace periods than run, a QS unaccounted for, another CPU, a count missing.
        for bad in [
            format!("{base} cpu=1 gps=1199 qs-ct=1199 qs-report=0"),
            format!("{base} cpu=1 gps=1201 qs-ct=1100 qs-report=0"),
            format!("{base} cpu=0 gps=1201 qs-ct=1201 qs-report=0"),
            format!("{base} cpu=1 gps=1201 qs-ct=1201"),
        ] {
            assert!(check_gp_irqs(&l(&bad), 1, 1200).is_err(), "{bad}");
        }
    }

    /// The serial log and plugin marks of a bench-nohz boot: getpid-nohz on vCPU 1 at 226
    /// instructions (15 batches), 12 grace-period batches on vCPU 0 at 5,183.
    fn kentry_log(extra_mark: bool) -> (Vec<String>, String) {
        let mut stderr = String::new();
        let mut c1 = 1000u64;
        let mut mark = |v: u32, c: u64| stderr += &format!("kentry-insn vcpu={v} count={c}\n");
        // bench_syscall: 2 warm-ups, 15 empty loops of 30,000, 15 timed loops.
        for r in 0..32 {
            let len = match r {
                0 | 1 => 5000,
                2..=16 => 30_000,
                _ => 30_000 + 226 * 10_000,
            };
            mark(1, c1);
            c1 += len;
            mark(1, c1);
            c1 += 77;
        }
        let mut c0 = 50u64;
        for _ in 0..12 {
            mark(0, c0);
            c0 += 518_300;
            mark(0, c0);
            c0 += 9;
        }
        if extra_mark {
            mark(1, c1);
        }
        let serial = s("[kentry] bench-nohz: nohz_full CPU 1\n\
             # getpid-nohz: empty loop 212952 ticks per 10000 iterations\n\
             bench getpid-nohz median=2232 min=2189 max=3140 iters=10000 batches=15\n\
             bench-irqs getpid-nohz cpu=1 LOC=0 RES=0 CAL=0 TLB=0 NMI=0\n\
             [kentry] bench rcu-gp-user-tsc median=98811 min=70954 max=100677 iters=100 batches=11\n\
             [kentry] bench-irqs rcu-gp-user cpu=1 LOC=0 RES=0 CAL=0 TLB=0 NMI=0 irqs=0 exceptions=0 syscalls=0 gps=1201 qs-ct=1201 qs-report=0");
        (serial, stderr)
    }

    #[test]
    fn redoes_a_kentry_boot() {
        let run = |extra: bool, cpu: u32| {
            let (serial, stderr) = kentry_log(extra);
            kentry_run(&serial, &stderr, cpu)
        };
        let r = run(false, 1).unwrap();
        let fig = |p: &str| r.lines.iter().find(|l| l.path == p).unwrap().median;
        assert_eq!(fig(NOHZ_GETPID_PATH), 226.0);
        assert_eq!(fig(GRACE_PERIOD_PATH), 5183.0);
        assert_eq!(fig(GRACE_PERIOD_TSC_PATH), 98811.0);
        assert_eq!(r.irqs.len(), 2);
        assert!(check_kentry_boot(&parse_log(&kentry_log(false).0).0).is_ok());
        // An odd mark on the nohz_full CPU, or the wrong CPU, fails the boot's figures.
        assert!(run(true, 1).is_err());
        assert!(run(false, 2).is_err());
    }
}

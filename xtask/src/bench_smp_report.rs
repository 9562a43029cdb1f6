//! The table and JSON of `cargo xtask bench --smp` (bench_smp.rs).

use std::fmt::Write;

use serde_json::{Value, json};

use anyhow::{Context, Result};

use crate::bench::{Figures, summarize};
use crate::bench_nohz::{
    GRACE_PERIOD_PATH, GRACE_PERIOD_TSC_PATH, IrqLine, NOHZ_GETPID_PATH, NohzRun, worst,
};
use crate::bench_smp::{
    FAST_PATHS, LinuxNohz, NOHZ_BASE_PATH, NOHZ_FULL_BUDGET, OverBudget, PathFigures, SMP_BUDGET,
};

/// The nohz_full figures (bench_nohz.rs), over the runs.
pub struct NohzReport {
    /// kentry: `getpid-nohz` and `rcu-gp-user` (plugin), `rcu-gp-user-tsc` (TSC ticks).
    pub kentry: Vec<(String, Figures)>,
    /// kentry: what the nohz_full CPU took during the getpid run, and during the grace
    /// periods (the worst run).
    pub getpid_irqs: IrqLine,
    pub gp_irqs: IrqLine,
    /// Linux `/bench_nohz`: `getpid-nohz` (plugin) and what its nohz_full CPU took (the worst
    /// run); `None`: `--no-linux`.
    pub linux: Option<(Vec<(String, Figures)>, IrqLine)>,
}

impl NohzReport {
    pub fn new(runs: &[NohzRun], linux: Option<&LinuxNohz>) -> Result<Self> {
        let lines: Vec<_> = runs.iter().map(|r| r.lines.clone()).collect();
        let irqs = |path: &str| -> Result<IrqLine> {
            let of: Vec<IrqLine> = runs
                .iter()
                .flat_map(|r| r.irqs.iter().filter(|l| l.path == path).cloned())
                .collect();
            worst(&of).with_context(|| format!("no consistent bench-irqs {path} lines"))
        };
        let linux = match linux {
            Some((lines, irqs)) => Some((
                summarize(lines),
                worst(irqs).context("no consistent Linux bench-irqs lines")?,
            )),
            None => None,
        };
        Ok(NohzReport {
            kentry: summarize(&lines),
            getpid_irqs: irqs(NOHZ_GETPID_PATH)?,
            gp_irqs: irqs(GRACE_PERIOD_PATH)?,
            linux,
        })
    }

    /// The grace periods' interrupts, and how RCU found the spinning CPU quiescent.
    fn gp_irqs_text(&self) -> String {
        let l = &self.gp_irqs;
        let n = |k: &str| l.get(k).map_or("?".to_string(), |v| v.to_string());
        format!(
            "{}; any interrupt {}, exception {}; its QS seen from its counter {} of {}",
            l.rows_text(),
            n("irqs"),
            n("exceptions"),
            n("qs-ct"),
            n("gps")
        )
    }
}

/// Everything `--smp` measured.
pub struct SmpReport {
    /// kentry on `-smp 1`, plugin.
    pub one_cpu: Vec<(String, Figures)>,
    /// kentry on `-smp 2`, per CPU the programs ran on.
    pub per_cpu: Vec<(u32, Vec<(String, Figures)>)>,
    /// `ipi-send`, `ipi-wait`, `ipi-receive`: plugin instructions per round trip.
    pub ipi: Vec<(String, Figures)>,
    /// `ipi-roundtrip`: TSC ticks per round trip under plain TCG.
    pub ipi_tsc: Vec<(String, Figures)>,
    /// The nohz_full CPU's figures, kentry's and Linux's.
    pub nohz: NohzReport,
    /// Linux on `-smp 2`, CPU 1, per configuration key; `None`: `--no-linux`.
    pub linux: Option<Vec<(String, PathFigures)>>,
    pub runs: u32,
}

fn irq_json(l: &IrqLine) -> Value {
    json!({"cpu": l.cpu, "counts": l.counts})
}

fn get<'a>(figs: &'a [(String, Figures)], path: &str) -> Option<&'a Figures> {
    figs.iter().find(|(p, _)| p == path).map(|(_, f)| f)
}

fn cell(f: Option<&Figures>) -> String {
    match f {
        Some(f) if f.min == f.max => format!("{}", f.median),
        Some(f) => format!("{} ({}–{})", f.median, f.min, f.max),
        None => "–".into(),
    }
}

impl SmpReport {
    fn linux(&self, key: &str, path: &str) -> Option<&Figures> {
        let cols = self.linux.as_ref()?;
        let (_, figs) = cols.iter().find(|(k, _)| k == key)?;
        get(figs, path)
    }

    pub fn table(&self, over: &[OverBudget]) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "per-CPU instructions per round trip (insn-count plugin, no -icount; {} run(s); median (min–max) over batches)",
            self.runs
        );
        let _ = writeln!(
            s,
            "{:<15} {:>21} {:>21} {:>21} {:>8} {:>22} {:>22}",
            "path",
            "kentry -smp 1",
            "-smp 2, CPU 1",
            "-smp 2, CPU 0",
            "SMP Δ",
            "Linux off, CPU 1",
            "Linux nohz_full CPU 1"
        );
        for (path, one) in &self.one_cpu {
            let on = |cpu: u32| {
                self.per_cpu
                    .iter()
                    .find(|(c, _)| *c == cpu)
                    .and_then(|(_, f)| get(f, path))
            };
            let delta = self
                .per_cpu
                .iter()
                .filter_map(|(_, f)| get(f, path))
                .map(|f| f.median - one.median)
                .fold(f64::NEG_INFINITY, f64::max);
            let mark = if FAST_PATHS.contains(&path.as_str()) {
                if over.iter().any(|o| &o.path == path) {
                    " !"
                } else {
                    " ≤5"
                }
            } else {
                ""
            };
            // Linux's getpid on its nohz_full CPU is the getpid-ct figure.
            let (off, nohz) = match path.as_str() {
                "getpid-ct" => (None, self.linux("nohz-full", "getpid")),
                p => (self.linux("mitigations-off", p), self.linux("nohz-full", p)),
            };
            let _ = writeln!(
                s,
                "{:<15} {:>21} {:>21} {:>21} {:>8} {:>22} {:>22}",
                path,
                cell(Some(one)),
                cell(on(1)),
                cell(on(0)),
                if delta.is_finite() {
                    format!("{delta:+}{mark}")
                } else {
                    "–".into()
                },
                cell(off),
                cell(nohz)
            );
        }
        let _ = writeln!(
            s,
            "SMP Δ: the larger of the two CPUs' medians less the one-CPU median; the fast paths ({}) may cost at most {SMP_BUDGET}.",
            FAST_PATHS.join(", ")
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "call-function IPI, CPU 0 → CPU 1 and back (kentry `bench-ipi`; Linux: – , not measurable with these programs)"
        );
        let rows = [
            ("sender: call until the IPI is sent", "ipi-send", false),
            (
                "sender: wait for CPU 1 (wall-time dependent, indicative)",
                "ipi-wait",
                false,
            ),
            ("receiver: IPI entry to iretq", "ipi-receive", false),
            (
                "round trip, TSC ticks under plain TCG (indicative)",
                "ipi-roundtrip",
                true,
            ),
        ];
        for (what, path, tsc) in rows {
            let f = get(if tsc { &self.ipi_tsc } else { &self.ipi }, path);
            let _ = writeln!(s, "  {what:<58} {:>18}   Linux –", cell(f));
        }
        let _ = writeln!(s);
        s += &self.nohz_table(over);
        s
    }

    /// The nohz_full section: kentry `bench-nohz`, Linux `/bench_nohz` and `/bench`.
    fn nohz_table(&self, over: &[OverBudget]) -> String {
        let mut s = String::new();
        let n = &self.nohz;
        let _ = writeln!(
            s,
            "nohz_full CPU 1 (kentry `bench-nohz`, nohz_full=1; Linux mitigations=off nohz_full=1 isolcpus=1)"
        );
        let getpid = get(&n.kentry, NOHZ_GETPID_PATH);
        let delta = match (getpid, get(&self.one_cpu, NOHZ_BASE_PATH)) {
            (Some(g), Some(b)) => {
                let mark = if over.iter().any(|o| o.path == NOHZ_GETPID_PATH) {
                    "!"
                } else {
                    &format!("≤{NOHZ_FULL_BUDGET}")
                };
                format!(
                    " ({:+} {mark} over {NOHZ_BASE_PATH} -smp 1)",
                    g.median - b.median
                )
            }
            _ => String::new(),
        };
        let linux_getpid = match (&n.linux, self.linux("nohz-full", "getpid")) {
            (Some((l, _)), bench) => format!(
                "Linux {} (/bench_nohz: {})",
                cell(bench),
                cell(get(l, NOHZ_GETPID_PATH))
            ),
            (None, _) => "Linux –".to_string(),
        };
        let linux_irqs = match &n.linux {
            Some((_, l)) => format!("Linux {}", l.rows_text()),
            None => "Linux –".to_string(),
        };
        let rows: [(&str, String, String); 5] = [
            (
                "getpid on the nohz_full CPU, instructions",
                format!("{}{delta}", cell(getpid)),
                linux_getpid,
            ),
            (
                "on it during that getpid run (worst run)",
                n.getpid_irqs.rows_text(),
                linux_irqs,
            ),
            (
                "grace period, CPU 1 in user mode: CPU 0's instructions",
                cell(get(&n.kentry, GRACE_PERIOD_PATH)),
                "Linux –".into(),
            ),
            (
                "grace period, TSC ticks (plugin boot, host time; indicative)",
                cell(get(&n.kentry, GRACE_PERIOD_TSC_PATH)),
                "Linux –".into(),
            ),
            (
                "on CPU 1 during the grace periods (worst run)",
                n.gp_irqs_text(),
                "Linux –".into(),
            ),
        ];
        for (what, kentry, linux) in rows {
            let _ = writeln!(s, "  {what:<62} {kentry}   {linux}");
        }
        let _ = writeln!(
            s,
            "getpid on the nohz_full CPU may cost at most {NOHZ_FULL_BUDGET} over {NOHZ_BASE_PATH} on one CPU (nohz_full's own cost: CPU-time accounting at both transitions, the tick decision; Linux pays +318); goal for the interrupt rows: 0."
        );
        s
    }

    pub fn to_json(&self, over: &[OverBudget]) -> Value {
        let figs = |f: &[(String, Figures)]| -> Value {
            f.iter()
                .map(|(p, f)| {
                    (
                        p.clone(),
                        json!({"median": f.median, "min": f.min, "max": f.max}),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "version": 1,
            "counter": "insn-count plugin, no -icount",
            "runs": self.runs,
            "kentry-smp1": figs(&self.one_cpu),
            "kentry-smp2": self.per_cpu.iter().map(|(c, f)| (format!("cpu{c}"), figs(f))).collect::<serde_json::Map<_, _>>(),
            "ipi": figs(&self.ipi),
            "ipi-tsc": figs(&self.ipi_tsc),
            "linux-smp2-cpu1": self.linux.as_ref().map(|cols| cols.iter().map(|(k, f)| (k.clone(), figs(f))).collect::<serde_json::Map<_, _>>()),
            "over-budget": over.iter().map(|o| json!({"path": o.path, "cpu": o.cpu, "smp1": o.one_cpu, "smp2": o.smp})).collect::<Vec<_>>(),
            "nohz-full-cpu1": {
                "kentry": figs(&self.nohz.kentry),
                "kentry-irqs-getpid": irq_json(&self.nohz.getpid_irqs),
                "kentry-irqs-grace-periods": irq_json(&self.nohz.gp_irqs),
                "linux": self.nohz.linux.as_ref().map(|(f, i)| json!({"bench_nohz": figs(f), "irqs-getpid": irq_json(i)})),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tests::figures as figs;
    use crate::bench_nohz::parse_irq_line;

    fn report(linux: bool) -> SmpReport {
        let irq = |t: &str| parse_irq_line(t).unwrap().unwrap();
        SmpReport {
            one_cpu: figs(&[("getpid", 92.0), ("getpid-ct", 103.0)]),
            per_cpu: vec![(1, figs(&[("getpid", 92.0), ("getpid-ct", 103.0)]))],
            ipi: Vec::new(),
            ipi_tsc: Vec::new(),
            nohz: NohzReport {
                kentry: figs(&[(NOHZ_GETPID_PATH, 226.0), (GRACE_PERIOD_PATH, 5183.0)]),
                getpid_irqs: irq("bench-irqs getpid-nohz cpu=1 LOC=0 RES=0 CAL=0 TLB=0 NMI=0"),
                gp_irqs: irq(
                    "bench-irqs rcu-gp-user cpu=1 LOC=0 RES=0 CAL=0 TLB=0 NMI=0 irqs=0 exceptions=0 gps=1200 qs-ct=1200 qs-report=0",
                ),
                linux: linux.then(|| {
                    (
                        figs(&[(NOHZ_GETPID_PATH, 624.0)]),
                        irq("bench-irqs getpid-nohz cpu=1 LOC=3 RES=0 CAL=0 TLB=0 NMI=0"),
                    )
                }),
            },
            linux: linux.then(|| vec![("nohz-full".to_string(), figs(&[("getpid", 624.0)]))]),
            runs: 1,
        }
    }

    #[test]
    fn nohz_section_shows_the_figures_and_the_budget() {
        let over = [OverBudget {
            path: NOHZ_GETPID_PATH.into(),
            cpu: 1,
            one_cpu: 103.0,
            smp: 226.0,
        }];
        let t = report(true).table(&over);
        let row = |start: &str| {
            t.lines()
                .find(|l| l.trim_start().starts_with(start))
                .unwrap()
        };
        let getpid = row("getpid on the nohz_full CPU");
        assert!(
            getpid.contains("226 (+123 ! over getpid-ct -smp 1)"),
            "{getpid}"
        );
        assert!(getpid.contains("Linux 624 (/bench_nohz: 624)"), "{getpid}");
        assert!(row("on it during").contains("Linux LOC 3 RES 0"));
        assert!(row("on CPU 1 during").contains("from its counter 1200 of 1200"));
        // Within budget, and without Linux.
        let t = report(false).table(&[]);
        let within = format!("226 (+123 ≤{NOHZ_FULL_BUDGET} over");
        assert!(t.contains(&within), "{t}");
        assert!(!t.contains("Linux 624"));
        let j = report(false).to_json(&[]);
        assert_eq!(
            j["nohz-full-cpu1"]["kentry"]["getpid-nohz"]["median"],
            226.0
        );
        assert_eq!(
            j["nohz-full-cpu1"]["kentry-irqs-getpid"]["counts"]["LOC"],
            0
        );
    }
}

//! The table and JSON of `cargo xtask bench --smp` (bench_smp.rs).

use std::fmt::Write;

use serde_json::{Value, json};

use crate::bench::Figures;
use crate::bench_smp::{FAST_PATHS, OverBudget, PathFigures, SMP_BUDGET, extension_rows};

/// What a figure shows when nothing measured it.
pub const NOT_MEASURED: &str = "–  (not yet measured)";

/// A row whose kentry figure other work will provide.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    pub what: String,
    pub kentry: Option<String>,
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
    /// Linux on `-smp 2`, CPU 1, per configuration key; `None`: `--no-linux`.
    pub linux: Option<Vec<(String, PathFigures)>>,
    pub runs: u32,
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
        for r in extension_rows(&self.per_cpu) {
            let _ = writeln!(
                s,
                "  {:<58} {:>18}   Linux –",
                r.what,
                r.kentry.as_deref().unwrap_or(NOT_MEASURED)
            );
        }
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
            "not-yet-measured": extension_rows(&self.per_cpu).iter().filter(|r| r.kentry.is_none()).map(|r| r.what.clone()).collect::<Vec<_>>(),
        })
    }
}

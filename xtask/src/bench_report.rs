//! The bench results of one invocation: kentry, the floor stub and Linux side by side, as the
//! table on stdout and as `target/bench/latest.json`; and `--compare` against an older file.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::bench::Figures;
use crate::bench_linux::{
    CONFIGS, LinuxConfig, NOHZ_FULL, NOHZ_FULL_MEASURED, NOHZ_FULL_NOT_MEASURED,
};
use crate::bench_spec::{INDICATIVE_NOTE, LINUX_IRQ_USER_NOT_MEASURED, is_indicative};

/// The kentry path whose figure is the floor of the syscall paths: the floor stub with a full
/// frame and a call (kernel/src/bench_floor.rs).
pub const FLOOR_PATH: &str = "floor-frame";

/// The syscall paths the floor stub is the floor of.
const SYSCALL_PATHS: [&str; 3] = ["getpid", "enosys", "getpid-ct"];

/// The kentry path whose figure is the floor of the exception paths: `int3` to an `iretq`-only
/// gate.
pub const EXCEPTION_FLOOR_PATH: &str = "floor-int3";

/// The exception paths [`EXCEPTION_FLOOR_PATH`] is the floor of.
const EXCEPTION_PATHS: [&str; 1] = ["int3-signal"];

/// One Linux column's figures (one [`LinuxConfig`]).
#[derive(Debug, Clone)]
pub struct LinuxColumn {
    pub config: LinuxConfig,
    pub icount: Vec<(String, Figures)>,
    pub tcg: Vec<(String, Figures)>,
}

/// Figures of one path in one setting: under `-icount` and under plain TCG.
#[derive(Debug, Clone, Default)]
struct Pair {
    icount: Option<Figures>,
    tcg: Option<Figures>,
}

struct Row {
    path: String,
    kentry: Pair,
    floor: Option<f64>,
    /// One per [`CONFIGS`] entry; empty when Linux was not measured.
    linux: Vec<Pair>,
}

pub struct Report {
    rows: Vec<Row>,
    runs: u32,
    linux_measured: bool,
    /// Linux's getpid on a nohz_full CPU (`-smp 2`, counted by the plugin): the Linux figure
    /// of kentry's `getpid-ct`.
    nohz_getpid: Option<Figures>,
}

fn find(set: &[(String, Figures)], p: &str) -> Option<Figures> {
    set.iter().find(|(q, _)| q == p).map(|(_, f)| f.clone())
}

impl Report {
    /// `linux`: the measured Linux columns in [`CONFIGS`] order, or `None` (not measured).
    /// `nohz`: Linux's figures on a nohz_full CPU from the plugin run, if there was one.
    pub fn new(
        icount: &[(String, Figures)],
        tcg: &[(String, Figures)],
        linux: Option<&[LinuxColumn]>,
        runs: u32,
        nohz: Option<&[(String, Figures)]>,
    ) -> Self {
        let mut paths: Vec<&str> = Vec::new();
        let linux_sets = linux
            .unwrap_or(&[])
            .iter()
            .flat_map(|c| c.icount.iter().chain(&c.tcg));
        for (p, _) in icount.iter().chain(tcg).chain(linux_sets) {
            if !paths.contains(&p.as_str()) {
                paths.push(p);
            }
        }
        let floor = find(icount, FLOOR_PATH).map(|f| f.median);
        let exception_floor = find(icount, EXCEPTION_FLOOR_PATH).map(|f| f.median);
        let rows = paths
            .into_iter()
            .map(|p| Row {
                path: p.to_string(),
                kentry: Pair {
                    icount: find(icount, p),
                    tcg: find(tcg, p),
                },
                floor: if SYSCALL_PATHS.contains(&p) {
                    floor
                } else if EXCEPTION_PATHS.contains(&p) {
                    exception_floor
                } else {
                    None
                },
                linux: linux
                    .map(|cols| {
                        CONFIGS
                            .iter()
                            .map(|cfg| {
                                cols.iter()
                                    .find(|c| c.config == *cfg)
                                    .map(|c| Pair {
                                        icount: find(&c.icount, p),
                                        tcg: find(&c.tcg, p),
                                    })
                                    .unwrap_or_default()
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Self {
            rows,
            runs,
            linux_measured: linux.is_some(),
            nohz_getpid: nohz.and_then(|n| find(n, "getpid")),
        }
    }

    /// The table printed on stdout.
    pub fn table(&self) -> String {
        let mut head = vec![
            "path".to_string(),
            "kentry".into(),
            "min–max".into(),
            "floor".into(),
            "×floor".into(),
        ];
        for c in &CONFIGS {
            head.push(c.heading.into());
            head.push("×".into());
        }
        head.push("kentry ticks".into());
        head.push(format!("{} ticks", CONFIGS[0].heading));
        let mut t = vec![head];
        for r in &self.rows {
            let (ic, ic_range) = figure_cells(r.kentry.icount.as_ref());
            let ours = r.kentry.icount.as_ref().map(|f| f.median);
            let mut row = vec![
                r.path.clone(),
                ic,
                ic_range,
                opt(r.floor),
                ratio(ours, r.floor),
            ];
            for i in 0..CONFIGS.len() {
                let theirs = r
                    .linux
                    .get(i)
                    .and_then(|p| p.icount.as_ref())
                    .map(|f| f.median);
                let nohz = self.nohz_cell(&r.path, i);
                match (theirs, nohz) {
                    (None, Some(n)) => {
                        row.push(format!("{}*", num(n)));
                        row.push(ratio(ours, Some(n)));
                    }
                    _ => {
                        row.push(opt(theirs));
                        row.push(ratio(ours, theirs));
                    }
                }
            }
            row.push(opt(r.kentry.tcg.as_ref().map(|f| f.median)));
            row.push(opt(r
                .linux
                .first()
                .and_then(|p| p.tcg.as_ref())
                .map(|f| f.median)));
            t.push(row);
        }
        let mut s = layout(&t);
        s.push_str(&format!(
            "kentry, floor, Linux: guest instructions per round trip under -icount shift=0 (median \
             of {} run{}); ×: kentry / reference; ticks: rdtsc under plain TCG (noisy, compare only \
             within a run)\n",
            self.runs,
            if self.runs == 1 { "" } else { "s" }
        ));
        s.push_str(&format!(
            "floor: syscalls: the {FLOOR_PATH} stub (syscall, number check, swapgs, stack switch, \
             full frame, a call, sysretq); int3: {EXCEPTION_FLOOR_PATH} (hardware frame, iretq); \
             timed by the same loops\n"
        ));
        if self.linux_measured {
            s.push_str(&format!(
                "{}: Debian's Linux 6.1 with mitigations=off; {}: its default mitigations; same \
                 QEMU settings, the same bench programs as /init\n",
                CONFIGS[0].heading, CONFIGS[1].heading
            ));
        } else {
            s.push_str("Linux: not measured (cargo xtask bench --linux measures it)\n");
        }
        if self.rows.iter().any(|r| is_indicative(&r.path)) {
            s.push_str(INDICATIVE_NOTE);
            s.push('\n');
        }
        if self.linux_measured && self.rows.iter().any(|r| r.path == "irq-user") {
            s.push_str(LINUX_IRQ_USER_NOT_MEASURED);
            s.push('\n');
        }
        if self.rows.iter().any(|r| r.path == "getpid-ct") {
            if self.nohz_getpid.is_some() {
                s.push_str(NOHZ_FULL_MEASURED);
            } else {
                s.push_str(NOHZ_FULL_NOT_MEASURED);
            }
            s.push('\n');
        }
        s
    }

    /// The Linux figure of `path` in column `col` that comes from the nohz_full plugin run:
    /// getpid on the nohz_full CPU, in the mitigations-off column of `getpid-ct`.
    fn nohz_cell(&self, path: &str, col: usize) -> Option<f64> {
        (path == "getpid-ct" && CONFIGS[col].key == "mitigations-off")
            .then(|| self.nohz_getpid.as_ref().map(|f| f.median))
            .flatten()
    }

    pub fn to_json(&self) -> Value {
        let mut paths = serde_json::Map::new();
        for r in &self.rows {
            let linux = if self.linux_measured {
                let mut m = serde_json::Map::new();
                for (cfg, p) in CONFIGS.iter().zip(&r.linux) {
                    m.insert(cfg.key.into(), pair_json(p));
                }
                Value::Object(m)
            } else {
                Value::Null
            };
            let mut entry = pair_json(&r.kentry);
            entry["floor"] = json!(r.floor);
            entry["indicative"] = json!(is_indicative(&r.path));
            entry["linux"] = linux;
            if r.path == "getpid-ct"
                && let Some(f) = &self.nohz_getpid
                && entry["linux"].is_object()
            {
                entry["linux"][NOHZ_FULL.key] = json!({ "plugin": figures_json(f) });
            }
            paths.insert(r.path.clone(), entry);
        }
        let mut not_measured = serde_json::Map::new();
        if self.nohz_getpid.is_none() {
            not_measured.insert("linux getpid-ct".into(), json!(NOHZ_FULL_NOT_MEASURED));
        }
        if paths.contains_key("irq-user") {
            not_measured.insert("linux irq-user".into(), json!(LINUX_IRQ_USER_NOT_MEASURED));
        }
        json!({
            "version": 2,
            "runs": self.runs,
            "linux_measured": self.linux_measured,
            "not_measured": not_measured,
            "paths": paths,
        })
    }
}

/// Left-aligned first column, the rest right-aligned, a rule under the heading.
pub(crate) fn layout(t: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..t[0].len())
        .map(|c| {
            t.iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for (i, row) in t.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                let pad = " ".repeat(w - cell.chars().count());
                if c == 0 {
                    format!("{cell}{pad}")
                } else {
                    format!("{pad}{cell}")
                }
            })
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
        if i == 0 {
            let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            s.push_str(&"-".repeat(total));
            s.push('\n');
        }
    }
    s
}

fn pair_json(p: &Pair) -> Value {
    json!({
        "icount": p.icount.as_ref().map(figures_json),
        "tcg": p.tcg.as_ref().map(figures_json),
    })
}

pub(crate) fn figures_json(f: &Figures) -> Value {
    json!({
        "median": f.median,
        "min": f.min,
        "max": f.max,
        "iters": f.iters,
        "batches": f.batches,
    })
}

fn figure_cells(f: Option<&Figures>) -> (String, String) {
    match f {
        Some(f) => (num(f.median), format!("{}–{}", num(f.min), num(f.max))),
        None => ("–".into(), "–".into()),
    }
}

pub(crate) fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.1}")
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), num)
}

fn ratio(ours: Option<f64>, reference: Option<f64>) -> String {
    match (ours, reference) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

pub fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if !v["paths"].is_object() {
        bail!(
            "{} is not a bench result (no \"paths\" object)",
            path.display()
        );
    }
    Ok(v)
}

/// The change of kentry's figures from `old` to `new` (both in the latest.json format, version
/// 1 or 2), one line per path.
pub fn compare(old: &Value, new: &Value) -> String {
    let empty = serde_json::Map::new();
    let old_paths = old["paths"].as_object().unwrap_or(&empty);
    let new_paths = new["paths"].as_object().unwrap_or(&empty);
    let mut s = String::new();
    for (path, n) in new_paths {
        let Some(o) = old_paths.get(path) else {
            s.push_str(&format!("  {path}: new\n"));
            continue;
        };
        let part = |mode: &str| {
            let a = o[mode]["median"].as_f64();
            let b = n[mode]["median"].as_f64();
            match (a, b) {
                (Some(a), Some(b)) => format!("{mode} {} → {} ({})", num(a), num(b), change(a, b)),
                (None, Some(b)) => format!("{mode} – → {}", num(b)),
                (Some(a), None) => format!("{mode} {} → –", num(a)),
                (None, None) => format!("{mode} –"),
            }
        };
        s.push_str(&format!("  {path}: {}; {}\n", part("icount"), part("tcg")));
    }
    for path in old_paths.keys() {
        if !new_paths.contains_key(path) {
            s.push_str(&format!("  {path}: gone\n"));
        }
    }
    s
}

fn change(a: f64, b: f64) -> String {
    if a == b {
        "same".into()
    } else if a == 0.0 {
        "from 0".into()
    } else {
        format!("{:+.1}%", (b - a) / a * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tests::line;
    use crate::bench::{BenchLine, summarize};

    fn one(lines: Vec<BenchLine>) -> Vec<(String, Figures)> {
        summarize(&[lines])
    }

    /// The table row of `path`, split into cells.
    fn row<'a>(table: &'a str, path: &str) -> Vec<&'a str> {
        let l = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(path))
            .unwrap_or_else(|| panic!("no row {path} in\n{table}"));
        l.split_whitespace().collect()
    }

    #[test]
    fn table_with_linux_and_floor() {
        let icount = one(vec![
            line("getpid", 98.0, 98.0, 98.0),
            line("getpid-ct", 105.0, 105.0, 105.0),
            line("floor-frame", 49.0, 49.0, 49.0),
            line("floor-int3", 2.0, 2.0, 2.0),
            line("int3-signal", 1215.0, 1215.0, 1215.0),
            line("irq-user", 700.0, 690.0, 710.0),
        ]);
        let tcg = one(vec![line("getpid", 300.0, 280.0, 400.0)]);
        let linux = [
            LinuxColumn {
                config: CONFIGS[0],
                icount: one(vec![
                    line("getpid", 306.0, 306.0, 306.0),
                    line("irq-user-indicative", 2569.0, 2400.0, 9000.0),
                ]),
                tcg: one(vec![line("getpid", 1200.0, 1100.0, 1800.0)]),
            },
            LinuxColumn {
                config: CONFIGS[1],
                icount: one(vec![
                    line("getpid", 392.0, 392.0, 392.0),
                    line("exec", 9.0, 9.0, 9.0),
                ]),
                tcg: vec![],
            },
        ];
        let report = Report::new(&icount, &tcg, Some(&linux), 1, None);
        let table = report.table();
        // path kentry min–max floor ×floor off × dflt × ticks off-ticks
        assert_eq!(
            row(&table, "getpid"),
            [
                "getpid", "98", "98–98", "49", "2.00×", "306", "0.32×", "392", "0.25×", "300",
                "1200"
            ]
        );
        // No Linux figure for the nohz_full path: "–", and the reason below the table.
        assert_eq!(row(&table, "getpid-ct")[5..9], ["–", "–", "–", "–"]);
        assert!(table.contains(NOHZ_FULL_NOT_MEASURED), "{table}");
        // The exception floor is int3-signal's; other paths have no floor.
        assert_eq!(row(&table, "int3-signal")[3..5], ["2", "607.50×"]);
        assert_eq!(row(&table, "irq-user")[3], "–");
        // A path only Linux printed still gets a row.
        assert_eq!(row(&table, "exec")[1], "–");
        assert_eq!(row(&table, "exec")[7], "9");

        let json = report.to_json();
        let getpid = &json["paths"]["getpid"];
        assert_eq!(getpid["icount"]["median"], 98.0);
        assert_eq!(getpid["floor"], 49.0);
        assert_eq!(
            getpid["linux"]["mitigations-off"]["icount"]["median"],
            306.0
        );
        assert_eq!(getpid["linux"]["mitigations-off"]["tcg"]["median"], 1200.0);
        assert_eq!(getpid["linux"]["default"]["icount"]["median"], 392.0);
        assert_eq!(getpid["linux"]["default"]["tcg"], Value::Null);
        assert_eq!(
            json["paths"]["getpid-ct"]["linux"]["mitigations-off"]["icount"],
            Value::Null
        );
        assert_eq!(json["paths"]["irq-user"]["floor"], Value::Null);
        assert_eq!(json["linux_measured"], true);
        // irq-user has no Linux figure, and says why; the indicative path is marked so.
        assert!(table.contains(LINUX_IRQ_USER_NOT_MEASURED), "{table}");
        assert_eq!(
            json["not_measured"]["linux irq-user"],
            LINUX_IRQ_USER_NOT_MEASURED
        );
        assert_eq!(json["paths"]["irq-user"]["indicative"], false);
        assert_eq!(json["paths"]["irq-user-indicative"]["indicative"], true);
        assert!(table.contains(INDICATIVE_NOTE), "{table}");
        assert_eq!(row(&table, "irq-user-indicative")[5], "2569");
    }

    #[test]
    fn without_linux_every_linux_cell_is_a_dash() {
        let icount = one(vec![line("getpid", 91.0, 91.0, 91.0)]);
        let report = Report::new(&icount, &[], None, 2, None);
        let table = report.table();
        let r = row(&table, "getpid");
        assert_eq!(r[3..], ["–", "–", "–", "–", "–", "–", "–", "–"]);
        assert!(table.contains("Linux: not measured"), "{table}");
        assert!(table.contains("median of 2 runs"), "{table}");
        let json = report.to_json();
        assert_eq!(json["paths"]["getpid"]["linux"], Value::Null);
        assert_eq!(json["linux_measured"], false);
    }

    #[test]
    fn compares_with_older_results() {
        let tcg = one(vec![line("getpid", 300.0, 280.0, 400.0)]);
        let new = Report::new(
            &one(vec![
                line("getpid", 98.0, 98.0, 98.0),
                line("irq-user", 700.0, 690.0, 710.0),
            ]),
            &tcg,
            None,
            1,
            None,
        )
        .to_json();
        let older = Report::new(
            &one(vec![
                line("getpid", 112.0, 112.0, 112.0),
                line("exec", 1.0, 1.0, 1.0),
            ]),
            &tcg,
            None,
            1,
            None,
        )
        .to_json();
        let diff = compare(&older, &new);
        assert!(
            diff.contains("getpid: icount 112 → 98 (-12.5%); tcg 300 → 300 (same)"),
            "{diff}"
        );
        assert!(diff.contains("irq-user: new"), "{diff}");
        assert!(diff.contains("exec: gone"), "{diff}");
        // A version-1 file (refs instead of measured Linux figures) still compares.
        let v1 = json!({"version": 1, "paths": {"getpid": {
            "icount": {"median": 91.0}, "tcg": null, "refs": {"floor": 49.0, "linux": 306.0}}}});
        let diff = compare(&v1, &new);
        assert!(
            diff.contains("getpid: icount 91 → 98 (+7.7%); tcg – → 300"),
            "{diff}"
        );
    }
}

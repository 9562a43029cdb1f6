//! `cargo xtask bench`: boots `/bin/bench` under plain TCG and under `-icount shift=0`, prints
//! each path's figures beside the floor and Linux references of shared/spec/bench.md, and
//! writes them to `target/bench/latest.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::build;
use crate::install;
use crate::qemu::{self, Boot, KernelExit, Machine};
use crate::workspace::{self, Workspace};

/// The `-icount` setting under which one TSC tick is one guest instruction.
pub const ICOUNT_ARGS: [&str; 2] = ["-icount", "shift=0,sleep=off,align=off"];

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// An earlier latest.json to compare with.
    #[arg(long, value_name = "OLD.json")]
    pub compare: Option<PathBuf>,
    /// Boots per mode; the figures are the median of the runs' medians, the least minimum and
    /// the greatest maximum.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Timeout of each bench boot, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// The QEMU machine.
    #[arg(long, value_enum, default_value_t = Machine::Microvm)]
    pub machine: Machine,
}

/// One `bench <path> median=… min=… max=… iters=… batches=…` line.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchLine {
    pub path: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub iters: Option<u64>,
    pub batches: Option<u64>,
}

/// Reads a bench line; `None` for lines that are not bench lines at all, `Some(Err)` for bench
/// lines that are malformed.
pub fn parse_line(line: &str) -> Option<Result<BenchLine>> {
    let line = line.trim();
    let line = line.strip_prefix("[kentry] ").unwrap_or(line);
    let rest = line.strip_prefix("bench ")?;
    let mut words = rest.split_whitespace();
    let path = words.next()?;
    if path.contains('=') {
        return None; // prose such as "bench mode=…", not a result
    }
    Some(parse_fields(path, words).with_context(|| format!("bad bench line {line:?}")))
}

fn parse_fields<'a>(path: &str, words: impl Iterator<Item = &'a str>) -> Result<BenchLine> {
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for w in words {
        let (k, v) = w
            .split_once('=')
            .with_context(|| format!("{w:?} is not key=value"))?;
        fields.insert(k, v);
    }
    let num = |k: &str| -> Result<f64> {
        let v = fields.get(k).with_context(|| format!("no {k}="))?;
        let x: f64 = v
            .parse()
            .with_context(|| format!("{k}={v} is not a number"))?;
        if !x.is_finite() {
            bail!("{k}={v} is not finite");
        }
        Ok(x)
    };
    let count = |k: &str| -> Result<Option<u64>> {
        fields
            .get(k)
            .map(|v| v.parse().with_context(|| format!("{k}={v} is not a count")))
            .transpose()
    };
    Ok(BenchLine {
        path: path.to_string(),
        median: num("median")?,
        min: num("min")?,
        max: num("max")?,
        iters: count("iters")?,
        batches: count("batches")?,
    })
}

/// All bench lines of a log, in order, and the malformed ones as errors.
pub fn parse_log(lines: &[String]) -> (Vec<BenchLine>, Vec<String>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for l in lines {
        match parse_line(l) {
            Some(Ok(b)) => ok.push(b),
            Some(Err(e)) => bad.push(format!("{e:#}")),
            None => {}
        }
    }
    (ok, bad)
}

/// The reference figures of a path (instructions per round trip).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refs {
    pub floor: Option<f64>,
    pub linux: Option<f64>,
}

/// From shared/spec/bench.md: the floor and Linux 6.1 (mitigations=off; for `getpid-ct`, a
/// nohz_full CPU) under `-icount shift=0`.
pub fn refs(path: &str) -> Refs {
    let (floor, linux) = match path {
        "getpid" => (Some(49.0), Some(306.0)),
        "getpid-ct" => (None, Some(624.0)),
        "enosys" => (None, Some(209.0)),
        "int3-signal" => (None, Some(3893.0)),
        "pf-zero" => (Some(9.0), Some(6361.0)),
        _ => (None, None),
    };
    Refs { floor, linux }
}

/// One path's figures over several runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub iters: Option<u64>,
    pub batches: Option<u64>,
    pub runs: usize,
}

/// Combines the lines of one path from several runs.
pub fn combine(lines: &[&BenchLine]) -> Option<Figures> {
    let first = lines.first()?;
    let mut medians: Vec<f64> = lines.iter().map(|l| l.median).collect();
    medians.sort_by(f64::total_cmp);
    let n = medians.len();
    let median = if n % 2 == 1 {
        medians[n / 2]
    } else {
        (medians[n / 2 - 1] + medians[n / 2]) / 2.0
    };
    Some(Figures {
        median,
        min: lines.iter().map(|l| l.min).fold(f64::INFINITY, f64::min),
        max: lines
            .iter()
            .map(|l| l.max)
            .fold(f64::NEG_INFINITY, f64::max),
        iters: first.iters,
        batches: first.batches,
        runs: n,
    })
}

/// Paths in order of first appearance, each with its combined figures.
pub fn summarize(runs: &[Vec<BenchLine>]) -> Vec<(String, Figures)> {
    let mut order: Vec<&str> = Vec::new();
    for l in runs.iter().flatten() {
        if !order.contains(&l.path.as_str()) {
            order.push(&l.path);
        }
    }
    order
        .into_iter()
        .filter_map(|p| {
            let lines: Vec<&BenchLine> = runs.iter().flatten().filter(|l| l.path == p).collect();
            combine(&lines).map(|f| (p.to_string(), f))
        })
        .collect()
}

pub fn run(ws: &Workspace, args: &BenchArgs) -> Result<()> {
    let old = match &args.compare {
        Some(p) => Some(read_json(p)?),
        None => None,
    };
    let qemu = install::qemu()?;
    install::ensure_toolchain(ws)?;
    let art = build::all(ws, crate::workspace::Flavor::Lean)?;

    let mut tcg_runs = Vec::new();
    let mut icount_runs = Vec::new();
    for i in 0..args.runs {
        for icount in [false, true] {
            let mut boot = Boot::new(&art.kernel, &art.initrd, &["kentry.mode=bench"]);
            boot.machine = args.machine;
            boot.timeout = Some(Duration::from_secs(args.timeout));
            if icount {
                boot.extra_args = ICOUNT_ARGS.iter().map(|s| s.to_string()).collect();
            }
            let mode = if icount { "TCG -icount shift=0" } else { "TCG" };
            eprintln!("xtask: bench boot {}/{} ({mode})", i + 1, args.runs);
            let lines = bench_boot(&qemu, &boot, mode)?;
            if icount {
                icount_runs.push(lines);
            } else {
                tcg_runs.push(lines);
            }
        }
    }
    let icount = summarize(&icount_runs);
    let tcg = summarize(&tcg_runs);
    let report = Report::new(&icount, &tcg, args.runs);
    print!("{}", report.table());
    let json = report.to_json();
    let out = ws.bench_dir().join("latest.json");
    std::fs::create_dir_all(ws.bench_dir())
        .with_context(|| format!("creating {}", ws.bench_dir().display()))?;
    std::fs::write(&out, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", workspace::shown(&out, &ws.root));
    if let (Some(old), Some(p)) = (old, &args.compare) {
        println!();
        println!("change against {}:", p.display());
        print!("{}", compare(&old, &json));
    }
    Ok(())
}

/// Boots a bench kernel; returns its bench lines or fails with the whole log.
fn bench_boot(qemu: &Path, boot: &Boot, mode: &str) -> Result<Vec<BenchLine>> {
    let log = qemu::run(qemu, boot)?;
    let exit = log.kernel_exit();
    let (lines, bad) = parse_log(&log.lines);
    let trouble = if exit == KernelExit::Timeout {
        println!("TIMEOUT");
        Some(format!("the {mode} bench boot timed out"))
    } else if exit != KernelExit::Finished {
        Some(format!(
            "the {mode} bench boot ended badly: {}",
            log.describe()
        ))
    } else if !bad.is_empty() {
        Some(format!(
            "the {mode} bench printed bad lines: {}",
            bad.join("; ")
        ))
    } else if lines.is_empty() {
        Some(format!("the {mode} bench printed no `bench <path> …` line"))
    } else {
        None
    };
    if let Some(why) = trouble {
        log.print_full(&format!("bench ({mode})"));
        bail!(why);
    }
    Ok(lines)
}

/// The bench results of one invocation.
pub struct Report {
    rows: Vec<Row>,
    runs: u32,
}

struct Row {
    path: String,
    icount: Option<Figures>,
    tcg: Option<Figures>,
    refs: Refs,
}

impl Report {
    pub fn new(icount: &[(String, Figures)], tcg: &[(String, Figures)], runs: u32) -> Self {
        let mut paths: Vec<&str> = icount.iter().map(|(p, _)| p.as_str()).collect();
        for (p, _) in tcg {
            if !paths.contains(&p.as_str()) {
                paths.push(p);
            }
        }
        let find = |set: &[(String, Figures)], p: &str| {
            set.iter().find(|(q, _)| q == p).map(|(_, f)| f.clone())
        };
        let rows = paths
            .into_iter()
            .map(|p| Row {
                path: p.to_string(),
                icount: find(icount, p),
                tcg: find(tcg, p),
                refs: refs(p),
            })
            .collect();
        Self { rows, runs }
    }

    /// The table printed on stdout.
    pub fn table(&self) -> String {
        let mut t = vec![vec![
            "path".to_string(),
            "instr (icount)".into(),
            "min–max".into(),
            "floor".into(),
            "×floor".into(),
            "Linux 6.1".into(),
            "×Linux".into(),
            "TCG ticks".into(),
            "min–max".into(),
        ]];
        for r in &self.rows {
            let (ic, ic_range) = figure_cells(r.icount.as_ref());
            let (tc, tc_range) = figure_cells(r.tcg.as_ref());
            let ours = r.icount.as_ref().map(|f| f.median);
            t.push(vec![
                r.path.clone(),
                ic,
                ic_range,
                opt(r.refs.floor),
                ratio(ours, r.refs.floor),
                opt(r.refs.linux),
                ratio(ours, r.refs.linux),
                tc,
                tc_range,
            ]);
        }
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
                    let pad = w - cell.chars().count();
                    if c == 0 {
                        format!("{cell}{}", " ".repeat(pad))
                    } else {
                        format!("{}{cell}", " ".repeat(pad))
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
        s.push_str(&format!(
            "instr: guest instructions per round trip under -icount shift=0 (median of {} run{}); \
             ×: ours / reference; TCG ticks: rdtsc under plain TCG (noisy, compare only within a run)\n",
            self.runs,
            if self.runs == 1 { "" } else { "s" }
        ));
        s
    }

    pub fn to_json(&self) -> Value {
        let mut paths = serde_json::Map::new();
        for r in &self.rows {
            paths.insert(
                r.path.clone(),
                json!({
                    "icount": r.icount.as_ref().map(figures_json),
                    "tcg": r.tcg.as_ref().map(figures_json),
                    "refs": { "floor": r.refs.floor, "linux": r.refs.linux },
                }),
            );
        }
        json!({ "version": 1, "runs": self.runs, "paths": paths })
    }
}

fn figures_json(f: &Figures) -> Value {
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
        None => ("–".into(), "".into()),
    }
}

fn num(x: f64) -> String {
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

fn read_json(path: &Path) -> Result<Value> {
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

/// The change from `old` to `new` (both in the latest.json format), one line per path.
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

    #[test]
    fn parses_bench_lines() {
        let b = parse_line("bench getpid median=57 min=55 max=90 iters=10000 batches=11")
            .unwrap()
            .unwrap();
        assert_eq!(
            b,
            BenchLine {
                path: "getpid".into(),
                median: 57.0,
                min: 55.0,
                max: 90.0,
                iters: Some(10000),
                batches: Some(11),
            }
        );
        // Indented (nested program output) and fractional figures are accepted.
        let b = parse_line("    bench pf-zero median=812.5 min=800 max=900 iters=10000 batches=11")
            .unwrap()
            .unwrap();
        assert_eq!(b.median, 812.5);
        assert!(parse_line("[kentry] booting").is_none());
        assert!(parse_line("benchmark getpid").is_none());
        assert!(parse_line("bench mode=icount starting").is_none());
        assert!(
            parse_line("bench getpid median=x min=1 max=2")
                .unwrap()
                .is_err()
        );
        assert!(parse_line("bench getpid min=1 max=2").unwrap().is_err());
        assert!(
            parse_line("bench getpid median=1 min=1 max=2 stray")
                .unwrap()
                .is_err()
        );
        assert!(
            parse_line("bench getpid median=inf min=1 max=2")
                .unwrap()
                .is_err()
        );
    }

    fn line(path: &str, median: f64, min: f64, max: f64) -> BenchLine {
        BenchLine {
            path: path.into(),
            median,
            min,
            max,
            iters: Some(10000),
            batches: Some(11),
        }
    }

    #[test]
    fn combines_runs() {
        let runs = vec![
            vec![
                line("getpid", 60.0, 58.0, 70.0),
                line("enosys", 50.0, 49.0, 51.0),
            ],
            vec![line("getpid", 64.0, 57.0, 90.0)],
            vec![line("getpid", 62.0, 59.0, 80.0)],
        ];
        let s = summarize(&runs);
        assert_eq!(s[0].0, "getpid");
        assert_eq!((s[0].1.median, s[0].1.min, s[0].1.max), (62.0, 57.0, 90.0));
        assert_eq!(s[0].1.runs, 3);
        assert_eq!(s[1].0, "enosys");
        assert_eq!(s[1].1.runs, 1);
        let even = combine(&[&line("x", 1.0, 1.0, 1.0), &line("x", 2.0, 1.0, 2.0)]).unwrap();
        assert_eq!(even.median, 1.5);
    }

    #[test]
    fn table_json_and_compare() {
        let icount = summarize(&[vec![
            line("getpid", 98.0, 98.0, 98.0),
            line("irq-user", 700.0, 690.0, 710.0),
        ]]);
        let tcg = summarize(&[vec![line("getpid", 300.0, 280.0, 400.0)]]);
        let report = Report::new(&icount, &tcg, 1);
        let table = report.table();
        assert!(table.contains("getpid"), "{table}");
        assert!(table.contains("2.00×"), "{table}"); // 98 / 49
        assert!(table.contains("0.32×"), "{table}"); // 98 / 306
        let json = report.to_json();
        assert_eq!(json["paths"]["getpid"]["icount"]["median"], 98.0);
        assert_eq!(json["paths"]["getpid"]["refs"]["linux"], 306.0);
        assert_eq!(json["paths"]["irq-user"]["refs"]["floor"], Value::Null);
        assert_eq!(json["paths"]["irq-user"]["tcg"], Value::Null);

        let older = Report::new(
            &summarize(&[vec![
                line("getpid", 112.0, 112.0, 112.0),
                line("exec", 1.0, 1.0, 1.0),
            ]]),
            &tcg,
            1,
        )
        .to_json();
        let diff = compare(&older, &json);
        assert!(
            diff.contains("getpid: icount 112 → 98 (-12.5%); tcg 300 → 300 (same)"),
            "{diff}"
        );
        assert!(diff.contains("irq-user: new"), "{diff}");
        assert!(diff.contains("exec: gone"), "{diff}");
    }

    #[test]
    fn reference_figures() {
        assert_eq!(
            refs("getpid"),
            Refs {
                floor: Some(49.0),
                linux: Some(306.0)
            }
        );
        assert_eq!(
            refs("pf-zero"),
            Refs {
                floor: Some(9.0),
                linux: Some(6361.0)
            }
        );
        assert_eq!(
            refs("irq-user"),
            Refs {
                floor: None,
                linux: None
            }
        );
    }
}

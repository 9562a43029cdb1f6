//! `cargo xtask bench`: boots the lean kernel in bench mode (`/bin/bench`, `/bin/bench_mem`, the
//! floor stub runs) under plain TCG and under `-icount shift=0`; with `--linux`, Debian's Linux
//! with the same programs as init under the same settings (bench_linux.rs). Prints them side by
//! side (bench_report.rs) and writes `target/bench/latest.json`. docs/bench.md has the method.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::bench_linux::{self, CONFIGS, Counter, LinuxBench, NOHZ_FULL, NOHZ_FULL_CPU};
use crate::bench_plugin;
use crate::bench_plugin_report::PluginFigures;
use crate::bench_report::{LinuxColumn, Report, compare, read_json};
use crate::bench_spec;
use crate::build;
use crate::install;
use crate::linux_image;
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
    /// Boot Debian's Linux 6.1 (fetched into target/linux-image/ if missing) with the same
    /// bench programs as init, under the same QEMU settings, and print it beside kentry. This
    /// is the default; the flag is kept so that the command can say it.
    #[arg(long, conflicts_with = "no_linux")]
    pub linux: bool,
    /// Measure kentry only; the Linux columns show "–".
    #[arg(long)]
    pub no_linux: bool,
    /// Also count instructions with the QEMU plugin tools/insn-count (built first): kentry and
    /// Linux (mitigations off) on one vCPU, beside their -icount figures, which they must
    /// equal; and Linux with nohz_full=1 isolcpus=1 on -smp 2, the bench pinned to CPU 1,
    /// which -icount cannot boot. That run gives Linux's getpid-ct.
    #[arg(long)]
    pub plugin: bool,
    /// Instead: per-CPU instruction counts on -smp 2 with the plugin (getpid and getpid-ct on
    /// CPU 1 and CPU 0 against -smp 1, which they may exceed by at most 5; the call-function
    /// IPI round trip; Linux on CPU 1 of -smp 2). Writes target/bench/smp.json.
    #[arg(long, conflicts_with_all = ["plugin", "compare"])]
    pub smp: bool,
    /// Only this bench program's paths (one of bench, bench_mem, ia32_bench-glibc32), on
    /// kentry (`kentry.bench_only=`) and on Linux: a short run for one program's rows. Each
    /// line is still checked against the spec's counts, but not the whole list of paths.
    #[arg(long, value_name = "PROGRAM", value_parser = bench_linux::PROGRAMS,
          conflicts_with_all = ["plugin", "smp"])]
    pub program: Option<String>,
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
    if args.smp {
        return crate::bench_smp::run(ws, args);
    }
    let old = match &args.compare {
        Some(p) => Some(read_json(p)?),
        None => None,
    };
    let qemu = install::qemu()?;
    install::ensure_toolchain(ws)?;
    let vmlinuz = if !args.no_linux {
        Some(linux_image::ensure_linux_image(&ws.target())?)
    } else {
        None
    };
    let art = build::all(ws, crate::workspace::Flavor::Lean)?;
    let plugin = if args.plugin {
        Some(bench_plugin::build_plugin(ws)?)
    } else {
        None
    };

    let mut tcg_runs = Vec::new();
    let mut icount_runs = Vec::new();
    let mut figures = plugin.as_ref().map(|_| PluginFigures::default());
    let (mut plugin_icount_runs, mut plugin_alone_runs) = (Vec::new(), Vec::new());
    for i in 0..args.runs {
        // With the plugin, it also counts in the -icount boot (the same instruction stream
        // under both counters), and in a boot of its own without -icount.
        let modes: &[Mode] = if plugin.is_some() {
            &[Mode::Tsc, Mode::Icount, Mode::PluginAlone]
        } else {
            &[Mode::Tsc, Mode::Icount]
        };
        for &mode in modes {
            let only = args
                .program
                .as_ref()
                .map(|p| format!("kentry.bench_only={p}"));
            let words: Vec<&str> = ["kentry.mode=bench"]
                .into_iter()
                .chain(only.as_deref())
                .collect();
            let mut boot = Boot::new(&art.kernel, &art.initrd, &words);
            boot.machine = args.machine;
            boot.timeout = Some(Duration::from_secs(args.timeout));
            if mode == Mode::Icount {
                boot.extra_args = ICOUNT_ARGS.iter().map(|s| s.to_string()).collect();
            }
            if let Some(so) = plugin.as_deref().filter(|_| mode != Mode::Tsc) {
                boot.extra_args.extend(bench_plugin::qemu_args(so, 1));
            }
            let name = mode.name(plugin.is_some());
            eprintln!("xtask: bench boot {}/{} ({name})", i + 1, args.runs);
            let check = if args.program.is_some() {
                bench_spec::check_lines
            } else {
                bench_spec::check_kentry_boot
            };
            let log = bench_boot_log(&qemu, &boot, name, check)?;
            let counted = if boot.extra_args.iter().any(|a| a == "-plugin") {
                Some(bench_plugin::figures_of_boot(&log, 0, name)?)
            } else {
                None
            };
            match mode {
                Mode::Tsc => tcg_runs.push(parse_log(&log.lines).0),
                Mode::Icount => {
                    icount_runs.push(parse_log(&log.lines).0);
                    plugin_icount_runs.extend(counted);
                }
                Mode::PluginAlone => plugin_alone_runs.extend(counted),
            }
        }
    }
    if let Some(f) = figures.as_mut() {
        f.kentry_icount_boot = summarize(&plugin_icount_runs);
        f.kentry_alone = summarize(&plugin_alone_runs);
    }
    let linux = match &vmlinuz {
        Some(v) => Some(linux_columns(
            ws,
            &qemu,
            v,
            args,
            plugin.as_deref(),
            figures.as_mut(),
        )?),
        None => None,
    };
    let icount = summarize(&icount_runs);
    let tcg = summarize(&tcg_runs);
    let nohz = figures.as_ref().and_then(|p| p.linux_nohz.as_deref());
    let report = Report::new(&icount, &tcg, linux.as_deref(), args.runs, nohz);
    print!("{}", report.table());
    let mut json = report.to_json();
    if let Some(p) = &figures {
        let linux_off_icount = linux
            .as_ref()
            .and_then(|cols| cols.first())
            .map(|c| &c.icount[..]);
        println!();
        print!("{}", p.table(&icount, linux_off_icount));
        json["plugin"] = p.to_json(&icount, linux_off_icount);
    }
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

/// Boots Debian's Linux with each program of [`bench_linux::PROGRAMS`] as init, per
/// [`CONFIGS`] entry, run and mode; one column per configuration.
/// With the plugin, also the plugin's Linux figures (into `plugin_figures`).
fn linux_columns(
    ws: &Workspace,
    qemu: &Path,
    vmlinuz: &Path,
    args: &BenchArgs,
    plugin: Option<&Path>,
    mut plugin_figures: Option<&mut PluginFigures>,
) -> Result<Vec<LinuxColumn>> {
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
    let mut columns = Vec::new();
    for config in CONFIGS {
        let (mut icount_runs, mut tcg_runs) = (Vec::new(), Vec::new());
        let mut plugin_runs = Vec::new();
        for i in 0..args.runs {
            for icount in [false, true] {
                let mode = if icount { "TCG -icount shift=0" } else { "TCG" };
                let mut lines = Vec::new();
                let mut plugin_lines = Vec::new();
                for program in bench_linux::PROGRAMS
                    .into_iter()
                    .filter(|p| args.program.as_deref().is_none_or(|o| o == *p))
                {
                    eprintln!(
                        "xtask: Linux ({}) /{program} boot {}/{} ({mode})",
                        config.key,
                        i + 1,
                        args.runs
                    );
                    // The plugin counts in the -icount boots of mitigations off too.
                    let counter = match (icount, plugin) {
                        (false, _) => Counter::Tsc,
                        (true, Some(plugin)) if config == CONFIGS[0] => Counter::Icount {
                            plugin: Some(plugin),
                        },
                        (true, _) => Counter::Icount { plugin: None },
                    };
                    let (guest, counted) = bench.boot(&config, program, counter)?;
                    lines.extend(guest);
                    plugin_lines.extend(counted.into_iter().flatten());
                }
                if icount {
                    icount_runs.push(lines);
                } else {
                    tcg_runs.push(lines);
                }
                if !plugin_lines.is_empty() {
                    plugin_runs.push(plugin_lines);
                }
            }
        }
        if let Some(f) = plugin_figures.as_deref_mut()
            && config == CONFIGS[0]
        {
            f.linux_off_icount_boot = Some(summarize(&plugin_runs));
        }
        columns.push(LinuxColumn {
            config,
            icount: summarize(&icount_runs),
            tcg: summarize(&tcg_runs),
        });
    }
    if let (Some(plugin), Some(figures)) = (plugin, plugin_figures) {
        // nohz_full needs a second CPU, which -icount cannot boot: the plugin alone counts.
        let (cpus, pin) = (2, Some(NOHZ_FULL_CPU));
        let mut all = Vec::new();
        for i in 0..args.runs {
            let mut lines = Vec::new();
            for program in bench_linux::PROGRAMS {
                eprintln!(
                    "xtask: Linux ({}) /{program} boot {}/{} (TCG, plugin, -smp {cpus})",
                    NOHZ_FULL.key,
                    i + 1,
                    args.runs
                );
                let counter = Counter::Plugin { plugin, cpus, pin };
                let (_, counted) = bench.boot(&NOHZ_FULL, program, counter)?;
                lines.extend(counted.into_iter().flatten());
            }
            all.push(lines);
        }
        figures.linux_nohz = Some(summarize(&all));
    }
    Ok(columns)
}

/// The kinds of kentry bench boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plain TCG: rdtsc ticks.
    Tsc,
    /// `-icount shift=0` (with `--plugin`, the plugin counts in the same boot).
    Icount,
    /// The plugin without `-icount`.
    PluginAlone,
}

impl Mode {
    fn name(self, plugin: bool) -> &'static str {
        match (self, plugin) {
            (Mode::Tsc, _) => "TCG",
            (Mode::Icount, false) => "TCG -icount shift=0",
            (Mode::Icount, true) => "TCG -icount shift=0, plugin",
            (Mode::PluginAlone, _) => "TCG, plugin",
        }
    }
}

/// Boots a bench kernel; returns its log if it finished and printed well-formed bench lines
/// that pass `check` (for the bench mode: the spec's counts, bench_spec.rs), or fails with
/// the whole log.
pub(crate) fn bench_boot_log(
    qemu: &Path,
    boot: &Boot,
    mode: &str,
    check: fn(&[BenchLine]) -> Result<(), String>,
) -> Result<qemu::BootLog> {
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
    } else if let Err(e) = check(&lines) {
        Some(format!(
            "the {mode} bench's lines fall short of the spec: {e}"
        ))
    } else {
        None
    };
    if let Some(why) = trouble {
        log.print_full(&format!("bench ({mode})"));
        bail!(why);
    }
    Ok(log)
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// Per path, figures of one line each whose median, min and max are the given value (for
    /// tests of the per-CPU reports).
    pub(crate) fn figures(pairs: &[(&str, f64)]) -> Vec<(String, Figures)> {
        pairs
            .iter()
            .map(|(p, m)| {
                let l = line(p, *m, *m, *m);
                (p.to_string(), combine(&[&l]).unwrap())
            })
            .collect()
    }

    /// A bench line as the bench program prints it, for tests here and in bench_report.
    pub(crate) fn line(path: &str, median: f64, min: f64, max: f64) -> BenchLine {
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
}

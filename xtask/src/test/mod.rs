//! `cargo xtask test`: host unit tests, the test kernel's KTAP, the boot tests and the host ABI
//! cross-check, summed into one closing line `N passed, N failed, N skipped`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::boots::{self, BootTest};
use crate::build::{self, Artifacts};
use crate::entry_cases;
use crate::example;
use crate::fuzz;
use crate::host_run;
use crate::install;
use crate::ktap::{self, Counts, Outcome, Suite};
use crate::lean;
use crate::manifest::{self, Entry, Manifest};
use crate::noinstr;
use crate::qemu::{self, Boot, KernelExit, Machine};
use crate::runner_check::{self, Verdict};
use crate::tty_check;
use crate::unit;
use crate::workspace::{ABI_PACKAGE, ENTRY_PACKAGE, Flavor, KERNEL_LOGIC_PACKAGE, Workspace};

mod fuzz_runs;
mod host;
mod verify_runs;
use fuzz_runs::{fuzz_boot, fuzz_native};
use host::{host_check, host_only_skips};
use verify_runs::verify_runs;

/// Options of `cargo xtask test`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Run only the host side: the unit tests and the manifest natively on this host.
    #[arg(long)]
    pub host: bool,
    /// Run only the boot tests (the boots that must end in a panic or a double fault).
    #[arg(long, conflicts_with = "host")]
    pub negative: bool,
    /// Run only the test of this name: a kernel self-test or manifest entry (in the guest and
    /// on the host), or a boot test. The host unit tests are left out.
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
    /// Timeout of the main test boot, in seconds. It runs every guest test in one boot,
    /// under a minute on this 2-core machine: the bound leaves room for a loaded one.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
    /// Timeout of each boot test, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub boot_timeout: u64,
    /// Timeout of each program run on the host, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub host_timeout: u64,
    /// The QEMU machine.
    #[arg(long, value_enum, default_value_t = Machine::Microvm)]
    pub machine: Machine,
    /// Show the serial output of the main test boot as it arrives.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Running totals.
#[derive(Debug, Default)]
struct Report {
    counts: Counts,
    failures: Vec<String>,
}

impl Report {
    fn add(&mut self, counts: Counts, failures: impl IntoIterator<Item = String>) {
        self.counts.add(counts);
        self.failures.extend(failures);
    }

    fn pass(&mut self) {
        self.counts.passed += 1;
    }

    fn fail(&mut self, why: String) {
        self.counts.failed += 1;
        self.failures.push(why);
    }

    fn total(&self) -> u64 {
        self.counts.passed + self.counts.failed + self.counts.skipped
    }
}

pub fn run(ws: &Workspace, args: &TestArgs) -> Result<ExitCode> {
    let mut r = Report::default();
    let only_boot_test = args.only.as_deref().and_then(boots::find);
    let only_runner = args.only.as_deref().is_some_and(runner_check::has_case);
    let only_catalogue = args.only.as_deref() == Some(entry_cases::TEST_NAME);
    let only_example = args.only.as_deref() == Some(example::TEST_NAME);
    let only_noinstr = args.only.as_deref().is_some_and(noinstr::is_test_name);
    let only_verify = args.only.as_deref().is_some_and(verify_runs::is_test_name);
    let only_fuzz = args.only.as_deref() == Some(fuzz::TEST_NAME);
    let only_fuzz_negative = args.only.as_deref() == Some(fuzz::NEGATIVE_TEST_NAME);
    let only_fuzz_native = args.only.as_deref() == Some(fuzz::NATIVE_TEST_NAME);
    let only_tty = args.only.as_deref() == Some(tty_check::TEST_NAME);

    if args.only.is_none() && !args.negative {
        section("host unit tests");
        unit_tests(ws, &mut r);
    }
    if (args.only.is_none() && !args.negative) || only_catalogue {
        catalogue_check(ws, &mut r);
    }

    let manifest = manifest::read_all(&ws.manifests(), &ws.root);
    if only_catalogue {
        // Nothing to boot.
    } else if args.host {
        section("host ABI cross-check");
        let built = install::ensure_toolchain(ws)
            .context("setup")
            .and_then(|()| build::programs(ws).context("build"));
        match (built, &manifest) {
            (Ok(_), Ok(m)) => {
                host_check(ws, m, args, None, &mut r);
                fuzz_native(ws, args, &mut r);
            }
            (Err(e), _) => r.fail(format!("{e:#}")),
            (_, Err(e)) => r.fail(format!("manifest: {e:#}")),
        }
    } else {
        match prepare(ws) {
            Err(e) => r.fail(format!("{e:#}")),
            Ok((qemu, kernels)) => {
                let art = &kernels.test;
                if args.only.is_none() || only_noinstr {
                    section("noinstr check of the entry text (E23)");
                    noinstr_checks(ws, &kernels, args, &mut r);
                }
                let kernel_tests = !args.negative
                    && only_boot_test.is_none()
                    && !only_runner
                    && !only_example
                    && !only_noinstr
                    && !only_verify
                    && !only_fuzz
                    && !only_fuzz_negative
                    && !only_fuzz_native
                    && !only_tty;
                // `--only` naming a `,host` entry: the kernel would not know it.
                let only_host_only = args
                    .only
                    .as_deref()
                    .and_then(|n| manifest.as_ref().ok()?.find(n))
                    .is_some_and(|e| !e.placement.in_guest());
                let guest = if kernel_tests {
                    section("test kernel");
                    let suite = if only_host_only {
                        None
                    } else {
                        main_boot(&qemu, art, args, &mut r)
                    };
                    if let Ok(m) = &manifest {
                        host_only_skips(m, args, &mut r);
                    }
                    suite
                } else {
                    None
                };
                let selected: Vec<&BootTest> = boots::BOOT_TESTS
                    .iter()
                    .filter(|b| args.only.as_deref().is_none_or(|n| n == b.name))
                    .collect();
                if !selected.is_empty() {
                    section("boot tests");
                    for bt in selected {
                        boot_test(&qemu, art, bt, args, &mut r);
                    }
                }
                if kernel_tests && let Ok(m) = &manifest {
                    lean_boots(&qemu, &kernels.lean, m, args, &mut r);
                }
                if (args.only.is_none() && !args.negative) || only_example {
                    section(
                        "example kernel (examples/minimal: kentry through its public API only)",
                    );
                    example_boot(&qemu, &kernels.example, args, &mut r);
                }
                verify_runs(ws, &qemu, &kernels.lean, art, args, &mut r);
                if (args.only.is_none() && !args.negative) || only_fuzz {
                    section(
                        "entry fuzzer (test kernel, -smp 2, 60 s, NMIs injected every 1-200 ms)",
                    );
                    fuzz_boot(ws, &qemu, art, false, &mut r);
                }
                if args.only.is_none() || only_fuzz_negative {
                    section(
                        "entry fuzzer, negative run (test kernel, kentry.break=sigreturn_flags)",
                    );
                    fuzz_boot(ws, &qemu, art, true, &mut r);
                }
                if !args.negative && (args.only.is_none() || only_runner) {
                    section("runner (cargo xtask run, compared with native runs)");
                    runner(ws, &qemu, &kernels, args, &mut r);
                }
                if (args.only.is_none() && !args.negative) || only_tty {
                    section(
                        "interactive terminal (cargo xtask run -- busybox sh through a host pty)",
                    );
                    one_result(tty_check::TEST_NAME, tty_check::run(ws), &mut r);
                }
                if only_fuzz_native {
                    section("host ABI cross-check");
                    fuzz_native(ws, args, &mut r);
                }
                if kernel_tests {
                    section("host ABI cross-check");
                    match &manifest {
                        Ok(m) => {
                            host_check(ws, m, args, guest.as_ref(), &mut r);
                            fuzz_native(ws, args, &mut r);
                        }
                        Err(e) => r.fail(format!("manifest: {e:#}")),
                    }
                }
            }
        }
    }

    if let Some(name) = &args.only
        && r.total() == 0
    {
        r.fail(format!("--only {name}: no test of that name ran"));
    }
    println!();
    if !r.failures.is_empty() {
        println!("failures:");
        for f in &r.failures {
            println!("  {f}");
        }
    }
    println!(
        "{} passed, {} failed, {} skipped",
        r.counts.passed, r.counts.failed, r.counts.skipped
    );
    Ok(if r.counts.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn section(title: &str) {
    println!("== {title}");
}

/// The builds of both kernels, each with its initrd.
struct Kernels {
    /// The test kernel (test hooks, context tracking on by default).
    test: Artifacts,
    /// The lean kernel of `cargo xtask run` and `cargo xtask bench`.
    lean: Artifacts,
    /// The second kernel, `examples/minimal`.
    example: std::path::PathBuf,
}

/// QEMU, the toolchain and a fresh build of both kernels, before any boot (the boots run in
/// parallel and must not build).
fn prepare(ws: &Workspace) -> Result<(std::path::PathBuf, Kernels)> {
    let qemu = install::qemu().context("setup")?;
    install::ensure_toolchain(ws).context("setup")?;
    let test = build::all(ws, Flavor::Test).context("build")?;
    let lean = build::all(ws, Flavor::Lean).context("build (lean kernel)")?;
    let example = example::build(ws).context("build (example kernel)")?;
    Ok((
        qemu,
        Kernels {
            test,
            lean,
            example,
        },
    ))
}

fn unit_tests(ws: &Workspace, r: &mut Report) {
    for package in [
        ABI_PACKAGE,
        ENTRY_PACKAGE,
        KERNEL_LOGIC_PACKAGE,
        crate::bench_plugin::PLUGIN_PACKAGE,
        "xtask",
    ] {
        match unit::run(ws, package) {
            Ok(u) => {
                println!(
                    "cargo test -p {package}: {} passed, {} failed, {} ignored",
                    u.counts.passed, u.counts.failed, u.counts.skipped
                );
                if u.counts.failed > 0 {
                    println!("---- cargo test -p {package} output ----");
                    print!("{}", u.output);
                    println!("---- end of cargo test -p {package} ----");
                }
                r.add(u.counts, u.failures);
            }
            Err(e) => r.fail(format!("cargo test -p {package}: {e:#}")),
        }
    }
}

/// docs/entry-cases.md against the case tags in the code and the tests that exist.
fn catalogue_check(ws: &Workspace, r: &mut Report) {
    one_result(entry_cases::TEST_NAME, entry_cases::check_workspace(ws), r);
}

/// The CPUs of the main test kernel's machine (`-smp`). The kernel is told the number
/// (`kentry.expect_cpus=`) so its `smp_all_cpus_online` test checks discovery and bring-up
/// against what QEMU was given, not against what the kernel found.
const TEST_CPUS: u32 = 2;

/// Boots the test kernel, counts its KTAP; returns the parsed KTAP for the cross-check.
fn main_boot(qemu: &Path, art: &Artifacts, args: &TestArgs, r: &mut Report) -> Option<Suite> {
    let mut cmdline = vec![
        "kentry.mode=test".to_string(),
        "kentry.platform=tcg".into(),
        format!("kentry.expect_cpus={TEST_CPUS}"),
    ];
    if let Some(name) = &args.only {
        cmdline.push(format!("kentry.only={name}"));
    }
    ktap_boot(qemu, art, "test kernel", cmdline, "", TEST_CPUS, args, r).map(|(suite, _)| suite)
}

/// The lean kernel's boots: the ring-3 entry-contract entries of the manifest, with context
/// tracking off and on, each result named with the kernel that proved it.
fn lean_boots(qemu: &Path, art: &Artifacts, m: &Manifest, args: &TestArgs, r: &mut Report) {
    let missing = lean::missing_entries(m);
    if !missing.is_empty() && args.only.is_none() {
        r.fail(format!(
            "lean kernel: the manifest has no guest entry named {missing:?} (xtask/src/lean.rs)"
        ));
    }
    let names = lean::entries(m, args.only.as_deref());
    if names.is_empty() {
        return;
    }
    for ct in lean::CT_SETTINGS {
        section(&format!(
            "lean kernel (cargo xtask run's), kentry.ct={}: the ring-3 entry contract",
            ct.word()
        ));
        let label = format!("lean kernel (ct={})", ct.word());
        let cmdline = lean::cmdline(ct, &names);
        let Some((suite, log)) = ktap_boot(qemu, art, &label, cmdline, &ct.suffix(), 1, args, r)
        else {
            continue;
        };
        let asked: Vec<String> = names
            .iter()
            .map(|n| format!("{n}{}", ct.suffix()))
            .collect();
        let problems = [
            lean::check_ct(ct, &log.text()),
            lean::check_names(&asked, &suite),
        ];
        for p in problems.into_iter().flatten() {
            println!("  NOT OK  {label}: {p}");
            r.fail(format!("{label}: {p}"));
        }
    }
}

/// Boots `art`'s kernel in test mode with `cmdline`, appends `suffix` to the name of every
/// top-level result, prints and counts them; returns the KTAP and the log. The machine has
/// `cpus` CPUs.
#[allow(clippy::too_many_arguments)]
fn ktap_boot(
    qemu: &Path,
    art: &Artifacts,
    label: &str,
    cmdline: Vec<String>,
    suffix: &str,
    cpus: u32,
    args: &TestArgs,
    r: &mut Report,
) -> Option<(Suite, qemu::BootLog)> {
    let mut boot = Boot::new(&art.kernel, &art.initrd, &[]);
    boot.cmdline = cmdline;
    boot.cpus = cpus;
    boot.machine = args.machine;
    boot.timeout = Some(Duration::from_secs(args.timeout));
    boot.request_hang_report();
    boot.echo = args.verbose;
    if boot.cmdline_text().len() > lean::KERNEL_CMDLINE_MAX {
        r.fail(format!(
            "{label}: the command line is longer than the kernel keeps ({} bytes)",
            lean::KERNEL_CMDLINE_MAX
        ));
        return None;
    }
    eprintln!("xtask: booting the {label}: {}", boot.cmdline_text());
    let log = match qemu::run(qemu, &boot) {
        Ok(log) => log,
        Err(e) => {
            r.fail(format!("{label}: {e:#}"));
            return None;
        }
    };
    let mut suite = ktap::parse(&log.text());
    lean::rename(&mut suite, suffix);
    let t = suite.tally_top();
    print_results(&suite);
    for n in &t.notes {
        println!("note: {n}");
    }
    let probe_problems = crate::capability_probe::check(&suite);
    for p in &probe_problems {
        println!("  NOT OK  {label}: {p}");
    }
    let boot_failed = t.counts.failed > 0 || !probe_problems.is_empty();
    r.add(
        t.counts,
        t.failures.into_iter().map(|f| format!("{label}: {f}")),
    );
    for p in probe_problems {
        r.fail(format!("{label}: {p}"));
    }
    let exit = log.kernel_exit();
    println!(
        "{label}: {} passed, {} failed, {} skipped; {}",
        t.counts.passed,
        t.counts.failed,
        t.counts.skipped,
        log.describe()
    );
    let mut print_log = boot_failed;
    match exit {
        KernelExit::Finished => {}
        KernelExit::FinishedFailed => {
            if !boot_failed {
                r.fail(format!(
                    "{label}: exited with v=1 (something failed) but every KTAP result is ok"
                ));
                print_log = true;
            }
        }
        KernelExit::Timeout => {
            println!("TIMEOUT");
            r.fail(format!("{label}: TIMEOUT after {} s", args.timeout));
            print_log = true;
        }
        _ => {
            r.fail(format!("{label}: {}", log.describe()));
            print_log = true;
        }
    }
    if exit.finished() && log.power_off_value().is_none() {
        println!("note: the serial log has no `[kentry] power off: v=…` line");
    }
    if print_log {
        log.print_full(label);
    }
    Some((suite, log))
}

/// One line per top-level result that is not a plain pass.
fn print_results(suite: &Suite) {
    for res in &suite.results {
        let nested = res.subtests.results.len();
        let extra = match (&res.directive, nested) {
            (Some(d), 0) => format!(" # {d}"),
            (Some(d), n) => format!(" # {d} ({n} results)"),
            (None, 0) => String::new(),
            (None, n) => format!(" ({n} results)"),
        };
        match res.outcome {
            Outcome::Pass if res.subtests.all_ok() || !res.subtests.has_ktap() => {
                println!("  ok      {}{extra}", res.name)
            }
            Outcome::Skip => println!("  skip    {}{extra}", res.name),
            _ => println!("  NOT OK  {}{extra}", res.name),
        }
    }
}

/// The noinstr check on the three kernels just built, and its negative run
/// (xtask/src/noinstr/).
fn noinstr_checks(ws: &Workspace, kernels: &Kernels, args: &TestArgs, r: &mut Report) {
    let paths = [
        kernels.test.kernel.as_path(),
        kernels.lean.kernel.as_path(),
        kernels.example.as_path(),
    ];
    let elfs: Vec<(&str, &Path)> = noinstr::KERNELS.into_iter().zip(paths).collect();
    let start = std::time::Instant::now();
    let tests = noinstr::run_tests(ws, &elfs, args.only.as_deref(), args.negative);
    println!(
        "noinstr check: {:.1} s (the negative build included)",
        start.elapsed().as_secs_f64()
    );
    for t in tests {
        match t.verdict {
            Ok(what) => {
                println!("  ok      {} ({what})", t.name);
                r.pass();
            }
            Err(why) => {
                println!("  NOT OK  {}: {why}", t.name);
                r.fail(format!("{}: {why}", t.name));
            }
        }
        for line in t.lines {
            println!("          {line}");
        }
    }
}

/// Boots the example kernel once and checks its log (xtask/src/example.rs).
fn example_boot(qemu: &Path, kernel: &Path, args: &TestArgs, r: &mut Report) {
    let name = example::TEST_NAME;
    match example::boot(qemu, kernel, Duration::from_secs(args.boot_timeout)) {
        Err(e) => r.fail(format!("{name}: {e:#}")),
        Ok((log, reasons)) if reasons.is_empty() => {
            println!("  ok      {name} ({})", log.describe());
            r.pass();
        }
        Ok((log, reasons)) => {
            println!("  NOT OK  {name}: {}", reasons.join("; "));
            log.print_full(name);
            r.fail(format!("{name}: {}", reasons.join("; ")));
        }
    }
}

/// Prints and counts one result: a summary when it passed, the reason when it did not.
fn one_result<E: std::fmt::Display>(name: &str, result: Result<String, E>, r: &mut Report) {
    match result {
        Ok(summary) => {
            println!("  ok      {name} ({summary})");
            r.pass();
        }
        Err(why) => {
            println!("  NOT OK  {name}: {why}");
            r.fail(format!("{name}: {why}"));
        }
    }
}

/// What is wrong with `log` for an ending with QEMU status `status` and all of `texts` in the
/// serial log (nothing: it ended that way).
fn ending_problems(log: &qemu::BootLog, status: i32, texts: &[&str]) -> Vec<String> {
    let mut reasons = Vec::new();
    if log.status() != Some(status) {
        reasons.push(format!("{}, expected QEMU status {status}", log.describe()));
    }
    for text in texts.iter().filter(|t| !log.contains(t)) {
        reasons.push(format!("the serial log lacks {text:?}"));
    }
    reasons
}

fn boot_test(qemu: &Path, art: &Artifacts, bt: &BootTest, args: &TestArgs, r: &mut Report) {
    let mut boot = Boot::new(&art.kernel, &art.initrd, bt.cmdline);
    boot.machine = args.machine;
    boot.extra_args = bt.qemu_args.iter().map(|s| s.to_string()).collect();
    boot.timeout = Some(Duration::from_secs(args.boot_timeout));
    boot.request_hang_report();
    let log = match qemu::run(qemu, &boot) {
        Ok(log) => log,
        Err(e) => {
            r.fail(format!("boot test {}: {e:#}", bt.name));
            return;
        }
    };
    let mut reasons = ending_problems(&log, bt.expect_status, bt.expect_log);
    if !reasons.is_empty()
        && bt
            .or_endings
            .iter()
            .any(|(status, texts)| ending_problems(&log, *status, texts).is_empty())
    {
        reasons.clear();
    }
    if reasons.is_empty() {
        println!("  ok      {} ({})", bt.name, log.describe());
        r.pass();
        return;
    }
    println!("  NOT OK  {}: {}", bt.name, reasons.join("; "));
    if log.exit == qemu::Exit::Timeout {
        println!("TIMEOUT");
    }
    log.print_full(&format!("boot test {}", bt.name));
    r.fail(format!("boot test {}: {}", bt.name, reasons.join("; ")));
}

/// The runner cases, on the test kernel (its entry assertions and tripwires armed, context
/// tracking on; plain names) and on the lean kernel, as `cargo xtask run` boots it (context
/// tracking off, `[lean ct=off]`) and with `kentry.ct=on` (`[lean ct=on]`).
fn runner(ws: &Workspace, qemu: &Path, kernels: &Kernels, args: &TestArgs, r: &mut Report) {
    let on = [
        runner_check::Kernel {
            flavor: Flavor::Test,
            art: &kernels.test,
            ct: None,
        },
        runner_check::Kernel {
            flavor: Flavor::Lean,
            art: &kernels.lean,
            ct: Some(crate::lean::CtSetting::Off),
        },
        runner_check::Kernel {
            flavor: Flavor::Lean,
            art: &kernels.lean,
            ct: Some(crate::lean::CtSetting::On),
        },
    ];
    let results = match runner_check::run(
        ws,
        qemu,
        &on,
        args.machine,
        Duration::from_secs(args.boot_timeout),
        args.only.as_deref(),
    ) {
        Ok(results) => results,
        Err(e) => {
            r.fail(format!("runner: {e:#}"));
            return;
        }
    };
    for res in results {
        let name = &res.name;
        match res.verdict {
            Verdict::Pass(what) => {
                println!("  ok      {name} ({what})");
                r.pass();
            }
            Verdict::Skip(why) => {
                println!("  skip    {name}: {why}");
                r.counts.skipped += 1;
            }
            Verdict::Fail(why) => {
                println!("  NOT OK  {name}: {why}");
                println!(
                    "          (kernel log: {})",
                    crate::workspace::shown(&res.log, &ws.root)
                );
                r.fail(format!("runner {name}: {why}"));
            }
        }
    }
}

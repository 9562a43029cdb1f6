//! `cargo xtask test`: host unit tests, the test kernel's KTAP, the boot tests and the host ABI
//! cross-check, summed into one closing line `N passed, N failed, N skipped`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::boots::{self, BootTest};
use crate::build::{self, Artifacts};
use crate::entry_cases;
use crate::host_run;
use crate::install;
use crate::ktap::{self, Counts, Outcome, Suite};
use crate::manifest::{self, Entry, Manifest};
use crate::qemu::{self, Boot, KernelExit, Machine};
use crate::runner_check::{self, Verdict};
use crate::unit;
use crate::workspace::{ENTRY_PACKAGE, Workspace};

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
    /// Timeout of the main test boot, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
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
            (Ok(_), Ok(m)) => host_check(ws, m, args, None, &mut r),
            (Err(e), _) => r.fail(format!("{e:#}")),
            (_, Err(e)) => r.fail(format!("manifest: {e:#}")),
        }
    } else {
        match prepare(ws) {
            Err(e) => r.fail(format!("{e:#}")),
            Ok((qemu, art)) => {
                let kernel_tests = !args.negative && only_boot_test.is_none() && !only_runner;
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
                        main_boot(&qemu, &art, args, &mut r)
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
                        boot_test(&qemu, &art, bt, args, &mut r);
                    }
                }
                if !args.negative && (args.only.is_none() || only_runner) {
                    section("runner (cargo xtask run, compared with native runs)");
                    runner(ws, &qemu, &art, args, &mut r);
                }
                if kernel_tests {
                    section("host ABI cross-check");
                    match &manifest {
                        Ok(m) => host_check(ws, m, args, guest.as_ref(), &mut r),
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

/// QEMU, the toolchain and a fresh build.
fn prepare(ws: &Workspace) -> Result<(std::path::PathBuf, Artifacts)> {
    let qemu = install::qemu().context("setup")?;
    install::ensure_toolchain(ws).context("setup")?;
    let art = build::all(ws, crate::workspace::Flavor::Test).context("build")?;
    Ok((qemu, art))
}

fn unit_tests(ws: &Workspace, r: &mut Report) {
    for package in [ENTRY_PACKAGE, "xtask"] {
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
    let name = entry_cases::TEST_NAME;
    match entry_cases::check_workspace(ws) {
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

/// Boots the test kernel, counts its KTAP; returns the parsed KTAP for the cross-check.
fn main_boot(qemu: &Path, art: &Artifacts, args: &TestArgs, r: &mut Report) -> Option<Suite> {
    let mut cmdline = vec!["kentry.mode=test".to_string(), "kentry.platform=tcg".into()];
    if let Some(name) = &args.only {
        cmdline.push(format!("kentry.only={name}"));
    }
    let mut boot = Boot::new(&art.kernel, &art.initrd, &[]);
    boot.cmdline = cmdline;
    boot.machine = args.machine;
    boot.timeout = Some(Duration::from_secs(args.timeout));
    boot.echo = args.verbose;
    eprintln!("xtask: booting the test kernel: {}", boot.cmdline_text());
    let log = match qemu::run(qemu, &boot) {
        Ok(log) => log,
        Err(e) => {
            r.fail(format!("test kernel: {e:#}"));
            return None;
        }
    };
    let suite = ktap::parse(&log.text());
    let t = suite.tally_top();
    print_results(&suite);
    for n in &t.notes {
        println!("note: {n}");
    }
    let boot_failed = t.counts.failed > 0;
    r.add(
        t.counts,
        t.failures.into_iter().map(|f| format!("test kernel: {f}")),
    );
    let exit = log.kernel_exit();
    println!(
        "test kernel: {} passed, {} failed, {} skipped; {}",
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
                r.fail(
                    "test kernel: exited with v=1 (something failed) but every KTAP result is ok"
                        .into(),
                );
                print_log = true;
            }
        }
        KernelExit::Timeout => {
            println!("TIMEOUT");
            r.fail(format!("test kernel: TIMEOUT after {} s", args.timeout));
            print_log = true;
        }
        _ => {
            r.fail(format!("test kernel: {}", log.describe()));
            print_log = true;
        }
    }
    if exit.finished() && log.power_off_value().is_none() {
        println!("note: the serial log has no `[kentry] power off: v=…` line");
    }
    if print_log {
        log.print_full("test kernel");
    }
    Some(suite)
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

fn boot_test(qemu: &Path, art: &Artifacts, bt: &BootTest, args: &TestArgs, r: &mut Report) {
    let mut boot = Boot::new(&art.kernel, &art.initrd, bt.cmdline);
    boot.machine = args.machine;
    boot.extra_args = bt.qemu_args.iter().map(|s| s.to_string()).collect();
    boot.timeout = Some(Duration::from_secs(args.boot_timeout));
    let log = match qemu::run(qemu, &boot) {
        Ok(log) => log,
        Err(e) => {
            r.fail(format!("boot test {}: {e:#}", bt.name));
            return;
        }
    };
    let mut reasons = Vec::new();
    if log.status() != Some(bt.expect_status) {
        reasons.push(format!(
            "{}, expected QEMU status {}",
            log.describe(),
            bt.expect_status
        ));
    }
    for text in bt.expect_log.iter().filter(|t| !log.contains(t)) {
        reasons.push(format!("the serial log lacks {text:?}"));
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

fn runner(ws: &Workspace, qemu: &Path, art: &Artifacts, args: &TestArgs, r: &mut Report) {
    let results = match runner_check::run(
        ws,
        qemu,
        art,
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
    for (name, v) in results {
        match v {
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
                    crate::workspace::shown(
                        &ws.scratch_dir().join("runner").join(format!("{name}.log")),
                        &ws.root
                    )
                );
                r.fail(format!("runner {name}: {why}"));
            }
        }
    }
}

/// The selected `,host` entries, which the kernel skips without a word: one skipped result
/// each in the guest part.
fn host_only_skips(m: &Manifest, args: &TestArgs, r: &mut Report) {
    for e in selected(m, args).filter(|e| !e.placement.in_guest()) {
        println!("  skip    {} # {}", e.name, manifest::HOST_ONLY);
        r.counts.skipped += 1;
    }
}

/// The manifest entries `--only` selects.
fn selected<'a>(m: &'a Manifest, args: &'a TestArgs) -> impl Iterator<Item = &'a Entry> {
    m.entries
        .iter()
        .filter(|e| args.only.as_deref().is_none_or(|n| n == e.name))
}

fn host_check(
    ws: &Workspace,
    m: &Manifest,
    args: &TestArgs,
    guest: Option<&Suite>,
    r: &mut Report,
) {
    let timeout = Duration::from_secs(args.host_timeout);
    let bin_dirs = ws.user_bin_dirs();
    let cwd = ws.scratch_dir().join("host-run");
    for e in selected(m, args) {
        if !e.placement.on_host() {
            println!("  skip    {} (host) # {}", e.name, manifest::GUEST_ONLY);
            r.counts.skipped += 1;
            continue;
        }
        let run = match host_run::run(e, &bin_dirs, &cwd, timeout) {
            Ok(run) => run,
            Err(err) => {
                println!("  NOT OK  {} (host): {err:#}", e.name);
                r.fail(format!("host {}: {err:#}", e.name));
                continue;
            }
        };
        let guest_case = guest.and_then(|g| g.find(&e.name));
        let v = host_run::check(e, &run, timeout, guest_case);
        let status = run
            .status
            .map_or_else(|| "timeout".to_string(), host_run::status_name);
        if v.passed() {
            let compared = if guest_case.is_some() {
                ", agrees with the guest"
            } else {
                ""
            };
            println!(
                "  ok      {} (host status {status}{compared}, {:.2} s)",
                e.name,
                run.elapsed.as_secs_f64()
            );
            r.pass();
        } else {
            println!("  NOT OK  {} (host): {}", e.name, v.reasons.join("; "));
            println!("---- host {}: {} ----", e.name, e.argv.join(" "));
            for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                if !text.is_empty() {
                    println!("-- {what}:");
                    print!("{text}");
                    if !text.ends_with('\n') {
                        println!();
                    }
                }
            }
            println!("---- end of host {} ----", e.name);
            r.fail(format!("host {}: {}", e.name, v.reasons.join("; ")));
        }
    }
}

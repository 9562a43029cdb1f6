//! `cargo xtask verify`: an NMI injected at every instruction of kentry's entry paths, on the
//! lean kernel with context tracking off and on, while ring-3 register checkers run
//! (docs/verify.md). Both parts of the entry text: the assembly stubs of `.text.kentry`
//! (enumerate.rs, inject.rs) and the Rust functions of `.text.kentry.noinstr` outside their
//! instrumentation regions (rust_text.rs, sweep.rs). `--mce` adds the #MC series (mce.rs).
//! The fast subset — every instruction of the SYSCALL path and of one IDT path — runs in
//! `cargo xtask test` as `verify_fast_nmi`, and its #MC series as `verify_fast_mce`.

mod cr2;
mod df;
mod dying;
mod enumerate;
mod gdb;
mod inject;
mod mce;
mod nested;
mod report;
mod rust_text;
mod sweep;
mod target_desc;
mod topup;
mod violation;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use object::{Object, ObjectSymbol};

use crate::build::{self, Artifacts};
use crate::install;
use crate::lean::{CT_SETTINGS, CtSetting};
use crate::workspace::{Flavor, Workspace};
use enumerate::{EntryText, Insn};
use inject::{BootRun, Injection, InsnResult, Settings};
use report::{missed_by_every_boot, report, uncovered};

/// The name of the fast subset's result in `cargo xtask test`.
pub const FAST_TEST_NAME: &str = "verify_fast_nmi";
/// The name of the fast subset's SYSENTER part in `cargo xtask test`.
pub const FAST_SYSENTER_TEST_NAME: &str = "verify_fast_sysenter";
/// The name of the fast subset's #MC series in `cargo xtask test`.
pub const FAST_MCE_TEST_NAME: &str = "verify_fast_mce";
/// The negative run of the fatal-#MC boot (`kentry.break=mce_severity`).
pub const NEGATIVE_MCE_TEST_NAME: &str = "verify_negative_mce_severity";
/// The switches the verify negative runs turn off ([`negative`], [`negative_mce`]): each is
/// a negative run of `cargo xtask test --negative` (boots::tests::every_break_has_a_negative_run).
pub const NEGATIVE_BREAKS: [&str; 2] = ["kentry.break=rcu_nmi_watch", "kentry.break=mce_severity"];
/// The name of its negative run.
pub const NEGATIVE_TEST_NAME: &str = "verify_negative_rcu_nmi_watch";
/// What the RCU assertion of NMI-like handlers prints (kernel/src/rcu/mod.rs).
const RCU_ASSERTION: &str = "[kentry] RCU not watching in NMI-like handler NMI";

/// Options of `cargo xtask verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Only the fast subset of `cargo xtask test` (the SYSCALL path and one IDT path).
    #[arg(long)]
    pub fast: bool,
    /// Only the stubs whose name contains this (or any of these, comma-separated).
    #[arg(long, value_name = "TEXT[,TEXT…]")]
    pub only: Option<String>,
    /// Only this context-tracking setting (default: off, then on).
    #[arg(long, value_name = "off|on", value_parser = ["off", "on"])]
    pub ct: Option<String>,
    /// Seconds the guest may run before an address counts as never reached.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub per_address: u64,
    /// Also the #MC series: a recoverable #MC at each instruction (HMP `mce`), which the
    /// kernel logs and survives, one boot per setting; and a fatal #MC, which must stop it.
    #[arg(long)]
    pub mce: bool,
    /// The guest's CPUs: verify_loop runs its register checkers on each; one is stopped and
    /// injected at, the others are stepped past the breakpoints they meet.
    #[arg(long, value_name = "N", default_value_t = VERIFY_CPUS)]
    pub cpus: u32,
    /// The CPU every boot injects at. Without it ct=off and ct=on boots inject at CPU 0, and
    /// ct=hooks boots at the last CPU, made nohz_full.
    #[arg(long, value_name = "CPU")]
    pub cpu_under_test: Option<u32>,
    /// Show every instruction's result, not only the failures and the uncovered ones.
    #[arg(short, long)]
    pub verbose: bool,
}

/// The CPUs of a verify boot, unless `--cpus` says otherwise.
pub const VERIFY_CPUS: u32 = 2;

/// The stubs of the fast subset: the SYSCALL path (its stub and its Rust entry function, with
/// the IRET way back it takes when SYSRET may not be used) and the timer's IDT path (stub,
/// common path, IRET).
const FAST_STUBS: &[&str] = &[
    "kentry_syscall_64",
    "kentry_rust_syscall",
    "kentry_idt_stubs[0x20]",
    "kentry_idt_common",
    "kentry_return_via_iret",
];

/// QEMU's CPU model for the SYSENTER stub's boots: `-cpu max` with an Intel vendor, where
/// SYSENTER works in compat mode (on the default AMD vendor it is #UD in long mode) and the
/// 32-bit vDSO's `__kernel_vsyscall` uses it (verify_loop's `vsyscall_regs` child).
pub const INTEL_CPU: &str = "max,vendor=GenuineIntel";

/// Whether a stub or Rust entry function is reached only by SYSENTER (so only on
/// [`INTEL_CPU`]).
fn sysenter_only(stub: &str) -> bool {
    stub.contains("sysenter")
}

/// `cargo xtask verify`.
pub fn run(ws: &Workspace, args: &VerifyArgs) -> Result<ExitCode> {
    let qemu = install::qemu().context("setup")?;
    install::ensure_toolchain(ws).context("setup")?;
    let art = build::all(ws, Flavor::Lean).context("build (lean kernel)")?;
    let cts: Vec<CtSetting> = CT_SETTINGS
        .into_iter()
        .filter(|c| args.ct.as_deref().is_none_or(|w| w == c.word()))
        .collect();
    let filter = |stub: &str| {
        (!args.fast || FAST_STUBS.iter().any(|f| stub.starts_with(f)))
            && args
                .only
                .as_deref()
                .is_none_or(|o| o.split(',').any(|t| stub.contains(t)))
    };
    let settings = Settings {
        per_address: Duration::from_secs(args.per_address),
        boot_timeout: Duration::from_secs(3600),
        kernel: "lean",
        extra_cmdline: Vec::new(),
        cpu: None,
        cpus: args.cpus,
        cpu_under_test: args.cpu_under_test.unwrap_or(0),
        cpu_under_test_fixed: args.cpu_under_test.is_some(),
    };
    let series: &[Injection] = if args.mce {
        &[Injection::Nmi, Injection::Mce]
    } else {
        &[Injection::Nmi]
    };
    // The SYSENTER stub's instructions boot an Intel-vendor model of their own (SYSENTER is
    // #UD in long mode on the default AMD one); everything else the default model.
    let text = enumerate::read(&art.kernel)?;
    let (mut covered, mut total, mut failures) = (0, 0, 0);
    for intel in [false, true] {
        let part = |stub: &str| filter(stub) && sysenter_only(stub) == intel;
        if !text.insns().any(|i| part(&i.stub)) {
            continue;
        }
        let s = Settings {
            cpu: intel.then_some(INTEL_CPU),
            ..settings.clone()
        };
        let v = verify(ws, &qemu, &art, &cts, part, &s, series, args.verbose)?;
        covered += v.covered;
        total += v.total;
        failures += v.failures;
    }
    anyhow::ensure!(total > 0, "no entry instruction matches");
    Ok(if failures == 0 && covered == total {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The fast subset for `cargo xtask test` (context tracking on: the assertions armed, the
/// longer entry path): `Ok(summary)` when every instruction was covered without a failure.
pub fn fast(ws: &Workspace, qemu: &Path, art: &Artifacts) -> Result<String, String> {
    fast_series(ws, qemu, art, Injection::Nmi, "NMI at each")
}

/// The fast subset's SYSENTER part for `cargo xtask test`: an NMI at every instruction of
/// the SYSENTER stub and its Rust half, on the Intel-vendor model where SYSENTER works in
/// compat mode ([`INTEL_CPU`]). `Ok(summary)` when every instruction was covered without a
/// failure.
pub fn fast_sysenter(ws: &Workspace, qemu: &Path, art: &Artifacts) -> Result<String, String> {
    fast_boots(
        ws,
        qemu,
        art,
        Injection::Nmi,
        "NMI at each, on the Intel-vendor model",
        Some(INTEL_CPU),
        &sysenter_only,
    )
}

/// The fast subset's #MC series for `cargo xtask test`: a recoverable #MC at each of its
/// instructions (the kernel must log each and resume), and the fatal boot (an action-required
/// #MC in kernel mode must stop the machine with its report). `Ok(summary)` when every
/// instruction was covered without a failure.
pub fn fast_mce(ws: &Workspace, qemu: &Path, art: &Artifacts) -> Result<String, String> {
    fast_series(
        ws,
        qemu,
        art,
        Injection::Mce,
        "a recovered #MC at each; the fatal #MC stopped the kernel",
    )
}

/// One injection series over the fast subset, lean kernel, context tracking on without and
/// with the user-transition hooks (each setting runs its own copy of the user transitions:
/// every instruction must be covered by one of the two boots); `what` ends the summary.
fn fast_series(
    ws: &Workspace,
    qemu: &Path,
    art: &Artifacts,
    injection: Injection,
    what: &str,
) -> Result<String, String> {
    let filter = |stub: &str| FAST_STUBS.iter().any(|f| stub.starts_with(f));
    fast_boots(ws, qemu, art, injection, what, None, &filter)
}

/// The boots of a fast series: the stubs `filter` takes, on CPU model `cpu` (QEMU's default
/// when `None`).
fn fast_boots(
    ws: &Workspace,
    qemu: &Path,
    art: &Artifacts,
    injection: Injection,
    what: &str,
    cpu: Option<&'static str>,
    filter: &dyn Fn(&str) -> bool,
) -> Result<String, String> {
    let settings = Settings {
        per_address: Duration::from_secs(10),
        boot_timeout: Duration::from_secs(300),
        kernel: "lean",
        extra_cmdline: Vec::new(),
        cpu,
        cpus: VERIFY_CPUS,
        cpu_under_test: 0,
        cpu_under_test_fixed: false,
    };
    match verify(
        ws,
        qemu,
        art,
        &[CtSetting::On, CtSetting::Hooks],
        filter,
        &settings,
        &[injection],
        false,
    ) {
        Ok(v) if v.failures == 0 && v.missed == 0 => Ok(format!(
            "{} of {} instructions, each by one boot at least, {what}",
            v.covered, v.total
        )),
        Ok(v) => Err(format!(
            "{} instructions covered by neither boot ({} of {}), {} failures",
            v.missed, v.covered, v.total, v.failures
        )),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// The negative run of [`fast`]: the test kernel with the RCU-watching check of NMI-like
/// entries switched off (`kentry.break=rcu_nmi_watch`). An NMI at the SYSCALL stub's first
/// instruction arrives while context tracking still says "user"; without the check the
/// handler runs with RCU not watching, the kernel's assertion fires, and the run must fail
/// and blame that instruction. `Ok` when it does.
pub fn negative(ws: &Workspace, qemu: &Path, test_kernel: &Artifacts) -> Result<String, String> {
    let settings = Settings {
        per_address: Duration::from_secs(10),
        boot_timeout: Duration::from_secs(120),
        kernel: "test",
        extra_cmdline: vec![NEGATIVE_BREAKS[0].into()],
        cpu: None,
        cpus: VERIFY_CPUS,
        cpu_under_test: 0,
        cpu_under_test_fixed: false,
    };
    let filter = |stub: &str| stub == "kentry_syscall_64";
    let v = verify(
        ws,
        qemu,
        test_kernel,
        &[CtSetting::On],
        filter,
        &settings,
        &[Injection::Nmi],
        false,
    )
    .map_err(|e| format!("{e:#}"))?;
    let blamed = v
        .problems
        .iter()
        .any(|p| p.contains("the last NMI was injected at ") && p.contains(" kentry_syscall_64: "));
    if v.failures == 0 {
        return Err("the run passed with the check switched off".into());
    }
    if !v.log_has_assertion {
        return Err(format!("the serial log lacks {RCU_ASSERTION:?}"));
    }
    if !blamed {
        return Err(format!(
            "the failure does not blame kentry_syscall_64's first instruction: {:?}",
            v.problems
        ));
    }
    Ok(
        "the NMI at kentry_syscall_64 `swapgs` tripped the RCU assertion, and the run failed there"
            .into(),
    )
}

/// The negative run of the fatal-#MC boot: the test kernel with the action-required rule of
/// the #MC classification switched off (`kentry.break=mce_severity`). The action-required #MC
/// raised in kernel mode is then recovered like an action-optional one, and the boot must
/// fail: the kernel logs it as recovered and runs on instead of stopping with its report.
/// `Ok` when it does.
pub fn negative_mce(
    ws: &Workspace,
    qemu: &Path,
    test_kernel: &Artifacts,
) -> Result<String, String> {
    let text = enumerate::read(&test_kernel.kernel).map_err(|e| format!("{e:#}"))?;
    let poll_addr = user_symbol(
        &ws.user_bin_dir().join("verify_loop"),
        "verify_loop_poll_syscall",
    )
    .map_err(|e| format!("{e:#}"))?;
    let guest = inject::Guest {
        qemu,
        kernel: &test_kernel.kernel,
        initrd: &test_kernel.initrd,
        poll_addr,
    };
    let settings = Settings {
        per_address: Duration::from_secs(10),
        boot_timeout: Duration::from_secs(60),
        kernel: "test",
        extra_cmdline: vec![NEGATIVE_BREAKS[1].into()],
        cpu: None,
        cpus: VERIFY_CPUS,
        cpu_under_test: 0,
        cpu_under_test_fixed: false,
    };
    let run = mce::fatal_boot(&guest, CtSetting::On, &text, &settings);
    if run.problems.is_empty() {
        return Err("the fatal-#MC boot passed with the action-required rule switched off".into());
    }
    let swallowed = run.log.as_ref().is_some_and(|l| {
        l.contains("machine check recovered:") && l.contains("test hook: machine checks skip")
    });
    if !swallowed {
        return Err(format!(
            "the boot failed, but not by recovering the #MC: {:?}",
            run.problems
        ));
    }
    Ok("the action-required #MC in kernel mode was logged as recovered, and the fatal-#MC boot failed".into())
}

/// What a verify run found.
struct Verdict {
    covered: usize,
    total: usize,
    /// Instructions of a series (an injection kind of one kernel) that no boot of that series
    /// covered: what neither context-tracking setting's static branches reached.
    missed: usize,
    failures: usize,
    /// Every boot's problems and failed instructions, as text.
    problems: Vec<String>,
    /// Whether a serial log holds [`RCU_ASSERTION`].
    log_has_assertion: bool,
}

/// Enumerates, runs each series (`series`: NMI, #MC) with one boot per context-tracking
/// setting (and its #DF boot; the #MC series also its fatal boot), prints the report; each
/// instruction counts once per series and setting.
#[allow(clippy::too_many_arguments)]
fn verify(
    ws: &Workspace,
    qemu: &Path,
    art: &Artifacts,
    cts: &[CtSetting],
    filter: impl Fn(&str) -> bool,
    settings: &Settings,
    series: &[Injection],
    verbose: bool,
) -> Result<Verdict> {
    let text = enumerate::read(&art.kernel)?;
    let targets: Vec<Insn> = text.insns().filter(|i| filter(&i.stub)).cloned().collect();
    anyhow::ensure!(!targets.is_empty(), "no entry instruction matches");
    let poll_addr = user_symbol(
        &ws.user_bin_dir().join("verify_loop"),
        "verify_loop_poll_syscall",
    )?;
    println!(
        "verify: {} instructions in {} stubs of .text.kentry ({})",
        targets.len(),
        count_stubs(&targets),
        crate::workspace::shown(&art.kernel, &ws.root)
    );
    for (kind, vectors) in &text.idt_kinds {
        println!("  IDT stub kind {kind}: {} vectors", vectors.len());
    }
    let guest = inject::Guest {
        qemu,
        kernel: &art.kernel,
        initrd: &art.initrd,
        poll_addr,
    };
    let mut runs = Vec::new();
    for &inj in series {
        for &ct in cts {
            let settings = &settings.for_setting(ct);
            println!(
                "== verify [{}]: {} at each instruction{}",
                settings.boot_label(ct),
                inj.name(),
                match inj {
                    Injection::Nmi => "",
                    Injection::Mce =>
                        " (recovered; the paranoid path: an NMI inside a #MC), then a fatal #MC",
                }
            );
            if inj == Injection::Mce {
                let fatal = mce::fatal_boot(
                    &guest,
                    ct,
                    &text,
                    &Settings {
                        boot_timeout: Duration::from_secs(60),
                        ..settings.clone()
                    },
                );
                report(&text, &fatal, verbose);
                runs.push(fatal);
            }
            // The #DF stub only in the #DF boot (df.rs): a double fault ends the kernel.
            let main: Vec<Insn> = targets
                .iter()
                .filter(|t| t.stub != df::DF_STUB)
                .cloned()
                .collect();
            let mut run = inject::run_boot(&guest, ct, &text, &main, settings, inj);
            let df_run = double_fault_boot(&guest, ct, &text, &targets, &mut run, inj, settings);
            report(&text, &run, verbose);
            runs.push(run);
            if let Some(d) = df_run {
                report(&text, &d, verbose);
                runs.push(d);
            }
        }
        topup::boots(&guest, &text, settings, inj, cts, &mut runs, verbose);
    }
    // Each instruction counts once per series: per boot setting and injection kind.
    // Each instruction counts once per series (injection kind): covered when some boot of
    // the series injected there. The boots of a series differ by context-tracking setting
    // (whose static branches run different copies) and by the CPU under test; each boot's
    // own figures are in its table above.
    let in_series: std::collections::BTreeSet<((String, String), u64)> = runs
        .iter()
        .flat_map(|r| {
            r.results
                .iter()
                .map(|(t, _)| (report::series(&r.label), t.addr))
        })
        .collect();
    let total = in_series.len();
    let covered = total - missed_by_every_boot(&runs).len();
    let failures: usize = runs
        .iter()
        .map(|r| {
            r.problems.len()
                + r.results
                    .iter()
                    .filter(|(_, x)| matches!(x, InsnResult::Failed(_)))
                    .count()
        })
        .sum();
    uncovered(&text, &runs);
    let missed = missed_by_every_boot(&runs).len();
    // The pending-IRQ kind: an IRQ is taken only where IF=1. Entry code runs with IF=0
    // everywhere (the CPU clears it on the way in; the way out sets it only by SYSRET or
    // IRET): an instruction stopped at with IF=1 would need an IRQ injected there, which this
    // run does not do, so it fails the run.
    let flags = inject::take_interrupt_flags();
    let if_on: std::collections::BTreeSet<u64> =
        flags.iter().filter(|f| f.1).map(|f| f.0).collect();
    let stopped: std::collections::BTreeSet<u64> = flags.iter().map(|f| f.0).collect();
    println!(
        "pending IRQ: RFLAGS.IF was 1 at {} of the {} instructions stopped at{}",
        if_on.len(),
        stopped.len(),
        if if_on.is_empty() {
            " (an IRQ made pending there would wait for the way out: no IRQ can arrive inside \
             these paths; none injected)"
        } else {
            ", where an IRQ could arrive and none was injected: FAILED"
        }
    );
    for a in &if_on {
        println!("  FAILED: IF=1 at {a:#x} {}", text.symbolize(*a));
    }
    let failures = failures + if_on.len();
    let rust = text.insns().filter(|i| text.rust.contains(&i.addr)).count();
    println!(
        "Rust part (.text.kentry.noinstr): {rust} of its {} instructions run outside \
         instrumentation regions and are injected at; {} of those only the NMI path runs \
         (docs/verify.md)",
        text.rust_total,
        text.rust_nmi_only.len()
    );
    println!("verify: {covered} of {total} instructions covered, {failures} failures");
    let mut problems = Vec::new();
    for r in &runs {
        problems.extend(r.problems.iter().cloned());
        for (t, x) in &r.results {
            if let InsnResult::Failed(why) = x {
                problems.push(format!("{}: {why}", text.symbolize(t.addr)));
            }
        }
    }
    Ok(Verdict {
        covered,
        total,
        missed,
        failures,
        problems,
        log_has_assertion: runs
            .iter()
            .any(|r| r.log.as_ref().is_some_and(|l| l.contains(RCU_ASSERTION))),
    })
}

fn count_stubs(targets: &[Insn]) -> usize {
    let mut n = 0;
    let mut last = None;
    for t in targets {
        if last != Some(&t.stub) {
            n += 1;
            last = Some(&t.stub);
        }
    }
    n
}

/// After a main boot: the #DF boot (df.rs) for the #DF stub's instructions among `targets`
/// and the Rust instructions `run` left uncovered (a #DF's path may run them); what it covers
/// of the latter is merged into `run`. None when there is nothing to do, or the main boot
/// failed as a whole.
fn double_fault_boot(
    guest: &inject::Guest,
    ct: CtSetting,
    text: &EntryText,
    targets: &[Insn],
    run: &mut BootRun,
    inj: Injection,
    settings: &Settings,
) -> Option<BootRun> {
    let df_targets: Vec<Insn> = targets
        .iter()
        .filter(|t| t.stub == df::DF_STUB)
        .chain(
            run.results
                .iter()
                .filter(|(t, r)| text.rust.contains(&t.addr) && *r == InsnResult::NotCovered)
                .map(|(t, _)| t),
        )
        .cloned()
        .collect();
    if df_targets.is_empty() || !run.problems.is_empty() {
        return None;
    }
    let s = Settings {
        boot_timeout: Duration::from_secs(120),
        ..settings.clone()
    };
    let (d, mut merged) = df::boot(guest, ct, text, &df_targets, inj, &s);
    for (t, r) in &mut run.results {
        if let Some(m) = merged.remove(&t.addr) {
            *r = m;
        }
    }
    Some(d)
}

/// The address of a symbol of a user program's ELF.
fn user_symbol(elf: &Path, name: &str) -> Result<u64> {
    let data = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("parsing {}", elf.display()))?;
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| s.address())
        .with_context(|| format!("{} has no symbol {name}", elf.display()))
}

//! `cargo xtask verify`: an NMI injected at every instruction of kentry's entry paths, on the
//! lean kernel with context tracking off and on, while ring-3 register checkers run
//! (docs/verify.md). The fast subset — every instruction of the SYSCALL path and of one IDT
//! path — runs in `cargo xtask test` as `verify_fast_nmi`.

mod enumerate;
mod gdb;
mod inject;

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
use inject::{BootRun, InsnResult, Settings};

/// The name of the fast subset's result in `cargo xtask test`.
pub const FAST_TEST_NAME: &str = "verify_fast_nmi";

/// Options of `cargo xtask verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Only the fast subset of `cargo xtask test` (the SYSCALL path and one IDT path).
    #[arg(long)]
    pub fast: bool,
    /// Only the stubs whose name contains this.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    /// Only this context-tracking setting (default: off, then on).
    #[arg(long, value_name = "off|on", value_parser = ["off", "on"])]
    pub ct: Option<String>,
    /// Seconds the guest may run before an address counts as never reached.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub per_address: u64,
    /// Show every instruction's result, not only the failures and the uncovered ones.
    #[arg(short, long)]
    pub verbose: bool,
}

/// The stubs of the fast subset: the SYSCALL path (with the IRET way back it takes when SYSRET
/// may not be used) and the timer's IDT path (stub, common path, IRET).
const FAST_STUBS: &[&str] = &[
    "kentry_syscall_64",
    "kentry_idt_stubs[0x20]",
    "kentry_idt_common",
    "kentry_return_via_iret",
];

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
            && args.only.as_deref().is_none_or(|o| stub.contains(o))
    };
    let settings = Settings {
        per_address: Duration::from_secs(args.per_address),
        boot_timeout: Duration::from_secs(3600),
    };
    let (covered, total, failures) =
        verify(ws, &qemu, &art, &cts, filter, &settings, args.verbose)?;
    Ok(if failures == 0 && covered == total {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The fast subset for `cargo xtask test` (context tracking on: the assertions armed, the
/// longer entry path): `Ok(summary)` when every instruction was covered without a failure.
pub fn fast(ws: &Workspace, qemu: &Path, art: &Artifacts) -> Result<String, String> {
    let settings = Settings {
        per_address: Duration::from_secs(10),
        boot_timeout: Duration::from_secs(300),
    };
    let filter = |stub: &str| FAST_STUBS.iter().any(|f| stub.starts_with(f));
    match verify(ws, qemu, art, &[CtSetting::On], filter, &settings, false) {
        Ok((n, m, 0)) if n == m => Ok(format!("{n} of {m} instructions, NMI at each")),
        Ok((n, m, k)) => Err(format!("{n} of {m} instructions covered, {k} failures")),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Enumerates, runs one boot per context-tracking setting, prints the report; returns
/// (covered, total, failures), an instruction counting as covered when every boot covered it.
fn verify(
    ws: &Workspace,
    qemu: &Path,
    art: &Artifacts,
    cts: &[CtSetting],
    filter: impl Fn(&str) -> bool,
    settings: &Settings,
    verbose: bool,
) -> Result<(usize, usize, usize)> {
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
    let mut runs = Vec::new();
    for &ct in cts {
        println!("== verify [{}]: NMI at each instruction", ct.label());
        let run = inject::run_boot(
            qemu,
            &art.kernel,
            &art.initrd,
            ct,
            &text,
            &targets,
            settings,
            poll_addr,
        );
        report(&text, &run, verbose);
        runs.push(run);
    }
    let covered = targets
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            runs.iter()
                .all(|r| matches!(r.results.get(*i), Some((_, InsnResult::Covered { .. }))))
        })
        .count();
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
    println!(
        "verify: {covered} of {} instructions covered, {failures} failures",
        targets.len()
    );
    Ok((covered, targets.len(), failures))
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

/// Prints one boot's table: per stub, covered / total and how many NMIs were held back (taken
/// after the NMI path's IRETQ); then each uncovered instruction and each failure; then, if
/// anything failed, the serial log.
fn report(text: &EntryText, run: &BootRun, verbose: bool) {
    let mut i = 0;
    while i < run.results.len() {
        let stub = &run.results[i].0.stub;
        let group: Vec<_> = run.results[i..]
            .iter()
            .take_while(|(t, _)| &t.stub == stub)
            .collect();
        let covered = group
            .iter()
            .filter(|(_, r)| matches!(r, InsnResult::Covered { .. }))
            .count();
        let deferred = group
            .iter()
            .filter(|(t, r)| matches!(r, InsnResult::Covered { delivered } if *delivered != t.addr))
            .count();
        let note = if deferred > 0 {
            format!(" ({deferred} NMIs held back until the NMI path's IRETQ)")
        } else {
            String::new()
        };
        println!("  {:>3}/{:<3} {stub}{note}", covered, group.len());
        for (t, r) in &group {
            let at = format!("{:#x} {} `{}`", t.addr, text.symbolize(t.addr), t.text);
            match r {
                InsnResult::NotCovered => println!("          not covered: {at}"),
                InsnResult::Failed(why) => println!("          FAILED: {at}: {why}"),
                InsnResult::Covered { delivered } if verbose => {
                    println!(
                        "          ok: {at}: NMI taken at {}",
                        text.symbolize(*delivered)
                    )
                }
                InsnResult::Covered { .. } => {}
            }
        }
        i += group.len();
    }
    for p in &run.problems {
        println!("  FAILED [{}]: {p}", run.ct.label());
    }
    println!(
        "  [{}]: {} instructions in {:.1} s",
        run.ct.label(),
        run.results.len(),
        run.elapsed.as_secs_f64()
    );
    let failed = !run.problems.is_empty()
        || run
            .results
            .iter()
            .any(|(_, r)| matches!(r, InsnResult::Failed(_)));
    if failed && let Some(log) = &run.log {
        log.print_full(&format!("verify [{}]", run.ct.label()));
    }
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

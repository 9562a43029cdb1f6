//! The in-guest test harness: kernel self-tests and the manifest of ring-3 test programs,
//! reported as KTAP on the serial console (docs/harness.md).

mod ktap;
mod manifest;
pub(crate) mod regcheck;
mod selftests;

use crate::power::ExitCode;
use crate::task::ExitReason;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
pub use ktap::Outcome;

/// The small Linux-like environment every program starts with.
const ENVP: [&str; 3] = ["PATH=/bin", "HOME=/", "TERM=linux"];

/// The program at `path` from the initrd with argv = `path`, `args` and the harness's
/// environment: its image, its absolute path, and its name (the last path component).
fn load<'a>(path: &'a str, args: &[&str]) -> Result<(crate::exec::Image, String, &'a str), String> {
    let argv: Vec<&[u8]> = core::iter::once(path)
        .chain(args.iter().copied())
        .map(str::as_bytes)
        .collect();
    let envp: Vec<&[u8]> = ENVP.iter().map(|e| e.as_bytes()).collect();
    let (image, exe) = crate::exec::image_for_kernel(path, &argv, &envp)?;
    Ok((image, exe, path.rsplit('/').next().unwrap_or(path)))
}

/// Loads `path` from the initrd, starts it as a child of the kernel with `args`
/// (argv[0] = path), and waits for it to end.
pub fn run_program(path: &str, args: &[&str]) -> Result<ExitReason, String> {
    let (image, exe, name) = load(path, args)?;
    crate::process::spawn_and_wait(name, &exe, image)
}

/// Starts several programs at once, each as a child of the kernel (the scheduler spreads
/// them over the CPUs), waits for all of them and returns each one's end, in order.
pub fn run_programs_together(progs: &[(&str, &[&str])]) -> Result<Vec<ExitReason>, String> {
    let k = crate::process::kernel_process();
    let mut started = Vec::new();
    for &(path, args) in progs {
        let (image, exe, name) = load(path, args)?;
        let p = crate::process::spawn(name, image, &k);
        crate::fs::set_exe(&p, &exe);
        started.push(p);
    }
    let mut ends = Vec::new();
    for p in &started {
        match crate::process::wait_child(&k, p.pid as i32, false) {
            Ok(Some((_, reason))) => ends.push(reason),
            Ok(None) => return Err(alloc::format!("{}: wait ended without a status", p.pid)),
            Err(e) => return Err(alloc::format!("{}: wait failed ({e})", p.pid)),
        }
    }
    drop(started);
    crate::process::reap_kernel_children();
    Ok(ends)
}

/// Runs a test; a kernel-mode #DB nothing explained while it ran (reported and survived,
/// x86/debugreg.rs) fails it: the kernel lives on, but the test provoked a bug.
fn no_stray_db(run: impl FnOnce() -> Outcome) -> Outcome {
    use crate::x86::debugreg::STRAY_KERNEL_DB;
    let before = STRAY_KERNEL_DB.load(Ordering::SeqCst);
    let outcome = run();
    let stray = STRAY_KERNEL_DB.load(Ordering::SeqCst).wrapping_sub(before);
    match outcome {
        Outcome::Pass | Outcome::Skip(_) if stray != 0 => Outcome::Fail(alloc::format!(
            "{stray} kernel-mode #DB the kernel could not explain (reported above)"
        )),
        o => o,
    }
}

/// Runs every selected test and prints KTAP; returns the power-off code.
pub fn run_all(cmdline: &str) -> ExitCode {
    // `kentry.only=a,b,c`: the tests of those names, in the harness's usual order.
    let only: Option<Vec<&str>> =
        crate::boot::cmdline_value(cmdline, "kentry.only").map(|v| v.split(',').collect());
    let named = |name: &str| only.as_ref().is_some_and(|o| o.contains(&name));
    let manifest = manifest::load();
    let selected_self: Vec<&selftests::SelfTest> = selftests::ALL
        .iter()
        .filter(|t| {
            if only.is_some() {
                named(t.name)
            } else {
                t.default
            }
        })
        .collect();
    let selected_manifest: Vec<&manifest::Entry> = manifest
        .iter()
        .filter(|e| only.is_none() || named(&e.name))
        .collect();
    let after: Vec<&selftests::SelfTest> = selftests::AFTER_PROGRAMS
        .iter()
        .filter(|t| only.is_none() || named(t.name))
        .collect();
    let total = selected_self.len() + selected_manifest.len() + after.len();
    // Every name asked for must be a test: a misspelt one would otherwise vanish unseen.
    let known = |n: &str| {
        selftests::ALL.iter().any(|t| t.name == n)
            || manifest.iter().any(|e| e.name == n)
            || selftests::AFTER_PROGRAMS.iter().any(|t| t.name == n)
    };
    let unknown: Vec<&str> = only
        .iter()
        .flatten()
        .copied()
        .filter(|n| !known(n))
        .collect();
    if total == 0 || !unknown.is_empty() {
        crate::klog!("no test is named {:?}", unknown.join(","));
        return ExitCode::Failed;
    }
    let mut k = ktap::Ktap::new(total);
    let ctx = selftests::Ctx;
    for t in selected_self {
        let outcome = no_stray_db(|| (t.run)(&ctx));
        k.result(t.name, outcome);
    }
    for e in selected_manifest {
        k.subtest_header(&e.name);
        let outcome = no_stray_db(|| e.run());
        k.result(&e.name, outcome);
    }
    for t in after {
        let outcome = no_stray_db(|| (t.run)(&ctx));
        k.result(t.name, outcome);
    }
    // The capability probe behind every "no #AC raised" SKIP (xtask checks it): how often
    // the CPU raised #AC from user mode in this boot, counted at the entry, before any of
    // the handling that the skipped tests test.
    let ac: u64 = crate::smp::ipi::online_cpus()
        .map(|(_, c)| c.counters.ac_from_user.load(Ordering::Relaxed))
        .sum();
    crate::kprint!("# kentry probe: user-mode #AC exceptions this boot: {ac}\n");
    // The clock's rate as measured by now: a time-dependent failure reads it first.
    crate::kprint!("# time at the end: {}\n", crate::time::Calibration::now());
    if k.failed() == 0 {
        ExitCode::Done
    } else {
        ExitCode::Failed
    }
}

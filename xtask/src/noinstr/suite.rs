//! The noinstr check in `cargo xtask test` (`noinstr_check` on each kernel, and
//! `negative_noinstr_check`), and `cargo xtask noinstr`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::{Image, NEGATIVE_NAME, Outcome, TEST_NAME, check, check_file};
use crate::build::{cross_cargo, run_checked};
use crate::workspace::{EXAMPLE_PACKAGE, Flavor, TARGET, Workspace, shown};

/// The feature of kentry that plants the mistake, and the function it plants.
const NEGATIVE_FEATURE: &str = "kentry/noinstr-negative";
const PLANTED: &str = "misplaced_log";
/// The path the planted call must be reported on (the SYSCALL stub into its Rust half).
const PLANTED_PATH: &str = "kentry_syscall_64 → kentry_rust_syscall";
/// The stub whose first byte the int3 half of the negative run overwrites.
const INT3_STUB: &str = "kentry_syscall_64";

/// Whether `name` names one of the check's results (for `--only`).
pub fn is_test_name(name: &str) -> bool {
    name == NEGATIVE_NAME
        || name.starts_with(TEST_NAME)
        || name.starts_with(crate::window_tables::TEST_NAME)
}

/// One result for the test log.
pub struct TestResult {
    pub name: String,
    /// Pass (with a summary) or fail (with the reason).
    pub verdict: std::result::Result<String, String>,
    /// Figures to print under the result (one line per root).
    pub lines: Vec<String>,
}

/// The check on each kernel `cargo xtask test` built, and the negative run; `only` selects by
/// name prefix, `negative` keeps the negative run alone.
pub fn run_tests(
    ws: &Workspace,
    kernels: &[(&str, &Path)],
    only: Option<&str>,
    negative: bool,
) -> Vec<TestResult> {
    let wanted = |name: &str| only.is_none_or(|o| name.starts_with(o));
    let mut out = Vec::new();
    for (suffix, elf) in kernels {
        let name = format!("{TEST_NAME}{suffix}");
        if negative || !wanted(&name) {
            continue;
        }
        out.push(match check_file(elf) {
            Err(e) => TestResult {
                name,
                verdict: Err(format!("{e:#}")),
                lines: Vec::new(),
            },
            Ok(o) => positive(name, &o),
        });
    }
    // The window tables against the same kernels (T3 reads them): every label of the test
    // kernel, the others without its test-only stubs.
    for (i, (suffix, elf)) in kernels.iter().enumerate() {
        let name = format!("{}{suffix}", crate::window_tables::TEST_NAME);
        if negative || !wanted(&name) {
            continue;
        }
        out.push(TestResult {
            name,
            verdict: crate::window_tables::check(&ws.root, elf, i == 0)
                .map_err(|e| format!("{e:#}")),
            lines: Vec::new(),
        });
    }
    if wanted(NEGATIVE_NAME) {
        let test_kernel = kernels.first().map(|(_, p)| *p);
        out.push(TestResult {
            name: NEGATIVE_NAME.to_string(),
            verdict: negative_run(ws, test_kernel).map_err(|e| format!("{e:#}")),
            lines: Vec::new(),
        });
    }
    out
}

fn positive(name: String, o: &Outcome) -> TestResult {
    let verdict = if o.passed() {
        Ok(o.summary())
    } else {
        let list: Vec<String> = o.violations.iter().map(|v| v.to_string()).collect();
        Err(format!("{} violations: {}", list.len(), list.join("; ")))
    };
    TestResult {
        name,
        verdict,
        lines: o.root_lines(),
    }
}

/// The negative run: the check must fail where the mistake was made, naming its path, and
/// nowhere else.
fn negative_run(ws: &Workspace, test_kernel: Option<&Path>) -> Result<String> {
    // 1. A call planted by the compiler: the example kernel with the feature on. (A build of
    //    the small example kernel takes a few seconds, a third build of the full kernel
    //    several times that; cached, neither costs anything.)
    let elf = build_negative(ws)?;
    let o = check_file(&elf)?;
    let planted: Vec<_> = o
        .violations
        .iter()
        .filter(|v| v.what.contains(PLANTED))
        .collect();
    let Some(found) = planted
        .iter()
        .find(|v| v.path.join(" → ").contains(PLANTED_PATH))
    else {
        bail!(
            "the check did not report the call to `{PLANTED}` on the path `{PLANTED_PATH} → …` \
             in {} (violations: {:?})",
            shown(&elf, &ws.root),
            o.violations
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
        );
    };
    if planted.len() != o.violations.len() {
        bail!(
            "besides the planted call the check reported {:?}",
            o.violations
                .iter()
                .filter(|v| !v.what.contains(PLANTED))
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
        );
    }
    // 2. An int3 at the SYSCALL entry of the test kernel (a byte-patched copy, in memory).
    let kernel = test_kernel.context("no test kernel to patch")?;
    let data = std::fs::read(kernel).with_context(|| format!("reading {}", kernel.display()))?;
    let mut img = Image::from_elf(&data)?;
    let stub = img
        .symbols
        .iter()
        .find(|s| s.name == INT3_STUB)
        .with_context(|| format!("no symbol {INT3_STUB}"))?
        .addr;
    if !check(&img).passed() {
        bail!("the unpatched test kernel fails the check already");
    }
    img.bytes[(stub - img.entry.start) as usize] = 0xcc;
    let patched = check(&img);
    let Some(bp) = patched
        .violations
        .iter()
        .find(|v| v.what.contains("int3") && v.path.join(" ").starts_with(INT3_STUB))
    else {
        bail!(
            "an int3 written at {INT3_STUB} was not reported (violations: {:?})",
            patched.violations
        );
    };
    Ok(format!("the check fails as it must: {found}; and {bp}"))
}

/// The example kernel with kentry's `noinstr-negative` feature, in its own target dir.
fn build_negative(ws: &Workspace) -> Result<PathBuf> {
    let dir = ws.target().join("minimal-noinstr-negative");
    run_checked(
        cross_cargo(
            ws,
            "build",
            EXAMPLE_PACKAGE,
            crate::example::RUSTFLAGS,
            &dir,
        )
        .args(["--features", NEGATIVE_FEATURE]),
        &format!(
            "building the noinstr check's negative kernel ({EXAMPLE_PACKAGE} --features {NEGATIVE_FEATURE})"
        ),
    )?;
    Ok(dir.join(TARGET).join("release").join(EXAMPLE_PACKAGE))
}

/// `cargo xtask noinstr [ELF…]`: the check with its figures, on the given files or on the
/// built test and lean kernels.
pub fn command(ws: &Workspace, elf: &[PathBuf]) -> Result<ExitCode> {
    let files: Vec<PathBuf> = if elf.is_empty() {
        vec![ws.kernel_elf(Flavor::Test), ws.kernel_elf(Flavor::Lean)]
    } else {
        elf.to_vec()
    };
    let mut ok = true;
    for f in &files {
        let out = check_file(f)?;
        println!("{}: {}", shown(f, &ws.root), out.summary());
        for l in out.root_lines() {
            println!("  {l}");
        }
        for v in &out.violations {
            println!("  VIOLATION {v}");
        }
        ok &= out.passed();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

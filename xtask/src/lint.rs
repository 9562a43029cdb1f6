//! `cargo xtask clippy` and `cargo xtask fmt`.

use anyhow::{Result, bail};

use crate::build::{self, KERNEL_RUSTFLAGS, USER_RUSTFLAGS, run_checked};
use crate::install;
use crate::workspace::Flavor;
use crate::workspace::{
    ABI_PACKAGE, ENTRY_PACKAGE, EXAMPLE_PACKAGE, KERNEL_LOGIC_PACKAGE, KERNEL_PACKAGE,
    USER_PACKAGE, Workspace,
};

/// Clippy with `-D warnings`: the host crates and kentry's rustdoc, then the kernel, the user
/// programs and the example kernel with the target, flags and target dirs of their builds.
/// Every part runs; the failures are reported together.
pub fn clippy(ws: &Workspace) -> Result<()> {
    let mut failed = Vec::new();
    let host = run_checked(
        ws.cargo().args([
            "clippy",
            "-p",
            ABI_PACKAGE,
            "-p",
            ENTRY_PACKAGE,
            "-p",
            KERNEL_LOGIC_PACKAGE,
            "-p",
            "xtask",
            "-p",
            crate::bench_plugin::PLUGIN_PACKAGE,
            "--",
            "-D",
            "warnings",
        ]),
        "clippy: host crates (kentry-abi, kentry, kentry-kernel-logic, xtask, insn-count)",
    );
    if let Err(e) = host {
        failed.push(format!("{e:#}"));
    }
    // kentry's rustdoc: every public item documented (the crate denies missing_docs) and
    // every intra-doc link resolved.
    let doc = run_checked(
        ws.cargo()
            .args(["doc", "-p", ENTRY_PACKAGE, "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
        "rustdoc: kentry (-D warnings)",
    );
    if let Err(e) = doc {
        failed.push(format!("{e:#}"));
    }
    install::ensure_toolchain(ws)?;
    // The kernel embeds the vDSO: it must exist for the kernel to compile.
    crate::vdso::build(ws)?;
    // Both kernel flavours: code behind `cfg(feature = "test-hooks")` and code only the lean
    // kernel builds must each be linted.
    for (package, flags, dir, extra) in [
        (
            KERNEL_PACKAGE,
            KERNEL_RUSTFLAGS,
            ws.kernel_target_dir(Flavor::Test),
            Flavor::Test.cargo_args(),
        ),
        (
            KERNEL_PACKAGE,
            KERNEL_RUSTFLAGS,
            ws.kernel_target_dir(Flavor::Lean),
            Flavor::Lean.cargo_args(),
        ),
        (USER_PACKAGE, USER_RUSTFLAGS, ws.user_target_dir(), &[][..]),
        (
            EXAMPLE_PACKAGE,
            crate::example::RUSTFLAGS,
            ws.example_target_dir(),
            &[][..],
        ),
    ] {
        let res = run_checked(
            build::cross_cargo(ws, "clippy", package, flags, &dir)
                .args(extra)
                .args(["--", "-D", "warnings"]),
            &format!("clippy: {package} {}", extra.join(" ")),
        );
        if let Err(e) = res {
            failed.push(format!("{e:#}"));
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// `cargo fmt --all`, or `--check`.
pub fn fmt(ws: &Workspace, check: bool) -> Result<()> {
    let mut cmd = ws.cargo();
    cmd.args(["fmt", "--all"]);
    if check {
        cmd.args(["--", "--check"]);
    }
    run_checked(
        &mut cmd,
        if check {
            "cargo fmt --all -- --check"
        } else {
            "cargo fmt --all"
        },
    )
}

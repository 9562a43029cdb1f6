//! `cargo xtask clippy` and `cargo xtask fmt`.

use anyhow::{Result, bail};

use crate::build::{self, KERNEL_RUSTFLAGS, USER_RUSTFLAGS, run_checked};
use crate::install;
use crate::workspace::Flavor;
use crate::workspace::{
    ENTRY_PACKAGE, KERNEL_LOGIC_PACKAGE, KERNEL_PACKAGE, USER_PACKAGE, Workspace,
};

/// Clippy with `-D warnings`: the host crates, then the kernel and the user programs with the
/// target, flags and target dirs of their builds. Every part runs; the failures are reported
/// together.
pub fn clippy(ws: &Workspace) -> Result<()> {
    let mut failed = Vec::new();
    let host = run_checked(
        ws.cargo().args([
            "clippy",
            "-p",
            ENTRY_PACKAGE,
            "-p",
            KERNEL_LOGIC_PACKAGE,
            "-p",
            "xtask",
            "--",
            "-D",
            "warnings",
        ]),
        "clippy: host crates (kentry, kentry-kernel-logic, xtask)",
    );
    if let Err(e) = host {
        failed.push(format!("{e:#}"));
    }
    install::ensure_toolchain(ws)?;
    for (package, flags, dir) in [
        (
            KERNEL_PACKAGE,
            KERNEL_RUSTFLAGS,
            ws.kernel_target_dir(Flavor::Test),
        ),
        (USER_PACKAGE, USER_RUSTFLAGS, ws.user_target_dir()),
    ] {
        let res = run_checked(
            build::cross_cargo(ws, "clippy", package, flags, &dir).args(["--", "-D", "warnings"]),
            &format!("clippy: {package}"),
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

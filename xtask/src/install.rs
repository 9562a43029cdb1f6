//! Making sure the tools exist: QEMU (installed with apt-get when running as root) and the
//! Rust target and sources the cross builds need.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace::{TARGET, Workspace};

pub const QEMU: &str = "qemu-system-x86_64";
pub const QEMU_PACKAGE: &str = "qemu-system-x86";

/// Finds an executable on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| crate::build::is_executable(p))
}

fn is_root() -> bool {
    // The owner of /proc/self is the effective user id of this process.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Returns the path of `qemu-system-x86_64`, installing the Debian package first if it is
/// missing and we are root.
pub fn ensure_qemu() -> Result<PathBuf> {
    if let Some(p) = which(QEMU) {
        return Ok(p);
    }
    if !is_root() {
        bail!(
            "{QEMU} is not installed (not on PATH); install the package {QEMU_PACKAGE} \
             (e.g. `sudo apt-get install -y {QEMU_PACKAGE}`) and try again"
        );
    }
    eprintln!("xtask: installing QEMU (apt-get install {QEMU_PACKAGE})");
    run_tool(Command::new("apt-get").arg("update"), "apt-get update")?;
    run_tool(
        Command::new("apt-get")
            .args(["install", "-y", QEMU_PACKAGE])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("apt-get install -y {QEMU_PACKAGE}"),
    )?;
    which(QEMU)
        .with_context(|| format!("{QEMU} is still not on PATH after installing {QEMU_PACKAGE}"))
}

/// Checks that the pinned toolchain has the `x86_64-unknown-none` target and `rust-src`,
/// adding them with rustup when it is available.
pub fn ensure_toolchain(ws: &Workspace) -> Result<()> {
    let sysroot = sysroot(ws)?;
    let has_target = || {
        sysroot
            .join("lib/rustlib")
            .join(TARGET)
            .join("lib")
            .is_dir()
    };
    let has_src = || sysroot.join("lib/rustlib/src/rust/library").is_dir();
    let rustup = which("rustup");
    if !has_target() {
        let Some(rustup) = &rustup else {
            bail!(
                "the Rust target {TARGET} is not installed in {} and rustup is not available; \
                 install it (`rustup target add {TARGET}`)",
                sysroot.display()
            );
        };
        eprintln!("xtask: adding the Rust target {TARGET} (rustup target add {TARGET})");
        run_tool(
            Command::new(rustup)
                .args(["target", "add", TARGET])
                .current_dir(&ws.root),
            "rustup target add",
        )?;
    }
    if !has_src() {
        let Some(rustup) = &rustup else {
            bail!(
                "the rust-src component is not installed in {} and rustup is not available; \
                 install it (`rustup component add rust-src`)",
                sysroot.display()
            );
        };
        eprintln!("xtask: adding the rust-src component (rustup component add rust-src)");
        run_tool(
            Command::new(rustup)
                .args(["component", "add", "rust-src"])
                .current_dir(&ws.root),
            "rustup component add rust-src",
        )?;
    }
    if !has_target() || !has_src() {
        bail!(
            "the toolchain in {} still lacks {TARGET} or rust-src",
            sysroot.display()
        );
    }
    Ok(())
}

/// The sysroot of the toolchain the workspace uses (rust-toolchain.toml applies: the command
/// runs in the workspace root).
fn sysroot(ws: &Workspace) -> Result<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(&ws.root)
        .output()
        .with_context(|| format!("running {} --print sysroot", Path::new(&rustc).display()))?;
    if !out.status.success() {
        bail!(
            "rustc --print sysroot failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<()> {
    // Tool chatter goes to stderr: `cargo xtask run` keeps stdout for the guest program.
    let status = cmd
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

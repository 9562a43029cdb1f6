//! Making sure the tools exist: QEMU and musl-gcc (installed with apt-get when running as
//! root) and the Rust target and sources the cross builds need.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace::{TARGET, Workspace};

pub const QEMU: &str = "qemu-system-x86_64";
pub const QEMU_PACKAGE: &str = "qemu-system-x86";
pub const MUSL_GCC: &str = "musl-gcc";
pub const MUSL_PACKAGE: &str = "musl-tools";
pub const BUSYBOX: &str = "busybox";
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

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
    ensure_tool(QEMU, QEMU_PACKAGE, "QEMU")
}

/// Returns the path of `musl-gcc` (for `user/c/build.sh`), installing the Debian package first
/// if it is missing and we are root.
pub fn ensure_musl_gcc() -> Result<PathBuf> {
    ensure_tool(MUSL_GCC, MUSL_PACKAGE, MUSL_PACKAGE)
}

/// Returns the path of a static `busybox` (Debian's busybox-static), installing it first if it
/// is missing and we are root: the runner checks run this unmodified Linux program on kentry.
pub fn ensure_busybox() -> Result<PathBuf> {
    ensure_tool(BUSYBOX, BUSYBOX_PACKAGE, BUSYBOX_PACKAGE)
}

/// Makes sure `file` exists, installing the Debian `package` that provides it if we are root;
/// otherwise stops with a message that names the package.
pub fn ensure_file(file: &Path, package: &str) -> Result<()> {
    if file.exists() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "{} is missing; install the package {package} (e.g. `sudo apt-get install -y {package}`) and try again",
            file.display()
        );
    }
    apt_install(package, package)?;
    if !file.exists() {
        bail!(
            "{} is still missing after installing {package}",
            file.display()
        );
    }
    Ok(())
}

/// Returns the path of the program `tool`; when it is not on `PATH`, installs the Debian
/// `package` (called `what` in the message) with apt-get if we are root, and otherwise stops
/// with a message that names the package.
fn ensure_tool(tool: &str, package: &str, what: &str) -> Result<PathBuf> {
    ensure_tool_as(tool, package, what, is_root())
}

fn ensure_tool_as(tool: &str, package: &str, what: &str, root: bool) -> Result<PathBuf> {
    if let Some(p) = which(tool) {
        return Ok(p);
    }
    if !root {
        bail!(
            "{tool} is not installed (not on PATH); install the package {package} \
             (e.g. `sudo apt-get install -y {package}`) and try again"
        );
    }
    apt_install(package, what)?;
    which(tool).with_context(|| format!("{tool} is still not on PATH after installing {package}"))
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

/// `apt-get update` and `apt-get install -y package`, saying so (`what` names it for people).
fn apt_install(package: &str, what: &str) -> Result<()> {
    eprintln!("xtask: installing {what} (apt-get install {package})");
    run_tool(Command::new("apt-get").arg("update"), "apt-get update")?;
    run_tool(
        Command::new("apt-get")
            .args(["install", "-y", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("apt-get install -y {package}"),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_or_names_the_package() {
        assert_eq!(
            ensure_tool_as("sh", "dash", "sh", false).unwrap(),
            which("sh").unwrap()
        );
        let err = ensure_tool_as("kentry-no-such-tool", "kentry-pkg", "it", false).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("kentry-no-such-tool is not installed")
                && msg.contains("install the package kentry-pkg"),
            "{msg}"
        );
    }
}

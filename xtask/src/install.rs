//! Making sure the tools exist: QEMU and musl-gcc (installed with apt-get when running as
//! root) and the Rust target and sources the cross builds need.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace::{TARGET, Workspace};

pub const QEMU: &str = "qemu-system-x86_64";
pub const MUSL_GCC: &str = "musl-gcc";
pub const BUSYBOX: &str = "busybox";

/// How xtask tells that a package it needs is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A program on `PATH`.
    Program(&'static str),
    /// A file.
    File(&'static str),
}

impl Probe {
    fn present(self) -> bool {
        match self {
            Probe::Program(p) => which(p).is_some(),
            Probe::File(f) => Path::new(f).exists(),
        }
    }
}

/// A Debian package a command needs, what shows it is installed, and why it is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub package: &'static str,
    pub probe: Probe,
    pub why: &'static str,
}

/// QEMU: every boot.
pub const NEED_QEMU: Need = Need {
    package: "qemu-system-x86",
    probe: Probe::Program(QEMU),
    why: "boots kentry",
};
/// A C compiler: the glibc builds of the C test programs and Linux's selftests.
pub const NEED_GCC: Need = Need {
    package: "gcc",
    probe: Probe::Program("gcc"),
    why: "builds the vDSO and the C test programs",
};
/// musl-gcc: the musl builds of the C test programs.
pub const NEED_MUSL: Need = Need {
    package: "musl-tools",
    probe: Probe::Program(MUSL_GCC),
    why: "builds the C test programs with musl",
};
/// A static busybox: an unmodified Linux program the runner checks run on kentry.
pub const NEED_BUSYBOX: Need = Need {
    package: "busybox-static",
    probe: Probe::Program(BUSYBOX),
    why: "a Linux program nobody here wrote, for the runner checks",
};
/// Linux's source: its x86 selftests are built from it (crate::linux_selftests).
pub const NEED_LINUX_SOURCE: Need = Need {
    package: crate::linux_selftests::PACKAGE,
    probe: Probe::File(crate::linux_selftests::TARBALL),
    why: "Linux's own x86 selftests",
};
/// libcap's static library and `<sys/capability.h>`: Linux's seccomp_bpf selftest links it
/// (crate::linux_selftests::kselftest).
pub const NEED_LIBCAP: Need = Need {
    package: crate::linux_selftests::kselftest::LIBCAP_PACKAGE,
    probe: Probe::File(crate::linux_selftests::kselftest::LIBCAP_A),
    why: "Linux's seccomp_bpf selftest links libcap statically",
};
/// xz: unpacks the Linux source tarball.
pub const NEED_XZ: Need = Need {
    package: "xz-utils",
    probe: Probe::Program("xz"),
    why: "unpacks Linux's source",
};

/// What `cargo xtask test` needs (`host_only`: the `--host` part alone boots nothing).
pub fn needs_for_test(host_only: bool) -> Vec<Need> {
    // Linux's source also serves the host unit tests (kentry-abi checks its syscall list
    // against syscall_64.tbl).
    let mut needs = vec![NEED_GCC, NEED_MUSL, NEED_LINUX_SOURCE, NEED_XZ];
    if !host_only {
        needs.extend([NEED_QEMU, NEED_BUSYBOX, NEED_LIBCAP]);
    }
    needs
}

/// What `cargo xtask run` and `cargo xtask bench` need: QEMU, and the C programs they pack.
pub fn needs_for_boot() -> Vec<Need> {
    vec![NEED_QEMU, NEED_GCC, NEED_MUSL]
}

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

/// Installs every package of `needs` that is missing, once, before anything else runs: one
/// `apt-get update` and one `apt-get install --no-install-recommends` of them all (no
/// recommends: QEMU would drag in a desktop stack), with one line saying what and why.
/// Nothing installs later, so nothing runs apt-get while boots run in parallel. Without root,
/// stops and names the packages.
pub fn ensure_packages(needs: &[Need]) -> Result<()> {
    let missing = missing(needs, Probe::present);
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
    if !is_root() {
        bail!("{}", not_root_message(&missing));
    }
    eprintln!("xtask: installing {}", install_line(&missing));
    run_tool(Command::new("apt-get").arg("update"), "apt-get update")?;
    run_tool(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!(
            "apt-get install -y --no-install-recommends {}",
            packages.join(" ")
        ),
    )?;
    let still: Vec<&str> = missing
        .iter()
        .filter(|n| !n.probe.present())
        .map(|n| n.package)
        .collect();
    if !still.is_empty() {
        bail!("still missing after apt-get install: {}", still.join(", "));
    }
    Ok(())
}

/// The needs whose probe fails, each package once.
fn missing(needs: &[Need], present: impl Fn(Probe) -> bool) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    for n in needs {
        if !present(n.probe) && !out.iter().any(|m| m.package == n.package) {
            out.push(*n);
        }
    }
    out
}

/// `pkg (why), pkg (why)`.
fn install_line(missing: &[Need]) -> String {
    let list: Vec<String> = missing
        .iter()
        .map(|n| format!("{} ({})", n.package, n.why))
        .collect();
    list.join(", ")
}

fn not_root_message(missing: &[Need]) -> String {
    let packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
    format!(
        "{} is not installed and xtask is not root; install it \
         (`sudo apt-get install -y --no-install-recommends {}`) and try again",
        install_line(missing),
        packages.join(" ")
    )
}

/// The path of `qemu-system-x86_64` (installed up front by [`ensure_packages`]).
pub fn qemu() -> Result<PathBuf> {
    installed(NEED_QEMU)
}

/// The path of a static `busybox` (installed up front by [`ensure_packages`]).
pub fn busybox() -> Result<PathBuf> {
    installed(NEED_BUSYBOX)
}

/// The path of a program that [`ensure_packages`] installed; an error naming the package
/// when it is missing (a command forgot to list it among its needs).
pub fn installed(need: Need) -> Result<PathBuf> {
    let Probe::Program(tool) = need.probe else {
        bail!("{} is not a program", need.package);
    };
    which(tool).with_context(|| {
        format!(
            "{tool} is not on PATH: install the package {} (`apt-get install {}`)",
            need.package, need.package
        )
    })
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

/// Runs a tool whose output goes to stderr; fails with `what` if it fails.
pub fn run_tool(cmd: &mut Command, what: &str) -> Result<()> {
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
    fn lists_each_missing_package_once() {
        let needs = [NEED_QEMU, NEED_GCC, NEED_QEMU, NEED_LINUX_SOURCE];
        let m = missing(&needs, |p| p == Probe::Program("gcc"));
        let names: Vec<&str> = m.iter().map(|n| n.package).collect();
        assert_eq!(names, ["qemu-system-x86", "linux-source-6.1"]);
        assert!(missing(&needs, |_| true).is_empty());
    }

    #[test]
    fn names_the_packages_and_why() {
        let msg = not_root_message(&[NEED_QEMU, NEED_BUSYBOX]);
        assert!(
            msg.contains("qemu-system-x86 (boots kentry)")
                && msg.contains(
                    "apt-get install -y --no-install-recommends qemu-system-x86 busybox-static"
                ),
            "{msg}"
        );
        let err = installed(Need {
            package: "kentry-pkg",
            probe: Probe::Program("kentry-no-such-tool"),
            why: "",
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("install the package kentry-pkg"));
    }

    #[test]
    fn every_command_lists_qemu_when_it_boots() {
        assert!(needs_for_test(false).contains(&NEED_QEMU));
        assert!(!needs_for_test(true).contains(&NEED_QEMU));
        assert!(needs_for_boot().contains(&NEED_QEMU));
        // The selftests that link libcap are built before the boots run in parallel.
        assert!(needs_for_test(false).contains(&NEED_LIBCAP));
    }
}

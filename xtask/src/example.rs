//! The second kernel (`examples/minimal`): built with the kernel's flags and booted once by
//! `cargo xtask test`. It uses kentry only through its public API and linker fragments, so
//! its boot proves the contract of entry/README.md is enough to host kentry. It passes when
//! QEMU ends with status 1 (v=0) and the log shows every line of [`EXPECT_LOG`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::build::{self, run_checked};
use crate::qemu::{self, Boot};
use crate::workspace::{EXAMPLE_PACKAGE, Workspace};

/// The name of its result in `cargo xtask test` (and for `--only`).
pub const TEST_NAME: &str = "example_minimal";

/// RUSTFLAGS of its build: the kernel's code model, static relocations.
pub const RUSTFLAGS: &str = "-C code-model=kernel -C relocation-model=static";

/// What its serial log must show, each as the start of a line (after the `[kentry] ` prefix,
/// if any): the program's own output, and one `ok` per check the kernel makes at exit (each of
/// which it prints `not ok` when the event did not happen).
pub const EXPECT_LOG: &[&str] = &[
    "cpu set up by kentry::arch::setup::init_cpu; context tracking on (",
    "    hello from ring 3",
    "user fault: #UD invalid opcode at rip=",
    "    ring 3 saw the NMI flag",
    "ok 1 syscalls",
    "ok 2 user_fault",
    "ok 3 nmi_from_user",
    "ok 4 exit_status",
];

/// QEMU's status when the kernel powers off with v=0 (every check passed).
const EXPECT_STATUS: i32 = 1;

/// Builds the example kernel; returns its ELF image.
pub fn build(ws: &Workspace) -> Result<PathBuf> {
    run_checked(
        &mut build::cross_cargo(
            ws,
            "build",
            EXAMPLE_PACKAGE,
            RUSTFLAGS,
            &ws.example_target_dir(),
        ),
        &format!("building the example kernel ({EXAMPLE_PACKAGE}, RUSTFLAGS=\"{RUSTFLAGS}\")"),
    )?;
    let elf = ws.example_elf();
    if !elf.is_file() {
        bail!(
            "the example kernel build succeeded but {} does not exist",
            elf.display()
        );
    }
    Ok(elf)
}

/// Boots it (no initrd, no command line); returns the log and why it failed (nothing when
/// it passed).
pub fn boot(qemu: &Path, kernel: &Path, timeout: Duration) -> Result<(qemu::BootLog, Vec<String>)> {
    let mut boot = Boot::new(kernel, Path::new(""), &[]);
    boot.timeout = Some(timeout);
    let log = qemu::run(qemu, &boot)?;
    let mut reasons = Vec::new();
    if log.status() != Some(EXPECT_STATUS) {
        reasons.push(format!(
            "{}, expected QEMU status {EXPECT_STATUS}",
            log.describe()
        ));
    }
    // Whole lines: "ok 1 syscalls" must not be found inside "not ok 1 syscalls".
    for text in EXPECT_LOG.iter().filter(|t| !has_line(&log.lines, t)) {
        reasons.push(format!("the serial log lacks a line {text:?}"));
    }
    Ok((log, reasons))
}

/// Whether a line of `lines` starts with `text`, once a leading log prefix (`[…] `) is dropped.
fn has_line(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| {
        let l = l.trim_end();
        let body = match l.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((_, rest)) => rest,
            None => l,
        };
        body.starts_with(text) || l.starts_with(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_only() {
        let lines: Vec<String> = ["[kentry] not ok 1 syscalls", "    hello from ring 3"]
            .map(String::from)
            .into();
        assert!(!has_line(&lines, "ok 1 syscalls"));
        assert!(has_line(&lines, "    hello from ring 3"));
        let ok: Vec<String> = vec!["ok 1 syscalls".into()];
        assert!(has_line(&ok, "ok 1 syscalls"));
    }
}

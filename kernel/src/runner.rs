//! Run mode (`kentry.mode=run`): start one program as PID 1, wait for it, tell xtask how it
//! ended. This is what `cargo xtask run -- PROGRAM [ARGS…]` boots (docs/harness.md).
//!
//! xtask packs into the initrd:
//! - the program, at the path named by `kentry.init=` (a plain word: xtask picks it);
//! - `etc/kentry-argv`: argv, each string followed by a NUL byte (so arguments may hold spaces,
//!   newlines, anything but NUL, and may be empty; they never touch the command line);
//! - `etc/kentry-envp`: envp, in the same form;
//! - `dev/.stdin`: the program's stdin (read by `console::stdin_read`).
//!
//! Without `etc/kentry-argv`, argv is the program path and the command-line words after `--`;
//! without `etc/kentry-envp`, the environment is [`DEFAULT_ENVP`]. With `kentry.console=frames`
//! the program's output, its end and a failure to start it go to xtask as frames
//! (`console.rs`); the kernel log stays plain text around them.

use crate::console::{self, UserOutput};
use crate::exec::{ExecError, build_image};
use crate::power::ExitCode;
use crate::task::ExitReason;
use crate::{boot, klog};
use alloc::string::String;
use alloc::vec::Vec;

/// The program of a run without `kentry.init=`: the demo.
pub const DEFAULT_INIT: &str = "/bin/hello";
/// The initrd file holding argv (NUL-terminated strings).
pub const ARGV_FILE: &str = "etc/kentry-argv";
/// The initrd file holding envp (NUL-terminated strings).
pub const ENVP_FILE: &str = "etc/kentry-envp";
/// The environment when the initrd carries none: small and Linux-like.
pub const DEFAULT_ENVP: [&str; 3] = ["PATH=/bin:/usr/bin", "HOME=/", "TERM=linux"];

/// Shell status for "found but cannot execute".
const STATUS_CANNOT_EXECUTE: u8 = 126;
/// Shell status for "not found".
const STATUS_NOT_FOUND: u8 = 127;

/// Why the program did not start: the status a shell would give, and the reason (without the
/// path: xtask names the program as the user gave it).
struct StartError {
    status: u8,
    reason: String,
}

/// Runs the run-mode program and reports how it ended; returns the power-off code.
pub fn run(cmdline: &str) -> ExitCode {
    if boot::cmdline_value(cmdline, "kentry.console") == Some("frames") {
        console::set_user_output(UserOutput::Framed);
    }
    crate::tty::init(cmdline);
    let path = boot::cmdline_value(cmdline, "kentry.init").unwrap_or(DEFAULT_INIT);
    let initrd = crate::INITRD.get();
    let argv: Vec<&[u8]> = match initrd.and_then(|c| c.find(ARGV_FILE)) {
        Some(data) => nul_terminated(data),
        None => core::iter::once(path)
            .chain(boot::cmdline_args(cmdline))
            .map(str::as_bytes)
            .collect(),
    };
    let envp: Vec<&[u8]> = match initrd.and_then(|c| c.find(ENVP_FILE)) {
        Some(data) => nul_terminated(data),
        None => DEFAULT_ENVP.iter().map(|s| s.as_bytes()).collect(),
    };
    match start(path, &argv, &envp) {
        Ok(reason) => {
            let status = reason.shell_status();
            klog!("{path} ended: status {status}");
            match reason {
                ExitReason::Exited(code) => console::program_exit(false, code),
                ExitReason::Signaled(sig) => console::program_exit(true, i32::from(sig)),
            }
            if status == 0 {
                ExitCode::Done
            } else {
                ExitCode::Failed
            }
        }
        Err(e) => {
            klog!("cannot run {path}: {}", e.reason);
            console::program_error(e.status, &e.reason);
            ExitCode::Failed
        }
    }
}

/// Splits a list of strings each followed by a NUL. A last string without its NUL still
/// counts, so a file cut short loses nothing.
fn nul_terminated(data: &[u8]) -> Vec<&[u8]> {
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    if data.is_empty() {
        return Vec::new();
    }
    data.split(|&b| b == 0).collect()
}

/// Loads `path` from the filesystem and runs it to completion with `argv` and `envp`, byte
/// for byte.
fn start(path: &str, argv: &[&[u8]], envp: &[&[u8]]) -> Result<ExitReason, StartError> {
    let cannot = |reason: String| StartError {
        status: STATUS_CANNOT_EXECUTE,
        reason,
    };
    let (node, exe) = crate::fs::open_executable(path).map_err(|e| StartError {
        status: if e == -crate::syscall::errno::ENOENT {
            STATUS_NOT_FOUND
        } else {
            STATUS_CANNOT_EXECUTE
        },
        reason: String::from(crate::syscall::errno::describe(e)),
    })?;
    let image = build_image(path, &node, argv, envp).map_err(|e| {
        cannot(String::from(match e {
            ExecError::Elf(e) => e.describe(),
            ExecError::Interp(_) => "its dynamic loader (PT_INTERP) cannot be opened",
            ExecError::NoMemory => "out of memory while loading it",
            ExecError::TooBig => "the arguments and environment are too long",
        }))
    })?;
    let name = path.rsplit('/').next().unwrap_or(path);
    crate::process::spawn_and_wait(name, &exe, image).map_err(cannot)
}

//! `cargo xtask run [-- PROGRAM [ARGS…]]`: boots kentry with PROGRAM, an x86-64 or i386 Linux
//! executable from this host (static, or dynamic with its loader and libraries), as PID 1, and behaves like a shell running it: the program's
//! stdout and stderr come out here byte for byte, its stdin is ours, and xtask exits with its
//! status (128 + signal when a signal killed it). The kernel log is kept apart: in
//! `target/run.log`, and on stderr with `--log`.
//!
//! What goes into the initrd and on the command line is in docs/harness.md ("Run mode"); the
//! framing that keeps output and log apart on the one serial port is in `frames.rs`.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{IsTerminal, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::build;
use crate::cpio;
use crate::frames::{Control, OutputSink, Passthrough, ProgramEnd};
use crate::install;
use crate::qemu::{self, Accel, Boot, BootLog, KernelExit, Machine};
use crate::workspace::{self, Flavor, Workspace};

/// The environment every program starts with: small and Linux-like.
pub const DEFAULT_ENVP: [&str; 3] = ["PATH=/bin:/usr/bin", "HOME=/", "TERM=linux"];
/// Initrd files of a run (docs/harness.md).
pub const ARGV_FILE: &str = "etc/kentry-argv";
pub const ENVP_FILE: &str = "etc/kentry-envp";
pub const STDIN_FILE: &str = "dev/.stdin";
pub const SYM_FILE: &str = "boot/kernel.sym";
/// The program of `cargo xtask run` without one: the demo.
pub const DEMO: &str = "hello";

/// Exit statuses of xtask itself, as shells and `timeout(1)` use them.
pub const STATUS_USAGE: u8 = 2;
pub const STATUS_TIMEOUT: u8 = 124;
/// The kernel (or QEMU) failed: a panic, a crash, no report of the program's end.
pub const STATUS_KERNEL_FAILED: u8 = 125;
pub const STATUS_CANNOT_EXECUTE: u8 = 126;
pub const STATUS_NOT_FOUND: u8 = 127;

/// The number of kernel log lines shown when the kernel fails (the whole log is in run.log).
const LOG_TAIL: usize = 40;

/// Options of `cargo xtask run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Start QEMU's gdbstub on :1234 and wait for a debugger (no timeout).
    #[arg(long)]
    pub gdb: bool,
    /// The accelerator. KVM on these machines is kvm_pvm and does not run the kernel correctly.
    #[arg(long, value_enum, default_value_t = Accel::Tcg)]
    pub accel: Accel,
    /// Seconds before the run is stopped with status 124 (0: never). Default: 60, or never
    /// when stdin is a terminal (an interactive run).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// The QEMU machine.
    #[arg(long, value_enum, default_value_t = Machine::Microvm)]
    pub machine: Machine,
    /// The QEMU CPU model (e.g. `max,-smap`).
    #[arg(long, default_value = "max")]
    pub cpu: String,
    /// How many CPUs the machine has (`-smp`); default: this host's cores, at most 8.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub cpus: Option<u32>,
    /// A word added to the kernel command line (e.g. `nohz_full=1`). Repeatable.
    #[arg(long = "kernel-arg", value_name = "ARG")]
    pub kernel_args: Vec<String>,
    /// Put a host file into the guest's root filesystem, at GUEST_PATH (absolute) or at
    /// /<its file name>. Repeatable.
    #[arg(long = "file", value_name = "HOST_PATH[:GUEST_PATH]")]
    pub files: Vec<OsString>,
    /// Put a whole host directory tree into the guest, at GUEST_DIR (absolute) or at the same
    /// path; the shared libraries its ELF files need come too. Repeatable.
    #[arg(long = "dir", value_name = "HOST_DIR[:GUEST_DIR]")]
    pub dirs: Vec<OsString>,
    /// The guest's RAM in MiB (default: 256, more when the initrd is large).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(64..=65536))]
    pub memory: Option<u32>,
    /// Copy the kernel log to stderr, each line prefixed with `kernel| ` (it always goes to
    /// target/run.log), and show the build steps.
    #[arg(long)]
    pub log: bool,
    /// The program (a path on this host, or the name of a kentry user program such as
    /// `hello`) and its arguments, passed exactly as given; default: the demo, /bin/hello.
    #[arg(last = true, value_name = "PROGRAM ARGS")]
    pub program: Vec<OsString>,
}

/// The CPUs of a run without `--cpus`: as many as this host has cores, at most 8.
pub fn default_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8) as u32)
}

/// Input xtask refuses before booting, with the status to exit with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u8,
    pub message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

fn refuse(status: u8, message: impl Into<String>) -> anyhow::Error {
    Refused {
        status,
        message: message.into(),
    }
    .into()
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

pub fn run(ws: &Workspace, args: &RunArgs) -> Result<ExitCode> {
    match run_program(ws, args) {
        Ok(status) => Ok(ExitCode::from(status)),
        Err(e) => match e.downcast_ref::<Refused>() {
            Some(r) => {
                eprintln!("xtask: error: {}", r.message);
                Ok(ExitCode::from(r.status))
            }
            None => Err(e),
        },
    }
}

fn run_program(ws: &Workspace, args: &RunArgs) -> Result<u8> {
    if args.accel == Accel::Kvm {
        eprintln!("{}", qemu::KVM_WARNING);
    }
    // Everything the user gave is checked before the build: a typo fails at once.
    let (shown, source, argv) = match args.program.split_first() {
        Some((program, _)) => (
            program.to_string_lossy().into_owned(),
            resolve(program, || {
                let mut names = ws.user_bin_names()?;
                names.extend(build::c_program_names(ws)?);
                Ok(names)
            })?,
            args.program.iter().map(|a| a.as_bytes().to_vec()).collect(),
        ),
        // The demo, as the kernel has always started it.
        None => (
            DEMO.to_string(),
            Source::User(DEMO.into()),
            vec![format!("/bin/{DEMO}").into_bytes()],
        ),
    };
    let mut files = args
        .files
        .iter()
        .map(|f| read_guest_file(f))
        .collect::<Result<Vec<_>>>()?;
    for d in &args.dirs {
        files.extend(read_guest_dir(d)?);
    }
    // On a terminal the guest gets a tty fed live from it (run/tty.rs); otherwise stdin is
    // read to its end now and packed into the initrd.
    let interactive = tty::stdin_is_terminal();
    let stdin = read_own_stdin()?;
    let timeout = args.timeout.unwrap_or(if interactive { 0 } else { 60 });

    build::set_quiet(!args.log);
    let qemu_bin = install::qemu()?;
    install::ensure_toolchain(ws)?;
    let art = build::all(ws, Flavor::Lean)?;
    let (host_name, exe) = match source {
        Source::Host(path, data) => (path, data),
        Source::User(name) => {
            let p = art
                .programs
                .iter()
                .find(|p| p.name == name)
                .with_context(|| format!("the user program {name} was not built"))?;
            let data =
                std::fs::read(&p.path).with_context(|| format!("reading {}", p.path.display()))?;
            (p.path.clone(), data)
        }
    };
    // A dynamically linked program brings its loader and libraries (run/dynamic.rs); a
    // `--file` at the same path wins.
    let mut shared = dynamic::shared_objects(&host_name, &exe)?;
    for f in &files {
        shared.extend(dynamic::libraries_of(
            Path::new(&format!("/{}", f.path)),
            &f.data,
        )?);
    }
    let mut packed = BTreeSet::new();
    shared.retain(|s| files.iter().all(|f| f.path != s.path) && packed.insert(s.path.clone()));
    let mut spec = RunSpec::new(&host_name, exe, argv);
    spec.files = shared;
    spec.files.extend(files);
    spec.stdin = stdin;

    let sym_path = ws.kernel_sym(Flavor::Lean);
    let kernel_sym =
        std::fs::read(&sym_path).with_context(|| format!("reading {}", sym_path.display()))?;
    let mut kernel_args = args.kernel_args.clone();
    if interactive {
        let (rows, cols) = tty::window_size();
        kernel_args.push(format!("kentry.tty={rows}x{cols}"));
    }
    let opts = BootOptions {
        machine: args.machine,
        accel: args.accel,
        cpu: args.cpu.clone(),
        cpus: args.cpus.unwrap_or_else(default_cpus),
        memory_mib: args.memory,
        kernel_args,
        gdb: args.gdb,
        timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
        log: args.log,
        serial_input: interactive.then_some(tty::forward as fn(std::process::ChildStdin)),
    };
    if args.gdb {
        eprintln!("xtask: QEMU waits for a debugger on :1234; attach with");
        eprintln!(
            "    gdb {} -ex 'target remote :1234'",
            workspace::shown(&art.kernel, &ws.root)
        );
    }
    let initrd = ws.target().join("run-initrd.cpio");
    // Raw mode from here to the end of the boot: xtask's own messages come after it.
    let raw = if interactive {
        Some(tty::RawMode::enter().context("putting the terminal into raw mode")?)
    } else {
        None
    };
    let log = boot(
        &qemu_bin,
        &art.kernel,
        &kernel_sym,
        &initrd,
        &spec,
        &opts,
        Box::new(Passthrough),
    );
    drop(raw);
    let log = log?;
    let log_path = ws.target().join("run.log");
    build::write_file(&log_path, log_text(&log).as_bytes())?;
    let shown_log = workspace::shown(&log_path, &ws.root);

    for e in log.events.iter().filter(|e| e.starts_with("framing:")) {
        eprintln!("xtask: warning: {e} (the output may be incomplete)");
    }
    let end = end_of(&log);
    match &end {
        RunEnd::Ended(_) => {}
        RunEnd::NotStarted { reason, .. } => eprintln!("xtask: error: {shown}: {reason}"),
        RunEnd::Timeout => eprintln!(
            "xtask: timeout: {shown} did not finish within {} s (--timeout SECS, 0 for none); \
             the kernel log is in {shown_log}",
            timeout
        ),
        RunEnd::KernelFailed(why) => {
            eprintln!("xtask: error: kentry failed: {why}");
            if !args.log {
                let skip = log.lines.len().saturating_sub(LOG_TAIL);
                for l in &log.lines[skip..] {
                    eprintln!("{}{l}", qemu::LOG_PREFIX);
                }
            }
            eprintln!("xtask: the whole kernel log is in {shown_log}");
        }
    }
    Ok(end.status())
}

mod boot;
mod dynamic;
mod initrd;
mod program;
pub mod tty;

pub use boot::*;
pub use dynamic::shared_objects;
pub use initrd::*;
use program::{Source, read_own_stdin, resolve};

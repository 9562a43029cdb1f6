//! `cargo xtask run [-- PROGRAM [ARGS…]]`: boots kentry with PROGRAM, a static x86-64 Linux
//! executable from this host, as PID 1, and behaves like a shell running it: the program's
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
    /// Seconds before the run is stopped with status 124 (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// The QEMU machine.
    #[arg(long, value_enum, default_value_t = Machine::Microvm)]
    pub machine: Machine,
    /// The QEMU CPU model (e.g. `max,-smap`).
    #[arg(long, default_value = "max")]
    pub cpu: String,
    /// Put a host file into the guest's root filesystem, at GUEST_PATH (absolute) or at
    /// /<its file name>. Repeatable.
    #[arg(long = "file", value_name = "HOST_PATH[:GUEST_PATH]")]
    pub files: Vec<OsString>,
    /// Copy the kernel log to stderr, each line prefixed with `kernel| ` (it always goes to
    /// target/run.log), and show the build steps.
    #[arg(long)]
    pub log: bool,
    /// The program (a path on this host, or the name of a kentry user program such as
    /// `hello`) and its arguments, passed exactly as given; default: the demo, /bin/hello.
    #[arg(last = true, value_name = "PROGRAM ARGS")]
    pub program: Vec<OsString>,
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

/// A file of the guest's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFile {
    /// The path without its leading `/` (as the archive names it), e.g. `etc/data`.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    pub data: Vec<u8>,
}

/// Everything one run puts into the guest.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The program, at `bin/<name>`.
    pub exe: GuestFile,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// The `--file` files.
    pub files: Vec<GuestFile>,
    pub stdin: Vec<u8>,
}

impl RunSpec {
    /// A run of `exe` (the program's bytes) with `argv` as given and the default environment;
    /// the program lands at `/bin/<file name of host_name>`.
    pub fn new(host_name: &Path, exe: Vec<u8>, argv: Vec<Vec<u8>>) -> Self {
        RunSpec {
            exe: GuestFile {
                path: guest_program_path(host_name),
                mode: 0o755,
                data: exe,
            },
            argv,
            envp: DEFAULT_ENVP.iter().map(|e| e.as_bytes().to_vec()).collect(),
            files: Vec::new(),
            stdin: Vec::new(),
        }
    }

    /// The `-append` words: run mode, framed output, and the program's path. Its arguments
    /// are in the initrd: the command line cannot carry every byte.
    pub fn cmdline(&self) -> Vec<String> {
        vec![
            "kentry.mode=run".into(),
            "kentry.console=frames".into(),
            format!("kentry.init=/{}", self.exe.path),
        ]
    }

    /// The initrd of this run: the program, the `--file`s, argv, envp, stdin and the kernel's
    /// symbols (`kernel_sym`, for readable fault reports).
    pub fn initrd(&self, kernel_sym: &[u8]) -> Result<Vec<u8>> {
        let generated = [
            (ARGV_FILE, nul_terminated(&self.argv)?),
            (ENVP_FILE, nul_terminated(&self.envp)?),
            (STDIN_FILE, self.stdin.clone()),
            (SYM_FILE, kernel_sym.to_vec()),
        ];
        let mut files: Vec<(&str, u32, &[u8])> = vec![(
            self.exe.path.as_str(),
            self.exe.mode,
            self.exe.data.as_slice(),
        )];
        files.extend(generated.iter().map(|(p, d)| (*p, 0o644, d.as_slice())));
        files.extend(
            self.files
                .iter()
                .map(|f| (f.path.as_str(), f.mode, f.data.as_slice())),
        );
        let names: Vec<&str> = files.iter().map(|f| f.0).collect();
        let dirs = check_layout(&names).map_err(|m| refuse(STATUS_USAGE, m))?;
        let mut w = cpio::Writer::new();
        for d in &dirs {
            w.dir(d)?;
        }
        for (path, mode, data) in files {
            w.file(path, mode, data)?;
        }
        w.finish()
    }
}

/// `/bin/<name>` for a program file named `host_name`, or `/bin/program` when the name is
/// not a plain word for the kernel command line (it is said there as `kentry.init=`).
fn guest_program_path(host_name: &Path) -> String {
    let plain = host_name
        .file_name()
        .and_then(OsStr::to_str)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()));
    format!("bin/{}", plain.unwrap_or("program"))
}

/// Every string followed by a NUL: the form of `etc/kentry-argv` and `etc/kentry-envp`.
pub fn nul_terminated(strings: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (i, s) in strings.iter().enumerate() {
        if s.contains(&0) {
            return Err(refuse(
                STATUS_USAGE,
                format!(
                    "string {i} ({:?}) contains a NUL byte, which a C string cannot hold",
                    String::from_utf8_lossy(s)
                ),
            ));
        }
        out.extend_from_slice(s);
        out.push(0);
    }
    Ok(out)
}

/// Checks that no two files share a path and no file sits where a directory must be; returns
/// the directories to create, parents first.
fn check_layout(files: &[&str]) -> std::result::Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for f in files {
        if !seen.insert(*f) {
            return Err(format!("two files for the guest path /{f}"));
        }
        let mut end = 0;
        while let Some(i) = f[end..].find('/') {
            end += i;
            dirs.insert(f[..end].to_string());
            end += 1;
        }
    }
    if let Some(clash) = dirs.iter().find(|d| seen.contains(d.as_str())) {
        return Err(format!(
            "/{clash} would be both a file and a directory in the guest"
        ));
    }
    // A parent sorts before its children ("a" < "a/b"): the archive lists it first.
    Ok(dirs.into_iter().collect())
}

/// Splits `--file HOST_PATH[:GUEST_PATH]`. A guest path is recognized only when what follows
/// the last `:` is absolute, so host paths with colons still work alone. Returns the host path
/// and the guest path without its leading `/`.
pub fn parse_file_arg(arg: &OsStr) -> Result<(PathBuf, String)> {
    let bytes = arg.as_bytes();
    let split = bytes
        .iter()
        .rposition(|&b| b == b':')
        .filter(|&i| bytes.get(i + 1) == Some(&b'/'));
    let (host, guest) = match split {
        Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
        None => (bytes, None),
    };
    let shown = arg.to_string_lossy();
    if host.is_empty() {
        return Err(refuse(
            STATUS_USAGE,
            format!("--file {shown}: no host path"),
        ));
    }
    let host = PathBuf::from(OsStr::from_bytes(host));
    let guest = match guest {
        Some(g) => std::str::from_utf8(g)
            .map_err(|_| {
                refuse(
                    STATUS_USAGE,
                    format!("--file {shown}: the guest path is not UTF-8"),
                )
            })?
            .to_string(),
        None => {
            let name = host.file_name().ok_or_else(|| {
                refuse(
                    STATUS_USAGE,
                    format!("--file {shown}: the host path names no file; add :/GUEST_PATH"),
                )
            })?;
            let name = name.to_str().ok_or_else(|| {
                refuse(
                    STATUS_USAGE,
                    format!("--file {shown}: the file name is not UTF-8; add :/GUEST_PATH"),
                )
            })?;
            format!("/{name}")
        }
    };
    let rel = guest.trim_start_matches('/');
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(refuse(
            STATUS_USAGE,
            format!("--file {shown}: bad guest path {guest:?} (want e.g. /etc/data.txt)"),
        ));
    }
    Ok((host, rel.to_string()))
}

/// Reads the host file of a `--file`.
fn read_guest_file(arg: &OsStr) -> Result<GuestFile> {
    let (host, path) = parse_file_arg(arg)?;
    let shown = host.display();
    let meta = std::fs::metadata(&host)
        .map_err(|e| refuse(STATUS_USAGE, format!("--file {shown}: {}", io_reason(&e))))?;
    if meta.is_dir() {
        return Err(refuse(
            STATUS_USAGE,
            format!("--file {shown}: is a directory (give each file with its own --file)"),
        ));
    }
    let data = std::fs::read(&host)
        .map_err(|e| refuse(STATUS_USAGE, format!("--file {shown}: {}", io_reason(&e))))?;
    Ok(GuestFile {
        path,
        mode: meta.permissions().mode() & 0o7777,
        data,
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Why an executable cannot run on kentry, judged from its ELF header: the first line of
/// defence (the kernel's loader is the second). `None`: it may run.
pub fn elf_problem(data: &[u8]) -> Option<String> {
    if data.starts_with(b"#!") {
        return Some(
            "a script (#!), not an ELF executable; kentry runs static ELF programs".into(),
        );
    }
    if !data.starts_with(b"\x7fELF") {
        return Some("not an ELF file".into());
    }
    match data.get(4) {
        Some(2) => {}
        Some(1) => {
            return Some(
                "a 32-bit ELF (ELFCLASS32); kentry runs only 64-bit x86-64 programs".into(),
            );
        }
        _ => return Some("not a valid ELF file (bad class byte)".into()),
    }
    if data.len() < 64 {
        return Some("a truncated ELF file (the header is cut short)".into());
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap());
    if data[5] != 1 {
        return Some("a big-endian ELF, not an x86-64 program".into());
    }
    let machine = u16_at(18);
    if machine != 62 {
        return Some(format!(
            "an ELF for another machine (e_machine {machine}), not x86-64"
        ));
    }
    match u16_at(16) {
        // ET_EXEC, or ET_DYN: a static-pie program, or a dynamic one (its PT_INTERP says).
        2 | 3 => {}
        1 => return Some("a relocatable object (ET_REL), not an executable".into()),
        4 => return Some("a core dump (ET_CORE), not an executable".into()),
        t => return Some(format!("not an executable (e_type {t})")),
    }
    let (phoff, phentsize, phnum) = (u64_at(32), usize::from(u16_at(54)), u16_at(56));
    let corrupt = || Some("a corrupt ELF file (its program headers lie outside it)".into());
    if phnum > 0 && phentsize < 56 {
        return corrupt();
    }
    for i in 0..usize::from(phnum) {
        let Some(off) = usize::try_from(phoff)
            .ok()
            .and_then(|o| o.checked_add(i * phentsize))
            .filter(|o| o.checked_add(56).is_some_and(|end| end <= data.len()))
        else {
            return corrupt();
        };
        if u32_at(off) == 3 {
            // PT_INTERP: the dynamic loader this program wants.
            let (p_off, p_size) = (u64_at(off + 8), u64_at(off + 32));
            let interp = usize::try_from(p_off)
                .ok()
                .zip(usize::try_from(p_size).ok())
                .and_then(|(o, n)| data.get(o..o.checked_add(n)?))
                .map(|s| {
                    String::from_utf8_lossy(s)
                        .trim_end_matches('\0')
                        .to_string()
                })
                .unwrap_or_else(|| "?".into());
            return Some(format!(
                "dynamically linked (PT_INTERP {interp}); kentry runs only static programs"
            ));
        }
    }
    None
}

/// Reads a host program, refusing what cannot run (status 126, as a shell).
fn read_program(path: &Path, shown: &str) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| refuse(STATUS_NOT_FOUND, format!("{shown}: {}", io_reason(&e))))?;
    if meta.is_dir() {
        return Err(refuse(
            STATUS_CANNOT_EXECUTE,
            format!("{shown}: is a directory"),
        ));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(refuse(
            STATUS_CANNOT_EXECUTE,
            format!("{shown}: permission denied (not executable; chmod +x it)"),
        ));
    }
    let data = std::fs::read(path)
        .map_err(|e| refuse(STATUS_CANNOT_EXECUTE, format!("{shown}: {}", io_reason(&e))))?;
    if let Some(why) = elf_problem(&data) {
        return Err(refuse(STATUS_CANNOT_EXECUTE, format!("{shown}: {why}")));
    }
    Ok(data)
}

/// Where the program comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// A file on this host, already read and checked.
    Host(PathBuf, Vec<u8>),
    /// A kentry user program, by name (built before the boot).
    User(String),
}

/// Resolves PROGRAM: a host path, or else the name of a kentry user program (as a shell finds
/// a name without `/` on PATH).
fn resolve(program: &OsStr, user_names: impl FnOnce() -> Result<Vec<String>>) -> Result<Source> {
    let shown = program.to_string_lossy();
    if program.is_empty() {
        return Err(refuse(STATUS_NOT_FOUND, "the program name is empty"));
    }
    let path = Path::new(program);
    let has_slash = program.as_bytes().contains(&b'/');
    if has_slash || path.symlink_metadata().is_ok() {
        return Ok(Source::Host(
            path.to_path_buf(),
            read_program(path, &shown)?,
        ));
    }
    let names = user_names()?;
    if names.iter().any(|n| *n == shown) {
        return Ok(Source::User(shown.into_owned()));
    }
    Err(refuse(
        STATUS_NOT_FOUND,
        format!(
            "{shown}: no such file, nor a kentry user program ({})",
            names.join(", ")
        ),
    ))
}

/// Reads this process's stdin to its end, for the program; a terminal gives nothing (the run
/// is not interactive: all of stdin must be known before the boot).
fn read_own_stdin() -> Result<Vec<u8>> {
    let mut stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        return Ok(Vec::new());
    }
    let mut data = Vec::new();
    stdin.read_to_end(&mut data).context("reading stdin")?;
    Ok(data)
}

/// QEMU settings of a run.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub machine: Machine,
    pub accel: Accel,
    pub cpu: String,
    pub gdb: bool,
    pub timeout: Option<Duration>,
    /// Copy the kernel log to stderr.
    pub log: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The program ran and ended.
    Ended(ProgramEnd),
    /// The kernel could not start it.
    NotStarted {
        status: u8,
        reason: String,
    },
    Timeout,
    /// The kernel or QEMU failed (the reason).
    KernelFailed(String),
}

impl RunEnd {
    /// xtask's exit status: the program's as a shell shows it, 126/127 when it could not
    /// start, 124 on timeout, 125 when the kernel failed.
    pub fn status(&self) -> u8 {
        match self {
            RunEnd::Ended(e) => e.shell_status(),
            RunEnd::NotStarted { status, .. } => *status,
            RunEnd::Timeout => STATUS_TIMEOUT,
            RunEnd::KernelFailed(_) => STATUS_KERNEL_FAILED,
        }
    }
}

/// Reads how a run ended from its boot: the first control frame, if the kernel then powered
/// off in order. A kernel that fails after the program ended still fails the run: the
/// kernel is what is under test.
pub fn end_of(log: &BootLog) -> RunEnd {
    let exit = log.kernel_exit();
    if exit == KernelExit::Timeout {
        return RunEnd::Timeout;
    }
    let control = log.controls.first();
    match (control, exit.finished()) {
        (Some(Control::Exit(e)), true) => RunEnd::Ended(*e),
        (Some(Control::Error { status, reason }), true) => RunEnd::NotStarted {
            status: *status,
            reason: reason.clone(),
        },
        (Some(Control::Exit(e)), false) => RunEnd::KernelFailed(format!(
            "the program ended with status {}, then the kernel failed: {}",
            e.shell_status(),
            log.describe()
        )),
        (Some(Control::Error { reason, .. }), false) => RunEnd::KernelFailed(format!(
            "the program could not start ({reason}), then the kernel failed: {}",
            log.describe()
        )),
        (None, true) => RunEnd::KernelFailed(format!(
            "the kernel finished without reporting how the program ended: {}",
            log.describe()
        )),
        (None, false) => match exit {
            KernelExit::QemuError(msg) => RunEnd::KernelFailed(format!("QEMU: {msg}")),
            _ => RunEnd::KernelFailed(log.describe()),
        },
    }
}

/// Packs `spec` into `initrd` and boots `kernel` with it; the program's output goes to `sink`.
/// `cargo xtask run` and the runner check of `cargo xtask test` both come through here.
pub fn boot(
    qemu_bin: &Path,
    kernel: &Path,
    kernel_sym: &[u8],
    initrd: &Path,
    spec: &RunSpec,
    opts: &BootOptions,
    sink: Box<dyn OutputSink>,
) -> Result<BootLog> {
    build::write_file(initrd, &spec.initrd(kernel_sym)?)?;
    let mut boot = Boot::new(kernel, initrd, &[]);
    boot.cmdline = spec.cmdline();
    boot.machine = opts.machine;
    boot.accel = opts.accel;
    boot.cpu = opts.cpu.clone();
    boot.gdb = opts.gdb;
    boot.echo = opts.log;
    boot.timeout = if opts.gdb { None } else { opts.timeout };
    if opts.log {
        eprintln!("xtask: booting: {}", boot.cmdline_text());
    }
    qemu::run_framed(qemu_bin, &boot, sink)
}

/// The text of `target/run.log`: the kernel log, then what xtask noticed and QEMU's stderr.
pub fn log_text(log: &BootLog) -> String {
    let mut s = log.text();
    s.push_str(&format!("---- xtask: {}\n", log.describe()));
    for e in &log.events {
        s.push_str(&format!("---- xtask: {e}\n"));
    }
    if !log.stderr.trim().is_empty() {
        s.push_str("---- QEMU stderr ----\n");
        s.push_str(&log.stderr);
        if !log.stderr.ends_with('\n') {
            s.push('\n');
        }
    }
    s
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
    let files = args
        .files
        .iter()
        .map(|f| read_guest_file(f))
        .collect::<Result<Vec<_>>>()?;
    let stdin = read_own_stdin()?;

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
    let mut spec = RunSpec::new(&host_name, exe, argv);
    spec.files = files;
    spec.stdin = stdin;

    let sym_path = ws.kernel_sym(Flavor::Lean);
    let kernel_sym =
        std::fs::read(&sym_path).with_context(|| format!("reading {}", sym_path.display()))?;
    let opts = BootOptions {
        machine: args.machine,
        accel: args.accel,
        cpu: args.cpu.clone(),
        gdb: args.gdb,
        timeout: (args.timeout > 0).then(|| Duration::from_secs(args.timeout)),
        log: args.log,
    };
    if args.gdb {
        eprintln!("xtask: QEMU waits for a debugger on :1234; attach with");
        eprintln!(
            "    gdb {} -ex 'target remote :1234'",
            workspace::shown(&art.kernel, &ws.root)
        );
    }
    let initrd = ws.target().join("run-initrd.cpio");
    let log = boot(
        &qemu_bin,
        &art.kernel,
        &kernel_sym,
        &initrd,
        &spec,
        &opts,
        Box::new(Passthrough),
    )?;
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
            args.timeout
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::Exit;

    /// An ELF64 x86-64 header with `phnum` program headers right after it.
    fn elf64(e_type: u16, phdrs: &[(u32, u64, u64)]) -> Vec<u8> {
        let mut d = vec![0u8; 64];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[6] = 1;
        d[16..18].copy_from_slice(&e_type.to_le_bytes());
        d[18..20].copy_from_slice(&62u16.to_le_bytes());
        d[32..40].copy_from_slice(&64u64.to_le_bytes());
        d[54..56].copy_from_slice(&56u16.to_le_bytes());
        d[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for &(p_type, off, size) in phdrs {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&p_type.to_le_bytes());
            ph[8..16].copy_from_slice(&off.to_le_bytes());
            ph[32..40].copy_from_slice(&size.to_le_bytes());
            d.extend(ph);
        }
        d
    }

    #[test]
    fn elf_checks() {
        assert_eq!(elf_problem(&elf64(2, &[(1, 0, 0)])), None);
        // ET_DYN without PT_INTERP: static-pie; the kernel decides.
        assert_eq!(elf_problem(&elf64(3, &[(1, 0, 0)])), None);
        let mut dynamic = elf64(3, &[(1, 0, 0), (3, 0, 0)]);
        let at = dynamic.len() as u64;
        dynamic.extend_from_slice(b"/lib64/ld-linux-x86-64.so.2\0");
        dynamic[64 + 56 + 8..64 + 56 + 16].copy_from_slice(&at.to_le_bytes());
        dynamic[64 + 56 + 32..64 + 56 + 40].copy_from_slice(&28u64.to_le_bytes());
        let why = elf_problem(&dynamic).unwrap();
        assert!(
            why.contains("dynamically linked (PT_INTERP /lib64/ld-linux-x86-64.so.2)"),
            "{why}"
        );
        assert!(elf_problem(b"hello").unwrap().contains("not an ELF"));
        assert!(elf_problem(b"").unwrap().contains("not an ELF"));
        assert!(elf_problem(b"#!/bin/sh\n").unwrap().contains("script"));
        let mut elf32 = elf64(2, &[]);
        elf32[4] = 1;
        assert!(elf_problem(&elf32).unwrap().contains("32-bit"));
        let mut arm = elf64(2, &[]);
        arm[18] = 183;
        assert!(elf_problem(&arm).unwrap().contains("e_machine 183"));
        assert!(elf_problem(&elf64(1, &[])).unwrap().contains("ET_REL"));
        assert!(
            elf_problem(&elf64(2, &[])[..40])
                .unwrap()
                .contains("truncated")
        );
        let mut cut = elf64(2, &[(1, 0, 0)]);
        cut.truncate(100);
        assert!(elf_problem(&cut).unwrap().contains("corrupt"));
    }

    #[test]
    fn argv_file() {
        let argv: Vec<Vec<u8>> = vec![
            b"prog".to_vec(),
            b"a b".to_vec(),
            b"".to_vec(),
            b"new\nline\xff".to_vec(),
        ];
        let bytes = nul_terminated(&argv).unwrap();
        assert_eq!(bytes, b"prog\0a b\0\0new\nline\xff\0");
        // The kernel's reading: strip the last NUL, split at the others.
        let back: Vec<&[u8]> = bytes
            .strip_suffix(&[0])
            .unwrap()
            .split(|&b| b == 0)
            .collect();
        assert_eq!(back, argv.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!(nul_terminated(&[]).unwrap().is_empty());
        let err = nul_terminated(&[b"a\0b".to_vec()]).unwrap_err();
        assert_eq!(err.downcast_ref::<Refused>().unwrap().status, STATUS_USAGE);
    }

    #[test]
    fn initrd_layout() {
        let mut spec = RunSpec::new(
            Path::new("some/dir/my prog"),
            b"\x7fELF".to_vec(),
            vec![b"./x".to_vec(), b"arg one".to_vec()],
        );
        spec.stdin = b"input\n".to_vec();
        spec.files.push(GuestFile {
            path: "data/in/file.txt".into(),
            mode: 0o600,
            data: b"data".to_vec(),
        });
        assert_eq!(spec.exe.path, "bin/program");
        assert_eq!(
            spec.cmdline(),
            vec![
                "kentry.mode=run",
                "kentry.console=frames",
                "kentry.init=/bin/program"
            ]
        );
        let entries = cpio::tests::read_archive(&spec.initrd(b"syms").unwrap());
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "bin",
                "boot",
                "data",
                "data/in",
                "dev",
                "etc",
                "bin/program",
                "etc/kentry-argv",
                "etc/kentry-envp",
                "dev/.stdin",
                "boot/kernel.sym",
                "data/in/file.txt",
            ]
        );
        let data = |n: &str| &entries.iter().find(|e| e.name == n).unwrap().data;
        assert_eq!(data("etc/kentry-argv"), b"./x\0arg one\0");
        assert_eq!(
            data("etc/kentry-envp"),
            b"PATH=/bin:/usr/bin\0HOME=/\0TERM=linux\0"
        );
        assert_eq!(data("dev/.stdin"), b"input\n");
        let file = entries
            .iter()
            .find(|e| e.name == "data/in/file.txt")
            .unwrap();
        assert_eq!(file.mode, 0o100600);
        assert_eq!(
            RunSpec::new(Path::new("/x/hello"), vec![], vec![]).exe.path,
            "bin/hello"
        );

        // A --file over a generated file, or where a directory must be, is refused.
        for bad in ["etc/kentry-argv", "bin", "bin/program"] {
            let mut s = spec.clone();
            s.files.push(GuestFile {
                path: bad.into(),
                mode: 0o644,
                data: vec![],
            });
            let err = s.initrd(b"").unwrap_err();
            assert_eq!(err.downcast_ref::<Refused>().unwrap().status, STATUS_USAGE);
        }
    }

    #[test]
    fn file_args() {
        let p = |s: &str| parse_file_arg(OsStr::new(s));
        assert_eq!(
            p("a/b.txt").unwrap(),
            (PathBuf::from("a/b.txt"), "b.txt".into())
        );
        assert_eq!(
            p("a/b.txt:/etc/x").unwrap(),
            (PathBuf::from("a/b.txt"), "etc/x".into())
        );
        // A colon not followed by an absolute path belongs to the host path.
        assert_eq!(p("c:d").unwrap(), (PathBuf::from("c:d"), "c:d".into()));
        assert_eq!(p("c:d:/x/y").unwrap(), (PathBuf::from("c:d"), "x/y".into()));
        for bad in [":/x", "a:/", "a:/x/../y", "a:/x//y", "/"] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn resolves_programs() {
        let names = || Ok(vec!["hello".to_string(), "fault".to_string()]);
        assert_eq!(
            resolve(OsStr::new("hello"), names).unwrap(),
            Source::User("hello".into())
        );
        let status = |r: Result<Source>| r.unwrap_err().downcast_ref::<Refused>().unwrap().status;
        assert_eq!(status(resolve(OsStr::new("nope"), names)), STATUS_NOT_FOUND);
        assert_eq!(
            status(resolve(OsStr::new("./no/such/file"), names)),
            STATUS_NOT_FOUND
        );
        assert_eq!(status(resolve(OsStr::new(""), names)), STATUS_NOT_FOUND);
        assert_eq!(
            status(resolve(OsStr::new("/"), names)),
            STATUS_CANNOT_EXECUTE
        );
        // Cargo.toml: a file, not executable.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(
            status(resolve(manifest.as_os_str(), names)),
            STATUS_CANNOT_EXECUTE
        );
    }

    fn log_with(exit: Exit, power_off: Option<u32>, controls: Vec<Control>) -> BootLog {
        BootLog {
            exit,
            lines: power_off
                .map(|v| format!("{}{v}", qemu::POWER_OFF_PREFIX))
                .into_iter()
                .collect(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
            events: Vec::new(),
            controls,
        }
    }

    #[test]
    fn exit_status_mapping() {
        let exited = |c| Control::Exit(ProgramEnd::Exited(c));
        let end = |exit, v, c| end_of(&log_with(exit, v, c));
        assert_eq!(end(Exit::Code(1), Some(0), vec![exited(0)]).status(), 0);
        assert_eq!(end(Exit::Code(3), Some(1), vec![exited(3)]).status(), 3);
        assert_eq!(end(Exit::Code(3), Some(1), vec![exited(256)]).status(), 0);
        let sigill = Control::Exit(ProgramEnd::Signaled(4));
        assert_eq!(
            end(Exit::Code(3), Some(1), vec![sigill.clone()]).status(),
            132
        );
        let refused = Control::Error {
            status: 126,
            reason: "not an ELF file".into(),
        };
        assert_eq!(
            end(Exit::Code(3), Some(1), vec![refused]),
            RunEnd::NotStarted {
                status: 126,
                reason: "not an ELF file".into()
            }
        );
        assert_eq!(end(Exit::Timeout, None, vec![]).status(), STATUS_TIMEOUT);
        assert_eq!(end(Exit::Timeout, None, vec![exited(0)]), RunEnd::Timeout);
        // A panic, even after the program ended, fails the run.
        assert_eq!(end(Exit::Code(5), None, vec![sigill]).status(), 125);
        assert_eq!(end(Exit::Code(0), None, vec![]).status(), 125);
        // Finished but silent about the program: a protocol failure.
        assert!(matches!(
            end(Exit::Code(1), Some(0), vec![]),
            RunEnd::KernelFailed(_)
        ));
    }

    #[test]
    fn guest_names() {
        assert_eq!(
            guest_program_path(Path::new("a/b/prog-1.2")),
            "bin/prog-1.2"
        );
        assert_eq!(guest_program_path(Path::new("with space")), "bin/program");
        assert_eq!(guest_program_path(Path::new("é")), "bin/program");
        assert_eq!(guest_program_path(Path::new("/")), "bin/program");
    }
}

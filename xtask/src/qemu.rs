//! Booting the kernel under QEMU as harness.md describes: the command line, a live reader of
//! the serial port (which also answers host requests over QMP), the timeout, and what the exit
//! status means.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::ValueEnum;

use crate::frames::{Control, Demux, OutputSink, Piece};
use crate::qmp::{self, HostRequest, Qmp};

/// The QEMU machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Machine {
    Microvm,
    Pc,
}

impl Machine {
    pub fn name(self) -> &'static str {
        match self {
            Machine::Microvm => "microvm",
            Machine::Pc => "pc",
        }
    }
}

/// The QEMU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

/// The warning printed when someone asks for KVM on these machines.
pub const KVM_WARNING: &str = "xtask: warning: /dev/kvm on these machines is kvm_pvm, a software \
virtualizer on which SYSCALL arrives in ring 3 and `int $0x80` raises #UD; expect the kernel to \
misbehave (use --accel tcg)";

/// The line the kernel prints last.
pub const POWER_OFF_PREFIX: &str = "[kentry] power off: v=";

/// One boot of the kernel.
#[derive(Debug, Clone)]
pub struct Boot {
    pub kernel: PathBuf,
    /// The initrd; an empty path: none (`-initrd` is left out).
    pub initrd: PathBuf,
    /// The `-append` words.
    pub cmdline: Vec<String>,
    pub machine: Machine,
    pub accel: Accel,
    pub cpu: String,
    /// `-smp`: how many CPUs the machine has.
    pub cpus: u32,
    /// `-m`: the guest's RAM in MiB.
    pub memory_mib: u32,
    /// More QEMU arguments (e.g. `-icount shift=0,sleep=off,align=off`).
    pub extra_args: Vec<String>,
    /// TCG with every vCPU on one host thread (`-accel tcg,thread=single`).
    pub tcg_single_thread: bool,
    /// Start the gdbstub and wait for a debugger (`-s -S`).
    pub gdb: bool,
    /// `None`: wait for ever.
    pub timeout: Option<Duration>,
    /// Copy the serial output to stdout as it arrives. In a framed boot ([`run_framed`]):
    /// copy the kernel log lines to stderr, each prefixed with [`LOG_PREFIX`].
    pub echo: bool,
    /// Input for the guest's COM1: QEMU's stdin becomes a pipe, whose write end this is
    /// given once QEMU runs (an interactive run, run/tty.rs). `None`: QEMU's stdin is
    /// /dev/null and the guest receives nothing.
    pub serial_input: Option<fn(std::process::ChildStdin)>,
}

/// The guest RAM of a boot unless it says otherwise, in MiB.
pub const DEFAULT_MEMORY_MIB: u32 = 256;

/// The prefix of kernel log lines copied to stderr during a framed boot.
pub const LOG_PREFIX: &str = "kernel| ";

impl Boot {
    pub fn new(kernel: &Path, initrd: &Path, cmdline: &[&str]) -> Self {
        Self {
            kernel: kernel.to_path_buf(),
            initrd: initrd.to_path_buf(),
            cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
            machine: Machine::Microvm,
            accel: Accel::Tcg,
            cpu: "max".into(),
            cpus: 1,
            memory_mib: DEFAULT_MEMORY_MIB,
            extra_args: Vec::new(),
            tcg_single_thread: false,
            gdb: false,
            timeout: Some(Duration::from_secs(60)),
            echo: false,
            serial_input: None,
        }
    }

    /// Asks a kentry kernel for its hang report (kernel/src/hang_report.rs: every task, and
    /// where each sleeping one waits) a little before the timeout: at 90 % of it, and at least
    /// 2 s before it. Nothing for a boot without a timeout or with one under 5 s, or whose
    /// command line already asks for one. Call it once the timeout is set; a Linux boot must
    /// not get it.
    pub fn request_hang_report(&mut self) {
        const WORD: &str = "kentry.hang_report=";
        let Some(secs) = self.timeout.map(|t| t.as_secs()).filter(|&s| s >= 5) else {
            return;
        };
        if self.cmdline.iter().any(|w| w.starts_with(WORD)) {
            return;
        }
        let at = (secs * 9 / 10).min(secs - 2);
        self.cmdline.push(format!("{WORD}{at}"));
    }

    pub fn cmdline_text(&self) -> String {
        self.cmdline.join(" ")
    }

    /// The QEMU arguments.
    pub fn args(&self, qmp_socket: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        push("-M");
        push(self.machine.name());
        push("-accel");
        if self.tcg_single_thread && self.accel == Accel::Tcg {
            push("tcg,thread=single");
        } else {
            push(self.accel.name());
        }
        push("-cpu");
        push(&self.cpu);
        push("-m");
        push(&format!("{}M", self.memory_mib));
        push("-smp");
        push(&self.cpus.to_string());
        for s in [
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-serial",
            "stdio",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=4",
            "-qmp",
        ] {
            push(s);
        }
        // Commas separate options in a chardev description; a literal one is doubled.
        let mut qmp_arg = OsString::from("unix:");
        qmp_arg.push(qmp_socket.to_string_lossy().replace(',', ",,"));
        qmp_arg.push(",server=on,wait=off");
        a.push(qmp_arg);
        a.push("-kernel".into());
        a.push(self.kernel.clone().into());
        // An empty path: a kernel that takes no initrd (the example kernel).
        if !self.initrd.as_os_str().is_empty() {
            a.push("-initrd".into());
            a.push(self.initrd.clone().into());
        }
        a.push("-append".into());
        a.push(self.cmdline_text().into());
        a.extend(self.extra_args.iter().map(OsString::from));
        if self.gdb {
            a.push("-s".into());
            a.push("-S".into());
        }
        a
    }
}

/// How QEMU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    Timeout,
}

/// What the exit status says about the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelExit {
    /// v = 0: finished; the KTAP has the verdicts.
    Finished,
    /// v = 1: finished, and something failed.
    FinishedFailed,
    /// v = 2.
    Panic,
    /// v = 3.
    DoubleFault,
    /// A value the harness does not define.
    OtherValue(u32),
    /// QEMU could not run the kernel (it exited with 1 without the kernel's power-off line and
    /// with an error on stderr).
    QemuError(String),
    /// Anything else: status 0 (triple fault under -no-reboot), a signal.
    Crash(String),
    Timeout,
}

impl KernelExit {
    /// Whether the kernel got to its orderly end (v = 0 or 1).
    pub fn finished(&self) -> bool {
        matches!(self, KernelExit::Finished | KernelExit::FinishedFailed)
    }
}

/// The record of one boot.
#[derive(Debug, Clone)]
pub struct BootLog {
    pub exit: Exit,
    /// The serial output, line by line (without line ends).
    pub lines: Vec<String>,
    /// QEMU's own stderr.
    pub stderr: String,
    pub elapsed: Duration,
    /// What xtask did for host requests, and what went wrong.
    pub events: Vec<String>,
    /// The control frames of a framed boot, in order.
    pub controls: Vec<Control>,
}

impl BootLog {
    pub fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }

    /// The QEMU exit code, if it exited.
    pub fn status(&self) -> Option<i32> {
        match self.exit {
            Exit::Code(c) => Some(c),
            _ => None,
        }
    }

    /// The value of the last `[kentry] power off: v=<v>` line.
    pub fn power_off_value(&self) -> Option<u32> {
        self.lines.iter().rev().find_map(|l| {
            let v = l.trim().strip_prefix(POWER_OFF_PREFIX)?;
            let v = v.split_whitespace().next()?;
            match v.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => v.parse().ok(),
            }
        })
    }

    pub fn kernel_exit(&self) -> KernelExit {
        classify(self.exit, self.power_off_value(), &self.stderr)
    }

    /// A one-line description of the exit.
    pub fn describe(&self) -> String {
        let how = match self.exit {
            Exit::Code(c) => format!("QEMU status {c}"),
            Exit::Signal(s) => format!("QEMU killed by signal {s}"),
            Exit::Timeout => "TIMEOUT".to_string(),
        };
        let what = match self.kernel_exit() {
            KernelExit::Finished => "v=0, finished".to_string(),
            KernelExit::FinishedFailed => "v=1, finished with failures".to_string(),
            KernelExit::Panic => "v=2, kernel panic".to_string(),
            KernelExit::DoubleFault => "v=3, double fault".to_string(),
            KernelExit::OtherValue(v) => format!("v={v}, not a value the harness defines"),
            KernelExit::QemuError(_) => "QEMU failed to run the kernel".to_string(),
            KernelExit::Crash(why) => format!("crash: {why}"),
            KernelExit::Timeout => format!("no power-off within {} s", self.elapsed.as_secs()),
        };
        format!("{how} ({what}) after {:.2} s", self.elapsed.as_secs_f64())
    }

    /// Prints the whole serial log (and QEMU's stderr) under a heading, to stdout.
    pub fn print_full(&self, heading: &str) {
        println!("---- {heading}: serial log ({}) ----", self.describe());
        for l in &self.lines {
            println!("{l}");
        }
        if !self.stderr.trim().is_empty() {
            println!("---- {heading}: QEMU stderr ----");
            print!("{}", self.stderr);
            if !self.stderr.ends_with('\n') {
                println!();
            }
        }
        for e in &self.events {
            println!("---- {heading}: {e}");
        }
        println!("---- end of {heading} ----");
    }
}

/// Interprets QEMU's exit (harness.md: QEMU exits with `(v << 1) | 1`).
pub fn classify(exit: Exit, power_off: Option<u32>, stderr: &str) -> KernelExit {
    match exit {
        Exit::Timeout => KernelExit::Timeout,
        Exit::Signal(s) => KernelExit::Crash(format!("QEMU killed by signal {s}")),
        Exit::Code(1) if power_off.is_none() && !stderr.trim().is_empty() => {
            KernelExit::QemuError(stderr.trim().to_string())
        }
        Exit::Code(c) if c > 0 && c & 1 == 1 => match c >> 1 {
            0 => KernelExit::Finished,
            1 => KernelExit::FinishedFailed,
            2 => KernelExit::Panic,
            3 => KernelExit::DoubleFault,
            v => KernelExit::OtherValue(v as u32),
        },
        Exit::Code(0) => KernelExit::Crash(
            "QEMU status 0: the guest reset (a triple fault under -no-reboot) or shut down".into(),
        ),
        Exit::Code(c) => KernelExit::Crash(format!("QEMU status {c}")),
    }
}

enum Event {
    Line(String),
    Control(Control),
    /// A framing problem, for the boot's events.
    FrameError(String),
    Eof,
}

/// How the serial stream is read.
enum Reader {
    /// Plain text lines, optionally echoed raw to stdout.
    Lines { echo: bool },
    /// Run-mode frames around the kernel log (frames.rs): program output to the sink, log lines
    /// optionally echoed to stderr.
    Framed {
        echo_log: bool,
        /// Echoed lines end in CR LF: stderr is a terminal in raw mode (an interactive run).
        raw_terminal: bool,
        sink: Box<dyn OutputSink>,
    },
}

static SOCKET_SEQ: AtomicU32 = AtomicU32::new(0);

/// Boots QEMU, reads the serial port live until QEMU exits or the timeout passes.
pub fn run(qemu: &Path, boot: &Boot) -> Result<BootLog> {
    run_reader(qemu, boot, Reader::Lines { echo: boot.echo })
}

/// Boots a run-mode kernel that frames program output (`kentry.console=frames`): the program's
/// output goes to `sink` as it arrives, the kernel log becomes the boot's lines, and the control
/// frames its `controls`.
pub fn run_framed(qemu: &Path, boot: &Boot, sink: Box<dyn OutputSink>) -> Result<BootLog> {
    run_reader(
        qemu,
        boot,
        Reader::Framed {
            echo_log: boot.echo,
            raw_terminal: boot.serial_input.is_some(),
            sink,
        },
    )
}

fn run_reader(qemu: &Path, boot: &Boot, reader: Reader) -> Result<BootLog> {
    let socket = std::env::temp_dir().join(format!(
        "kentry-xtask-{}-{}.qmp",
        std::process::id(),
        SOCKET_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&socket);
    let result = run_with_socket(qemu, boot, &socket, reader);
    let _ = std::fs::remove_file(&socket);
    result
}

fn run_with_socket(qemu: &Path, boot: &Boot, socket: &Path, reader: Reader) -> Result<BootLog> {
    let mut cmd = Command::new(qemu);
    cmd.args(boot.args(socket))
        .stdin(if boot.serial_input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which is
    // async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            // QEMU must not outlive xtask (e.g. when xtask itself is killed by a timeout).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", qemu.display()))?;

    if let (Some(forward), Some(input)) = (boot.serial_input, child.stdin.take()) {
        forward(input);
    }
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().context("QEMU stdout not captured")?;
    let stderr = child.stderr.take().context("QEMU stderr not captured")?;
    // QEMU's own stderr is echoed only in a plain boot: in a framed one, stderr belongs to the
    // program (QEMU's messages stay in the BootLog for the caller to show).
    let echo_stderr = matches!(reader, Reader::Lines { echo: true });
    let out_thread = std::thread::spawn(move || match reader {
        Reader::Lines { echo } => read_serial(stdout, echo, &tx),
        Reader::Framed {
            echo_log,
            raw_terminal,
            sink,
        } => read_framed(stdout, echo_log.then_some(raw_terminal), sink, &tx),
    });
    let err_thread = std::thread::spawn(move || read_stderr(stderr, echo_stderr));

    let deadline = boot.timeout.map(|t| start + t);
    let mut lines = Vec::new();
    let mut events = Vec::new();
    let mut controls = Vec::new();
    let mut qmp: Option<Qmp> = None;
    let mut timed_out = false;
    loop {
        let ev = match deadline {
            Some(d) => match rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                Ok(ev) => ev,
                Err(RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(ev) => ev,
                Err(_) => break,
            },
        };
        match ev {
            Event::Eof => break,
            Event::Line(line) => {
                if let Some(req) = qmp::parse_request(&line) {
                    events.push(host_request(&mut qmp, socket, &req));
                }
                lines.push(line);
            }
            Event::Control(c) => controls.push(c),
            Event::FrameError(e) => events.push(format!("framing: {e}")),
        }
    }
    drop(qmp);

    let exit = if timed_out {
        kill(&mut child);
        Exit::Timeout
    } else {
        wait_until(&mut child, deadline)?
    };
    let elapsed = start.elapsed();
    // The reader ends when QEMU's end closes the pipe; collect what it read meanwhile.
    let _ = out_thread.join();
    while let Ok(ev) = rx.try_recv() {
        match ev {
            Event::Line(line) => lines.push(line),
            Event::Control(c) => controls.push(c),
            Event::FrameError(e) => events.push(format!("framing: {e}")),
            Event::Eof => {}
        }
    }
    let stderr = err_thread.join().unwrap_or_default();
    Ok(BootLog {
        exit,
        lines,
        stderr,
        elapsed,
        events,
        controls,
    })
}

/// Carries out a host request; returns the line that records it.
fn host_request(qmp: &mut Option<Qmp>, socket: &Path, req: &HostRequest) -> String {
    let result = (|| -> Result<String> {
        let conn = match qmp {
            Some(q) => q,
            None => qmp.insert(Qmp::connect(socket, Duration::from_secs(2))?),
        };
        conn.perform(req)
    })();
    let msg = match result {
        Ok(done) => format!("host request `{req}`: sent {done}"),
        Err(e) => format!("host request `{req}` FAILED: {e:#}"),
    };
    eprintln!("xtask: {msg}");
    msg
}

fn wait_until(child: &mut Child, deadline: Option<Instant>) -> Result<Exit> {
    loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            use std::os::unix::process::ExitStatusExt;
            return Ok(match (status.code(), status.signal()) {
                (Some(c), _) => Exit::Code(c),
                (None, Some(s)) => Exit::Signal(s),
                (None, None) => Exit::Code(-1),
            });
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            kill(child);
            return Ok(Exit::Timeout);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Splits the serial stream into lines (sent to `tx`), echoing raw bytes if asked.
fn read_serial(mut from: impl Read, echo: bool, tx: &mpsc::Sender<Event>) {
    let mut buf = [0u8; 4096];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if echo {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            let _ = tx.send(Event::Line(to_line(&line)));
        }
    }
    if !pending.is_empty() {
        let _ = tx.send(Event::Line(to_line(&pending)));
    }
    let _ = tx.send(Event::Eof);
}

/// Demultiplexes a framed serial stream: log lines to `tx` (and to stderr, prefixed, if
/// `echo_log` is given: `Some(true)` ends them in CR LF for a raw terminal), program output
/// to `sink`, control frames to `tx`.
fn read_framed(
    mut from: impl Read,
    echo_log: Option<bool>,
    mut sink: Box<dyn OutputSink>,
    tx: &mpsc::Sender<Event>,
) {
    let mut demux = Demux::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    let send_line = |line: &[u8]| {
        let line = to_line(line);
        match echo_log {
            Some(true) => eprint!("{LOG_PREFIX}{line}\r\n"),
            Some(false) => eprintln!("{LOG_PREFIX}{line}"),
            None => {}
        }
        let _ = tx.send(Event::Line(line));
    };
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        demux.feed(&buf[..n], &mut |piece| match piece {
            Piece::Log(bytes) => {
                pending.extend_from_slice(bytes);
                while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    send_line(&line);
                }
            }
            Piece::Output { fd, bytes } => sink.output(fd, bytes),
            Piece::Control(c) => {
                let _ = tx.send(Event::Control(c));
            }
            Piece::Bad(why) => {
                let _ = tx.send(Event::FrameError(why));
            }
        });
    }
    if !pending.is_empty() {
        send_line(&pending);
    }
    if let Some(why) = demux.finish() {
        let _ = tx.send(Event::FrameError(why));
    }
    let _ = tx.send(Event::Eof);
}

fn to_line(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.trim_end_matches(['\n', '\r']).to_string()
}

fn read_stderr(mut from: impl Read, echo: bool) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if echo {
                    let _ = std::io::stderr().write_all(&buf[..n]);
                }
                all.extend_from_slice(&buf[..n]);
            }
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[cfg(test)]
mod tests;

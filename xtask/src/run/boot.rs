//! One boot of the lean kernel with the run initrd, and how the run ended (the program's
//! status, a refusal, a timeout or a kernel failure).

use super::*;

/// QEMU settings of a run.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub machine: Machine,
    pub accel: Accel,
    pub cpu: String,
    /// `-smp`.
    pub cpus: u32,
    /// `-m` in MiB; `None`: enough for the initrd ([`memory_for`]).
    pub memory_mib: Option<u32>,
    /// Words added to the kernel command line.
    pub kernel_args: Vec<String>,
    pub gdb: bool,
    pub timeout: Option<Duration>,
    /// Copy the kernel log to stderr.
    pub log: bool,
    /// What feeds the guest's serial input (an interactive run; [`qemu::Boot::serial_input`]).
    pub serial_input: Option<fn(std::process::ChildStdin)>,
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
    let archive = spec.initrd(kernel_sym)?;
    let mut boot = Boot::new(kernel, initrd, &[]);
    boot.memory_mib = opts
        .memory_mib
        .unwrap_or_else(|| memory_for(archive.len() as u64));
    build::write_file(initrd, &archive)?;
    boot.cmdline = spec.cmdline();
    boot.cmdline.extend(opts.kernel_args.iter().cloned());
    boot.cpus = opts.cpus;
    boot.machine = opts.machine;
    boot.accel = opts.accel;
    boot.cpu = opts.cpu.clone();
    boot.gdb = opts.gdb;
    boot.echo = opts.log;
    boot.serial_input = opts.serial_input;
    boot.timeout = if opts.gdb { None } else { opts.timeout };
    boot.request_hang_report();
    if opts.log {
        eprintln!("xtask: booting: {}", boot.cmdline_text());
    }
    qemu::run_framed(qemu_bin, &boot, sink)
}

/// The guest RAM a run gets without `--memory`, in MiB: 128 for the kernel and the program,
/// plus three times the initrd (QEMU's copy, the kernel's in-memory files made from it, and
/// the program's copies of what it maps), rounded up to 64 MiB; at least the default 256.
pub fn memory_for(initrd_bytes: u64) -> u32 {
    let mib = (128 + (3 * initrd_bytes).div_ceil(1 << 20)).div_ceil(64) * 64;
    u32::try_from(mib.max(u64::from(qemu::DEFAULT_MEMORY_MIB))).unwrap_or(u32::MAX)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::Exit;

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
        // The RAM follows the initrd: 256 MiB for a small one, three initrds more for a big one.
        assert_eq!(memory_for(1 << 20), 256);
        assert_eq!(memory_for(100 << 20), 448);
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
}

//! `cargo xtask fuzz`: the entry fuzzer (user/src/bin/entry_fuzz.rs, docs/fuzz.md) as PID 1
//! of a kentry boot on `-smp N`, while this side injects NMIs through QMP at random intervals.
//!
//! The run fails on anything the kernel does wrong: a panic, an oops, a fault report, a hang
//! (no power-off in time), or a case whose end is not the one Linux gives (the fuzzer prints
//! the seed, CPU and iteration of each, which replay it). At the end it prints the counts:
//! iterations, entries by kind, how the children ended (signals by kind), NMIs injected.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::build;
use crate::frames::{Control, OutputSink, ProgramEnd};
use crate::install;
use crate::qemu::{self, Boot, KernelExit};
use crate::qmp::Qmp;
use crate::run::RunSpec;
use crate::workspace::{self, Flavor, Workspace};

mod native;
mod report;
pub use native::cross_check as native_cross_check;
pub use report::Summary;

/// The name of the fuzzer's user program.
pub const PROGRAM: &str = "entry_fuzz";
/// `cargo xtask test`'s run, and its negative.
pub const TEST_NAME: &str = "entry_fuzz_60s";
pub const NEGATIVE_TEST_NAME: &str = "entry_fuzz_negative_sigreturn_flags";
/// The host cross-check of the expected-signal table (`native.rs`).
pub const NATIVE_TEST_NAME: &str = "entry_fuzz_native";

/// The kernel a fuzz run boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelChoice {
    /// The test kernel: context-tracking assertions, tripwires and lock checks armed.
    Test,
    /// The lean kernel of `cargo xtask run` and `bench`.
    Lean,
}

/// Options of `cargo xtask fuzz`.
#[derive(Debug, Clone, clap::Args)]
pub struct FuzzArgs {
    /// How long the fuzzer runs, in minutes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub minutes: u64,
    /// Seconds instead of minutes (short runs).
    #[arg(long, conflicts_with = "minutes", hide = true)]
    pub seconds: Option<u64>,
    /// The seed (decimal or 0x-hex); default: from the clock, printed.
    #[arg(long)]
    pub seed: Option<String>,
    /// CPUs (`-smp`); one fuzzer worker is pinned to each.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub cpus: u32,
    #[arg(long, value_enum, default_value_t = KernelChoice::Test)]
    pub kernel: KernelChoice,
    /// A word added to the kernel command line (e.g. `kentry.ct=on`). Repeatable.
    #[arg(long = "kernel-arg", value_name = "ARG")]
    pub kernel_args: Vec<String>,
    /// The longest pause between two injected NMIs, in milliseconds (0: no NMIs).
    #[arg(long, default_value_t = 200)]
    pub nmi_max_ms: u64,
    /// Run every vCPU on one host thread (`-accel tcg,thread=single`): one host core.
    #[arg(long)]
    pub single_thread: bool,
    /// The QEMU CPU model. `max,-smap` lets the fuzzer load RSP/RFLAGS/SS by IRETQ (QEMU 7.2
    /// TCG faults a ring-3 IRETQ under SMAP), which adds the bad-SS cases.
    #[arg(long, default_value = "max")]
    pub cpu: String,
}

/// One fuzz boot.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kernel: PathBuf,
    pub kernel_sym: PathBuf,
    pub program: PathBuf,
    pub seed: u64,
    pub seconds: u64,
    pub cpus: u32,
    pub kernel_args: Vec<String>,
    pub nmi_max_ms: u64,
    pub single_thread: bool,
    /// `-cpu`.
    pub cpu: String,
    /// Copy the fuzzer's output to stdout as it comes.
    pub echo: bool,
}

/// What a fuzz boot gave.
pub struct Outcome {
    pub log: qemu::BootLog,
    /// The fuzzer's output.
    pub output: String,
    pub nmis: u64,
    pub nmi_error: Option<String>,
    pub summary: Summary,
}

impl Outcome {
    /// Why the run failed, or None when it passed: the kernel powered off in order after
    /// the fuzzer exited 0 with every worker done.
    pub fn failure(&self) -> Option<String> {
        let exit = self.log.kernel_exit();
        if exit != KernelExit::Finished {
            return Some(format!(
                "the kernel did not finish: {}",
                self.log.describe()
            ));
        }
        if let Some(bad) = report::kernel_trouble(&self.log.lines) {
            return Some(format!("the kernel log says: {bad}"));
        }
        match self.log.controls.first() {
            Some(Control::Exit(ProgramEnd::Exited(0))) => {}
            Some(Control::Exit(end)) => {
                return Some(format!(
                    "the fuzzer ended with status {} ({} failed cases)",
                    end.shell_status(),
                    self.summary.get("failures")
                ));
            }
            _ => return Some("the fuzzer did not start or its end was not reported".into()),
        }
        if !self.summary.done {
            return Some("the fuzzer did not print its end (entry_fuzz: done)".into());
        }
        if self.summary.get("iterations") == 0 {
            return Some("no case ran".into());
        }
        if let Some(e) = &self.nmi_error {
            return Some(format!("NMI injection: {e}"));
        }
        None
    }
}

/// A sink that keeps the fuzzer's output and optionally echoes it.
struct Tee {
    buf: Arc<Mutex<Vec<u8>>>,
    echo: bool,
}

impl OutputSink for Tee {
    fn output(&mut self, _fd: u8, bytes: &[u8]) {
        if self.echo {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(bytes).and_then(|()| o.flush());
        }
        self.buf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
    }
}

/// xorshift64*: the host's NMI intervals, from the run's seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Injects NMIs through a second QMP socket until `stop`, each after a random pause.
fn nmi_injector(
    socket: PathBuf,
    seed: u64,
    max_ms: u64,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Result<()> {
    let mut qmp = Qmp::connect(&socket, Duration::from_secs(30))?;
    let mut state = seed | 1;
    while !stop.load(Ordering::Relaxed) {
        let pause = Duration::from_millis(1 + next(&mut state) % max_ms.max(1));
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5).min(pause));
        }
        match qmp.execute("inject-nmi", None) {
            Ok(_) => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            // QEMU ending under us (the guest powered off: the socket resets before the boot's
            // reader has seen QEMU exit and set `stop`) is the end of the run, not an error.
            Err(e) => {
                let until = Instant::now() + Duration::from_secs(10);
                while Instant::now() < until {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Boots the fuzzer and injects NMIs while it runs.
pub fn boot(qemu_bin: &Path, spec: &Spec, scratch: &Path) -> Result<Outcome> {
    let exe = std::fs::read(&spec.program)
        .with_context(|| format!("reading {}", spec.program.display()))?;
    let mut argv: Vec<Vec<u8>> = vec![format!("/bin/{PROGRAM}").into_bytes()];
    for a in [
        format!("{:#x}", spec.seed),
        spec.seconds.to_string(),
        "cpus".into(),
        spec.cpus.to_string(),
    ] {
        argv.push(a.into_bytes());
    }
    let run = RunSpec::new(Path::new(PROGRAM), exe, argv);
    let sym = std::fs::read(&spec.kernel_sym)
        .with_context(|| format!("reading {}", spec.kernel_sym.display()))?;
    std::fs::create_dir_all(scratch)?;
    let tag = format!("{}-{:x}", std::process::id(), spec.seed);
    let initrd = scratch.join(format!("fuzz-initrd-{tag}.cpio"));
    build::write_file(&initrd, &run.initrd(&sym)?)?;
    let nmi_socket = std::env::temp_dir().join(format!("kentry-fuzz-nmi-{tag}.qmp"));
    let _ = std::fs::remove_file(&nmi_socket);

    let mut b = Boot::new(&spec.kernel, &initrd, &[]);
    b.cmdline = run.cmdline();
    b.cmdline.extend(spec.kernel_args.iter().cloned());
    if spec.nmi_max_ms > 0 {
        // QMP `inject-nmi` raises LINT1: every CPU takes it, so each worker's entries meet
        // NMIs, not CPU 0's alone (kernel/src/x86/apic.rs).
        b.cmdline.push("kentry.lint1=all".into());
    }
    b.cpus = spec.cpus;
    b.tcg_single_thread = spec.single_thread;
    b.cpu = spec.cpu.clone();
    // Boot, the fuzzer's own time, and its last children (3 s each at most) and counts.
    b.timeout = Some(Duration::from_secs(spec.seconds + 120 + spec.seconds / 5));
    b.request_hang_report();
    if spec.nmi_max_ms > 0 {
        b.extra_args = vec![
            "-qmp".into(),
            format!(
                "unix:{},server=on,wait=off",
                nmi_socket.to_string_lossy().replace(',', ",,")
            ),
        ];
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Tee {
        buf: buf.clone(),
        echo: spec.echo,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let injector = (spec.nmi_max_ms > 0).then(|| {
        let (socket, stop, count) = (nmi_socket.clone(), stop.clone(), count.clone());
        let (seed, max) = (spec.seed, spec.nmi_max_ms);
        std::thread::spawn(move || nmi_injector(socket, seed, max, stop, count))
    });
    let log = qemu::run_framed(qemu_bin, &b, Box::new(sink));
    stop.store(true, Ordering::Relaxed);
    let nmi_error = match injector.map(|h| h.join()) {
        Some(Ok(Err(e))) => Some(format!("{e:#}")),
        Some(Err(_)) => Some("the NMI thread panicked".into()),
        _ => None,
    };
    let _ = std::fs::remove_file(&nmi_socket);
    let _ = std::fs::remove_file(&initrd);
    let log = log?;
    let output =
        String::from_utf8_lossy(&buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let summary = report::summarize(&output);
    Ok(Outcome {
        log,
        output,
        nmis: count.load(Ordering::Relaxed),
        nmi_error,
        summary,
    })
}

/// Parses a seed: decimal or 0x-hex.
pub fn parse_seed(s: &str) -> Result<u64> {
    let v = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    v.with_context(|| format!("--seed {s}: not a number"))
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// The built kernel, its symbols and the fuzzer program for `flavor`.
pub fn artifacts(ws: &Workspace, flavor: Flavor) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let art = build::all(ws, flavor)?;
    let program = art
        .programs
        .iter()
        .find(|p| p.name == PROGRAM)
        .map(|p| p.path.clone())
        .with_context(|| format!("the user program {PROGRAM} was not built"))?;
    Ok((art.kernel.clone(), ws.kernel_sym(flavor), program))
}

pub fn run(ws: &Workspace, args: &FuzzArgs) -> Result<ExitCode> {
    let seed = match &args.seed {
        Some(s) => parse_seed(s)?,
        None => clock_seed(),
    };
    let seconds = args.seconds.unwrap_or(args.minutes * 60);
    let qemu_bin = install::qemu()?;
    install::ensure_toolchain(ws)?;
    let flavor = match args.kernel {
        KernelChoice::Test => Flavor::Test,
        KernelChoice::Lean => Flavor::Lean,
    };
    let (kernel, kernel_sym, program) = artifacts(ws, flavor)?;
    let spec = Spec {
        kernel,
        kernel_sym,
        program,
        seed,
        seconds,
        cpus: args.cpus,
        kernel_args: args.kernel_args.clone(),
        nmi_max_ms: args.nmi_max_ms,
        single_thread: args.single_thread,
        cpu: args.cpu.clone(),
        echo: true,
    };
    println!(
        "fuzz: seed {seed:#x}, {seconds} s, {} CPUs (-cpu {}), {:?} kernel {}, NMIs every 1..{} ms",
        spec.cpus,
        spec.cpu,
        args.kernel,
        workspace::shown(&spec.kernel, &ws.root),
        args.nmi_max_ms
    );
    let out = boot(&qemu_bin, &spec, &ws.scratch_dir())?;
    let log_path = ws.target().join(format!("fuzz-serial-{seed:x}.log"));
    build::write_file(&log_path, out.log.text().as_bytes())?;
    println!();
    out.summary.print(out.nmis);
    println!(
        "fuzz: kernel log {} ({} lines), {}",
        workspace::shown(&log_path, &ws.root),
        out.log.lines.len(),
        out.log.describe()
    );
    match out.failure() {
        None => {
            println!("fuzz: PASS (seed {seed:#x}): 0 kernel crashes, 0 failed cases");
            Ok(ExitCode::SUCCESS)
        }
        Some(why) => {
            report::print_failure(&out, seed, &spec.cpu);
            println!("fuzz: FAIL (seed {seed:#x}): {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The hard-lockup threshold of the fuzz runs of `cargo xtask test`: far above any stall a
/// loaded host gives one vCPU, far below the boot's timeout.
const FUZZ_WATCHDOG_SECS: u32 = 15;

/// `cargo xtask test`'s 60 seconds on the test kernel, `-smp 2`, NMIs every 1–200 ms: 30 s
/// with SMAP (`-cpu max`: RSP and RFLAGS come the POPF way) and 30 s without
/// (`-cpu max,-smap`: by IRETQ, with bad SS values and TF reaching the entry itself).
pub fn test_run(
    qemu_bin: &Path,
    kernel: &Path,
    kernel_sym: &Path,
    program: &Path,
    scratch: &Path,
) -> Result<String, String> {
    let seed = clock_seed();
    let mut parts = Vec::new();
    for cpu in ["max", "max,-smap"] {
        let spec = Spec {
            kernel: kernel.to_path_buf(),
            kernel_sym: kernel_sym.to_path_buf(),
            program: program.to_path_buf(),
            seed,
            seconds: 30,
            cpus: 2,
            // A CPU wedged with interrupts off is reported with its backtrace, rather than
            // ending the run as a bare timeout (one run of CI did, before the hang report).
            kernel_args: vec![format!("kentry.watchdog={FUZZ_WATCHDOG_SECS}")],
            nmi_max_ms: 200,
            single_thread: false,
            cpu: cpu.into(),
            echo: false,
        };
        let out = boot(qemu_bin, &spec, scratch).map_err(|e| format!("{e:#}"))?;
        if let Some(why) = out.failure() {
            report::print_failure(&out, seed, cpu);
            return Err(format!("seed {seed:#x}, -cpu {cpu}: {why}"));
        }
        parts.push(format!(
            "-cpu {cpu}: {} cases, {} NMIs",
            out.summary.get("iterations"),
            out.nmis
        ));
    }
    Ok(format!("seed {seed:#x}, 0 failures; {}", parts.join("; ")))
}

/// The negative run: with rt_sigreturn taking IF, IOPL and NT from the frame
/// (`kentry.break=sigreturn_flags`), the fuzzer's random sigreturn frames must come back with
/// RFLAGS Linux would not give, and the fuzzer must say so (a failed case naming rflags) —
/// while the kernel itself survives.
pub fn negative_run(
    qemu_bin: &Path,
    kernel: &Path,
    kernel_sym: &Path,
    program: &Path,
    scratch: &Path,
) -> Result<String, String> {
    let spec = Spec {
        kernel: kernel.to_path_buf(),
        kernel_sym: kernel_sym.to_path_buf(),
        program: program.to_path_buf(),
        seed: 1,
        seconds: 15,
        cpus: 2,
        kernel_args: vec!["kentry.break=sigreturn_flags".into()],
        nmi_max_ms: 0,
        single_thread: false,
        cpu: "max".into(),
        echo: false,
    };
    let out = boot(qemu_bin, &spec, scratch).map_err(|e| format!("{e:#}"))?;
    let failed = out.summary.get("failures");
    let named = out.output.lines().any(|l| {
        l.contains("entry_fuzz: FAIL") && l.contains("kind=sigreturn") && l.contains("rflags")
    });
    // The kernel powers off with v=1 after its init (the fuzzer) failed: finished in order.
    let trouble = report::kernel_trouble(&out.log.lines);
    if failed > 0 && named && out.log.kernel_exit().finished() && trouble.is_none() {
        Ok(format!("{failed} failed cases, sigreturn's rflags named"))
    } else {
        report::print_failure(&out, spec.seed, &spec.cpu);
        Err(format!(
            "the fuzzer did not catch the broken sigreturn flags: {failed} failed cases, rflags named: {named}, {}",
            out.log.describe()
        ))
    }
}

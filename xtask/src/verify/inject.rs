//! One verify boot: the lean kernel runs `verify_loop` while the host stops it at each entry
//! instruction through the gdbstub, injects an NMI there over QMP, catches the NMI's delivery
//! at the NMI IDT stub to see where it was taken, and lets the guest go on. docs/verify.md.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, Stop, reg};
use crate::lean::{self, CtSetting};
use crate::qemu::{self, Boot, BootLog};
use crate::qmp::Qmp;

/// The poll syscall of `verify_loop` (user/src/bin/verify_loop.rs) and the host's answers.
pub const POLL_NR: u64 = 0x4b56;
pub const HOST_ATTACHED: u64 = 1;
pub const HOST_STOP: u64 = 2;
/// RDI at the poll of `verify_loop` itself; its workers poll with another value, which the
/// host never answers (they poll so that the host can stop their CPU in ring 3).
pub const POLL_LOOP: u64 = 0;

/// The event a boot injects at each instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// QMP `inject-nmi`.
    Nmi,
    /// HMP `mce` with a recoverable record ([`super::mce::RECOVERABLE`]): the kernel
    /// logs it and resumes, so one boot takes a #MC at every instruction.
    Mce,
}

impl Injection {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Injection::Nmi => "NMI",
            Injection::Mce => "#MC",
        }
    }

    /// What a boot's label ends with in its series ([`super::report::series`]): nothing for
    /// the NMI series, `, #MC` for the #MC one.
    pub fn label_suffix(self) -> &'static str {
        match self {
            Injection::Nmi => "",
            Injection::Mce => ", #MC",
        }
    }

    /// The IDT stub its delivery enters, where the host catches it.
    pub fn stub(self, text: &EntryText) -> u64 {
        match self {
            Injection::Nmi => text.nmi_stub,
            Injection::Mce => text.mc_stub,
        }
    }

    /// Raises it on the stopped guest: a #MC on CPU `cpu`, an NMI on every CPU (QMP
    /// `inject-nmi` reaches them all; the others take theirs wherever they stand).
    pub fn send(self, qmp: &mut Qmp, cpu: u32) -> Result<()> {
        match self {
            Injection::Nmi => qmp.execute("inject-nmi", None).map(drop),
            Injection::Mce => super::mce::raise(qmp, cpu, super::mce::RECOVERABLE),
        }
    }
}

/// What happened at one instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsnResult {
    /// Stopped there, injected; the event was taken at `delivered` (the RIP of the NMI's
    /// frame, or of the #MC report).
    Covered { delivered: u64 },
    /// Never executed within the per-address timeout.
    NotCovered,
    /// The method failed there (why).
    Failed(String),
}

/// The record of one boot.
pub struct BootRun {
    /// The kernel and its context-tracking setting: `lean ct=on`.
    pub label: String,
    pub results: Vec<(Insn, InsnResult)>,
    /// What went wrong for the boot as a whole (guest failure, protocol error).
    pub problems: Vec<String>,
    pub log: Option<BootLog>,
    pub elapsed: Duration,
    /// How often another CPU than the one under test was stepped past a breakpoint: the
    /// other CPUs' workload met the same instructions meanwhile.
    pub bystander_steps: u64,
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long the guest may run before an address counts as never reached.
    pub per_address: Duration,
    /// The whole boot's timeout.
    pub boot_timeout: Duration,
    /// Which kernel boots, for the reports: `lean` or `test`.
    pub kernel: &'static str,
    /// More kernel command-line words (the negative run's `kentry.break=`).
    pub extra_cmdline: Vec<String>,
    /// QEMU's `-cpu` model, when not the default (`-cpu max`, AMD vendor): the SYSENTER
    /// stub's boots need an Intel vendor ([`super::INTEL_CPU`]).
    pub cpu: Option<&'static str>,
    /// The guest's CPUs (`-smp`): verify_loop runs its checkers on each.
    pub cpus: u32,
    /// The CPU stopped and injected at (its index, as HMP `mce` and the kernel number it);
    /// the others run the same workload and are stepped past the breakpoints they meet. The
    /// boot routes the NMI line to it alone (`kentry.lint1=N`).
    pub cpu_under_test: u32,
    /// Whether every boot uses `cpu_under_test`; else the settings take turns
    /// ([`Settings::for_setting`]).
    pub cpu_under_test_fixed: bool,
}

impl Settings {
    /// A boot's label in reports: kernel, context-tracking setting, with more than one CPU
    /// the CPU under test, and any extra command-line words (`lean ct=on @cpu1`,
    /// `lean ct=on @cpu0 kentry.espfix=off`). Boots of one series differ only there.
    pub fn boot_label(&self, ct: CtSetting) -> String {
        let cpu = if self.cpus > 1 {
            format!(" @cpu{}", self.cpu_under_test)
        } else {
            String::new()
        };
        let words: String = self.extra_cmdline.iter().map(|w| format!(" {w}")).collect();
        format!("{} ct={}{cpu}{words}", self.kernel, ct.word())
    }

    /// The settings of context-tracking setting `ct`'s boots. ct=off and ct=on inject at
    /// CPU 0, ct=hooks at the last CPU, which that boot makes `nohz_full` ([`boot_with`]):
    /// the user-transition hooks exist for nohz_full CPUs, and so with two CPUs every series
    /// injects at each instruction on both. `--cpu-under-test` fixes one CPU for all.
    pub fn for_setting(&self, ct: CtSetting) -> Settings {
        Settings {
            cpu_under_test: if self.cpu_under_test_fixed {
                self.cpu_under_test
            } else if ct == CtSetting::Hooks {
                self.cpus.saturating_sub(1)
            } else {
                0
            },
            ..self.clone()
        }
    }
}

/// What boots: QEMU, the kernel and its initrd, and the address of `verify_loop`'s poll.
pub struct Guest<'a> {
    pub qemu: &'a Path,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The user address of `verify_loop_poll_syscall`.
    pub poll_addr: u64,
}

/// Boots `guest` with context tracking `ct` and verifies `targets`.
pub fn run_boot(
    guest: &Guest,
    ct: CtSetting,
    text: &EntryText,
    targets: &[Insn],
    settings: &Settings,
    inj: Injection,
) -> BootRun {
    let start = Instant::now();
    let mut results = Vec::new();
    let mces_before = super::mce::raised();
    let mut bystander_steps = 0;
    let (driven, log) = boot_with(guest, ct, settings, |gdb, qmp| {
        let r = drive(
            gdb,
            qmp,
            text,
            targets,
            settings,
            inj,
            guest.poll_addr,
            &mut results,
        );
        bystander_steps = gdb.bystander_steps;
        r
    });
    let mces = super::mce::raised() - mces_before;
    let mut problems: Vec<String> = driven.err().map(|e| format!("{e:#}")).into_iter().collect();
    match &log {
        Ok(log) => {
            problems.extend(guest_problems(ct, log));
            problems.extend(super::mce::check_recovered_reports(log, mces));
        }
        Err(e) => problems.push(format!("QEMU: {e:#}")),
    }
    BootRun {
        label: format!("{}{}", settings.boot_label(ct), inj.label_suffix()),
        results,
        problems,
        log: log.ok(),
        elapsed: start.elapsed(),
        bystander_steps,
    }
}

/// Boots `guest` stopped, with a gdbstub and a QMP socket of its own, and runs `drive` on
/// them; ends QEMU at once if `drive` fails. Returns what `drive` returned and the boot's log.
pub fn boot_with(
    guest: &Guest,
    ct: CtSetting,
    settings: &Settings,
    drive: impl FnOnce(&mut Gdb, &mut Qmp) -> Result<()>,
) -> (Result<()>, Result<BootLog>) {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kentry-verify-{}-{}-{}",
        std::process::id(),
        ct.word(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::create_dir_all(&dir);
    let gdb_sock = dir.join("gdb.sock");
    let qmp_sock = dir.join("qmp.sock");
    let mut cmdline = lean::cmdline(ct, &["verify_loop"]);
    // QMP `inject-nmi` raises LINT1 on every CPU; only the CPU under test may take it.
    if settings.cpu_under_test != 0 {
        cmdline.push(format!("kentry.lint1={}", settings.cpu_under_test));
        // The hooks' reason to exist: a nohz_full CPU's tick decision at every return to
        // user mode, and its slow path (CPU 0 is housekeeping, never nohz_full).
        if ct == CtSetting::Hooks {
            cmdline.push(format!("nohz_full={}", settings.cpu_under_test));
        }
    }
    cmdline.extend(settings.extra_cmdline.iter().cloned());
    let words: Vec<&str> = cmdline.iter().map(String::as_str).collect();
    let mut boot = Boot::new(guest.kernel, guest.initrd, &words);
    boot.timeout = Some(settings.boot_timeout);
    boot.cpus = settings.cpus;
    boot.extra_args = vec![
        "-chardev".into(),
        format!(
            "socket,id=verifygdb,path={},server=on,wait=off",
            chardev_path(&gdb_sock)
        ),
        "-gdb".into(),
        "chardev:verifygdb".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", chardev_path(&qmp_sock)),
        "-S".into(),
    ];
    if let Some(cpu) = settings.cpu {
        boot.extra_args.extend(["-cpu".into(), cpu.into()]);
    }
    let qemu_bin = guest.qemu.to_path_buf();
    let qemu_thread = std::thread::spawn(move || qemu::run(&qemu_bin, &boot));
    let driven = (|| {
        let mut gdb = Gdb::connect(&gdb_sock, Duration::from_secs(20))?;
        // The CPU under test is the one QMP `inject-nmi` reaches (LINT1, which the kernel
        // leaves masked elsewhere); the others run the same workload and are stepped past
        // the breakpoints they meet. Were they injected at too, each broadcast NMI would land
        // in the other CPU's NMI path at a breakpoint there, where NMIs are blocked. gdb
        // numbers CPUs from 1.
        gdb.pin(settings.cpu_under_test + 1);
        let mut qmp = Qmp::connect(&qmp_sock, Duration::from_secs(20))?;
        drive(&mut gdb, &mut qmp)
    })();
    if driven.is_err() {
        // Do not wait for the boot's timeout: end QEMU now.
        if let Ok(mut q) = Qmp::connect(&qmp_sock, Duration::from_secs(5)) {
            let _ = q.execute("quit", None);
        }
    }
    let log = match qemu_thread.join() {
        Ok(log) => log,
        Err(_) => Err(anyhow::anyhow!("the QEMU thread panicked")),
    };
    let _ = std::fs::remove_dir_all(&dir);
    (driven, log)
}

/// A path inside a chardev description: commas are doubled.
fn chardev_path(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

/// What the guest's own end says: it must have finished, with `verify_loop` (every checker)
/// ok, and with the context-tracking setting it was asked for. A context-tracking assertion
/// or a kernel fault ends the boot with a panic (v=2), which fails here.
fn guest_problems(ct: CtSetting, log: &BootLog) -> Vec<String> {
    let mut p = Vec::new();
    if !matches!(log.kernel_exit(), qemu::KernelExit::Finished) {
        p.push(format!(
            "the guest did not finish cleanly: {}",
            log.describe()
        ));
    }
    let suite = crate::ktap::parse(&log.text());
    match suite.results.iter().find(|r| r.name == "verify_loop") {
        Some(r) if r.outcome == crate::ktap::Outcome::Pass => {}
        Some(_) => p.push("verify_loop: not ok (a register checker failed)".into()),
        None => p.push("verify_loop printed no result".into()),
    }
    if !log.contains("verify_loop: host attached") {
        p.push("verify_loop never saw the host (it ran one round on its own)".into());
    }
    p.extend(lean::check_ct(ct, &log.text()));
    p
}

/// Drives one boot through the gdbstub and QMP: `inj` at each instruction.
#[allow(clippy::too_many_arguments)]
fn drive(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    targets: &[Insn],
    s: &Settings,
    inj: Injection,
    poll_addr: u64,
    results: &mut Vec<(Insn, InsnResult)>,
) -> Result<()> {
    poll_answer(gdb, poll_addr, HOST_ATTACHED, s.boot_timeout)
        .context("attaching to verify_loop")?;
    // A guest that dies is blamed on the last instruction an NMI was injected at.
    let mut last: Option<u64> = None;
    let blame = |last: Option<u64>| match last {
        Some(a) => format!("the last NMI was injected at {a:#x} {}", text.symbolize(a)),
        None => "no NMI injected yet".to_string(),
    };
    let mut i = 0;
    while i < targets.len() {
        // A stub whose instructions are all unreachable costs one timeout, not one each:
        // probe with every remaining instruction of the stub at once.
        let stub = &targets[i].stub;
        let end = i + targets[i..].iter().take_while(|t| &t.stub == stub).count();
        if text.rust.contains(&targets[i].addr) {
            // A Rust function: in the order the workload reaches its instructions (sweep.rs).
            let r = super::sweep::function(
                gdb,
                qmp,
                text,
                &targets[i..end],
                s,
                inj,
                poll_addr,
                &mut last,
            );
            results.extend(r.with_context(|| blame(last))?);
            i = end;
            continue;
        }
        if super::mce::kind_for(&targets[i]) == super::mce::Kind::NmiInMce {
            // The paranoid path runs only inside a kernel-mode #DB, #MC or #DF: an NMI at
            // each of its instructions inside recovered #MCs, in either series (a #MC there
            // would meet MCIP=1).
            let r = super::mce::nmi_in_mce(gdb, qmp, text, &targets[i..end], s, &mut last);
            results.extend(r.with_context(|| blame(last))?);
            i = end;
            continue;
        }
        if !probe(gdb, qmp, text, &targets[i..end], s).with_context(|| blame(last))? {
            for t in &targets[i..end] {
                results.push((t.clone(), InsnResult::NotCovered));
            }
            i = end;
            continue;
        }
        for t in &targets[i..end] {
            let r = inject_at(gdb, qmp, text, t, s, inj).with_context(|| blame(last))?;
            last = Some(t.addr);
            if let InsnResult::Failed(why) = &r {
                eprintln!(
                    "xtask: verify: {} ({}): {why}",
                    text.symbolize(t.addr),
                    t.text
                );
            }
            results.push((t.clone(), r));
        }
        i = end;
    }
    // The nested-NMI paths of the NMI entry: an NMI arriving inside the handler.
    super::nested::pass(gdb, qmp, text, s, inj, results, &mut last).with_context(|| blame(last))?;
    poll_answer(gdb, poll_addr, HOST_STOP, s.boot_timeout)
        .with_context(|| format!("stopping verify_loop ({})", blame(last)))?;
    gdb.detach()?;
    Ok(())
}

/// Runs the guest to the first instruction of `targets` it reaches, all of them broken on;
/// false if none is reached within the per-address timeout. Leaves the guest stopped and the
/// breakpoints removed.
fn probe(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    targets: &[Insn],
    s: &Settings,
) -> Result<bool> {
    let trigger = text.nmi_blocked_at(targets[0].addr);
    if trigger {
        // The NMI path under test is the one of the CPU stopped in the kernel.
        stop_in_kernel(gdb, text, s)?;
    } else {
        gdb.any_cpu();
    }
    for t in targets {
        gdb.set_breakpoint(t.addr)?;
    }
    if trigger {
        qmp.execute("inject-nmi", None)?;
    }
    gdb.resume()?;
    let hit = match gdb.wait_stop(s.per_address)? {
        Some(Stop::Signal(_)) => true,
        Some(Stop::Exited) => bail!("the guest ended during the verify run"),
        None => {
            gdb.interrupt()?;
            false
        }
    };
    for t in targets {
        gdb.remove_breakpoint(t.addr)?;
    }
    Ok(hit)
}

/// Stops at `t`, injects `inj`, and catches its delivery; a #MC is also run back to `t`.
fn inject_at(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    t: &Insn,
    s: &Settings,
    inj: Injection,
) -> Result<InsnResult> {
    let blocked = text.nmi_blocked_at(t.addr);
    if blocked {
        stop_in_kernel(gdb, text, s)?;
    } else {
        gdb.any_cpu();
    }
    gdb.set_breakpoint(t.addr)?;
    if blocked {
        // The NMI path runs only for an NMI: send one to get there.
        qmp.execute("inject-nmi", None)?;
    }
    gdb.resume()?;
    match gdb.wait_stop(s.per_address)? {
        Some(Stop::Signal(_)) => {}
        Some(Stop::Exited) => bail!("the guest ended during the verify run"),
        None => {
            gdb.interrupt()?;
            gdb.remove_breakpoint(t.addr)?;
            return Ok(InsnResult::NotCovered);
        }
    }
    gdb.remove_breakpoint(t.addr)?;
    let rip = gdb.read_register(reg::RIP)?;
    if rip != t.addr {
        return Ok(InsnResult::Failed(format!(
            "stopped at {} instead",
            text.symbolize(rip)
        )));
    }
    // Where is the event taken? Its delivery enters its IDT stub with the hardware frame
    // at RSP: RIP first.
    let wait = Duration::from_secs(10).max(s.per_address);
    if let Some(failed) = inject_to_stub(gdb, qmp, text, inj, t.addr, wait)? {
        return Ok(failed);
    }
    let rsp = gdb.read_register(reg::RSP)?;
    let delivered = gdb.read_u64(rsp)?;
    // An NMI inside the NMI path is held back; a #MC is taken at once everywhere.
    if delivered != t.addr && (inj == Injection::Mce || !blocked) {
        return Ok(InsnResult::Failed(format!(
            "the {} was taken at {:#x} ({}), not at the instruction it was injected at",
            inj.name(),
            delivered,
            text.symbolize(delivered)
        )));
    }
    if inj == Injection::Mce {
        // A recovered #MC returns to the instruction; no second #MC may come before (MCIP).
        let frame_rsp = gdb.read_u64(rsp + 24)?;
        if !run_back(gdb, text, t.addr, frame_rsp, &|_| false)? {
            return Ok(InsnResult::Failed(
                "the #MC path did not return to the interrupted instruction".into(),
            ));
        }
    }
    Ok(InsnResult::Covered { delivered })
}

/// Stopped at an event's IDT stub, the event taken at `at` with the interrupted RSP
/// `frame_rsp`: runs until the guest is back at `at` with that RSP (true; stopped there, no
/// breakpoint left at `at`), or 10 s pass (false). A breakpoint met on the way — at `at` with
/// another RSP (the event's own path runs that instruction too), or one that `armed` names —
/// is stepped over and stays armed.
pub(super) fn run_back(
    gdb: &mut Gdb,
    text: &EntryText,
    at: u64,
    frame_rsp: u64,
    armed: &dyn Fn(u64) -> bool,
) -> Result<bool> {
    gdb.set_breakpoint(at)?;
    let finished = loop {
        gdb.resume()?;
        match gdb.wait_stop(Duration::from_secs(10))? {
            Some(Stop::Signal(_)) => {}
            Some(Stop::Exited) => bail!(
                "the guest ended in an injected event's path taken at {}",
                text.symbolize(at)
            ),
            None => {
                gdb.interrupt()?;
                break false;
            }
        }
        let (pc, sp) = (gdb.read_register(reg::RIP)?, gdb.read_register(reg::RSP)?);
        if pc == at && sp == frame_rsp {
            break true;
        }
        if pc != at && !armed(pc) {
            bail!(
                "stopped at {} without a breakpoint there",
                text.symbolize(pc)
            );
        }
        gdb.step_past(pc)?;
    };
    gdb.remove_breakpoint(at)?;
    Ok(finished)
}

/// Runs the guest to the SYSCALL entry, so that the NMI sent next is taken in kernel mode
/// and runs the kernel-mode NMI path (stopped anywhere else — after a timeout's interrupt,
/// most likely in ring 3 — it would take the user-mode way instead).
pub fn stop_in_kernel(gdb: &mut Gdb, text: &EntryText, s: &Settings) -> Result<()> {
    gdb.any_cpu();
    gdb.set_breakpoint(text.syscall_entry)?;
    gdb.resume()?;
    let stop = gdb.wait_stop(s.per_address)?;
    if stop.is_none() {
        gdb.interrupt()?;
    }
    gdb.remove_breakpoint(text.syscall_entry)?;
    match stop {
        Some(Stop::Signal(_)) => Ok(()),
        Some(Stop::Exited) => bail!("the guest ended during the verify run"),
        None => bail!("no syscall within {:?}", s.per_address),
    }
}

/// Runs the guest to `verify_loop`'s poll (its `syscall` instruction at `syscall`, a user
/// address, with RAX = [`POLL_NR`]: another program's code at that address is stepped over)
/// and answers it with `word` in RDI, which the syscall gives back to the loop.
pub fn poll_answer(gdb: &mut Gdb, syscall: u64, word: u64, timeout: Duration) -> Result<()> {
    // verify_loop may poll on any CPU.
    gdb.on_any_cpu(|gdb| poll_answer_here(gdb, syscall, word, timeout))
}

fn poll_answer_here(gdb: &mut Gdb, syscall: u64, word: u64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    gdb.set_breakpoint(syscall)?;
    loop {
        // Whichever CPU runs into it: the loop's own poll may come on any.
        gdb.any_cpu();
        gdb.resume()?;
        match gdb.wait_stop(deadline.saturating_duration_since(Instant::now()))? {
            Some(Stop::Signal(_)) => {}
            Some(Stop::Exited) => bail!("the guest ended before verify_loop polled"),
            None => bail!("verify_loop did not poll within {timeout:?}"),
        }
        // The loop's own poll: its workers poll too, with RDI = POLL_WORKER.
        if gdb.read_register(reg::RAX)? == POLL_NR && gdb.read_register(reg::RDI)? == POLL_LOOP {
            gdb.write_register(reg::RDI, word)?;
            gdb.remove_breakpoint(syscall)?;
            return Ok(());
        }
        // Another program: step over the breakpoint and go on.
        gdb.remove_breakpoint(syscall)?;
        gdb.step()?;
        gdb.set_breakpoint(syscall)?;
    }
}

/// Instructions the guest was stopped at, with RFLAGS.IF at that stop (the third injection
/// kind of issue 10, a pending IRQ, can be taken only where IF=1: the run shows where that is).
static INTERRUPT_FLAG: std::sync::Mutex<Vec<(u64, bool)>> = std::sync::Mutex::new(Vec::new());

/// Records RFLAGS.IF at `at`, where the guest is stopped.
pub(super) fn note_interrupt_flag(gdb: &mut Gdb, at: u64) -> Result<()> {
    const IF: u64 = 1 << 9;
    let on = gdb.read_register(reg::EFLAGS)? & IF != 0;
    INTERRUPT_FLAG
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((at, on));
    Ok(())
}

/// What [`note_interrupt_flag`] recorded so far, and clears it.
pub fn take_interrupt_flags() -> Vec<(u64, bool)> {
    std::mem::take(&mut *INTERRUPT_FLAG.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Injects `inj` while the guest is stopped at `at` and runs it to its IDT stub (the
/// breakpoint set and removed here): `None` once it stops there, a failed result if the
/// event never came within `wait`.
pub(super) fn inject_to_stub(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    inj: Injection,
    at: u64,
    wait: Duration,
) -> Result<Option<InsnResult>> {
    note_interrupt_flag(gdb, at)?;
    let stub = inj.stub(text);
    inj.send(qmp, gdb.focus_cpu())?;
    gdb.set_breakpoint(stub)?;
    gdb.resume()?;
    let stop = gdb.wait_stop(wait)?;
    if stop.is_none() {
        gdb.interrupt()?;
    }
    gdb.remove_breakpoint(stub)?;
    match stop {
        Some(Stop::Signal(_)) => Ok(None),
        Some(Stop::Exited) => bail!(
            "the guest ended right after an {} at {}",
            inj.name(),
            text.symbolize(at)
        ),
        None => Ok(Some(InsnResult::Failed(format!(
            "the {} was never delivered",
            inj.name()
        )))),
    }
}

//! The context-tracking assertion's report, in both series. The report runs only when the
//! assertion fires, and it ends the kernel (a panic, v=2), so it gets boots of its own, after
//! a series' main boots, like the double fault (df.rs). The host makes the assertion fire as
//! a bug would: stopped on the CPU under test at the right place, it rewrites that CPU's
//! context-tracking word through the gdbstub so that its state says "user" where the kernel
//! runs. Then every target is broken on, and at each one the dying path reaches the series'
//! event is injected, must be taken there, and is run back to it (dying.rs). The boot passes
//! when the kernel has reported the violation it was given and stopped with v=2.
//! docs/verify.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kentry::context_tracking::{CtState, STATE_MASK};
use kentry::entry_percpu::OFFSET_CT_WORD;

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, Stop, reg};
use super::inject::{self, BootRun, Guest, HOST_ATTACHED, Injection, InsnResult, Settings};
use crate::lean::CtSetting;
use crate::qemu::KernelExit;
use crate::qmp::Qmp;

/// The two places the entry text checks the word and reports (entry/src/irqentry.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// An interrupt taken in kernel mode finds "user": `irqentry_enter`'s classification
    /// (the case of the 2015 debate, "user && !user_mode(regs)").
    IrqEntry,
    /// The way back into the idle loop's EQS after an interrupt finds "user" where "kernel"
    /// should be: `irq_exit_to_idle`.
    IdleExit,
}

/// Every violation boot, in the order they run.
pub const ALL: [Violation; 2] = [Violation::IrqEntry, Violation::IdleExit];

/// The Rust function holding [`Violation::IdleExit`]'s check: the host stops at its start.
const IDLE_EXIT_FN: &str = "kentry::irqentry::imp::irq_exit_to_idle";

/// What the kernel prints for a violation (kernel/src/entry_host.rs `context_violation`).
const REPORT: &str = "[kentry] context tracking violated at ";

impl Violation {
    /// In reports.
    fn name(self) -> &'static str {
        match self {
            Violation::IrqEntry => "at a kernel-mode IRQ's entry",
            Violation::IdleExit => "at an IRQ's return to idle",
        }
    }

    /// What the kernel's report must say: state 1 (user) found, and for the entry the
    /// frame's mode and the vector.
    fn expected(self) -> &'static str {
        match self {
            Violation::IrqEntry => "state=1 (user), frame is kernel mode",
            Violation::IdleExit => "state=1 (user)",
        }
    }

    /// Whether a target is one this boot can reach: the Rust function whose check it trips.
    pub fn reaches(self, t: &Insn) -> bool {
        match self {
            Violation::IrqEntry => t.stub == "kentry_rust_idt",
            Violation::IdleExit => t.stub == IDLE_EXIT_FN,
        }
    }
}

/// One violation boot (context tracking on: off, nothing checks the word): `inj` at each of
/// `targets` the report's path reaches.
pub fn boot(
    guest: &Guest,
    text: &EntryText,
    targets: &[Insn],
    inj: Injection,
    s: &Settings,
    v: Violation,
) -> BootRun {
    let ct = CtSetting::On;
    let start = Instant::now();
    let mut done = BTreeMap::new();
    let (driven, log) = inject::boot_with(guest, ct, s, |gdb, qmp| {
        inject::poll_answer(gdb, guest.poll_addr, HOST_ATTACHED, s.boot_timeout)?;
        drive(gdb, qmp, text, targets, inj, s, v, &mut done)
    });
    let mut problems: Vec<String> = driven.err().map(|e| format!("{e:#}")).into_iter().collect();
    match &log {
        Err(e) => problems.push(format!("QEMU: {e:#}")),
        Ok(log) => {
            let reported = log
                .lines
                .iter()
                .any(|l| l.contains(REPORT) && l.contains(v.expected()));
            if !reported {
                problems.push(format!(
                    "the kernel did not report the violation ({REPORT:?} … {:?})",
                    v.expected()
                ));
            }
            if log.kernel_exit() != KernelExit::Panic {
                problems.push(format!(
                    "after a context-tracking violation the kernel must stop with v=2: {}",
                    log.describe()
                ));
            }
        }
    }
    let results = targets
        .iter()
        .map(|t| {
            let r = done.remove(&t.addr).unwrap_or(InsnResult::NotCovered);
            (t.clone(), r)
        })
        .collect();
    BootRun {
        label: format!(
            "{} violation {}{}",
            s.boot_label(ct),
            v.name(),
            inj.label_suffix()
        ),
        results,
        problems,
        log: log.ok(),
        elapsed: start.elapsed(),
        bystander_steps: 0,
    }
}

#[allow(clippy::too_many_arguments)]
fn drive(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    targets: &[Insn],
    inj: Injection,
    s: &Settings,
    v: Violation,
    done: &mut BTreeMap<u64, InsnResult>,
) -> Result<()> {
    let wait = Duration::from_secs(30).max(s.per_address);
    match v {
        Violation::IrqEntry => stop_at_kernel_mode_irq(gdb, text, wait)?,
        Violation::IdleExit => {
            let at = text
                .label_addr(IDLE_EXIT_FN)
                .with_context(|| format!("the kernel has no function {IDLE_EXIT_FN}"))?;
            gdb.set_breakpoint(at)?;
            let reached = gdb.run_to_stop(wait)?;
            gdb.remove_breakpoint(at)?;
            if !reached {
                bail!("no IRQ returned to idle within {wait:?}");
            }
        }
    }
    // The CPU under test's word: its GS base is the kernel's here (both stops are in kernel
    // mode, past any SWAPGS).
    let gs_base = gdb.register_named("gs_base")?;
    let word_addr = gdb.read_register(gs_base)? + OFFSET_CT_WORD as u64;
    let word = gdb.read_u64(word_addr)?;
    gdb.write_u64(word_addr, (word & !STATE_MASK) | CtState::User as u64)?;
    let targets: Vec<u64> = targets.iter().map(|t| t.addr).collect();
    super::dying::inject_until_the_end(gdb, qmp, text, &targets, inj, s, done)
}

/// Runs the guest to the timer's IDT stub until an IRQ arrives there in kernel mode (the
/// hardware frame's CS, at RSP + 8 with no error code, has RPL 0).
fn stop_at_kernel_mode_irq(gdb: &mut Gdb, text: &EntryText, wait: Duration) -> Result<()> {
    let deadline = Instant::now() + wait;
    gdb.set_breakpoint(text.timer_stub)?;
    let found = loop {
        gdb.resume()?;
        match gdb.wait_stop(deadline.saturating_duration_since(Instant::now()))? {
            Some(Stop::Signal(_)) => {}
            Some(Stop::Exited) => bail!("the guest ended before a kernel-mode IRQ"),
            None => {
                gdb.interrupt()?;
                break false;
            }
        }
        let rsp = gdb.read_register(reg::RSP)?;
        if gdb.read_u64(rsp + 8)? & 3 == 0 {
            break true;
        }
        gdb.step_past(text.timer_stub)?;
    };
    gdb.remove_breakpoint(text.timer_stub)?;
    if !found {
        bail!("no timer IRQ in kernel mode within {wait:?}");
    }
    Ok(())
}

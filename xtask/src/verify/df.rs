//! The double-fault part of both series: the #DF IDT stub, and what of the paranoid Rust
//! function only a #DF runs (its #DF arm). Only a double fault gets there, and the kernel's
//! #DF handler ends the machine (E26: a report, then v=3), so this is a boot of its own per
//! series and setting, after the main one. The host provokes the double fault: it stops the
//! guest at the timer's IDT stub (ring 0, on a kernel stack) and points RSP at a
//! non-canonical address. The stub's first push faults (#GP under TCG, #SS on hardware), that
//! fault's delivery onto the same stack faults again, and the CPU raises #DF on its own IST
//! stack. Every target is broken on; at each one reached the series' event (an NMI, or a
//! recoverable #MC) is injected, must be taken there, and is run back to it. The boot passes
//! when the kernel then reports the double fault and stops with v=3. docs/verify.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, Stop, reg};
use super::inject::{self, BootRun, Guest, HOST_ATTACHED, Injection, InsnResult, Settings};
use crate::lean::CtSetting;
use crate::qemu::KernelExit;
use crate::qmp::Qmp;

/// The #DF IDT stub (the representative of its kind; enumerate.rs).
pub const DF_STUB: &str = "kentry_idt_stubs[0x8]";

/// Non-canonical: any stack access through it faults.
const BAD_RSP: u64 = 0x8000_0000_0000_0000;

/// What the kernel prints for a double fault (kernel/src/trap.rs `double_fault`).
const DF_REPORT: &str = "[kentry] DOUBLE FAULT:";

/// One #DF boot: `inj` at each of `targets` reached inside the double fault. The #DF stub's
/// instructions make the returned run's results; the others (Rust instructions the main boot
/// left uncovered) come back in the map, to be merged into the main boot's results.
pub fn boot(
    guest: &Guest,
    ct: CtSetting,
    text: &EntryText,
    targets: &[Insn],
    inj: Injection,
    s: &Settings,
) -> (BootRun, BTreeMap<u64, InsnResult>) {
    let start = Instant::now();
    let mut done = BTreeMap::new();
    let (driven, log) = inject::boot_with(guest, ct, s, |gdb, qmp| {
        inject::poll_answer(gdb, guest.poll_addr, HOST_ATTACHED, s.boot_timeout)?;
        drive(gdb, qmp, text, targets, inj, s, &mut done)
    });
    let mut problems: Vec<String> = driven.err().map(|e| format!("{e:#}")).into_iter().collect();
    match &log {
        Err(e) => problems.push(format!("QEMU: {e:#}")),
        Ok(log) => {
            if !log.contains(DF_REPORT) {
                problems.push(format!(
                    "the kernel did not report the double fault ({DF_REPORT:?})"
                ));
            }
            if log.kernel_exit() != KernelExit::DoubleFault {
                problems.push(format!(
                    "after a double fault the kernel must stop with v=3: {}",
                    log.describe()
                ));
            }
        }
    }
    let series = match inj {
        Injection::Nmi => "#DF",
        Injection::Mce => "#MC in #DF",
    };
    let mut results = Vec::new();
    for t in targets.iter().filter(|t| t.stub == DF_STUB) {
        let r = done.remove(&t.addr).unwrap_or(InsnResult::NotCovered);
        results.push((t.clone(), r));
    }
    let run = BootRun {
        label: format!("{}, {series}", s.boot_label(ct)),
        results,
        problems,
        log: log.ok(),
        elapsed: start.elapsed(),
        bystander_steps: 0,
    };
    (run, done)
}

fn drive(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    targets: &[Insn],
    inj: Injection,
    s: &Settings,
    done: &mut BTreeMap<u64, InsnResult>,
) -> Result<()> {
    // A timer IRQ, in ring 0 on a kernel stack at its stub, on any CPU: break the stack
    // there.
    gdb.any_cpu();
    gdb.set_breakpoint(text.timer_stub)?;
    gdb.resume()?;
    match gdb.wait_stop(Duration::from_secs(10).max(s.per_address))? {
        Some(Stop::Signal(_)) => {}
        Some(Stop::Exited) => bail!("the guest ended before a timer IRQ"),
        None => bail!("no timer IRQ within the timeout"),
    }
    gdb.remove_breakpoint(text.timer_stub)?;
    gdb.write_register(reg::RSP, BAD_RSP)?;
    let targets: Vec<u64> = targets.iter().map(|t| t.addr).collect();
    super::dying::inject_until_the_end(gdb, qmp, text, &targets, inj, s, done)
}

//! The Rust part's injections (rust_text.rs): one function at a time, every instruction
//! broken on at once, each injected at as the workload reaches it. The assembly stubs go
//! instruction by instruction in address order (inject.rs); a Rust function has branches the
//! workload never takes (reports that end the kernel, rare exit work), and in that order each
//! of them would cost a timeout. Here the function costs one timeout in all, at its end.
//!
//! At each stop: remove that breakpoint, inject an NMI, catch its delivery at the NMI IDT
//! stub (the frame's RIP must be the instruction), then let the NMI path run to completion —
//! back at the interrupted instruction with the interrupted RSP — before going on. The NMI
//! path calls Rust functions too (`kentry_rust_paranoid`); a breakpoint met there, with NMIs
//! blocked, is stepped over and stays armed, so every injection is made outside the NMI path
//! and must be taken at once.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, Stop, reg};
use super::inject::{Injection, InsnResult, Settings, inject_to_stub, run_back, stop_in_kernel};
use crate::qmp::Qmp;

/// Injects `inj` at the instructions of one Rust function (`targets`), in the order the
/// workload reaches them; those not reached within the per-address timeout are not covered.
#[allow(clippy::too_many_arguments)]
pub fn function(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    targets: &[Insn],
    s: &Settings,
    inj: Injection,
    poll_addr: u64,
    last: &mut Option<u64>,
) -> Result<Vec<(Insn, InsnResult)>> {
    let mut pending: BTreeMap<u64, &Insn> = targets.iter().map(|t| (t.addr, t)).collect();
    let mut done: BTreeMap<u64, InsnResult> = BTreeMap::new();
    for &a in pending.keys() {
        gdb.set_breakpoint(a)?;
    }
    loop {
        // Whichever CPU gets to one of them first.
        gdb.any_cpu();
        if !gdb.run_to_stop(s.per_address)? {
            break;
        }
        let rip = gdb.read_register(reg::RIP)?;
        trace(text, "hit", rip);
        if pending.remove(&rip).is_none() {
            bail!(
                "stopped at {} without a breakpoint there",
                text.symbolize(rip)
            );
        }
        gdb.remove_breakpoint(rip)?;
        *last = Some(rip);
        let armed: Vec<u64> = pending.keys().copied().collect();
        let r = inject_here(gdb, qmp, text, inj, rip, &armed)?;
        if let InsnResult::Failed(why) = &r {
            eprintln!("xtask: verify: {}: {why}", text.symbolize(rip));
        }
        done.insert(rip, r);
        if pending.is_empty() {
            break;
        }
    }
    for &a in pending.keys() {
        gdb.remove_breakpoint(a)?;
    }
    // What is left and the NMI path reaches may run only there (`kentry_rust_paranoid`:
    // the workload raises no #DB or #MC in kernel mode): reach it inside NMIs, sent from
    // kernel mode and from user mode.
    if pending.keys().any(|a| text.rust_nmi_reach.contains(a)) {
        for from_user in [false, true] {
            if pending.is_empty() {
                break;
            }
            if from_user {
                stop_at(gdb, poll_addr, s).context("stopping in user mode")?;
            } else {
                stop_in_kernel(gdb, text, s)?;
            }
            match inj {
                Injection::Nmi => in_nmis(gdb, qmp, text, s, &mut pending, &mut done, last)?,
                Injection::Mce => mce_in_nmi(gdb, qmp, text, s, &mut pending, &mut done, last)?,
            }
        }
    }
    // The CR2 restore runs only when the handler changed CR2: the host changes it (cr2.rs).
    super::cr2::restore_pass(gdb, qmp, text, s, inj, &mut pending, &mut done, last)?;
    // What is left may run only inside a kernel-mode #MC (`kentry_rust_paranoid`'s #MC
    // arm, the paranoid way back): an NMI there, inside recovered #MCs. (A #MC inside a #MC
    // would meet MCIP=1: in the #MC series these too get the NMI.)
    if !pending.is_empty() {
        let mut left: std::collections::BTreeSet<u64> = pending.keys().copied().collect();
        super::mce::nmi_in_mce_rounds(gdb, qmp, text, s, &mut left, &mut done, last)?;
    }
    Ok(targets
        .iter()
        .map(|t| {
            let r = done.remove(&t.addr).unwrap_or(InsnResult::NotCovered);
            (t.clone(), r)
        })
        .collect())
}

/// Stopped at `at` (its breakpoint removed, the `armed` ones still set): injects `inj`,
/// checks where it is taken, and runs its path to the return to `at`.
pub(super) fn inject_here(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    inj: Injection,
    at: u64,
    armed: &[u64],
) -> Result<InsnResult> {
    if let Some(failed) = inject_to_stub(gdb, qmp, text, inj, at, Duration::from_secs(10))? {
        return Ok(failed);
    }
    let rip = gdb.read_register(reg::RIP)?;
    if rip != inj.stub(text) {
        return Ok(InsnResult::Failed(format!(
            "the guest ran on to {} before taking the {}",
            text.symbolize(rip),
            inj.name()
        )));
    }
    let rsp = gdb.read_register(reg::RSP)?;
    let delivered = gdb.read_u64(rsp)?;
    if delivered != at {
        return Ok(InsnResult::Failed(format!(
            "the {} was taken at {:#x} ({}), not at the instruction it was injected at",
            inj.name(),
            delivered,
            text.symbolize(delivered)
        )));
    }
    // The frame: RIP, CS, RFLAGS, RSP, SS. Run until the event's path has returned there.
    let frame_rsp = gdb.read_u64(rsp + 24)?;
    let finished = run_back(gdb, text, at, frame_rsp, &|pc| armed.contains(&pc))?;
    Ok(if finished {
        InsnResult::Covered { delivered }
    } else {
        InsnResult::Failed(format!(
            "the {} path did not return to the interrupted instruction",
            inj.name()
        ))
    })
}

/// The #MC series' way to instructions that only the NMI path runs: stopped where an NMI
/// takes the path under test, sends one NMI with every `pending` instruction broken on; at
/// each one hit inside it, raises a #MC (taken at once: NMIs do not block it), checks where
/// it is taken and runs it back there. The round ends when the NMI has returned to where the
/// guest was stopped, or nothing more is reached.
fn mce_in_nmi(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    s: &Settings,
    pending: &mut BTreeMap<u64, &Insn>,
    done: &mut BTreeMap<u64, InsnResult>,
    last: &mut Option<u64>,
) -> Result<()> {
    let home = gdb.read_register(reg::RIP)?;
    for &a in pending.keys() {
        gdb.set_breakpoint(a)?;
    }
    qmp.execute("inject-nmi", None)?;
    // Armed after the first stop, inside the NMI (a breakpoint where the guest stands would
    // stop it again before the NMI is taken).
    let mut home_armed = false;
    loop {
        if !gdb.run_to_stop(s.per_address)? {
            break;
        }
        let pc = gdb.read_register(reg::RIP)?;
        trace(text, "mce-in-nmi", pc);
        if home_armed && pc == home {
            break;
        }
        if !home_armed {
            gdb.set_breakpoint(home)?;
            home_armed = true;
        }
        if pending.remove(&pc).is_none() {
            bail!(
                "stopped at {} without a breakpoint there",
                text.symbolize(pc)
            );
        }
        gdb.remove_breakpoint(pc)?;
        *last = Some(pc);
        let armed: Vec<u64> = pending.keys().copied().chain([home]).collect();
        let r = inject_here(gdb, qmp, text, Injection::Mce, pc, &armed)?;
        if let InsnResult::Failed(why) = &r {
            eprintln!("xtask: verify: {}: {why}", text.symbolize(pc));
        }
        done.insert(pc, r);
    }
    if home_armed {
        gdb.remove_breakpoint(home)?;
    }
    for &a in pending.keys() {
        gdb.remove_breakpoint(a)?;
    }
    Ok(())
}

/// Stopped where an NMI takes the path under test (kernel or user mode), with NMIs not
/// blocked: sends a first NMI and breaks on every `pending` instruction and on the NMI IDT
/// stub. At each instruction hit, injects an NMI; inside an NMI the CPU holds it back until
/// the NMI path's IRETQ, and its delivery, caught at the stub, runs the NMI path again, so the
/// next instructions are met in turn. An instruction counts as covered when the NMI injected
/// there is delivered: at once (the frame's RIP is the instruction) or after the IRETQ.
fn in_nmis(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    s: &Settings,
    pending: &mut BTreeMap<u64, &Insn>,
    done: &mut BTreeMap<u64, InsnResult>,
    last: &mut Option<u64>,
) -> Result<()> {
    for &a in pending.keys() {
        gdb.set_breakpoint(a)?;
    }
    gdb.set_breakpoint(text.nmi_stub)?;
    qmp.execute("inject-nmi", None)?;
    let mut held: Vec<u64> = Vec::new();
    loop {
        if !gdb.run_to_stop(s.per_address)? {
            break;
        }
        let pc = gdb.read_register(reg::RIP)?;
        trace(text, "in-nmi", pc);
        if pc == text.nmi_stub {
            let rsp = gdb.read_register(reg::RSP)?;
            let delivered = gdb.read_u64(rsp)?;
            for a in held.drain(..) {
                done.insert(a, InsnResult::Covered { delivered });
            }
            // QEMU stops again at a breakpoint it resumes from: step over it.
            gdb.step_past(pc)?;
            continue;
        }
        if pending.remove(&pc).is_none() {
            bail!(
                "stopped at {} without a breakpoint there",
                text.symbolize(pc)
            );
        }
        gdb.remove_breakpoint(pc)?;
        *last = Some(pc);
        super::inject::note_interrupt_flag(gdb, pc)?;
        qmp.execute("inject-nmi", None)?;
        held.push(pc);
    }
    for a in held {
        eprintln!(
            "xtask: verify: {}: the NMI was never delivered",
            text.symbolize(a)
        );
        done.insert(a, InsnResult::Failed("the NMI was never delivered".into()));
    }
    for &a in pending.keys() {
        gdb.remove_breakpoint(a)?;
    }
    gdb.remove_breakpoint(text.nmi_stub)?;
    Ok(())
}

/// Runs the guest to `addr` (a user address: some program's code there, any will do).
fn stop_at(gdb: &mut Gdb, addr: u64, s: &Settings) -> Result<()> {
    // verify_loop polls once a round, a few seconds apart.
    let wait = s.per_address.max(Duration::from_secs(30));
    gdb.any_cpu();
    gdb.set_breakpoint(addr)?;
    gdb.resume()?;
    let stop = gdb.wait_stop(wait)?;
    if stop.is_none() {
        gdb.interrupt()?;
    }
    gdb.remove_breakpoint(addr)?;
    match stop {
        Some(Stop::Signal(_)) => Ok(()),
        Some(Stop::Exited) => bail!("the guest ended during the verify run"),
        None => bail!("{addr:#x} not reached within {wait:?}"),
    }
}

/// `KENTRY_VERIFY_TRACE=1`: every stop of the sweep, on stderr (for debugging the method).
fn trace(text: &EntryText, what: &str, pc: u64) {
    if std::env::var_os("KENTRY_VERIFY_TRACE").is_some() {
        eprintln!("xtask: verify trace: {what} {}", text.symbolize(pc));
    }
}

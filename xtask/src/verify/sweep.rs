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

use anyhow::{Result, bail};

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, Stop, reg};
use super::inject::{InsnResult, Settings};
use crate::qmp::Qmp;

/// Injects at the instructions of one Rust function (`targets`), in the order the workload
/// reaches them; those not reached within the per-address timeout are not covered.
pub fn function(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    targets: &[Insn],
    s: &Settings,
    last: &mut Option<u64>,
) -> Result<Vec<(Insn, InsnResult)>> {
    let mut pending: BTreeMap<u64, &Insn> = targets.iter().map(|t| (t.addr, t)).collect();
    let mut done: BTreeMap<u64, InsnResult> = BTreeMap::new();
    for &a in pending.keys() {
        gdb.set_breakpoint(a)?;
    }
    loop {
        gdb.resume()?;
        match gdb.wait_stop(s.per_address)? {
            Some(Stop::Signal(_)) => {}
            Some(Stop::Exited) => bail!("the guest ended during the verify run"),
            None => {
                gdb.interrupt()?;
                break;
            }
        }
        let rip = gdb.read_register(reg::RIP)?;
        if pending.remove(&rip).is_none() {
            bail!("stopped at {} without a breakpoint there", text.symbolize(rip));
        }
        gdb.remove_breakpoint(rip)?;
        *last = Some(rip);
        let r = inject_here(gdb, qmp, text, rip, &pending)?;
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
    Ok(targets
        .iter()
        .map(|t| {
            let r = done.remove(&t.addr).unwrap_or(InsnResult::NotCovered);
            (t.clone(), r)
        })
        .collect())
}

/// Stopped at `at` (its breakpoint removed, the `armed` ones still set): injects an NMI,
/// checks where it is taken, and runs the NMI path to its return to `at`.
fn inject_here(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    at: u64,
    armed: &BTreeMap<u64, &Insn>,
) -> Result<InsnResult> {
    qmp.execute("inject-nmi", None)?;
    gdb.set_breakpoint(text.nmi_stub)?;
    gdb.resume()?;
    let stop = gdb.wait_stop(Duration::from_secs(10))?;
    if stop.is_none() {
        gdb.interrupt()?;
    }
    gdb.remove_breakpoint(text.nmi_stub)?;
    match stop {
        Some(Stop::Signal(_)) => {}
        Some(Stop::Exited) => bail!(
            "the guest ended right after an NMI at {}",
            text.symbolize(at)
        ),
        None => return Ok(InsnResult::Failed("the NMI was never delivered".into())),
    }
    let rip = gdb.read_register(reg::RIP)?;
    if rip != text.nmi_stub {
        return Ok(InsnResult::Failed(format!(
            "the guest ran on to {} before taking the NMI",
            text.symbolize(rip)
        )));
    }
    let rsp = gdb.read_register(reg::RSP)?;
    let delivered = gdb.read_u64(rsp)?;
    if delivered != at {
        return Ok(InsnResult::Failed(format!(
            "the NMI was taken at {:#x} ({}), not at the instruction it was injected at",
            delivered,
            text.symbolize(delivered)
        )));
    }
    // The frame: RIP, CS, RFLAGS, RSP, SS. Run until the NMI path has returned there.
    let frame_rsp = gdb.read_u64(rsp + 24)?;
    gdb.set_breakpoint(at)?;
    let finished = loop {
        gdb.resume()?;
        match gdb.wait_stop(Duration::from_secs(10))? {
            Some(Stop::Signal(_)) => {}
            Some(Stop::Exited) => bail!(
                "the guest ended in the NMI path after an NMI at {}",
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
        // A breakpoint inside the NMI path: step over it, leave it armed.
        if pc != at && !armed.contains_key(&pc) {
            bail!("stopped at {} without a breakpoint there", text.symbolize(pc));
        }
        gdb.remove_breakpoint(pc)?;
        gdb.step()?;
        gdb.set_breakpoint(pc)?;
    };
    gdb.remove_breakpoint(at)?;
    Ok(if finished {
        InsnResult::Covered { delivered }
    } else {
        InsnResult::Failed("the NMI path did not return to the interrupted instruction".into())
    })
}

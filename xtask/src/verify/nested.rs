//! The nested-NMI paths of `kentry_nmi_entry` (E18): the latch (an NMI arriving while the
//! handler runs: `movq $2`, `add`, `iretq`) and the exit-window take-over (an NMI arriving
//! between the handler's end and its IRETQ: `movq $1`, `sub`, `jmp`). The CPU blocks NMIs
//! from an NMI's delivery to the next IRET — any IRET — so an NMI nests only when something
//! inside the handler executes IRET. The lean kernel's handler never does; the host makes it:
//! it stops the guest inside the outer NMI, sends a second NMI (held back) and a recoverable
//! #MC (not blocked by NMIs). The #MC's path ends with IRETQ, which ends the blocking, and the
//! held NMI nests right there. Every uncovered instruction of these paths is broken on. In
//! the NMI series, at each one hit an NMI is injected, which the nested NMI holds back until
//! its IRETQ: covered when it is delivered, as inside the NMI path elsewhere. In the #MC
//! series a #MC is raised there (the provoking one has ended), must be taken there, and is
//! run back to it (docs/verify.md).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Result, bail};

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, reg};
use super::inject::{Injection, InsnResult, Settings, inject_to_stub, run_back, stop_in_kernel};
use super::mce;
use crate::qmp::Qmp;

/// Replaces the not-covered results of `kentry_nmi_entry` in `results` by what two rounds of
/// nested NMIs reach: one provoked at `kentry_nmi_repeat` (the handler running: the latch),
/// one at `kentry_nmi_exit_window` (the take-over).
pub fn pass(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    s: &Settings,
    inj: Injection,
    results: &mut [(Insn, InsnResult)],
    last: &mut Option<u64>,
) -> Result<()> {
    let mut pending: BTreeSet<u64> = results
        .iter()
        .filter(|(t, r)| t.stub == "kentry_nmi_entry" && *r == InsnResult::NotCovered)
        .map(|(t, _)| t.addr)
        .collect();
    for provoke_at in [text.nmi_repeat, text.nmi_exit_window] {
        if pending.is_empty() {
            break;
        }
        // The outer NMI, from kernel mode, run to where the nested one is provoked.
        stop_in_kernel(gdb, text, s)?;
        gdb.set_breakpoint(provoke_at)?;
        qmp.execute("inject-nmi", None)?;
        if !gdb.run_to_stop(s.per_address)? || gdb.read_register(reg::RIP)? != provoke_at {
            bail!("the NMI path did not reach {}", text.symbolize(provoke_at));
        }
        gdb.remove_breakpoint(provoke_at)?;
        for &a in &pending {
            gdb.set_breakpoint(a)?;
        }
        gdb.set_breakpoint(text.nmi_stub)?;
        // Held back by the outer NMI; the #MC's IRETQ lets it in.
        qmp.execute("inject-nmi", None)?;
        mce::raise(qmp, gdb.focus_cpu(), mce::RECOVERABLE)?;
        let mut held: Vec<u64> = Vec::new();
        while gdb.run_to_stop(s.per_address)? {
            let pc = gdb.read_register(reg::RIP)?;
            if pc == text.nmi_stub {
                let rsp = gdb.read_register(reg::RSP)?;
                let delivered = gdb.read_u64(rsp)?;
                for a in held.drain(..) {
                    set(results, a, InsnResult::Covered { delivered });
                }
                // QEMU stops again at a breakpoint it resumes from: step over it.
                gdb.remove_breakpoint(pc)?;
                gdb.step()?;
                gdb.set_breakpoint(pc)?;
                continue;
            }
            if !pending.remove(&pc) {
                bail!(
                    "stopped at {} without a breakpoint there",
                    text.symbolize(pc)
                );
            }
            gdb.remove_breakpoint(pc)?;
            *last = Some(pc);
            if inj == Injection::Nmi {
                super::inject::note_interrupt_flag(gdb, pc)?;
                qmp.execute("inject-nmi", None)?;
                held.push(pc);
                continue;
            }
            let r = match inject_to_stub(gdb, qmp, text, inj, pc, Duration::from_secs(10))? {
                Some(failed) => failed,
                None => {
                    let rsp = gdb.read_register(reg::RSP)?;
                    let delivered = gdb.read_u64(rsp)?;
                    let frame_rsp = gdb.read_u64(rsp + 24)?;
                    let armed = |a: u64| a == text.nmi_stub || pending.contains(&a);
                    if delivered != pc {
                        InsnResult::Failed(format!(
                            "the #MC was taken at {}",
                            text.symbolize(delivered)
                        ))
                    } else if !run_back(gdb, text, pc, frame_rsp, &armed)? {
                        InsnResult::Failed(
                            "the #MC path did not return to the interrupted instruction".into(),
                        )
                    } else {
                        InsnResult::Covered { delivered }
                    }
                }
            };
            set(results, pc, r);
        }
        for a in held {
            eprintln!(
                "xtask: verify: {}: the NMI was never delivered",
                text.symbolize(a)
            );
            set(
                results,
                a,
                InsnResult::Failed("the NMI was never delivered".into()),
            );
        }
        for &a in &pending {
            gdb.remove_breakpoint(a)?;
        }
        gdb.remove_breakpoint(text.nmi_stub)?;
    }
    Ok(())
}

fn set(results: &mut [(Insn, InsnResult)], addr: u64, r: InsnResult) {
    if let Some((_, slot)) = results.iter_mut().find(|(t, _)| t.addr == addr) {
        *slot = r;
    }
}

//! The paranoid path's CR2 restore (E20). An NMI-like handler that takes a page fault changes
//! CR2; the interrupted code may be a #PF entry that has not read CR2 yet, so the paranoid
//! path puts CR2 back as it found it (`do_paranoid`: read at entry, compared after the
//! handler, `mov %reg,%cr2` when they differ). The lean kernel's handlers take no page
//! fault, so the workload never runs that `mov`. The host does what such a fault would do:
//! stopped in the kernel, it sends an NMI, stops it at the host's handler
//! (`Host::nmi_like`, inside the region, after the entry's read), and writes another value
//! into CR2 through the gdbstub. The restore then runs, and the series' event is injected
//! there, as at every instruction. When the NMI has returned, CR2 must hold its value from
//! before the NMI; otherwise every restore instruction is failed. docs/verify.md.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, reg};
use super::inject::{Injection, InsnResult, Settings, note_interrupt_flag, stop_in_kernel};
use super::sweep::inject_here;
use crate::qmp::Qmp;

/// What the host adds to CR2 inside the handler: another page, as a fault elsewhere would
/// leave (any other value would do).
const CR2_CHANGE: u64 = 0x5a5a_5000;

/// Covers the `pending` CR2 restore instructions ([`EntryText::cr2_restore`]), if any, in
/// one NMI from kernel mode whose handler the host makes "fault"; their results go to `done`.
#[allow(clippy::too_many_arguments)]
pub fn restore_pass(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    s: &Settings,
    inj: Injection,
    pending: &mut BTreeMap<u64, &Insn>,
    done: &mut BTreeMap<u64, InsnResult>,
    last: &mut Option<u64>,
) -> Result<()> {
    let targets: Vec<u64> = pending
        .keys()
        .copied()
        .filter(|a| text.cr2_restore.contains(a))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let handler = text
        .host_nmi_like
        .context("the CR2 restore needs the host's Host::nmi_like as a function of its own")?;
    let cr2 = gdb.register_named("cr2")?;
    stop_in_kernel(gdb, text, s)?;
    let (home, home_rsp) = (gdb.read_register(reg::RIP)?, gdb.read_register(reg::RSP)?);
    let before = gdb.read_register(cr2)?;
    gdb.set_breakpoint(handler)?;
    qmp.execute("inject-nmi", None)?;
    let at_handler = gdb.run_to_stop(s.per_address)?;
    gdb.remove_breakpoint(handler)?;
    if !at_handler || gdb.read_register(reg::RIP)? != handler {
        bail!("the NMI from kernel mode never reached the host's handler");
    }
    // What a page fault inside the handler would have done.
    let changed = before ^ CR2_CHANGE;
    gdb.write_register(cr2, changed)?;
    let now = gdb.read_register(cr2)?;
    if now != changed {
        bail!("CR2 written as {changed:#x} through the gdbstub reads back as {now:#x}");
    }
    trace(&format!(
        "CR2 {before:#x} -> {changed:#x} in the handler, restores at {targets:x?}"
    ));
    for &a in &targets {
        gdb.set_breakpoint(a)?;
    }
    // An NMI injected at a restore instruction is held back until the NMI's IRETQ: covered
    // when it is delivered.
    let mut held = Vec::new();
    let mut reached = Vec::new();
    let mut back_home = false;
    gdb.set_breakpoint(home)?;
    if inj == Injection::Nmi {
        gdb.set_breakpoint(text.nmi_stub)?;
    }
    while gdb.run_to_stop(Duration::from_secs(10).max(s.per_address))? {
        let (pc, sp) = (gdb.read_register(reg::RIP)?, gdb.read_register(reg::RSP)?);
        if pc == home && sp == home_rsp {
            back_home = true;
            break;
        }
        if targets.contains(&pc) && pending.remove(&pc).is_some() {
            gdb.remove_breakpoint(pc)?;
            *last = Some(pc);
            reached.push(pc);
            match inj {
                Injection::Nmi => {
                    note_interrupt_flag(gdb, pc)?;
                    qmp.execute("inject-nmi", None)?;
                    held.push(pc);
                }
                Injection::Mce => {
                    // Taken there (NMIs do not block it) and run back there, `home` staying armed.
                    let r = inject_here(gdb, qmp, text, Injection::Mce, pc, &[home])?;
                    done.insert(pc, r);
                }
            }
            continue;
        }
        if pc == text.nmi_stub && inj == Injection::Nmi {
            let delivered = gdb.read_u64(sp)?;
            for a in held.drain(..) {
                done.insert(a, InsnResult::Covered { delivered });
            }
        } else if pc != home {
            bail!(
                "stopped at {} without a breakpoint there",
                text.symbolize(pc)
            );
        }
        // Home with another RSP (the held NMI's own way), or the NMI stub: step over.
        gdb.step_past(pc)?;
    }
    gdb.remove_breakpoint(home)?;
    if inj == Injection::Nmi {
        gdb.remove_breakpoint(text.nmi_stub)?;
    }
    for a in targets.iter().filter(|a| !reached.contains(a)) {
        gdb.remove_breakpoint(*a)?;
    }
    for a in held {
        done.insert(a, InsnResult::Failed("the NMI was never delivered".into()));
    }
    if !back_home {
        bail!("the NMI whose handler changed CR2 did not return to where it was taken");
    }
    let after = gdb.read_register(cr2)?;
    trace(&format!(
        "CR2 {after:#x} after the NMI; restores reached: {reached:x?}"
    ));
    if after != before {
        // The restore did not run, or wrote the wrong value: E20 broken.
        let why = format!(
            "CR2 was {before:#x} before an NMI whose handler changed it, {after:#x} after: \
             the paranoid path did not restore it"
        );
        eprintln!("xtask: verify: {why}");
        for a in &targets {
            done.insert(*a, InsnResult::Failed(why.clone()));
        }
    }
    Ok(())
}

/// `KENTRY_VERIFY_TRACE=1`: what the pass did, on stderr.
fn trace(what: &str) {
    if std::env::var_os("KENTRY_VERIFY_TRACE").is_some() {
        eprintln!("xtask: verify trace: cr2: {what}");
    }
}

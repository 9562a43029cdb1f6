//! What the boots that end the kernel share (df.rs: a double fault; violation.rs: the
//! context-tracking assertion): once the host has provoked the fatal event, the series' event
//! (an NMI, or a recoverable #MC) is injected at every target the dying path reaches, must be
//! taken there, and is run back to it; the boot goes on until the kernel powers off.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};

use super::enumerate::EntryText;
use super::gdb::{Gdb, Stop, reg};
use super::inject::{self, Injection, InsnResult, Settings};
use crate::qmp::Qmp;

/// Breaks on every one of `targets` and lets the guest run: at each one reached, `inj` is
/// injected and caught at its IDT stub, and its path is run back to the instruction (the
/// other targets stay armed meanwhile). Returns when the guest has ended; each target
/// reached has its result in `done`.
pub fn inject_until_the_end(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    targets: &[u64],
    inj: Injection,
    s: &Settings,
    done: &mut BTreeMap<u64, InsnResult>,
) -> Result<()> {
    let mut pending: Vec<u64> = targets.to_vec();
    for &a in &pending {
        gdb.set_breakpoint(a)?;
    }
    loop {
        gdb.resume()?;
        match gdb.wait_stop(s.per_address)? {
            Some(Stop::Signal(_)) => {}
            // The kernel powered off: nothing more is reached.
            Some(Stop::Exited) => return Ok(()),
            None => {
                gdb.interrupt()?;
                bail!("the fatal path did not end within {:?}", s.per_address);
            }
        }
        let pc = gdb.read_register(reg::RIP)?;
        let Some(i) = pending.iter().position(|&a| a == pc) else {
            bail!(
                "stopped at {} without a breakpoint there",
                text.symbolize(pc)
            );
        };
        pending.swap_remove(i);
        gdb.remove_breakpoint(pc)?;
        let r = match inject::inject_to_stub(gdb, qmp, text, inj, pc, Duration::from_secs(10))? {
            Some(failed) => failed,
            None => {
                let rsp = gdb.read_register(reg::RSP)?;
                let delivered = gdb.read_u64(rsp)?;
                let frame_rsp = gdb.read_u64(rsp + 24)?;
                if delivered != pc {
                    InsnResult::Failed(format!(
                        "the {} was taken at {}",
                        inj.name(),
                        text.symbolize(delivered)
                    ))
                } else if !inject::run_back(gdb, text, pc, frame_rsp, &|a| pending.contains(&a))? {
                    InsnResult::Failed(format!(
                        "the {} path did not return to the interrupted instruction",
                        inj.name()
                    ))
                } else {
                    InsnResult::Covered { delivered }
                }
            }
        };
        if let InsnResult::Failed(why) = &r {
            eprintln!("xtask: verify (fatal path): {}: {why}", text.symbolize(pc));
        }
        done.insert(pc, r);
    }
}

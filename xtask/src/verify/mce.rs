//! The machine-check half of `cargo xtask verify` (`--mce`): a #MC injected at each entry
//! instruction (HMP `mce` through QMP), and an NMI at each instruction of the paranoid path,
//! which only a kernel-mode #MC reaches. A kernel-mode #MC is fatal by design (the kernel
//! reports it and powers off, v=2), so each instruction gets a boot of its own, and passes
//! when the kernel's report names the mode the #MC hit and its RIP — the paranoid path must
//! get there from any instruction, whatever GS base and stack the CPU had. docs/verify.md.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, Stop, reg};
use super::inject::{self, BootRun, Guest, HOST_ATTACHED, InsnResult, Settings};
use crate::lean::CtSetting;
use crate::qemu::{BootLog, KernelExit};
use crate::qmp::Qmp;

/// HMP `mce` arguments: CPU 0, bank 0, status VAL|UC|EN|MISCV|ADDRV|S|AR, MCG_STATUS
/// RIPV|EIPV|MCIP, an address, no MISC (the same as the kernel's e25_mce_from_user).
pub const MCE_ARGS: &str = "0 0 0xbd80000000000000 0x7 0x1234000 0";

/// Which injection a boot makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A #MC at the instruction.
    Mce,
    /// An NMI at an instruction of the paranoid path, which a #MC sent from
    /// `kentry_syscall_64` runs.
    NmiInMce,
}

/// The kernel's report line of a kernel-mode #MC at `rip` (kernel/src/trap.rs).
fn report_of(mode: &str, rip: u64) -> String {
    format!("from {mode} mode at rip={rip:#x}")
}

/// One boot: the injection `kind` at `t`. Returns the result and the log (for failures).
pub fn run_one(
    guest: &Guest,
    ct: CtSetting,
    text: &EntryText,
    t: &Insn,
    kind: Kind,
    settings: &Settings,
) -> (InsnResult, Option<BootLog>) {
    let mut reached = false;
    let mut mce_at = t.addr;
    let (driven, log) = inject::boot_with(guest, ct, settings, |gdb, qmp| {
        inject::poll_answer(gdb, guest.poll_addr, HOST_ATTACHED, settings.boot_timeout)?;
        reached = match kind {
            Kind::Mce => mce_at_insn(gdb, qmp, text, t, settings)?,
            Kind::NmiInMce => {
                mce_at = text.syscall_entry;
                nmi_in_mce(gdb, qmp, text, t, settings)?
            }
        };
        if !reached {
            // Nothing was injected: end the boot without waiting for the workload.
            let _ = qmp.execute("quit", None);
        }
        // Let the guest run to its end; QEMU ends the connection when it exits.
        let _ = gdb.detach();
        Ok(())
    });
    let log = match log {
        Ok(l) => l,
        Err(e) => return (InsnResult::Failed(format!("QEMU: {e:#}")), None),
    };
    if let Err(e) = driven {
        return (InsnResult::Failed(format!("{e:#}")), Some(log));
    }
    let want = report_of("kernel", mce_at);
    if !reached {
        // A #MC sent for the paranoid path must be reported even when its way back (never
        // taken after a kernel-mode #MC) is what was not reached.
        if kind == Kind::NmiInMce && !log.contains(&want) {
            return (
                InsnResult::Failed(format!("the kernel did not report the #MC {want}")),
                Some(log),
            );
        }
        return (InsnResult::NotCovered, Some(log));
    }
    // Anywhere in a line: the #MC may cut into a line the kernel was printing (a program's
    // indented output), and its forced report then continues that line.
    let reported = log
        .lines
        .iter()
        .any(|l| l.contains("[kentry] machine check:") && l.contains(&want));
    let r = if !reported {
        InsnResult::Failed(format!("the kernel did not report a machine check {want}"))
    } else if log.kernel_exit() != KernelExit::Panic {
        InsnResult::Failed(format!(
            "after the report the kernel should stop with v=2: {}",
            log.describe()
        ))
    } else {
        // Taken at the instruction: the report's RIP (a #MC), or the NMI frame's (checked).
        InsnResult::Covered { delivered: t.addr }
    };
    (r, Some(log))
}

/// Runs to `t` (through the NMI path with a trigger NMI when `t` is in it) and sends a #MC
/// there. False if `t` was not reached.
fn mce_at_insn(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    t: &Insn,
    s: &Settings,
) -> Result<bool> {
    let trigger = text.nmi_blocked_at(t.addr);
    if trigger {
        inject::stop_in_kernel(gdb, text, s)?;
    }
    gdb.set_breakpoint(t.addr)?;
    if trigger {
        qmp.execute("inject-nmi", None)?;
    }
    if !run_to(gdb, t.addr, s)? {
        return Ok(false);
    }
    mce(qmp)?;
    Ok(true)
}

/// Sends a #MC at `kentry_syscall_64` and runs to `t`, an instruction of the paranoid path,
/// inside its handler; injects an NMI there and checks it is taken there. False if `t` was
/// not reached.
fn nmi_in_mce(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    t: &Insn,
    s: &Settings,
) -> Result<bool> {
    inject::stop_in_kernel(gdb, text, s)?;
    mce(qmp)?;
    gdb.set_breakpoint(t.addr)?;
    if !run_to(gdb, t.addr, s)? {
        return Ok(false);
    }
    qmp.execute("inject-nmi", None)?;
    gdb.set_breakpoint(text.nmi_stub)?;
    if !run_to(gdb, text.nmi_stub, s)? {
        bail!(
            "the NMI injected at {} was never delivered",
            text.symbolize(t.addr)
        );
    }
    let rsp = gdb.read_register(reg::RSP)?;
    let delivered = gdb.read_u64(rsp)?;
    if delivered != t.addr {
        bail!(
            "the NMI injected at {} was taken at {}",
            text.symbolize(t.addr),
            text.symbolize(delivered)
        );
    }
    Ok(true)
}

/// Continues to the breakpoint at `addr` and removes it; false if the guest does not get
/// there within the per-address timeout (then stopped, the breakpoint removed) or ends first
/// (the paranoid path's way back after a kernel-mode #MC, whose handler never returns).
fn run_to(gdb: &mut Gdb, addr: u64, s: &Settings) -> Result<bool> {
    gdb.resume()?;
    let stop = gdb.wait_stop(s.per_address)?;
    match stop {
        Some(Stop::Signal(_)) => gdb.remove_breakpoint(addr)?,
        Some(Stop::Exited) => return Ok(false),
        None => {
            gdb.interrupt()?;
            gdb.remove_breakpoint(addr)?;
            return Ok(false);
        }
    }
    let rip = gdb.read_register(reg::RIP)?;
    if rip != addr {
        bail!("stopped at {rip:#x}, not at the breakpoint {addr:#x}");
    }
    Ok(true)
}

/// HMP `mce`: an empty answer means it was raised.
fn mce(qmp: &mut Qmp) -> Result<()> {
    let out = qmp.human_monitor_command(&format!("mce {MCE_ARGS}"))?;
    if !out.trim().is_empty() {
        bail!("HMP `mce {MCE_ARGS}` said: {}", out.trim());
    }
    Ok(())
}

/// The injection each instruction gets: the paranoid path's instructions an NMI inside a
/// #MC (a #MC there would meet MCIP=1 and shut the machine down), the others a #MC.
pub fn kind_for(t: &Insn) -> Kind {
    if t.stub == "kentry_paranoid_common" {
        Kind::NmiInMce
    } else {
        Kind::Mce
    }
}

/// How long one #MC boot may take at most.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// The #MC half for each context-tracking setting: one boot per instruction. The log kept
/// is the first failing boot's.
pub fn runs(
    guest: &Guest,
    cts: &[CtSetting],
    text: &EntryText,
    targets: &[Insn],
    per_address: Duration,
) -> Vec<BootRun> {
    let settings = Settings {
        per_address,
        boot_timeout: BOOT_TIMEOUT,
        kernel: "lean",
        extra_cmdline: Vec::new(),
        mce: true,
    };
    cts.iter()
        .map(|&ct| {
            let start = Instant::now();
            let mut results = Vec::new();
            let mut log = None;
            for t in targets {
                let (r, l) = run_one(guest, ct, text, t, kind_for(t), &settings);
                if let InsnResult::Failed(why) = &r {
                    eprintln!(
                        "xtask: verify #MC: {} ({}): {why}",
                        text.symbolize(t.addr),
                        t.text
                    );
                    log = log.or(l);
                }
                results.push((t.clone(), r));
            }
            BootRun {
                label: format!("lean ct={}, #MC", ct.word()),
                results,
                problems: Vec::new(),
                log,
                elapsed: start.elapsed(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_and_kinds() {
        // The words of kernel/src/trap.rs's report line.
        assert_eq!(
            report_of("kernel", 0xffff_ffff_8010_7360),
            "from kernel mode at rip=0xffffffff80107360"
        );
        let insn = |stub: &str| Insn {
            addr: 1,
            stub: stub.into(),
            text: String::new(),
        };
        assert_eq!(kind_for(&insn("kentry_paranoid_common")), Kind::NmiInMce);
        assert_eq!(kind_for(&insn("kentry_syscall_64")), Kind::Mce);
    }
}

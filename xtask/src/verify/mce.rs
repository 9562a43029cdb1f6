//! The machine-check half of `cargo xtask verify` (`--mce`): a #MC raised at each entry
//! instruction (HMP `mce` through QMP), in one boot per context-tracking setting. The #MC is
//! recoverable — action optional (SRAO), RIPV=1, PCC=0 — so the kernel logs it and resumes
//! in kernel mode too (kernel/src/trap.rs `machine_check`, E25): each one is caught at the
//! #MC IDT stub (the frame's RIP must be the instruction) and run back to the instruction
//! with the interrupted RSP before the next is raised (a #MC while MCIP is set would shut
//! the machine down). The paranoid path runs inside the #MC itself, so its instructions get
//! an NMI inside a #MC instead. One more boot per setting raises a #MC the kernel must not
//! survive (action required, in kernel mode): it must be reported and stop the machine.
//! docs/verify.md.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::enumerate::{EntryText, Insn};
use super::gdb::{Gdb, Stop, reg};
use super::inject::{
    self, BootRun, Guest, HOST_ATTACHED, HOST_STOP, Injection, InsnResult, Settings,
};
use crate::lean::CtSetting;
use crate::qemu::{BootLog, KernelExit};
use crate::qmp::Qmp;

/// HMP `mce` arguments after the CPU of a recoverable #MC: bank 0, status
/// VAL|UC|EN|MISCV|ADDRV|S with MCACOD 0xc0 (a memory-scrub error: action optional, not
/// consumed by the interrupted instruction), MCG_STATUS RIPV|MCIP, an address, no MISC.
pub const RECOVERABLE: &str = "0 0xbd000000000000c0 0x5 0x1234000 0";

/// A #MC the kernel must not survive in kernel mode: status VAL|UC|EN|MISCV|ADDRV|S|AR
/// (action required: the instruction consumed the error), MCG_STATUS RIPV|EIPV|MCIP (the
/// same as the kernel's e25_mce_from_user, where it is the task's SIGBUS).
pub const FATAL: &str = "0 0xbd80000000000000 0x7 0x1234000 0";

/// What the kernel prints for each recovered #MC (kernel/src/x86/mce.rs `drain`), and for
/// records it had no room for.
const RECOVERED_LINE: &str = "[kentry] machine check recovered:";
const LOST_LINE: &str = "[kentry] machine check log full: ";

/// Recoverable #MCs raised so far (by [`raise`]), to check each boot's count of reports.
static RAISED: AtomicUsize = AtomicUsize::new(0);

/// Recoverable #MCs raised so far.
pub fn raised() -> usize {
    RAISED.load(Ordering::Relaxed)
}

/// HMP `mce CPU RECORD` (`record`: [`RECOVERABLE`] or [`FATAL`]): an empty answer means it
/// was raised.
pub fn raise(qmp: &mut Qmp, cpu: u32, record: &str) -> Result<()> {
    let out = qmp.human_monitor_command(&format!("mce {cpu} {record}"))?;
    if !out.trim().is_empty() {
        bail!("HMP `mce {cpu} {record}` said: {}", out.trim());
    }
    if record == RECOVERABLE {
        RAISED.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A boot that raised `raised` recoverable #MCs must have logged each: one
/// [`RECOVERED_LINE`] per #MC, or counted in a [`LOST_LINE`].
pub fn check_recovered_reports(log: &BootLog, raised: usize) -> Vec<String> {
    let text = log.text();
    let reported = text.matches(RECOVERED_LINE).count();
    let lost: usize = text
        .split(LOST_LINE)
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    if reported + lost == raised {
        Vec::new()
    } else {
        vec![format!(
            "{raised} recoverable #MCs raised, but the kernel reported {reported} (and {lost} lost)"
        )]
    }
}

/// The kernel's report line of a fatal #MC at `rip` (kernel/src/trap.rs).
fn report_of(mode: &str, rip: u64) -> String {
    format!("from {mode} mode at rip={rip:#x}")
}

/// Which injection an instruction of the #MC series gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A #MC at the instruction.
    Mce,
    /// An NMI at an instruction of the paranoid path, inside a #MC (a #MC there would meet
    /// MCIP=1 and shut the machine down).
    NmiInMce,
}

/// The injection each instruction gets.
pub fn kind_for(t: &Insn) -> Kind {
    if t.stub == "kentry_paranoid_common" {
        Kind::NmiInMce
    } else {
        Kind::Mce
    }
}

/// An NMI at each instruction of `targets` that runs inside a #MC (the paranoid path) —
/// [`nmi_in_mce_rounds`] — the rest not covered.
pub fn nmi_in_mce(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    targets: &[Insn],
    s: &Settings,
    last: &mut Option<u64>,
) -> Result<Vec<(Insn, InsnResult)>> {
    let mut pending: BTreeSet<u64> = targets.iter().map(|t| t.addr).collect();
    let mut results = BTreeMap::new();
    nmi_in_mce_rounds(gdb, qmp, text, s, &mut pending, &mut results, last)?;
    Ok(targets
        .iter()
        .map(|t| {
            let r = results.remove(&t.addr).unwrap_or(InsnResult::NotCovered);
            (t.clone(), r)
        })
        .collect())
}

/// An NMI at each `pending` instruction that a kernel-mode #MC's path runs, inside #MCs
/// raised at `kentry_syscall_64`: first at its `swapgs` (the user's GS base still loaded),
/// then right after it (the kernel's), so that both ways of the paranoid path's GS decision
/// run. In each round every pending instruction is broken on; at each one hit an NMI is
/// injected (a #MC does not block NMIs) and must be taken there, and runs back to it
/// (breakpoints met inside the NMI are stepped over); the round ends when the #MC has
/// returned to where it was raised. What is covered moves from `pending` to `results`.
pub fn nmi_in_mce_rounds(
    gdb: &mut Gdb,
    qmp: &mut Qmp,
    text: &EntryText,
    s: &Settings,
    pending: &mut BTreeSet<u64>,
    results: &mut BTreeMap<u64, InsnResult>,
    last: &mut Option<u64>,
) -> Result<()> {
    for user_gs in [true, false] {
        if pending.is_empty() {
            break;
        }
        inject::stop_in_kernel(gdb, text, s)?;
        if !user_gs {
            gdb.step()?;
        }
        let (home, home_rsp) = (gdb.read_register(reg::RIP)?, gdb.read_register(reg::RSP)?);
        gdb.set_breakpoint(text.mc_stub)?;
        raise(qmp, gdb.focus_cpu(), RECOVERABLE)?;
        if !run_to(gdb, text.mc_stub, s)? {
            bail!("the #MC raised at {} was never taken", text.symbolize(home));
        }
        let rsp = gdb.read_register(reg::RSP)?;
        if gdb.read_u64(rsp)? != home {
            bail!(
                "the #MC raised at {} was taken elsewhere",
                text.symbolize(home)
            );
        }
        for &a in pending.iter() {
            gdb.set_breakpoint(a)?;
        }
        gdb.set_breakpoint(home)?;
        loop {
            gdb.resume()?;
            match gdb.wait_stop(s.per_address.max(Duration::from_secs(10)))? {
                Some(Stop::Signal(_)) => {}
                Some(Stop::Exited) => bail!("the guest ended inside a #MC"),
                None => {
                    gdb.interrupt()?;
                    bail!("the #MC raised at {} did not return", text.symbolize(home));
                }
            }
            let (pc, sp) = (gdb.read_register(reg::RIP)?, gdb.read_register(reg::RSP)?);
            if pc == home && sp == home_rsp {
                break;
            }
            if !pending.remove(&pc) {
                bail!(
                    "stopped at {} without a breakpoint there",
                    text.symbolize(pc)
                );
            }
            gdb.remove_breakpoint(pc)?;
            *last = Some(pc);
            let wait = Duration::from_secs(10);
            let r = match inject::inject_to_stub(gdb, qmp, text, Injection::Nmi, pc, wait)? {
                Some(failed) => failed,
                None => {
                    let rsp = gdb.read_register(reg::RSP)?;
                    let delivered = gdb.read_u64(rsp)?;
                    let frame_rsp = gdb.read_u64(rsp + 24)?;
                    let armed = |a: u64| a == home || pending.contains(&a);
                    if delivered != pc {
                        InsnResult::Failed(format!(
                            "the NMI was taken at {}",
                            text.symbolize(delivered)
                        ))
                    } else if !inject::run_back(gdb, text, pc, frame_rsp, &armed)? {
                        InsnResult::Failed(
                            "the NMI path did not return to the interrupted instruction".into(),
                        )
                    } else {
                        InsnResult::Covered { delivered }
                    }
                }
            };
            if let InsnResult::Failed(why) = &r {
                eprintln!(
                    "xtask: verify: {} (NMI inside #MC): {why}",
                    text.symbolize(pc)
                );
            }
            results.insert(pc, r);
        }
        gdb.remove_breakpoint(home)?;
        for &a in pending.iter() {
            gdb.remove_breakpoint(a)?;
        }
    }
    Ok(())
}

/// Continues to the breakpoint at `addr` and removes it; false if the guest does not get
/// there within the per-address timeout (then stopped, the breakpoint removed) or ends first.
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

/// The fatal half: one boot raising [`FATAL`] at `kentry_syscall_64`. The kernel must
/// report it as a kernel-mode #MC at that RIP and stop with v=2 — the recovery path must not
/// swallow a #MC the kernel consumed. A problem (as text) if not.
pub fn fatal_boot(guest: &Guest, ct: CtSetting, text: &EntryText, settings: &Settings) -> BootRun {
    let start = Instant::now();
    let (driven, log) = inject::boot_with(guest, ct, settings, |gdb, qmp| {
        inject::poll_answer(gdb, guest.poll_addr, HOST_ATTACHED, settings.boot_timeout)?;
        inject::stop_in_kernel(gdb, text, settings)?;
        raise(qmp, gdb.focus_cpu(), FATAL)?;
        // The kernel should stop right here. Should it run on instead (the negative run),
        // tell verify_loop to finish, so the boot ends now rather than at its timeout; an
        // error here is the guest having ended, as it should.
        let _ = inject::poll_answer(gdb, guest.poll_addr, HOST_STOP, Duration::from_secs(30));
        let _ = gdb.detach();
        Ok(())
    });
    let want = report_of("kernel", text.syscall_entry);
    let mut problems = Vec::new();
    if let Err(e) = driven {
        problems.push(format!("{e:#}"));
    }
    match &log {
        Err(e) => problems.push(format!("QEMU: {e:#}")),
        Ok(log) => {
            // Anywhere in a line: the #MC may cut into a line being printed.
            if !log
                .lines
                .iter()
                .any(|l| l.contains("[kentry] machine check:") && l.contains(&want))
            {
                problems.push(format!(
                    "an action-required #MC in kernel mode was not reported {want}"
                ));
            }
            if log.kernel_exit() != KernelExit::Panic {
                problems.push(format!(
                    "after an action-required #MC in kernel mode the kernel must stop with v=2: {}",
                    log.describe()
                ));
            }
        }
    }
    println!(
        "  fatal #MC (action required) at kentry_syscall_64 [{}]: {}",
        settings.boot_label(ct),
        if problems.is_empty() {
            "reported, the machine stopped (v=2)"
        } else {
            "FAILED"
        }
    );
    BootRun {
        label: format!("{}, fatal #MC", settings.boot_label(ct)),
        results: Vec::new(),
        problems,
        log: log.ok(),
        elapsed: start.elapsed(),
        bystander_steps: 0,
    }
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

    #[test]
    fn recoverable_is_not_action_required_and_fatal_is() {
        let status = |args: &str| {
            u64::from_str_radix(args.split(' ').nth(1).unwrap().trim_start_matches("0x"), 16)
                .unwrap()
        };
        const AR: u64 = 1 << 55;
        const PCC: u64 = 1 << 57;
        assert_eq!(status(RECOVERABLE) & (AR | PCC), 0);
        assert_ne!(status(FATAL) & AR, 0);
    }
}

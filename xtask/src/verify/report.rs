//! The report of a verify run: per stub covered/total, every failure, every uncovered
//! instruction with its reason (docs/verify.md).

use super::enumerate::EntryText;
use super::inject::{BootRun, InsnResult};

/// Prints one boot's table: per stub, covered / total and how many NMIs were held back (taken
/// after the NMI path's IRETQ); then each uncovered instruction and each failure; then, if
/// anything failed, the serial log.
pub(super) fn report(text: &EntryText, run: &BootRun, verbose: bool) {
    let mut i = 0;
    while i < run.results.len() {
        let stub = &run.results[i].0.stub;
        let group: Vec<_> = run.results[i..]
            .iter()
            .take_while(|(t, _)| &t.stub == stub)
            .collect();
        let covered = group
            .iter()
            .filter(|(_, r)| matches!(r, InsnResult::Covered { .. }))
            .count();
        let deferred = group
            .iter()
            .filter(|(t, r)| matches!(r, InsnResult::Covered { delivered } if *delivered != t.addr))
            .count();
        let note = if deferred > 0 {
            format!(" ({deferred} NMIs held back until the NMI path's IRETQ)")
        } else {
            String::new()
        };
        println!("  {:>3}/{:<3} {stub}{note}", covered, group.len());
        for (t, r) in &group {
            let at = format!("{:#x} {} `{}`", t.addr, text.symbolize(t.addr), t.text);
            match r {
                // Listed with their reasons once every boot has run ([`uncovered`]).
                InsnResult::NotCovered => {}
                InsnResult::Failed(why) => println!("          FAILED: {at}: {why}"),
                InsnResult::Covered { delivered } if verbose => {
                    println!(
                        "          ok: {at}: NMI taken at {}",
                        text.symbolize(*delivered)
                    )
                }
                InsnResult::Covered { .. } => {}
            }
        }
        i += group.len();
    }
    for p in &run.problems {
        println!("  FAILED [{}]: {p}", run.label);
    }
    let others = if run.bystander_steps > 0 {
        format!(
            "; other CPUs stepped past a breakpoint {} times",
            run.bystander_steps
        )
    } else {
        String::new()
    };
    println!(
        "  [{}]: {} instructions in {:.1} s{others}",
        run.label,
        run.results.len(),
        run.elapsed.as_secs_f64()
    );
    let failed = !run.problems.is_empty()
        || run
            .results
            .iter()
            .any(|(_, r)| matches!(r, InsnResult::Failed(_)));
    if failed && let Some(log) = &run.log {
        log.print_full(&format!("verify [{}]", run.label));
    }
}

/// Why what the run cannot reach stays uncovered, by stub (or Rust function): printed with
/// each such instruction. An instruction a boot of the other context-tracking setting covered
/// in the same series is explained by the static branch instead. One that matches neither is
/// printed as unexplained: a gap to close.
const WHY_NOT_COVERED: &[(&str, &str)] = &[
    (
        "kentry_rust_paranoid",
        "the IST-recursion report (reached only when an IST vector nests in itself, which ends \
         the kernel); in the #MC series also one copy of the NMI-like exit (nmi_exit's RCU \
         part) that only a kernel-mode NMI runs, when the #MC-inside-NMI rounds do not meet \
         it (the NMI series covers it). (The #DB arm runs in verify_loop's kernel-mode #DB \
         each round, the CR2 restore in the host's CR2 pass: cr2.rs.)",
    ),
    (
        "kentry_rust_idt",
        "the context-tracking assertion's report (H::context_violation: reached only when the \
         assertion fires, which ends the kernel; the violation boots reach it, and run only \
         when the run has ct=on: violation.rs); in the #MC series also the context-tracking \
         step of an NMI from user mode (nmi_from_user, inlined), when neither the \
         #MC-inside-NMI rounds nor the top-up boot meet it (the NMI series covers it)",
    ),
    (
        "kentry::irqentry::imp::irq_exit_to_idle",
        "the context-tracking assertion's report (reached only when it fires, which ends the \
         kernel; the violation boot at an IRQ's return to idle reaches it, with ct=on in the \
         run: violation.rs)",
    ),
    (
        "kentry_sysenter_compat",
        "reached only on the Intel-vendor model's boots (INTEL_CPU), by verify_loop's \
         vsyscall_regs child (`cargo xtask test`: verify_fast_sysenter)",
    ),
    (
        "kentry_rust_sysenter_32",
        "reached only from kentry_sysenter_compat (see there)",
    ),
    (
        "kentry_iret_espfix",
        "kentry_iret_espfix_none: the way for a CPU without an espfix stack (a host that set \
         none up, such as examples/minimal, and so allows no 16-bit segment); this kernel \
         gives every CPU one unless booted with kentry.espfix=off, as the top-up boot is \
         (topup.rs)",
    ),
    (
        "kentry_rust_ret_from_fork",
        "the hooks copy's way back when no tick decision is pending (H::user_enter finds the \
         nohz request word clear): the ct=hooks boots inject at the nohz_full CPU, where a new \
         task always finds a request, left by the switch that changed the run queue's load; \
         the housekeeping CPU, which never has one, is injected at by the ct=hooks top-up \
         boot (topup.rs), which a run with --cpu-under-test, one CPU or no ct=hooks lacks",
    ),
];

/// The series of a boot: "lean ct=on @cpu1, #MC" → ("lean", "#MC"). Boots of one series
/// differ only by the context-tracking setting and the CPU under test.
pub(super) fn series(label: &str) -> (String, String) {
    let (head, tail) = label.split_once(", ").unwrap_or((label, ""));
    (
        head.split(" ct=").next().unwrap_or("").to_string(),
        tail.to_string(),
    )
}

/// Whether a boot of `r`'s series other than `r` covered `addr`.
fn covered_elsewhere<'a>(runs: &'a [BootRun], r: &BootRun, addr: u64) -> Option<&'a BootRun> {
    runs.iter().find(|o| {
        o.label != r.label
            && series(&o.label) == series(&r.label)
            && o.results
                .iter()
                .any(|(u, y)| u.addr == addr && matches!(y, InsnResult::Covered { .. }))
    })
}

/// The (series, address) pairs that no boot of the series covered.
pub(super) fn missed_by_every_boot(
    runs: &[BootRun],
) -> std::collections::BTreeSet<((String, String), u64)> {
    runs.iter()
        .flat_map(|r| {
            r.results
                .iter()
                .filter(|(_, x)| *x == InsnResult::NotCovered)
                .filter(|(t, _)| covered_elsewhere(runs, r, t.addr).is_none())
                .map(|(t, _)| (series(&r.label), t.addr))
        })
        .collect()
}

/// Every uncovered instruction of every boot, with its reason ([`WHY_NOT_COVERED`]).
pub(super) fn uncovered(text: &EntryText, runs: &[BootRun]) {
    let mut any = false;
    for r in runs {
        for (t, x) in &r.results {
            if *x != InsnResult::NotCovered {
                continue;
            }
            if !any {
                println!("not covered, with the reason:");
                any = true;
            }
            let why = match covered_elsewhere(runs, r, t.addr) {
                // Another context-tracking setting's static branches, another CPU, or a top-up
                // boot for what no main boot reaches (topup.rs).
                Some(o) => format!("covered in [{}], whose setting this boot lacks", o.label),
                None => WHY_NOT_COVERED
                    .iter()
                    .find(|(stub, _)| *stub == t.stub)
                    .map_or_else(
                        || "UNEXPLAINED: not reached by the workload (a gap to close)".to_string(),
                        |(_, why)| why.to_string(),
                    ),
            };
            println!(
                "  [{}] {:#x} {} `{}`: {why}",
                r.label,
                t.addr,
                text.symbolize(t.addr),
                t.text
            );
        }
    }
}

//! The boots after a series' main boots, for what the main boots' settings cannot reach. Each
//! gets only the series' instructions that no boot has covered yet and that it can reach, so
//! a series whose main boots covered everything (the fast subset of `cargo xtask test`) runs
//! none of them. In order:
//! - the context-tracking violations (violation.rs): the assertion's reports, which end the
//!   kernel, one boot per place the entry text checks the word;
//! - a ct=hooks boot on the housekeeping CPU (CPU 0), when the main ct=hooks boot injected at
//!   the nohz_full one: the user-transition hooks' ways for a CPU with no tick decision pending
//!   (a nohz_full CPU always has one when it first returns to a new task);
//! - a boot with `kentry.espfix=off`: kentry's way for a CPU without an espfix stack, which a
//!   host may choose (examples/minimal) and this kernel otherwise never takes.
//!
//! A boot's instructions count for the series (report.rs), as the main boots' do.

use std::collections::BTreeSet;
use std::time::Duration;

use super::enumerate::{EntryText, Insn};
use super::inject::{self, BootRun, Guest, Injection, Settings};
use super::report::{missed_by_every_boot, report, series};
use super::violation;
use crate::lean::CtSetting;

/// The `kentry.espfix=off` boot's word, and the stub whose way it reaches.
const ESPFIX_OFF: &str = "kentry.espfix=off";
const ESPFIX_STUB: &str = "kentry_iret_espfix";

/// Runs the top-up boots of series `inj` (`runs`: the boots so far, the series' main boots
/// among them; `settings`: the run's) and adds them to `runs`.
pub fn boots(
    guest: &Guest,
    text: &EntryText,
    settings: &Settings,
    inj: Injection,
    cts: &[CtSetting],
    runs: &mut Vec<BootRun>,
    verbose: bool,
) {
    let this_series = series(&format!("{} ct={}", settings.kernel, inj.label_suffix()));
    // The series' instructions no boot has covered yet.
    let missed = |runs: &[BootRun]| -> Vec<Insn> {
        let addrs: BTreeSet<u64> = missed_by_every_boot(runs)
            .into_iter()
            .filter(|(s, _)| *s == this_series)
            .map(|(_, a)| a)
            .collect();
        text.insns()
            .filter(|i| addrs.contains(&i.addr))
            .cloned()
            .collect()
    };
    let run_one = |runs: &mut Vec<BootRun>, what: &str, boot: &dyn Fn() -> BootRun| {
        println!("== verify: {what}");
        let r = boot();
        report(text, &r, verbose);
        runs.push(r);
    };
    if cts.contains(&CtSetting::On) {
        for v in violation::ALL {
            let targets: Vec<Insn> = missed(runs).into_iter().filter(|t| v.reaches(t)).collect();
            if targets.is_empty() {
                continue;
            }
            let s = Settings {
                boot_timeout: Duration::from_secs(120),
                ..settings.for_setting(CtSetting::On)
            };
            run_one(
                runs,
                &format!(
                    "{} at each of {} instructions of the context-tracking violation's report",
                    inj.name(),
                    targets.len()
                ),
                &|| violation::boot(guest, text, &targets, inj, &s, v),
            );
        }
    }
    let hooks = settings.for_setting(CtSetting::Hooks);
    if cts.contains(&CtSetting::Hooks) && hooks.cpu_under_test != 0 {
        let targets: Vec<Insn> = missed(runs)
            .into_iter()
            .filter(|t| !t.stub.starts_with(ESPFIX_STUB))
            .collect();
        if !targets.is_empty() {
            let s = Settings {
                cpu_under_test: 0,
                cpu_under_test_fixed: true,
                ..hooks
            };
            run_one(
                runs,
                &format!(
                    "{} at each of {} instructions left, ct=hooks on the housekeeping CPU",
                    inj.name(),
                    targets.len()
                ),
                &|| inject::run_boot(guest, CtSetting::Hooks, text, &targets, &s, inj),
            );
        }
    }
    let targets: Vec<Insn> = missed(runs)
        .into_iter()
        .filter(|t| t.stub.starts_with(ESPFIX_STUB))
        .collect();
    if let Some(&ct) = cts.first()
        && !targets.is_empty()
    {
        let mut s = settings.for_setting(ct);
        s.extra_cmdline.push(ESPFIX_OFF.into());
        run_one(
            runs,
            &format!(
                "{} at each of {} instructions of the IRET path without espfix",
                inj.name(),
                targets.len()
            ),
            &|| inject::run_boot(guest, ct, text, &targets, &s, inj),
        );
    }
}

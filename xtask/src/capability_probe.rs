//! Capability probes that the test kernel reports, and the SKIPs they must back.
//!
//! A test may skip only for a capability the platform lacks, decided by a probe that does not
//! depend on the behaviour under test (docs/harness.md). For #AC the programs cannot probe by
//! themselves: the only way to see whether the CPU checks alignment at CPL 3 is to try, and the
//! kernel's handling of the #AC it raises (SIGBUS) is what they test. So the kernel counts the
//! #AC exceptions from user mode at their entry, before any handling, and prints the count at
//! the end of each test boot; a result that skipped for "no #AC" in a boot whose kernel took
//! any #AC is a failure (the CPU raised it: the skip would hide a delivery bug), and so is such
//! a skip in a boot that printed no count.

use crate::ktap::{Outcome, Suite};

/// The kernel's line (kernel/src/test/mod.rs `run_all`), followed by the count.
pub const AC_PROBE: &str = "# kentry probe: user-mode #AC exceptions this boot: ";

/// What a skip names when it skips for want of #AC.
const AC_SKIP_MARK: &str = "#AC";

/// Problems with the "no #AC" skips of one boot's results.
pub fn check(suite: &Suite) -> Vec<String> {
    let mut skips = Vec::new();
    ac_skips(suite, "", &mut skips);
    if skips.is_empty() {
        return Vec::new();
    }
    match ac_count(suite) {
        None => vec![format!(
            "{} skipped for want of #AC, but the kernel printed no #AC probe (`{}N`)",
            skips.join(", "),
            AC_PROBE.trim_end()
        )],
        Some(0) => Vec::new(),
        Some(n) => skips
            .into_iter()
            .map(|s| {
                format!("{s}: skipped for want of #AC, yet the CPU raised {n} #AC from user mode")
            })
            .collect(),
    }
}

fn ac_count(suite: &Suite) -> Option<u64> {
    suite.lines.iter().find_map(|l| {
        l.trim()
            .strip_prefix(AC_PROBE.trim_start())?
            .trim()
            .parse()
            .ok()
    })
}

/// Every result, at any depth, that skipped naming #AC.
fn ac_skips(suite: &Suite, prefix: &str, out: &mut Vec<String>) {
    for r in &suite.results {
        let path = if prefix.is_empty() {
            r.name.clone()
        } else {
            format!("{prefix}/{}", r.name)
        };
        if r.outcome == Outcome::Skip
            && r.directive
                .as_deref()
                .is_some_and(|d| d.contains(AC_SKIP_MARK))
        {
            out.push(path.clone());
        }
        ac_skips(&r.subtests, &path, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ktap::parse;

    const SKIPPED: &str = "KTAP version 1\n1..2\n# Subtest: fault_ac\n    KTAP version 1\n    \
        1..1\n    ok 1 fault_ac # SKIP no #AC raised\nok 1 fault_ac # SKIP status 77\n\
        ok 2 other # SKIP one CPU online\n";

    #[test]
    fn a_skip_for_want_of_ac_needs_a_zero_count() {
        let ok = parse(&format!("{SKIPPED}{AC_PROBE}0\n"));
        assert_eq!(check(&ok), Vec::<String>::new());
        let raised = parse(&format!("{SKIPPED}{AC_PROBE}3\n"));
        let problems = check(&raised);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("fault_ac/fault_ac:"),
            "{problems:?}"
        );
        assert!(problems[0].contains("raised 3 #AC"), "{problems:?}");
    }

    #[test]
    fn a_skip_for_want_of_ac_without_the_probe_fails() {
        let problems = check(&parse(SKIPPED));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("no #AC probe"), "{problems:?}");
    }

    #[test]
    fn other_skips_and_passes_need_no_probe() {
        let text = "KTAP version 1\n1..2\nok 1 a # SKIP one CPU online\nok 2 b\n";
        assert_eq!(check(&parse(text)), Vec::<String>::new());
        // A pass of the #AC test is fine whatever the count.
        let pass = format!("KTAP version 1\n1..1\nok 1 fault_ac\n{AC_PROBE}5\n");
        assert_eq!(check(&parse(&pass)), Vec::<String>::new());
    }
}

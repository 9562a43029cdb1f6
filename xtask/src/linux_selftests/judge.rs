//! The verdict on one run of a Linux selftest on kentry, as Linux judges it, held to the
//! counts of `expected.rs`: both stdout and stderr are read; a `[FAIL]` anywhere, a non-zero
//! status (a crash is one: 128 + signal) fails; the `[OK]` and `[SKIP]` lines must be those
//! the table records; a test whose point needs a capability kentry lacks is a SKIP naming it.

use super::expected::{Capability, Selftest};
use crate::host_run::status_name;

/// The table this judge holds runs to, as messages name it.
const TABLE: &str = "xtask/src/linux_selftests/expected.rs";

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Pass(String),
    /// Ran clean, but its point needs something kentry lacks (named): not a pass.
    Skip(String),
    Fail(String),
}

/// Judges a run of `t` that ended with shell status `status` (128 + signal after a crash).
/// A run that did not end (a timeout, a kernel failure) never gets here: it fails before.
pub fn judge(t: &Selftest, status: u8, stdout: &[u8], stderr: &[u8]) -> Judgement {
    let out = String::from_utf8_lossy(stdout);
    let err = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = out.lines().chain(err.lines()).collect();
    let marked = |m: &str| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|l| l.contains(m))
            .map(str::trim)
            .collect()
    };
    let missing: Vec<Capability> = t
        .needs
        .iter()
        .copied()
        .filter(|c| !c.kentry_has())
        .collect();
    let mut problems = Vec::new();
    let want_status = t.death.map_or(0, |d| d.status);
    if status != want_status {
        problems.push(format!("status {}", status_name(i32::from(status))));
    }
    let fails = marked("[FAIL]");
    if let Some(first) = fails.first() {
        problems.push(format!("{} [FAIL]: {first}", fails.len()));
    }
    let oks = marked("[OK]").len();
    if oks < t.ok {
        problems.push(format!(
            "{oks} [OK], {} expected: a check that passed before no longer does",
            t.ok
        ));
    } else if oks > t.ok {
        problems.push(format!(
            "{oks} [OK], {} recorded: more checks pass than the table says; update {TABLE}",
            t.ok
        ));
    }
    let skips = marked("[SKIP]");
    let mut seen = vec![0usize; t.skips.len()];
    for line in &skips {
        match t.skips.iter().position(|s| line.contains(s.line)) {
            Some(i) => seen[i] += 1,
            None => problems.push(format!("an unexpected [SKIP]: {line}")),
        }
    }
    for (s, n) in t.skips.iter().zip(&seen) {
        if *n != s.count {
            problems.push(format!(
                "{n} [SKIP] {:?}, {} recorded ({}); update {TABLE} if this is progress",
                s.line, s.count, s.why
            ));
        }
    }
    // Parts that cannot run here print a known line, as often as the table says.
    for u in t.unexercised {
        let n = lines.iter().filter(|l| l.contains(u.line)).count();
        let want = if u.lacks.kentry_has() { 0 } else { u.count };
        if n != want {
            problems.push(format!(
                "{n} lines {:?} ({}), {want} expected; update {TABLE} if this is progress",
                u.line,
                u.lacks.gap()
            ));
        }
    }
    // A selftest writes to stderr only when something went wrong (err(3), perror(3)), or
    // for a part the table knows cannot run.
    let stderr_line = err
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find(|l| !t.unexercised.iter().any(|u| l.contains(u.line)));
    if let (Some(line), true) = (stderr_line, missing.is_empty()) {
        problems.push(format!("stderr: {line}"));
    }
    if !problems.is_empty() {
        return Judgement::Fail(problems.join("; "));
    }
    let mut summary = format!("status {status}, {oks} [OK]");
    if !skips.is_empty() {
        let why: Vec<String> = t
            .skips
            .iter()
            .map(|s| format!("{}× {}", s.count, s.why))
            .collect();
        summary.push_str(&format!(
            ", {} [SKIP] as recorded ({})",
            skips.len(),
            why.join("; ")
        ));
    }
    for u in t.unexercised.iter().filter(|u| !u.lacks.kentry_has()) {
        summary.push_str(&format!(
            "; {}× not exercised: {} ({})",
            u.count,
            u.what,
            u.lacks.gap()
        ));
    }
    if let Some(d) = t.death {
        return Judgement::Skip(format!(
            "{}; it ended with status {} as recorded ({summary}); checks {}",
            d.why,
            status_name(i32::from(status)),
            t.checks
        ));
    }
    if missing.is_empty() {
        return Judgement::Pass(format!("{summary}; checks {}", t.checks));
    }
    let gaps: Vec<&str> = missing.iter().map(|c| c.gap()).collect();
    let said = stderr_line
        .map(|l| format!("; it said: {l}"))
        .unwrap_or_default();
    Judgement::Skip(format!(
        "{}; not exercised: {}. It ran clean ({summary}){said}",
        gaps.join("; "),
        t.checks
    ))
}

#[cfg(test)]
mod tests {
    use super::super::expected::{ExpectedSkip, Unexercised};
    use super::*;

    /// A hand-written table entry: 2 [OK], one kind of expected [SKIP], nothing missing.
    const PLAIN: Selftest = Selftest {
        name: "plain",
        cpu: None,
        ok: 2,
        skips: &[ExpectedSkip {
            line: "no CPU 1",
            count: 1,
            why: "harness: one CPU",
        }],
        needs: &[],
        unexercised: &[],
        death: None,
        checks: "plain things",
    };

    /// Mostly runs, but one part needs ptrace, which kentry lacks.
    const PART_NEEDS_PTRACE: Selftest = Selftest {
        name: "partly",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[],
        unexercised: &[Unexercised {
            line: "PTRACE_TRACEME: Function not implemented",
            count: 1,
            lacks: Capability::Lacking,
            what: "poking by a ptracer",
        }],
        death: None,
        checks: "bases",
    };

    /// Needs ptrace, which kentry lacks.
    const NEEDS_PTRACE: Selftest = Selftest {
        name: "watch",
        cpu: None,
        ok: 1,
        skips: &[],
        needs: &[Capability::Lacking],
        unexercised: &[],
        death: None,
        checks: "a watchpoint",
    };

    const CLEAN: &[u8] = b"[RUN]\ta\n[OK]\ta\n[RUN]\tb\n[SKIP]\tno CPU 1\n[OK]\tc\n";

    fn fail_text(j: Judgement) -> String {
        match j {
            Judgement::Fail(why) => why,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn a_clean_run_with_the_recorded_counts_passes() {
        match judge(&PLAIN, 0, CLEAN, b"") {
            Judgement::Pass(s) => {
                assert!(s.contains("2 [OK]") && s.contains("1 [SKIP]"), "{s}");
                assert!(
                    s.contains("harness: one CPU") && s.contains("plain things"),
                    "{s}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fail_on_either_stream_fails() {
        let out = b"[OK]\ta\n[FAIL]\tbroken here\n[OK]\tc\n[SKIP]\tno CPU 1\n";
        assert!(fail_text(judge(&PLAIN, 0, out, b"")).contains("broken here"));
        let why = fail_text(judge(&PLAIN, 0, CLEAN, b"[FAIL]\tfrom stderr\n"));
        assert!(why.contains("from stderr"), "{why}");
        // Also when a missing capability would make it a skip.
        let why = fail_text(judge(&NEEDS_PTRACE, 0, b"[OK]\tx\n[FAIL]\ty\n", b""));
        assert!(why.contains("[FAIL]: [FAIL]\ty"), "{why}");
    }

    #[test]
    fn a_bad_status_or_a_crash_fails() {
        assert!(fail_text(judge(&PLAIN, 1, CLEAN, b"")).contains("status 1"));
        assert!(fail_text(judge(&PLAIN, 139, CLEAN, b"")).contains("SIGSEGV"));
        assert!(fail_text(judge(&NEEDS_PTRACE, 139, b"[OK]\tx\n", b"")).contains("SIGSEGV"));
    }

    #[test]
    fn fewer_oks_than_recorded_fail() {
        // An [OK] that became a [SKIP] must not pass unseen.
        let out = b"[OK]\ta\n[SKIP]\tno CPU 1\n[SKIP]\tc went away\n";
        let why = fail_text(judge(&PLAIN, 0, out, b""));
        assert!(why.contains("1 [OK], 2 expected"), "{why}");
        assert!(
            why.contains("unexpected [SKIP]: [SKIP]\tc went away"),
            "{why}"
        );
        assert!(fail_text(judge(&PLAIN, 0, b"", b"")).contains("0 [OK], 2 expected"));
    }

    #[test]
    fn more_oks_than_recorded_ask_for_the_table() {
        let out = b"[OK]\ta\n[OK]\tb\n[OK]\tc\n[SKIP]\tno CPU 1\n";
        let why = fail_text(judge(&PLAIN, 0, out, b""));
        assert!(
            why.contains("3 [OK], 2 recorded") && why.contains(TABLE),
            "{why}"
        );
    }

    #[test]
    fn skips_must_be_the_recorded_ones() {
        let missing_skip = b"[OK]\ta\n[OK]\tc\n";
        let why = fail_text(judge(&PLAIN, 0, missing_skip, b""));
        assert!(why.contains("0 [SKIP] \"no CPU 1\", 1 recorded"), "{why}");
        let twice = b"[OK]\ta\n[OK]\tc\n[SKIP]\tno CPU 1\n[SKIP]\tno CPU 1 again\n";
        assert!(fail_text(judge(&PLAIN, 0, twice, b"")).contains("2 [SKIP]"));
    }

    #[test]
    fn stderr_text_fails_a_test_that_lacks_nothing() {
        let why = fail_text(judge(
            &PLAIN,
            0,
            CLEAN,
            b"plain_64: mmap: Cannot allocate\n",
        ));
        assert!(why.contains("stderr: plain_64: mmap"), "{why}");
    }

    #[test]
    fn a_missing_capability_is_a_skip_naming_it() {
        // mov_ss_trap on kentry: one [OK], and ptrace refused on stderr.
        let out = b"\tSet up a watchpoint\n[RUN]\tMOV SS; INT3\n[OK]\tI aten't dead\n";
        let err = b"mov_ss_trap_64: PTRACE_ATTACH: Function not implemented\n";
        match judge(&NEEDS_PTRACE, 0, out, err) {
            Judgement::Skip(why) => {
                assert!(why.starts_with("kentry gap: lacking"), "{why}");
                assert!(why.contains("not exercised: a watchpoint"), "{why}");
                assert!(why.contains("PTRACE_ATTACH"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        // The skip comes from the table, not from the output: a clean stderr still skips.
        assert!(matches!(
            judge(&NEEDS_PTRACE, 0, b"[OK]\tx\n", b""),
            Judgement::Skip(_)
        ));
        // And its counts still hold.
        assert!(fail_text(judge(&NEEDS_PTRACE, 0, b"", b"")).contains("0 [OK], 1 expected"));
    }

    #[test]
    fn a_recorded_death_is_a_skip_and_any_other_ending_fails() {
        use super::super::expected::ExpectedDeath;
        const DIES: Selftest = Selftest {
            name: "dies",
            cpu: None,
            ok: 0,
            skips: &[],
            needs: &[],
            unexercised: &[],
            death: Some(ExpectedDeath {
                status: 139,
                why: "TCG cannot provoke: a deferred #DB",
            }),
            checks: "MOV SS",
        };
        match judge(&DIES, 139, b"", b"") {
            Judgement::Skip(s) => assert!(s.starts_with("TCG cannot provoke: a deferred #DB")),
            other => panic!("{other:?}"),
        }
        assert!(fail_text(judge(&DIES, 0, b"", b"")).contains("status 0"));
        assert!(fail_text(judge(&DIES, 134, b"", b"")).contains("SIGABRT"));
    }

    #[test]
    fn a_known_unexercised_part_is_named_in_the_pass() {
        let err = b"partly_64: PTRACE_TRACEME: Function not implemented\n";
        match judge(&PART_NEEDS_PTRACE, 0, b"[OK]\tbase\n", err) {
            Judgement::Pass(s) => {
                assert!(s.contains("1× not exercised: poking by a ptracer"), "{s}");
                assert!(s.contains("kentry gap: lacking"), "{s}");
            }
            other => panic!("{other:?}"),
        }
        // Its line missing (the part ran, or vanished) or repeated: the table is out of date.
        let why = fail_text(judge(&PART_NEEDS_PTRACE, 0, b"[OK]\tbase\n", b""));
        assert!(why.contains("0 lines") && why.contains(TABLE), "{why}");
        let twice = [err.as_slice(), err.as_slice()].concat();
        assert!(
            fail_text(judge(&PART_NEEDS_PTRACE, 0, b"[OK]\tbase\n", &twice)).contains("2 lines")
        );
        // Any other stderr text still fails.
        let other = [err.as_slice(), b"partly_64: mmap: failed\n"].concat();
        let why = fail_text(judge(&PART_NEEDS_PTRACE, 0, b"[OK]\tbase\n", &other));
        assert!(why.contains("stderr: partly_64: mmap"), "{why}");
    }
}

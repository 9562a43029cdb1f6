//! The verdict on one run of a seccomp or ptrace selftest (`kselftest.rs`), case by case,
//! held to `kselftest_expected.rs`: every case of the table must report once (or be left
//! out, as the table says, and the run must say so), with the outcome recorded; a case that
//! passes where the table records a failure is progress that must be written down, and one
//! that no longer passes is a regression. Both fail the run. So do a case the table does not
//! know, a crash, and a status other than the harness's for those outcomes.

use super::judge::Judgement;
use super::kselftest_expected::{Harness, KsftCase, KsftProgram, Outcome};
use super::x86_gated::Need;
use crate::host_run::status_name;

/// The table, as messages name it.
pub const TABLE: &str = "xtask/src/linux_selftests/kselftest_expected.rs";

/// The marker `ksft_leave_out.c` prints for a case it leaves out.
const LEFT_OUT: &str = "# kentry: left out ";

/// One run's reports: `(name, outcome)` per case in order, and the cases said left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reports {
    pub results: Vec<(String, Outcome)>,
    pub left_out: Vec<String>,
    /// The TAP plan (`1..N`).
    pub plan: Option<usize>,
}

/// Reads kselftest_harness.h's TAP: `#  RUN           NAME ...` names the case whose
/// `ok N NAME`, `not ok N NAME` or `ok N # SKIP reason` follows (a skip line carries no
/// name). Lines may carry a console's `\r`.
pub fn parse_tap(out: &str) -> Reports {
    let mut r = Reports::default();
    let mut running: Option<String> = None;
    for line in out.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(name) = line.strip_prefix(LEFT_OUT) {
            r.left_out.push(name.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("#  RUN ") {
            running = rest
                .trim()
                .strip_suffix("...")
                .map(|n| n.trim().to_string());
        } else if let Some(n) = line.strip_prefix("1..") {
            r.plan = n.trim().parse().ok();
        } else if let Some((ok, rest)) = tap_result(line) {
            let skip = rest.starts_with("# SKIP");
            let name = match (&running, skip) {
                (Some(n), _) => n.clone(),
                (None, false) => rest.to_string(),
                (None, true) => "(a SKIP with no RUN line)".to_string(),
            };
            let outcome = match (ok, skip) {
                (true, true) => Outcome::Skip,
                (true, false) => Outcome::Pass,
                (false, _) => Outcome::Fail,
            };
            r.results.push((name, outcome));
            running = None;
        }
    }
    r
}

/// `ok N rest` or `not ok N rest`: whether ok, and the rest.
fn tap_result(line: &str) -> Option<(bool, &str)> {
    let (ok, rest) = if let Some(r) = line.strip_prefix("ok ") {
        (true, r)
    } else {
        (false, line.strip_prefix("not ok ")?)
    };
    let (num, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    num.parse::<usize>().ok()?;
    Some((ok, rest.trim()))
}

/// The outcome of each case of `p` in a run: `None` for a case that did not report.
pub fn outcomes(p: &KsftProgram, status: u8, stdout: &str) -> (Vec<Option<Outcome>>, Reports) {
    match p.harness {
        Harness::Kselftest => {
            let r = parse_tap(stdout);
            let o = p
                .cases
                .iter()
                .map(|c| r.results.iter().find(|(n, _)| n == c.name).map(|(_, o)| *o))
                .collect();
            (o, r)
        }
        Harness::ExitStatus { pass_line } => {
            let pass = status == 0 && stdout.lines().any(|l| l.trim() == pass_line);
            let o = if pass { Outcome::Pass } else { Outcome::Fail };
            (vec![Some(o)], Reports::default())
        }
    }
}

/// Judges a run of `p` on kentry that ended with shell status `status`, `left_out` being the
/// cases the runner left out (`kselftest_expected::left_out`).
pub fn judge(
    p: &KsftProgram,
    left_out: &[&KsftCase],
    status: u8,
    stdout: &[u8],
    stderr: &[u8],
) -> Judgement {
    let out = String::from_utf8_lossy(stdout);
    let (seen, reports) = outcomes(p, status, &out);
    let mut problems = Vec::new();
    let is_left_out = |c: &KsftCase| left_out.iter().any(|l| l.name == c.name);
    for (c, got) in p.cases.iter().zip(&seen) {
        match (is_left_out(c), got) {
            (true, None) => {
                if !reports.left_out.iter().any(|n| n == c.name) {
                    problems.push(format!("{}: left out, and the run did not say so", c.name));
                }
            }
            (true, Some(o)) => problems.push(format!(
                "{}: ran ({}) though it should have been left out",
                c.name,
                o.word()
            )),
            (false, None) => problems.push(format!("{}: no result", c.name)),
            (false, Some(o)) if *o == c.kentry => {}
            // A known flaky case may also pass (and says so in the verdict).
            (false, Some(Outcome::Pass)) if !c.flaky.is_empty() => {}
            (false, Some(o)) if c.kentry == Outcome::Pass => problems.push(format!(
                "{}: {} where it passed before (regression)",
                c.name,
                o.word()
            )),
            (false, Some(o)) => problems.push(format!(
                "{}: {} where {TABLE} records {} ({}): update the table if this is progress",
                c.name,
                o.word(),
                c.kentry.word(),
                c.why
            )),
        }
    }
    if p.harness == Harness::Kselftest {
        for (name, o) in &reports.results {
            if !p.cases.iter().any(|c| c.name == name) {
                problems.push(format!(
                    "{name}: {}, a case {TABLE} does not know",
                    o.word()
                ));
            }
        }
        let ran = p.cases.len() - left_out.len();
        if reports.plan != Some(ran) || reports.results.len() != ran {
            problems.push(format!(
                "plan {:?} and {} results, {ran} expected",
                reports.plan,
                reports.results.len()
            ));
        }
        // ksft_exit: 0 when every case that ran passed (a SKIP passes), else 1.
        let any_fail = seen.iter().flatten().any(|o| *o == Outcome::Fail);
        let want = u8::from(any_fail);
        if status != want {
            problems.push(format!(
                "status {}, {want} expected from its results",
                status_name(i32::from(status))
            ));
        }
    }
    if !problems.is_empty() {
        let err = String::from_utf8_lossy(stderr);
        let first_err = err.lines().find(|l| !l.trim().is_empty());
        let mut why = problems.join("; ");
        if let Some(l) = first_err {
            why.push_str(&format!(" (stderr begins: {})", l.trim()));
        }
        return Judgement::Fail(why);
    }
    let mut verdict = summarise(p, left_out);
    // A flaky case that ended otherwise than recorded: named, so it is seen.
    for (c, got) in p.cases.iter().zip(&seen) {
        if let Some(o) = got
            && *o != c.kentry
        {
            let note = format!("; {}: {} this run ({})", c.name, o.word(), c.flaky);
            match &mut verdict {
                Judgement::Pass(s) | Judgement::Skip(s) | Judgement::Fail(s) => s.push_str(&note),
            }
        }
    }
    verdict
}

/// The verdict on a run that matched the table: a pass only if every case passes on kentry
/// as on Linux; otherwise a skip that counts each kind of shortfall with its reason.
fn summarise(p: &KsftProgram, left_out: &[&KsftCase]) -> Judgement {
    let ran: Vec<&KsftCase> = p
        .cases
        .iter()
        .filter(|c| !left_out.iter().any(|l| l.name == c.name))
        .collect();
    let count = |o: Outcome| ran.iter().filter(|c| c.kentry == o).count();
    let mut s = format!(
        "as recorded in {TABLE}: {} pass, {} fail, {} skip",
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::Skip)
    );
    if !left_out.is_empty() {
        let gaps: Vec<&str> = left_out
            .iter()
            .filter_map(|c| c.hangs_without.map(Need::gap))
            .collect();
        s.push_str(&format!(
            ", {} not run (they cannot end without: {})",
            left_out.len(),
            dedup(gaps).join("; ")
        ));
    }
    let short: Vec<&KsftCase> = ran
        .iter()
        .copied()
        .filter(|c| c.kentry != Outcome::Pass)
        .collect();
    if short.is_empty() && left_out.is_empty() {
        return Judgement::Pass(s);
    }
    // Counted by the reason's first clause (`kentry gap: no ptrace (issue 11)`); the table
    // has the rest.
    let mut reasons: Vec<(&str, usize)> = Vec::new();
    for c in &short {
        let head = first_clause(c.why);
        match reasons.iter_mut().find(|(w, _)| *w == head) {
            Some((_, n)) => *n += 1,
            None => reasons.push((head, 1)),
        }
    }
    let list: Vec<String> = reasons.iter().map(|(w, n)| format!("{n}× {w}")).collect();
    if !list.is_empty() {
        s.push_str(&format!("; not passing: {}", list.join("; ")));
    }
    Judgement::Skip(s)
}

/// `kentry gap: X` of `kentry gap: X: details` or `kentry gap: X; more`.
fn first_clause(why: &str) -> &str {
    let body = why.find(": ").map_or(0, |i| i + 2);
    // The first ':' or ';' outside parentheses.
    let mut depth = 0i32;
    let end = why[body..]
        .char_indices()
        .find(|&(_, ch)| {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            depth == 0 && (ch == ':' || ch == ';')
        })
        .map_or(why.len(), |(i, _)| body + i);
    &why[..end]
}

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::super::expected::Capability;
    use super::super::kselftest_expected::KsftCase;
    use super::super::x86_gated::Need;
    use super::*;

    const CASES: &[KsftCase] = &[
        KsftCase {
            name: "global.a",
            linux: Outcome::Pass,
            kentry: Outcome::Pass,
            hangs_without: None,
            why: "",
            flaky: "",
        },
        KsftCase {
            name: "global.b",
            linux: Outcome::Pass,
            kentry: Outcome::Fail,
            hangs_without: None,
            why: "kentry gap: b",
            flaky: "",
        },
        KsftCase {
            name: "F.v.c",
            linux: Outcome::Pass,
            kentry: Outcome::Pass,
            hangs_without: Some(Need::Has(Capability::Ptrace)),
            why: "kentry gap: no ptrace (issue 11): loops",
            flaky: "",
        },
    ];
    const P: KsftProgram = KsftProgram {
        dir: "d",
        name: "p",
        harness: Harness::Kselftest,
        cflags: &[],
        libcap: false,
        busybox_applets: &[],
        musl_not_run: None,
        cases: CASES,
    };

    fn tap(a: &str, b: &str) -> String {
        format!(
            "# kentry: left out F.v.c\nTAP version 13\n1..2\n\
             #  RUN           global.a ...\n#            OK  global.a\n{a} 1 global.a\n\
             #  RUN           global.b ...\n#          FAIL  global.b\n{b} 2 global.b\n"
        )
    }

    fn left() -> Vec<&'static KsftCase> {
        vec![&CASES[2]]
    }

    #[test]
    fn reads_names_skips_and_plan() {
        let out = "1..3\n#  RUN           global.k ...\nok 1 # SKIP no kcmp\n\
                   #  RUN           T.v.x ...\r\nnot ok 2 T.v.x\r\nok 3 global.y\n";
        let r = parse_tap(out);
        assert_eq!(r.plan, Some(3));
        assert_eq!(
            r.results,
            [
                ("global.k".to_string(), Outcome::Skip),
                ("T.v.x".to_string(), Outcome::Fail),
                ("global.y".to_string(), Outcome::Pass),
            ]
        );
    }

    #[test]
    fn the_recorded_outcomes_are_a_skip_naming_the_gaps() {
        match judge(&P, &left(), 1, tap("ok", "not ok").as_bytes(), b"") {
            Judgement::Skip(s) => {
                assert!(s.contains("1 pass, 1 fail, 0 skip"), "{s}");
                assert!(s.contains("1 not run") && s.contains("no ptrace"), "{s}");
                assert!(s.contains("1× kentry gap: b"), "{s}");
            }
            other => panic!("{other:?}"),
        }
    }

    fn fail(j: Judgement) -> String {
        match j {
            Judgement::Fail(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reasons_are_counted_by_their_first_clause() {
        assert_eq!(
            first_clause("kentry gap: no ptrace (issue 11): PTRACE_ATTACH loops"),
            "kentry gap: no ptrace (issue 11)"
        );
        assert_eq!(first_clause("kentry gap: a; b"), "kentry gap: a");
        assert_eq!(first_clause("harness: one CPU"), "harness: one CPU");
        assert_eq!(
            first_clause("kentry gap: a (b: c); d"),
            "kentry gap: a (b: c)"
        );
    }

    #[test]
    fn a_flaky_case_may_pass_and_says_so() {
        const FLAKY: &[KsftCase] = &[
            CASES[0],
            KsftCase {
                flaky: "kentry bug: a race",
                ..CASES[1]
            },
        ];
        let p = KsftProgram { cases: FLAKY, ..P };
        // As recorded (fail): no note.
        match judge(
            &p,
            &[],
            1,
            tap("ok", "not ok")
                .replace("# kentry: left out F.v.c\n", "")
                .as_bytes(),
            b"",
        ) {
            Judgement::Skip(s) => assert!(!s.contains("this run"), "{s}"),
            other => panic!("{other:?}"),
        }
        // Passing this time: accepted, and named.
        match judge(
            &p,
            &[],
            0,
            tap("ok", "ok")
                .replace("# kentry: left out F.v.c\n", "")
                .as_bytes(),
            b"",
        ) {
            Judgement::Skip(s) => assert!(
                s.contains("global.b: pass this run (kentry bug: a race)"),
                "{s}"
            ),
            other => panic!("{other:?}"),
        }
        // Still a regression for the others.
        let why = fail(judge(
            &p,
            &[],
            1,
            tap("not ok", "ok")
                .replace("# kentry: left out F.v.c\n", "")
                .as_bytes(),
            b"",
        ));
        assert!(
            why.contains("global.a: FAIL where it passed before"),
            "{why}"
        );
    }

    #[test]
    fn a_regression_fails() {
        let why = fail(judge(
            &P,
            &left(),
            1,
            tap("not ok", "not ok").as_bytes(),
            b"",
        ));
        assert!(
            why.contains("global.a: FAIL where it passed before"),
            "{why}"
        );
    }

    #[test]
    fn unrecorded_progress_fails() {
        let why = fail(judge(&P, &left(), 0, tap("ok", "ok").as_bytes(), b""));
        assert!(
            why.contains("global.b: pass where") && why.contains(TABLE),
            "{why}"
        );
    }

    #[test]
    fn a_missing_case_a_crash_or_an_unknown_case_fails() {
        let cut = "# kentry: left out F.v.c\n1..2\n#  RUN           global.a ...\nok 1 global.a\n";
        let why = fail(judge(&P, &left(), 139, cut.as_bytes(), b""));
        assert!(
            why.contains("global.b: no result") && why.contains("SIGSEGV"),
            "{why}"
        );
        let extra = tap("ok", "not ok") + "#  RUN           global.z ...\nok 3 global.z\n";
        assert!(fail(judge(&P, &left(), 1, extra.as_bytes(), b"")).contains("global.z"));
    }

    #[test]
    fn a_left_out_case_must_be_said_and_not_run() {
        let silent = tap("ok", "not ok").replace("# kentry: left out F.v.c\n", "");
        let why = fail(judge(&P, &left(), 1, silent.as_bytes(), b""));
        assert!(
            why.contains("F.v.c: left out, and the run did not say so"),
            "{why}"
        );
        // Once kentry has the capability nothing is left out: then it must report.
        let why = fail(judge(&P, &[], 1, tap("ok", "not ok").as_bytes(), b""));
        assert!(why.contains("F.v.c: no result"), "{why}");
    }

    #[test]
    fn a_plain_program_is_judged_by_status_and_line() {
        const PLAIN: KsftProgram = KsftProgram {
            harness: Harness::ExitStatus { pass_line: "PASS" },
            cases: &[KsftCase {
                name: "plain",
                linux: Outcome::Pass,
                kentry: Outcome::Pass,
                hangs_without: None,
                why: "",
                flaky: "",
            }],
            ..P
        };
        assert!(matches!(
            judge(&PLAIN, &[], 0, b"PASS\n", b""),
            Judgement::Pass(_)
        ));
        assert!(fail(judge(&PLAIN, &[], 1, b"", b"")).contains("FAIL where it passed"));
        assert!(fail(judge(&PLAIN, &[], 0, b"", b"")).contains("FAIL where it passed"));
    }
}

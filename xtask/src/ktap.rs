//! A KTAP (version 1) parser for the serial log and for the output of user programs.
//!
//! The grammar, as far as kentry uses it:
//! - `KTAP version 1`, then a plan `1..N` (the plan may also come after the results), then one
//!   result line per test: `ok N name`, `not ok N name`, `ok N name # SKIP reason`.
//! - A test may have subtests: their KTAP is indented by four more spaces than the parent's and
//!   comes before the parent's result line. The kernel announces a manifest entry with
//!   `# Subtest: name` at its own level and indents the program's output (the kselftest form,
//!   where `# Subtest:` is the first line of the indented block, is read too).
//! - Any other line (kernel log lines, diagnostics, program output) is kept but not interpreted.
//!
//! [`Suite::tally`] counts leaf results and turns every inconsistency (a plan that does not
//! match the results, a nested block that never got its result line, a `Bail out!`) into failures.

use std::collections::BTreeMap;
use std::fmt;

/// The verdict of one result line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// `# SKIP` (or `# TODO`, an expected failure): counted as skipped.
    Skip,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "ok",
            Outcome::Fail => "not ok",
            Outcome::Skip => "skip",
        })
    }
}

/// One result line, with the nested KTAP that preceded it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub number: Option<u64>,
    pub name: String,
    pub outcome: Outcome,
    /// The text after ` # `, e.g. `SKIP no SMAP under TCG`.
    pub directive: Option<String>,
    /// The indented block before this result line (empty if the test printed nothing).
    pub subtests: Suite,
    /// True for results the parser made up for a nested block that never got a result line.
    pub synthetic: bool,
}

/// One level of KTAP: a plan and its results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suite {
    /// The name from `# Subtest: name`.
    pub name: Option<String>,
    pub version_seen: bool,
    pub plan: Option<u64>,
    pub results: Vec<TestCase>,
    /// Inconsistencies found while parsing; each one counts as a failure.
    pub problems: Vec<String>,
    /// Every line of this block (and deeper ones), with this block's indentation removed.
    pub lines: Vec<String>,
}

/// Test counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// Leaf counts and the failures behind them, each described by a `parent/child` path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub counts: Counts,
    pub failures: Vec<String>,
    /// Oddities that do not fail anything (e.g. results numbered out of order).
    pub notes: Vec<String>,
}

impl Tally {
    fn fail(&mut self, why: String) {
        self.counts.failed += 1;
        self.failures.push(why);
    }
}

/// How a line reads.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    Version,
    Plan(u64),
    Result(TestCase),
    Subtest(&'a str),
    BailOut(&'a str),
    Other,
}

/// Parses a whole log. Never fails: what cannot be understood is either ignored (lines that are
/// not KTAP) or recorded as a problem of the suite it appears in.
pub fn parse(text: &str) -> Suite {
    let mut p = Parser {
        stack: vec![Suite::default()],
    };
    for raw in text.lines() {
        p.line(raw.trim_end_matches('\r'));
    }
    p.finish()
}

struct Parser {
    /// `stack[k]` is the open suite at indentation level `k` (4·k spaces).
    stack: Vec<Suite>,
}

impl Parser {
    fn depth(&self) -> usize {
        self.stack.len() - 1
    }

    fn line(&mut self, raw: &str) {
        let spaces = raw.len() - raw.trim_start_matches(' ').len();
        let level = spaces / 4;
        let content = raw.trim();
        // Keep the raw text in every open block the line belongs to.
        let keep_to = level.min(self.depth());
        for (k, suite) in self.stack.iter_mut().enumerate().take(keep_to + 1) {
            suite.lines.push(raw[(4 * k).min(spaces)..].to_string());
        }
        match classify(content) {
            Line::Other => {}
            Line::Version => {
                self.close_deeper_than(level);
                self.open_to(level);
                let cur = &self.stack[level];
                let occupied = cur.version_seen || cur.plan.is_some() || !cur.results.is_empty();
                if !occupied {
                    self.stack[level].version_seen = true;
                } else if level == 0 {
                    self.stack[0]
                        .problems
                        .push("a second `KTAP version` line".into());
                } else {
                    // A new nested document: the previous one never got its result line.
                    self.close_deeper_than(level - 1);
                    self.open_to(level);
                    self.stack[level].version_seen = true;
                }
            }
            Line::Plan(n) => {
                self.close_deeper_than(level);
                self.open_to(level);
                let cur = &mut self.stack[level];
                if cur.plan.is_some() {
                    cur.problems.push(format!("a second plan line `1..{n}`"));
                } else {
                    cur.plan = Some(n);
                }
            }
            Line::Subtest(name) => {
                let fresh = level >= 1
                    && level == self.depth()
                    && self.stack[level].plan.is_none()
                    && self.stack[level].results.is_empty();
                if fresh {
                    // kselftest form: the header is inside the indented block.
                    let cur = &mut self.stack[level];
                    if cur.name.is_none() {
                        cur.name = Some(name.to_string());
                    }
                } else {
                    // kentry form: the header is at the parent's level; the block follows.
                    self.close_deeper_than(level);
                    self.open_to(level);
                    self.stack.push(Suite {
                        name: Some(name.to_string()),
                        ..Suite::default()
                    });
                }
            }
            Line::Result(mut case) => {
                // The block one level deeper, if still open, belongs to this result.
                self.close_deeper_than(level + 1);
                if self.depth() == level + 1 {
                    case.subtests = self.stack.pop().unwrap_or_default();
                }
                self.open_to(level);
                self.stack[level].results.push(case);
            }
            Line::BailOut(why) => {
                self.close_deeper_than(level);
                self.open_to(level);
                self.stack[level].problems.push(format!(
                    "Bail out!{}{why}",
                    if why.is_empty() { "" } else { " " }
                ));
            }
        }
    }

    /// Opens implicit suites until `stack[level]` exists.
    fn open_to(&mut self, level: usize) {
        while self.depth() < level {
            self.stack.push(Suite::default());
        }
    }

    /// Closes the suites deeper than `level`: they ended without a result line, so each becomes
    /// a made-up failing result of its parent.
    fn close_deeper_than(&mut self, level: usize) {
        while self.depth() > level {
            let Some(suite) = self.stack.pop() else {
                return;
            };
            let parent = self.stack.len() - 1;
            let name = suite
                .name
                .clone()
                .unwrap_or_else(|| "(unnamed subtest)".into());
            self.stack[parent].results.push(TestCase {
                number: None,
                name,
                outcome: Outcome::Fail,
                directive: Some("no result line after its output".into()),
                subtests: suite,
                synthetic: true,
            });
        }
    }

    fn finish(mut self) -> Suite {
        self.close_deeper_than(0);
        self.stack.pop().unwrap_or_default()
    }
}

fn classify(content: &str) -> Line<'_> {
    if let Some(v) = content
        .strip_prefix("KTAP version ")
        .or_else(|| content.strip_prefix("TAP version "))
        && v.trim().parse::<u32>().is_ok()
    {
        return Line::Version;
    }
    if let Some(rest) = content.strip_prefix("1..") {
        let digits = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("");
        let tail = rest[digits.len()..].trim_start();
        if let Ok(n) = digits.parse::<u64>()
            && (tail.is_empty() || tail.starts_with('#'))
        {
            return Line::Plan(n);
        }
    }
    if let Some(name) = content.strip_prefix("# Subtest:") {
        return Line::Subtest(name.trim());
    }
    if let Some(why) = content.strip_prefix("Bail out!") {
        return Line::BailOut(why.trim());
    }
    let (outcome, rest) = if let Some(rest) = content.strip_prefix("not ok") {
        (Outcome::Fail, rest)
    } else if let Some(rest) = content.strip_prefix("ok") {
        (Outcome::Pass, rest)
    } else {
        return Line::Other;
    };
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return Line::Other; // e.g. "okay"
    }
    let rest = rest.trim_start();
    let (number, rest) = match rest.split_once(' ') {
        Some((n, r)) if n.parse::<u64>().is_ok() => (n.parse().ok(), r),
        None if rest.parse::<u64>().is_ok() => (rest.parse().ok(), ""),
        _ => (None, rest),
    };
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("- ").unwrap_or(rest);
    let (name, directive) = if let Some(d) = rest.strip_prefix('#') {
        ("", Some(d.trim()))
    } else if let Some((n, d)) = rest.split_once(" # ") {
        (n, Some(d.trim()))
    } else {
        (rest, None)
    };
    let mut outcome = outcome;
    if let Some(d) = directive {
        let word = d
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if word == "SKIP" || word == "TODO" {
            outcome = Outcome::Skip;
        }
    }
    Line::Result(TestCase {
        number,
        name: name.trim().to_string(),
        outcome,
        directive: directive.map(str::to_string),
        subtests: Suite::default(),
        synthetic: false,
    })
}

impl Suite {
    /// Whether this block holds any KTAP (as opposed to plain output or nothing).
    pub fn has_ktap(&self) -> bool {
        self.version_seen
            || self.plan.is_some()
            || !self.results.is_empty()
            || !self.problems.is_empty()
    }

    /// The first result with this name.
    pub fn find(&self, name: &str) -> Option<&TestCase> {
        self.results.iter().find(|r| r.name == name)
    }

    /// Whether every result, at every level, is ok or skipped and the plans hold.
    pub fn all_ok(&self) -> bool {
        self.tally_top().counts.failed == 0
    }

    /// Counts the leaf results of a top-level document: a missing plan is a failure, and so is
    /// a log without any KTAP.
    pub fn tally_top(&self) -> Tally {
        let mut t = Tally::default();
        if !self.has_ktap() {
            t.fail("no KTAP output".into());
            return t;
        }
        self.tally_into("", &mut t);
        t
    }

    fn tally_into(&self, prefix: &str, t: &mut Tally) {
        let at = |what: &str| {
            if prefix.is_empty() {
                what.to_string()
            } else {
                format!("{prefix}: {what}")
            }
        };
        for p in &self.problems {
            t.fail(at(p));
        }
        let have = self.results.len() as u64;
        match self.plan {
            None => t.fail(at("no plan line (`1..N`)")),
            Some(n) if have < n => {
                let missing = n - have;
                t.counts.failed += missing;
                t.failures.push(at(&format!(
                    "{missing} of {n} planned results missing (counted as failures)"
                )));
            }
            Some(n) if have > n => t.fail(at(&format!("plan says 1..{n} but {have} results"))),
            Some(_) => {}
        }
        for (i, r) in self.results.iter().enumerate() {
            if let Some(num) = r.number
                && num != i as u64 + 1
                && !r.synthetic
            {
                // Numbering is checked loosely: a wrong number is reported, the result counts.
                t.notes.push(format!(
                    "{}: result number {num}, expected {}",
                    join(prefix, &r.name),
                    i + 1
                ));
            }
            let path = join(prefix, &r.name);
            if r.subtests.has_ktap() {
                let before = t.counts.failed;
                r.subtests.tally_into(&path, t);
                if r.outcome == Outcome::Fail && t.counts.failed == before {
                    // e.g. a program whose results were all ok but whose exit status was wrong.
                    t.fail(describe(&path, r));
                }
            } else {
                match r.outcome {
                    Outcome::Pass => t.counts.passed += 1,
                    Outcome::Skip => t.counts.skipped += 1,
                    Outcome::Fail => t.fail(describe(&path, r)),
                }
            }
        }
    }

    /// The leaf results by `parent/child` path (a repeated name gets a `#2`, `#3`… suffix).
    pub fn leaves(&self) -> BTreeMap<String, Outcome> {
        let mut out = BTreeMap::new();
        self.leaves_into("", &mut out);
        out
    }

    fn leaves_into(&self, prefix: &str, out: &mut BTreeMap<String, Outcome>) {
        for r in &self.results {
            let mut path = join(prefix, &r.name);
            let mut n = 1;
            while out.contains_key(&path) {
                n += 1;
                path = format!("{}#{n}", join(prefix, &r.name));
            }
            if r.subtests.results.is_empty() {
                out.insert(path, r.outcome);
            } else {
                r.subtests.leaves_into(&path, out);
            }
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

fn describe(path: &str, r: &TestCase) -> String {
    match &r.directive {
        Some(d) => format!("{path}: not ok ({d})"),
        None => format!("{path}: not ok"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(text: &str) -> Counts {
        parse(text).tally_top().counts
    }

    fn c(passed: u64, failed: u64, skipped: u64) -> Counts {
        Counts {
            passed,
            failed,
            skipped,
        }
    }

    #[test]
    fn flat_results() {
        let log = "\
[kentry] boot
KTAP version 1
1..3
ok 1 gdt_layout
[kentry] some log line
not ok 2 syscall_regs
ok 3 smap_lret # SKIP TCG reads the stack as a supervisor access
[kentry] power off: v=1
";
        let s = parse(log);
        assert_eq!(s.plan, Some(3));
        assert_eq!(s.results.len(), 3);
        assert_eq!(s.results[2].outcome, Outcome::Skip);
        assert_eq!(s.results[2].name, "smap_lret");
        assert_eq!(
            s.results[2].directive.as_deref(),
            Some("SKIP TCG reads the stack as a supervisor access")
        );
        let t = s.tally_top();
        assert_eq!(t.counts, c(1, 1, 1));
        assert_eq!(t.failures, vec!["syscall_regs: not ok".to_string()]);
    }

    #[test]
    fn nested_kentry_form() {
        let log = "\
KTAP version 1
1..3
ok 1 kernel_selftest
# Subtest: sigsegv
    KTAP version 1
    1..2
    ok 1 fault_addr
    ok 2 si_code
ok 2 sigsegv
# Subtest: hello
    hello, world
[kentry] interleaved kernel line
ok 3 hello
";
        let s = parse(log);
        assert_eq!(s.results.len(), 3);
        let sig = s.find("sigsegv").unwrap();
        assert_eq!(sig.subtests.name.as_deref(), Some("sigsegv"));
        assert_eq!(sig.subtests.results.len(), 2);
        assert_eq!(
            sig.subtests.lines,
            vec!["KTAP version 1", "1..2", "ok 1 fault_addr", "ok 2 si_code"]
        );
        let hello = s.find("hello").unwrap();
        assert!(!hello.subtests.has_ktap());
        assert_eq!(hello.subtests.lines, vec!["hello, world"]);
        // Leaves: the kernel self-test, two nested results, and hello without KTAP.
        assert_eq!(s.tally_top().counts, c(4, 0, 0));
        let leaves = s.leaves();
        assert_eq!(leaves.get("sigsegv/si_code"), Some(&Outcome::Pass));
        assert_eq!(leaves.get("hello"), Some(&Outcome::Pass));
        assert_eq!(leaves.len(), 4);
    }

    #[test]
    fn nested_kselftest_form_and_deeper() {
        let log = "\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: outer
    1..2
        KTAP version 1
        # Subtest: inner
        1..2
        ok 1 a
        ok 2 b # skip not here
    ok 1 inner
    not ok 2 other
not ok 1 outer
";
        let s = parse(log);
        let outer = s.find("outer").unwrap();
        assert_eq!(outer.subtests.name.as_deref(), Some("outer"));
        assert_eq!(
            outer.subtests.find("inner").unwrap().subtests.results.len(),
            2
        );
        let t = s.tally_top();
        assert_eq!(t.counts, c(1, 1, 1));
        assert_eq!(t.failures, vec!["outer/other: not ok".to_string()]);
        assert_eq!(s.leaves().get("outer/inner/b"), Some(&Outcome::Skip));
    }

    #[test]
    fn parent_failure_with_passing_children_counts() {
        // The program's results were fine but it exited with the wrong status.
        let log = "\
KTAP version 1
1..1
# Subtest: prog
    KTAP version 1
    1..1
    ok 1 only
not ok 1 prog # exit status 1, expected 0
";
        let t = parse(log).tally_top();
        assert_eq!(t.counts, c(1, 1, 0));
        assert_eq!(t.failures, vec!["prog: not ok (exit status 1, expected 0)"]);
    }

    #[test]
    fn missing_results_are_failures() {
        // The kernel died during test 3 of 5.
        let log = "\
KTAP version 1
1..5
ok 1 a
ok 2 b
[kentry] PANIC at kernel/src/x.rs:1
[kentry] power off: v=2
";
        let t = parse(log).tally_top();
        assert_eq!(t.counts, c(2, 3, 0));
        assert!(t.failures[0].contains("3 of 5 planned results missing"));
    }

    #[test]
    fn nested_block_without_result_line() {
        // The program was running when the kernel crashed: its block never closed.
        let log = "\
KTAP version 1
1..2
ok 1 a
# Subtest: prog
    KTAP version 1
    1..3
    ok 1 x
";
        let s = parse(log);
        assert_eq!(s.results.len(), 2);
        assert!(s.results[1].synthetic);
        let t = s.tally_top();
        // a and x pass; two of prog's three results are missing.
        assert_eq!(t.counts, c(2, 2, 0));
    }

    #[test]
    fn plan_mismatch() {
        let t = parse("KTAP version 1\n1..1\nok 1 a\nok 2 b\n").tally_top();
        assert_eq!(t.counts, c(2, 1, 0));
        assert!(t.failures[0].contains("plan says 1..1 but 2 results"));

        let nested = "\
KTAP version 1
1..1
# Subtest: p
    KTAP version 1
    1..3
    ok 1 x
    ok 2 y
ok 1 p
";
        let t = parse(nested).tally_top();
        assert_eq!(t.counts, c(2, 1, 0));
        assert!(t.failures[0].starts_with("p: 1 of 3 planned results missing"));
    }

    #[test]
    fn trailing_plan_and_no_plan() {
        assert_eq!(counts("KTAP version 1\nok 1 a\nok 2 b\n1..2\n"), c(2, 0, 0));
        let t = parse("KTAP version 1\nok 1 a\n").tally_top();
        assert_eq!(t.counts, c(1, 1, 0));
        assert!(t.failures[0].contains("no plan line"));
    }

    #[test]
    fn no_ktap_at_all() {
        let t = parse("[kentry] triple fault?\n").tally_top();
        assert_eq!(t.counts, c(0, 1, 0));
        assert_eq!(t.failures, vec!["no KTAP output"]);
        assert_eq!(counts(""), c(0, 1, 0));
    }

    #[test]
    fn skip_plan_and_todo_and_bail_out() {
        assert_eq!(
            counts("KTAP version 1\n1..0 # SKIP nothing to do\n"),
            c(0, 0, 0)
        );
        assert_eq!(
            counts("KTAP version 1\n1..2\nnot ok 1 x # TODO known\nok 2 - y\n"),
            c(1, 0, 1)
        );
        let t = parse("KTAP version 1\n1..1\nBail out! no memory\n").tally_top();
        assert_eq!(t.counts, c(0, 2, 0));
        assert_eq!(t.failures[0], "Bail out! no memory");
    }

    #[test]
    fn result_line_forms() {
        let r = |s: &str| match classify(s) {
            Line::Result(r) => r,
            other => panic!("{s:?} read as {other:?}"),
        };
        assert_eq!(r("ok 7 name with spaces").name, "name with spaces");
        assert_eq!(r("ok 7 name with spaces").number, Some(7));
        assert_eq!(r("ok 1 - dash").name, "dash");
        assert_eq!(r("not ok 2").name, "");
        assert_eq!(r("ok 3 x # SKIP").outcome, Outcome::Skip);
        assert_eq!(r("ok 3 x # skip lower").outcome, Outcome::Skip);
        assert_eq!(r("not ok 3 x # note").outcome, Outcome::Fail);
        assert_eq!(r("ok 3 x # note").directive.as_deref(), Some("note"));
        assert_eq!(r("ok name_only").number, None);
        assert_eq!(classify("okay then"), Line::Other);
        assert_eq!(classify("1..x"), Line::Other);
        assert_eq!(classify("1..4 # two skipped"), Line::Plan(4));
        assert_eq!(classify("# Subtest: abc"), Line::Subtest("abc"));
        assert_eq!(classify("# diagnostic"), Line::Other);
    }

    #[test]
    fn crlf_and_odd_indentation() {
        let log = "KTAP version 1\r\n1..1\r\n# Subtest: p\r\n      weird indent\r\nok 1 p\r\n";
        let s = parse(log);
        assert_eq!(s.tally_top().counts, c(1, 0, 0));
        assert_eq!(s.results[0].subtests.lines, vec!["  weird indent"]);
    }

    #[test]
    fn wrong_numbers_are_notes_only() {
        let t = parse("KTAP version 1\n1..2\nok 1 a\nok 3 b\n").tally_top();
        assert_eq!(t.counts, c(2, 0, 0));
        assert!(t.failures.is_empty());
        assert_eq!(t.notes, vec!["b: result number 3, expected 2"]);
    }
}

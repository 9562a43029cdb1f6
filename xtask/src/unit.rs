//! Host unit tests (`cargo test -p <package>`), counted from libtest's summary lines.

use anyhow::{Context, Result};

use crate::ktap::Counts;
use crate::workspace::Workspace;

/// The result of one `cargo test` invocation.
#[derive(Debug, Clone, Default)]
pub struct UnitRun {
    pub counts: Counts,
    /// Failures by name, plus a line when cargo itself failed without counting a failed test
    /// (e.g. a build error).
    pub failures: Vec<String>,
    /// cargo's whole output, for when something failed.
    pub output: String,
}

/// Runs `cargo test -p <package>` and counts its tests.
pub fn run(ws: &Workspace, package: &str) -> Result<UnitRun> {
    eprintln!("xtask: cargo test -p {package}");
    let out = ws
        .cargo()
        .args(["test", "-p", package])
        .output()
        .with_context(|| format!("running cargo test -p {package}"))?;
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    let (counts, summaries) = parse_summaries(&output);
    let mut run = UnitRun {
        counts,
        failures: failed_tests(&output)
            .into_iter()
            .map(|t| format!("cargo test -p {package}: {t}"))
            .collect(),
        output,
    };
    if !out.status.success() && run.counts.failed == 0 {
        run.counts.failed += 1;
        run.failures.push(format!(
            "cargo test -p {package} failed ({}) {}",
            out.status,
            if summaries == 0 {
                "before running any test (build error?)"
            } else {
                "although no test failed"
            }
        ));
    }
    Ok(run)
}

/// Sums `test result: ok. N passed; M failed; K ignored; …` lines (one per test binary and
/// one for doc tests); returns the counts and how many summary lines there were.
pub fn parse_summaries(output: &str) -> (Counts, usize) {
    let mut c = Counts::default();
    let mut n = 0;
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        let Some((_verdict, fields)) = rest.split_once(". ") else {
            continue;
        };
        n += 1;
        for field in fields.split(';') {
            let mut words = field.split_whitespace();
            let (Some(num), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(num) = num.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => c.passed += num,
                "failed" => c.failed += num,
                "ignored" => c.skipped += num,
                _ => {}
            }
        }
    }
    (c, n)
}

/// The names of failed tests (`test path::name ... FAILED`).
pub fn failed_tests(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| {
            let name = l
                .trim()
                .strip_prefix("test ")?
                .strip_suffix(" ... FAILED")?;
            Some(name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
   Compiling kentry v0.1.0 (/work/main/entry)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.2s
     Running unittests src/lib.rs (target/debug/deps/kentry-0123)

running 5 tests
test frame::layout ... ok
test ct::state ... FAILED
test slow ... ignored
test result: FAILED. 3 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

     Running tests/abi.rs (target/debug/deps/abi-4567)
test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.00s

   Doc-tests kentry
test result: ok. 0 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.00s
";

    #[test]
    fn sums_summaries() {
        let (c, n) = parse_summaries(OUTPUT);
        assert_eq!(n, 3);
        assert_eq!(
            c,
            Counts {
                passed: 10,
                failed: 1,
                skipped: 3
            }
        );
        assert_eq!(failed_tests(OUTPUT), vec!["ct::state"]);
    }

    #[test]
    fn ignores_other_lines() {
        let (c, n) = parse_summaries("test result: garbage\nerror[E0425]: cannot find value\n");
        assert_eq!((c, n), (Counts::default(), 0));
    }
}

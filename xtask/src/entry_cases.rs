//! The entry-case catalogue check, `entry_cases_catalogue` in `cargo xtask test`.
//!
//! The sources mark the places that handle a case of the entry-case catalogue with its tag,
//! `E` and two digits (docs/entry-cases.md). The check keeps the catalogue and the code in
//! step: every tag used in `entry/`, `kernel/`, `user/` or `xtask/` must have a row in the
//! catalogue's table, and every test a row names must exist — a kernel self-test, a manifest
//! entry, a boot test, a runner case, or a host unit test (`<package>::<path>` as
//! `cargo test -- --list` prints it), or the noinstr check (`noinstr_check`, on each kernel).
//! A name in the "negative run" column must be a boot test that turns a safety check off
//! (`kentry.break=`), or the noinstr check's negative run (`negative_noinstr_check`, a build
//! with a deliberate mistake). The names are collected from where the tests are defined, so a
//! renamed or deleted test shows up here.
//!
//! The table: a header row starting `| id |` with a `tests` and a `negative run` column, then
//! one row per case starting `| E<nn> |`. Test names go in backticks in those two columns; the
//! other columns are prose and are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::workspace::{ENTRY_PACKAGE, Workspace};

/// The name of the check's one result in `cargo xtask test`.
pub const TEST_NAME: &str = "entry_cases_catalogue";
/// The catalogue, relative to the workspace root.
pub const CATALOGUE: &str = "docs/entry-cases.md";
/// The directories whose files are searched for case tags.
const TAGGED_DIRS: &[&str] = &["entry", "kernel", "user", "xtask"];
/// Where the kernel self-tests are listed (`static …: &[SelfTest] = &[ … ];` tables).
const SELFTESTS: &str = "kernel/src/test/selftests.rs";
/// The crates whose host unit tests a row may name.
const HOST_PACKAGES: &[&str] = &[ENTRY_PACKAGE, "xtask"];

/// One case row of the catalogue's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    /// 1-based line in the catalogue.
    pub line: usize,
    pub tests: Vec<String>,
    pub negative: Vec<String>,
    /// `handled`, `partial` or `not handled`.
    pub status: String,
}

/// The statuses a row may have.
const STATUSES: [&str; 3] = ["handled", "partial", "not handled"];

/// A case tag found in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub id: String,
    /// `path:line`, for the message.
    pub place: String,
}

/// The test names that exist.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub tests: BTreeSet<String>,
    /// Boot tests that turn a safety check off: the negative runs.
    pub negative_runs: BTreeSet<String>,
}

/// Whether `s` is a case id: `E` and two digits.
fn is_case_id(s: &str) -> bool {
    is_case_id_bytes(s.as_bytes())
}

fn is_case_id_bytes(b: &[u8]) -> bool {
    b.len() == 3 && b[0] == b'E' && b[1].is_ascii_digit() && b[2].is_ascii_digit()
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The case tags in `text` (`E` and two digits standing as a word), with their 1-based lines.
pub fn find_tags(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let b = line.as_bytes();
        for at in 0..b.len().saturating_sub(2) {
            let before_ok = at == 0 || !is_word_byte(b[at - 1]);
            let after_ok = b.get(at + 3).is_none_or(|&c| !is_word_byte(c));
            // Compared as bytes: `at` may fall inside a multi-byte character.
            if before_ok && after_ok && is_case_id_bytes(&b[at..at + 3]) {
                found.push((line[at..at + 3].to_string(), i + 1));
            }
        }
    }
    found
}

/// Splits a table line into its cells (without the outer pipes); `\|` stays inside a cell.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => out.push(String::new()),
            _ => out.last_mut().unwrap().push(c),
        }
    }
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

/// The backticked spans of a cell; each must be a test name (letters, digits, `_`, `::`).
fn backticked(cell: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = cell.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return Err(format!("unbalanced backticks in {cell:?}"));
    }
    let mut names = Vec::new();
    for name in parts.iter().skip(1).step_by(2) {
        let plain = !name.is_empty()
            && name
                .split("::")
                .all(|seg| !seg.is_empty() && seg.bytes().all(is_word_byte));
        if !plain {
            return Err(format!("`{name}` is not a test name"));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// Reads the catalogue's table. Problems (a missing header, a row with the wrong number of
/// cells, a duplicate id, a malformed name) are returned with the rows that did parse.
pub fn parse_catalogue(text: &str) -> (Vec<Row>, Vec<String>) {
    let mut rows: Vec<Row> = Vec::new();
    let mut problems = Vec::new();
    let mut columns: Option<(usize, usize, usize, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if !line.trim_start().starts_with('|') {
            continue;
        }
        let c = cells(line);
        if c.first().map(String::as_str) == Some("id") {
            let find = |name: &str| c.iter().position(|h| h == name);
            match (find("tests"), find("negative run"), find("status")) {
                (Some(t), Some(n), Some(s)) => columns = Some((c.len(), t, n, s)),
                _ => problems.push(format!(
                    "{CATALOGUE} line {line_no}: the header lacks a `tests`, `negative run` or `status` column"
                )),
            }
            continue;
        }
        let Some(id) = c.first().filter(|id| is_case_id(id)) else {
            continue;
        };
        let Some((width, tests_col, negative_col, status_col)) = columns else {
            problems.push(format!(
                "{CATALOGUE} line {line_no}: row {id} comes before the `| id |` header"
            ));
            continue;
        };
        if c.len() != width {
            problems.push(format!(
                "{CATALOGUE} line {line_no}: row {id} has {} cells, the header {width}",
                c.len()
            ));
            continue;
        }
        if let Some(prev) = rows.iter().find(|r| &r.id == id) {
            problems.push(format!(
                "{CATALOGUE} line {line_no}: a second row for {id} (first on line {})",
                prev.line
            ));
            continue;
        }
        let (tests, negative) = match (backticked(&c[tests_col]), backticked(&c[negative_col])) {
            (Ok(t), Ok(n)) => (t, n),
            (Err(e), _) | (_, Err(e)) => {
                problems.push(format!("{CATALOGUE} line {line_no}: row {id}: {e}"));
                continue;
            }
        };
        rows.push(Row {
            id: id.clone(),
            line: line_no,
            tests,
            negative,
            status: c[status_col].trim().to_string(),
        });
    }
    if columns.is_none() {
        problems.push(format!(
            "{CATALOGUE} has no table header `| id | … | tests | … | negative run | … |`"
        ));
    }
    (rows, problems)
}

/// Everything wrong with the catalogue against the tags and the tests that exist.
pub fn check(rows: &[Row], tags: &[Tag], known: &Known) -> Vec<String> {
    let mut problems = Vec::new();
    // One message per tag id without a row, naming where it is used first.
    let mut missing: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    for t in tags {
        if rows.iter().all(|r| r.id != t.id) {
            missing.entry(&t.id).or_insert((&t.place, 0)).1 += 1;
        }
    }
    for (id, (place, n)) in missing {
        let more = if n > 1 {
            format!(" and {} more place(s)", n - 1)
        } else {
            String::new()
        };
        problems.push(format!(
            "{id} is used in {place}{more} but has no row in {CATALOGUE}"
        ));
    }
    for r in rows {
        if !STATUSES.contains(&r.status.as_str()) {
            problems.push(format!(
                "{CATALOGUE} row {}: status `{}` is none of {STATUSES:?}",
                r.id, r.status
            ));
        } else if r.status != "not handled" && r.tests.is_empty() {
            // A claim of handling with nothing that could fail on it is no claim.
            problems.push(format!(
                "{CATALOGUE} row {} says `{}` but names no test",
                r.id, r.status
            ));
        }
        for t in r.tests.iter().filter(|t| !known.tests.contains(*t)) {
            problems.push(format!(
                "{CATALOGUE} row {} names `{t}`, which is no test",
                r.id
            ));
        }
        for t in r
            .negative
            .iter()
            .filter(|t| !known.negative_runs.contains(*t))
        {
            problems.push(format!(
                "{CATALOGUE} row {} names `{t}` as a negative run, which is no boot test with kentry.break= (nor the noinstr check's negative run)",
                r.id
            ));
        }
    }
    problems
}

/// The kernel self-test names of the `&[SelfTest]` tables in `src` (the first string literal
/// of each entry, which rustfmt may spread over several lines).
pub fn selftest_names(src: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut in_table = false;
    let mut tables = 0;
    // The entry read so far, until its closing `),`.
    let mut entry = String::new();
    for line in src.lines() {
        let l = line.trim();
        if !in_table {
            if l.contains(": &[SelfTest] = &[") {
                in_table = true;
                tables += 1;
            }
            continue;
        }
        if l == "];" {
            in_table = false;
            continue;
        }
        // Comments, and attributes such as `#[cfg(feature = "test-hooks")]` on an entry.
        if l.is_empty() || l.starts_with("//") || l.starts_with("#[") {
            continue;
        }
        entry.push_str(l);
        if !entry.ends_with("),") {
            continue;
        }
        let name = entry
            .split('"')
            .nth(1)
            .filter(|n| !n.is_empty() && n.bytes().all(is_word_byte))
            .with_context(|| format!("{SELFTESTS}: no test name in the table entry {entry:?}"))?;
        names.push(name.to_string());
        entry.clear();
    }
    if !entry.is_empty() {
        bail!("{SELFTESTS}: a self-test table entry does not end with `),`: {entry:?}");
    }
    if in_table {
        bail!("{SELFTESTS}: a self-test table does not end with `];`");
    }
    if tables == 0 || names.is_empty() {
        bail!("{SELFTESTS}: no `&[SelfTest]` table with test names found");
    }
    Ok(names)
}

/// The test paths in the output of `cargo test -- --list` (`path::name: test` lines).
pub fn listed_unit_tests(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// The host unit tests of `package`, as `<package>::<path>`.
fn unit_tests_of(ws: &Workspace, package: &str) -> Result<Vec<String>> {
    let out = ws
        .cargo()
        .args(["test", "-q", "-p", package, "--", "--list"])
        .output()
        .with_context(|| format!("running cargo test -p {package} -- --list"))?;
    if !out.status.success() {
        bail!(
            "cargo test -p {package} -- --list failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(listed_unit_tests(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .map(|t| format!("{package}::{t}"))
        .collect())
}

/// The test names that exist in the workspace: self-tests, manifest entries, boot tests,
/// runner cases, and the host unit tests of the packages `rows` cite.
fn known_tests(ws: &Workspace, rows: &[Row]) -> Result<Known> {
    let mut known = Known::default();
    let src = std::fs::read_to_string(ws.root.join(SELFTESTS))
        .with_context(|| format!("reading {SELFTESTS}"))?;
    known.tests.extend(selftest_names(&src)?);
    let manifest = crate::manifest::read_all(&ws.manifests(), &ws.root)?;
    known
        .tests
        .extend(manifest.entries.into_iter().map(|e| e.name));
    for b in crate::boots::BOOT_TESTS {
        known.tests.insert(b.name.to_string());
        if b.cmdline.iter().any(|w| w.starts_with("kentry.break=")) {
            known.negative_runs.insert(b.name.to_string());
        }
    }
    known.tests.extend(crate::runner_check::case_names());
    for suffix in crate::noinstr::KERNELS {
        known
            .tests
            .insert(format!("{}{suffix}", crate::noinstr::TEST_NAME));
    }
    known
        .tests
        .insert(crate::noinstr::NEGATIVE_NAME.to_string());
    // The verify runs of `cargo xtask test` (xtask/src/verify/mod.rs).
    for name in [
        crate::verify::FAST_TEST_NAME,
        crate::verify::FAST_MCE_TEST_NAME,
        crate::verify::FAST_SYSENTER_TEST_NAME,
    ] {
        known.tests.insert(name.to_string());
    }
    for name in [
        crate::verify::NEGATIVE_TEST_NAME,
        crate::verify::NEGATIVE_MCE_TEST_NAME,
    ] {
        known.tests.insert(name.to_string());
        known.negative_runs.insert(name.to_string());
    }
    known
        .negative_runs
        .insert(crate::noinstr::NEGATIVE_NAME.to_string());
    for package in HOST_PACKAGES {
        let prefix = format!("{package}::");
        let cited = rows
            .iter()
            .flat_map(|r| &r.tests)
            .any(|t| t.starts_with(&prefix));
        if cited {
            known.tests.extend(unit_tests_of(ws, package)?);
        }
    }
    Ok(known)
}

/// Every file under `dir` but `target` directories and hidden ones, sorted.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        let path = e.path();
        if e.file_type()?.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The case tags in the text files of [`TAGGED_DIRS`] (files that are not UTF-8 are skipped).
fn tags_in_sources(root: &Path) -> Result<Vec<Tag>> {
    let mut files = Vec::new();
    for dir in TAGGED_DIRS {
        files_under(&root.join(dir), &mut files)?;
    }
    let mut tags = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let shown = crate::workspace::shown(&f, root);
        tags.extend(find_tags(&text).into_iter().map(|(id, line)| Tag {
            id,
            place: format!("{shown}:{line}"),
        }));
    }
    Ok(tags)
}

/// Runs the check on the workspace: a one-line summary when it holds, else one line naming
/// every problem.
pub fn check_workspace(ws: &Workspace) -> Result<String, String> {
    let run = || -> Result<Result<String, Vec<String>>> {
        let text = std::fs::read_to_string(ws.root.join(CATALOGUE))
            .with_context(|| format!("reading {CATALOGUE}"))?;
        let (rows, mut problems) = parse_catalogue(&text);
        let tags = tags_in_sources(&ws.root)?;
        let known = known_tests(ws, &rows)?;
        problems.extend(check(&rows, &tags, &known));
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        let cited: BTreeSet<&String> = rows.iter().flat_map(|r| r.tests.iter()).collect();
        Ok(Ok(format!(
            "{} case rows, {} tags in the code, {} distinct tests cited, all exist",
            rows.len(),
            tags.len(),
            cited.len()
        )))
    };
    match run() {
        Ok(Ok(summary)) => Ok(summary),
        Ok(Err(problems)) => Err(problems.join("; ")),
        Err(e) => Err(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case id built at run time, so that this file carries no tag of its own.
    fn id(n: u32) -> String {
        format!("E{n:02}")
    }

    fn catalogue(rows: &[(u32, &str, &str)]) -> String {
        let mut t = String::from(
            "# Cases\n\nProse with `code` and a pipe \\| here.\n\n\
             | id | case | tests | negative run | status |\n|---|---|---|---|---|\n",
        );
        for (n, tests, negative) in rows {
            let status = if tests.starts_with('—') {
                "not handled"
            } else {
                "handled"
            };
            t.push_str(&format!(
                "| {} | what `swapgs` does | {tests} | {negative} | {status} |\n",
                id(*n)
            ));
        }
        t
    }

    #[test]
    fn a_claim_needs_a_test_and_a_known_status() {
        let text = "| id | case | tests | negative run | status |\n|---|---|---|---|---|\n"
            .to_string()
            + &format!("| {} | x | — | — | handled |\n", id(20))
            + &format!("| {} | x | — | — | partial |\n", id(21))
            + &format!("| {} | x | `syscall_flags` | — | done |\n", id(22))
            + &format!("| {} | x | — | — | not handled |\n", id(23));
        let (rows, p) = parse_catalogue(&text);
        assert!(p.is_empty(), "{p:?}");
        let problems = check(&rows, &[], &known());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains(&format!("row {} says `handled` but names no test", id(20))));
        assert!(problems[1].contains(&format!("row {} says `partial` but names no test", id(21))));
        assert!(problems[2].contains("status `done` is none of"));
    }

    fn known() -> Known {
        Known {
            tests: ["syscall_flags", "negative_x", "kentry::sysret::tests::a"]
                .map(String::from)
                .into(),
            negative_runs: ["negative_x"].map(String::from).into(),
        }
    }

    fn tag(n: u32, place: &str) -> Tag {
        Tag {
            id: id(n),
            place: place.to_string(),
        }
    }

    #[test]
    fn good_catalogue_passes() {
        let text = catalogue(&[
            (
                7,
                "`syscall_flags`, `kentry::sysret::tests::a`",
                "`negative_x`",
            ),
            (8, "— (not handled yet: issue 10)", "—"),
        ]);
        let (rows, problems) = parse_catalogue(&text);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, id(7));
        assert_eq!(
            rows[0].tests,
            vec!["syscall_flags", "kentry::sysret::tests::a"]
        );
        assert_eq!(rows[0].negative, vec!["negative_x"]);
        assert!(rows[1].tests.is_empty());
        let tags = [tag(7, "a.rs:1"), tag(8, "b.rs:2"), tag(7, "c.rs:3")];
        assert_eq!(check(&rows, &tags, &known()), Vec::<String>::new());
    }

    #[test]
    fn tag_without_row_fails() {
        let (rows, _) = parse_catalogue(&catalogue(&[(7, "`syscall_flags`", "—")]));
        let tags = [
            tag(7, "a.rs:1"),
            tag(41, "kernel/x.rs:9"),
            tag(41, "y.rs:2"),
        ];
        let problems = check(&rows, &tags, &known());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(&id(41))
                && problems[0].contains("kernel/x.rs:9 and 1 more place(s)")
                && problems[0].contains("no row"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn missing_test_fails() {
        let (rows, _) = parse_catalogue(&catalogue(&[(
            7,
            "`syscall_flags`, `no_such_test`, `kentry::sysret::tests::b`",
            "`syscall_flags`",
        )]));
        let problems = check(&rows, &[], &known());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("`no_such_test`, which is no test"));
        assert!(problems[1].contains("`kentry::sysret::tests::b`, which is no test"));
        // A test that exists but does not turn a check off is no negative run.
        assert!(problems[2].contains("`syscall_flags` as a negative run"));
    }

    #[test]
    fn malformed_tables_are_reported() {
        let (_, p) = parse_catalogue("| E | x |\n");
        assert!(p.iter().any(|p| p.contains("no table header")), "{p:?}");
        let (_, p) = parse_catalogue("| id | case | tests |\n|---|---|---|\n");
        assert!(p.iter().any(|p| p.contains("lacks a `tests`")), "{p:?}");
        let mut text = catalogue(&[(7, "`a`", "—"), (7, "`b`", "—")]);
        text.push_str(&format!("| {} | too few |\n", id(9)));
        text.push_str(&format!("| {} | x | `a b` | — | y |\n", id(10)));
        text.push_str(&format!("| {} | x | `a | — | y |\n", id(11)));
        let (rows, p) = parse_catalogue(&text);
        assert_eq!(rows.len(), 1);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].contains("a second row"));
        assert!(p[1].contains("has 2 cells, the header 5"));
        assert!(p[2].contains("`a b` is not a test name"));
        assert!(p[3].contains("unbalanced backticks"));
    }

    #[test]
    fn tags_are_whole_words() {
        let text = format!(
            "x {a}, y\n({b}–{c}) error[{a}25] 0x{a} {a}x _{a} {d}\n",
            a = id(4),
            b = id(6),
            c = id(8),
            d = id(40)
        );
        let got = find_tags(&text);
        assert_eq!(got, vec![(id(4), 1), (id(6), 2), (id(8), 2), (id(40), 2)]);
        assert!(find_tags("E1 E123 e07 EE07").is_empty());
        // Multi-byte characters next to a possible tag position.
        assert!(find_tags("| — | a—b —").is_empty());
        assert_eq!(find_tags(&format!("—{}—", id(5))), vec![(id(5), 1)]);
    }

    #[test]
    fn selftest_tables() {
        let src = r#"
pub static ALL: &[SelfTest] = &[
    t("boot_page_tables", boot_page_tables),
    // a comment
    ending("e26_stack_overflow", e26_stack_overflow),
    #[cfg(feature = "test-hooks")]
    t(
        "a_name_rustfmt_spread",
        a_module::a_function_whose_name_is_long,
    ),
];

pub static AFTER_PROGRAMS: &[SelfTest] = &[
    t("no_leaks", no_leaks),
];
fn other() { let _ = ("not_a_test", 1); }
"#;
        assert_eq!(
            selftest_names(src).unwrap(),
            vec![
                "boot_page_tables",
                "e26_stack_overflow",
                "a_name_rustfmt_spread",
                "no_leaks"
            ]
        );
        assert!(selftest_names("fn main() {}").is_err());
        assert!(selftest_names("static A: &[SelfTest] = &[\n    t(x),\n];\n").is_err());
        assert!(selftest_names("static A: &[SelfTest] = &[\n    t(\"a\", a),\n").is_err());
    }

    #[test]
    fn unit_test_listing() {
        let out = "sysret::tests::every_bit_above_47_is_refused: test\n\
                   frame::tests::layout: test\n\n2 tests, 0 benchmarks\n";
        assert_eq!(
            listed_unit_tests(out),
            vec![
                "sysret::tests::every_bit_above_47_is_refused",
                "frame::tests::layout"
            ]
        );
    }
}

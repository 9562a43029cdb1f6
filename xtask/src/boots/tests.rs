//! The boot-test table's own checks.

use super::*;

#[test]
fn table_is_sane() {
    let mut names: Vec<&str> = BOOT_TESTS.iter().map(|b| b.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), BOOT_TESTS.len(), "duplicate boot test names");
    for b in BOOT_TESTS {
        // An odd status other than 1 and 3 (the kernel must stop in a way that is not a
        // normal finish), a normal finish whose log must show passing KTAP results, or a
        // finish with failures whose log must name the failing test: otherwise the boot
        // test would prove nothing.
        let names = |prefix: &str| b.expect_log.iter().any(|t| t.starts_with(prefix));
        assert!(
            b.expect_status & 1 == 1
                && (b.expect_status > 3
                    || (b.expect_status == 1 && names("ok "))
                    || (b.expect_status == 3 && names("not ok "))),
            "{}: status {}",
            b.name,
            b.expect_status
        );
        assert!(!b.expect_log.is_empty() && b.expect_log.iter().all(|t| !t.is_empty()));
        assert!(
            b.cmdline
                .iter()
                .all(|w| w.contains('=') && !w.contains(' '))
        );
    }
    assert!(find("e26_stack_overflow").is_some());
    assert!(find("nope").is_none());
}

/// Every check a test kernel can switch off (`kentry.break=<name>`: the entry crate's
/// `Check` names and the kernel-side breaks of `apply_test_breaks`) has a boot test that
/// switches it off, or a verify negative run does (`verify::NEGATIVE_BREAKS`), so `cargo
/// xtask test --negative` shows each one is load-bearing.
#[test]
fn every_break_has_a_negative_run() {
    let checks = include_str!("../../../entry/src/test_hooks.rs");
    let kernel = include_str!("../../../kernel/src/main.rs");
    let quoted = |line: &str| line.split('"').nth(1).map(str::to_owned);
    let mut names: Vec<String> = checks
        .lines()
        .filter(|l| l.trim_start().starts_with("Check::") && l.contains("=> \""))
        .filter_map(quoted)
        .collect();
    let from_checks = names.len();
    names.extend(
        kernel
            .lines()
            .filter(|l| l.trim_start().starts_with("if name == \""))
            .filter_map(quoted),
    );
    assert!(from_checks >= 10 && names.len() > from_checks, "{names:?}");
    for name in names {
        let word = format!("kentry.break={name}");
        assert!(
            BOOT_TESTS
                .iter()
                .any(|b| b.cmdline.contains(&word.as_str()))
                || crate::verify::NEGATIVE_BREAKS.contains(&word.as_str()),
            "no boot test or verify negative run runs with {word}"
        );
    }
}

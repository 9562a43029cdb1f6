//! The verify runs of `cargo xtask test` (xtask/src/verify/, docs/verify.md): the fast
//! subset's NMI, SYSENTER and #MC series on the lean kernel, and the two negative runs on the
//! test kernel.

use std::path::Path;

use super::{Report, TestArgs, one_result, section};
use crate::build::Artifacts;
use crate::verify;
use crate::workspace::Workspace;

/// The results these runs give, each a name `--only` takes.
const TEST_NAMES: [&str; 5] = [
    verify::FAST_TEST_NAME,
    verify::FAST_SYSENTER_TEST_NAME,
    verify::FAST_MCE_TEST_NAME,
    verify::NEGATIVE_TEST_NAME,
    verify::NEGATIVE_MCE_TEST_NAME,
];

/// Whether `name` is one of these runs' results.
pub fn is_test_name(name: &str) -> bool {
    TEST_NAMES.contains(&name)
}

/// Runs what `args` asks for: every run by default, the negative ones with `--negative`, or
/// the one `--only` names.
pub fn verify_runs(
    ws: &Workspace,
    qemu: &Path,
    lean: &Artifacts,
    test: &Artifacts,
    args: &TestArgs,
    r: &mut Report,
) {
    let only = args.only.as_deref();
    let positive = |name: &str| (only.is_none() && !args.negative) || only == Some(name);
    let negative = |name: &str| only.is_none() || only == Some(name);
    if positive(verify::FAST_TEST_NAME) {
        section(
            "verify (lean kernel, ct=on and ct=hooks): an NMI at every instruction of the SYSCALL path and the timer's IDT path",
        );
        one_result(verify::FAST_TEST_NAME, verify::fast(ws, qemu, lean), r);
    }
    if positive(verify::FAST_SYSENTER_TEST_NAME) {
        section(
            "verify (lean kernel, Intel-vendor model, ct=on and ct=hooks): an NMI at every instruction of the SYSENTER path",
        );
        one_result(
            verify::FAST_SYSENTER_TEST_NAME,
            verify::fast_sysenter(ws, qemu, lean),
            r,
        );
    }
    if positive(verify::FAST_MCE_TEST_NAME) {
        section(
            "verify (lean kernel, ct=on and ct=hooks): a recoverable #MC at every instruction of the same paths, and a fatal one",
        );
        one_result(
            verify::FAST_MCE_TEST_NAME,
            verify::fast_mce(ws, qemu, lean),
            r,
        );
    }
    if negative(verify::NEGATIVE_TEST_NAME) {
        section("verify, negative run (test kernel, kentry.break=rcu_nmi_watch)");
        one_result(
            verify::NEGATIVE_TEST_NAME,
            verify::negative(ws, qemu, test),
            r,
        );
    }
    if negative(verify::NEGATIVE_MCE_TEST_NAME) {
        section("verify, negative run (test kernel, kentry.break=mce_severity)");
        one_result(
            verify::NEGATIVE_MCE_TEST_NAME,
            verify::negative_mce(ws, qemu, test),
            r,
        );
    }
}

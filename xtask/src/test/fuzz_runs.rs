//! The entry fuzzer's results in `cargo xtask test`: its 60-second run, its negative run and
//! its native cross-check (xtask/src/fuzz.rs, docs/fuzz.md).

use std::path::Path;

use super::{Report, TestArgs, one_result};
use crate::build::Artifacts;
use crate::fuzz;
use crate::workspace::{Flavor, Workspace};

/// The entry fuzzer natively on this host for 3 s each way: Linux's own verdict on the
/// fuzzer's expected-signal table (xtask/src/fuzz/native.rs).
pub fn fuzz_native(ws: &Workspace, args: &TestArgs, r: &mut Report) {
    if args
        .only
        .as_deref()
        .is_some_and(|n| n != fuzz::NATIVE_TEST_NAME)
    {
        return;
    }
    let program = ws.user_bin_dir().join(fuzz::PROGRAM);
    let res = fuzz::native_cross_check(&program, 0x5eed, 3);
    one_result(fuzz::NATIVE_TEST_NAME, res, r);
}

/// The entry fuzzer's 60-second run, or its negative run (xtask/src/fuzz.rs), one result.
pub fn fuzz_boot(ws: &Workspace, qemu: &Path, art: &Artifacts, negative: bool, r: &mut Report) {
    let program = art.programs.iter().find(|p| p.name == fuzz::PROGRAM);
    let Some(program) = program else {
        r.fail(format!("{}: the user program is missing", fuzz::TEST_NAME));
        return;
    };
    let sym = ws.kernel_sym(Flavor::Test);
    let scratch = ws.scratch_dir();
    if negative {
        let res = fuzz::negative_run(qemu, &art.kernel, &sym, &program.path, &scratch);
        one_result(fuzz::NEGATIVE_TEST_NAME, res, r);
    } else {
        let res = fuzz::test_run(qemu, &art.kernel, &sym, &program.path, &scratch);
        one_result(fuzz::TEST_NAME, res, r);
    }
}

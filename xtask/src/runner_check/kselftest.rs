//! The runner case of one of Linux's seccomp or ptrace selftests: boots it like
//! `cargo xtask run`, leaving out the cases that cannot end without what kentry lacks, and
//! judges each case against the table (linux_selftests/kselftest_judge.rs).

use std::os::unix::ffi::OsStrExt;

use anyhow::{Context, Result};

use super::{Case, Env, Verdict, guest_run};
use crate::linux_selftests::judge::Judgement;
use crate::linux_selftests::kselftest::{self, Libc};
use crate::linux_selftests::kselftest_expected::{KsftProgram, left_out};
use crate::linux_selftests::kselftest_judge;
use crate::run::GuestFile;
use crate::run::{RunEnd, RunSpec};

pub(super) fn check(env: &Env<'_>, case: &Case, p: &KsftProgram, libc: Libc) -> Result<Verdict> {
    let exe = kselftest::binary(env.target, p, libc);
    let left = left_out(p);
    let mut argv = vec![exe.as_os_str().as_bytes().to_vec()];
    argv.extend(left.iter().map(|c| c.name.as_bytes().to_vec()));
    let data = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
    let mut spec = RunSpec::new(&exe, data, argv);
    if !p.busybox_applets.is_empty() {
        let busybox = crate::install::busybox()?;
        let data =
            std::fs::read(&busybox).with_context(|| format!("reading {}", busybox.display()))?;
        for applet in p.busybox_applets {
            spec.files.push(GuestFile {
                path: format!("bin/{applet}"),
                mode: 0o755,
                data: data.clone(),
            });
        }
    }
    let (end, guest) = guest_run(env, case, &spec)?;
    let RunEnd::Ended(ended) = end else {
        return Ok(Verdict::Fail(format!(
            "the guest run did not end normally: {end:?}"
        )));
    };
    Ok(
        match kselftest_judge::judge(p, &left, ended.shell_status(), &guest.stdout, &guest.stderr) {
            Judgement::Pass(s) => Verdict::Pass(s),
            Judgement::Skip(s) => Verdict::Skip(s),
            Judgement::Fail(s) => Verdict::Fail(s),
        },
    )
}

//! `cargo xtask linux-selftests`: the same static selftest binaries that `cargo xtask test`
//! runs on kentry (Linux's seccomp and ptrace selftests, and the x86 ones kentry cannot run
//! yet), run on Debian's Linux 6.1 (`linux_image.rs`) under the same QEMU (TCG, `-cpu max`,
//! one CPU), one boot per binary. Each binary is PID 1 there too: `/init` (busybox's shell)
//! mounts devtmpfs and proc and execs it; its exit status is the one in Linux's "Attempted
//! to kill init!" panic (`panic=-1` and `-no-reboot` end QEMU). It prints, per case, Linux's
//! result next to kentry's recorded one and the reason, and fails when Linux does not do
//! what the tables' Linux column says (kselftest_expected.rs; x86_gated.rs's counts). Not
//! part of `cargo xtask test`: it boots Linux, minutes under TCG.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::bench_linux::{init_exit_code, tsc_khz};
use crate::cpio;
use crate::linux_selftests::expected_32::SELFTESTS_32;
use crate::linux_selftests::kselftest::{self, Libc};
use crate::linux_selftests::kselftest_expected::{Harness, KsftProgram, Outcome, PROGRAMS};
use crate::linux_selftests::kselftest_judge::{TABLE, outcomes};
use crate::linux_selftests::x86_gated::{GATED, Gated};
use crate::qemu::{self, Boot, Exit, Machine};
use crate::workspace::Workspace;

/// One Linux boot's bound: seccomp_bpf takes about a minute of it under TCG.
const TIMEOUT: Duration = Duration::from_secs(600);

/// `/init`: devtmpfs for /dev/null, proc for /proc/PID/…, then the test as PID 1.
const INIT: &str = "#!/bin/sh\n\
/bin/busybox mount -t devtmpfs dev /dev\n\
/bin/busybox mount -t proc proc /proc\n\
export PATH=/bin\n\
exec /test\n";

/// What one boot gave: the test's console lines (the kernel's among them) and its status
/// (as a shell reports it: 128 + signal after a crash).
struct LinuxRun {
    lines: Vec<String>,
    status: u8,
}

pub fn run(ws: &Workspace) -> Result<ExitCode> {
    let target = ws.target();
    let qemu_bin = crate::install::qemu()?;
    let vmlinuz = crate::linux_image::ensure_linux_image(&target)?;
    let x86: Vec<&str> = GATED
        .iter()
        .map(|g| g.test.name)
        .chain(SELFTESTS_32.iter().map(|t| t.name))
        .collect();
    crate::linux_selftests::ensure_built(&target, &x86)?;
    let programs: Vec<&KsftProgram> = PROGRAMS.iter().collect();
    kselftest::ensure_built(&target, &programs)?;
    let busybox = std::fs::read(crate::install::busybox()?)?;
    let scratch = target.join("xtask").join("linux-selftests");
    std::fs::create_dir_all(&scratch)?;
    let boot = |name: &str, exe: &Path| -> Result<LinuxRun> {
        eprintln!("xtask: booting Linux with {name} as init");
        let initrd = scratch.join(format!("{name}.cpio"));
        let mut w = cpio::Writer::new();
        for d in ["bin", "dev", "proc", "tmp"] {
            w.dir(d)?;
        }
        for applet in ["busybox", "sh", "true", "sleep"] {
            w.file(&format!("bin/{applet}"), 0o755, &busybox)?;
        }
        w.file("init", 0o755, INIT.as_bytes())?;
        let data = std::fs::read(exe).with_context(|| format!("reading {}", exe.display()))?;
        w.file("test", 0o755, &data)?;
        std::fs::write(&initrd, w.finish()?)?;
        let tsc = format!("tsc_early_khz={}", tsc_khz(false));
        let words = [
            "console=ttyS0",
            "tsc=reliable",
            "panic=-1",
            "quiet",
            "loglevel=1",
            // Reset by triple fault, which -no-reboot turns into QEMU's exit: a test that
            // ends within ~2 s of boot (peeksiginfo) otherwise gets the BIOS warm-reboot
            // method on microvm, which boots Linux again instead of resetting.
            "reboot=t",
            "rdinit=/init",
            &tsc,
        ];
        let mut b = Boot::new(&vmlinuz, &initrd, &words);
        b.machine = Machine::Microvm;
        b.timeout = Some(TIMEOUT);
        let log = qemu::run(&qemu_bin, &b)?;
        std::fs::write(scratch.join(format!("{name}.log")), log.text())?;
        let code = match (&log.exit, init_exit_code(&log.lines)) {
            (Exit::Timeout, _) => anyhow::bail!("Linux with {name} timed out after {TIMEOUT:?}"),
            (_, Some(c)) => c,
            (_, None) => {
                log.print_full(name);
                anyhow::bail!("Linux with {name} ended without init's exit");
            }
        };
        // A wait status: exit code in bits 8-15, or the signal in bits 0-6.
        let status = if code & 0x7f == 0 {
            (code >> 8) as u8
        } else {
            128 + (code & 0x7f) as u8
        };
        Ok(LinuxRun {
            lines: log.lines,
            status,
        })
    };
    let mut wrong = Vec::new();
    println!("| selftest | case | Linux | kentry | reason |");
    println!("|---|---|---|---|---|");
    for g in GATED {
        let exe = crate::linux_selftests::binary(&target, g.test.name);
        let r = boot(g.test.name, &exe)?;
        report_x86(g, &r, &mut wrong);
    }
    // The -m32 builds that run on kentry: Linux must pass them (its [OK] count beside the
    // one kentry is held to; the difference is the table's stated gaps).
    for t in SELFTESTS_32 {
        let exe = crate::linux_selftests::binary(&target, t.name);
        let r = boot(t.name, &exe)?;
        let count = |m: &str| r.lines.iter().filter(|l| l.contains(m)).count();
        let (oks, fails) = (count("[OK]"), count("[FAIL]"));
        let pass = r.status == 0 && fails == 0 && oks >= t.ok;
        println!(
            "| x86/{} | (whole) | {} ({oks} [OK], {fails} [FAIL], status {}) | {} [OK] | {} |",
            t.name,
            if pass { "pass" } else { "FAIL" },
            r.status,
            t.ok,
            t.checks
        );
        if !pass {
            wrong.push(format!(
                "x86/{}: Linux status {}, {oks} [OK] (kentry is held to {}), {fails} [FAIL]",
                t.name, r.status, t.ok
            ));
        }
    }
    for p in PROGRAMS {
        for libc in Libc::ALL {
            if libc == Libc::Musl && p.musl_not_run.is_some() {
                continue;
            }
            let name = format!("{}-{}", p.name, libc.word());
            let r = boot(&name, &kselftest::binary(&target, p, libc))?;
            report_program(p, libc, &r, &mut wrong);
        }
    }
    if wrong.is_empty() {
        println!("linux-selftests: Linux does what the tables' Linux column says");
        Ok(ExitCode::SUCCESS)
    } else {
        for w in &wrong {
            println!("WRONG: {w}");
        }
        println!(
            "linux-selftests: {} disagreements with the tables' Linux column",
            wrong.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn report_x86(g: &Gated, r: &LinuxRun, wrong: &mut Vec<String>) {
    let count = |m: &str| r.lines.iter().filter(|l| l.contains(m)).count();
    let (oks, fails) = (count("[OK]"), count("[FAIL]"));
    let pass = r.status == 0 && fails == 0 && oks == g.test.ok;
    let (kentry, why) = match g.not_run() {
        Some(why) => ("not run", why),
        None => ("runs", "held to these counts by the x86 judge".to_string()),
    };
    println!(
        "| x86/{} | (whole) | {} ({oks} [OK], {fails} [FAIL], status {}) | {kentry} | {why} |",
        g.test.name,
        if pass { "pass" } else { "FAIL" },
        r.status
    );
    if !pass {
        wrong.push(format!(
            "x86/{}: status {}, {oks} [OK] ({} recorded), {fails} [FAIL]",
            g.test.name, r.status, g.test.ok
        ));
    }
}

fn report_program(p: &KsftProgram, libc: Libc, r: &LinuxRun, wrong: &mut Vec<String>) {
    let text = r.lines.join("\n");
    let (seen, reports) = outcomes(p, r.status, &text);
    for (c, got) in p.cases.iter().zip(&seen) {
        let linux = got.map_or("no result", Outcome::word);
        let kentry = if c.hangs_without.is_some_and(|cap| !cap.kentry_has()) {
            "not run"
        } else {
            c.kentry.word()
        };
        println!(
            "| {}/{} ({}) | {} | {linux} | {kentry} | {} |",
            p.dir,
            p.name,
            libc.word(),
            c.name,
            c.why
        );
        if *got != Some(c.linux) {
            wrong.push(format!(
                "{}/{} ({}) {}: Linux {linux}, {TABLE} says {}",
                p.dir,
                p.name,
                libc.word(),
                c.name,
                c.linux.word()
            ));
        }
    }
    if p.harness == Harness::Kselftest {
        for (name, o) in &reports.results {
            if !p.cases.iter().any(|c| c.name == name) {
                wrong.push(format!(
                    "{}: {name} {} on Linux, not in {TABLE}",
                    p.name,
                    o.word()
                ));
            }
        }
    }
}

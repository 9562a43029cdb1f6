//! The host ABI cross-check: every manifest entry runs natively on this Linux host (the same
//! static binaries the kernel runs) and must end with the expected status and results — and
//! with the same results as in the guest.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::ktap::{self, Outcome, Suite, TestCase};
use crate::manifest::Entry;

/// How long the output pipes may stay open after the program exited (a child it forked may
/// still hold them) before its process group is killed.
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// One run of a manifest entry on the host.
#[derive(Debug, Clone, Default)]
pub struct HostRun {
    /// The status as a shell shows it; `None` after a timeout.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// The status as a shell computes it: the exit code, or 128 + the signal that killed it.
pub fn shell_status(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        // Stopped or continued: cannot happen for a status from wait() without WUNTRACED.
        (None, None) => -1,
    }
}

/// A status for messages: `139 (SIGSEGV)`.
pub fn status_name(status: i32) -> String {
    let sig = match status - 128 {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        31 => "SIGSYS",
        _ => return status.to_string(),
    };
    format!("{status} ({sig})")
}

/// Runs `entry` with the binary of the same name from the first of `bin_dirs` that has it:
/// `argv[0]` as in the manifest, an empty environment, stdin from /dev/null, no core dumps, in
/// its own process group.
pub fn run(entry: &Entry, bin_dirs: &[PathBuf], cwd: &Path, timeout: Duration) -> Result<HostRun> {
    let program = entry.program();
    if program.is_empty() || program == "." || program == ".." {
        bail!("{} line {}: no program in argv[0]", entry.file, entry.line);
    }
    let Some(exe) = bin_dirs
        .iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
    else {
        let dirs: Vec<String> = bin_dirs.iter().map(|d| d.display().to_string()).collect();
        bail!(
            "{}: the program {program} is in none of {}",
            entry.name,
            dirs.join(", ")
        );
    };
    std::fs::create_dir_all(cwd).with_context(|| format!("creating {}", cwd.display()))?;
    let mut cmd = Command::new(&exe);
    cmd.arg0(&entry.argv[0])
        .args(&entry.argv[1..])
        .env_clear()
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    no_core_dumps(&mut cmd);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pgid = child.id();

    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    for (is_stdout, pipe) in [
        (
            true,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            false,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send((is_stdout, buf));
        });
    }
    drop(tx);

    let deadline = start + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().context("waiting for the program")? {
            break Some(shell_status(st));
        }
        if Instant::now() >= deadline {
            kill_group(pgid);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();

    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut pipes_left = 2;
    let grace_end = Instant::now() + PIPE_GRACE;
    while pipes_left > 0 {
        let wait = grace_end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok((true, b)) => (stdout, pipes_left) = (b, pipes_left - 1),
            Ok((false, b)) => (stderr, pipes_left) = (b, pipes_left - 1),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Something the program started keeps the pipes open.
                kill_group(pgid);
                match rx.recv_timeout(Duration::from_secs(2)) {
                    Ok((true, b)) => (stdout, pipes_left) = (b, pipes_left - 1),
                    Ok((false, b)) => (stderr, pipes_left) = (b, pipes_left - 1),
                    Err(_) => break,
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(HostRun {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed,
    })
}

/// Kills the process group `pgid` (a program started with `process_group(0)`, and whatever
/// it started).
pub fn kill_group(pgid: u32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names the process
    // group this function's caller created for the program (pgid = its pid).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// The verdict on one manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Everything that disagrees; empty when the entry passes.
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// The side of the cross-check that skips a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Guest,
    Host,
}

/// The only results that may be skipped on one side and not on the other: the guest (QEMU TCG,
/// kentry) and this host differ in a capability the program probes independently of the
/// behaviour it tests. (entry, leaf — "" for the whole entry —, the side that may skip, why.)
/// Any other one-sided SKIP is a disagreement: a SKIP must come from a capability probe, so
/// the same probe on the other side must skip too or the difference must be listed here.
pub const CAPABILITY_DIFFERENCES: &[(&str, &str, Side, &str)] = &[
    (
        "fault_ac",
        "",
        Side::Guest,
        "QEMU TCG never raises #AC; the host CPU does (probe: the kernel's count of user-mode \
         #AC in that boot must be 0, capability_probe.rs)",
    ),
    (
        "sig_regs",
        "ac_sigbus",
        Side::Guest,
        "QEMU TCG never raises #AC; the host CPU does (probe: the kernel's count of user-mode \
         #AC in that boot must be 0, capability_probe.rs)",
    ),
    (
        "syscall_numbering",
        "nr_451_enosys",
        Side::Host,
        "a host Linux >= 6.5 has syscall 451 (cachestat); kentry follows 6.1",
    ),
    (
        "syscall_numbering",
        "nr_x32_getpid_enosys",
        Side::Host,
        "a host kernel with x32 syscalls enabled answers them; kentry has no x32 ABI",
    ),
    (
        "c_ia32_glibc32",
        "syscall32_getpid",
        Side::Host,
        "SYSCALL from 32-bit code is #UD on Intel CPUs (this host) and runs on AMD ones \
         (QEMU TCG's -cpu max); probe: the CPUID vendor",
    ),
    (
        "c_ia32_glibc32",
        "syscall32_arg2_in_ebp",
        Side::Host,
        "SYSCALL from 32-bit code is #UD on Intel CPUs (this host) and runs on AMD ones \
         (QEMU TCG's -cpu max); probe: the CPUID vendor",
    ),
];

/// Whether `side` may skip `leaf` of `entry` alone ("" for the whole entry).
fn difference_documented(entry: &str, leaf: &str, side: Side) -> bool {
    CAPABILITY_DIFFERENCES
        .iter()
        .any(|&(e, l, s, _)| e == entry && (l.is_empty() || l == leaf) && s == side)
}

/// A program's "cannot provoke it here" status (docs/harness.md).
const SKIP_STATUS: i32 = 77;

/// Checks a host run against the manifest and, when the entry ran in the guest, against the
/// guest's result for it.
pub fn check(entry: &Entry, run: &HostRun, timeout: Duration, guest: Option<&TestCase>) -> Verdict {
    let mut reasons = Vec::new();
    let guest_skipped = guest.is_some_and(|g| g.outcome == Outcome::Skip);
    match run.status {
        None => reasons.push(format!(
            "timed out after {:.0} s on the host",
            timeout.as_secs_f64()
        )),
        // Both sides found the case cannot be provoked.
        Some(SKIP_STATUS) if guest_skipped => {}
        Some(s) if s != entry.expected => reasons.push(format!(
            "host exit status {}, expected {}",
            status_name(s),
            status_name(entry.expected)
        )),
        Some(_) => {}
    }
    if guest_skipped
        && run.status != Some(SKIP_STATUS)
        && !difference_documented(&entry.name, "", Side::Guest)
    {
        reasons.push(
            "skipped in the guest but ran on the host: not a documented capability difference"
                .into(),
        );
    }
    let host = ktap::parse(&run.stdout);
    if host.has_ktap() {
        let t = host.tally_top();
        reasons.extend(t.failures.into_iter().map(|f| format!("host: {f}")));
    }
    // A guest that skipped without printing results: the entry-level rule above decides.
    if let Some(g) = guest
        && (g.outcome != Outcome::Skip || g.subtests.has_ktap())
    {
        reasons.extend(compare_leaves(&entry.name, &g.subtests, &host));
    }
    Verdict { reasons }
}

/// Differences between the leaf results of the guest and of the host. A result skipped on one
/// side only agrees only where [`CAPABILITY_DIFFERENCES`] lists it.
pub fn compare_leaves(entry: &str, guest: &Suite, host: &Suite) -> Vec<String> {
    let g = guest.leaves();
    let h = host.leaves();
    let mut names: Vec<&String> = g.keys().chain(h.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let (a, b) = (g.get(name), h.get(name));
        let skipped = |o: Option<&Outcome>| o == Some(&Outcome::Skip);
        let one_sided_skip = match (skipped(a), skipped(b)) {
            (true, false) => Some(Side::Guest),
            (false, true) => Some(Side::Host),
            _ => None,
        };
        if let Some(side) = one_sided_skip {
            if !difference_documented(entry, name, side) {
                let (skips, other, outcome) = match side {
                    Side::Guest => ("guest", "host", b),
                    Side::Host => ("host", "guest", a),
                };
                let outcome = outcome.map_or("no such result".to_string(), |o| o.to_string());
                out.push(format!(
                    "{name}: {skips} skip, {other} {outcome} (not a documented capability difference)"
                ));
            }
            continue;
        }
        match (a, b) {
            (Some(a), Some(b)) if a != b => out.push(format!("{name}: guest {a}, host {b}")),
            (Some(a), None) => out.push(format!("{name}: guest {a}, no such result on the host")),
            (None, Some(b)) => out.push(format!("{name}: host {b}, no such result in the guest")),
            _ => {}
        }
    }
    out
}

/// Native runs of test programs dump no core files (a program killed by a signal on purpose
/// would otherwise leave one behind).
pub fn no_core_dumps(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which
    // is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &none) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(expected: i32, argv: &[&str]) -> Entry {
        Entry {
            file: "tests.manifest".into(),
            line: 1,
            name: "t".into(),
            expected,
            placement: crate::manifest::Placement::Both,
            argv: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn status_computation() {
        // Wait statuses as the kernel encodes them.
        assert_eq!(shell_status(ExitStatus::from_raw(0)), 0);
        assert_eq!(shell_status(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(shell_status(ExitStatus::from_raw(11)), 139); // SIGSEGV
        assert_eq!(shell_status(ExitStatus::from_raw(0x80 | 4)), 132); // SIGILL, core dumped
        assert_eq!(shell_status(ExitStatus::from_raw(5)), 133); // SIGTRAP
        assert_eq!(status_name(135), "135 (SIGBUS)");
        assert_eq!(status_name(1), "1");
    }

    fn bin() -> Vec<PathBuf> {
        vec![PathBuf::from("/bin")]
    }

    fn tmp() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("xtask-host-run-{}", std::process::id()))
    }

    #[test]
    fn runs_programs_like_a_shell() {
        let t = Duration::from_secs(10);
        let r = run(&entry(0, &["/bin/sh", "-c", "exit 3"]), &bin(), &tmp(), t).unwrap();
        assert_eq!(r.status, Some(3));
        let r = run(&entry(0, &["sh", "-c", "kill -SEGV $$"]), &bin(), &tmp(), t).unwrap();
        assert_eq!(r.status, Some(139));
        let r = run(
            &entry(
                0,
                &[
                    "/bin/sh",
                    "-c",
                    "echo out; echo err >&2; echo \"$0 ${HOME:-nohome}\"",
                ],
            ),
            &bin(),
            &tmp(),
            t,
        )
        .unwrap();
        assert_eq!(r.stdout, "out\n/bin/sh nohome\n");
        assert_eq!(r.stderr, "err\n");
    }

    #[test]
    fn finds_the_program_in_any_bin_dir() {
        let dirs = [tmp().join("no-such-dir"), PathBuf::from("/bin")];
        let r = run(&entry(0, &["/bin/sh", "-c", "exit 4"]), &dirs, &tmp(), t()).unwrap();
        assert_eq!(r.status, Some(4));
        let err = run(&entry(0, &["/bin/none-such"]), &dirs, &tmp(), t()).unwrap_err();
        assert!(
            format!("{err:#}").contains("the program none-such is in none of "),
            "{err:#}"
        );
    }

    #[test]
    fn timeouts_and_lingering_children() {
        let r = run(
            &entry(0, &["sh", "-c", "sleep 20"]),
            &bin(),
            &tmp(),
            Duration::from_millis(200),
        )
        .unwrap();
        assert_eq!(r.status, None);
        let start = Instant::now();
        let r = run(
            &entry(0, &["sh", "-c", "sleep 20 & echo started"]),
            &bin(),
            &tmp(),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.status, Some(0));
        assert_eq!(r.stdout, "started\n");
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(run(&entry(0, &["/bin/none-such"]), &bin(), &tmp(), t()).is_err());
    }

    fn t() -> Duration {
        Duration::from_secs(1)
    }

    fn host_run(status: i32, stdout: &str) -> HostRun {
        HostRun {
            status: Some(status),
            stdout: stdout.into(),
            ..HostRun::default()
        }
    }

    const KTAP_OK: &str = "KTAP version 1\n1..2\nok 1 a\nok 2 b\n";

    #[test]
    fn verdicts() {
        let e = entry(0, &["/bin/p"]);
        assert!(check(&e, &host_run(0, KTAP_OK), t(), None).passed());
        assert!(check(&e, &host_run(0, "no ktap here\n"), t(), None).passed());
        let v = check(&e, &host_run(139, KTAP_OK), t(), None);
        assert_eq!(
            v.reasons,
            vec!["host exit status 139 (SIGSEGV), expected 0"]
        );
        let v = check(
            &e,
            &host_run(0, "KTAP version 1\n1..2\nok 1 a\n"),
            t(),
            None,
        );
        assert_eq!(v.reasons.len(), 1);
        let v = check(&e, &HostRun::default(), t(), None);
        assert_eq!(v.reasons, vec!["timed out after 1 s on the host"]);
    }

    fn guest_case(log: &str) -> TestCase {
        let top = ktap::parse(log);
        top.results[0].clone()
    }

    #[test]
    fn guest_and_host_agree_or_not() {
        let e = entry(0, &["/bin/p"]);
        let same = guest_case(
            "KTAP version 1\n1..1\n# Subtest: t\n    KTAP version 1\n    1..2\n    ok 1 a\n    ok 2 b\nok 1 t\n",
        );
        assert!(check(&e, &host_run(0, KTAP_OK), t(), Some(&same)).passed());

        let differs = guest_case(
            "KTAP version 1\n1..1\n# Subtest: t\n    KTAP version 1\n    1..3\n    not ok 1 a\n    ok 2 b\n    ok 3 c\nnot ok 1 t\n",
        );
        let v = check(&e, &host_run(0, KTAP_OK), t(), Some(&differs));
        assert_eq!(
            v.reasons,
            vec![
                "a: guest not ok, host ok",
                "c: guest ok, no such result on the host"
            ]
        );

        // A SKIP agrees only with a SKIP, or with a documented capability difference.
        let one_sided = guest_case(
            "KTAP version 1\n1..1\n# Subtest: t\n    KTAP version 1\n    1..2\n    ok 1 a # SKIP x\n    ok 2 b # SKIP tcg\nok 1 t\n",
        );
        let v = check(&e, &host_run(0, KTAP_OK), t(), Some(&one_sided));
        assert_eq!(
            v.reasons,
            vec![
                "a: guest skip, host ok (not a documented capability difference)",
                "b: guest skip, host ok (not a documented capability difference)"
            ]
        );
        let skipped = guest_case("KTAP version 1\n1..1\nok 1 t # SKIP not under TCG\n");
        let v = check(&e, &host_run(0, KTAP_OK), t(), Some(&skipped));
        assert_eq!(
            v.reasons,
            vec![
                "skipped in the guest but ran on the host: not a documented capability difference"
            ]
        );
        assert!(check(&e, &host_run(77, ""), t(), Some(&skipped)).passed());
        // Documented: fault_ac skips in the guest only; nr_451_enosys may skip on the host.
        let mut ac = entry(135, &["/bin/fault", "ac"]);
        ac.name = "fault_ac".into();
        let ac_guest = guest_case(
            "KTAP version 1\n1..1\n# Subtest: fault_ac\n    ok 1 fault_ac # SKIP no #AC\nok 1 fault_ac # SKIP status 77\n",
        );
        assert!(check(&ac, &host_run(135, ""), t(), Some(&ac_guest)).passed());
        let mut nr = entry(0, &["/bin/syscall_numbering"]);
        nr.name = "syscall_numbering".into();
        let nr_guest = guest_case(
            "KTAP version 1\n1..1\n# Subtest: syscall_numbering\n    KTAP version 1\n    1..1\n    ok 1 nr_451_enosys\nok 1 syscall_numbering\n",
        );
        let host = "KTAP version 1\n1..1\nok 1 nr_451_enosys # SKIP has cachestat\n";
        assert!(check(&nr, &host_run(0, host), t(), Some(&nr_guest)).passed());
        let host = "KTAP version 1\n1..1\nnot ok 1 nr_451_enosys\n";
        assert!(!check(&nr, &host_run(0, host), t(), Some(&nr_guest)).passed());
        // The guest may not skip what only the host may skip.
        let nr_guest_skip = guest_case(
            "KTAP version 1\n1..1\n# Subtest: syscall_numbering\n    KTAP version 1\n    1..1\n    ok 1 nr_451_enosys # SKIP x\nok 1 syscall_numbering\n",
        );
        let host = "KTAP version 1\n1..1\nok 1 nr_451_enosys\n";
        assert!(!check(&nr, &host_run(0, host), t(), Some(&nr_guest_skip)).passed());
    }
}

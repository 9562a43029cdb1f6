//! The runner check of `cargo xtask test`: boots like `cargo xtask run -- PROGRAM ARGS…` (the
//! same packing, framing, demultiplexing and status mapping, `run::boot`), and compares the
//! program's stdout, stderr and status byte for byte with a native run of the same binary on
//! this host, with the same argv, environment and stdin. Programs the kernel must refuse are
//! checked for status 126, one reason and no output.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};

mod kselftest;
mod large;
mod native;

use native::{PidNamespace, first_difference, native_run};

use crate::build::Artifacts;
use crate::frames::{Capture, Captured};
use crate::host_run;
use crate::lean::CtSetting;
use crate::linux_selftests::expected::{self, SELFTESTS, Selftest};
use crate::linux_selftests::expected_32::SELFTESTS_32;
use crate::linux_selftests::judge::{self, Judgement};
use crate::linux_selftests::kselftest::Libc;
use crate::linux_selftests::kselftest_expected::{self, KsftProgram};
use crate::linux_selftests::x86_gated::{self, GATED};
use crate::qemu::Machine;
use crate::run::{self, BootOptions, RunEnd, RunSpec};
use crate::workspace::{Flavor, Workspace};

/// Whether the process layer passes argv strings that are not UTF-8 (it does: argv and envp
/// travel as bytes).
const BYTE_ARGV: bool = true;

/// Boots at a time (each QEMU is one TCG thread).
const PARALLEL_BOOTS: usize = 2;

/// What a case runs.
#[derive(Debug, Clone)]
enum Program {
    /// A kentry user program, compared with its native run.
    User(&'static str),
    /// Debian's static busybox, an unmodified Linux program nobody here wrote, compared with
    /// its native run.
    Busybox,
    /// A dynamically linked program of this host (Debian's), packed with its loader and
    /// libraries as `cargo xtask run` packs them, compared with its native run.
    HostDynamic(&'static str),
    /// One of Linux's own x86 selftests (crate::linux_selftests): judged as Linux judges it
    /// (status, `[FAIL]` on stdout or stderr) and held to the counts its table records; not
    /// compared with a native run, since this host's kernel is not the one they describe.
    LinuxSelftest(&'static Selftest),
    /// One of Linux's seccomp or ptrace selftests (linux_selftests/kselftest.rs), built with
    /// this C library: judged case by case against linux_selftests/kselftest_expected.rs.
    Kselftest(&'static KsftProgram, Libc),
    /// Bytes the kernel must refuse (the reason must contain the text), with xtask's own
    /// check bypassed: the kernel's loader is the second line of defence.
    Refused { exe: Vec<u8>, reason: &'static str },
    /// The static executable of about 170 MiB built for the case (large.rs), compared with
    /// its native run.
    Large,
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    program: Program,
    /// The arguments after argv[0].
    args: Vec<Vec<u8>>,
    stdin: Vec<u8>,
    /// The program prints its pid: the native run must be PID 1 of a new PID namespace.
    pid_1: bool,
    /// Why the case cannot pass yet (reported as skipped, not run).
    pending: Option<String>,
    /// A `-cpu` model other than `max`, for a QEMU bug the case would otherwise hit.
    cpu: Option<&'static str>,
}

impl Case {
    fn user(name: &str, program: &'static str, args: &[&[u8]]) -> Self {
        Case {
            name: name.into(),
            program: Program::User(program),
            args: args.iter().map(|a| a.to_vec()).collect(),
            stdin: Vec::new(),
            pid_1: false,
            pending: None,
            cpu: None,
        }
    }
}

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass(String),
    Fail(String),
    Skip(String),
}

/// The cases.
fn cases() -> Vec<Case> {
    // Odd bytes: spaces, an empty argument, shell metacharacters, control bytes, UTF-8,
    // a newline, things that look like options.
    let odd: &[&[u8]] = &[
        b"a b",
        b"",
        b"tab\there",
        b"quote\"'\\$HOME*?;|&",
        "caf\u{e9} \u{2713}".as_bytes(),
        b"\x01\x1b[1m\x7f",
        b"new\nline",
        b"--",
        b"-x",
    ];
    let mut hello = Case::user("runner_hello_args", "hello", odd);
    hello.pid_1 = true;
    let mut status = vec![b"3".as_slice()];
    status.extend_from_slice(odd);
    // More than one frame's worth (65,535 bytes) of output, from a single argument.
    let big: Vec<u8> = (0..70_000u32).map(|i| b'!' + (i % 94) as u8).collect();
    let mut stdin = Case::user("runner_stdin", "echoargs", &[b"--stdin", b"0"]);
    stdin.stdin = (0..=255u8).cycle().take(3000).collect();
    let mut bytes = Case::user("runner_argv_bytes", "echoargs", &[b"0", b"\xff\xfe\x80 x"]);
    if !BYTE_ARGV {
        bytes.pending = Some("the process layer takes argv as UTF-8 &str only".into());
    }
    // A 32-bit ELF for a machine other than i386 (i386 programs run: docs/compat.md).
    let mut elf32 = vec![0u8; 52];
    elf32[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
    elf32[16] = 2; // ET_EXEC
    elf32[18] = 40; // EM_ARM
    let refused = |name: &str, exe, reason| Case {
        name: name.into(),
        program: Program::Refused { exe, reason },
        args: vec![b"x".to_vec()],
        stdin: Vec::new(),
        pid_1: false,
        pending: None,
        cpu: None,
    };
    // ET_EXEC with a PT_LOAD and a PT_INTERP whose loader the guest does not have (xtask,
    // bypassed here, would have packed it): the kernel's loader must refuse it by name.
    let interp = b"/lib64/ld-linux-x86-64.so.2\0";
    let mut dynamic = vec![0u8; 64 + 2 * 56];
    dynamic[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
    dynamic[16] = 2; // ET_EXEC
    dynamic[18] = 62; // EM_X86_64
    dynamic[20] = 1; // EV_CURRENT
    dynamic[24..32].copy_from_slice(&0x40_0000u64.to_le_bytes()); // e_entry
    dynamic[32] = 64; // e_phoff
    dynamic[52] = 64; // e_ehsize
    dynamic[54] = 56; // e_phentsize
    dynamic[56] = 2; // e_phnum
    let len = (dynamic.len() + interp.len()) as u64;
    let load = 64;
    dynamic[load] = 1; // PT_LOAD
    dynamic[load + 4] = 5; // PF_R | PF_X
    dynamic[load + 16..load + 24].copy_from_slice(&0x40_0000u64.to_le_bytes()); // p_vaddr
    dynamic[load + 32..load + 40].copy_from_slice(&len.to_le_bytes()); // p_filesz
    dynamic[load + 40..load + 48].copy_from_slice(&len.to_le_bytes()); // p_memsz
    dynamic[load + 48..load + 56].copy_from_slice(&0x1000u64.to_le_bytes()); // p_align
    let ph = 64 + 56;
    dynamic[ph] = 3; // PT_INTERP
    dynamic[ph + 8] = (64 + 2 * 56) as u8; // p_offset
    dynamic[ph + 32] = interp.len() as u8; // p_filesz
    dynamic.extend_from_slice(interp);
    // Busybox's shell: fork, exec of itself, pipes, wait, exit status — unmodified.
    let busybox = |name: &str, script: &str| Case {
        name: name.into(),
        program: Program::Busybox,
        args: vec![b"sh".to_vec(), b"-c".to_vec(), script.as_bytes().to_vec()],
        stdin: Vec::new(),
        pid_1: false,
        pending: None,
        cpu: None,
    };
    let mut all = vec![
        busybox(
            "runner_busybox_pipeline",
            "for i in 3 1 2; do echo line $i; done | sort -r; echo 'a b c' | tr ' ' '\n' | wc -l; exit 5",
        ),
        busybox(
            "runner_busybox_files",
            "cd /tmp && mkdir -p d && echo hi > d/f && cat d/f && ls d && rm -r d && \
             seq 1 100 | awk '{s+=$1} END {print s}' && printf '%s-%d\n' x 7 >&2",
        ),
        busybox(
            "runner_busybox_procfs",
            "sysctl -n kernel.ostype; test -L /proc/self && echo self-is-link; \
             cd /tmp && readlink /proc/self/cwd; cat /proc/self/comm; wc -w < /proc/loadavg; \
             cat /proc/self/cmdline | tr '\\0' ' '; echo; grep -c proc /proc/filesystems",
        ),
        // A real server and client over kentry's loopback (net/inet.rs): busybox httpd in
        // the background, wget fetching a page from it until it answers (the shell's
        // "Terminated" report of the killed job comes or not by timing: stderr goes first).
        busybox(
            "runner_busybox_httpd_wget",
            "cd /tmp && rm -rf kw && mkdir kw && echo hello-over-loopback > kw/index.html && \
             httpd -f -p 127.0.0.1:18089 -h /tmp/kw & p=$!; \
             for i in 1 2 3 4 5 6 7 8 9 10; do \
             wget -q -O - http://127.0.0.1:18089/index.html 2>/dev/null && break; sleep 0.2; done; \
             exec 2>/dev/null; kill $p; wait $p; echo httpd status $?; rm -rf /tmp/kw",
        ),
        // Dynamically linked programs of this host, with their loader (PT_INTERP) and
        // libraries (DT_NEEDED) packed (run/dynamic.rs).
        Case {
            name: "runner_dynamic_sha256sum".into(),
            program: Program::HostDynamic("/usr/bin/sha256sum"),
            args: vec![b"-".to_vec()],
            stdin: b"hello world\n".to_vec(),
            pid_1: false,
            pending: None,
            cpu: None,
        },
        Case {
            name: "runner_dynamic_bash".into(),
            program: Program::HostDynamic("/bin/bash"),
            args: vec![
                b"-c".to_vec(),
                b"echo $((6*7)) ${BASH_VERSINFO[0]}; printf '%s\\n' a b | while read x; do echo \"<$x>\"; done; \
                  f() { return 4; }; f; echo status $?; ls() { echo no-ls; }; ls; \
                  while read y; do echo \"[$y]\"; done < <(printf '%s\\n' c d); echo to-err > /proc/self/fd/2; exit 3"
                    .to_vec(),
            ],
            stdin: Vec::new(),
            pid_1: false,
            pending: None,
            cpu: None,
        },
        // C test programs linked dynamically (user/c/build.sh's progs_dyn), x86-64 and i386:
        // TLS set up by ld.so, fork, and an execve of a dynamic program inside the guest.
        Case::user("runner_dynamic_threads", "threads-glibcdyn", &[]),
        Case::user("runner_dynamic_forkexec", "forkexec-glibcdyn", &[]),
        Case::user("runner_dynamic_threads_i386", "threads-glibc32dyn", &[]),
        Case::user("runner_dynamic_forkexec_i386", "forkexec-glibc32dyn", &[]),
        Case {
            name: "runner_large_static".into(),
            program: Program::Large,
            args: Vec::new(),
            stdin: Vec::new(),
            pid_1: false,
            pending: None,
            cpu: None,
        },
        hello,
        Case::user("runner_echoargs_status", "echoargs", &status),
        Case::user("runner_big_output", "echoargs", &[b"0", &big]),
        Case::user("runner_fault_ud", "fault", &[b"ud"]),
        stdin,
        bytes,
        refused(
            "runner_refuses_non_elf",
            b"#not a program\n".to_vec(),
            "not an ELF",
        ),
        refused("runner_refuses_32bit", elf32, "not for i386"),
        refused(
            "runner_refuses_missing_loader",
            dynamic,
            "its dynamic loader (PT_INTERP) cannot be opened",
        ),
    ];
    // Linux's own x86 selftests, with what each must print (linux_selftests/expected.rs).
    all.extend(SELFTESTS.iter().chain(SELFTESTS_32).map(|t| Case {
        name: expected::case_name(t),
        program: Program::LinuxSelftest(t),
        args: Vec::new(),
        stdin: Vec::new(),
        pid_1: false,
        pending: None,
        cpu: t.cpu,
    }));
    // The x86 selftests that cannot run without what kentry lacks: SKIP, not booted, until
    // it has it (linux_selftests/x86_gated.rs).
    all.extend(GATED.iter().map(|g| Case {
        name: x86_gated::case_name(g),
        program: Program::LinuxSelftest(&g.test),
        args: Vec::new(),
        stdin: Vec::new(),
        pid_1: false,
        pending: g.not_run(),
        cpu: g.test.cpu,
    }));
    // Linux's seccomp and ptrace selftests, each with glibc and with musl.
    for p in kselftest_expected::PROGRAMS {
        all.extend(Libc::ALL.iter().map(|&libc| Case {
            name: kselftest_expected::case_name(p, libc.word()),
            program: Program::Kselftest(p, libc),
            args: Vec::new(),
            stdin: Vec::new(),
            pid_1: false,
            pending: match libc {
                Libc::Musl => p.musl_not_run.map(String::from),
                Libc::Glibc => None,
            },
            cpu: None,
        }));
    }
    all
}

/// Whether a case of this name exists (for `--only`).
pub fn has_case(name: &str) -> bool {
    cases().iter().any(|c| c.name == name)
}

/// The names of the cases (for the entry-case catalogue check).
pub fn case_names() -> Vec<String> {
    cases().into_iter().map(|c| c.name).collect()
}

/// A kernel the cases boot.
#[derive(Debug, Clone, Copy)]
pub struct Kernel<'a> {
    pub flavor: Flavor,
    pub art: &'a Artifacts,
    /// The lean kernel's context-tracking setting (`None` on the test kernel, which has it
    /// on): off is how `cargo xtask run` boots it; on adds `kentry.ct=on`.
    pub ct: Option<CtSetting>,
}

/// One case's result on one kernel.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name; on the lean kernel followed by ` [lean ct=off]`.
    pub name: String,
    pub verdict: Verdict,
    /// The kernel log of its boot.
    pub log: PathBuf,
}

/// How a case's name and files are marked on a kernel: plain on the test kernel,
/// ` [lean ct=off]` / ` [lean ct=on]` on the lean one.
fn marks(ct: Option<CtSetting>) -> (String, &'static str) {
    match ct {
        None => (String::new(), ""),
        Some(CtSetting::Off) => (CtSetting::Off.suffix(), "-lean"),
        Some(CtSetting::On) => (CtSetting::On.suffix(), "-lean-ct-on"),
        Some(CtSetting::Hooks) => (CtSetting::Hooks.suffix(), "-lean-ct-hooks"),
    }
}

/// Runs the cases selected by `only` on each of `kernels`; returns the results in case order,
/// each case's kernels in the order given.
pub fn run(
    ws: &Workspace,
    qemu: &Path,
    kernels: &[Kernel<'_>],
    machine: Machine,
    timeout: Duration,
    only: Option<&str>,
) -> Result<Vec<CaseResult>> {
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| only.is_none_or(|n| n == c.name))
        .collect();
    let scratch = ws.scratch_dir().join("runner");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let pid_ns = if cases.iter().any(|c| c.pid_1 && c.pending.is_none()) {
        PidNamespace::probe()
    } else {
        None
    };
    let selftests: Vec<&str> = cases
        .iter()
        .filter(|c| c.pending.is_none())
        .filter_map(|c| match c.program {
            Program::LinuxSelftest(t) => Some(t.name),
            _ => None,
        })
        .collect();
    // Built once, before the boots run in parallel.
    crate::linux_selftests::ensure_built(&ws.target(), &selftests)?;
    let mut programs: Vec<&KsftProgram> = Vec::new();
    for c in cases.iter().filter(|c| c.pending.is_none()) {
        if let Program::Kselftest(p, _) = c.program
            && !programs.iter().any(|q| q.name == p.name)
        {
            programs.push(p);
        }
    }
    crate::linux_selftests::kselftest::ensure_built(&ws.target(), &programs)?;
    if cases
        .iter()
        .any(|c| matches!(c.program, Program::Large) && c.pending.is_none())
    {
        large::build(
            &ws.user_c_src().join("large").join("large_exec.c"),
            &scratch,
        )?;
    }
    let target = ws.target();
    let mut syms = Vec::new();
    for k in kernels {
        let sym_path = ws.kernel_sym(k.flavor);
        syms.push(
            std::fs::read(&sym_path).with_context(|| format!("reading {}", sym_path.display()))?,
        );
    }
    let envs: Vec<Env<'_>> = kernels
        .iter()
        .zip(&syms)
        .map(|(k, sym)| Env {
            qemu,
            target: &target,
            art: k.art,
            ct: k.ct,
            kernel_sym: sym,
            scratch: &scratch,
            pid_ns: pid_ns.as_ref(),
            opts: BootOptions {
                machine,
                accel: crate::qemu::Accel::Tcg,
                cpu: "max".into(),
                // One CPU: the runner's cases check the run contract, not SMP, and many of
                // them boot at once on a small host.
                cpus: 1,
                memory_mib: None,
                kernel_args: match k.ct {
                    Some(ct @ (CtSetting::On | CtSetting::Hooks)) => {
                        vec![format!("kentry.ct={}", ct.word())]
                    }
                    _ => Vec::new(),
                },
                gdb: false,
                timeout: Some(timeout),
                log: false,
                serial_input: None,
            },
            timeout,
        })
        .collect();

    // Boots run a few at a time; results are reported in case order.
    let work: Vec<(&Case, &Env<'_>)> = cases
        .iter()
        .flat_map(|c| envs.iter().map(move |e| (c, e)))
        .collect();
    let next = Mutex::new(work.iter().enumerate());
    let results: Mutex<Vec<Option<Verdict>>> = Mutex::new(vec![None; work.len()]);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_BOOTS.min(work.len()) {
            s.spawn(|| {
                loop {
                    let Some((i, (case, env))) =
                        next.lock().unwrap_or_else(|e| e.into_inner()).next()
                    else {
                        break;
                    };
                    let v = check(env, case).unwrap_or_else(|e| Verdict::Fail(format!("{e:#}")));
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(v);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(work
        .iter()
        .zip(results)
        .map(|((c, e), v)| {
            let (suffix, _) = marks(e.ct);
            CaseResult {
                name: format!("{}{suffix}", c.name),
                verdict: v.unwrap_or_else(|| Verdict::Fail("not run".into())),
                log: e.file(c, "log"),
            }
        })
        .collect())
}

/// What every case needs, for one kernel.
struct Env<'a> {
    qemu: &'a Path,
    /// The workspace's target directory (where the Linux selftests are built).
    target: &'a Path,
    art: &'a Artifacts,
    /// The lean kernel's context tracking (`None`: the test kernel).
    ct: Option<CtSetting>,
    kernel_sym: &'a [u8],
    scratch: &'a Path,
    pid_ns: Option<&'a PidNamespace>,
    opts: BootOptions,
    timeout: Duration,
}

impl Env<'_> {
    /// The scratch file of `case` on this kernel with extension `ext`.
    fn file(&self, case: &Case, ext: &str) -> PathBuf {
        let (_, file_mark) = marks(self.ct);
        self.scratch.join(format!("{}{file_mark}.{ext}", case.name))
    }
}

fn check(env: &Env<'_>, case: &Case) -> Result<Verdict> {
    if let Some(why) = &case.pending {
        return Ok(Verdict::Skip(why.clone()));
    }
    match &case.program {
        Program::User(name) => check_user(env, case, name),
        Program::Busybox => {
            let exe = crate::install::busybox()?;
            check_program(env, case, exe)
        }
        Program::HostDynamic(path) => check_program(env, case, path.into()),
        Program::LinuxSelftest(t) => check_selftest(env, case, t),
        Program::Kselftest(p, libc) => kselftest::check(env, case, p, *libc),
        Program::Refused { exe, reason } => check_refused(env, case, exe, reason),
        Program::Large => check_program(env, case, large::exe_path(env.scratch)),
    }
}

/// Boots `spec` the way `cargo xtask run` does, capturing the output.
fn guest_run(env: &Env<'_>, case: &Case, spec: &RunSpec) -> Result<(RunEnd, Captured)> {
    let capture = Capture::default();
    let initrd = env.file(case, "cpio");
    let mut opts = env.opts.clone();
    if let Some(cpu) = case.cpu {
        opts.cpu = cpu.into();
    }
    if let Program::LinuxSelftest(t) = &case.program {
        opts.cpus = expected::cpus(t);
    }
    let log = run::boot(
        env.qemu,
        &env.art.kernel,
        env.kernel_sym,
        &initrd,
        spec,
        &opts,
        Box::new(capture.clone()),
    )?;
    std::fs::write(env.file(case, "log"), run::log_text(&log))
        .context("writing the case's kernel log")?;
    if let Some(e) = log.events.iter().find(|e| e.starts_with("framing:")) {
        bail!("{e}");
    }
    // The name says `ct=off` or `ct=on`: the lean kernel must have run that way.
    if let Some(ct) = env.ct
        && let Some(problem) = crate::lean::check_ct(ct, &log.text())
    {
        bail!("{problem}");
    }
    Ok((run::end_of(&log), capture.take()))
}

fn check_user(env: &Env<'_>, case: &Case, name: &str) -> Result<Verdict> {
    let exe = env
        .art
        .programs
        .iter()
        .find(|p| p.name == name)
        .with_context(|| format!("the user program {name} was not built"))?
        .path
        .clone();
    check_program(env, case, exe)
}

/// Runs Linux selftest `t` in the guest and judges its run (linux_selftests/judge.rs).
fn check_selftest(env: &Env<'_>, case: &Case, t: &Selftest) -> Result<Verdict> {
    let exe = crate::linux_selftests::binary(env.target, t.name);
    let argv = vec![exe.as_os_str().as_bytes().to_vec()];
    let data = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
    let spec = RunSpec::new(&exe, data, argv);
    let (end, guest) = guest_run(env, case, &spec)?;
    let RunEnd::Ended(ended) = end else {
        return Ok(Verdict::Fail(format!(
            "the guest run did not end normally: {end:?}"
        )));
    };
    Ok(
        match judge::judge(t, ended.shell_status(), &guest.stdout, &guest.stderr) {
            Judgement::Pass(summary) => Verdict::Pass(summary),
            Judgement::Skip(why) => Verdict::Skip(why),
            Judgement::Fail(why) => Verdict::Fail(why),
        },
    )
}

/// Runs the host program `exe` in the guest and natively and compares the two.
fn check_program(env: &Env<'_>, case: &Case, exe: std::path::PathBuf) -> Result<Verdict> {
    let exe = std::fs::canonicalize(&exe).with_context(|| format!("{}", exe.display()))?;
    // argv[0] is the host path: what a shell would pass, and what the native run (through
    // unshare, which execs argv[0]) can use as it is.
    let mut argv = vec![exe.as_os_str().as_bytes().to_vec()];
    argv.extend(case.args.iter().cloned());
    let data = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
    let mut spec = RunSpec::new(&exe, data, argv.clone());
    spec.files = crate::run::shared_objects(&exe, &spec.exe.data)?;
    spec.stdin = case.stdin.clone();

    let pid_ns = match (case.pid_1, env.pid_ns) {
        (true, None) => {
            return Ok(Verdict::Skip(
                "the program prints its pid, and no PID namespace is available here (unshare --pid)"
                    .into(),
            ));
        }
        (true, Some(ns)) => Some(ns),
        (false, _) => None,
    };
    let native = native_run(&exe, &argv, &spec.envp, &case.stdin, pid_ns, env)?;
    let (end, guest) = guest_run(env, case, &spec)?;
    let RunEnd::Ended(ended) = end else {
        return Ok(Verdict::Fail(format!(
            "the guest run did not end normally: {end:?}"
        )));
    };
    let status = ended.shell_status();
    let mut diffs = Vec::new();
    match native.status {
        None => diffs.push(format!("the native run timed out after {:?}", env.timeout)),
        Some(s) if s != status => diffs.push(format!(
            "status: guest {}, native {}",
            host_run::status_name(i32::from(status)),
            host_run::status_name(i32::from(s))
        )),
        Some(_) => {}
    }
    for (what, g, n) in [
        ("stdout", &guest.stdout, &native.stdout),
        ("stderr", &guest.stderr, &native.stderr),
    ] {
        if let Some(d) = first_difference(g, n) {
            diffs.push(format!("{what}: {d}"));
        }
    }
    if diffs.is_empty() {
        Ok(Verdict::Pass(format!(
            "status {}, stdout {} bytes, stderr {} bytes: same as native{}",
            host_run::status_name(i32::from(status)),
            guest.stdout.len(),
            guest.stderr.len(),
            if pid_ns.is_some() { " (as PID 1)" } else { "" }
        )))
    } else {
        Ok(Verdict::Fail(diffs.join("; ")))
    }
}

fn check_refused(env: &Env<'_>, case: &Case, exe: &[u8], reason: &str) -> Result<Verdict> {
    let mut argv = vec![b"/bin/refused".to_vec()];
    argv.extend(case.args.iter().cloned());
    let spec = RunSpec::new(Path::new("refused"), exe.to_vec(), argv);
    let (end, out) = guest_run(env, case, &spec)?;
    let mut problems = Vec::new();
    match &end {
        RunEnd::NotStarted { status, reason: r } => {
            if *status != run::STATUS_CANNOT_EXECUTE {
                problems.push(format!("status {status}, expected 126"));
            }
            if !r.contains(reason) || r.contains('\n') {
                problems.push(format!("reason {r:?} is not one line saying {reason:?}"));
            }
        }
        other => problems.push(format!("expected a refusal (126), got {other:?}")),
    }
    if !out.stdout.is_empty() || !out.stderr.is_empty() {
        problems.push("the refused program produced output".into());
    }
    Ok(if problems.is_empty() {
        let RunEnd::NotStarted { reason, .. } = end else {
            unreachable!()
        };
        Verdict::Pass(format!("status 126: {reason}"))
    } else {
        Verdict::Fail(problems.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique() {
        let cases = cases();
        let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases.len());
        assert!(has_case("runner_fault_ud"));
        assert!(has_case("linux_mov_ss_trap"));
        assert!(!has_case("hello"));
    }
}

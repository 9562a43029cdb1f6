//! The native half of a runner case: the same binary run on this host with exactly the
//! guest's argv, environment and stdin, as PID 1 of a new PID namespace when it prints its pid.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Env;
use crate::host_run;
use crate::install;

/// How to make a program PID 1 of a new PID namespace: `unshare` and its options.
#[derive(Debug, Clone)]
pub struct PidNamespace {
    unshare: PathBuf,
    options: &'static [&'static str],
}

impl PidNamespace {
    /// Finds a way that works here: plain (root), or inside a new user namespace.
    pub fn probe() -> Option<Self> {
        let unshare = install::which("unshare")?;
        let truth = install::which("true")?;
        for options in [
            &["--pid", "--fork", "--kill-child"][..],
            &[
                "--user",
                "--map-root-user",
                "--pid",
                "--fork",
                "--kill-child",
            ],
        ] {
            let ok = Command::new(&unshare)
                .args(options)
                .arg("--")
                .arg(&truth)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Some(PidNamespace {
                    unshare: unshare.clone(),
                    options,
                });
            }
        }
        None
    }
}

/// A native run.
#[derive(Debug, Default)]
pub struct NativeRun {
    /// The status as a shell shows it; `None` after a timeout.
    pub status: Option<u8>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `exe` natively with exactly `argv` (argv[0] included) and `envp`, `stdin` on its
/// stdin, in its own process group, without core dumps; as PID 1 of a new PID namespace if
/// `pid_ns` is given. argv[0] must be the path of `exe`: it is what gets executed.
pub fn native_run(
    exe: &Path,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    stdin: &[u8],
    pid_ns: Option<&PidNamespace>,
    env: &Env<'_>,
) -> Result<NativeRun> {
    // One native run at a time: the same case runs once per kernel flavour, in parallel, and
    // a script that works in the host's /tmp (runner_busybox_files) must not race its twin.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let os = |b: &Vec<u8>| OsStr::from_bytes(b).to_os_string();
    if argv.first().map(|a| Path::new(OsStr::from_bytes(a))) != Some(exe) {
        bail!("a native run needs argv[0] = the program's path");
    }
    // `env -i` sets the environment in exactly the given order (Command would sort it), then
    // execs argv[0] with argv; `unshare` before it makes that process PID 1.
    let env_bin = install::which("env").context("env(1) is not on PATH")?;
    let mut cmd = match pid_ns {
        Some(ns) => {
            let mut c = Command::new(&ns.unshare);
            c.args(ns.options).arg("--").arg(&env_bin);
            c
        }
        None => Command::new(&env_bin),
    };
    cmd.arg("-i")
        .args(envp.iter().map(os))
        .args(argv.iter().map(os))
        .env_clear();
    if envp
        .iter()
        .any(|e| !e.contains(&b'=') || e.starts_with(b"="))
    {
        bail!("an environment string without NAME= cannot be passed through env(1)");
    }
    cmd.current_dir(env.scratch)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    crate::host_run::no_core_dumps(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {} natively", exe.display()))?;
    let pgid = child.id();
    let mut input = child.stdin.take().context("stdin not piped")?;
    let mut out_pipe = child.stdout.take().context("stdout not piped")?;
    let mut err_pipe = child.stderr.take().context("stderr not piped")?;
    let stdin = stdin.to_vec();
    let deadline = Instant::now() + env.timeout;
    std::thread::scope(|s| {
        // A program that does not read its stdin closes the pipe: a failed write is fine.
        s.spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let out = s.spawn(move || {
            let mut b = Vec::new();
            let _ = out_pipe.read_to_end(&mut b);
            b
        });
        let err = s.spawn(move || {
            let mut b = Vec::new();
            let _ = err_pipe.read_to_end(&mut b);
            b
        });
        let status = loop {
            if let Some(st) = child.try_wait().context("waiting for the native run")? {
                break Some(match (st.code(), st.signal()) {
                    (Some(c), _) => (c & 0xff) as u8,
                    (None, Some(sig)) => 128u8.saturating_add(sig as u8),
                    (None, None) => 255,
                });
            }
            if Instant::now() >= deadline {
                host_run::kill_group(pgid);
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        Ok(NativeRun {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        })
    })
}

/// The first place where `guest` and `native` differ, described with a little context.
pub(super) fn first_difference(guest: &[u8], native: &[u8]) -> Option<String> {
    let at = guest
        .iter()
        .zip(native)
        .position(|(a, b)| a != b)
        .or_else(|| (guest.len() != native.len()).then(|| guest.len().min(native.len())))?;
    let around = |b: &[u8]| {
        let start = at.saturating_sub(20);
        let end = (at + 40).min(b.len());
        format!("{:?}", String::from_utf8_lossy(&b[start.min(end)..end]))
    };
    Some(format!(
        "differs at byte {at} (guest {} bytes, native {}): guest …{}…, native …{}…",
        guest.len(),
        native.len(),
        around(guest),
        around(native)
    ))
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn differences() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert!(first_difference(b"abc", b"abd").unwrap().contains("byte 2"));
        assert!(first_difference(b"ab", b"abc").unwrap().contains("byte 2"));
        assert!(first_difference(b"", b"x").unwrap().contains("byte 0"));
    }
}

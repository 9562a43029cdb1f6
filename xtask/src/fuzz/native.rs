//! The fuzzer natively on this host: the cross-check of its expected-signal table against
//! Linux itself. Only with `safe` (syscalls harmless on any host), as `nobody` when xtask runs
//! as root, in an empty directory of its own; once with IRETQ loading RSP/RFLAGS/SS (where
//! the bad-SS and WRFSBASE #GP rows are tested) and once the POPF way the guest takes.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::report;

/// `nobody` on Debian.
const NOBODY: u32 = 65534;

/// Runs `program` natively for `seconds` in each way; a summary, or why it failed.
pub fn cross_check(program: &Path, seed: u64, seconds: u64) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("kentry-fuzz-native-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
    let result = (|| {
        let mut parts = Vec::new();
        for way in ["iretq", "popf"] {
            let mut cmd = Command::new(program);
            cmd.arg(format!("{seed:#x}"))
                .arg(seconds.to_string())
                .arg("safe");
            if way == "popf" {
                cmd.arg("popf");
            }
            cmd.current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } == 0 {
                // std drops the supplementary groups when it changes the uid as root.
                cmd.uid(NOBODY).gid(NOBODY);
            }
            let child = cmd
                .spawn()
                .map_err(|e| format!("starting {}: {e}", program.display()))?;
            let out = wait_output(child, Duration::from_secs(seconds + 30))?;
            let text = String::from_utf8_lossy(&out.1).into_owned();
            let s = report::summarize(&text);
            let fails: Vec<&String> = s.failures.iter().take(5).collect();
            if out.0 != Some(0) || !s.done || s.get("iterations") == 0 {
                return Err(format!(
                    "natively ({way}): status {:?}, {} cases, {} failed: {fails:?}",
                    out.0,
                    s.get("iterations"),
                    s.get("failures")
                ));
            }
            parts.push(format!("{way} {} cases", s.get("iterations")));
        }
        Ok(format!(
            "seed {seed:#x}, Linux agrees with the table: {}",
            parts.join(", ")
        ))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Waits for `child` at most `limit` (then kills it); its exit code and stdout.
fn wait_output(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<(Option<i32>, Vec<u8>), String> {
    let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no end within {} s", limit.as_secs()));
            }
            Err(e) => return Err(format!("waiting: {e}")),
        }
    };
    let out = reader.join().unwrap_or_default();
    Ok((status.code(), out))
}

//! `tty_interactive` of `cargo xtask test`: drives `cargo xtask run -- busybox sh` through a
//! pseudo-terminal of this host, as a person at a terminal would (docs/tty.md). It types
//! commands and reads the screen: a shell prompt at all (without a tty in the guest, busybox
//! sh sees no terminal and ends at once), output processing (ONLCR), the kernel's canonical
//! editing and echo under `read`, the window size at boot and after a resize (SIGWINCH on
//! the host, the escape message, SIGWINCH and TIOCGWINSZ in the guest), the terminal's name
//! and /dev/tty, ^C on a running
//! `sleep` (status 130), ^Z, `fg` and ^C again, a background `cat` stopped by SIGTTIN,
//! `exit` with status 0, and the host terminal's
//! settings restored afterwards. On a failure it prints the screen it captured.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;

pub const TEST_NAME: &str = "tty_interactive";

/// The terminal size at start, and after the resize.
const SIZE: (u16, u16) = (30, 100);
const RESIZED: (u16, u16) = (25, 90);
/// The first prompt comes after xtask's (up-to-date) build and the boot.
const FIRST_PROMPT: Duration = Duration::from_secs(180);
const STEP: Duration = Duration::from_secs(20);

struct Session {
    master: std::fs::File,
    /// Everything the terminal received.
    screen: Arc<Mutex<Vec<u8>>>,
    /// How much of `screen` earlier expectations consumed.
    mark: usize,
    child: Child,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of terminal output without its escape sequences (CSI and two-byte ones), each
/// byte with its index in the raw output.
fn visible(raw: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == 0x1b {
            if raw.get(i + 1) == Some(&b'[') {
                i += 2;
                while i < raw.len() && !(0x40..=0x7e).contains(&raw[i]) {
                    i += 1;
                }
            } else {
                i += 1;
            }
            i += 1;
            continue;
        }
        out.push((raw[i], i));
        i += 1;
    }
    out
}

fn set_size(fd: &impl AsRawFd, (rows, cols): (u16, u16)) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from `ws`, which lives across the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        bail!("TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

impl Session {
    fn start(ws: &Workspace) -> Result<Session> {
        let busybox = crate::install::busybox()?;
        let (mut m, mut s) = (0, 0);
        // SAFETY: openpty fills the two descriptors; no name buffer, no settings.
        if unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        } != 0
        {
            bail!("openpty: {}", std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors are new and owned here alone.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        set_size(&master, SIZE)?;
        let mut cmd = Command::new(std::env::current_exe().context("xtask's own path")?);
        cmd.current_dir(&ws.root)
            .args(["run", "--cpus", "1", "--timeout", "300", "--"])
            .arg(&busybox)
            .arg("sh")
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe; the child makes the pty (its fd 0
        // by then) its controlling terminal, as a login does.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().context("starting xtask run")?;
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let (mut from, into) = (master.try_clone()?, screen.clone());
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            // Ends with EIO once no process holds the terminal any more.
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Ok(Session {
            master,
            screen,
            mark: 0,
            child,
        })
    }

    fn send(&mut self, keys: &str) -> Result<()> {
        self.master.write_all(keys.as_bytes())?;
        self.master.flush()?;
        Ok(())
    }

    /// Waits until the visible output after the mark contains `text`; moves the mark past it.
    fn expect(&mut self, text: &str, within: Duration) -> Result<()> {
        let end = Instant::now() + within;
        loop {
            {
                let raw = self.screen.lock().unwrap();
                let vis = visible(&raw[self.mark..]);
                let bytes: Vec<u8> = vis.iter().map(|&(b, _)| b).collect();
                if let Some(at) = bytes.windows(text.len()).position(|w| w == text.as_bytes()) {
                    self.mark += vis[at + text.len() - 1].1 + 1;
                    return Ok(());
                }
            }
            if Instant::now() >= end {
                bail!("{text:?} did not appear within {} s", within.as_secs());
            }
            if let Some(status) = self.child.try_wait()? {
                // Whatever it wrote last is in by now (the reader ends at the close).
                std::thread::sleep(Duration::from_millis(200));
                if !self.ended_with(text) {
                    bail!("xtask run ended ({status}) before {text:?} appeared");
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the visible output after the mark contains `text` (a last look once xtask
    /// ended).
    fn ended_with(&self, text: &str) -> bool {
        let raw = self.screen.lock().unwrap();
        let vis: Vec<u8> = visible(&raw[self.mark..])
            .into_iter()
            .map(|(b, _)| b)
            .collect();
        vis.windows(text.len()).any(|w| w == text.as_bytes())
    }

    /// The screen so far, escape sequences left out, for a failure report.
    fn shown(&self) -> String {
        let raw = self.screen.lock().unwrap();
        let text: Vec<u8> = visible(&raw)
            .into_iter()
            .map(|(b, _)| b)
            .filter(|&b| b != b'\r')
            .collect();
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// Runs the test; its summary, or why it failed with the captured screen.
pub fn run(ws: &Workspace) -> Result<String> {
    let start = Instant::now();
    let mut s = Session::start(ws)?;
    match dialogue(&mut s) {
        Ok(steps) => Ok(format!(
            "{steps} steps through a host pty in {:.1} s",
            start.elapsed().as_secs_f64()
        )),
        Err(e) => {
            let _ = s.child.kill();
            std::thread::sleep(Duration::from_millis(200));
            bail!(
                "{e:#}\n---- the terminal's screen ----\n{}\n---- end of screen ----",
                s.shown()
            )
        }
    }
}

fn dialogue(s: &mut Session) -> Result<usize> {
    const PROMPT: &str = "/ # ";
    let mut steps = 0;
    let mut step = |s: &mut Session, keys: &str, want: &str| -> Result<()> {
        steps += 1;
        s.send(keys)?;
        s.expect(want, STEP)
            .with_context(|| format!("after typing {keys:?}"))
    };
    s.expect(PROMPT, FIRST_PROMPT)
        .context("no shell prompt (is the guest's stdin a terminal?)")?;
    // The shell's own output: NL goes out as CR NL (OPOST|ONLCR).
    step(s, "echo hi\r", "hi\r\n/ # ")?;
    // The shell's `read` reads in canonical mode: the kernel echoes, DEL rubs out a
    // character (ECHOE), CR ends the line (ICRNL).
    step(s, "read x; echo got-$x\r", "got-$x")?;
    std::thread::sleep(Duration::from_millis(500));
    step(s, "abc\x7fd\r", "abc\x08 \x08d\r\ngot-abd\r\n/ # ")?;
    step(s, "stty size\r", &format!("{} {}\r\n", SIZE.0, SIZE.1))?;
    // ttyname(0): fd 0 is /dev/console (same device and inode), /dev/tty opens it.
    step(s, "tty; echo x >/dev/tty\r", "/dev/console\r\nx\r\n")?;
    set_size(&s.master, RESIZED)?;
    std::thread::sleep(Duration::from_millis(500));
    step(
        s,
        "stty size\r",
        &format!("{} {}\r\n", RESIZED.0, RESIZED.1),
    )?;
    // ^C a running sleep: SIGINT to the foreground group, the shell reports 128 + 2.
    step(s, "sleep 100\r", "sleep 100\r\n")?;
    std::thread::sleep(Duration::from_secs(2));
    step(s, "\x03", "^C")?;
    step(s, "echo st=$?\r", "st=130\r\n")?;
    // ^Z stops it (SIGTSTP), fg continues it in the foreground again, ^C ends it.
    step(s, "sleep 100\r", "sleep 100\r\n")?;
    std::thread::sleep(Duration::from_secs(2));
    step(s, "\x1a", "Stopped")?;
    step(s, "fg\r", "sleep 100")?;
    std::thread::sleep(Duration::from_secs(1));
    step(s, "\x03", "^C")?;
    step(s, "echo st=$?\r", "st=130\r\n")?;
    // A background job that reads the terminal is stopped (SIGTTIN), and leaves the keys to
    // the shell.
    step(s, "cat &\r", "cat &\r\n")?;
    std::thread::sleep(Duration::from_secs(2));
    step(s, "jobs\r", "Stopped")?;
    step(s, "kill -9 %1\r", "kill -9 %1\r\n")?;
    // The shell learns of the end at its next look (jobs): a job it still thinks stopped
    // would make it refuse the first `exit`.
    std::thread::sleep(Duration::from_secs(1));
    step(s, "jobs\r", "Killed")?;
    steps += 1;
    s.send("exit\r")?;
    let end = Instant::now() + STEP;
    let status = loop {
        if let Some(st) = s.child.try_wait()? {
            break st;
        }
        if Instant::now() >= end {
            bail!(
                "xtask run did not end within {} s of `exit`",
                STEP.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.code() != Some(0) {
        bail!("xtask run ended with {status} after `exit`, expected 0");
    }
    // The terminal's settings are back: canonical mode and echo, as the pty started.
    // SAFETY: a termios is plain integers: all zeroes is a valid value.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr fills `t` (the pty's settings, read through its master).
    if unsafe { libc::tcgetattr(s.master.as_raw_fd(), &mut t) } != 0 {
        bail!("tcgetattr: {}", std::io::Error::last_os_error());
    }
    if t.c_lflag & (libc::ICANON | libc::ECHO) != (libc::ICANON | libc::ECHO) {
        bail!("xtask left the terminal in raw mode");
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_not_part_of_the_visible_text() {
        let vis: Vec<u8> = visible(b"a\x1b[6nb\x1b[1;2Hc\x1b7d")
            .into_iter()
            .map(|(b, _)| b)
            .collect();
        assert_eq!(vis, b"abcd");
    }
}

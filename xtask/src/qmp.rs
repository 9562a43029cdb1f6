//! Host requests and the QMP client that carries them out.
//!
//! The kernel asks the host for things only the machine can do by printing
//! `[kentry] host-request: inject-nmi` or `[kentry] host-request: mce <HMP mce arguments>`;
//! xtask answers with the QMP command `inject-nmi` or `human-monitor-command` running `mce …`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The prefix of a host-request line.
pub const REQUEST_PREFIX: &str = "[kentry] host-request: ";

/// Something the kernel asked the host to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRequest {
    InjectNmi,
    /// The arguments of HMP `mce`: `[-b] cpu bank status mcg_status addr misc`.
    Mce(String),
    /// `after <N>ms <request>`: the request, carried out N milliseconds of wall time later —
    /// so that an event the guest asks for while still in the kernel lands once it is back
    /// in user code.
    After(u64, Box<HostRequest>),
    /// `in-user <cpu> <request>`: the request, carried out while the VM is stopped with that
    /// CPU in ring 3 (HMP `info registers` says CPL=3). An event that stops the machine when
    /// it lands in the kernel (an action-required #MC) can then never land there: the host
    /// stops the VM, looks, and either injects and resumes or resumes and looks again.
    InUser(u32, Box<HostRequest>),
    /// A request this xtask does not know.
    Unknown(String),
}

impl std::fmt::Display for HostRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostRequest::InjectNmi => f.write_str("inject-nmi"),
            HostRequest::Mce(args) => write!(f, "mce {args}"),
            HostRequest::After(ms, req) => write!(f, "after {ms}ms {req}"),
            HostRequest::InUser(cpu, req) => write!(f, "in-user {cpu} {req}"),
            HostRequest::Unknown(what) => f.write_str(what),
        }
    }
}

/// Reads a serial line as a host request, if it is one.
pub fn parse_request(line: &str) -> Option<HostRequest> {
    Some(parse_verb(
        line.trim_end().strip_prefix(REQUEST_PREFIX)?.trim(),
    ))
}

fn parse_verb(req: &str) -> HostRequest {
    let (verb, args) = req.split_once(' ').unwrap_or((req, ""));
    let args = args.trim();
    match verb {
        "inject-nmi" if args.is_empty() => HostRequest::InjectNmi,
        "mce" if !args.is_empty() => HostRequest::Mce(args.to_string()),
        "after" => match args.split_once(' ') {
            Some((delay, rest)) => match delay.strip_suffix("ms").and_then(|d| d.parse().ok()) {
                Some(ms) if ms <= 10_000 => {
                    HostRequest::After(ms, Box::new(parse_verb(rest.trim())))
                }
                _ => HostRequest::Unknown(req.to_string()),
            },
            None => HostRequest::Unknown(req.to_string()),
        },
        "in-user" => match args.split_once(' ') {
            Some((cpu, rest)) => match cpu.parse() {
                Ok(cpu) => HostRequest::InUser(cpu, Box::new(parse_verb(rest.trim()))),
                Err(_) => HostRequest::Unknown(req.to_string()),
            },
            None => HostRequest::Unknown(req.to_string()),
        },
        _ => HostRequest::Unknown(req.to_string()),
    }
}

/// How often [`Qmp::perform`] stops the VM to find a CPU in ring 3 before it gives up (a few
/// seconds: the guest may have left user mode for good).
const IN_USER_TRIES: u32 = 2000;

/// The CPL in HMP `info registers` output (`... CPL=3 II=0 ...`).
fn current_privilege_level(info: &str) -> Option<u8> {
    let at = info.find(" CPL=")? + " CPL=".len();
    info[at..].chars().next()?.to_digit(10).map(|d| d as u8)
}

/// A QMP connection after the capabilities handshake.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to QEMU's QMP socket (retrying until `wait` has passed: QEMU creates the
    /// socket while it starts) and negotiates capabilities.
    pub fn connect(path: &Path, wait: Duration) -> Result<Self> {
        let deadline = Instant::now() + wait;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("connecting to the QMP socket {}", path.display())
                    });
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .context("setting a QMP read timeout")?;
        let writer = stream.try_clone().context("cloning the QMP socket")?;
        let mut qmp = Self {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_message().context("reading the QMP greeting")?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", None)
            .context("QMP capabilities handshake")?;
        Ok(qmp)
    }

    /// Runs one command and returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut msg = json!({ "execute": command });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        let mut line = msg.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .with_context(|| format!("sending QMP command {command}"))?;
        loop {
            let reply = self
                .read_message()
                .with_context(|| format!("waiting for the reply to QMP {command}"))?;
            if let Some(ret) = reply.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = reply.get("error") {
                bail!("QMP {command} failed: {err}");
            }
            // Asynchronous events ({"event": …}) are not replies.
        }
    }

    /// Runs an HMP command line and returns its text output.
    pub fn human_monitor_command(&mut self, command_line: &str) -> Result<String> {
        let ret = self.execute(
            "human-monitor-command",
            Some(json!({ "command-line": command_line })),
        )?;
        Ok(ret.as_str().unwrap_or_default().to_string())
    }

    /// Carries out a host request; returns a short description of what was done.
    pub fn perform(&mut self, req: &HostRequest) -> Result<String> {
        match req {
            HostRequest::InjectNmi => {
                self.execute("inject-nmi", None)?;
                Ok("QMP inject-nmi".into())
            }
            HostRequest::Mce(args) => {
                let out = self.human_monitor_command(&format!("mce {args}"))?;
                if !out.trim().is_empty() {
                    bail!("HMP `mce {args}` said: {}", out.trim());
                }
                Ok(format!("HMP mce {args}"))
            }
            HostRequest::After(ms, req) => {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(format!("after {ms} ms: {}", self.perform(req)?))
            }
            HostRequest::InUser(cpu, req) => self.perform_in_user(*cpu, req),
            HostRequest::Unknown(what) => bail!("unknown host request {what:?}"),
        }
    }

    /// Stops the VM until `cpu` is seen in ring 3, carries out `req` there and resumes. A CPU
    /// found in the kernel (a timer tick's handler, say) is resumed and looked at again a
    /// millisecond later, for at most [`IN_USER_TRIES`] looks.
    fn perform_in_user(&mut self, cpu: u32, req: &HostRequest) -> Result<String> {
        for look in 1..=IN_USER_TRIES {
            self.execute("stop", None)?;
            let regs = self.execute(
                "human-monitor-command",
                Some(json!({ "command-line": "info registers", "cpu-index": cpu })),
            );
            let cpl = regs
                .as_ref()
                .ok()
                .and_then(|r| r.as_str())
                .and_then(current_privilege_level);
            let done = match cpl {
                Some(3) => Some(self.perform(req)),
                _ => None,
            };
            self.execute("cont", None)?;
            match (done, regs) {
                (Some(done), _) => return Ok(format!("in ring 3 at look {look}: {}", done?)),
                (None, Err(e)) => return Err(e.context(format!("reading CPU {cpu}'s registers"))),
                (None, Ok(_)) if cpl.is_none() => {
                    bail!("HMP `info registers` for CPU {cpu} shows no CPL")
                }
                (None, Ok(_)) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        bail!("CPU {cpu} was not in ring 3 at any of {IN_USER_TRIES} looks")
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.reader.read_line(&mut line)?;
            if n == 0 {
                bail!("QEMU closed the QMP connection");
            }
            if !line.trim().is_empty() {
                return serde_json::from_str(line.trim())
                    .with_context(|| format!("bad QMP message {:?}", line.trim()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn parses_requests() {
        assert_eq!(
            parse_request("[kentry] host-request: after 20ms inject-nmi"),
            Some(HostRequest::After(20, Box::new(HostRequest::InjectNmi)))
        );
        assert_eq!(
            parse_request("[kentry] host-request: after 20 inject-nmi"),
            Some(HostRequest::Unknown("after 20 inject-nmi".into()))
        );
        assert_eq!(
            parse_request("[kentry] host-request: inject-nmi"),
            Some(HostRequest::InjectNmi)
        );
        assert_eq!(
            parse_request("[kentry] host-request: mce 0 1 0xb200000000000000 0x5 0x1000 0\r"),
            Some(HostRequest::Mce(
                "0 1 0xb200000000000000 0x5 0x1000 0".into()
            ))
        );
        assert_eq!(
            parse_request("[kentry] host-request: reboot now"),
            Some(HostRequest::Unknown("reboot now".into()))
        );
        assert_eq!(
            parse_request("[kentry] host-request: mce"),
            Some(HostRequest::Unknown("mce".into()))
        );
        assert_eq!(
            parse_request("[kentry] host-request: in-user 0 mce 0 0 0xbd 0x7 0x12 0"),
            Some(HostRequest::InUser(
                0,
                Box::new(HostRequest::Mce("0 0 0xbd 0x7 0x12 0".into()))
            ))
        );
        assert_eq!(
            parse_request("[kentry] host-request: in-user x inject-nmi"),
            Some(HostRequest::Unknown("in-user x inject-nmi".into()))
        );
        // Only the kernel's own (unindented) lines count.
        assert_eq!(parse_request("    [kentry] host-request: inject-nmi"), None);
        assert_eq!(parse_request("[kentry] booting"), None);
    }

    #[test]
    fn reads_the_cpl() {
        let info = "RIP=0000000000401000 RFL=00000202 [-------] CPL=3 II=0 A20=1 SMM=0 HLT=0\r\n";
        assert_eq!(current_privilege_level(info), Some(3));
        assert_eq!(
            current_privilege_level("RFL=00000002 [-------] CPL=0 II=0"),
            Some(0)
        );
        assert_eq!(current_privilege_level("no such thing"), None);
    }

    /// A fake QEMU on a socket: greets, accepts capabilities, sends an event, answers.
    #[test]
    fn talks_qmp() {
        let dir = std::env::temp_dir().join(format!("xtask-qmp-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("qmp.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let mut got = Vec::new();
            w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n")
                .unwrap();
            for reply in [
                "{\"return\": {}}\r\n",
                "{\"event\": \"NMI\"}\r\n{\"return\": {}}\r\n",
                "{\"return\": \"\"}\r\n",
                "{\"return\": \"Invalid bank\\r\\n\"}\r\n",
            ] {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                got.push(serde_json::from_str::<Value>(&line).unwrap());
                w.write_all(reply.as_bytes()).unwrap();
            }
            got
        });
        let mut qmp = Qmp::connect(&path, Duration::from_secs(2)).unwrap();
        assert_eq!(
            qmp.perform(&HostRequest::InjectNmi).unwrap(),
            "QMP inject-nmi"
        );
        qmp.perform(&HostRequest::Mce("0 1 2 3 4 5".into()))
            .unwrap();
        let err = qmp
            .perform(&HostRequest::Mce("0 99 2 3 4 5".into()))
            .unwrap_err();
        assert!(err.to_string().contains("Invalid bank"), "{err}");
        let got = server.join().unwrap();
        assert_eq!(got[0]["execute"], "qmp_capabilities");
        assert_eq!(got[1]["execute"], "inject-nmi");
        assert_eq!(got[2]["arguments"]["command-line"], "mce 0 1 2 3 4 5");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

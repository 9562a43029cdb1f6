//! A minimal client of the GDB remote serial protocol, enough to drive QEMU's gdbstub:
//! packets with checksums and acks, software breakpoints (`Z0`/`z0`, which QEMU implements
//! inside TCG, invisible to the guest), `c`, the stop replies, `p`/`P` register access, `m`
//! memory reads, the interrupt byte and `D`. One vCPU; no `vCont`; `qXfer` only to read the
//! target description once (QEMU 7.2 refuses `p`/`P` to a debugger that has not).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Register numbers of QEMU's x86-64 target description (the `p`/`P` packets).
pub mod reg {
    pub const RAX: u32 = 0;
    pub const RDI: u32 = 5;
    pub const RSP: u32 = 7;
    pub const RIP: u32 = 16;
    pub const EFLAGS: u32 = 17;
}

/// Why the guest stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A signal stop (`S`/`T`): 5 (SIGTRAP) at a breakpoint, 2 after an interrupt.
    Signal(u8),
    /// The guest is gone (`W`/`X`): QEMU is exiting.
    Exited,
}

/// The gdbstub closed the connection: QEMU has exited.
#[derive(Debug)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the gdbstub closed the connection (QEMU exited)")
    }
}

impl std::error::Error for Closed {}

/// A connection to QEMU's gdbstub.
pub struct Gdb {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Gdb {
    /// Connects to the gdbstub socket, retrying until `wait` has passed (QEMU creates it as
    /// it starts). QEMU stops the guest when a debugger connects.
    pub fn connect(path: &Path, wait: Duration) -> Result<Self> {
        let deadline = Instant::now() + wait;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("connecting to the gdbstub {}", path.display()));
                }
            }
        };
        let mut gdb = Self {
            stream,
            buf: Vec::new(),
        };
        // Ask why the target stopped: also proves the stub answers.
        let why = gdb.command("?", Duration::from_secs(10))?;
        if !why.starts_with('S') && !why.starts_with('T') {
            bail!("gdbstub answered `?` with {why:?}");
        }
        // QEMU answers `p`/`P` only to a debugger that has read the target description.
        let xml = gdb.command(
            "qXfer:features:read:target.xml:0,ffb",
            Duration::from_secs(10),
        )?;
        if !xml.starts_with('m') && !xml.starts_with('l') {
            bail!("gdbstub answered the target description request with {xml:?}");
        }
        Ok(gdb)
    }

    /// Sends one packet and waits for its ack.
    fn send(&mut self, body: &str) -> Result<()> {
        let sum = body.bytes().fold(0u8, |s, b| s.wrapping_add(b));
        let pkt = format!("${body}#{sum:02x}");
        for _ in 0..3 {
            self.stream.write_all(pkt.as_bytes())?;
            match self.read_byte(Duration::from_secs(10))? {
                b'+' => return Ok(()),
                b'-' => continue,
                other => bail!("gdbstub sent {:?} instead of an ack", other as char),
            }
        }
        bail!("gdbstub refused packet {body:?} three times")
    }

    fn read_byte(&mut self, timeout: Duration) -> Result<u8> {
        if self.buf.is_empty() {
            self.fill(timeout)?;
        }
        Ok(self.buf.remove(0))
    }

    /// Reads more bytes; an error on timeout or end of stream.
    fn fill(&mut self, timeout: Duration) -> Result<()> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut tmp = [0u8; 4096];
        let n = self
            .stream
            .read(&mut tmp)
            .context("reading from the gdbstub")?;
        if n == 0 {
            return Err(Closed.into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    /// Reads one packet (acking it); `None` on timeout.
    fn receive(&mut self, timeout: Duration) -> Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((body, sum_ok)) = self.take_packet() {
                if !sum_ok {
                    self.stream.write_all(b"-")?;
                    continue;
                }
                self.stream.write_all(b"+")?;
                return Ok(Some(body));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.fill(left) {
                Ok(()) => {}
                Err(e)
                    if e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                        matches!(
                            io.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        )
                    }) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes one whole packet from the buffer, if it holds one: its body, and whether its
    /// checksum is right.
    fn take_packet(&mut self) -> Option<(String, bool)> {
        let start = self.buf.iter().position(|&b| b == b'$')?;
        let end = start + self.buf[start..].iter().position(|&b| b == b'#')?;
        if self.buf.len() < end + 3 {
            return None;
        }
        let body = String::from_utf8_lossy(&self.buf[start + 1..end]).into_owned();
        let sum = std::str::from_utf8(&self.buf[end + 1..end + 3])
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        self.buf.drain(..end + 3);
        let want = body.bytes().fold(0u8, |s, b| s.wrapping_add(b));
        Some((body, sum == Some(want)))
    }

    /// Sends a packet and returns the reply.
    pub fn command(&mut self, body: &str, timeout: Duration) -> Result<String> {
        self.send(body)?;
        self.receive(timeout)?
            .with_context(|| format!("no reply to gdb packet {body:?} within {timeout:?}"))
    }

    fn expect_ok(&mut self, body: &str) -> Result<()> {
        let r = self.command(body, Duration::from_secs(10))?;
        if r != "OK" {
            bail!("gdb packet {body:?} answered {r:?}");
        }
        Ok(())
    }

    pub fn set_breakpoint(&mut self, addr: u64) -> Result<()> {
        self.expect_ok(&format!("Z0,{addr:x},1"))
    }

    pub fn remove_breakpoint(&mut self, addr: u64) -> Result<()> {
        self.expect_ok(&format!("z0,{addr:x},1"))
    }

    /// Lets the guest run (no reply until it stops).
    pub fn resume(&mut self) -> Result<()> {
        self.send("c")
    }

    /// Waits for a stop reply; `None` if the guest is still running after `timeout`. A
    /// closed connection is [`Stop::Exited`] too.
    pub fn wait_stop(&mut self, timeout: Duration) -> Result<Option<Stop>> {
        loop {
            let p = match self.receive(timeout) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                Err(e) if e.downcast_ref::<Closed>().is_some() => return Ok(Some(Stop::Exited)),
                Err(e) => return Err(e),
            };
            let sig = |s: &str| u8::from_str_radix(s.get(1..3).unwrap_or("00"), 16).unwrap_or(0);
            match p.chars().next() {
                Some('S' | 'T') => return Ok(Some(Stop::Signal(sig(&p)))),
                Some('W' | 'X') => return Ok(Some(Stop::Exited)),
                // Console output (`O…`) or anything else is not a stop.
                _ => continue,
            }
        }
    }

    /// Executes one instruction (QEMU: with interrupts and timers held off) and waits for
    /// the stop.
    pub fn step(&mut self) -> Result<Stop> {
        self.send("s")?;
        self.wait_stop(Duration::from_secs(10))?
            .context("the guest did not stop after a single step")
    }

    /// Stops a running guest (the interrupt byte) and waits for its stop reply.
    pub fn interrupt(&mut self) -> Result<Stop> {
        self.stream.write_all(&[0x03])?;
        self.wait_stop(Duration::from_secs(10))?
            .context("the guest did not stop on the interrupt byte")
    }

    /// Reads a 64-bit register.
    pub fn read_register(&mut self, n: u32) -> Result<u64> {
        let r = self.command(&format!("p{n:x}"), Duration::from_secs(10))?;
        le_hex(&r).with_context(|| format!("register {n}: {r:?}"))
    }

    /// Writes a 64-bit register.
    pub fn write_register(&mut self, n: u32, value: u64) -> Result<()> {
        let hex: String = value
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.expect_ok(&format!("P{n:x}={hex}"))
    }

    /// Reads a little-endian 64-bit word of guest virtual memory.
    pub fn read_u64(&mut self, addr: u64) -> Result<u64> {
        let r = self.command(&format!("m{addr:x},8"), Duration::from_secs(10))?;
        le_hex(&r).with_context(|| format!("memory at {addr:#x}: {r:?}"))
    }

    /// Detaches: QEMU removes every breakpoint and lets the guest run on.
    pub fn detach(&mut self) -> Result<()> {
        self.expect_ok("D")
    }
}

/// Decodes up to 8 bytes of little-endian hex (`p`, `m` replies).
fn le_hex(s: &str) -> Option<u64> {
    if s.len() < 2 || !s.len().is_multiple_of(2) || s.starts_with('E') && s.len() == 3 {
        return None;
    }
    let mut v = 0u64;
    for (i, chunk) in s.as_bytes().chunks(2).take(8).enumerate() {
        let b = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
        v |= u64::from(b) << (8 * i);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn little_endian_hex() {
        assert_eq!(le_hex("efbeadde00000000"), Some(0xdead_beef));
        assert_eq!(le_hex("E14"), None);
        assert_eq!(le_hex(""), None);
    }

    /// A fake gdbstub: acks, answers `?`, a breakpoint, a continue with a stop, a register.
    #[test]
    fn talks_rsp() {
        let dir = std::env::temp_dir().join(format!("xtask-gdb-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gdb.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let reply = |s: &mut UnixStream, body: &str| {
                let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
                s.write_all(format!("+${body}#{sum:02x}").as_bytes())
                    .unwrap();
            };
            for answer in ["S05", "l<target/>", "OK", "", "0100000000000000"] {
                let mut pkt = Vec::new();
                let mut b = [0u8; 1];
                // Skip acks, read up to '#', then the two checksum digits.
                loop {
                    s.read_exact(&mut b).unwrap();
                    if b[0] == b'$' {
                        break;
                    }
                }
                loop {
                    s.read_exact(&mut b).unwrap();
                    if b[0] == b'#' {
                        break;
                    }
                    pkt.push(b[0]);
                }
                s.read_exact(&mut [0u8; 2]).unwrap();
                let body = String::from_utf8(pkt).unwrap();
                if body == "c" {
                    s.write_all(b"+").unwrap();
                    reply(&mut s, "T05thread:01;");
                    // the client's ack of the stop reply
                } else {
                    reply(&mut s, answer);
                }
                got.push(body);
            }
            // The client's ack of the last reply.
            let _ = s.read(&mut [0u8; 1]);
            got
        });
        let mut gdb = Gdb::connect(&path, Duration::from_secs(2)).unwrap();
        gdb.set_breakpoint(0xffff_ffff_8010_7360).unwrap();
        gdb.resume().unwrap();
        assert_eq!(
            gdb.wait_stop(Duration::from_secs(2)).unwrap(),
            Some(Stop::Signal(5))
        );
        assert_eq!(gdb.read_register(reg::RIP).unwrap(), 1);
        let got = server.join().unwrap();
        assert_eq!(
            got,
            vec![
                "?",
                "qXfer:features:read:target.xml:0,ffb",
                "Z0,ffffffff80107360,1",
                "c",
                "p10"
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! A minimal client of the GDB remote serial protocol, enough to drive QEMU's gdbstub:
//! packets with checksums and acks, software breakpoints (`Z0`/`z0`, which QEMU implements
//! inside TCG, invisible to the guest), `c`, the stop replies, `p`/`P` register access, `m`
//! memory reads, the interrupt byte and `D`; `qXfer` only to read the target description once
//! (QEMU 7.2 refuses `p`/`P` to a debugger that has not).
//!
//! Several vCPUs: QEMU's gdbstub is all-stop (one CPU at a breakpoint stops them all) and
//! names the CPU that stopped in its stop reply (`T05thread:02;`, thread = CPU index + 1),
//! whose registers `p`/`P` then read. The client keeps a *focus*: the CPU whose stop a
//! caller accepted. While it holds, a stop of another CPU (a bystander at one of the
//! breakpoints, or at a stub its own broadcast NMI took it to) is not reported: that CPU
//! alone is stepped past the breakpoint (`vCont;s:T`, the others stay stopped) and every CPU
//! runs on. Steps are the focus CPU's alone. [`Gdb::any_cpu`] drops the focus, so the next
//! stop of any CPU is accepted and becomes it; [`Gdb::pin`] fixes it to one CPU for good.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::target_desc;

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
    /// The gdb thread id (CPU index + 1) of the CPU the caller works with, once a stop chose
    /// it; `None` before, or after [`Gdb::any_cpu`].
    focus: Option<u32>,
    /// The focus for good ([`Gdb::pin`]).
    pinned: Option<u32>,
    /// The CPU a register was written on since the guest last ran ([`Gdb::resume`]).
    wrote: Option<u32>,
    /// The CPU `p`/`P` address (the last `Hg`).
    selected: Option<u32>,
    /// The breakpoints set, to step a bystander CPU past one.
    breakpoints: BTreeSet<u64>,
    /// How many times another CPU than the focus was stepped past a breakpoint.
    pub bystander_steps: u64,
    /// The target description's registers by name, once read ([`Gdb::register_named`]).
    registers: Option<Vec<(String, u32)>>,
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
            focus: None,
            pinned: None,
            selected: None,
            wrote: None,
            breakpoints: BTreeSet::new(),
            bystander_steps: 0,
            registers: None,
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
        trace_packet("->", body);
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
                trace_packet("<-", &body);
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
        self.expect_ok(&format!("Z0,{addr:x},1"))?;
        self.breakpoints.insert(addr);
        Ok(())
    }

    pub fn remove_breakpoint(&mut self, addr: u64) -> Result<()> {
        self.expect_ok(&format!("z0,{addr:x},1"))?;
        self.breakpoints.remove(&addr);
        Ok(())
    }

    /// Drops the focus: the next stop of any CPU is accepted, and its CPU becomes the focus
    /// — unless [`Gdb::pin`] fixed it.
    pub fn any_cpu(&mut self) {
        self.focus = self.pinned;
    }

    /// Fixes the focus to CPU `thread` (gdb thread id: CPU index + 1) for good: every other
    /// CPU's stop is stepped past.
    pub fn pin(&mut self, thread: u32) {
        self.pinned = Some(thread);
        self.focus = Some(thread);
    }

    /// Runs `f` with no pin and no focus (the first stop of any CPU is accepted), then puts
    /// the pin back: for what any CPU may do, such as verify_loop's poll.
    pub fn on_any_cpu<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let pinned = self.pinned.take();
        self.focus = None;
        let r = f(self);
        self.pinned = pinned;
        self.focus = pinned;
        r
    }

    /// The focus CPU's index (as HMP `mce` numbers CPUs); CPU 0 before any stop named one.
    pub fn focus_cpu(&self) -> u32 {
        self.focus.map_or(0, |t| t.saturating_sub(1))
    }

    /// Lets the guest run (no reply until it stops). After a register write the CPU written
    /// first executes one instruction alone: resumed together with another
    /// CPU straight away, a CPU lost what `P` had written (QEMU 7.2 MTTCG, `-smp 2`: seen
    /// with verify_loop's poll answer and the #DF boot's RSP; not understood).
    pub fn resume(&mut self) -> Result<()> {
        self.settle_write()?;
        self.send("c")
    }

    /// After a register write, the written CPU executes one instruction alone (see
    /// [`Gdb::resume`]).
    fn settle_write(&mut self) -> Result<()> {
        if let Some(t) = self.wrote.take() {
            self.step_alone(t)?;
        }
        Ok(())
    }

    /// CPU `thread` alone executes one instruction (`vCont;s:T`, the others stay stopped);
    /// waits for its stop.
    fn step_alone(&mut self, thread: u32) -> Result<()> {
        self.send(&format!("vCont;s:{thread:x}"))?;
        match self.raw_stop(Duration::from_secs(10))? {
            Some((Stop::Signal(_), _)) => {}
            Some((Stop::Exited, _)) => return Err(Closed.into()),
            None => bail!("CPU thread {thread} did not stop after a single step"),
        }
        // The step's stop selected that CPU for `p`/`P`.
        self.selected = Some(thread);
        Ok(())
    }

    /// Waits for a stop reply of the focus CPU (of any CPU while there is none: that one
    /// becomes the focus); `None` if the guest is still running after `timeout`. A closed
    /// connection is [`Stop::Exited`] too. Another CPU stopped at a breakpoint meanwhile is
    /// stepped past it alone, and the guest resumed.
    pub fn wait_stop(&mut self, timeout: Duration) -> Result<Option<Stop>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((stop, thread)) = self.raw_stop(left)? else {
                return Ok(None);
            };
            let (Stop::Signal(sig), Some(t)) = (&stop, thread) else {
                return Ok(Some(stop));
            };
            match self.focus {
                None => {
                    self.focus = Some(t);
                    self.select(t)?;
                    return Ok(Some(stop));
                }
                Some(f) if f == t => {
                    self.select(t)?;
                    return Ok(Some(stop));
                }
                Some(f) if *sig != SIGTRAP => {
                    // The interrupt byte (SIGINT) names whichever CPU QEMU last stopped
                    // for; the caller's reads are the focus CPU's.
                    self.select(f)?;
                    return Ok(Some(stop));
                }
                Some(_) => {
                    self.select(t)?;
                    self.step_bystander(t)?;
                    self.send("c")?;
                }
            }
        }
    }

    /// Makes `p`/`P` read and write CPU `thread` (`Hg`), unless they already do.
    fn select(&mut self, thread: u32) -> Result<()> {
        if self.selected != Some(thread) {
            self.expect_ok(&format!("Hg{thread:x}"))?;
            self.selected = Some(thread);
        }
        Ok(())
    }

    /// The next stop reply as it comes, with the thread it names.
    fn raw_stop(&mut self, timeout: Duration) -> Result<Option<(Stop, Option<u32>)>> {
        loop {
            let p = match self.receive(timeout) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                Err(e) if e.downcast_ref::<Closed>().is_some() => {
                    return Ok(Some((Stop::Exited, None)));
                }
                Err(e) => return Err(e),
            };
            let sig = |s: &str| u8::from_str_radix(s.get(1..3).unwrap_or("00"), 16).unwrap_or(0);
            match p.chars().next() {
                Some('S' | 'T') => return Ok(Some((Stop::Signal(sig(&p)), stop_thread(&p)))),
                Some('W' | 'X') => return Ok(Some((Stop::Exited, None))),
                // Console output (`O…`) or anything else is not a stop.
                _ => continue,
            }
        }
    }

    /// CPU `thread` (not the focus) stopped at a breakpoint: steps it alone past it (the
    /// breakpoint lifted for the step and set again), leaving the guest stopped.
    fn step_bystander(&mut self, thread: u32) -> Result<()> {
        self.bystander_steps += 1;
        let pc = self.read_register(reg::RIP)?;
        let lifted = self.breakpoints.contains(&pc);
        if lifted {
            self.expect_ok(&format!("z0,{pc:x},1"))?;
        }
        self.step_alone(thread)?;
        if lifted {
            self.expect_ok(&format!("Z0,{pc:x},1"))?;
        }
        Ok(())
    }

    /// Executes one instruction (QEMU: with interrupts and timers held off) and waits for
    /// the stop.
    pub fn step(&mut self) -> Result<Stop> {
        if self.wrote == self.focus {
            self.wrote = None;
        }
        match self.focus {
            // The focus CPU alone: the others stay stopped.
            Some(f) => self.send(&format!("vCont;s:{f:x}"))?,
            None => self.send("s")?,
        }
        self.wait_stop(Duration::from_secs(10))?
            .context("the guest did not stop after a single step")
    }

    /// Stops a running guest (the interrupt byte) and waits for its stop reply.
    pub fn interrupt(&mut self) -> Result<Stop> {
        // A bystander CPU's breakpoint stop can cross the byte: QEMU, stopped already, drops
        // it, and `wait_stop` steps the bystander and resumes the guest. So the byte goes
        // again when no stop came.
        for _ in 0..3 {
            self.stream.write_all(&[0x03])?;
            if let Some(stop) = self.wait_stop(Duration::from_secs(10))? {
                return Ok(stop);
            }
        }
        bail!("the guest did not stop on the interrupt byte (sent 3 times, 10 s apart)")
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
        self.expect_ok(&format!("P{n:x}={hex}"))?;
        // The CPU written: the focus, or the one the last stop named.
        self.wrote = self.focus.or(self.selected);
        Ok(())
    }

    /// Resumes until a breakpoint stops the guest (true) or `wait` passes (false: it is
    /// stopped again by the interrupt byte). The guest ending is an error.
    pub fn run_to_stop(&mut self, wait: Duration) -> Result<bool> {
        self.resume()?;
        match self.wait_stop(wait)? {
            Some(Stop::Signal(_)) => Ok(true),
            Some(Stop::Exited) => bail!("the guest ended during the verify run"),
            None => {
                self.interrupt()?;
                Ok(false)
            }
        }
    }

    /// Stopped at the breakpoint at `pc`: executes that instruction (the focus CPU alone)
    /// and arms the breakpoint again. (QEMU would stop at it again on resuming.)
    pub fn step_past(&mut self, pc: u64) -> Result<()> {
        self.remove_breakpoint(pc)?;
        self.step()?;
        self.set_breakpoint(pc)
    }

    /// The `p`/`P` number of the register `name` (`cr2`, say), from the target description:
    /// QEMU's control registers have no fixed number in the protocol.
    pub fn register_named(&mut self, name: &str) -> Result<u32> {
        if self.registers.is_none() {
            let top = self.read_feature("target.xml")?;
            let mut docs = vec![top.clone()];
            for inc in target_desc::includes(&top) {
                docs.push(self.read_feature(&inc)?);
            }
            self.registers = Some(target_desc::registers_of(&docs));
        }
        self.registers
            .iter()
            .flatten()
            .find(|(n, _)| n == name)
            .map(|(_, r)| *r)
            .with_context(|| format!("the gdbstub's target description has no register {name}"))
    }

    /// One document of the target description, whole (`qXfer:features:read`, in chunks).
    fn read_feature(&mut self, annex: &str) -> Result<String> {
        let mut doc = String::new();
        loop {
            let r = self.command(
                &format!("qXfer:features:read:{annex}:{:x},ffb", doc.len()),
                Duration::from_secs(10),
            )?;
            let (more, body) = r.split_at(r.len().min(1));
            doc.push_str(body);
            match more {
                "m" => continue,
                "l" => return Ok(doc),
                _ => bail!("gdbstub answered the read of {annex} with {r:?}"),
            }
        }
    }

    /// Reads a little-endian 64-bit word of guest virtual memory.
    pub fn read_u64(&mut self, addr: u64) -> Result<u64> {
        let r = self.command(&format!("m{addr:x},8"), Duration::from_secs(10))?;
        le_hex(&r).with_context(|| format!("memory at {addr:#x}: {r:?}"))
    }

    /// Writes a little-endian 64-bit word of guest virtual memory (through the focus CPU's
    /// page tables, as `m` reads).
    pub fn write_u64(&mut self, addr: u64, value: u64) -> Result<()> {
        let hex: String = value
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.expect_ok(&format!("M{addr:x},8:{hex}"))
    }

    /// Detaches: QEMU removes every breakpoint and lets the guest run on.
    pub fn detach(&mut self) -> Result<()> {
        // A write is made to stick first, as in `resume`.
        self.settle_write()?;
        self.expect_ok("D")
    }
}

/// `KENTRY_GDB_TRACE=1`: every packet, on stderr (for debugging the method).
fn trace_packet(dir: &str, body: &str) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("KENTRY_GDB_TRACE").is_some()) {
        eprintln!("xtask: gdb {dir} {}", &body[..body.len().min(80)]);
    }
}

/// SIGTRAP: the signal of a stop at a breakpoint or after a step.
const SIGTRAP: u8 = 5;

/// The thread a stop reply names (`T05thread:02;` → 2).
fn stop_thread(reply: &str) -> Option<u32> {
    let at = reply.find("thread:")? + "thread:".len();
    let id = reply[at..].split(';').next()?;
    // `p<pid>.<tid>` in the multiprocess form.
    let tid = id.rsplit('.').next()?;
    u32::from_str_radix(tid, 16).ok()
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
    fn stop_threads() {
        assert_eq!(stop_thread("T05thread:02;"), Some(2));
        assert_eq!(stop_thread("T02thread:p01.0a;"), Some(10));
        assert_eq!(stop_thread("S05"), None);
    }

    #[test]
    fn little_endian_hex() {
        assert_eq!(le_hex("efbeadde00000000"), Some(0xdead_beef));
        assert_eq!(le_hex("E14"), None);
        assert_eq!(le_hex(""), None);
    }

    /// A fake gdbstub with two CPUs, each packet checked against a script: the first stop
    /// (CPU 1) becomes the focus; a stop of CPU 2 at a breakpoint is stepped past alone
    /// and never reported; a register write makes the next resume step the focus first.
    #[test]
    fn talks_rsp() {
        const BP: &str = "ffffffff80107360";
        let script: Vec<(String, &str)> = vec![
            ("?".into(), "S05"),
            ("qXfer:features:read:target.xml:0,ffb".into(), "l<target/>"),
            (format!("Z0,{BP},1"), "OK"),
            ("c".into(), "T05thread:01;"),
            ("Hg1".into(), "OK"),
            ("p10".into(), "0100000000000000"),
            // CPU 2 at the breakpoint: stepped past it alone, the guest resumed.
            ("c".into(), "T05thread:02;"),
            ("Hg2".into(), "OK"),
            ("p10".into(), "60731080ffffffff"),
            (format!("z0,{BP},1"), "OK"),
            ("vCont;s:2".into(), "T05thread:02;"),
            (format!("Z0,{BP},1"), "OK"),
            ("c".into(), "T05thread:01;"),
            ("Hg1".into(), "OK"),
            ("P10=0200000000000000".into(), "OK"),
            ("vCont;s:1".into(), "T05thread:01;"),
            ("c".into(), "T05thread:01;"),
        ];
        let dir = std::env::temp_dir().join(format!("xtask-gdb-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gdb.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            for (want, answer) in script {
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
                assert_eq!(body, want);
                let sum = answer.bytes().fold(0u8, |a, b| a.wrapping_add(b));
                s.write_all(format!("+${answer}#{sum:02x}").as_bytes())
                    .unwrap();
            }
            // The client's ack of the last reply.
            let _ = s.read(&mut [0u8; 1]);
        });
        let mut gdb = Gdb::connect(&path, Duration::from_secs(2)).unwrap();
        gdb.set_breakpoint(0xffff_ffff_8010_7360).unwrap();
        gdb.resume().unwrap();
        assert_eq!(
            gdb.wait_stop(Duration::from_secs(2)).unwrap(),
            Some(Stop::Signal(5))
        );
        assert_eq!(gdb.read_register(reg::RIP).unwrap(), 1);
        gdb.resume().unwrap();
        assert_eq!(
            gdb.wait_stop(Duration::from_secs(2)).unwrap(),
            Some(Stop::Signal(5))
        );
        assert_eq!(gdb.focus_cpu(), 0);
        assert_eq!(gdb.bystander_steps, 1);
        gdb.write_register(reg::RIP, 2).unwrap();
        gdb.resume().unwrap();
        assert_eq!(
            gdb.wait_stop(Duration::from_secs(2)).unwrap(),
            Some(Stop::Signal(5))
        );
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The run-mode framing on COM1 (docs/harness.md, "Run-mode framing").
//!
//! With `kentry.console=frames` the kernel sends everything a program writes, and the news of
//! its end, as binary frames between the lines of its own log:
//!
//! ```text
//! 0xfe  kind  len_lo len_hi  payload[len]
//! ```
//!
//! - kind 0x00–0x7f: bytes the program wrote to that file descriptor (1 stdout, 2 stderr);
//! - kind 0x80 ([`KIND_EXIT`]): the program ended; payload `how` (0 exited, 1 killed by a
//!   signal) and the exit code or signal number as a little-endian i32;
//! - kind 0x81 ([`KIND_ERROR`]): the program could not be started; payload the status a shell
//!   gives (126, 127) and a one-line UTF-8 reason.
//!
//! The kernel log is UTF-8 text, which never contains the byte 0xfe, so outside a frame 0xfe
//! can only start one. A frame is written whole, with interrupts off, so log text never lands
//! inside one; a log line may be cut in two by a frame, which the reader joins again.
//!
//! [`Demux`] takes the serial stream in pieces of any size (a frame may be split across reads
//! anywhere, even inside its header) and hands out log bytes, program output and control
//! messages.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// The byte that starts a frame.
pub const MARKER: u8 = 0xfe;
/// The first control kind; lower kinds are file descriptors.
pub const KIND_EXIT: u8 = 0x80;
pub const KIND_ERROR: u8 = 0x81;
/// Bytes of a frame header.
pub const HEADER_LEN: usize = 4;

/// How the program ended, from an exit frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramEnd {
    Exited(i32),
    Signaled(i32),
}

impl ProgramEnd {
    /// The status a shell shows: the exit code (low 8 bits), or 128 + the signal.
    pub fn shell_status(self) -> u8 {
        match self {
            ProgramEnd::Exited(code) => (code & 0xff) as u8,
            ProgramEnd::Signaled(sig) => 128u8.saturating_add(sig.clamp(0, 127) as u8),
        }
    }
}

/// A control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The program ended.
    Exit(ProgramEnd),
    /// The program could not be started: the shell status and the reason.
    Error { status: u8, reason: String },
}

/// One piece of the demultiplexed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Kernel log text (not split into lines).
    Log(&'a [u8]),
    /// Bytes the program wrote to `fd`; a frame's payload may come in several pieces.
    Output {
        fd: u8,
        bytes: &'a [u8],
    },
    Control(Control),
    /// A frame the reader does not understand (its payload is skipped).
    Bad(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Between frames: log text.
    Log,
    /// Inside a header: the bytes after the marker read so far.
    Header { got: [u8; HEADER_LEN - 1], n: usize },
    /// Inside the payload of an output frame.
    Output { fd: u8, left: usize },
    /// Inside the payload of a control frame, which is collected whole.
    Control { kind: u8, left: usize },
}

/// The streaming demultiplexer.
#[derive(Debug, Clone)]
pub struct Demux {
    state: State,
    control: Vec<u8>,
}

impl Default for Demux {
    fn default() -> Self {
        Self::new()
    }
}

impl Demux {
    pub fn new() -> Self {
        Self {
            state: State::Log,
            control: Vec::new(),
        }
    }

    /// Takes the next bytes of the stream; calls `out` for each piece, in stream order.
    pub fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(Piece<'_>)) {
        while !data.is_empty() {
            match &mut self.state {
                State::Log => {
                    let end = data.iter().position(|&b| b == MARKER).unwrap_or(data.len());
                    if end > 0 {
                        out(Piece::Log(&data[..end]));
                    }
                    data = &data[end..];
                    if !data.is_empty() {
                        data = &data[1..];
                        self.state = State::Header {
                            got: [0; HEADER_LEN - 1],
                            n: 0,
                        };
                    }
                }
                State::Header { got, n } => {
                    let take = (got.len() - *n).min(data.len());
                    got[*n..*n + take].copy_from_slice(&data[..take]);
                    *n += take;
                    data = &data[take..];
                    if *n == got.len() {
                        let [kind, lo, hi] = *got;
                        let len = usize::from(u16::from_le_bytes([lo, hi]));
                        self.state = if kind < KIND_EXIT {
                            State::Output {
                                fd: kind,
                                left: len,
                            }
                        } else {
                            self.control.clear();
                            State::Control { kind, left: len }
                        };
                        self.end_if_done(out);
                    }
                }
                State::Output { fd, left } => {
                    let take = (*left).min(data.len());
                    *left -= take;
                    out(Piece::Output {
                        fd: *fd,
                        bytes: &data[..take],
                    });
                    data = &data[take..];
                    self.end_if_done(out);
                }
                State::Control { left, .. } => {
                    let take = (*left).min(data.len());
                    *left -= take;
                    self.control.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    self.end_if_done(out);
                }
            }
        }
    }

    /// After the last byte: what is wrong with how the stream ended, if anything.
    pub fn finish(&self) -> Option<String> {
        match &self.state {
            State::Log => None,
            State::Header { n, .. } => Some(format!(
                "the serial stream ended inside a frame header ({} of {HEADER_LEN} bytes)",
                n + 1
            )),
            State::Output { left, .. } | State::Control { left, .. } => Some(format!(
                "the serial stream ended inside a frame ({left} payload bytes missing)"
            )),
        }
    }

    /// Ends a frame whose payload is complete.
    fn end_if_done(&mut self, out: &mut impl FnMut(Piece<'_>)) {
        match self.state {
            State::Output { left: 0, .. } => self.state = State::Log,
            State::Control { kind, left: 0 } => {
                self.state = State::Log;
                out(match parse_control(kind, &self.control) {
                    Ok(c) => Piece::Control(c),
                    Err(why) => Piece::Bad(why),
                });
            }
            _ => {}
        }
    }
}

fn parse_control(kind: u8, payload: &[u8]) -> Result<Control, String> {
    match kind {
        KIND_EXIT => {
            let [how, a, b, c, d] = payload else {
                return Err(format!(
                    "exit frame with {} payload bytes (want 5)",
                    payload.len()
                ));
            };
            let value = i32::from_le_bytes([*a, *b, *c, *d]);
            match how {
                0 => Ok(Control::Exit(ProgramEnd::Exited(value))),
                1 => Ok(Control::Exit(ProgramEnd::Signaled(value))),
                _ => Err(format!("exit frame with an unknown `how` {how}")),
            }
        }
        KIND_ERROR => {
            let Some((&status, reason)) = payload.split_first() else {
                return Err("empty error frame".into());
            };
            Ok(Control::Error {
                status,
                reason: String::from_utf8_lossy(reason).into_owned(),
            })
        }
        _ => Err(format!(
            "frame of unknown kind {kind:#04x} ({} bytes skipped)",
            payload.len()
        )),
    }
}

/// Encodes one frame (the kernel's side, for tests).
#[cfg(test)]
pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= (u16::MAX as usize));
    let mut v = vec![MARKER, kind];
    v.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    v.extend_from_slice(payload);
    v
}

/// Where a framed boot's program output goes.
pub trait OutputSink: Send {
    /// Bytes the program wrote to `fd`.
    fn output(&mut self, fd: u8, bytes: &[u8]);
}

/// To this process's stdout (fd 1) and stderr (every other fd), as the bytes arrive.
#[derive(Debug, Default)]
pub struct Passthrough;

impl OutputSink for Passthrough {
    fn output(&mut self, fd: u8, bytes: &[u8]) {
        // A closed stdout (`| head`) is not an error of the program's: its bytes are dropped.
        if fd == 1 {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(bytes).and_then(|()| o.flush());
        } else {
            let _ = std::io::stderr().lock().write_all(bytes);
        }
    }
}

/// What a program wrote, collected.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Captured {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Collects the output in memory; clones share the buffers.
#[derive(Debug, Default, Clone)]
pub struct Capture(pub Arc<Mutex<Captured>>);

impl Capture {
    pub fn take(&self) -> Captured {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl OutputSink for Capture {
    fn output(&mut self, fd: u8, bytes: &[u8]) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if fd == 1 {
            c.stdout.extend_from_slice(bytes);
        } else {
            c.stderr.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the demuxer made of `chunks`, merged: log text, stdout, stderr, controls
    /// and complaints.
    #[derive(Debug, Default, PartialEq)]
    struct Out {
        log: Vec<u8>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        controls: Vec<Control>,
        bad: Vec<String>,
    }

    fn demux(chunks: &[&[u8]]) -> (Out, Option<String>) {
        let mut d = Demux::new();
        let mut o = Out::default();
        for c in chunks {
            d.feed(c, &mut |p| match p {
                Piece::Log(b) => o.log.extend_from_slice(b),
                Piece::Output { fd: 1, bytes } => o.stdout.extend_from_slice(bytes),
                Piece::Output { bytes, .. } => o.stderr.extend_from_slice(bytes),
                Piece::Control(c) => o.controls.push(c),
                Piece::Bad(why) => o.bad.push(why),
            });
        }
        (o, d.finish())
    }

    fn exit_frame(how: u8, value: i32) -> Vec<u8> {
        let mut p = vec![how];
        p.extend_from_slice(&value.to_le_bytes());
        encode(KIND_EXIT, &p)
    }

    /// A stream with every kind of piece: log lines around and between frames, a log line cut
    /// by a frame, binary payloads holding the marker, newlines and NULs.
    fn sample() -> (Vec<u8>, Out) {
        let binary: Vec<u8> = (0..=255u8).chain([MARKER, MARKER, 0, b'\n']).collect();
        let mut s = Vec::new();
        s.extend_from_slice(b"[kentry] booting\n[kentry] cmd");
        s.extend(encode(1, b"hello\n"));
        s.extend_from_slice(b"line: x\n");
        s.extend(encode(2, &binary));
        s.extend(encode(1, b""));
        s.extend(encode(1, &[MARKER]));
        s.extend(exit_frame(1, 4));
        s.extend_from_slice("[kentry] power off: v=1 é\n".as_bytes());
        let want = Out {
            log: "[kentry] booting\n[kentry] cmdline: x\n[kentry] power off: v=1 é\n"
                .as_bytes()
                .to_vec(),
            stdout: [b"hello\n".as_slice(), &[MARKER]].concat(),
            stderr: binary,
            controls: vec![Control::Exit(ProgramEnd::Signaled(4))],
            bad: vec![],
        };
        (s, want)
    }

    #[test]
    fn whole_stream() {
        let (s, want) = sample();
        assert_eq!(demux(&[&s]), (want, None));
    }

    #[test]
    fn split_at_every_byte() {
        let (s, want) = sample();
        // One byte per read: every header and payload is cut everywhere.
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(demux(&bytes), (want, None));
        // Two reads, cut at every position.
        for cut in 0..=s.len() {
            let (a, b) = s.split_at(cut);
            let (_, want) = sample();
            assert_eq!(demux(&[a, b]), (want, None), "cut at {cut}");
        }
    }

    #[test]
    fn control_frames() {
        let mut s = exit_frame(0, 300);
        s.extend(encode(KIND_ERROR, b"\x7enot an ELF file"));
        s.extend(encode(0x90, b"future"));
        s.extend(encode(KIND_EXIT, b"\x00"));
        s.extend(exit_frame(7, 0));
        let (o, end) = demux(&[&s]);
        assert_eq!(end, None);
        assert_eq!(
            o.controls,
            vec![
                Control::Exit(ProgramEnd::Exited(300)),
                Control::Error {
                    status: 126,
                    reason: "not an ELF file".into()
                }
            ]
        );
        assert_eq!(o.bad.len(), 3, "{:?}", o.bad);
        assert!(o.bad[0].contains("unknown kind 0x90"));
        assert!(o.log.is_empty() && o.stdout.is_empty() && o.stderr.is_empty());
    }

    #[test]
    fn largest_frame() {
        let big = vec![b'x'; u16::MAX as usize];
        let mut s = encode(1, &big);
        s.extend_from_slice(b"log\n");
        let (o, end) = demux(&[&s[..1000], &s[1000..]]);
        assert_eq!(end, None);
        assert_eq!(o.stdout, big);
        assert_eq!(o.log, b"log\n");
    }

    #[test]
    fn truncated_streams() {
        let f = encode(1, b"abcdef");
        assert!(demux(&[&f[..2]]).1.unwrap().contains("header"));
        let (o, end) = demux(&[&f[..7]]);
        assert_eq!(o.stdout, b"abc");
        assert!(end.unwrap().contains("3 payload bytes missing"));
        assert_eq!(demux(&[&f]).1, None);
    }

    #[test]
    fn shell_statuses() {
        assert_eq!(ProgramEnd::Exited(0).shell_status(), 0);
        assert_eq!(ProgramEnd::Exited(3).shell_status(), 3);
        assert_eq!(ProgramEnd::Exited(256 + 7).shell_status(), 7);
        assert_eq!(ProgramEnd::Exited(-1).shell_status(), 255);
        assert_eq!(ProgramEnd::Signaled(4).shell_status(), 132);
        assert_eq!(ProgramEnd::Signaled(11).shell_status(), 139);
        assert_eq!(ProgramEnd::Signaled(64).shell_status(), 192);
        assert_eq!(ProgramEnd::Signaled(1000).shell_status(), 255);
    }
}

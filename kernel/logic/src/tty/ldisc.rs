//! The line discipline: Linux's N_TTY for one terminal, without the locking (the caller holds
//! the tty's lock). Input bytes come in one at a time ([`Ldisc::receive`]); what must be
//! echoed and which signal the foreground group gets come out in an [`Effects`], which the
//! caller carries out once the lock is dropped. Output processing (OPOST) is [`opost`].
//!
//! Canonical mode (ICANON) edits a line: VERASE, VWERASE and VKILL take characters back,
//! VLNEXT quotes the next one, VREPRINT shows the line again, and a newline, VEOL, VEOL2 or
//! VEOF hands it to readers, who get at most one line per read (a line VEOF ended empty reads
//! as end of file). Otherwise every byte is readable at once and VMIN/VTIME decide when a read
//! returns (in mod.rs). ISIG turns VINTR, VQUIT and VSUSP into SIGINT, SIGQUIT and SIGTSTP for
//! the foreground group, flushing the input unless NOFLSH. Flow control (IXON) eats VSTART and
//! VSTOP but never stops output.

use super::termios::*;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The signals of the signal characters.
pub const SIGINT: u8 = 2;
pub const SIGQUIT: u8 = 3;
pub const SIGTSTP: u8 = 20;

/// Linux's N_TTY_BUF_SIZE: input beyond it is dropped, and a canonical line holds at most one
/// byte less (room for its newline).
pub const BUF_SIZE: usize = 4096;

/// What one input byte asks the caller to do.
#[derive(Default)]
pub struct Effects {
    /// Bytes to echo, before output processing.
    pub echo: Vec<u8>,
    /// A signal for the foreground process group.
    pub signal: Option<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Erase {
    Char,
    Word,
    Line,
}

pub struct Ldisc {
    pub termios: Termios,
    /// What readers may take: whole lines in canonical mode.
    rbuf: VecDeque<u8>,
    /// Canonical mode: the lengths of the complete lines in `rbuf`, oldest first; an empty
    /// line is an end of file (VEOF on an empty line).
    lines: VecDeque<usize>,
    /// Canonical mode: the line being edited.
    line: Vec<u8>,
    /// The next byte is taken literally (after VLNEXT).
    lnext: bool,
}

impl Default for Ldisc {
    fn default() -> Self {
        Self::new()
    }
}

impl Ldisc {
    pub const fn new() -> Ldisc {
        Ldisc {
            termios: Termios::standard(),
            rbuf: VecDeque::new(),
            lines: VecDeque::new(),
            line: Vec::new(),
            lnext: false,
        }
    }

    fn canon(&self) -> bool {
        self.termios.l(ICANON)
    }

    /// What a reader may take now: complete lines (canonical) or bytes.
    pub fn readable(&self) -> usize {
        if self.canon() {
            self.lines.len()
        } else {
            self.rbuf.len()
        }
    }

    /// Bytes a read could return now (FIONREAD): in canonical mode those of complete lines.
    pub fn available(&self) -> usize {
        self.rbuf.len()
    }

    /// Takes what a read returns: in canonical mode at most the first line (the rest of a
    /// line longer than `buf` stays for the next read), else up to `buf.len()` bytes. `None`
    /// when there is nothing (a reader waits); `Some(0)` is an end of file.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = if self.canon() {
            let first = self.lines.front_mut()?;
            if *first == 0 {
                self.lines.pop_front();
                return Some(0);
            }
            let n = (*first).min(buf.len());
            *first -= n;
            if *first == 0 {
                self.lines.pop_front();
            }
            n
        } else {
            if self.rbuf.is_empty() {
                return None;
            }
            self.rbuf.len().min(buf.len())
        };
        for (d, s) in buf.iter_mut().zip(self.rbuf.drain(..n)) {
            *d = s;
        }
        Some(n)
    }

    /// Drops all input, read-ready or being edited (TCFLSH, a signal character).
    pub fn flush_input(&mut self) {
        self.rbuf.clear();
        self.lines.clear();
        self.line.clear();
        self.lnext = false;
    }

    /// New settings (TCSETS*). Leaving canonical mode makes the line being edited readable;
    /// entering it makes what is readable one line, as Linux's n_tty_set_termios.
    pub fn set_termios(&mut self, t: Termios) {
        let was = self.canon();
        self.termios = t;
        match (was, self.canon()) {
            (true, false) => {
                self.rbuf.extend(self.line.drain(..));
                self.lines.clear();
            }
            (false, true) => {
                self.lines.clear();
                if !self.rbuf.is_empty() {
                    self.lines.push_back(self.rbuf.len());
                }
            }
            _ => {}
        }
    }

    /// Takes one input byte.
    pub fn receive(&mut self, c: u8, fx: &mut Effects) {
        let t = self.termios;
        if self.lnext {
            // VLNEXT showed "^" and backed over it: the quoted character's echo covers it.
            self.lnext = false;
            self.put(c, fx);
            return;
        }
        let mut c = c;
        if t.i(ISTRIP) {
            c &= 0x7f;
        }
        if c == b'\r' {
            if t.i(IGNCR) {
                return;
            }
            if t.i(ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(INLCR) {
            c = b'\r';
        }
        if t.i(IXON) && (t.is(c, VSTART) || t.is(c, VSTOP)) {
            return;
        }
        if t.l(ISIG) {
            let sig = [(VINTR, SIGINT), (VQUIT, SIGQUIT), (VSUSP, SIGTSTP)]
                .into_iter()
                .find(|&(slot, _)| t.is(c, slot));
            if let Some((_, sig)) = sig {
                if !t.l(NOFLSH) {
                    self.flush_input();
                }
                if t.l(ECHO) {
                    echo_char(&t, c, &mut fx.echo);
                }
                fx.signal = Some(sig);
                return;
            }
        }
        if !self.canon() {
            return self.put(c, fx);
        }
        if t.is(c, VERASE) {
            return self.erase(Erase::Char, fx);
        }
        if t.is(c, VKILL) {
            return self.erase(Erase::Line, fx);
        }
        if t.l(IEXTEN) {
            if t.is(c, VWERASE) {
                return self.erase(Erase::Word, fx);
            }
            if t.is(c, VLNEXT) {
                self.lnext = true;
                if t.l(ECHO) && t.l(ECHOCTL) {
                    fx.echo.extend_from_slice(b"^\x08");
                }
                return;
            }
            if t.is(c, VREPRINT) {
                if t.l(ECHO) {
                    echo_char(&t, c, &mut fx.echo);
                    fx.echo.push(b'\n');
                    for &b in &self.line {
                        echo_char(&t, b, &mut fx.echo);
                    }
                }
                return;
            }
        }
        if t.is(c, VEOF) {
            self.end_line();
            return;
        }
        self.put(c, fx);
    }

    /// A byte that is data (not an editing or signal character).
    fn put(&mut self, c: u8, fx: &mut Effects) {
        let t = self.termios;
        if !self.canon() {
            if t.l(ECHO) {
                echo_char(&t, c, &mut fx.echo);
            }
            if self.rbuf.len() < BUF_SIZE {
                self.rbuf.push_back(c);
            }
            return;
        }
        let ends = c == b'\n' || t.is(c, VEOL) || (t.l(IEXTEN) && t.is(c, VEOL2));
        if !ends && self.line.len() + self.rbuf.len() >= BUF_SIZE - 1 {
            return;
        }
        if t.l(ECHO) || (c == b'\n' && t.l(ECHONL)) {
            echo_char(&t, c, &mut fx.echo);
        }
        self.line.push(c);
        if ends {
            self.end_line();
        }
    }

    fn end_line(&mut self) {
        self.lines.push_back(self.line.len());
        self.rbuf.extend(self.line.drain(..));
    }

    /// VERASE, VWERASE, VKILL: takes characters back from the line, and with ECHOE (ECHOKE for
    /// a whole line) rubs them out on the screen, two columns for a control character shown
    /// as ^X. A UTF-8 character (IUTF8) goes as one.
    fn erase(&mut self, kind: Erase, fx: &mut Effects) {
        let t = self.termios;
        if self.line.is_empty() {
            return;
        }
        if kind == Erase::Line && (!t.l(ECHO) || !t.l(ECHOKE) || !t.l(ECHOE)) {
            self.line.clear();
            if t.l(ECHO) {
                echo_char(&t, t.cc[VKILL], &mut fx.echo);
                if t.l(ECHOK) {
                    fx.echo.push(b'\n');
                }
            }
            return;
        }
        let mut seen_word = false;
        while let Some(&last) = self.line.last() {
            if kind == Erase::Word {
                if last.is_ascii_alphanumeric() || last == b'_' {
                    seen_word = true;
                } else if seen_word {
                    break;
                }
            }
            self.line.pop();
            if t.i(IUTF8) && last & 0xc0 == 0x80 {
                // A continuation byte: keep taking until the character's first byte.
                while let Some(&b) = self.line.last() {
                    self.line.pop();
                    if b & 0xc0 != 0x80 {
                        break;
                    }
                }
            }
            if t.l(ECHO) {
                if t.l(ECHOE) {
                    let ctl = t.l(ECHOCTL) && (last < 0x20 || last == 0x7f) && last != b'\t';
                    let cols = if ctl { 2 } else { 1 };
                    for _ in 0..cols {
                        fx.echo.extend_from_slice(b"\x08 \x08");
                    }
                } else {
                    echo_char(&t, t.cc[VERASE], &mut fx.echo);
                }
            }
            if kind == Erase::Char {
                break;
            }
        }
    }
}

/// How a byte is echoed: a control character other than tab and newline as `^X` under
/// ECHOCTL, anything else as itself.
fn echo_char(t: &Termios, c: u8, out: &mut Vec<u8>) {
    if t.l(ECHOCTL) && (c < 0x20 || c == 0x7f) && c != b'\t' && c != b'\n' {
        out.extend_from_slice(&[b'^', c ^ 0x40]);
    } else {
        out.push(c);
    }
}

/// Output processing: with OPOST, NL becomes CR NL (ONLCR) and CR becomes NL (OCRNL).
pub fn opost(t: &Termios, bytes: &[u8], out: &mut Vec<u8>) {
    if !t.o(OPOST) {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\n' if t.o(ONLCR) => out.extend_from_slice(b"\r\n"),
            b'\r' if t.o(OCRNL) => out.push(b'\n'),
            _ => out.push(b),
        }
    }
}

//! The line discipline against Linux's N_TTY behaviour, with the standard settings unless a
//! test changes them. Expected bytes are written out by hand from what Linux does.

use super::ldisc::{Effects, Ldisc, opost};
use super::termios::*;
use alloc::vec;
use alloc::vec::Vec;

/// Feeds `input`; returns everything echoed (after output processing) and the signals.
fn feed(ld: &mut Ldisc, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut echo, mut sigs) = (Vec::new(), Vec::new());
    for &c in input {
        let mut fx = Effects::default();
        ld.receive(c, &mut fx);
        opost(&ld.termios, &fx.echo, &mut echo);
        sigs.extend(fx.signal);
    }
    (echo, sigs)
}

fn read(ld: &mut Ldisc, n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    ld.read(&mut buf).map(|k| buf[..k].to_vec())
}

#[test]
fn a_line_is_readable_only_once_ended_and_cr_reads_as_nl() {
    let mut ld = Ldisc::new();
    let (echo, _) = feed(&mut ld, b"ls");
    assert_eq!(echo, b"ls");
    assert_eq!(read(&mut ld, 64), None);
    let (echo, _) = feed(&mut ld, b"\r");
    // ICRNL on input, ONLCR on the echo.
    assert_eq!(echo, b"\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ls\n");
    assert_eq!(read(&mut ld, 64), None);
}

#[test]
fn a_read_takes_one_line_and_a_short_buffer_leaves_the_rest() {
    let mut ld = Ldisc::new();
    feed(&mut ld, b"abcdef\nxy\n");
    assert_eq!(read(&mut ld, 4).unwrap(), b"abcd");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ef\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"xy\n");
}

#[test]
fn erase_word_erase_and_kill_edit_the_line_and_the_screen() {
    let mut ld = Ldisc::new();
    let (echo, _) = feed(&mut ld, b"ab\x7f");
    assert_eq!(echo, b"ab\x08 \x08");
    // A control character was shown as ^A: two columns to rub out.
    let (echo, _) = feed(&mut ld, b"\x01\x7f");
    assert_eq!(echo, b"^A\x08 \x08\x08 \x08");
    // ^W: the word and the blanks after it.
    feed(&mut ld, b" foo_1 ");
    let (echo, _) = feed(&mut ld, b"\x17");
    assert_eq!(echo, b"\x08 \x08".repeat(6));
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a \n");
    // ^U under ECHOKE: every character rubbed out.
    feed(&mut ld, b"xyz");
    let (echo, _) = feed(&mut ld, b"\x15");
    assert_eq!(echo, b"\x08 \x08".repeat(3));
    feed(&mut ld, b"q\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"q\n");
}

#[test]
fn kill_without_echoke_echoes_the_character_and_a_newline() {
    let mut ld = Ldisc::new();
    let mut t = ld.termios;
    t.lflag &= !ECHOKE;
    ld.set_termios(t);
    feed(&mut ld, b"xyz");
    let (echo, _) = feed(&mut ld, b"\x15");
    assert_eq!(echo, b"^U\r\n");
}

#[test]
fn eof_ends_a_line_without_itself_and_an_empty_one_reads_as_end_of_file() {
    let mut ld = Ldisc::new();
    let (echo, _) = feed(&mut ld, b"ab\x04");
    assert_eq!(echo, b"ab");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab");
    feed(&mut ld, b"\x04");
    assert_eq!(read(&mut ld, 64).unwrap(), b"");
    assert_eq!(read(&mut ld, 64), None);
}

#[test]
fn signal_characters_flush_echo_and_signal() {
    let mut ld = Ldisc::new();
    feed(&mut ld, b"half");
    let (echo, sigs) = feed(&mut ld, b"\x03");
    assert_eq!((echo.as_slice(), sigs.as_slice()), (&b"^C"[..], &[2u8][..]));
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\n");
    let (_, sigs) = feed(&mut ld, b"\x1c\x1a");
    assert_eq!(sigs, [3, 20]);
    // Without ISIG they are data.
    let mut t = ld.termios;
    t.lflag &= !ISIG;
    ld.set_termios(t);
    let (echo, sigs) = feed(&mut ld, b"\x03\n");
    assert!(sigs.is_empty());
    assert_eq!(echo, b"^C\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x03\n");
}

#[test]
fn noflsh_keeps_the_input_on_a_signal() {
    let mut ld = Ldisc::new();
    let mut t = ld.termios;
    t.lflag |= NOFLSH;
    ld.set_termios(t);
    feed(&mut ld, b"keep\x03\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"keep\n");
}

#[test]
fn lnext_quotes_the_next_character() {
    let mut ld = Ldisc::new();
    let (echo, sigs) = feed(&mut ld, b"\x16\x03\n");
    assert!(sigs.is_empty());
    assert_eq!(echo, b"^\x08^C\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x03\n");
}

#[test]
fn raw_mode_passes_bytes_at_once_and_switching_keeps_input() {
    let mut ld = Ldisc::new();
    feed(&mut ld, b"par");
    let mut t = ld.termios;
    t.lflag &= !(ICANON | ECHO);
    ld.set_termios(t);
    // The half-edited line became readable.
    assert_eq!(read(&mut ld, 2).unwrap(), b"pa");
    let (echo, _) = feed(&mut ld, b"\x7f\x04");
    assert!(echo.is_empty());
    assert_eq!(read(&mut ld, 64).unwrap(), b"r\x7f\x04");
    assert_eq!(read(&mut ld, 64), None);
    // Back to canonical: what is pending reads as one line.
    feed(&mut ld, b"zz");
    t.lflag |= ICANON;
    ld.set_termios(t);
    assert_eq!(read(&mut ld, 64).unwrap(), b"zz");
}

#[test]
fn input_flags_map_cr_and_nl_and_ixon_eats_start_stop() {
    let mut ld = Ldisc::new();
    let mut t = ld.termios;
    t.iflag = IGNCR | IXON;
    ld.set_termios(t);
    feed(&mut ld, b"a\r\x11\x13b\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\n");
    t.iflag = INLCR;
    t.lflag &= !ICANON;
    ld.set_termios(t);
    feed(&mut ld, b"\n\r");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\r\r");
}

#[test]
fn iutf8_erases_a_whole_character() {
    let mut ld = Ldisc::new();
    let mut t = ld.termios;
    t.iflag |= IUTF8;
    ld.set_termios(t);
    feed(&mut ld, "aé".as_bytes());
    let (echo, _) = feed(&mut ld, b"\x7f\n");
    assert_eq!(echo, b"\x08 \x08\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\n");
}

#[test]
fn a_line_holds_at_most_4095_bytes_and_its_newline() {
    let mut ld = Ldisc::new();
    feed(&mut ld, &[b'x'; 5000]);
    feed(&mut ld, b"\n");
    let line = read(&mut ld, 8192).unwrap();
    assert_eq!(line.len(), 4096);
    assert_eq!(line.last(), Some(&b'\n'));
}

#[test]
fn output_processing() {
    let t = Termios::standard();
    let mut out = Vec::new();
    opost(&t, b"a\nb\r", &mut out);
    assert_eq!(out, b"a\r\nb\r");
    let raw = Termios {
        oflag: 0,
        ..Termios::standard()
    };
    out.clear();
    opost(&raw, b"a\n", &mut out);
    assert_eq!(out, b"a\n");
    let crnl = Termios {
        oflag: OPOST | OCRNL,
        ..Termios::standard()
    };
    out.clear();
    opost(&crnl, b"a\r", &mut out);
    assert_eq!(out, b"a\n");
}

#[test]
fn termios_and_winsize_layouts_are_linuxs() {
    let b = Termios::standard().to_bytes();
    // c_iflag ICRNL|IXON, c_oflag OPOST|ONLCR, c_lflag 0x8a3b, c_cc[VINTR] at byte 17.
    assert_eq!(&b[0..4], &0x0500u32.to_ne_bytes());
    assert_eq!(&b[4..8], &0x0005u32.to_ne_bytes());
    assert_eq!(&b[12..16], &0x8a3bu32.to_ne_bytes());
    assert_eq!(b[17 + VINTR], 3);
    assert_eq!(b[17 + VMIN], 1);
    assert_eq!(Termios::standard().with_bytes(&b), Termios::standard());
    // termios2: the speeds at bytes 36 and 40.
    let b2 = Termios::standard().to_bytes2();
    assert_eq!(&b2[..36], &b[..]);
    assert_eq!(&b2[36..40], &38400u32.to_ne_bytes());
    assert_eq!(&b2[40..44], &38400u32.to_ne_bytes());
    assert_eq!(Termios::from_bytes2(&b2), Termios::standard());
    // termio: 16-bit flags (c_lflag 0x8a3b at byte 6), c_line at 8, c_cc[0..8] from 9.
    let o = Termios::standard().to_termio();
    assert_eq!(&o[0..2], &0x0500u16.to_ne_bytes());
    assert_eq!(&o[6..8], &0x8a3bu16.to_ne_bytes());
    assert_eq!(o[9 + VINTR], 3);
    assert_eq!(o[9 + VMIN], 1);
    assert_eq!(o[17], 0);
    let w = Winsize {
        rows: 30,
        cols: 100,
        ..Winsize::default()
    };
    assert_eq!(w.to_bytes(), [30, 0, 100, 0, 0, 0, 0, 0]);
    assert_eq!(Winsize::from_bytes(&w.to_bytes()), w);
}

#[test]
fn speeds_follow_cflag_as_linux() {
    let mut t = Termios::standard();
    // B9600 (0o15) both ways.
    t.cflag = (t.cflag & !CBAUD) | 0o15;
    t.load_speeds();
    assert_eq!((t.ispeed, t.ospeed), (9600, 9600));
    // B115200 is CBAUDEX|2; input B57600 (CBAUDEX|1) in the CIBAUD bits.
    t.cflag = (t.cflag & !CBAUD) | CBAUDEX | 2 | ((CBAUDEX | 1) << IBSHIFT);
    t.load_speeds();
    assert_eq!((t.ispeed, t.ospeed), (57600, 115200));
    // BOTHER: the speed fields as given; input B0 follows the output.
    t.cflag = (t.cflag & !(CBAUD | CBAUD << IBSHIFT)) | BOTHER;
    t.ospeed = 12345;
    t.ispeed = 999;
    t.load_speeds();
    assert_eq!((t.ispeed, t.ospeed), (12345, 12345));
    t.cflag |= BOTHER << IBSHIFT;
    t.ispeed = 777;
    t.load_speeds();
    assert_eq!((t.ispeed, t.ospeed), (777, 12345));
    // B4000000 is the last code (CBAUDEX|15).
    t.cflag = (t.cflag & !(CBAUD | CBAUD << IBSHIFT)) | CBAUD;
    t.load_speeds();
    assert_eq!((t.ispeed, t.ospeed), (4000000, 4000000));
}

#[test]
fn termio_replaces_only_low_halves() {
    let mut t = Termios::standard();
    t.cflag |= 0o15 << IBSHIFT;
    let mut o = t.to_termio();
    // c_lflag without ECHO, c_cc[VINTR] ^X.
    let l = u16::from_ne_bytes([o[6], o[7]]) & !(ECHO as u16);
    o[6..8].copy_from_slice(&l.to_ne_bytes());
    o[9 + VINTR] = 0x18;
    let n = t.with_termio(&o);
    assert_eq!(n.lflag, t.lflag & !ECHO);
    assert_eq!(n.cflag, t.cflag, "the input speed bits above 16 stay");
    assert_eq!(n.cc[VINTR], 0x18);
    assert_eq!(n.cc[VEOL2], t.cc[VEOL2]);
}

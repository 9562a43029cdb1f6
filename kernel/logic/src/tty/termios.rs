//! The terminal settings: Linux's `struct termios` as TCGETS/TCSETS carry it (the kernel's
//! 36-byte layout, the same for x86-64 and i386 programs), its flag bits and control-character
//! slots, and the settings a serial tty starts with (Linux's `tty_std_termios` with a serial
//! port's CLOCAL).

/// Input flags (`c_iflag`).
pub const ISTRIP: u32 = 0o40;
pub const INLCR: u32 = 0o100;
pub const IGNCR: u32 = 0o200;
pub const ICRNL: u32 = 0o400;
pub const IXON: u32 = 0o2000;
pub const IUTF8: u32 = 0o40000;

/// Output flags (`c_oflag`).
pub const OPOST: u32 = 0o1;
pub const ONLCR: u32 = 0o4;
pub const OCRNL: u32 = 0o10;

/// Control flags (`c_cflag`): 38400 baud (what Linux reports for a port it cannot time),
/// 8 bits, receiver on, hang up on close, no modem control.
pub const B38400: u32 = 0o17;
pub const CS8: u32 = 0o60;
pub const CREAD: u32 = 0o200;
pub const HUPCL: u32 = 0o2000;
pub const CLOCAL: u32 = 0o4000;

/// Local flags (`c_lflag`).
pub const ISIG: u32 = 0o1;
pub const ICANON: u32 = 0o2;
pub const ECHO: u32 = 0o10;
pub const ECHOE: u32 = 0o20;
pub const ECHOK: u32 = 0o40;
pub const ECHONL: u32 = 0o100;
pub const NOFLSH: u32 = 0o200;
pub const TOSTOP: u32 = 0o400;
pub const ECHOCTL: u32 = 0o1000;
pub const ECHOKE: u32 = 0o4000;
pub const IEXTEN: u32 = 0o100000;

/// Control-character slots of `c_cc`.
pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VREPRINT: usize = 12;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;
pub const NCCS: usize = 19;

/// A `c_cc` slot holding this value is disabled (Linux's `__DISABLED_CHAR`).
pub const DISABLED: u8 = 0;

/// The size of the kernel's `struct termios` (TCGETS/TCSETS*).
pub const TERMIOS_SIZE: usize = 36;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
}

impl Termios {
    /// A serial tty's settings when it is first opened: canonical mode with echo and signals,
    /// CR read as NL, NL written as CR NL; ^C ^\ DEL ^U ^D, VMIN 1, ^Q ^S ^Z ^R ^O ^W ^V
    /// (Linux's INIT_C_CC).
    pub const fn standard() -> Termios {
        Termios {
            iflag: ICRNL | IXON,
            oflag: OPOST | ONLCR,
            cflag: B38400 | CS8 | CREAD | HUPCL | CLOCAL,
            lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            line: 0,
            cc: [
                0o3, 0o34, 0o177, 0o25, 0o4, 0, 1, 0, 0o21, 0o23, 0o32, 0, 0o22, 0o17, 0o27, 0o26,
                0, 0, 0,
            ],
        }
    }

    pub fn to_bytes(self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0u8; TERMIOS_SIZE];
        for (i, f) in [self.iflag, self.oflag, self.cflag, self.lflag]
            .into_iter()
            .enumerate()
        {
            b[4 * i..4 * i + 4].copy_from_slice(&f.to_ne_bytes());
        }
        b[16] = self.line;
        b[17..].copy_from_slice(&self.cc);
        b
    }

    pub fn from_bytes(b: &[u8; TERMIOS_SIZE]) -> Termios {
        let w = |i: usize| u32::from_ne_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        let mut cc = [0u8; NCCS];
        cc.copy_from_slice(&b[17..]);
        Termios {
            iflag: w(0),
            oflag: w(1),
            cflag: w(2),
            lflag: w(3),
            line: b[16],
            cc,
        }
    }

    pub fn l(&self, flag: u32) -> bool {
        self.lflag & flag != 0
    }

    pub fn i(&self, flag: u32) -> bool {
        self.iflag & flag != 0
    }

    pub fn o(&self, flag: u32) -> bool {
        self.oflag & flag != 0
    }

    /// Whether `c` is the enabled control character of slot `slot`.
    pub fn is(&self, c: u8, slot: usize) -> bool {
        self.cc[slot] != DISABLED && self.cc[slot] == c
    }
}

/// `struct winsize` (TIOCGWINSZ/TIOCSWINSZ): rows, columns, then two pixel sizes nobody uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Winsize {
    pub rows: u16,
    pub cols: u16,
    pub xpixel: u16,
    pub ypixel: u16,
}

impl Winsize {
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        for (i, v) in [self.rows, self.cols, self.xpixel, self.ypixel]
            .into_iter()
            .enumerate()
        {
            b[2 * i..2 * i + 2].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }

    pub fn from_bytes(b: &[u8; 8]) -> Winsize {
        let h = |i: usize| u16::from_ne_bytes([b[2 * i], b[2 * i + 1]]);
        Winsize {
            rows: h(0),
            cols: h(1),
            xpixel: h(2),
            ypixel: h(3),
        }
    }
}

//! The terminal settings: Linux's `struct ktermios`, which TCGETS/TCSETS carry as the 36-byte
//! `struct termios`, TCGETS2/TCSETS2 as the 44-byte `struct termios2` (with the two speeds),
//! and TCGETA/TCSETA as the 18-byte old `struct termio` (16-bit flags, 8 control characters),
//! all the same for x86-64 and i386 programs; the flag bits and control-character slots; the
//! speeds encoded in `c_cflag` (drivers/tty/tty_baudrate.c); and the settings a serial tty
//! starts with (Linux's `tty_std_termios` with a serial port's CLOCAL).

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
/// The output speed's bits of `c_cflag`; CBAUDEX marks the speeds past 38400, and the value
/// BOTHER alone says "the speed is in `c_ospeed`". The input speed's bits are the same,
/// IBSHIFT higher (0 there: the output speed).
pub const CBAUD: u32 = 0x100f;
pub const CBAUDEX: u32 = 0x1000;
pub const BOTHER: u32 = 0x1000;
pub const IBSHIFT: u32 = 16;

/// The speeds the codes 0–15 and CBAUDEX|1–15 stand for (Linux's x86 `baud_table`).
const BAUD_TABLE: [u32; 31] = [
    0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000,
    3000000, 3500000, 4000000,
];

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
/// The size of `struct termios2` (TCGETS2/TCSETS*2): `struct termios`, then c_ispeed and
/// c_ospeed.
pub const TERMIOS2_SIZE: usize = 44;
/// The size of the old `struct termio` (TCGETA/TCSETA*), padded to its 2-byte alignment.
pub const TERMIO_SIZE: usize = 18;
/// The control characters `struct termio` holds (Linux's NCC).
const NCC: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
    /// The input and output speeds (baud), as `c_cflag` or, with BOTHER, the caller gave them.
    pub ispeed: u32,
    pub ospeed: u32,
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
            ispeed: 38400,
            ospeed: 38400,
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

    /// These settings with `b`'s (a `struct termios`) in place of all but the speeds (Linux's
    /// `user_termios_to_kernel_termios_1`); [`Termios::load_speeds`] comes next.
    pub fn with_bytes(self, b: &[u8; TERMIOS_SIZE]) -> Termios {
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
            ..self
        }
    }

    /// `struct termios2`: `struct termios`, then c_ispeed and c_ospeed.
    pub fn to_bytes2(self) -> [u8; TERMIOS2_SIZE] {
        let mut b = [0u8; TERMIOS2_SIZE];
        b[..TERMIOS_SIZE].copy_from_slice(&self.to_bytes());
        b[36..40].copy_from_slice(&self.ispeed.to_ne_bytes());
        b[40..44].copy_from_slice(&self.ospeed.to_ne_bytes());
        b
    }

    pub fn from_bytes2(b: &[u8; TERMIOS2_SIZE]) -> Termios {
        let w = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let head: &[u8; TERMIOS_SIZE] = b[..TERMIOS_SIZE].try_into().expect("36 of 44 bytes");
        Termios {
            ispeed: w(36),
            ospeed: w(40),
            ..Termios::standard().with_bytes(head)
        }
    }

    /// The old `struct termio` (Linux's `kernel_termios_to_user_termio`): the low 16 bits of
    /// each flag word, the line discipline, the first 8 control characters, a zero pad byte.
    pub fn to_termio(self) -> [u8; TERMIO_SIZE] {
        let mut b = [0u8; TERMIO_SIZE];
        for (i, f) in [self.iflag, self.oflag, self.cflag, self.lflag]
            .into_iter()
            .enumerate()
        {
            b[2 * i..2 * i + 2].copy_from_slice(&(f as u16).to_ne_bytes());
        }
        b[8] = self.line;
        b[9..9 + NCC].copy_from_slice(&self.cc[..NCC]);
        b
    }

    /// These settings with a `struct termio`'s (Linux's `user_termio_to_kernel_termios`):
    /// each flag word's low 16 bits replaced and its high ones kept, the line discipline and
    /// the first 8 control characters replaced.
    pub fn with_termio(self, b: &[u8; TERMIO_SIZE]) -> Termios {
        let low = |old: u32, i: usize| {
            (old & 0xffff_0000) | u32::from(u16::from_ne_bytes([b[2 * i], b[2 * i + 1]]))
        };
        let mut cc = self.cc;
        cc[..NCC].copy_from_slice(&b[9..9 + NCC]);
        Termios {
            iflag: low(self.iflag, 0),
            oflag: low(self.oflag, 1),
            cflag: low(self.cflag, 2),
            lflag: low(self.lflag, 3),
            line: b[8],
            cc,
            ..self
        }
    }

    /// The speed a code of `c_cflag`'s speed bits stands for (None: BOTHER, the speed field).
    fn baud_of(code: u32) -> Option<u32> {
        if code == BOTHER {
            return None;
        }
        let i = if code & CBAUDEX != 0 {
            (code & !CBAUDEX) + 15
        } else {
            code
        };
        Some(BAUD_TABLE.get(i as usize).copied().unwrap_or(0))
    }

    /// The output speed (Linux's `tty_termios_baud_rate`).
    pub fn baud_rate(&self) -> u32 {
        Self::baud_of(self.cflag & CBAUD).unwrap_or(self.ospeed)
    }

    /// The input speed (Linux's `tty_termios_input_baud_rate`): the output speed when its
    /// bits are B0.
    pub fn input_baud_rate(&self) -> u32 {
        match (self.cflag >> IBSHIFT) & CBAUD {
            0 => self.baud_rate(),
            code => Self::baud_of(code).unwrap_or(self.ispeed),
        }
    }

    /// After new settings came in (Linux's `set_termios`): the speed fields hold the real
    /// speeds, whether `c_cflag` names them (Bnnn) or says BOTHER.
    pub fn load_speeds(&mut self) {
        self.ispeed = self.input_baud_rate();
        self.ospeed = self.baud_rate();
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

//! `core::fmt` output to file descriptors, without allocation.
//!
//! Each `print!`/`println!` call formats into a small buffer on the stack and writes it with as few
//! `write` calls as possible (one per call when the text fits in [`BUF_SIZE`] bytes), so a line is
//! normally one `write`: whole lines reach the console even if the process dies right after.

use core::fmt;

use crate::sys;

/// Size of the per-call output buffer.
pub const BUF_SIZE: usize = 256;

/// A `fmt::Write` sink that buffers up to `N` bytes and writes them to a file descriptor.
pub struct FdWriter<const N: usize> {
    fd: i32,
    len: usize,
    buf: [u8; N],
}

impl<const N: usize> FdWriter<N> {
    /// An empty writer for `fd`.
    pub const fn new(fd: i32) -> Self {
        Self {
            fd,
            len: 0,
            buf: [0; N],
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        sys::write_all(self.fd, &self.buf[..self.len]);
        self.len = 0;
    }
}

impl<const N: usize> fmt::Write for FdWriter<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == N {
                self.flush();
            }
            let n = (N - self.len).min(bytes.len());
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

impl<const N: usize> Drop for FdWriter<N> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Formats `args` to `fd`. Used by the macros.
pub fn print_to(fd: i32, args: fmt::Arguments<'_>) {
    let mut w = FdWriter::<BUF_SIZE>::new(fd);
    let _ = fmt::Write::write_fmt(&mut w, args);
}

/// Prints to stdout (fd 1).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::fmt::print_to(1, format_args!($($arg)*)) };
}

/// Prints a line to stdout (fd 1).
#[macro_export]
macro_rules! println {
    () => { $crate::fmt::print_to(1, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::fmt::print_to(1, format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints to stderr (fd 2).
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::fmt::print_to(2, format_args!($($arg)*)) };
}

/// Prints a line to stderr (fd 2).
#[macro_export]
macro_rules! eprintln {
    () => { $crate::fmt::print_to(2, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::fmt::print_to(2, format_args!("{}\n", format_args!($($arg)*))) };
}

/// Displays a byte string, with bytes that are not printable ASCII as `\xNN`.
pub struct Bytes<'a>(pub &'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) {
                fmt::Write::write_char(f, b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

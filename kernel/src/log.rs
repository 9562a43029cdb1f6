//! Kernel log: `[kentry] ` lines on the serial console.

use core::fmt::{self, Write};

pub struct SerialWriter;

impl Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::serial::write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Writes without taking the lock fairly: for panic and fault reports
/// (`serial::force_write_bytes`). A line goes out whole (it is gathered first, up to
/// [`FORCED_LINE`] bytes), so another CPU's output cannot land inside it.
pub struct ForcedWriter {
    buf: [u8; FORCED_LINE],
    len: usize,
}

/// The longest piece a [`ForcedWriter`] gathers before it writes.
const FORCED_LINE: usize = 256;

impl ForcedWriter {
    pub const fn new() -> Self {
        ForcedWriter {
            buf: [0; FORCED_LINE],
            len: 0,
        }
    }

    fn flush(&mut self) {
        if self.len > 0 {
            crate::serial::force_write_bytes(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for ForcedWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for ForcedWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == FORCED_LINE {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

impl Drop for ForcedWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Prints a line prefixed with `[kentry] `.
#[macro_export]
macro_rules! klog {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::log::SerialWriter, "[kentry] {}\n", format_args!($($arg)*));
    }};
}

/// Prints raw text (no prefix): KTAP lines.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::log::SerialWriter, $($arg)*);
    }};
}

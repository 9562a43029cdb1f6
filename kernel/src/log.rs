//! Kernel log: `[kentry] ` lines on the serial console.

use core::fmt::{self, Write};

pub struct SerialWriter;

impl Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::serial::write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Writes without taking the lock fairly: for panic and fault reports.
pub struct ForcedWriter;

impl Write for ForcedWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::serial::force_write_bytes(s.as_bytes());
        Ok(())
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

//! Linux errno values (the one list is `kentry_abi::errno`) and their descriptions for the
//! kernel's own messages.

pub use kentry_abi::errno::*;

/// A short description of `-errno` (for the kernel's own messages).
pub fn describe(neg: i64) -> &'static str {
    match -neg {
        ENOENT => "no such file or directory",
        EACCES => "permission denied (not an executable file)",
        ENOEXEC => "exec format error",
        ENOMEM => "out of memory",
        E2BIG => "argument list too long",
        EISDIR => "is a directory",
        ENOTDIR => "not a directory",
        _ => "error",
    }
}

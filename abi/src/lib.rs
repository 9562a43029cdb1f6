//! Linux x86-64 ABI numbers shared by the kernel (`kernel/`), the ring-3 programs and the bench
//! (`user/`): no_std, no dependencies, so every side of the syscall boundary can use it.
//!
//! [`nr`] holds the syscall numbers as named constants and [`name`] gives a number's name; both
//! come from the one list in `syscalls.rs`, so a number and its name cannot disagree; [`nr32`]
//! and [`name32`] do the same for the i386 numbers of `int $0x80` (`syscalls_32.rs`).

#![no_std]

pub mod compat;
pub mod errno;
mod syscalls;
mod syscalls_32;

pub use syscalls::{NR_SYSCALLS, name, nr};
pub use syscalls_32::{NR_SYSCALLS_32, name32, nr32};

/// `s` in ASCII lower case, as an array of exactly `s.len()` bytes (`N` must be `s.len()`).
/// Used at compile time to turn a constant's name (`GETPID`) into the syscall's (`getpid`).
#[doc(hidden)]
pub const fn ascii_lowercase<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    assert!(
        b.len() == N,
        "ascii_lowercase: N must be the length of the name"
    );
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = b[i].to_ascii_lowercase();
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;

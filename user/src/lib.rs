//! Runtime for kentry's ring-3 test and benchmark programs.
//!
//! Every program in `src/bin/` is a static, non-PIE x86-64 Linux ELF executable with no libc. It
//! runs unchanged on kentry and natively on Linux, and must give the same results on both. This
//! crate provides what such a program needs:
//! - [`rt`]: the `_start` entry point, argument access, and the panic handler;
//! - [`sys`]: raw `syscall` wrappers and the Linux x86-64 numbers the programs use;
//! - [`fmt`]: `print!`/`println!`/`eprintln!` over `core::fmt`, writing to fd 1 and 2;
//! - [`ktap`]: a KTAP version 1 printer;
//! - [`cpu`]: small helpers around single instructions (`rdtsc`, RFLAGS, selectors);
//! - [`bench`]: timing asm loops with the TSC and printing `bench` lines;
//! - [`procfs`]: the per-CPU rows of `/proc/interrupts`;
//! - [`signal`]: installing a signal handler (rt_sigaction with an rt_sigreturn restorer).
//!
//! A program declares its `main` with [`entry!`]:
//! ```ignore
//! #![no_std]
//! #![no_main]
//! kentry_user::entry!(main);
//! fn main(args: kentry_user::rt::Args) -> i32 { 0 }
//! ```
//!
//! Syscalls the runtime itself uses: `write` (1) for output and `exit_group` (231) to end.

#![no_std]

pub mod bench;
pub mod cpu;
pub mod fmt;
pub mod ktap;
pub mod procfs;
pub mod rt;
pub mod signal;
pub mod sys;
pub mod vdso;

/// Declares the program's `main`: `fn(rt::Args) -> i32`. Its return value is the exit status.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// Called by the runtime's `_start` once the arguments are known.
        #[unsafe(no_mangle)]
        extern "C" fn kentry_user_main(args: $crate::rt::Args) -> i32 {
            let main: fn($crate::rt::Args) -> i32 = $main;
            main(args)
        }
    };
}

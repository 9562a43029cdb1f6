//! Echoes what it was started with, byte for byte, for the runner check of `cargo xtask test`
//! (xtask compares its output on kentry with its output on this Linux host).
//!
//! `echoargs [--stdin] STATUS [ARGS…]`
//! - stdout: every argv string, `argv[0]` included, exactly as received, each followed by `\n`;
//!   with `--stdin`, then all of stdin, copied until end of file;
//! - stderr: `envc N`, then every environment string, each followed by `\n`;
//! - exits with STATUS (a decimal number, 0–255); a bad STATUS exits 2 with a message.
//!
//! Syscalls: read, write, exit_group.

#![no_std]
#![no_main]

use kentry_user::rt::Args;
use kentry_user::sys::{self, errno, nr};
use kentry_user::{entry, eprintln};

entry!(main);

fn main(args: Args) -> i32 {
    for a in args.iter() {
        sys::write_all(1, a);
        sys::write_all(1, b"\n");
    }
    let env = envp(&args);
    eprintln!("envc {}", env.len());
    for e in env.iter() {
        sys::write_all(2, e);
        sys::write_all(2, b"\n");
    }

    let copy_stdin = args.get(1) == Some(b"--stdin".as_slice());
    let status_arg = if copy_stdin { 2 } else { 1 };
    if copy_stdin && !cat_stdin() {
        return 1;
    }
    match args.get(status_arg).and_then(parse_status) {
        Some(status) => status,
        None => {
            eprintln!("echoargs: usage: echoargs [--stdin] STATUS [ARGS...] (STATUS 0-255)");
            2
        }
    }
}

/// Copies fd 0 to fd 1 until end of file; false after a read error (reported on stderr).
fn cat_stdin() -> bool {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: the kernel writes at most `buf.len()` bytes into this live buffer.
        let n = unsafe { sys::syscall3(nr::READ, 0, buf.as_mut_ptr() as usize, buf.len()) };
        match n {
            0 => return true,
            n if n == -errno::EINTR => continue,
            n if n < 0 => {
                eprintln!("echoargs: read from stdin failed: errno {}", -n);
                return false;
            }
            n => sys::write_all(1, &buf[..n as usize]),
        }
    }
}

fn parse_status(s: &[u8]) -> Option<i32> {
    if s.is_empty() || s.len() > 3 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s.iter().fold(0i32, |v, &d| v * 10 + i32::from(d - b'0'));
    (v <= 255).then_some(v)
}

/// The environment: the NULL-terminated `envp[]` that follows `argv[]`'s NULL on the initial
/// stack (linux-abi.md §3.1).
struct Env {
    envp: *const *const u8,
}

impl Env {
    fn iter(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        (0..).map_while(move |i| {
            // SAFETY: `envp` points at a NULL-terminated pointer array on the initial stack, and
            // the iteration stops at that NULL; each pointer is a NUL-terminated string that
            // stays mapped and unchanged for the whole life of the process.
            unsafe {
                let p = *self.envp.add(i);
                if p.is_null() {
                    return None;
                }
                let mut n = 0;
                while *p.add(n) != 0 {
                    n += 1;
                }
                Some(core::slice::from_raw_parts(p, n))
            }
        })
    }

    fn len(&self) -> usize {
        self.iter().count()
    }
}

fn envp(args: &Args) -> Env {
    // The runtime's `Args` has no accessor for envp, but it is `#[repr(C)]` with exactly the
    // fields `argc: usize` and `argv: *const *const u8` (src/rt.rs), so its words are readable.
    // SAFETY: `Args` is `repr(C)` and two words long, the same layout as `[usize; 2]`; both
    // fields are plain integers or raw pointers, valid for any bit pattern.
    let [argc, argv] = unsafe { core::mem::transmute::<Args, [usize; 2]>(*args) };
    let argv = argv as *const *const u8;
    // SAFETY: argv[argc] is the NULL that ends argv, and envp starts right after it.
    Env {
        envp: unsafe { argv.add(argc + 1) },
    }
}

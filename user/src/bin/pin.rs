//! `pin CPU PROGRAM [ARGS…]`: moves itself onto CPU with sched_setaffinity, then execs PROGRAM
//! with `PROGRAM ARGS…` as its argv and no environment. The affinity survives the exec.
//!
//! `cargo xtask bench --plugin` boots Linux with `nohz_full=1 isolcpus=1` and this program as
//! init (`rdinit=/pin -- 1 /bench`) so that the bench runs on the nohz_full CPU. It is a
//! program of its own so that the bench programs stay as they are: their fork and exec figures
//! grow with their size. Fails (status 1) if the affinity cannot be set or the exec fails,
//! and (status 2) on bad arguments.
//!
//! Syscalls: sched_setaffinity, execve, write, exit_group.

#![no_std]
#![no_main]

use kentry_user::rt::Args;
use kentry_user::sys::{self, nr};
use kentry_user::{entry, println};

entry!(main);

/// CPUs the affinity mask covers.
const MASK_CPUS: usize = 1024;
/// Arguments passed on to PROGRAM, at most.
const MAX_ARGS: usize = 15;

fn parse_cpu(s: &str) -> Option<usize> {
    s.parse().ok().filter(|&c| c < MASK_CPUS)
}

fn main(args: Args) -> i32 {
    let (Some(cpu), Some(program)) = (args.get_str(1).and_then(parse_cpu), args.get(2)) else {
        println!("usage: pin CPU PROGRAM [ARGS…] (CPU below {MASK_CPUS})");
        return 2;
    };
    if args.len() - 2 > MAX_ARGS {
        println!("pin: more than {MAX_ARGS} arguments");
        return 2;
    }
    let mut mask = [0u64; MASK_CPUS / 64];
    mask[cpu / 64] = 1 << (cpu % 64);
    // SAFETY: sched_setaffinity(0 = this thread, size, mask) only reads the mask.
    let r = unsafe {
        sys::syscall3(
            nr::SCHED_SETAFFINITY,
            0,
            core::mem::size_of_val(&mask),
            mask.as_ptr() as usize,
        )
    };
    if r != 0 {
        println!("pin: sched_setaffinity to CPU {cpu} failed ({r})");
        return 1;
    }
    // argv[2..] are NUL-terminated strings on the initial stack; pass them on as they are.
    let mut argv: [*const u8; MAX_ARGS + 1] = [core::ptr::null(); MAX_ARGS + 1];
    for (slot, i) in argv.iter_mut().zip(2..args.len()) {
        *slot = args.get(i).map_or(core::ptr::null(), <[u8]>::as_ptr);
    }
    let envp: [*const u8; 1] = [core::ptr::null()];
    // SAFETY: execve with a NUL-terminated path and NULL-terminated arrays of NUL-terminated
    // strings, all of which live on this process's initial stack or here.
    let r = unsafe {
        sys::syscall3(
            nr::EXECVE,
            program.as_ptr() as usize,
            argv.as_ptr() as usize,
            envp.as_ptr() as usize,
        )
    };
    println!("pin: execve failed ({r})");
    1
}

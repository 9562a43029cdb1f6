//! The demo program of `cargo xtask run`: greets, shows its pid, tid and arguments, sets the FS
//! base with arch_prctl and reads it back (and through `fs:[0]`), yields, and spins on `rdtsc`
//! for a while. Exits 0 when everything behaved; 1 otherwise.
//!
//! Syscalls: write, getpid, gettid, arch_prctl (ARCH_SET_FS, ARCH_GET_FS), sched_yield,
//! exit_group.

#![no_std]
#![no_main]

use kentry_user::fmt::Bytes;
use kentry_user::rt::Args;
use kentry_user::sys::{self, arch};
use kentry_user::{cpu, entry, println};

entry!(main);

/// Read through the FS segment once the base points at it.
static FS_TARGET: u64 = u64::from_le_bytes(*b"kentry!!");

/// Iterations of the rdtsc loop.
const SPIN: u64 = 1_000_000;

fn main(args: Args) -> i32 {
    let mut ok = true;
    println!("hello from ring 3: a static x86-64 Linux ELF, no libc");
    for (i, a) in args.iter().enumerate() {
        println!("argv[{i}] = \"{}\"", Bytes(a));
    }
    let pid = sys::getpid();
    let tid = sys::gettid();
    println!("pid {pid}, tid {tid}");
    ok &= pid > 0 && tid == pid;

    let target = &raw const FS_TARGET as usize;
    // SAFETY: nothing in this program uses the FS base (no TLS); it is set back to 0 below.
    let set = unsafe { sys::arch_prctl_set(arch::SET_FS, target) };
    let got = sys::arch_prctl_get(arch::GET_FS);
    let through = if set == 0 && got == Ok(target) {
        // SAFETY: the FS base is `&FS_TARGET` (just checked), 8 readable bytes.
        unsafe { cpu::read_fs0() }
    } else {
        0
    };
    let fs_ok = set == 0 && got == Ok(target) && through == FS_TARGET;
    println!(
        "arch_prctl: FS base set and read back {}, fs:[0] reads \"{}\"",
        if fs_ok { "ok" } else { "FAILED" },
        Bytes(&through.to_le_bytes())
    );
    ok &= fs_ok;
    // SAFETY: as above; 0 is the base the program started with.
    let reset = unsafe { sys::arch_prctl_set(arch::SET_FS, 0) };
    ok &= reset == 0;

    let y = sys::sched_yield();
    println!("sched_yield returned {y}");
    ok &= y == 0;

    let start = cpu::rdtsc_ordered();
    let mut prev = start;
    let mut backwards = 0u64;
    for _ in 0..SPIN {
        let now = cpu::rdtsc_ordered();
        if now < prev {
            backwards += 1;
        }
        prev = now;
    }
    let advanced = prev > start;
    println!(
        "rdtsc loop: {SPIN} reads, TSC advanced: {}, went backwards: {backwards} times",
        if advanced { "yes" } else { "no" }
    );
    ok &= advanced && backwards == 0;

    println!(
        "goodbye ({})",
        if ok {
            "all fine"
        } else {
            "something was wrong"
        }
    );
    if ok { 0 } else { 1 }
}

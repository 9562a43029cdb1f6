//! A checker of `verify_loop` (docs/verify.md): a child that runs with a hardware watchpoint
//! armed, so that `cargo xtask verify`'s NMIs and #MCs find DR7 armed, in user mode and in
//! the kernel, and take the entries' DR7 save/clear and restore (E22).
//!
//! This program forks the child and traces it: the child stops itself (PTRACE_TRACEME, then
//! SIGSTOP), this program arms DR0/DR7 through PTRACE_POKEUSER on a word of the child's data (a
//! 4-byte write watchpoint), and continues it. The child then, [`HITS`] times, spins in ring 3,
//! makes [`SYSCALLS`] getpid calls (kernel time with DR7 armed), and writes the watched word:
//! a #DB from user mode with DR7 armed, which the kernel turns into SIGTRAP, which stops the
//! child for this tracer, which counts it and continues the child without the signal.
//!
//! Exit 0 when the child exited 0 after exactly [`HITS`] watchpoint stops; 1 otherwise; 2
//! when a ptrace request failed (the diagnostic says which).

#![no_std]
#![no_main]

use kentry_user::rt::Args;
use kentry_user::sys::{self, nr};
use kentry_user::{diag, entry};

entry!(main);

/// Watchpoint hits per run.
const HITS: u64 = 8;
/// Spin iterations in ring 3 between hits.
const SPIN: u64 = 100_000;
/// getpid calls between hits.
const SYSCALLS: u64 = 200;

const PTRACE_TRACEME: usize = 0;
const PTRACE_POKEUSER: usize = 6;
const PTRACE_CONT: usize = 7;
const SIGSTOP: usize = 19;
const SIGTRAP: i32 = 5;
/// `offsetof(struct user, u_debugreg)` on x86-64.
const U_DEBUGREG: usize = 848;
/// DR7: L0 enabled, RW0 = 01 (data writes), LEN0 = 11 (4 bytes).
const DR7_WRITE4_L0: usize = 0x000d_0001;

/// The watched word (the same address in the child, a copy of this image).
static mut WATCHED: u32 = 0;

fn child() -> ! {
    // SAFETY: plain syscalls with integer arguments.
    unsafe {
        sys::syscall4(nr::PTRACE, PTRACE_TRACEME, 0, 0, 0);
        sys::syscall2(nr::KILL, sys::getpid() as usize, SIGSTOP);
    }
    for i in 0..HITS {
        for _ in 0..SPIN {
            core::hint::spin_loop();
        }
        for _ in 0..SYSCALLS {
            sys::getpid();
        }
        // SAFETY: this process's own static, written by this thread only.
        unsafe { core::ptr::write_volatile(&raw mut WATCHED, i as u32) };
    }
    sys::exit_group(0)
}

/// wait4(pid) for any state change: the raw status, or -errno.
fn wait(pid: usize) -> Result<i32, isize> {
    let mut status: i32 = 0;
    // SAFETY: wait4 writes the status word.
    let r = unsafe { sys::syscall4(nr::WAIT4, pid, &raw mut status as usize, 0, 0) };
    if r < 0 { Err(r) } else { Ok(status) }
}

fn ptrace(req: usize, pid: usize, addr: usize, data: usize) -> Result<(), isize> {
    // SAFETY: requests on a traced child; no memory of this process is passed.
    let r = unsafe { sys::syscall4(nr::PTRACE, req, pid, addr, data) };
    if r < 0 { Err(r) } else { Ok(()) }
}

fn main(_args: Args) -> i32 {
    // SAFETY: fork: the child continues in `child`.
    let pid = unsafe { sys::syscall0(nr::FORK) };
    if pid == 0 {
        child();
    }
    if pid < 0 {
        diag!("hwbp_armed: fork failed ({pid})");
        return 2;
    }
    let pid = pid as usize;
    let stopped = |s: i32| s & 0xff == 0x7f;
    match wait(pid) {
        Ok(s) if stopped(s) && (s >> 8) & 0xff == SIGSTOP as i32 => {}
        other => {
            diag!("hwbp_armed: the child did not stop ({other:?})");
            return 2;
        }
    }
    let armed = ptrace(
        PTRACE_POKEUSER,
        pid,
        U_DEBUGREG,
        &raw const WATCHED as usize,
    )
    .and_then(|()| ptrace(PTRACE_POKEUSER, pid, U_DEBUGREG + 7 * 8, DR7_WRITE4_L0));
    if let Err(e) = armed {
        diag!("hwbp_armed: POKEUSER of DR0/DR7 failed ({e})");
        return 2;
    }
    let mut hits = 0u64;
    let mut sig = 0;
    loop {
        if let Err(e) = ptrace(PTRACE_CONT, pid, 0, sig) {
            diag!("hwbp_armed: PTRACE_CONT failed ({e})");
            return 2;
        }
        let s = match wait(pid) {
            Ok(s) => s,
            Err(e) => {
                diag!("hwbp_armed: wait4 failed ({e})");
                return 2;
            }
        };
        if !stopped(s) {
            let ok = s & 0x7f == 0 && (s >> 8) & 0xff == 0 && hits == HITS;
            if !ok {
                diag!("hwbp_armed: the child ended with status {s:#x} after {hits} hits");
            }
            return if ok { 0 } else { 1 };
        }
        let stopsig = (s >> 8) & 0xff;
        sig = if stopsig == SIGTRAP {
            hits += 1;
            0
        } else {
            stopsig as usize
        };
    }
}

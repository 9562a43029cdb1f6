//! SYSCALL with unusual RFLAGS set by the user (entry-cases E06 NT, E07 AC, E08 DF; linux-abi
//! §2.4).
//!
//! For DF (set with `std`), AC and NT (set with `popfq`), and all three together: getpid works
//! and returns the pid; R11 holds RFLAGS as they were at the `syscall`, these bits included; and
//! RFLAGS come back exactly as they were (Linux restores them from R11, so DF, AC and NT are
//! still set after the call). The program clears them again (`popfq` of the saved RFLAGS, `cld`)
//! before any Rust code runs.
//!
//! AC = 1 at CPL 3 makes misaligned accesses fault (CR0.AM is set on Linux); the code between
//! setting and clearing it makes only aligned stack accesses.
//!
//! Syscalls: getpid, write, exit_group.

#![no_std]
#![no_main]

use core::arch::asm;

use kentry_user::cpu::{self, rflags};
use kentry_user::ktap::Ktap;
use kentry_user::sys::{self, nr};
use kentry_user::{diag, entry};

entry!(main);

/// What one flagged syscall observed.
struct Observed {
    rax: u64,
    before: u64,
    after: u64,
    r11: u64,
    restored: u64,
}

/// getpid with `bits` ORed into RFLAGS by `popfq`.
fn getpid_with_popf(bits: u64) -> Observed {
    let (rax, before, after, r11): (u64, u64, u64, u64);
    // SAFETY: the block saves RFLAGS, sets `bits` (a subset of DF, AC, NT), makes one getpid
    // syscall, and restores the saved RFLAGS (then `cld`) before it ends, so DF is clear again as
    // the ABI requires. With AC set it only pushes and pops 8-byte-aligned stack slots, so no
    // alignment check can fire. RCX and R11 (clobbered by `syscall`) are declared.
    unsafe {
        asm!(
            "pushfq",
            "pop {orig}",
            "mov {tmp}, {orig}",
            "or {tmp}, {bits}",
            "push {tmp}",
            "popfq",
            "pushfq",
            "pop {before}",
            "syscall",
            "pushfq",
            "pop {after}",
            "push {orig}",
            "popfq",
            "cld",
            bits = in(reg) bits,
            orig = out(reg) _,
            tmp = out(reg) _,
            before = out(reg) before,
            after = out(reg) after,
            inlateout("rax") nr::GETPID as u64 => rax,
            out("rcx") _,
            out("r11") r11,
        );
    }
    Observed {
        rax,
        before,
        after,
        r11,
        restored: cpu::rflags(),
    }
}

/// getpid with DF set by `std`.
fn getpid_with_std() -> Observed {
    let (rax, before, after, r11): (u64, u64, u64, u64);
    // SAFETY: `std` sets DF for one getpid syscall only; `cld` clears it before the block ends,
    // as the ABI requires. RCX and R11 (clobbered by `syscall`) are declared.
    unsafe {
        asm!(
            "std",
            "pushfq",
            "pop {before}",
            "syscall",
            "pushfq",
            "pop {after}",
            "cld",
            before = out(reg) before,
            after = out(reg) after,
            inlateout("rax") nr::GETPID as u64 => rax,
            out("rcx") _,
            out("r11") r11,
        );
    }
    Observed {
        rax,
        before,
        after,
        r11,
        restored: cpu::rflags(),
    }
}

fn check(t: &mut Ktap, name: &str, bits: u64, o: &Observed, pid: u64) {
    let mut pass = true;
    if o.rax != pid {
        diag!("{name}: getpid returned {:#x}, want {:#x}", o.rax, pid);
        pass = false;
    }
    if o.before & bits != bits {
        diag!(
            "{name}: could not set the flags: RFLAGS before = {:#x}",
            o.before
        );
        pass = false;
    }
    if o.r11 != o.before {
        diag!(
            "{name}: r11 = {:#x}, want RFLAGS at the syscall {:#x}",
            o.r11,
            o.before
        );
        pass = false;
    }
    if o.after != o.before {
        diag!(
            "{name}: RFLAGS after = {:#x}, before = {:#x}",
            o.after,
            o.before
        );
        pass = false;
    }
    if o.restored & (rflags::DF | rflags::AC | rflags::NT) != 0 {
        diag!("{name}: flags still set after restoring: {:#x}", o.restored);
        pass = false;
    }
    t.result(pass, name);
}

fn main(_args: kentry_user::rt::Args) -> i32 {
    let mut t = Ktap::new(5);
    let pid = sys::getpid() as u64;

    let o = getpid_with_std();
    check(&mut t, "df_std", rflags::DF, &o, pid);
    for (name, bits) in [
        ("df_popf", rflags::DF),
        ("ac", rflags::AC),
        ("nt", rflags::NT),
        ("df_ac_nt", rflags::DF | rflags::AC | rflags::NT),
    ] {
        let o = getpid_with_popf(bits);
        check(&mut t, name, bits, &o, pid);
    }
    t.finish()
}

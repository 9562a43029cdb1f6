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
//! Two cases check what the flags would do in the kernel if they got in:
//! - df_uname_copy: `uname` made with DF=1 fills its buffer exactly as with DF=0, and writes
//!   nothing around it (a kernel running with DF=1 copies backwards, E08);
//! - tf_across_syscall: TF set by `popfq` just before a `syscall`: exactly one SIGTRAP, after the
//!   first instruction that follows the syscall (the return restored TF the way IRET does; a
//!   SYSRET that restored it would trap before that instruction, E05).
//!
//! Syscalls: getpid, uname, rt_sigaction, rt_sigreturn, write, exit_group.

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

const UTSNAME_LEN: usize = 6 * 65;
const CANARY: u64 = 0x5a5a_c3c3_0f0f_9696;

/// A utsname buffer between two canary areas.
#[repr(C, align(8))]
struct GuardedUtsname {
    below: [u64; 8],
    uts: [u8; UTSNAME_LEN],
    tail: [u8; 2],
    above: [u64; 8],
}

impl GuardedUtsname {
    fn new() -> Self {
        GuardedUtsname {
            below: [CANARY; 8],
            uts: [0xee; UTSNAME_LEN],
            tail: [0xee; 2],
            above: [CANARY; 8],
        }
    }
}

/// `uname(buf)`, with DF set around the syscall when `df` — by `popfq`: QEMU 7.2 TCG loses a
/// DF set by `std` at SYSCALL whatever FMASK says (it keeps DF apart from its RFLAGS image),
/// so only a DF loaded by `popfq` reaches a kernel whose FMASK leaves DF alone.
fn uname(buf: &mut GuardedUtsname, df: bool) -> i64 {
    let r: i64;
    let p = buf.uts.as_mut_ptr();
    if df {
        // SAFETY: the kernel writes one struct utsname at `p` (390 bytes, in `buf`); DF is set
        // for the syscall only and cleared by `cld` before the block ends, as the ABI requires.
        // The pushfq/popfq pair leaves the stack as it was.
        unsafe {
            asm!(
                "pushfq",
                "or qword ptr [rsp], {df}",
                "popfq",
                "syscall",
                "cld",
                df = const rflags::DF,
                inlateout("rax") nr::UNAME as i64 => r,
                in("rdi") p,
                out("rcx") _,
                out("r11") _,
            );
        }
    } else {
        // SAFETY: as above, without DF.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") nr::UNAME as i64 => r,
                in("rdi") p,
                out("rcx") _,
                out("r11") _,
            );
        }
    }
    r
}

fn df_uname_copy(t: &mut Ktap) {
    let mut want = GuardedUtsname::new();
    let mut got = GuardedUtsname::new();
    let r0 = uname(&mut want, false);
    let r = uname(&mut got, true);
    let intact = |b: &GuardedUtsname| {
        b.below == [CANARY; 8] && b.above == [CANARY; 8] && b.tail == [0xee; 2]
    };
    let pass = r0 == 0 && r == 0 && got.uts == want.uts && intact(&got);
    if !pass {
        diag!(
            "uname with DF=1: {r} (without: {r0}), buffer {}, guards {}",
            if got.uts == want.uts {
                "same"
            } else {
                "differs"
            },
            if intact(&got) {
                "intact"
            } else {
                "overwritten"
            }
        );
    }
    t.result(pass, "df_uname_copy");
}

const SIGTRAP: usize = 5;
const SC_RIP: usize = 40 + 128;
const SC_EFLAGS: usize = 40 + 136;
/// (SIGTRAPs, RIP of the first).
static mut TRAPS: (u32, u64) = (0, 0);

extern "C" fn on_sigtrap(_sig: i32, _info: *const u8, uc: *mut u8) {
    // SAFETY: a kernel-built ucontext; single-threaded program. TF is cleared in the saved
    // RFLAGS so that stepping ends here.
    unsafe {
        let rip = core::ptr::read_unaligned(uc.add(SC_RIP) as *const u64);
        let flags = uc.add(SC_EFLAGS) as *mut u64;
        core::ptr::write_unaligned(flags, core::ptr::read_unaligned(flags) & !rflags::TF);
        let (n, first) = TRAPS;
        TRAPS = (n + 1, if n == 0 { rip } else { first });
    }
}

// TF set by popfq: the syscall runs with TF=1 (masked in the kernel by FMASK); the return
// restores it, and the single-step trap comes after the `nop` at tf_after_syscall.
core::arch::global_asm!(
    ".globl tf_syscall_run",
    "tf_syscall_run:",
    "pushfq",
    "orq ${tf}, (%rsp)",
    "movl ${getpid}, %eax",
    "popfq",
    "syscall",
    ".globl tf_after_syscall",
    "tf_after_syscall:",
    "nop",
    ".globl tf_after_nop",
    "tf_after_nop:",
    "nop",
    "ret",
    tf = const rflags::TF,
    getpid = const nr::GETPID,
    options(att_syntax)
);

unsafe extern "C" {
    /// Clobbers only RAX, RCX and R11 (caller-saved) and RFLAGS.
    fn tf_syscall_run();
    fn tf_after_syscall();
    fn tf_after_nop();
}

fn tf_across_syscall(t: &mut Ktap) {
    let installed = kentry_user::signal::install(SIGTRAP, on_sigtrap, 0) == 0;
    // SAFETY: the routine only makes a getpid syscall with TF set; the SIGTRAP handler clears
    // TF again. Single-threaded: TRAPS is read after the run.
    let (n, rip) = unsafe {
        tf_syscall_run();
        TRAPS
    };
    let want = tf_after_nop as *const () as u64;
    let pass = installed && n == 1 && rip == want;
    if !pass {
        diag!(
            "{n} SIGTRAP(s), the first at {rip:#x}; want 1 at {want:#x} (after the nop; {:#x} is before it)",
            tf_after_syscall as *const () as u64
        );
    }
    t.result(pass, "tf_across_syscall");
}

fn main(_args: kentry_user::rt::Args) -> i32 {
    let mut t = Ktap::new(7);
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
    df_uname_copy(&mut t);
    tf_across_syscall(&mut t);
    t.finish()
}

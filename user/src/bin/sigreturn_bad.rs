//! Hostile rt_sigreturn frames (E14, E33, E34): a SIGUSR1 handler edits its own saved context
//! — a null CS, an SS that is an LDT selector or a code segment, a non-canonical RIP, the
//! never-mapped top page as RIP, RIP = RCX = 2^n with R11 = RFLAGS (a frame SYSRET could restore
//! but for its non-canonical RIP, E01), forbidden RFLAGS bits — and returns. The kernel must never
//! fault on such a frame: a bad CS/SS/RIP must come back as SIGSEGV for this process (the
//! IRET to user faults, and kentry turns that into the task's own #GP), and IOPL/NT must be
//! dropped. A SIGSEGV handler records what it saw and resumes at a recovery point.
//!
//! Three frames test SYSRET's other conditions (E02): each keeps RCX = RIP (and, but for the
//! first, R11 = RFLAGS), so only that condition stands between it and a SYSRET that would
//! return the wrong state: R11 unlike RFLAGS (TF and arithmetic flags in R11 only), a 32-bit
//! CS (the code must run in compat mode), a code segment as SS (the IRET must fault).
//!
//! `sigreturn_bad once` runs each bad frame once instead of 50 times (the verify workload).
//!
//! Syscalls: rt_sigaction (13), rt_sigreturn (15), getpid, kill (62), write, exit_group.

#![no_std]
#![no_main]

use kentry_user::ktap::Ktap;
use kentry_user::sys::{self, nr};

kentry_user::entry!(main);

const SIGUSR1: usize = 10;
const SIGSEGV: usize = 11;
const SIGTRAP: usize = 5;

// ucontext offsets (linux-abi.md §6.1): sigcontext at 40.
const SC: usize = 40;
const SC_R11: usize = SC + 24;
const SC_RCX: usize = SC + 112;
const SC_RSP: usize = SC + 120;
const SC_RIP: usize = SC + 128;
const SC_EFLAGS: usize = SC + 136;
const SC_CS: usize = SC + 144;
const SC_SS: usize = SC + 150;
const SC_ERR: usize = SC + 152;
const SC_TRAPNO: usize = SC + 160;
const SC_CR2: usize = SC + 176;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    NullCs,
    LdtSs,
    CodeSs,
    NonCanonicalRip,
    TopPageRip,
    /// RIP = RCX = SYSRET_RIP and R11 = RFLAGS: a frame SYSRET could restore but for its RIP
    /// (E01, Linux's sysret_rip).
    SysretRip,
    /// R11 = RFLAGS | TF | CF | ZF | SF | OF, RFLAGS without them, RCX = RIP: SYSRET would load
    /// R11's flags, IRET restores RFLAGS.
    SysretR11,
    /// CS = the 32-bit user CS, RIP = RCX = `compat_probe` (R11 = RFLAGS): the code must run
    /// in compat mode, which only IRET gives it.
    SysretCsCompat,
    Flags,
}

const TF: u64 = 0x100;
/// CF, ZF, SF and OF: arithmetic flags a user may set, which SYSRET would take from R11.
const ARITH: u64 = 0x1 | 0x40 | 0x80 | 0x800;
const USER32_CS: u16 = 0x23;

static mut SYSRET_RIP: u64 = 0;

static mut MODE: Mode = Mode::Flags;
static mut RECOVER_RSP: u64 = 0;
static mut PID: u64 = 0;
/// (count, trapno, err, cr2, rip) seen by the SIGSEGV handler.
static mut SEGV: (u32, u64, u64, u64, u64) = (0, 0, 0, 0, 0);
/// The CS of the last SIGSEGV's context.
static mut SEGV_CS: u16 = 0;
const COMPAT_STACK_SIZE: usize = 8192;
/// The stack the compat-mode probe runs on (in the program's image, below 4 GiB; `u128` for
/// the 16-byte alignment of a stack top).
static mut COMPAT_STACK: [u128; COMPAT_STACK_SIZE / 16] = [0; COMPAT_STACK_SIZE / 16];
/// SIGTRAPs seen (a TF that reached user mode).
static mut TRAPS: u32 = 0;

unsafe fn rd(p: *const u8, off: usize) -> u64 {
    // SAFETY: the caller passes a ucontext the kernel built.
    unsafe { core::ptr::read_unaligned(p.add(off) as *const u64) }
}

unsafe fn wr(p: *mut u8, off: usize, v: u64) {
    // SAFETY: as in `rd`.
    unsafe { core::ptr::write_unaligned(p.add(off) as *mut u64, v) }
}

unsafe fn wr16(p: *mut u8, off: usize, v: u16) {
    // SAFETY: as in `rd`.
    unsafe { core::ptr::write_unaligned(p.add(off) as *mut u16, v) }
}

extern "C" fn usr1(_sig: i32, _info: *const u8, uc: *mut u8) {
    // SAFETY: a kernel-built ucontext; single-threaded program.
    unsafe {
        match MODE {
            Mode::NullCs => wr16(uc, SC_CS, 0),
            Mode::LdtSs => wr16(uc, SC_SS, 0x47),
            Mode::CodeSs => wr16(uc, SC_SS, 0x33),
            Mode::NonCanonicalRip => wr(uc, SC_RIP, 0x8000_0000_0000_0000),
            Mode::TopPageRip => wr(uc, SC_RIP, 0x7fff_ffff_f000),
            Mode::SysretRip => {
                wr(uc, SC_RIP, SYSRET_RIP);
                wr(uc, SC_RCX, SYSRET_RIP);
                wr(uc, SC_R11, rd(uc, SC_EFLAGS));
            }
            Mode::SysretR11 => {
                let flags = rd(uc, SC_EFLAGS) & !(TF | ARITH);
                wr(uc, SC_EFLAGS, flags);
                wr(uc, SC_R11, flags | TF | ARITH);
                wr(uc, SC_RCX, rd(uc, SC_RIP));
            }
            Mode::SysretCsCompat => {
                let probe = compat_probe as *const () as u64;
                wr(uc, SC_RIP, probe);
                wr(uc, SC_RCX, probe);
                wr(uc, SC_R11, rd(uc, SC_EFLAGS));
                wr16(uc, SC_CS, USER32_CS);
                // Compat mode keeps only ESP: a stack below 4 GiB for the SIGSEGV's frame.
                wr(
                    uc,
                    SC_RSP,
                    (&raw const COMPAT_STACK) as u64 + COMPAT_STACK_SIZE as u64,
                );
            }
            // IOPL 3, NT, and IF cleared: none of it may reach user mode.
            Mode::Flags => wr(
                uc,
                SC_EFLAGS,
                (rd(uc, SC_EFLAGS) | 0x3000 | 0x4000) & !0x200,
            ),
        }
    }
}

extern "C" fn segv(_sig: i32, _info: *const u8, uc: *mut u8) {
    // SAFETY: a kernel-built ucontext; single-threaded program.
    unsafe {
        let (n, ..) = SEGV;
        SEGV_CS = rd(uc, SC_CS) as u16;
        SEGV = (
            n + 1,
            rd(uc, SC_TRAPNO),
            rd(uc, SC_ERR),
            rd(uc, SC_CR2),
            rd(uc, SC_RIP),
        );
        // Resume at the recovery point with a sane context.
        wr(uc, SC_RIP, bad_frame_recover as *const () as u64);
        wr(uc, SC_RSP, RECOVER_RSP);
        wr16(uc, SC_CS, 0x33);
        wr16(uc, SC_SS, 0x2b);
        wr(uc, SC_EFLAGS, 0x202);
    }
}

extern "C" fn trap(_sig: i32, _info: *const u8, uc: *mut u8) {
    // SAFETY: a kernel-built ucontext; single-threaded program.
    unsafe {
        TRAPS += 1;
        // TF off in RFLAGS and in R11 as well: a SYSRET that took its flags from R11 would
        // otherwise trap again at once, for ever.
        wr(uc, SC_EFLAGS, rd(uc, SC_EFLAGS) & !TF);
        wr(uc, SC_R11, rd(uc, SC_R11) & !TF);
    }
}

// The target of the compat-mode frame: `hlt` (the same byte in both modes) raises #GP in ring
// 3, and the SIGSEGV's context tells which mode it ran in. Below 4 GiB, as 32-bit code needs.
core::arch::global_asm!(
    ".globl compat_probe",
    "compat_probe:",
    "hlt",
    "ud2",
    options(att_syntax)
);

// kill(getpid(), SIGUSR1) with callee-saved registers preserved and RSP parked for the
// SIGSEGV handler; returns RFLAGS as seen after the SIGUSR1 handler returned (or after the
// recovery).
core::arch::global_asm!(
    ".globl bad_frame_run",
    "bad_frame_run:",
    "pushq %rbx",
    "pushq %rbp",
    "pushq %r12",
    "pushq %r13",
    "pushq %r14",
    "pushq %r15",
    "movq %rsp, {rsp}(%rip)",
    "movl ${kill}, %eax",
    "movq {pid}(%rip), %rdi",
    "movl ${usr1}, %esi",
    "syscall",
    ".globl bad_frame_recover",
    "bad_frame_recover:",
    "movq {rsp}(%rip), %rsp",
    "pushfq",
    "popq %rax",
    "popq %r15",
    "popq %r14",
    "popq %r13",
    "popq %r12",
    "popq %rbp",
    "popq %rbx",
    "ret",
    rsp = sym RECOVER_RSP,
    pid = sym PID,
    kill = const nr::KILL,
    usr1 = const SIGUSR1,
    options(att_syntax)
);

unsafe extern "C" {
    fn bad_frame_run() -> u64;
    fn bad_frame_recover();
    fn compat_probe();
}

fn install(sig: usize, handler: kentry_user::signal::Handler) -> isize {
    kentry_user::signal::install(sig, handler, kentry_user::signal::SA_NODEFER)
}

/// Runs one hostile frame; returns (SIGSEGVs seen, trapno, err, cr2, rip, flags after).
fn run(mode: Mode) -> (u32, u64, u64, u64, u64, u64) {
    // SAFETY: single-threaded; statics are set before and read after the run.
    unsafe {
        MODE = mode;
        let before = SEGV.0;
        let flags = bad_frame_run();
        let (n, trapno, err, cr2, rip) = SEGV;
        (n - before, trapno, err, cr2, rip, flags)
    }
}

/// sigreturn to RIP = RCX = 2^n (n = 47…63) with R11 = RFLAGS: SIGSEGV (#GP) at exactly that
/// RIP each time. The kernel must leave such a syscall by IRET (the e01 self-test counts how
/// these exits left).
fn sysret_rip_cases(t: &mut Ktap) {
    let mut ok = true;
    for n in 47..64 {
        let want = 1u64 << n;
        // SAFETY: single-threaded; read by the SIGUSR1 handler during the run.
        unsafe { SYSRET_RIP = want };
        let (segvs, tr, _, _, rip, _) = run(Mode::SysretRip);
        if segvs != 1 || tr != 13 || rip != want {
            kentry_user::diag!(
                "sysret_rip 2^{n}: {segvs} SIGSEGV, trapno {tr}, rip {rip:#x} (want {want:#x})"
            );
            ok = false;
        }
    }
    t.result(ok, "sysret_rip_noncanonical_sigsegv");
}

/// SYSRET's conditions other than the RIP (E02), one frame each: see the module comment.
fn sysret_condition_cases(t: &mut Ktap) {
    // SAFETY: single-threaded; the handlers write these only during a run.
    let traps_before = unsafe { TRAPS };
    let (n, .., flags) = run(Mode::SysretR11);
    // SAFETY: as above.
    let traps = unsafe { TRAPS } - traps_before;
    let ok = n == 0 && traps == 0 && flags & (TF | ARITH) == 0;
    if !ok {
        kentry_user::diag!(
            "sysret_r11_differs: flags after {flags:#x} (want none of {:#x}), {traps} SIGTRAP, {n} SIGSEGV",
            TF | ARITH
        );
    }
    t.result(ok, "sysret_r11_differs");
    let (n, tr, _, _, rip, _) = run(Mode::SysretCsCompat);
    // SAFETY: as above.
    let cs = unsafe { SEGV_CS };
    let want = compat_probe as *const () as u64;
    let ok = n == 1 && tr == 13 && rip == want && cs == USER32_CS;
    if !ok {
        kentry_user::diag!(
            "sysret_cs_compat: {n} SIGSEGV, trapno {tr}, rip {rip:#x} (want {want:#x}), CS {cs:#x} (want {USER32_CS:#x})"
        );
    }
    t.result(ok, "sysret_cs_compat");
}

fn main(args: kentry_user::rt::Args) -> i32 {
    // `sysret_rip`: that case alone (for the kernel's e01 self-test).
    let only_sysret_rip = args.get_str(1) == Some("sysret_rip");
    // `once`: one round of each bad frame (verify_loop runs it every round of its own).
    let rounds = if args.get_str(1) == Some("once") {
        1
    } else {
        50
    };
    let mut t = Ktap::new(if only_sysret_rip { 2 } else { 10 });
    // SAFETY: set once before any signal.
    unsafe { PID = sys::getpid() as u64 };
    t.result(
        install(SIGUSR1, usr1) == 0 && install(SIGSEGV, segv) == 0 && install(SIGTRAP, trap) == 0,
        "handlers_installed",
    );
    if only_sysret_rip {
        sysret_rip_cases(&mut t);
        return t.finish();
    }
    let segv_cases = [
        (Mode::NullCs, "null_cs_sigsegv", 13),
        (Mode::LdtSs, "ldt_ss_sigsegv", 13),
        (Mode::CodeSs, "code_ss_sigsegv", 13),
        (Mode::NonCanonicalRip, "noncanonical_rip_sigsegv", 13),
        (Mode::TopPageRip, "top_page_rip_sigsegv", 14),
    ];
    for (mode, name, trapno) in segv_cases {
        // Many rounds: the kernel must survive every one of them the same way.
        let mut ok = true;
        for _ in 0..rounds {
            let (n, tr, err, cr2, rip, _) = run(mode);
            if n != 1
                || tr != trapno
                || (mode == Mode::TopPageRip && (cr2 != 0x7fff_ffff_f000 || err & 0x14 != 0x14))
            {
                kentry_user::diag!(
                    "{name}: {n} SIGSEGV, trapno {tr}, err {err:#x}, cr2 {cr2:#x}, rip {rip:#x}"
                );
                ok = false;
                break;
            }
        }
        t.result(ok, name);
    }
    sysret_rip_cases(&mut t);
    sysret_condition_cases(&mut t);
    let (n, .., flags) = run(Mode::Flags);
    if n != 0 || flags & 0x7000 != 0 || flags & 0x200 == 0 {
        kentry_user::diag!("flags after sigreturn {flags:#x}, {n} SIGSEGV");
    }
    t.result(
        n == 0 && flags & 0x7000 == 0 && flags & 0x200 != 0,
        "sigreturn_drops_iopl_nt_keeps_if",
    );
    t.finish()
}

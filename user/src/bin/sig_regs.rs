//! Exceptions in ring 3 with a signal handler: each one is delivered as Linux delivers it
//! (signal, si_code, si_addr, trapno, err in the frame), the handler steps over the faulting
//! instruction by editing the saved RIP, and after rt_sigreturn every general register holds
//! exactly what it held before the fault (issue 3 §5; E27, E33, E36).
//!
//! Each case loads 15 GPRs with patterns, executes one faulting instruction, and stores the
//! registers right after it. The handler records what it saw and returns through a restorer
//! that calls rt_sigreturn.
//!
//! Syscalls: rt_sigaction (13), rt_sigreturn (15), write, exit_group.

#![no_std]
#![no_main]

use kentry_user::ktap::Ktap;

kentry_user::entry!(main);

const SIGILL: i32 = 4;
const SIGTRAP: i32 = 5;
const SIGBUS: i32 = 7;
const SIGFPE: i32 = 8;
const SIGSEGV: i32 = 11;
const SI_KERNEL: i32 = 0x80;

// Offsets into ucontext (linux-abi.md §6.1): the sigcontext starts at 40.
const UC_RIP: usize = 40 + 128;
const UC_EFLAGS: usize = 40 + 136;
const UC_ERR: usize = 40 + 152;
const UC_TRAPNO: usize = 40 + 160;

static mut PATTERNS: [u64; 15] = [0; 15];
static mut GOT: [u64; 16] = [0; 16];
static mut SAVED_RSP: u64 = 0;
static mut FLAGS_AFTER: u64 = 0;
static ZERO: u64 = 0;
/// An 8-aligned buffer: `AC_BUF + 1` is a misaligned address for the #AC case (only the asm
/// reads it).
#[repr(align(8))]
struct Aligned(#[allow(dead_code)] [u8; 16]);
static AC_BUF: Aligned = Aligned([0; 16]);

/// What the handler saw.
#[derive(Clone, Copy, Default)]
struct Seen {
    count: u32,
    signo: i32,
    code: i32,
    addr: u64,
    rip: u64,
    trapno: u64,
    err: u64,
}

static mut SEEN: Seen = Seen {
    count: 0,
    signo: 0,
    code: 0,
    addr: 0,
    rip: 0,
    trapno: 0,
    err: 0,
};
/// Bytes the handler adds to the saved RIP (to step over the faulting instruction).
static mut SKIP: u64 = 0;

extern "C" fn handler(sig: i32, info: *const u8, uc: *mut u8) {
    // SAFETY: the kernel passes a valid siginfo and ucontext; this program is single-threaded
    // and the statics are only touched here and between cases.
    unsafe {
        let rd = |p: *const u8, off: usize| core::ptr::read_unaligned(p.add(off) as *const u64);
        let mut s = SEEN;
        s.count += 1;
        s.signo = sig;
        s.code = core::ptr::read_unaligned(info.add(8) as *const i32);
        s.addr = rd(info, 16);
        s.rip = rd(uc, UC_RIP);
        s.trapno = rd(uc, UC_TRAPNO);
        s.err = rd(uc, UC_ERR);
        SEEN = s;
        core::ptr::write_unaligned(uc.add(UC_RIP) as *mut u64, s.rip + SKIP);
        // Stop single-stepping (the TF case) when the handler returns.
        let fl = rd(uc, UC_EFLAGS) & !0x100;
        core::ptr::write_unaligned(uc.add(UC_EFLAGS) as *mut u64, fl);
    }
}

// One case: save the callee-saved registers and RSP, load the 15 patterns, run the faulting
// instruction(s) at `sig_fault_<name>`, store every register, restore. The handler steps over
// the fault by editing the saved RIP.
core::arch::global_asm!(
    ".macro SIG_CASE name, insn:vararg",
    ".globl sig_case_\\name",
    "sig_case_\\name:",
    "pushq %rbx",
    "pushq %rbp",
    "pushq %r12",
    "pushq %r13",
    "pushq %r14",
    "pushq %r15",
    "movq %rsp, {s}(%rip)",
    "movq {p}+0(%rip), %rax",
    "movq {p}+8(%rip), %rbx",
    "movq {p}+16(%rip), %rcx",
    "movq {p}+24(%rip), %rdx",
    "movq {p}+32(%rip), %rsi",
    "movq {p}+40(%rip), %rdi",
    "movq {p}+48(%rip), %rbp",
    "movq {p}+56(%rip), %r8",
    "movq {p}+64(%rip), %r9",
    "movq {p}+72(%rip), %r10",
    "movq {p}+80(%rip), %r11",
    "movq {p}+88(%rip), %r12",
    "movq {p}+96(%rip), %r13",
    "movq {p}+104(%rip), %r14",
    "movq {p}+112(%rip), %r15",
    ".globl sig_fault_\\name",
    "sig_fault_\\name:",
    "\\insn",
    "movq %rax, {g}+0(%rip)",
    "movq %rbx, {g}+8(%rip)",
    "movq %rcx, {g}+16(%rip)",
    "movq %rdx, {g}+24(%rip)",
    "movq %rsi, {g}+32(%rip)",
    "movq %rdi, {g}+40(%rip)",
    "movq %rbp, {g}+48(%rip)",
    "movq %r8, {g}+56(%rip)",
    "movq %r9, {g}+64(%rip)",
    "movq %r10, {g}+72(%rip)",
    "movq %r11, {g}+80(%rip)",
    "movq %r12, {g}+88(%rip)",
    "movq %r13, {g}+96(%rip)",
    "movq %r14, {g}+104(%rip)",
    "movq %r15, {g}+112(%rip)",
    "movq %rsp, {g}+120(%rip)",
    "pushfq",
    "popq {f}(%rip)",
    "movq {s}(%rip), %rsp",
    "popq %r15",
    "popq %r14",
    "popq %r13",
    "popq %r12",
    "popq %rbp",
    "popq %rbx",
    "ret",
    ".endm",
    "SIG_CASE ud2, ud2",
    "SIG_CASE int3, int3",
    "SIG_CASE hlt, hlt",
    "SIG_CASE div0, divq {z}(%rip)",
    "SIG_CASE pf_write, movq %rax, 0x0",
    "SIG_CASE int81, int $0x81",
    "SIG_CASE int4, int $4",
    // Set TF; the trap comes after the nop.
    ".macro TF_SEQ",
    "pushfq",
    "orq $0x100, (%rsp)",
    "popfq",
    "nop",
    ".endm",
    // Set AC, load from a misaligned address, clear AC.
    ".macro AC_SEQ",
    "pushfq",
    "orq $0x40000, (%rsp)",
    "popfq",
    "movl {m}+1(%rip), %eax",
    "pushfq",
    "andq $~0x40000, (%rsp)",
    "popfq",
    ".endm",
    "SIG_CASE tf, TF_SEQ",
    "SIG_CASE ac, AC_SEQ",
    p = sym PATTERNS,
    g = sym GOT,
    s = sym SAVED_RSP,
    f = sym FLAGS_AFTER,
    z = sym ZERO,
    m = sym AC_BUF,
    options(att_syntax)
);

unsafe extern "C" {
    fn sig_case_ud2();
    static sig_fault_ud2: u8;
    fn sig_case_int3();
    static sig_fault_int3: u8;
    fn sig_case_hlt();
    static sig_fault_hlt: u8;
    fn sig_case_div0();
    static sig_fault_div0: u8;
    fn sig_case_pf_write();
    static sig_fault_pf_write: u8;
    fn sig_case_int81();
    static sig_fault_int81: u8;
    fn sig_case_int4();
    static sig_fault_int4: u8;
    fn sig_case_tf();
    static sig_fault_tf: u8;
    fn sig_case_ac();
    static sig_fault_ac: u8;
}

fn install(sig: i32) -> isize {
    kentry_user::signal::install(sig as usize, handler, kentry_user::signal::SA_NODEFER)
}

struct Case {
    name: &'static str,
    run: unsafe extern "C" fn(),
    fault_at: u64,
    skip: u64,
    signo: i32,
    code: Option<i32>,
    /// si_addr: Some(None) = the faulting RIP; Some(Some(a)) = a.
    addr: Option<Option<u64>>,
    trapno: u64,
    err: Option<u64>,
    /// The RIP the frame must hold, relative to the faulting instruction.
    rip_delta: u64,
}

const REG_NAMES: [&str; 15] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15",
];

fn addr_of(label: &u8) -> u64 {
    label as *const u8 as u64
}

/// Runs one case: patterns in, fault, handler, registers out. Returns whether it passed, or
/// None when no signal came (the CPU did not raise the exception: a SKIP).
fn run(t: &mut Ktap, c: &Case, round: u64) -> Option<bool> {
    // SAFETY: single-threaded; the statics are set before the case and read after it.
    unsafe {
        let pats = core::ptr::addr_of_mut!(PATTERNS);
        for (i, p) in (*pats).iter_mut().enumerate() {
            *p = 0x1111_1111_1111_1111u64.wrapping_mul(i as u64 + 1)
                ^ (round << 56)
                ^ 0x0000_5a5a_0000_0000;
        }
        SKIP = c.skip;
        let before = SEEN.count;
        (c.run)();
        let seen = SEEN;
        if seen.count == before {
            return None;
        }
        let mut ok = seen.count == before + 1;
        if seen.signo != c.signo {
            kentry_user::diag!("{}: signal {} (want {})", c.name, seen.signo, c.signo);
            ok = false;
        }
        if let Some(code) = c.code
            && seen.code != code
        {
            kentry_user::diag!("{}: si_code {:#x} (want {:#x})", c.name, seen.code, code);
            ok = false;
        }
        if let Some(want) = c.addr {
            let want = want.unwrap_or(c.fault_at);
            if seen.addr != want {
                kentry_user::diag!("{}: si_addr {:#x} (want {:#x})", c.name, seen.addr, want);
                ok = false;
            }
        }
        if seen.trapno != c.trapno {
            kentry_user::diag!("{}: trapno {} (want {})", c.name, seen.trapno, c.trapno);
            ok = false;
        }
        if let Some(err) = c.err
            && seen.err != err
        {
            kentry_user::diag!("{}: err {:#x} (want {:#x})", c.name, seen.err, err);
            ok = false;
        }
        if c.rip_delta != u64::MAX && seen.rip != c.fault_at + c.rip_delta {
            kentry_user::diag!(
                "{}: frame rip {:#x} (want {:#x})",
                c.name,
                seen.rip,
                c.fault_at + c.rip_delta
            );
            ok = false;
        }
        let got = *core::ptr::addr_of!(GOT);
        for i in 0..15 {
            if got[i] != (*pats)[i] {
                kentry_user::diag!(
                    "{}: {} = {:#x} after the handler (want {:#x})",
                    c.name,
                    REG_NAMES[i],
                    got[i],
                    (*pats)[i]
                );
                ok = false;
            }
        }
        let saved_rsp = SAVED_RSP;
        let flags_after = FLAGS_AFTER;
        if got[15] != saved_rsp {
            kentry_user::diag!(
                "{}: rsp {:#x} after the handler (want {:#x})",
                c.name,
                got[15],
                saved_rsp
            );
            ok = false;
        }
        if flags_after & 0x500 != 0 {
            kentry_user::diag!(
                "{}: TF/DF still set after the handler: {:#x}",
                c.name,
                flags_after
            );
            ok = false;
        }
        let _ = t;
        Some(ok)
    }
}

fn main(_args: kentry_user::rt::Args) -> i32 {
    // SAFETY: taking the addresses of asm labels.
    let at = unsafe {
        [
            addr_of(&sig_fault_ud2),
            addr_of(&sig_fault_int3),
            addr_of(&sig_fault_hlt),
            addr_of(&sig_fault_div0),
            addr_of(&sig_fault_pf_write),
            addr_of(&sig_fault_int81),
            addr_of(&sig_fault_int4),
            addr_of(&sig_fault_tf),
            addr_of(&sig_fault_ac),
        ]
    };
    let cases = [
        Case {
            name: "ud_sigill",
            run: sig_case_ud2,
            fault_at: at[0],
            skip: 2,
            signo: SIGILL,
            code: Some(2),
            addr: Some(None),
            trapno: 6,
            err: Some(0),
            rip_delta: 0,
        },
        Case {
            name: "bp_sigtrap",
            run: sig_case_int3,
            fault_at: at[1],
            skip: 0,
            signo: SIGTRAP,
            code: Some(SI_KERNEL),
            addr: Some(Some(0)),
            trapno: 3,
            err: Some(0),
            rip_delta: 1,
        },
        Case {
            name: "gp_hlt_sigsegv",
            run: sig_case_hlt,
            fault_at: at[2],
            skip: 1,
            signo: SIGSEGV,
            code: Some(SI_KERNEL),
            addr: Some(Some(0)),
            trapno: 13,
            err: Some(0),
            rip_delta: 0,
        },
        Case {
            name: "de_sigfpe",
            run: sig_case_div0,
            fault_at: at[3],
            skip: 7,
            signo: SIGFPE,
            code: Some(1),
            addr: Some(None),
            trapno: 0,
            err: Some(0),
            rip_delta: 0,
        },
        Case {
            name: "pf_write_null_sigsegv",
            run: sig_case_pf_write,
            fault_at: at[4],
            skip: 8,
            signo: SIGSEGV,
            code: Some(1),
            addr: Some(Some(0)),
            trapno: 14,
            err: Some(6),
            rip_delta: 0,
        },
        // QEMU TCG reports a wrong #GP error code for `int n` through a DPL-0 gate: err is
        // not compared.
        Case {
            name: "gp_int81_sigsegv",
            run: sig_case_int81,
            fault_at: at[5],
            skip: 2,
            signo: SIGSEGV,
            code: Some(SI_KERNEL),
            addr: Some(Some(0)),
            trapno: 13,
            err: None,
            rip_delta: 0,
        },
        Case {
            name: "of_int4_sigsegv",
            run: sig_case_int4,
            fault_at: at[6],
            skip: 0,
            signo: SIGSEGV,
            code: Some(SI_KERNEL),
            addr: Some(Some(0)),
            trapno: 4,
            err: Some(0),
            rip_delta: 2,
        },
        // pushfq; orq $0x100,(%rsp); popfq; nop — the trap comes after the nop (11 bytes in).
        Case {
            name: "db_tf_sigtrap",
            run: sig_case_tf,
            fault_at: at[7],
            skip: 0,
            signo: SIGTRAP,
            code: Some(2),
            addr: None,
            trapno: 1,
            err: Some(0),
            rip_delta: 11,
        },
        // pushfq; orq $0x40000,(%rsp); popfq (10 bytes), then the misaligned 6-byte load.
        Case {
            name: "ac_sigbus",
            run: sig_case_ac,
            fault_at: at[8] + 10,
            skip: 6,
            signo: SIGBUS,
            code: Some(1),
            addr: Some(Some(0)),
            trapno: 17,
            err: Some(0),
            rip_delta: 0,
        },
    ];
    let mut t = Ktap::new(cases.len() as u32 + 1);
    let mut installed = true;
    for sig in [SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV] {
        installed &= install(sig) == 0;
    }
    t.result(installed, "rt_sigaction_installs_handlers");
    for (round, c) in cases.iter().enumerate() {
        // Several rounds with different patterns: stale values cannot pass.
        let mut verdict = Some(true);
        for r in 0..3 {
            match run(&mut t, c, (round * 3 + r) as u64) {
                Some(ok) => verdict = verdict.map(|v| v && ok),
                None => {
                    verdict = None;
                    break;
                }
            }
        }
        match verdict {
            Some(ok) => {
                t.result(ok, c.name);
            }
            None => t.skip(
                c.name,
                "no exception was raised (QEMU TCG does not emulate #AC)",
            ),
        }
    }
    t.finish()
}

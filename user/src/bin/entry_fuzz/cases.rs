//! One fuzz case: the PRNG, the random state and entry, and the outcome Linux gives it (the
//! expected-signal table of docs/fuzz.md lives in [`expect`]).

use super::child::{self, Gprs};

/// splitmix64: small, fast, and every (seed, cpu, iteration) gets its own independent stream,
/// so one iteration replays without running the ones before it.
pub struct Rng(u64);

impl Rng {
    pub fn for_iteration(seed: u64, cpu: u64, iter: u64) -> Self {
        let mut r = Rng(seed ^ cpu.wrapping_mul(0xa076_1d64_78bd_642f));
        r.0 ^= iter.wrapping_mul(0xe703_7ed1_a0b4_28db);
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGSEGV: i32 = 11;
/// The signals the handler mode catches: every one a ring-3 exception can raise.
pub const CAUGHT_SIGNALS: [i32; 5] = [SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV];

/// RFLAGS bits.
pub mod fl {
    pub const CF: u64 = 1 << 0;
    pub const FIXED1: u64 = 1 << 1;
    pub const PF: u64 = 1 << 2;
    pub const AF: u64 = 1 << 4;
    pub const ZF: u64 = 1 << 6;
    pub const SF: u64 = 1 << 7;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const OF: u64 = 1 << 11;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    pub const VM: u64 = 1 << 17;
    pub const AC: u64 = 1 << 18;
    pub const VIF: u64 = 1 << 19;
    pub const VIP: u64 = 1 << 20;
    pub const ID: u64 = 1 << 21;
    /// What IRETQ to CPL 3 (IOPL 0) takes from its frame: everything but IF, IOPL, VM, VIF
    /// and VIP (the last two only at CPL 0).
    pub const IRET_LOADS: u64 = CF | PF | AF | ZF | SF | TF | DF | OF | NT | RF | AC | ID;
    /// The bits compared after an entry: SYSRET's own mask (0x3c7fd7), which is every bit but
    /// RF (PUSHFQ reads it as 0) and VM. IF must read 1 and IOPL 0.
    pub const CHECKED: u64 = 0x3c_7fd7;
    /// Linux's FIX_EFLAGS: what rt_sigreturn takes from the frame.
    pub const SIGRETURN_FIX: u64 = AC | OF | DF | TF | SF | ZF | AF | PF | CF | RF;
}

/// The GDT selectors of Linux's (and kentry's) x86-64 GDT.
pub const USER_DS: u64 = 0x2b;
pub const USER_CS: u64 = 0x33;
pub const USER32_CS: u64 = 0x23;
/// Selectors a data segment register may hold at CPL 3: null, USER_DS, and the two user code
/// segments (readable, DPL 3).
const GOOD_DATA_SELECTORS: [u64; 4] = [0, USER_DS, USER_CS, USER32_CS];
/// Selectors whose load faults (#GP): kernel segments (DPL 0), an LDT selector (no LDT), one
/// past any GDT. Every one is #GP on Linux and on kentry alike.
const BAD_DATA_SELECTORS: [u64; 5] = [0x0b, 0x13, 0x1b, 0x07, 0xfffc];

/// Hostile addresses for RSP and for faulting loads and stores: null, the page above it, the
/// never-mapped top user page, the first non-canonical address, a non-canonical pattern, the
/// start of the kernel half, the kernel image, the last page.
pub const HOSTILE_ADDRS: [u64; 8] = [
    0,
    0x1000,
    0x7fff_ffff_f000,
    0x0000_8000_0000_0000,
    0xdead_beef_dead_beef,
    0xffff_8000_0000_0000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_ffff_f000,
];

fn canonical(a: u64) -> bool {
    let top = (a as i64) >> 47;
    top == 0 || top == -1
}

/// The kinds of entry, in the order of the counts printed at the end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Syscall,
    Int80,
    Int3,
    Into,
    IntN,
    Ud2,
    Load,
    Store,
    Sigreturn,
}

pub const KINDS: [Kind; 9] = [
    Kind::Syscall,
    Kind::Int80,
    Kind::Int3,
    Kind::Into,
    Kind::IntN,
    Kind::Ud2,
    Kind::Load,
    Kind::Store,
    Kind::Sigreturn,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Syscall => "syscall",
            Kind::Int80 => "int80",
            Kind::Int3 => "int3",
            Kind::Into => "into",
            Kind::IntN => "int_n",
            Kind::Ud2 => "ud2",
            Kind::Load => "load",
            Kind::Store => "store",
            Kind::Sigreturn => "sigreturn",
        }
    }
}

/// How a child must end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// The entry returned to the next instruction and the child's own checks passed (exit 0).
    Returns,
    /// `exit`/`exit_group` with this status.
    Exits(i32),
    /// The handler caught this signal and the frame's registers were right (exit 64 + sig).
    Caught(i32),
    /// Killed by this signal.
    Killed(i32),
    /// Anything but a hang or a failed check (a syscall whose random arguments may unmap or
    /// protect the child's own memory, or a return into compat mode).
    Any,
}

/// Where the first fault of a case happens (which tells what the frame must hold).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    /// A segment register load (index 0..4: DS, ES, FS, GS).
    SegLoad(usize),
    /// WRFSBASE (0) or WRGSBASE (1) with a non-canonical base.
    WrBase(usize),
    /// The IRETQ that loads RSP, RFLAGS and SS (a bad SS).
    Iret,
    /// The entry instruction itself or what follows it.
    Entry,
}

/// Everything the child needs and everything the parent checks.
#[derive(Clone, Copy)]
pub struct Case {
    /// RSP, RFLAGS and SS come by IRETQ (else by MOV SS, POPFQ, MOV RSP: [`Env::use_iret`]).
    pub use_iret: bool,
    /// The run's seed, the worker's CPU and the iteration: what replays the case.
    pub seed: u64,
    pub cpu: u64,
    pub iter: u64,
    /// Seeds the scratch bytes that pointer arguments point into.
    pub scratch_seed: u64,
    pub kind: Kind,
    /// The gadget slot the IRETQ lands on.
    pub slot: usize,
    /// Registers loaded before the entry (rsp, rflags: the IRETQ frame's).
    pub set: Gprs,
    pub ss: u64,
    pub sel: [u64; 4],
    /// Set the bases with WRFSBASE/WRGSBASE (else arch_prctl, before the selector loads).
    pub use_wrbase: bool,
    pub fsbase: u64,
    pub gsbase: u64,
    /// Handler mode: a handler for every exception signal (else the default action kills).
    pub handler: bool,
    pub altstack: bool,
    /// Index into HOSTILE_ADDRS for RSP, or None for a valid stack.
    pub hostile_rsp: Option<usize>,
    /// The sigreturn frame (Kind::Sigreturn): registers, rip, cs, ss, uc_flags, fpstate.
    pub frame: Gprs,
    pub frame_rip: u64,
    pub frame_cs: u64,
    pub frame_ss: u64,
    pub frame_uc_flags: u64,
    pub frame_fpstate: u64,
    pub stage: Stage,
    pub outcome: Outcome,
    /// What the checks compare (after the entry, or in the handler's frame).
    pub expect: Gprs,
    /// Bit i: compare register i of [`Gprs`] (0..15 GPRs, 15 rsp, 16 rflags under fl::CHECKED).
    pub care: u32,
    /// The RIP the handler's frame must show (Stage::Entry; 0 = not checked).
    pub expect_rip: u64,
}

pub const CARE_ALL: u32 = (1 << 17) - 1;
const CARE_GPRS: u32 = (1 << 15) - 1;

/// Syscall numbers never made with random arguments, because their effect reaches outside the
/// child or ends the experiment rather than the child:
/// - kill 62, tkill 200, tgkill 234, rt_sigqueueinfo 129, rt_tgsigqueueinfo 297,
///   pidfd_send_signal 424: a random pid (0, -1, 1, small numbers) names the worker, the
///   fuzzer's parent or every process;
/// - fork 57, vfork 58, clone 56, clone3 435: a grandchild would run on from the fork point
///   with the case's state, unaccounted (CLONE_VM with a random stack: a thread in the
///   child's memory);
/// - execve 59, execveat 322: would replace the child by another program;
/// - reboot 169: powers the machine off;
/// - rt_sigreturn 15: its own entry kind, with frames built to be checked;
/// - ptrace 101, process_vm_writev 311, prlimit64 302, sched_setaffinity 203, setpriority
///   141: can stop, write into, limit or move the worker or the parent;
/// - alarm 37, setitimer 38: deliver a signal later, at a time that is no entry's outcome;
/// - pause 34, rt_sigsuspend 130: wait for a signal that never comes (each would cost the
///   whole child timeout).
///
/// exit 60 and exit_group 231 are fine (the child ends with the status it gave), and so is
/// mmap over the fuzzer's own code: that is the child's own affair ([`LAX_SYSCALLS`]).
const DENIED_SYSCALLS: [u32; 24] = [
    62, 200, 234, 129, 297, 424, 57, 58, 56, 435, 59, 322, 169, 15, 101, 311, 302, 203, 141, 37,
    38, 34, 130, 317,
];

/// Syscalls whose random arguments can unmap, protect or remap the child's own code, data or
/// stack, change its FS/GS base, limits or seccomp state: after them the child may die of any
/// signal, so only "no hang, no failed check" is required (mmap 9, mprotect 10, munmap 11,
/// brk 12, mremap 25, madvise 28, shmdt 67, prctl 157, arch_prctl 158, setrlimit 160,
/// personality 135, remap_file_pages 216, pkey_mprotect 329, rseq 334).
const LAX_SYSCALLS: [u32; 14] = [9, 10, 11, 12, 25, 28, 67, 157, 158, 160, 135, 216, 329, 334];

/// Natively on this host only harmless numbers are made (`--safe`): the host is not disposable.
const SAFE_SYSCALLS: [u64; 9] = [39, 186, 110, 24, 102, 63, 228, 60, 231];

const X32_BIT: u32 = 0x4000_0000;

/// A random syscall number: mostly in the table, some past it, some with high bits set (Linux
/// and kentry both take the low 32 bits as the number, E31).
fn syscall_number(r: &mut Rng, safe: bool) -> u64 {
    loop {
        let nr = if safe {
            if r.chance(1, 4) {
                1000 + r.below(1 << 20)
            } else {
                r.pick(&SAFE_SYSCALLS)
            }
        } else {
            match r.below(10) {
                0 => 460 + r.below(600),
                1 => {
                    let high =
                        r.pick(&[1u64 << 32, 1 << 63, 0xffff_ffff_0000_0000, X32_BIT as u64]);
                    high | r.below(460)
                }
                _ => r.below(460),
            }
        };
        let low = nr as u32;
        if safe {
            return nr;
        }
        let plain = low & !X32_BIT;
        if DENIED_SYSCALLS.contains(&plain) {
            continue;
        }
        // An x32 exit is an exit on a kernel with x32 and ENOSYS on one without: avoid it.
        if low & X32_BIT != 0 && (plain == 60 || plain == 231) {
            continue;
        }
        return nr;
    }
}

fn syscall_arg(r: &mut Rng, scratch: u64) -> u64 {
    match r.below(10) {
        0 => 0,
        1 => u64::MAX,
        2 | 3 => r.below(17),
        4 => scratch + (r.below(4096) & !7),
        5 => r.pick(&HOSTILE_ADDRS),
        6 => 4096 << r.below(8),
        _ => r.next(),
    }
}

fn flags(r: &mut Rng) -> u64 {
    // Each bit ring 3 can set with even odds; TF rarer (it turns most cases into SIGTRAP);
    // and now and then the bits IRETQ at CPL 3 refuses: IF clear, IOPL, VM, VIF, VIP.
    let mut f = r.next() & (fl::IRET_LOADS & !fl::TF);
    if r.chance(1, 8) {
        f |= r.pick(&[fl::VIF, fl::VIP]);
    }
    if r.chance(1, 8) {
        f |= fl::TF;
    }
    f |= fl::FIXED1 | fl::IF;
    if r.chance(1, 8) {
        f &= !fl::IF;
    }
    if r.chance(1, 8) {
        f |= fl::IOPL;
    }
    if r.chance(1, 16) {
        f |= fl::VM;
    }
    f
}

/// What RFLAGS holds after IRETQ to CPL 3 loaded `f` (POPFQ: the same, but RF is cleared).
fn effective_flags(f: u64, use_iret: bool) -> u64 {
    let loads = if use_iret {
        fl::IRET_LOADS
    } else {
        fl::IRET_LOADS & !fl::RF
    };
    (f & loads) | fl::FIXED1 | fl::IF
}

/// What the run found out about the machine, and its mode.
#[derive(Clone, Copy)]
pub struct Env {
    /// Only syscalls harmless on any host (`safe`).
    pub safe: bool,
    /// RDFSBASE and friends work in ring 3.
    pub have_fsgsbase: bool,
    /// A ring-3 IRETQ works (not under QEMU 7.2 TCG with SMAP).
    pub use_iret: bool,
    /// WRGSBASE of a non-canonical base raises #GP (not under QEMU 7.2 TCG).
    pub wrbase_faults: bool,
}

/// Generates iteration `iter` of worker `cpu`.
pub fn generate(seed: u64, cpu: u64, iter: u64, env: &Env) -> Case {
    let (safe, have_fsgsbase) = (env.safe, env.have_fsgsbase);
    let mut r = Rng::for_iteration(seed, cpu, iter);
    let kind = r.pick(&KINDS);
    let mut set = Gprs::default();
    for g in set.g.iter_mut() {
        *g = if r.chance(1, 4) {
            r.pick(&HOSTILE_ADDRS)
        } else {
            r.next()
        };
    }
    set.rflags = flags(&mut r);
    let hostile_rsp = r
        .chance(1, 3)
        .then(|| r.below(HOSTILE_ADDRS.len() as u64) as usize);
    set.rsp = match hostile_rsp {
        Some(i) => HOSTILE_ADDRS[i],
        // A valid stack, at any alignment.
        None => child::valid_stack_top() - r.below(4096),
    };
    let mut sel = [0u64; 4];
    for s in sel.iter_mut() {
        *s = if r.chance(1, 24) {
            r.pick(&BAD_DATA_SELECTORS)
        } else {
            r.pick(&GOOD_DATA_SELECTORS)
        };
    }
    let ss = if r.chance(1, 12) {
        r.pick(&[0u64, USER_CS, USER32_CS, 0x1b, 0x28, 0x2f])
    } else {
        USER_DS
    };
    let base = |r: &mut Rng| match r.below(4) {
        0 => 0,
        1 => r.pick(&HOSTILE_ADDRS),
        2 => r.next() & 0x7fff_ffff_f000,
        _ => child::scratch_addr(),
    };
    let use_wrbase = have_fsgsbase && r.chance(3, 4);
    // QEMU 7.2 TCG's WRFSBASE/WRGSBASE take a non-canonical base without the #GP hardware
    // raises ([`Env::wrbase_faults`], probed): there such a base goes through arch_prctl
    // (which refuses it) only.
    let wr_ok = |b: u64| !use_wrbase || canonical(b) || env.wrbase_faults;
    let fsbase = base(&mut r);
    let fsbase = if wr_ok(fsbase) { fsbase } else { 0 };
    let gsbase = base(&mut r);
    let gsbase = if wr_ok(gsbase) { gsbase } else { 0 };
    let handler = kind != Kind::Sigreturn && r.chance(1, 2);
    let altstack = handler && r.chance(1, 2);

    let mut c = Case {
        use_iret: env.use_iret,
        seed,
        cpu,
        iter,
        scratch_seed: r.next(),
        kind,
        slot: 0,
        set,
        ss,
        sel,
        use_wrbase,
        fsbase,
        gsbase,
        handler,
        altstack,
        hostile_rsp,
        frame: Gprs::default(),
        frame_rip: 0,
        frame_cs: USER_CS,
        frame_ss: USER_DS,
        frame_uc_flags: 0,
        frame_fpstate: 0,
        stage: Stage::Entry,
        outcome: Outcome::Returns,
        expect: set,
        care: CARE_ALL,
        expect_rip: 0,
    };
    match kind {
        Kind::Syscall => {
            c.slot = child::SLOT_SYSCALL;
            c.set.g[child::RAX] = syscall_number(&mut r, safe);
            for reg in [
                child::RDI,
                child::RSI,
                child::RDX,
                child::R10,
                child::R8,
                child::R9,
            ] {
                c.set.g[reg] = syscall_arg(&mut r, child::scratch_addr());
            }
        }
        Kind::Int80 => {
            c.slot = child::slot_int(0x80);
            // i386 numbers that are harmless whatever the arguments: getpid, gettid,
            // sched_yield, and numbers past the table; the high half stays random.
            let past_table = 0x1000 + r.below(1 << 16);
            let low = r.pick(&[20u64, 224, 158, past_table]);
            c.set.g[child::RAX] = (c.set.g[child::RAX] & !0xffff_ffff) | low;
        }
        Kind::Int3 => c.slot = child::SLOT_INT3,
        Kind::Into => c.slot = child::SLOT_INTO,
        Kind::IntN => {
            // Every vector, but 0x80 is its own kind.
            let mut n = r.below(256) as u8;
            if n == 0x80 {
                n = 0x81;
            }
            c.slot = child::slot_int(n);
        }
        Kind::Ud2 => c.slot = child::SLOT_UD2,
        Kind::Load | Kind::Store => {
            c.slot = if kind == Kind::Load {
                child::SLOT_LOAD
            } else {
                child::SLOT_STORE
            };
            c.set.g[child::FAULT_ADDR_REG] = r.pick(&HOSTILE_ADDRS);
        }
        Kind::Sigreturn => {
            c.slot = child::SLOT_SYSCALL;
            c.set.g[child::RAX] = 15;
            c.set.rsp = child::sigframe_addr();
            c.hostile_rsp = None;
            // A TF before the sigreturn itself would trap on the landing instead.
            c.set.rflags &= !fl::TF;
            for g in c.frame.g.iter_mut() {
                *g = if r.chance(1, 4) {
                    r.pick(&HOSTILE_ADDRS)
                } else {
                    r.next()
                };
            }
            c.frame.rsp = if r.chance(1, 3) {
                r.pick(&HOSTILE_ADDRS)
            } else {
                child::valid_stack_top() - r.below(4096)
            };
            c.frame.rflags = r.next() & !(if r.chance(7, 8) { fl::TF } else { 0 });
            c.frame_rip = if r.chance(6, 7) {
                child::landing_addr()
            } else {
                r.pick(&HOSTILE_ADDRS)
            };
            c.frame_cs = if r.chance(6, 7) {
                r.pick(&[USER_CS, 0x30])
            } else {
                r.pick(&[0u64, 0x08, 0x10, USER_DS, 0x1b, USER32_CS])
            };
            c.frame_ss = if r.chance(5, 6) {
                USER_DS
            } else {
                r.pick(&[0u64, USER_CS, 0x1b, 0x10])
            };
            c.frame_uc_flags = if r.chance(1, 4) { 4 | 2 } else { 2 };
            c.frame_fpstate = if r.chance(7, 8) {
                0
            } else {
                r.pick(&HOSTILE_ADDRS[1..])
            };
        }
    }
    c.expect = c.set;
    expect(&mut c);
    c
}

/// The expected-signal table: what Linux does with the case, stage by stage (docs/fuzz.md).
fn expect(c: &mut Case) {
    let eff = effective_flags(c.set.rflags, c.use_iret);
    c.expect.rflags = eff;
    // 1. The selector loads, then WRFSBASE/WRGSBASE, then the IRETQ: a fault there is #GP.
    let stage = if let Some(i) = c.sel.iter().position(|s| !GOOD_DATA_SELECTORS.contains(s)) {
        Stage::SegLoad(i)
    } else if c.use_wrbase && !canonical(c.fsbase) {
        Stage::WrBase(0)
    } else if c.use_wrbase && !canonical(c.gsbase) {
        Stage::WrBase(1)
    } else if c.ss != USER_DS {
        Stage::Iret
    } else {
        Stage::Entry
    };
    c.stage = stage;
    match stage {
        Stage::SegLoad(_) | Stage::WrBase(_) => {
            // On the child's own stack, before any register is loaded: only the signal counts.
            c.care = 0;
            c.expect_rip = child::stage_rip(stage, c.use_iret);
            c.outcome = signal_outcome(c, SIGSEGV, false);
            return;
        }
        Stage::Iret => {
            // IRETQ: every GPR is loaded; MOV SS: none yet.
            c.care = if c.use_iret { CARE_GPRS } else { 0 };
            c.expect_rip = child::stage_rip(stage, c.use_iret);
            c.outcome = signal_outcome(c, SIGSEGV, false);
            return;
        }
        Stage::Entry => {}
    }
    let gadget = child::slot_addr(c.slot);
    let tf = eff & fl::TF != 0;
    if tf && !c.use_iret {
        // TF set by POPFQ traps after the instruction after it (the MOV to RSP): before the
        // entry, with every register loaded.
        c.expect_rip = child::popf_trap_addr();
        c.outcome = signal_outcome(c, SIGTRAP, true);
        return;
    }
    // 2. The entry: the signal it raises and the RIP its frame holds, or None if it returns.
    let signal: Option<(i32, u64)> = match c.kind {
        Kind::Syscall | Kind::Int80 => None,
        Kind::Int3 => Some((SIGTRAP, gadget + 1)),
        Kind::Into | Kind::Ud2 => Some((SIGILL, gadget)),
        Kind::IntN => match child::slot_vector(c.slot) {
            // DPL-3 gates: #BP is a trap (SIGTRAP), #OF a trap that Linux turns into SIGSEGV.
            3 => Some((SIGTRAP, gadget + 2)),
            4 => Some((SIGSEGV, gadget + 2)),
            // Every other gate is DPL 0: #GP on the int instruction.
            _ => Some((SIGSEGV, gadget)),
        },
        Kind::Load | Kind::Store => Some((SIGSEGV, gadget)),
        Kind::Sigreturn => {
            sigreturn_outcome(c, eff);
            return;
        }
    };
    if let Some((sig, rip)) = signal {
        c.expect_rip = rip;
        c.outcome = signal_outcome(c, sig, true);
        return;
    }
    // 3. It returns. SYSCALL defines RAX (the result), RCX (the return RIP) and R11 (RFLAGS);
    // `int $0x80` defines RAX only.
    c.care = CARE_ALL & !(1 << child::RAX);
    if c.kind == Kind::Syscall {
        c.expect.g[child::RCX] = gadget + 2;
        c.expect.g[child::R11] = eff;
        let nr = c.set.g[child::RAX] as u32 & !X32_BIT;
        if nr == 60 || nr == 231 {
            c.outcome = Outcome::Exits((c.set.g[child::RDI] & 0xff) as i32);
            return;
        }
        if LAX_SYSCALLS.contains(&nr) {
            c.outcome = Outcome::Any;
            return;
        }
    }
    if tf {
        // The single-step trap comes after the first instruction after the return.
        c.expect_rip = child::landing_addr();
        c.outcome = signal_outcome(c, SIGTRAP, true);
    } else {
        c.outcome = Outcome::Returns;
    }
}

/// A signal raised at the entry (or before it): caught by the handler if there is one and the
/// kernel can write the frame, else death. `on_user_stack`: the frame goes on the case's RSP.
fn signal_outcome(c: &Case, sig: i32, on_user_stack: bool) -> Outcome {
    if !c.handler {
        return Outcome::Killed(sig);
    }
    if on_user_stack && c.hostile_rsp.is_some() && !c.altstack {
        // The frame cannot be written: Linux forces SIGSEGV, whose own delivery fails too, so
        // the default action kills.
        return Outcome::Killed(SIGSEGV);
    }
    Outcome::Caught(sig)
}

/// rt_sigreturn with the case's frame (Linux's restore_sigcontext).
fn sigreturn_outcome(c: &mut Case, eff: u64) {
    let cs = c.frame_cs | 3;
    let ss = c.frame_ss | 3;
    c.expect = c.frame;
    c.expect.rflags = (eff & !fl::SIGRETURN_FIX) | (c.frame.rflags & fl::SIGRETURN_FIX);
    c.care = CARE_ALL;
    c.outcome = if c.frame_fpstate != 0 {
        // An unreadable FPU state: a bad frame.
        Outcome::Killed(SIGSEGV)
    } else if cs == USER32_CS {
        // A return into compat mode runs the landing code as 32-bit code: what it then does
        // is not this fuzzer's to predict.
        Outcome::Any
    } else if cs != USER_CS {
        Outcome::Killed(SIGSEGV)
    } else if c.frame_uc_flags & 4 != 0 && ss != USER_DS {
        // UC_STRICT_RESTORE_SS: the bad SS is kept, and the IRET to user faults.
        Outcome::Killed(SIGSEGV)
    } else if c.frame_rip != child::landing_addr() {
        Outcome::Killed(SIGSEGV)
    } else if c.expect.rflags & fl::TF != 0 {
        Outcome::Killed(SIGTRAP)
    } else {
        Outcome::Returns
    };
}

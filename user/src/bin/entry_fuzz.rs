//! The entry fuzzer (issue 10 §4, docs/fuzz.md): random ring-3 state, then one random entry
//! into the kernel, in a forked child per case, on every CPU at once.
//!
//! Usage: `entry_fuzz SEED SECONDS [safe] [popf] [cpus N] [replay CPU ITER]`.
//! - One worker per CPU of the affinity mask (at most N), each pinned to its CPU with
//!   sched_setaffinity, runs cases until SECONDS have passed.
//! - Case (SEED, cpu, iteration) is a pure function of the three ([`cases::generate`]): a failure
//!   prints them, and `replay CPU ITER` runs that one case again and shows its details.
//! - Each case runs in a forked child ([`child::run`]) that loads random general registers,
//!   RFLAGS, DS/ES/FS/GS, FS/GS bases (WRFSBASE/WRGSBASE, or arch_prctl), RSP and SS, then
//!   makes one entry: SYSCALL, `int $0x80`, `int3`, `into`, `int $n`, `ud2`, a faulting load or
//!   store, or rt_sigreturn with a random frame. The worker waits for it (3 s at most: then it
//!   is killed, which is a failure unless the entry was a random syscall that may block) and
//!   compares how it ended with [`cases::Outcome`], what Linux does.
//! - `safe`: only syscalls harmless on any host (for the native cross-check).
//! - `popf`: load RSP and RFLAGS without IRETQ even where a ring-3 IRETQ works (the way the
//!   fuzzer must take under QEMU 7.2 TCG with SMAP; natively, to cross-check its table).
//!
//! At the end each worker prints its counts (`entry_fuzz: count NAME VALUE`), the parent
//! `entry_fuzz: done`. Exit status 0 iff no case failed.

#![no_std]
#![no_main]

#[path = "entry_fuzz/cases.rs"]
mod cases;
#[path = "entry_fuzz/child.rs"]
mod child;

use kentry_user::rt::Args;
use kentry_user::sys::{self, errno, nr};
use kentry_user::{entry, println};

use cases::{Case, KINDS, Outcome, Stage};

entry!(main);

const CHILD_TIMEOUT_S: usize = 3;
const PROGRESS_EVERY_NS: u64 = 30_000_000_000;
const MAX_CPUS: usize = 64;
/// Failures printed in full per worker (all are counted).
const FAILURES_SHOWN: u64 = 20;

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn now_ns() -> u64 {
    let mut ts = [0u64; 2];
    // SAFETY: clock_gettime writes 16 bytes to a live local.
    unsafe { sys::syscall2(nr::CLOCK_GETTIME, 1, ts.as_mut_ptr() as usize) };
    ts[0] * 1_000_000_000 + ts[1]
}

fn fork() -> isize {
    // SAFETY: fork duplicates this single-threaded process; both sides go on from here.
    unsafe { sys::syscall0(nr::FORK) }
}

/// wait4(pid): the raw status, or -errno.
fn wait(pid: isize) -> Result<i32, isize> {
    let mut status: i32 = 0;
    // SAFETY: wait4 writes the status to a live local.
    let r = unsafe { sys::syscall4(nr::WAIT4, pid as usize, &raw mut status as usize, 0, 0) };
    if r < 0 { Err(r) } else { Ok(status) }
}

fn alarm(s: usize) {
    // SAFETY: alarm only arms this process's timer.
    unsafe { sys::syscall1(nr::ALARM, s) };
}

extern "C" fn on_alarm(_: i32, _: *const u8, _: *mut u8) {}

/// How a child ended, from its wait status.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    Exited(i32),
    Killed(i32),
    Timeout,
}

fn end_of(status: i32) -> End {
    if status & 0x7f == 0 {
        End::Exited((status >> 8) & 0xff)
    } else {
        End::Killed(status & 0x7f)
    }
}

fn matches(want: Outcome, got: End) -> bool {
    match (want, got) {
        (_, End::Timeout) => false,
        (Outcome::Any, _) => true,
        (Outcome::Returns, End::Exited(0)) => true,
        (Outcome::Exits(a), End::Exited(b)) => a == b,
        (Outcome::Caught(s), End::Exited(c)) => c == 64 + s,
        (Outcome::Killed(a), End::Killed(b)) => a == b,
        _ => false,
    }
}

fn sig_name(s: i32) -> &'static str {
    match s {
        4 => "SIGILL",
        5 => "SIGTRAP",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        _ => "other",
    }
}

/// Counters of one worker.
#[derive(Default)]
struct Counts {
    iterations: u64,
    failures: u64,
    timeouts: u64,
    kinds: [u64; KINDS.len()],
    handler_mode: u64,
    hostile_rsp: u64,
    wrbase: u64,
    stage_segload: u64,
    stage_wrbase: u64,
    stage_iret: u64,
    returned: u64,
    exited: u64,
    /// Indexed by signal number (< 32).
    caught: [u64; 32],
    killed: [u64; 32],
}

impl Counts {
    fn print(&self, cpu: u64) {
        let line = |name: &str, v: u64| println!("entry_fuzz: count cpu{cpu} {name} {v}");
        line("iterations", self.iterations);
        line("failures", self.failures);
        line("timeouts", self.timeouts);
        for (k, n) in KINDS.iter().zip(self.kinds) {
            println!("entry_fuzz: count cpu{cpu} kind.{} {n}", k.name());
        }
        line("mode.handler", self.handler_mode);
        line("mode.hostile_rsp", self.hostile_rsp);
        line("mode.wrfsbase", self.wrbase);
        line("stage.segment_load", self.stage_segload);
        line("stage.wrbase", self.stage_wrbase);
        line("stage.iret_ss", self.stage_iret);
        line("end.returned", self.returned);
        line("end.exited", self.exited);
        for s in 1..32 {
            if self.caught[s] != 0 {
                println!(
                    "entry_fuzz: count cpu{cpu} caught.{} {}",
                    signame_or_num(s),
                    self.caught[s]
                );
            }
            if self.killed[s] != 0 {
                println!(
                    "entry_fuzz: count cpu{cpu} killed.{} {}",
                    signame_or_num(s),
                    self.killed[s]
                );
            }
        }
    }
}

fn signame_or_num(s: usize) -> SigLabel {
    SigLabel(s as i32)
}

struct SigLabel(i32);
impl core::fmt::Display for SigLabel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match sig_name(self.0) {
            "other" => write!(f, "sig{}", self.0),
            n => f.write_str(n),
        }
    }
}

struct Config {
    seed: u64,
    seconds: u64,
    env: cases::Env,
}

/// Runs one case to its end; returns how it ended.
fn run_case(c: &Case, cfg: &Config) -> End {
    let pid = fork();
    if pid == 0 {
        child::run(c, cfg.env.have_fsgsbase);
    }
    if pid < 0 {
        println!("entry_fuzz: fork failed: {pid}");
        sys::exit_group(2);
    }
    alarm(CHILD_TIMEOUT_S);
    let r = wait(pid);
    alarm(0);
    match r {
        Ok(st) => end_of(st),
        Err(e) if e == -errno::EINTR => {
            // SAFETY: kills our own child.
            unsafe { sys::syscall2(nr::KILL, pid as usize, cases::SIGKILL as usize) };
            let _ = wait(pid);
            End::Timeout
        }
        Err(e) => {
            println!("entry_fuzz: wait4 failed: {e}");
            sys::exit_group(2);
        }
    }
}

fn describe(c: &Case) {
    println!(
        "entry_fuzz:   kind={} slot={} stage={:?} handler={} altstack={} rsp={:#x} rflags={:#x} \
         ss={:#x} sel={:x?} wrbase={} fsbase={:#x} gsbase={:#x} rax={:#x} rdi={:#x} rsi={:#x} \
         rdx={:#x} r10={:#x} r8={:#x} r9={:#x} r15={:#x}",
        c.kind.name(),
        c.slot,
        c.stage,
        c.handler,
        c.altstack,
        c.set.rsp,
        c.set.rflags,
        c.ss,
        c.sel,
        c.use_wrbase,
        c.fsbase,
        c.gsbase,
        c.set.g[child::RAX],
        c.set.g[child::RDI],
        c.set.g[child::RSI],
        c.set.g[child::RDX],
        c.set.g[child::R10],
        c.set.g[child::R8],
        c.set.g[child::R9],
        c.set.g[child::FAULT_ADDR_REG],
    );
    if c.kind == cases::Kind::Sigreturn {
        println!(
            "entry_fuzz:   frame rip={:#x} cs={:#x} ss={:#x} uc_flags={:#x} fpstate={:#x} \
             rsp={:#x} rflags={:#x}",
            c.frame_rip,
            c.frame_cs,
            c.frame_ss,
            c.frame_uc_flags,
            c.frame_fpstate,
            c.frame.rsp,
            c.frame.rflags
        );
    }
}

/// Whether a timeout is an acceptable end: a random syscall may block (a read, a poll with
/// no timeout, a futex wait); every other entry must come back at once.
fn may_block(c: &Case) -> bool {
    c.kind == cases::Kind::Syscall && c.stage == Stage::Entry
}

fn worker(cpu: u64, cfg: &Config) -> ! {
    let mask: [u64; MAX_CPUS / 64] = {
        let mut m = [0u64; MAX_CPUS / 64];
        m[(cpu / 64) as usize] = 1 << (cpu % 64);
        m
    };
    // SAFETY: sched_setaffinity reads the mask from a live local.
    let r = unsafe {
        sys::syscall3(
            nr::SCHED_SETAFFINITY,
            0,
            8 * mask.len(),
            mask.as_ptr() as usize,
        )
    };
    if r != 0 {
        println!("entry_fuzz: cpu{cpu}: sched_setaffinity failed: {r}");
        sys::exit_group(2);
    }
    kentry_user::signal::install(14, on_alarm, 0);
    let start = now_ns();
    let deadline = start + cfg.seconds * 1_000_000_000;
    let mut next_progress = start + PROGRESS_EVERY_NS;
    let mut n = Counts::default();
    let mut iter = 0u64;
    loop {
        let t = now_ns();
        if t >= deadline {
            break;
        }
        if t >= next_progress {
            println!(
                "entry_fuzz: progress cpu{cpu} iterations={} failures={}",
                iter, n.failures
            );
            next_progress += PROGRESS_EVERY_NS;
        }
        let c = cases::generate(cfg.seed, cpu, iter, &cfg.env);
        let end = run_case(&c, cfg);
        tally(&mut n, &c, end);
        if !(matches(c.outcome, end) || end == End::Timeout && may_block(&c)) {
            n.failures += 1;
            if n.failures <= FAILURES_SHOWN {
                println!(
                    "entry_fuzz: FAIL seed={:#x} cpu={cpu} iter={iter} kind={}: expected {:?}, got {:?} \
                     (replay: entry_fuzz {:#x} 0 replay {cpu} {iter})",
                    cfg.seed,
                    c.kind.name(),
                    c.outcome,
                    end,
                    cfg.seed
                );
                describe(&c);
            }
        }
        iter += 1;
    }
    n.iterations = iter;
    n.print(cpu);
    sys::exit_group(if n.failures == 0 { 0 } else { 1 })
}

fn tally(n: &mut Counts, c: &Case, end: End) {
    n.kinds[KINDS.iter().position(|k| *k == c.kind).unwrap_or(0)] += 1;
    n.handler_mode += c.handler as u64;
    n.hostile_rsp += c.hostile_rsp.is_some() as u64;
    n.wrbase += c.use_wrbase as u64;
    match c.stage {
        Stage::SegLoad(_) => n.stage_segload += 1,
        Stage::WrBase(_) => n.stage_wrbase += 1,
        Stage::Iret => n.stage_iret += 1,
        Stage::Entry => {}
    }
    match end {
        End::Timeout => n.timeouts += 1,
        End::Killed(s) => n.killed[(s as usize) & 31] += 1,
        End::Exited(0) => n.returned += 1,
        // 64 + signal from the handler; the same status from a random exit is an exit.
        End::Exited(code) if matches!(c.outcome, Outcome::Caught(s) if code == 64 + s) => {
            n.caught[(code - 64) as usize & 31] += 1
        }
        End::Exited(_) => n.exited += 1,
    }
}

/// Whether RDFSBASE works in ring 3 here (CPUID says the CPU has it; CR4.FSGSBASE, which
/// only the kernel knows, decides): tried in a child, which SIGILL kills if not.
fn probe_fsgsbase() -> bool {
    if !kentry_user::cpu::has_fsgsbase() {
        return false;
    }
    let pid = fork();
    if pid == 0 {
        let _ = kentry_user::cpu::rdgsbase();
        sys::exit(0);
    }
    matches!(wait(pid).map(end_of), Ok(End::Exited(0)))
}

/// Whether WRGSBASE refuses a non-canonical base (#GP, SIGSEGV) as hardware does: tried in
/// a child.
fn probe_wrbase_faults() -> bool {
    let pid = fork();
    if pid == 0 {
        // SAFETY: nothing in this child uses the GS base.
        unsafe { kentry_user::cpu::wrgsbase(0xdead_beef_dead_beef) };
        sys::exit(0);
    }
    matches!(wait(pid).map(end_of), Ok(End::Killed(cases::SIGSEGV)))
}

fn usage() -> i32 {
    println!("usage: entry_fuzz SEED SECONDS [safe] [popf] [cpus N] [replay CPU ITER]");
    2
}

fn main(args: Args) -> i32 {
    let (Some(seed), Some(seconds)) = (
        args.get_str(1).and_then(parse_u64),
        args.get_str(2).and_then(parse_u64),
    ) else {
        return usage();
    };
    let mut safe = false;
    let mut force_popf = false;
    let mut max_cpus = MAX_CPUS as u64;
    let mut replay = None;
    let mut i = 3;
    while let Some(a) = args.get_str(i) {
        match a {
            "safe" => safe = true,
            "popf" => force_popf = true,
            "cpus" => {
                i += 1;
                let Some(v) = args.get_str(i).and_then(parse_u64) else {
                    return usage();
                };
                max_cpus = v.max(1);
            }
            "replay" => {
                let (Some(c), Some(it)) = (
                    args.get_str(i + 1).and_then(parse_u64),
                    args.get_str(i + 2).and_then(parse_u64),
                ) else {
                    return usage();
                };
                replay = Some((c, it));
                i += 2;
            }
            _ => return usage(),
        }
        i += 1;
    }
    let mut cfg = Config {
        seed,
        seconds,
        env: cases::Env {
            safe,
            have_fsgsbase: probe_fsgsbase(),
            use_iret: !force_popf && child::probe_iret(),
            wrbase_faults: false,
        },
    };
    cfg.env.wrbase_faults = cfg.env.have_fsgsbase && probe_wrbase_faults();
    if let Some((cpu, iter)) = replay {
        let c = cases::generate(seed, cpu, iter, &cfg.env);
        describe(&c);
        let end = run_case(&c, &cfg);
        let ok = matches(c.outcome, end) || (end == End::Timeout && may_block(&c));
        println!(
            "entry_fuzz: replay seed={seed:#x} cpu={cpu} iter={iter}: expected {:?}, got {:?}: {}",
            c.outcome,
            end,
            if ok { "ok" } else { "FAIL" }
        );
        return if ok { 0 } else { 1 };
    }

    let mut mask = [0u64; MAX_CPUS / 64];
    // SAFETY: sched_getaffinity writes at most 8 bytes to a live local.
    let r = unsafe {
        sys::syscall3(
            nr::SCHED_GETAFFINITY,
            0,
            8 * mask.len(),
            mask.as_mut_ptr() as usize,
        )
    };
    if r <= 0 {
        mask[0] = 1;
    }
    let cpus: heapless_cpus::List = (0..MAX_CPUS as u64)
        .filter(|c| mask[(c / 64) as usize] & (1 << (c % 64)) != 0)
        .take(max_cpus as usize)
        .collect();
    println!(
        "entry_fuzz: seed={seed:#x} seconds={seconds} workers={} fsgsbase={} iretq={} \
         wrbase_faults={} safe={safe}",
        cpus.len(),
        cfg.env.have_fsgsbase,
        cfg.env.use_iret,
        cfg.env.wrbase_faults
    );
    for &cpu in cpus.as_slice() {
        if fork() == 0 {
            worker(cpu, &cfg);
        }
    }
    let mut failed = 0;
    for _ in 0..cpus.len() {
        match wait(-1) {
            Ok(st) if end_of(st) == End::Exited(0) => {}
            Ok(st) => {
                println!("entry_fuzz: a worker ended with {:?}", end_of(st));
                failed += 1;
            }
            Err(e) => {
                println!("entry_fuzz: wait4 failed: {e}");
                failed += 1;
            }
        }
    }
    println!(
        "entry_fuzz: done workers={} failed_workers={failed}",
        cpus.len()
    );
    if failed == 0 { 0 } else { 1 }
}

/// A fixed-capacity list of CPU numbers (no allocator here).
mod heapless_cpus {
    pub struct List {
        v: [u64; super::MAX_CPUS],
        n: usize,
    }
    impl List {
        pub fn len(&self) -> usize {
            self.n
        }
        pub fn as_slice(&self) -> &[u64] {
            &self.v[..self.n]
        }
    }
    impl FromIterator<u64> for List {
        fn from_iter<I: IntoIterator<Item = u64>>(it: I) -> Self {
            let mut l = List {
                v: [0; super::MAX_CPUS],
                n: 0,
            };
            for x in it {
                if l.n < l.v.len() {
                    l.v[l.n] = x;
                    l.n += 1;
                }
            }
            l
        }
    }
}

//! CPU-time accounting on nohz_full CPUs from context-tracking transitions (Linux's
//! `VIRT_CPU_ACCOUNTING_GEN`): with the tick stopped nothing samples the running task, so
//! each transition charges the time since the previous one — user time at the entry from
//! user mode, kernel time at the return to user mode. Housekeeping CPUs sample from their
//! tick instead (`sched::cputime::account_tick`).
//!
//! **Fast path.** A transition is one GS-relative read-modify-write of this CPU's
//! [`VtimeCpu::user_acc`]: the entry from user mode adds its TSC, the return to user mode
//! subtracts its TSC, so in the kernel `user_acc` is the sum of the user-mode intervals since
//! the last fold, and the kernel time is the rest of the time since then (`now - since -
//! user_acc`). Each added or subtracted TSC is made odd first (`or al, 1`, off by at most a
//! cycle), so every transition flips the accumulator's parity: even in the kernel, odd in
//! user mode. The mode and the time thus live in one 8-byte word changed by one instruction,
//! and a reader on another CPU that loads it once has a consistent pair — no sequence count
//! and no mode flag on the fast path. No stamp is loaded, no difference taken, no clock
//! conversion, no `lock` prefix (only this CPU writes the word, with interrupts off: the
//! hooks run with IRQs off, and no NMI handler touches it): `rdtsc`, two instructions to join
//! its halves, the `or`, the add or subtract — 5 instructions, with the nohz_full test 7, in
//! one `asm!` block ([`user_exit`], [`user_enter`]). The accumulator wraps freely: only
//! differences of TSC values are used, exact modulo 2^64.
//!
//! A fold changes `since` and the accumulator together (and the folded counters), under a
//! sequence count that readers check; folds happen in the kernel at a switch or a tick, not
//! at transitions.
//!
//! **Folding.** The time since the last fold — user from the accumulator, system (or idle)
//! the rest — becomes nanoseconds in the task's process [`crate::sched::cputime::CpuTime`]
//! and in the CPU's /proc/stat buckets at a task switch (the task switched away from, the
//! idle task's kernel time as idle), at the tick when it runs, and before a task reads its
//! own process's times (getrusage, times).
//!
//! **Nanoseconds from the clock.** A fold records, beside its TSC, the monotonic clock's
//! reading there ([`crate::time::tsc_to_ns`]); the window since the fold is the clock's
//! reading now less that one, split in proportion to the cycles
//! (`kentry_kernel_logic::vtime::split_window_ns`). Within one rate that is the cycles at that
//! rate; across a change of rate (the calibration refines it, and a nohz_full boot starts it
//! provisionally at 1 GHz from the first fold, with interrupts off) it is continuous, as the
//! clock is. Cycles pending across a change and converted at the new rate were not: a
//! spinner's whole pending life jumped by the change's ratio, backwards when the measured
//! rate rose (`nohz_full_remote_times` on a loaded host saw 1.54 s, then 0.13 s; boot test
//! `nohz_full_rate_step` forces such a change between two reads).
//!
//! **Readers elsewhere.** A nohz_full CPU whose one task never switches may never fold, so
//! readers add what is unfolded there ([`process_cpu_ns`], [`cpu_time`]): for each nohz_full
//! CPU whose running task belongs to the process (or for the CPU's row), the clock's time
//! since its last fold, split by the accumulator's cycles (plus the reader's TSC while that
//! CPU is in user mode), read under its sequence count together with the folded counters, so
//! that a fold or a transition between the reads is retried rather than counted twice or not
//! at all (Linux's vtime readers do the same with `vtime->seqcount`). The reader's `rdtsc`
//! stands for the remote CPU's: QEMU's TSCs (and invariant TSCs on hardware) agree across
//! CPUs; a reader TSC a little behind a remote transition is clamped, never negative.
//! Approximations, all far below the tests' 10 %: each fold truncates below a nanosecond; a
//! window spanning a change of rate splits its nanoseconds as if its user share were even
//! over it, so in the kernel after a fall of the rate its pending user time may shrink, by at
//! most the kernel stretch times (the change's ratio - 1), system time growing as much; after
//! [`READ_TRIES`] reads disturbed by folds a reader takes its last (possibly torn) copy, which
//! can be off by at most one transition's time.

use crate::percpu::{MAX_CPUS, PerCpu, cpu_area, this_cpu};
use crate::process::Process;
use crate::sched::cputime::{CpuBucket, add_cpu_time, cpu_row, kernel_bucket};
use crate::task::Task;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering, fence};

/// Index of system (kernel) time in [`VtimeCpu::unfolded`]'s result, as in `CpuTime`.
const SYSTEM: usize = 0;
/// Index of user cycles.
const USER: usize = 1;

/// A reader retries a copy disturbed by a transition at most this often (a spinner making
/// syscalls changes its sequence count every few hundred instructions; a reader's window is
/// some tens).
const READ_TRIES: usize = 64;

/// Test kernels, `kentry.break=vtime_remote`: readers ignore the cycles pending on other
/// CPUs (the negative run of the `nohz_full_remote_times` test).
pub static BREAK_REMOTE: AtomicBool = AtomicBool::new(false);

/// One CPU's transition accounting (in its [`PerCpu`]; used only on nohz_full CPUs). Written
/// only by that CPU with interrupts off; read by others under `seq`.
#[repr(C)]
pub struct VtimeCpu {
    /// Nonzero: this CPU is nohz_full (written once at boot, before it starts). The hooks
    /// test it with one GS-relative `cmp` ([`user_exit`], [`user_enter`]).
    full: AtomicU32,
    /// Sequence count: odd while this CPU folds (changes `since` and `user_acc` together) or
    /// changes the running task's fields. Transitions do not touch it.
    seq: AtomicU32,
    /// Nonzero: the running task is this CPU's idle task (its kernel time is idle time).
    idle: AtomicU32,
    /// TSC at the last fold (or at the CPU's start).
    since: AtomicU64,
    /// The monotonic clock's reading at `since` ([`crate::time::tsc_to_ns`]).
    since_ns: AtomicU64,
    /// In the kernel (even): the user-mode cycles since `since` (each entry from user mode
    /// adds its TSC, each return subtracts its TSC, both made odd; wrapping). In user mode
    /// (odd) add the current TSC.
    user_acc: AtomicU64,
    /// The running task's process, compared by address by readers, never dereferenced.
    owner: AtomicPtr<Process>,
}

impl VtimeCpu {
    pub const fn new() -> Self {
        VtimeCpu {
            full: AtomicU32::new(0),
            seq: AtomicU32::new(0),
            idle: AtomicU32::new(0),
            since: AtomicU64::new(0),
            since_ns: AtomicU64::new(0),
            user_acc: AtomicU64::new(0),
            owner: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Opens a change (this CPU, IRQs off): the count turns odd before any field changes.
    #[inline(always)]
    fn write_begin(&self) -> u32 {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        s
    }

    /// Closes the change opened with `s`: even again, after every field.
    #[inline(always)]
    fn write_end(&self, s: u32) {
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// The unfolded nanoseconds `[system-or-idle, user]` as of TSC `now`, the clock reading
    /// `now_ns` there: the clock's time since the fold, split by the cycles (the arithmetic
    /// and its clamping: `kentry_kernel_logic::vtime`). Consistent with the folded counters
    /// only inside a read of `seq`, which folds change.
    fn unfolded(&self, now: u64, now_ns: u64) -> [u64; 2] {
        kentry_kernel_logic::vtime::split_window_ns(
            self.user_acc.load(Ordering::Relaxed),
            self.since.load(Ordering::Relaxed),
            now,
            now_ns.saturating_sub(self.since_ns.load(Ordering::Relaxed)),
        )
    }

    /// Waits for an even count (a change in progress takes a few instructions).
    fn read_begin(&self) -> u32 {
        loop {
            let s = self.seq.load(Ordering::Acquire);
            if s & 1 == 0 {
                return s;
            }
            core::hint::spin_loop();
        }
    }

    /// Whether nothing changed since `read_begin` returned `s`.
    fn read_ok(&self, s: u32) -> bool {
        fence(Ordering::Acquire);
        self.seq.load(Ordering::Relaxed) == s
    }
}

impl Default for VtimeCpu {
    fn default() -> Self {
        Self::new()
    }
}

#[inline(always)]
fn tsc() -> u64 {
    // SAFETY: rdtsc has no side effects. Unordered on purpose: accounting does not need the
    // lfence that the clock uses.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn vt(cpu: usize) -> &'static VtimeCpu {
    &cpu_area(cpu).vtime
}

/// Marks `cpu` nohz_full (boot CPU, before the other CPUs start).
pub fn mark_full(cpu: usize) {
    vt(cpu).full.store(1, Ordering::Relaxed);
}

/// Whether this CPU is nohz_full: one GS-relative load.
#[inline(always)]
pub fn this_cpu_full() -> bool {
    let f: u32;
    // SAFETY: GS points at this CPU's PerCpu in kernel context; `full` is an AtomicU32 written
    // once before the CPU starts; the load has no side effects.
    unsafe {
        core::arch::asm!(
            "mov {f:e}, dword ptr gs:[{off}]",
            off = const FULL,
            f = out(reg) f,
            options(nostack, readonly, preserves_flags),
        );
    }
    f != 0
}

/// Offsets in the per-CPU area, for the transitions' GS-relative instructions.
const FULL: usize = core::mem::offset_of!(PerCpu, vtime) + core::mem::offset_of!(VtimeCpu, full);
const USER_ACC: usize =
    core::mem::offset_of!(PerCpu, vtime) + core::mem::offset_of!(VtimeCpu, user_acc);

/// One transition's accounting, `$op` (`add` or `sub`) the TSC made odd into this CPU's
/// accumulator if it is nohz_full (the CPU test inside the block: one `cmp` with a memory
/// operand, where a Rust test of an `asm!` load costs two).
macro_rules! account_transition {
    ($op:literal) => {
        // SAFETY: GS points at this CPU's PerCpu (kernel context); only this CPU writes its
        // accumulator, with interrupts off (an NMI handler never touches it), so the unlocked
        // read-modify-write cannot race; remote readers see the aligned 8-byte store whole.
        // rdtsc has no side effects.
        unsafe {
            core::arch::asm!(
                "cmp dword ptr gs:[{full}], 0",
                "je 2f",
                "rdtsc",
                "shl rdx, 32",
                "or rax, rdx",
                "or al, 1",
                concat!($op, " qword ptr gs:[{acc}], rax"),
                "2:",
                full = const FULL,
                acc = const USER_ACC,
                out("rax") _,
                out("rdx") _,
                options(nostack),
            );
        }
    };
}

/// Entry from user mode (IRQs off): on a nohz_full CPU the user interval that just ended
/// closes in the accumulator (`+ TSC`, parity to even); elsewhere nothing.
#[inline(always)]
pub fn user_exit() {
    account_transition!("add");
}

/// Return to user mode (IRQs off): on a nohz_full CPU a user interval opens (`- TSC`, parity
/// to odd); elsewhere nothing.
#[inline(always)]
pub fn user_enter() {
    account_transition!("sub");
}

/// Folds this CPU's pending cycles, and its kernel time up to now, into `task`'s process and
/// this CPU's buckets (in a change; in the kernel, IRQs off).
fn fold(v: &VtimeCpu, cpu: usize, task: &Task) {
    let now = tsc();
    let now_ns = crate::time::tsc_to_ns(now);
    // In the kernel the accumulator holds the user cycles since the fold (module comment).
    let [system, user] = v.unfolded(now, now_ns);
    v.user_acc.store(0, Ordering::Relaxed);
    v.since.store(now, Ordering::Relaxed);
    v.since_ns.store(now_ns, Ordering::Relaxed);
    let ct = &task.process.cputime;
    ct.add_system(system);
    ct.add_user(user);
    add_cpu_time(cpu, kernel_bucket(cpu, task), system);
    add_cpu_time(cpu, CpuBucket::User, user);
}

/// Records `task` as running on this CPU (in a change).
fn set_running(v: &VtimeCpu, cpu: usize, task: &Task) {
    let owner = alloc::sync::Arc::as_ptr(&task.process) as *mut Process;
    v.owner.store(owner, Ordering::Relaxed);
    let idle = kernel_bucket(cpu, task) == CpuBucket::Idle;
    v.idle.store(idle as u32, Ordering::Relaxed);
}

/// This nohz_full CPU starts scheduling with `first` (sched::start, IRQs off): accounting
/// starts here, as after a fold.
pub fn cpu_start(cpu: usize, first: &Task) {
    let v = vt(cpu);
    let now = tsc();
    let now_ns = crate::time::tsc_to_ns(now);
    let s = v.write_begin();
    v.user_acc.store(0, Ordering::Relaxed);
    v.since.store(now, Ordering::Relaxed);
    v.since_ns.store(now_ns, Ordering::Relaxed);
    set_running(v, cpu, first);
    v.write_end(s);
}

/// A switch from `prev` to `next` on this nohz_full CPU (IRQs off): `prev`'s time is folded.
pub fn switch(cpu: usize, prev: &Task, next: &Task) {
    let v = &this_cpu().vtime;
    let s = v.write_begin();
    fold(v, cpu, prev);
    set_running(v, cpu, next);
    v.write_end(s);
}

/// The tick on this nohz_full CPU, when it runs (IRQs off): the running task's time so far
/// is folded.
pub fn tick(cpu: usize, cur: &Task) {
    let v = &this_cpu().vtime;
    let s = v.write_begin();
    fold(v, cpu, cur);
    v.write_end(s);
}

/// Folds this CPU's pending time into the running task's process, if this CPU is nohz_full
/// (before the task reads its own process's times).
fn fold_this_cpu() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if this_cpu_full() {
            let v = &this_cpu().vtime;
            let s = v.write_begin();
            fold(v, crate::smp::this_cpu_id(), crate::task::current());
            v.write_end(s);
        }
    });
}

/// The bits of `mask`, lowest first.
fn cpus(mut mask: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        (mask != 0).then(|| {
            let cpu = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            cpu
        })
    })
}

/// `p`'s CPU time `[system, user]` in ns, exact for the calling CPU (folded first) and
/// including what is pending on the other nohz_full CPUs running its tasks (module comment).
pub fn process_cpu_ns(p: &Process) -> [u64; 2] {
    let ct = &p.cputime;
    if !super::enabled() {
        return [ct.system_ns(), ct.user_ns()];
    }
    fold_this_cpu();
    let others = super::full_mask() & !(1u64 << crate::smp::this_cpu_id());
    if BREAK_REMOTE.load(Ordering::Relaxed) || others == 0 {
        return [ct.system_ns(), ct.user_ns()];
    }
    let me = p as *const Process as *mut Process;
    let mut seqs = [0u32; MAX_CPUS];
    let mut out = [0; 2];
    for _ in 0..READ_TRIES {
        for cpu in cpus(others) {
            seqs[cpu] = vt(cpu).read_begin();
        }
        let folded = [ct.system_ns(), ct.user_ns()];
        let now = tsc();
        let now_ns = crate::time::tsc_to_ns(now);
        out = folded;
        for cpu in cpus(others).filter(|&c| vt(c).owner.load(Ordering::Relaxed) == me) {
            let c = vt(cpu).unfolded(now, now_ns);
            out[SYSTEM] += c[SYSTEM];
            out[USER] += c[USER];
        }
        if cpus(others).all(|c| vt(c).read_ok(seqs[c])) {
            break;
        }
    }
    out
}

/// Nohz_full CPU `cpu`'s `[system, user, idle]` ns, including its unfolded time
/// (/proc/stat; module comment).
pub fn cpu_time(cpu: usize) -> [u64; 3] {
    let v = vt(cpu);
    let mut out = cpu_row(cpu);
    if BREAK_REMOTE.load(Ordering::Relaxed) {
        return out;
    }
    for _ in 0..READ_TRIES {
        let s = v.read_begin();
        let mut row = cpu_row(cpu);
        let now = tsc();
        let c = v.unfolded(now, crate::time::tsc_to_ns(now));
        let kernel = if v.idle.load(Ordering::Relaxed) != 0 {
            CpuBucket::Idle
        } else {
            CpuBucket::System
        };
        row[kernel as usize] += c[SYSTEM];
        row[CpuBucket::User as usize] += c[USER];
        out = row;
        if v.read_ok(s) {
            break;
        }
    }
    out
}

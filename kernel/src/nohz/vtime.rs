//! CPU-time accounting on nohz_full CPUs from context-tracking transitions (Linux's
//! `VIRT_CPU_ACCOUNTING_GEN`): with the tick stopped nothing samples the running task, so
//! each transition charges the time since the previous one — user time at the entry from
//! user mode, kernel time at the return to user mode. Housekeeping CPUs sample from their
//! tick instead (`sched::cputime::account_tick`).
//!
//! **Fast path.** A transition is a few plain loads and stores to this CPU's [`VtimeCpu`]:
//! `rdtsc`, subtract the stamp, store the new stamp, add the difference to the pending
//! user or system cycles — no clock conversion, no `lock` prefix, no shared cache line.
//! Only the CPU itself writes its [`VtimeCpu`], always with interrupts off (the hooks run
//! with IRQs off; so do the switch and the tick), so plain relaxed read-modify-writes do.
//! A sequence count around each change lets readers on other CPUs take a consistent copy
//! (two more stores; on x86 the release/acquire fences that order them are no instructions).
//!
//! **Folding.** The pending cycles become nanoseconds ([`crate::time::tsc_cycles_to_ns`]) in
//! the task's process [`crate::sched::cputime::CpuTime`] and in the CPU's /proc/stat buckets
//! at a task switch (the task switched away from, the idle task's kernel time as idle), at
//! the tick when it runs, and before a task reads its own process's times (getrusage, times).
//!
//! **Readers elsewhere.** A nohz_full CPU whose one task never switches may never fold, so
//! readers add what is pending there ([`process_cpu_ns`], [`cpu_time`]): for each nohz_full
//! CPU whose running task belongs to the process (or for the CPU's row), the pending cycles
//! plus the time since its stamp (user time while it is in user mode, system or idle time
//! while in the kernel), read under its sequence count together with the folded counters, so
//! that a fold or a transition between the reads is retried rather than counted twice or not
//! at all (Linux's vtime readers do the same with `vtime->seqcount`). The reader's `rdtsc` is
//! compared with the remote stamp: QEMU's TSCs (and invariant TSCs on hardware) agree across
//! CPUs; a stamp newer than the reader's TSC counts 0. Approximations, all far below the
//! tests' 10 %: each fold truncates below a nanosecond; cycles pending across a refinement of
//! the TSC rate are converted at the new rate; after [`READ_TRIES`] disturbed reads a reader
//! takes its last (possibly torn) copy, which can be off by at most one transition's time.

use crate::percpu::{MAX_CPUS, PerCpu, cpu_area, this_cpu};
use crate::process::Process;
use crate::sched::cputime::{CpuBucket, add_cpu_time, cpu_row, kernel_bucket};
use crate::task::Task;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering, fence};

/// Index of system (kernel) cycles in [`VtimeCpu::pending`], as in `CpuTime`.
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
    /// read it with one GS-relative load ([`this_cpu_full`]).
    full: AtomicU32,
    /// Sequence count: odd while this CPU changes the fields below.
    seq: AtomicU32,
    /// Nonzero: in user mode since `stamp`.
    in_user: AtomicU32,
    /// Nonzero: the running task is this CPU's idle task (its kernel time is idle time).
    idle: AtomicU32,
    /// TSC at the last transition or fold.
    stamp: AtomicU64,
    /// TSC cycles not yet folded, `[system, user]`.
    pending: [AtomicU64; 2],
    /// The running task's process, compared by address by readers, never dereferenced.
    owner: AtomicPtr<Process>,
}

impl VtimeCpu {
    pub const fn new() -> Self {
        VtimeCpu {
            full: AtomicU32::new(0),
            seq: AtomicU32::new(0),
            in_user: AtomicU32::new(0),
            idle: AtomicU32::new(0),
            stamp: AtomicU64::new(0),
            pending: [AtomicU64::new(0), AtomicU64::new(0)],
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

    /// Charges the cycles since the stamp to `ended` and restamps (in a change).
    #[inline(always)]
    fn charge(&self, ended: usize, now: u64) {
        let d = now.wrapping_sub(self.stamp.load(Ordering::Relaxed));
        self.stamp.store(now, Ordering::Relaxed);
        let p = &self.pending[ended];
        p.store(p.load(Ordering::Relaxed).wrapping_add(d), Ordering::Relaxed);
    }

    /// The unfolded cycles `[system-or-idle, user]` as of `now`: pending plus the time since
    /// the stamp in the current mode. Racy unless inside a read of `seq`.
    fn unfolded(&self, now: u64) -> [u64; 2] {
        let mut c = [
            self.pending[SYSTEM].load(Ordering::Relaxed),
            self.pending[USER].load(Ordering::Relaxed),
        ];
        let running = now.saturating_sub(self.stamp.load(Ordering::Relaxed));
        c[(self.in_user.load(Ordering::Relaxed) != 0) as usize] += running;
        c
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
            off = const core::mem::offset_of!(PerCpu, vtime) + core::mem::offset_of!(VtimeCpu, full),
            f = out(reg) f,
            options(nostack, readonly, preserves_flags),
        );
    }
    f != 0
}

/// Entry from user mode (this nohz_full CPU, IRQs off): the user time since the return to
/// user mode goes to the pending user cycles.
#[inline(always)]
pub fn user_exit() {
    let v = &this_cpu().vtime;
    let s = v.write_begin();
    v.charge(USER, tsc());
    v.in_user.store(0, Ordering::Relaxed);
    v.write_end(s);
}

/// Return to user mode (this nohz_full CPU, IRQs off): the kernel time since the entry (or
/// the switch in) goes to the pending system cycles.
#[inline(always)]
pub fn user_enter() {
    let v = &this_cpu().vtime;
    let s = v.write_begin();
    v.charge(SYSTEM, tsc());
    v.in_user.store(1, Ordering::Relaxed);
    v.write_end(s);
}

/// Folds this CPU's pending cycles, and its kernel time up to now, into `task`'s process and
/// this CPU's buckets (in a change; in the kernel, IRQs off).
fn fold(v: &VtimeCpu, cpu: usize, task: &Task) {
    v.charge(SYSTEM, tsc());
    // Loads and stores, not `swap` (an implicitly locked `xchg`): only this CPU writes.
    let system = v.pending[SYSTEM].load(Ordering::Relaxed);
    let user = v.pending[USER].load(Ordering::Relaxed);
    v.pending[SYSTEM].store(0, Ordering::Relaxed);
    v.pending[USER].store(0, Ordering::Relaxed);
    let (system, user) = (
        crate::time::tsc_cycles_to_ns(system),
        crate::time::tsc_cycles_to_ns(user),
    );
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

/// This nohz_full CPU starts scheduling with `first` (sched::start, IRQs off): the first
/// stamp, so that the first transition measures from here.
pub fn cpu_start(cpu: usize, first: &Task) {
    let v = vt(cpu);
    let s = v.write_begin();
    v.stamp.store(tsc(), Ordering::Relaxed);
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
        let mut cycles = [0u64; 2];
        for cpu in cpus(others).filter(|&c| vt(c).owner.load(Ordering::Relaxed) == me) {
            let c = vt(cpu).unfolded(now);
            cycles[SYSTEM] += c[SYSTEM];
            cycles[USER] += c[USER];
        }
        out = [0, 1].map(|i| folded[i] + crate::time::tsc_cycles_to_ns(cycles[i]));
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
        let c = v.unfolded(tsc());
        let kernel = if v.idle.load(Ordering::Relaxed) != 0 {
            CpuBucket::Idle
        } else {
            CpuBucket::System
        };
        row[kernel as usize] += crate::time::tsc_cycles_to_ns(c[SYSTEM]);
        row[CpuBucket::User as usize] += crate::time::tsc_cycles_to_ns(c[USER]);
        out = row;
        if v.read_ok(s) {
            break;
        }
    }
    out
}

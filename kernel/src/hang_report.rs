//! The hang report (`kentry.hang_report=S`): S seconds after boot a kernel thread prints every
//! task there is — its state letter as /proc shows it, the syscall it is in, its user RIP, its
//! pending and blocked signals, its work flags — and, for each task asleep in the kernel, a
//! symbolized backtrace from where it switched away (Linux's SysRq-T, `show_state`).
//!
//! xtask asks for it a little before its own timeout on the boots that may hang (the test
//! boots, `cargo xtask run`, the fuzzer), so a hang ends with a picture of who waits for what,
//! not a bare timeout. A boot that ends in time never prints it. A boot that is merely slow
//! prints it and goes on: the report changes nothing.
//!
//! It runs as an ordinary kernel thread, not from an interrupt or an NMI: it takes the locks
//! its reads need like any reader (a task's ptrace state for its state letter, the process
//! list). So a deadlock holding one of those hangs the report there too; its last line then
//! names the task it was reading, which is a clue in itself. The backtrace of a sleeping task
//! reads that task's stack while it may wake and run: a snapshot for a report, each read
//! bounded by the stack (mm/stack.rs), never acted on.

use crate::process::Process;
use crate::symbols::Sym;
use crate::task::{Task, TaskState};
use alloc::sync::Arc;
use core::fmt::Write;
use core::sync::atomic::Ordering;

/// How often (in 1 ms ticks, `sched::ticks`) the thread wakes to look at the clock: ticks can fall behind the clock under a
/// loaded host (TCG delivers a late tick once), and the report is due by the clock, which
/// xtask's timeout also follows.
const LOOK_EVERY_TICKS: u64 = 50;

/// When the report is due, in seconds since boot (read by its thread only).
static DUE: spin::Once<u64> = spin::Once::new();

/// Reads `kentry.hang_report=S` (seconds, S ≥ 1) and starts the thread that reports then.
pub fn init(cmdline: &str) {
    let Some(secs) = crate::boot::cmdline_value(cmdline, "kentry.hang_report")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s >= 1)
    else {
        return;
    };
    DUE.call_once(|| secs);
    let t = Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "hang report stack",
        report_thread,
    );
    // The boot CPU: it keeps its tick (it is never nohz_full), so a sleeper there disturbs no
    // CPU whose tick is stopped.
    t.sched.allowed.store(1, Ordering::Relaxed);
    crate::sched::spawn(t);
}

extern "C" fn report_thread() -> ! {
    crate::sched::kernel_thread_prologue();
    let due_ns = DUE
        .get()
        .map_or(u64::MAX, |s| s.saturating_mul(crate::time::NSEC_PER_SEC));
    while crate::time::monotonic_ns() < due_ns {
        crate::sched::sleep_until(crate::sched::ticks() + LOOK_EVERY_TICKS);
    }
    report(&mut crate::log::SerialWriter);
    loop {
        crate::sched::sleep_until(u64::MAX);
    }
}

/// Prints the report: every process's threads, then the kernel's own.
fn report(w: &mut dyn Write) {
    let secs = crate::time::monotonic_ns() / crate::time::NSEC_PER_SEC;
    let _ = writeln!(
        w,
        "[kentry] hang report at {secs} s (kentry.hang_report): every task, asleep ones with their kernel backtrace"
    );
    for p in crate::process::all_user_processes() {
        let threads = p.other_threads(0);
        if threads.is_empty() {
            let _ = writeln!(
                w,
                "[kentry]   pid {} ({}): no thread left, exit {:?}",
                p.pid,
                p.name.lock(),
                p.exit_reason()
            );
        }
        for t in &threads {
            task_lines(w, &p, t);
        }
    }
    let k = crate::process::kernel_process();
    for t in &k.other_threads(0) {
        task_lines(w, &k, t);
    }
    let _ = writeln!(w, "[kentry] hang report end");
}

/// One task: its line, and its backtrace if it sleeps in the kernel.
fn task_lines(w: &mut dyn Write, p: &Arc<Process>, t: &Task) {
    let state = crate::fs::proc_task::state_letter(p, Some(t));
    let on_cpu = t.sched.on_cpu.load(Ordering::Acquire);
    let _ = write!(
        w,
        "[kentry]   pid {} tid {} ({}) {} cpu {}{} sigpending {:#x}/{:#x} blocked {:#x} work {:#x}",
        p.pid,
        t.tid,
        p.name.lock(),
        state,
        t.sched.cpu.load(Ordering::Relaxed),
        if on_cpu { " (running)" } else { "" },
        t.sig_pending.bits(),
        p.sig_pending.bits(),
        t.blocked_seen.load(Ordering::Relaxed),
        t.entry.pending_work(),
    );
    let asleep = t.state() == TaskState::Blocked && !on_cpu;
    if t.is_user() && asleep {
        // SAFETY: the top of a user task's kernel stack is its user frame, written when it
        // last entered the kernel; it sleeps, so this is that moment's frame (a wake-up
        // meanwhile makes it a snapshot, as /proc/PID/syscall's).
        let r = unsafe { *t.entry.user_regs() };
        if r.orig_rax == u64::MAX {
            let _ = write!(w, " not in a syscall, user rip {:#x}", r.rip);
        } else {
            let _ = write!(
                w,
                " in syscall {} ({}), user rip {:#x}",
                r.orig_rax as i64,
                kentry_abi::name(r.orig_rax as usize),
                r.rip
            );
        }
    }
    let _ = writeln!(w);
    if asleep {
        backtrace(w, t);
    }
}

/// The kernel backtrace of sleeping task `t`, from the frame its last switch left.
fn backtrace(w: &mut dyn Write, t: &Task) {
    // SAFETY: a task's kernel stack stays mapped while the task exists, and `t` does (the
    // caller holds it); the values are a snapshot, only printed.
    let Some(f) = (unsafe { t.entry.switch_frame() }) else {
        return;
    };
    let Some((stack, _)) = crate::mm::stack::find(f.rsp) else {
        return;
    };
    let _ = writeln!(w, "[kentry]     {}", Sym(f.rip));
    // A return address points after its call: start the walk inside the call, as the
    // unwinder does for every frame but a fault's.
    let start = crate::unwind::Frame {
        rip: f.rip - 1,
        rsp: f.rsp,
        rbp: f.rbp,
    };
    let mut last = 0;
    crate::unwind::walk(start, stack.bottom, stack.top, 32, |ret| {
        if ret != last {
            let _ = writeln!(w, "[kentry]     {}", Sym(ret));
        }
        last = ret;
    });
}

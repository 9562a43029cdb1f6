//! `kentry.mode=bench-nohz` (with `nohz_full=N`, on `-smp 2`): the nohz_full figures of
//! `cargo xtask bench --smp` (docs/bench.md "Per-CPU figures"), on the first nohz_full CPU:
//! - `getpid-nohz`: `/bin/bench_nohz` runs there (the getpid loop of `/bin/bench`, context
//!   tracking on since nohz_full needs it, the tick stopped once it runs alone in user mode)
//!   and prints its `bench getpid-nohz …` line and `bench-irqs getpid-nohz …`, the CPU's
//!   /proc/interrupts rows (LOC, RES, CAL, TLB, NMI) over the run: the `nohz-ticks` figure;
//! - `rcu-gp-user`: `/bin/spin` spins in ring 3 on that CPU (an extended quiescent state
//!   that RCU reads from its context-tracking counter: no IPI, no tick), while this thread on
//!   CPU 0 runs [`GP_BATCHES`] batches of [`GP_ITERS`] `synchronize_rcu` calls after one
//!   warm-up batch. Each batch lies between two marks (`ds rdtsc`, as the IPI bench's
//!   sender), so the insn-count plugin gives CPU 0's instructions per grace period: the
//!   caller, the RCU thread it wakes there (kernel/src/rcu/callbacks.rs), the switches
//!   between them and whatever CPU 0's own tick adds. The kernel prints
//!   `bench rcu-gp-user-tsc …`, TSC ticks per grace period (host time under TCG:
//!   indicative), and `bench-irqs rcu-gp-user …`: what the spinning CPU took meanwhile (goal:
//!   nothing), with its syscalls and how RCU found its quiescent states.
//!
//! The boot fails if there is no nohz_full CPU, if context tracking is off, if a program
//! fails, or if the spinner is not spinning in ring 3 with its tick stopped before and
//! through the batches; xtask checks the figures (bench_nohz.rs there).

use crate::bench_smp::marked_rdtsc;
use crate::percpu::{EntryCounters, cpu_area};
use crate::power::ExitCode;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use kentry::context_tracking::{CONTEXT_TRACKING, CtState};

/// Grace periods per batch.
pub const GP_ITERS: u64 = 100;
/// Timed batches (after one warm-up batch).
pub const GP_BATCHES: usize = 11;
/// How long the spinner may take to reach ring 3 with its tick stopped.
const SPINNER_START_NS: u64 = 5_000_000_000;

/// `kentry.mode=bench-nohz`: both figures on the first nohz_full CPU.
pub fn run() -> ExitCode {
    let mask = crate::nohz::full_mask();
    if mask == 0 {
        crate::klog!("bench-nohz: needs a nohz_full CPU (nohz_full=1 on -smp 2)");
        return ExitCode::Failed;
    }
    if !CONTEXT_TRACKING.is_enabled() {
        crate::klog!("bench-nohz: context tracking is off, but nohz_full turns it on");
        return ExitCode::Failed;
    }
    let cpu = mask.trailing_zeros() as usize;
    crate::klog!("bench-nohz: nohz_full CPU {cpu}");
    let old = crate::sched::pin_current(1 << cpu);
    // The program inherits the mask: it runs on `cpu` alone, this thread waits for it.
    let code = crate::bench::run_program_mode("/bin/bench_nohz", &[]);
    crate::sched::pin_current(1 << 0);
    let code_gp = grace_periods_while_spinning(cpu);
    crate::sched::pin_current(old);
    if code != ExitCode::Done {
        return code;
    }
    code_gp
}

/// What a CPU took, read from its counters (its /proc/interrupts rows and more).
#[derive(Clone, Copy)]
struct Taken {
    loc: u64,
    res: u64,
    cal: u64,
    tlb: u64,
    nmi: u64,
    /// Every interrupt, from user mode or kernel mode (LOC, RES, CAL, TLB among them).
    irqs: u64,
    /// Exceptions, from user mode or kernel mode.
    exceptions: u64,
    syscalls: u64,
}

impl Taken {
    fn of(c: &EntryCounters) -> Self {
        let r = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Taken {
            loc: r(&c.timer_ticks),
            res: r(&c.ipi_reschedule),
            cal: r(&c.ipi_call),
            tlb: r(&c.ipi_tlb),
            nmi: r(&c.nmis),
            irqs: r(&c.irq_from_user) + r(&c.irq_from_kernel),
            exceptions: r(&c.exceptions_from_user) + r(&c.exceptions_from_kernel),
            syscalls: r(&c.syscalls),
        }
    }

    fn since(self, before: Taken) -> Taken {
        Taken {
            loc: self.loc - before.loc,
            res: self.res - before.res,
            cal: self.cal - before.cal,
            tlb: self.tlb - before.tlb,
            nmi: self.nmi - before.nmi,
            irqs: self.irqs - before.irqs,
            exceptions: self.exceptions - before.exceptions,
            syscalls: self.syscalls - before.syscalls,
        }
    }
}

/// Starts `/bin/spin` on `cpu` and waits until it runs there in ring 3 with the tick
/// stopped (this thread sleeps on CPU 0 meanwhile).
fn start_spinner(cpu: usize) -> Result<Arc<crate::process::Process>, &'static str> {
    let old = crate::sched::pin_current(1 << cpu);
    let argv: [&[u8]; 1] = [b"/bin/spin"];
    let envp: [&[u8]; 1] = [b"PATH=/bin"];
    let p = crate::exec::image_for_kernel("/bin/spin", &argv, &envp).map(|(image, exe)| {
        let p = crate::process::spawn("/bin/spin", image, &crate::process::kernel_process());
        crate::fs::set_exe(&p, &exe);
        p
    });
    crate::sched::pin_current(old);
    let p = p.map_err(|_| "cannot start /bin/spin")?;
    let t0 = crate::time::monotonic_ns();
    while !spinning_quietly(cpu) {
        if crate::time::monotonic_ns() - t0 > SPINNER_START_NS {
            stop_spinner(&p);
            return Err("the spinner never ran in ring 3 with its tick stopped");
        }
        crate::sched::sleep_until(crate::sched::ticks() + 1);
        // sleep_until returns with interrupts off, as it blocked.
        x86_64::instructions::interrupts::enable();
    }
    Ok(p)
}

/// `cpu` is in user mode (an EQS for RCU) with its tick stopped.
fn spinning_quietly(cpu: usize) -> bool {
    cpu_area(cpu).entry.context_tracking.state() == CtState::User as u64
        && crate::nohz::tick_stopped(cpu)
}

fn stop_spinner(p: &Arc<crate::process::Process>) {
    crate::signal::send_to_process(p, crate::signal::SIGKILL);
    let _ = crate::process::wait_child(&crate::process::kernel_process(), p.pid as i32, false);
}

/// The `rcu-gp-user` figure (see the module comment); this thread is on CPU 0.
fn grace_periods_while_spinning(cpu: usize) -> ExitCode {
    let p = match start_spinner(cpu) {
        Ok(p) => p,
        Err(e) => {
            crate::klog!("bench-nohz: {e}");
            return ExitCode::Failed;
        }
    };
    let counters = &cpu_area(cpu).counters;
    let qs = |a: &[core::sync::atomic::AtomicU64]| a[cpu].load(Ordering::Relaxed);
    let before = Taken::of(counters);
    let (ct0, rep0) = (
        qs(&crate::rcu::QS_STATS.by_ct),
        qs(&crate::rcu::QS_STATS.by_report),
    );
    let gps0 = crate::rcu::completed();
    let mut per = [0u64; GP_BATCHES];
    for batch in 0..=GP_BATCHES {
        let start = marked_rdtsc();
        for _ in 0..GP_ITERS {
            crate::rcu::synchronize_rcu();
        }
        let ticks = marked_rdtsc() - start;
        // Batch 0 is the warm-up.
        if batch > 0 {
            per[batch - 1] = (ticks + GP_ITERS / 2) / GP_ITERS;
        }
    }
    let gps = crate::rcu::completed() - gps0;
    let taken = Taken::of(counters).since(before);
    let (by_ct, by_report) = (
        qs(&crate::rcu::QS_STATS.by_ct) - ct0,
        qs(&crate::rcu::QS_STATS.by_report) - rep0,
    );
    let still = p.exit_reason().is_none() && spinning_quietly(cpu);
    stop_spinner(&p);
    if !still || taken.syscalls != 0 {
        crate::klog!(
            "bench-nohz: the spinner on CPU {cpu} left ring 3 or its tick restarted during the grace periods ({} syscalls)",
            taken.syscalls
        );
        return ExitCode::Failed;
    }
    per.sort_unstable();
    crate::klog!(
        "bench rcu-gp-user-tsc median={} min={} max={} iters={GP_ITERS} batches={GP_BATCHES}",
        per[GP_BATCHES / 2],
        per[0],
        per[GP_BATCHES - 1]
    );
    // One line: xtask reads it whole (bench_nohz.rs there).
    crate::klog!(
        "bench-irqs rcu-gp-user cpu={cpu} LOC={} RES={} CAL={} TLB={} NMI={} irqs={} exceptions={} syscalls={} gps={gps} qs-ct={by_ct} qs-report={by_report}",
        taken.loc,
        taken.res,
        taken.cal,
        taken.tlb,
        taken.nmi,
        taken.irqs,
        taken.exceptions,
        taken.syscalls
    );
    ExitCode::Done
}

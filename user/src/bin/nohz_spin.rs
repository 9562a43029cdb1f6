//! The ring-3 side of the `nohz_full_spin` kernel test (docs/nohz.md).
//!
//! - `nohz_spin spin CPU MS`: moves itself onto CPU (sched_setaffinity), spins there 200 ms
//!   to settle, then reads that CPU's row of `/proc/interrupts` (NMI, LOC, RES, CAL, TLB) and
//!   its own `getrusage` user and system time, spins MS ms in user mode (a busy loop with a
//!   `clock_gettime` every ~1/4 ms to see the time), reads both again and prints the deltas
//!   as KTAP: each interrupt count must be 0 (nothing disturbed the nohz_full CPU), and the
//!   user time must be within ±10 % of the spin. Then it forks a child (on the same CPU,
//!   by inheritance) and both spin 300 ms: the CPU must take timer interrupts again, since
//!   two tasks need the tick for time slicing. Once the child is reaped, a 300 ms spin alone
//!   must see the tick stopped again.
//! - `nohz_spin load MS`: the disturbance on the other CPUs: allowed on every CPU, it forks,
//!   execs `nohz_spin exit`, waits, and mmaps/touches/munmaps (a TLB shootdown of its own
//!   address space), again and again for MS ms. Where its tasks run is the scheduler's
//!   choice: it must keep them off a nohz_full CPU that runs a task.
//! - `nohz_spin exit`: exits 0 (what `load` execs).
//!
//! Syscalls: sched_setaffinity, getcpu, clock_gettime, open, read, close, getrusage, fork,
//! execve, wait4, mmap, munmap, exit_group, write.

#![no_std]
#![no_main]

use kentry_user::ktap::Ktap;
use kentry_user::procfs::interrupt_counts;
use kentry_user::rt::Args;
use kentry_user::sys::{self, nr};
use kentry_user::{diag, entry, println};

entry!(main);

const CLOCK_MONOTONIC: usize = 1;
const RUSAGE_SELF: usize = 0;
/// The KTAP result for each row of /proc/interrupts the test reads
/// (`kentry_user::procfs::IRQ_ROWS`: LOC, RES, CAL, TLB, NMI).
const ROW_RESULTS: [&str; 5] = [
    "loc_delta_zero",
    "res_delta_zero",
    "cal_delta_zero",
    "tlb_delta_zero",
    "nmi_delta_zero",
];

fn now_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: the kernel writes one struct timespec into `ts`.
    unsafe { sys::syscall2(nr::CLOCK_GETTIME, CLOCK_MONOTONIC, ts.as_mut_ptr() as usize) };
    ts[0] as u64 * 1_000_000_000 + ts[1] as u64
}

/// (user, system) CPU time of this process, ns.
fn rusage_ns() -> (u64, u64) {
    let mut ru = [0i64; 18];
    // SAFETY: the kernel writes one struct rusage (144 bytes) into `ru`.
    unsafe { sys::syscall2(nr::GETRUSAGE, RUSAGE_SELF, ru.as_mut_ptr() as usize) };
    let tv = |i: usize| ru[i] as u64 * 1_000_000_000 + ru[i + 1] as u64 * 1000;
    (tv(0), tv(2))
}

/// User-mode work between two looks at the clock: ~1/4 ms under QEMU TCG.
fn busy_user_work() {
    let mut x = 0u64;
    for i in 0..20_000u64 {
        x = core::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    core::hint::black_box(x);
}

fn spin_for(ns: u64) {
    let end = now_ns() + ns;
    while now_ns() < end {
        busy_user_work();
    }
}

fn pin(cpu: usize) -> bool {
    let mask: [u64; 16] = core::array::from_fn(|i| if i == cpu / 64 { 1 << (cpu % 64) } else { 0 });
    // SAFETY: sched_setaffinity only reads the mask; getcpu writes one u32.
    unsafe {
        if sys::syscall3(nr::SCHED_SETAFFINITY, 0, 128, mask.as_ptr() as usize) != 0 {
            return false;
        }
        let mut on = u32::MAX;
        sys::syscall3(nr::GETCPU, &raw mut on as usize, 0, 0);
        on as usize == cpu
    }
}

fn spin(cpu: usize, ms: u64) -> i32 {
    let mut k = Ktap::new(9);
    if !k.result(pin(cpu), format_args!("on_cpu_{cpu}")) {
        return k.finish();
    }
    spin_for(200_000_000);
    let (Some(before), (u0, s0), t0) = (interrupt_counts(cpu), rusage_ns(), now_ns()) else {
        diag!("cannot read /proc/interrupts");
        return 1;
    };
    spin_for(ms * 1_000_000);
    let (t1, (u1, s1), after) = (now_ns(), rusage_ns(), interrupt_counts(cpu));
    let Some(after) = after else {
        diag!("cannot read /proc/interrupts");
        return 1;
    };
    let spun = t1 - t0;
    let (user, system) = (u1 - u0, s1 - s0);
    diag!(
        "cpu {cpu} during a {} ms user-mode spin: LOC {} RES {} CAL {} TLB {} NMI {}; utime {} ms, stime {} ms",
        spun / 1_000_000,
        after[0] - before[0],
        after[1] - before[1],
        after[2] - before[2],
        after[3] - before[3],
        after[4] - before[4],
        user / 1_000_000,
        system / 1_000_000
    );
    for (i, name) in ROW_RESULTS.iter().enumerate() {
        k.eq(after[i] - before[i], 0, name);
    }
    let within = user.abs_diff(spun) <= spun / 10;
    if !within {
        diag!("utime {} ns for a spin of {} ns", user, spun);
    }
    k.result(within, "utime_matches_spin");
    k.result(
        second_task_restarts_tick(cpu),
        "tick_restarts_for_second_task",
    );
    k.result(alone_again_stops_tick(cpu), "tick_stops_again_alone");
    k.finish()
}

/// A second task on the CPU (a forked child, which inherits the affinity) needs the tick
/// for time slicing: both spin 300 ms, and the CPU must take timer interrupts meanwhile.
fn second_task_restarts_tick(cpu: usize) -> bool {
    let Some(before) = interrupt_counts(cpu) else {
        return false;
    };
    // SAFETY: fork; the child only spins and exits; wait4 reaps it.
    let pid = unsafe { sys::syscall0(nr::FORK) };
    if pid == 0 {
        spin_for(300_000_000);
        sys::exit_group(0);
    }
    if pid < 0 {
        diag!("fork failed ({pid})");
        return false;
    }
    spin_for(300_000_000);
    let ticks = interrupt_counts(cpu).map_or(0, |after| after[0] - before[0]);
    let mut status = -1i32;
    // SAFETY: wait4 writes one int.
    unsafe { sys::syscall4(nr::WAIT4, pid as usize, &raw mut status as usize, 0, 0) };
    diag!("cpu {cpu} with a second task for 300 ms: LOC {ticks}; the child ended with {status:#x}");
    ticks > 0 && status == 0
}

/// Once the second task is gone the CPU runs one task again, and its tick must stop again:
/// after 50 ms to settle, a 300 ms spin sees no timer interrupt.
fn alone_again_stops_tick(cpu: usize) -> bool {
    spin_for(50_000_000);
    let Some(before) = interrupt_counts(cpu) else {
        return false;
    };
    spin_for(300_000_000);
    let ticks = interrupt_counts(cpu).map_or(u64::MAX, |after| after[0] - before[0]);
    diag!("cpu {cpu} alone again for 300 ms: LOC {ticks}");
    ticks == 0
}

fn load(ms: u64) -> i32 {
    // Free to run anywhere, so that placement is what keeps its tasks off a nohz_full CPU
    // that runs a task.
    let all = [u64::MAX; 16];
    // SAFETY: sched_setaffinity only reads the mask.
    if unsafe { sys::syscall3(nr::SCHED_SETAFFINITY, 0, 128, all.as_ptr() as usize) } != 0 {
        println!("# load: sched_setaffinity to every CPU failed");
        return 1;
    }
    let end = now_ns() + ms * 1_000_000;
    let mut rounds = 0u64;
    while now_ns() < end {
        // SAFETY: fork; the child execs `nohz_spin exit` (or exits if exec fails); wait4 reaps
        // it. The mapping is this process's own, touched and unmapped here.
        unsafe {
            let pid = sys::syscall0(nr::FORK);
            if pid == 0 {
                let argv = [c"nohz_spin".as_ptr(), c"exit".as_ptr(), core::ptr::null()];
                let envp = [core::ptr::null::<u8>()];
                sys::syscall3(
                    nr::EXECVE,
                    c"/bin/nohz_spin".as_ptr() as usize,
                    argv.as_ptr() as usize,
                    envp.as_ptr() as usize,
                );
                sys::exit_group(127);
            }
            if pid < 0 {
                println!("# load: fork failed ({pid})");
                return 1;
            }
            let mut status = 0i32;
            sys::syscall4(nr::WAIT4, pid as usize, &raw mut status as usize, 0, 0);
            if status != 0 {
                println!("# load: child ended with status {status:#x}");
                return 1;
            }
            let p = sys::syscall6(nr::MMAP, 0, 8192, 3, 0x22, usize::MAX, 0);
            if p > 0 {
                (p as *mut u8).write_volatile(1);
                sys::syscall2(nr::MUNMAP, p as usize, 8192);
            }
        }
        rounds += 1;
    }
    println!("# load: {rounds} rounds of fork, exec, wait, mmap/munmap");
    0
}

fn main(args: Args) -> i32 {
    let num = |i| args.get_str(i).and_then(|s: &str| s.parse::<u64>().ok());
    match (args.get_str(1), num(2), num(3)) {
        (Some("spin"), Some(cpu), Some(ms)) if cpu < 1024 => spin(cpu as usize, ms),
        (Some("load"), Some(ms), _) => load(ms),
        (Some("exit"), _, _) => 0,
        _ => {
            println!("usage: nohz_spin spin CPU MS | load MS | exit");
            2
        }
    }
}

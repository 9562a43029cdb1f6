//! `bench_nohz`: getpid on a `nohz_full` CPU, and what that CPU received meanwhile
//! (docs/bench.md "Per-CPU figures"). Run on the nohz_full CPU: by kentry's `bench-nohz`
//! mode (kernel/src/bench_nohz.rs), and on Linux as `pin 1 /bench_nohz` with
//! `nohz_full=1 isolcpus=1`.
//!
//! Prints:
//! - `bench getpid-nohz median=… min=… max=… iters=… batches=…`: the `getpid` loop of
//!   `/bin/bench` (kentry_user::bench::bench_syscall: the same marked regions, so xtask counts
//!   it with the insn-count plugin as it counts `getpid`);
//! - `bench-irqs getpid-nohz cpu=<n> LOC=… RES=… CAL=… TLB=… NMI=…`: that CPU's rows of
//!   `/proc/interrupts`, read before the warm-up loop and after the last batch: timer
//!   interrupts, reschedule, call-function and TLB IPIs, NMIs during the whole run (goal 0;
//!   Linux keeps a 1 Hz residual tick on a nohz_full CPU).
//!
//! Mounts procfs on /proc first if there is none (Linux with this program under `pin` as
//! init). Fails (status 1) if it cannot read /proc/interrupts or its CPU.
//!
//! Syscalls: getcpu, open, read, close, mkdir, mount, getpid, write, ioctl (TCSBRK),
//! exit_group.

#![no_std]
#![no_main]

use kentry_user::procfs::{IRQ_ROWS, interrupt_counts, mount_proc};
use kentry_user::sys::{self, nr};
use kentry_user::{entry, println};

entry!(main);

/// Round trips per batch and batches: as `/bin/bench`'s getpid.
const N: u64 = 10_000;
const BATCHES: usize = 15;
/// The path of the bench line, and of the interrupt line that goes with it.
const PATH: &str = "getpid-nohz";

/// The CPU this program runs on (getcpu).
fn this_cpu() -> Option<usize> {
    let mut cpu = u32::MAX;
    // SAFETY: getcpu writes one u32 to `cpu`; the other two pointers are NULL.
    let r = unsafe { sys::syscall3(nr::GETCPU, &raw mut cpu as usize, 0, 0) };
    (r == 0).then_some(cpu as usize)
}

fn main(_args: kentry_user::rt::Args) -> i32 {
    if !mount_proc() {
        println!("bench_nohz: cannot read /proc/interrupts");
        return 1;
    }
    let Some(cpu) = this_cpu() else {
        println!("bench_nohz: getcpu failed");
        return 1;
    };
    let Some(before) = interrupt_counts(cpu) else {
        println!("bench_nohz: no CPU {cpu} column in /proc/interrupts");
        return 1;
    };
    kentry_user::bench::bench_syscall::<BATCHES>(PATH, nr::GETPID as u64, N);
    let (Some(after), Some(cpu_after)) = (interrupt_counts(cpu), this_cpu()) else {
        println!("bench_nohz: cannot read /proc/interrupts or getcpu after the run");
        return 1;
    };
    if cpu_after != cpu {
        println!("bench_nohz: moved from CPU {cpu} to CPU {cpu_after} during the run");
        return 1;
    }
    let d: [u64; 5] = core::array::from_fn(|i| after[i].wrapping_sub(before[i]));
    let r = IRQ_ROWS;
    // One line, one write: xtask reads it whole.
    println!(
        "bench-irqs {PATH} cpu={cpu} {}={} {}={} {}={} {}={} {}={}",
        r[0], d[0], r[1], d[1], r[2], d[2], r[3], d[3], r[4], d[4]
    );
    // The last line before exit: whole on the serial port before Linux's panic at init's exit.
    sys::drain(1);
    0
}

//! Page-fault costs (spec/bench.md paths `pf-zero` and the fresh-page read), in the format of
//! `bench`:
//! `bench <path> median=<ticks> min=<ticks> max=<ticks> iters=<n> batches=<k>`
//! with ticks per fault, the cost of the same loop without faults subtracted; lines starting
//! with `#` are comments.
//!
//! - `pf-zero`: the first write to a fresh anonymous page (a zeroed page is allocated and
//!   mapped, and the write retried).
//! - `pf-read`: the first read of a fresh anonymous page (the shared zero page is mapped
//!   read-only, and the read retried).
//!
//! Method: each batch maps [`N`] fresh pages (`mmap` of private anonymous memory, with
//! MADV_NOHUGEPAGE so that a Linux host with transparent huge pages also takes one fault per
//! 4 KiB page), then times with `lfence; rdtsc` a loop touching each page once (one fault per
//! iteration), then the same loop over the same pages again (no faults: the loop's own cost),
//! and unmaps the pages. The figure of a batch is (first loop - second loop) / N, rounded;
//! median/min/max are over [`BATCHES`] batches after a warm-up batch. Under
//! `-icount shift=0` a tick is one instruction: the figure is the instruction count of a
//! fault round trip, the faulting instruction included, and a `rep` string instruction counts
//! once per iteration — the page clear of `pf-zero` (`rep stosq`, 512 iterations on kentry)
//! is part of the figure; a `#` line gives it with the clear counted once too.
//!
//! Syscalls: mmap, madvise, munmap, write, ioctl (TCSBRK, after each bench line), exit_group.

#![no_std]
#![no_main]

use kentry_user::bench::{report, stats};
use kentry_user::sys::{self, nr};
use kentry_user::{entry, println, timed_asm};

entry!(main);

/// Pages (faults) per batch.
const N: usize = 10_000;
/// Timed batches per path.
const BATCHES: usize = 15;
const PAGE: usize = 4096;

const PROT_RW: usize = 3;
const MAP_PRIVATE_ANON: usize = 0x22;
const MADV_NOHUGEPAGE: usize = 14;

/// Iterations of `rep stosq` in kentry's page clear (one per 8 bytes).
const CLEAR_ITERATIONS: u64 = (PAGE / 8) as u64;

#[derive(Clone, Copy, PartialEq)]
enum Touch {
    Write,
    Read,
}

/// Ticks for one pass over `n` pages from `base`: a byte written (or read) per page.
#[inline(never)]
fn pass(base: usize, n: usize, touch: Touch) -> u64 {
    // SAFETY: [base, base + n pages) is a private anonymous read-write mapping of this
    // program; the loop only writes one byte per page (or reads it); the pointer and counter
    // are scratch registers.
    unsafe {
        if touch == Touch::Write {
            timed_asm!(
                ["2:", "mov byte ptr [{p}], 1", "add {p}, 4096", "dec {n}", "jnz 2b"],
                [p = inout(reg) base => _, n = inout(reg) n => _,],
                [options(nostack),]
            )
        } else {
            timed_asm!(
                ["2:", "mov {v:l}, byte ptr [{p}]", "add {p}, 4096", "dec {n}", "jnz 2b"],
                [p = inout(reg) base => _, n = inout(reg) n => _, v = out(reg) _,],
                [options(nostack, readonly),]
            )
        }
    }
}

/// One batch: ticks per fault (faulting pass minus the fault-free pass), or None when the
/// memory could not be mapped.
fn batch(touch: Touch) -> Option<u64> {
    let len = N * PAGE;
    // SAFETY: a new private anonymous mapping; nothing else in the program uses it.
    let r = unsafe { sys::syscall6(nr::MMAP, 0, len, PROT_RW, MAP_PRIVATE_ANON, usize::MAX, 0) };
    if r < 0 {
        println!("# mmap of {len} bytes failed: {r}");
        return None;
    }
    let base = r as usize;
    // SAFETY: advice on this program's own mapping (ignored where unsupported).
    unsafe { sys::syscall3(nr::MADVISE, base, len, MADV_NOHUGEPAGE) };
    let faulting = pass(base, N, touch);
    let plain = pass(base, N, touch);
    // SAFETY: unmaps the batch's own mapping, which nothing references any more.
    unsafe { sys::syscall2(nr::MUNMAP, base, len) };
    Some((faulting.saturating_sub(plain) + N as u64 / 2) / N as u64)
}

fn bench(path: &str, touch: Touch) {
    if batch(touch).is_none() {
        return;
    }
    let mut per = [0u64; BATCHES];
    for p in per.iter_mut() {
        match batch(touch) {
            Some(t) => *p = t,
            None => return,
        }
    }
    per.sort_unstable();
    if touch == Touch::Write {
        let (median, ..) = stats(&per);
        println!(
            "# {path}: {} with the page clear ({CLEAR_ITERATIONS} rep iterations on kentry) counted once",
            median.saturating_sub(CLEAR_ITERATIONS - 1)
        );
    }
    report(path, &mut per, N as u64);
}

fn main(_args: kentry_user::rt::Args) -> i32 {
    println!("# kentry bench_mem: {BATCHES} batches of {N} page faults, ticks per fault");
    bench("pf-zero", Touch::Write);
    bench("pf-read", Touch::Read);
    0
}

//! TLB shootdown: after a user page-table entry loses a page or a right, every other CPU
//! that may cache it flushes before the change counts as done.
//!
//! Which CPUs: those whose CR3 holds the address space's root (`ACTIVE_ROOT`, written by the
//! scheduler before it loads CR3). A CPU that loads the root after the entry changed starts
//! with a TLB clear of it (no PCIDs, so a CR3 load drops every non-global entry); one that
//! loaded it before is seen here, since the entry is written before `ACTIVE_ROOT` is read and
//! the scheduler writes `ACTIVE_ROOT` before its CR3 load (both SeqCst).

use super::{ipi, online_mask, this_cpu_id};
use crate::percpu::{EntryCounters, MAX_CPUS, this_cpu};
use core::sync::atomic::{AtomicU64, Ordering};

static ACTIVE_ROOT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// The scheduler is about to load `root` into this CPU's CR3.
pub fn note_root(root: u64) {
    ACTIVE_ROOT[this_cpu_id()].store(root, Ordering::SeqCst);
}

fn cr3_root() -> u64 {
    x86_64::registers::control::Cr3::read_raw()
        .0
        .start_address()
        .as_u64()
}

/// The other online CPUs whose CR3 holds `root` (or is about to: `note_root` comes first).
pub fn cpus_with_root(root: u64) -> u64 {
    let me = this_cpu_id();
    let online = online_mask();
    (0..MAX_CPUS)
        .filter(|&c| c != me && online & (1 << c) != 0)
        .filter(|&c| ACTIVE_ROOT[c].load(Ordering::SeqCst) == root)
        .fold(0, |m, c| m | 1 << c)
}

/// Flushes the address space with page-table root `root` from every other CPU that has it
/// loaded, and waits until they have. The caller flushed its own TLB.
pub fn shootdown(root: u64) {
    let me = this_cpu_id();
    let mut targets = 0u64;
    let online = online_mask();
    if online == 1 << me {
        return;
    }
    for cpu in (0..MAX_CPUS).filter(|&c| c != me && online & (1 << c) != 0) {
        if ACTIVE_ROOT[cpu].load(Ordering::SeqCst) == root {
            targets |= 1 << cpu;
        }
    }
    if targets == 0 {
        return;
    }
    ipi::call_on_mask(targets, &|| {
        EntryCounters::bump(&this_cpu().counters.ipi_tlb);
        let cr3 = cr3_root();
        if cr3 == root {
            // SAFETY: reloading CR3 with its own value only flushes non-global entries.
            unsafe {
                core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack))
            };
        }
    });
}

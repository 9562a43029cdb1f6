//! verify_loop's per-CPU workers: with a host and more than one CPU, the loop pins itself to
//! CPU 0 and forks one worker per other CPU, pinned there, which runs the same rounds until
//! the loop sets the stop word of the page they share.

use kentry_user::sys::{self, nr};

use super::{MAX_ROUNDS, OUTPUT_MAX, POLL_WORKER, Tally, arm_own_watchpoint, poll, round};

/// CPUs this process may run on (its affinity mask's bits), at most [`MAX_CPUS`].
pub(crate) fn online_cpus() -> usize {
    let mut mask = [0u64; MAX_CPUS / 64];
    // SAFETY: sched_getaffinity(0 = this thread, size, mask) writes at most `size` bytes.
    let r = unsafe {
        sys::syscall3(
            nr::SCHED_GETAFFINITY,
            0,
            core::mem::size_of_val(&mask),
            mask.as_mut_ptr() as usize,
        )
    };
    if r <= 0 {
        return 1;
    }
    mask.iter()
        .map(|w| w.count_ones() as usize)
        .sum::<usize>()
        .max(1)
}

/// Pins this process (and the children it forks after) to `cpu`.
pub(crate) fn pin(cpu: usize) -> bool {
    let mut mask = [0u64; MAX_CPUS / 64];
    mask[cpu / 64] = 1 << (cpu % 64);
    // SAFETY: sched_setaffinity(0 = this thread, size, mask) only reads the mask.
    unsafe {
        sys::syscall3(
            nr::SCHED_SETAFFINITY,
            0,
            core::mem::size_of_val(&mask),
            mask.as_ptr() as usize,
        ) == 0
    }
}

pub(crate) const MAX_CPUS: usize = 64;

/// The page the parent and its per-CPU workers share (MAP_SHARED): the stop word, and each
/// worker's tally when it ends.
#[repr(C)]
pub(crate) struct Shared {
    pub(crate) stop: core::sync::atomic::AtomicU32,
    pub(crate) tally: [Tally; MAX_CPUS],
}

/// A shared anonymous mapping for [`Shared`] (zeroed: stop = 0), or null.
pub(crate) fn map_shared() -> *mut Shared {
    const PROT_READ_WRITE: usize = 0x3;
    const MAP_SHARED_ANONYMOUS: usize = 0x01 | 0x20;
    // SAFETY: a fresh anonymous mapping; nothing else is affected.
    let r = unsafe {
        sys::syscall6(
            nr::MMAP,
            0,
            core::mem::size_of::<Shared>(),
            PROT_READ_WRITE,
            MAP_SHARED_ANONYMOUS,
            usize::MAX,
            0,
        )
    };
    if r < 0 {
        core::ptr::null_mut()
    } else {
        r as *mut Shared
    }
}

/// A worker on `cpu`: rounds until the parent sets the stop word, then its tally into
/// `shared`, and exit. Its children inherit the pin, so each CPU runs every checker.
pub(crate) fn worker(cpu: usize, shared: &Shared) -> ! {
    let mut t = Tally {
        armed: pin(cpu) && arm_own_watchpoint(),
        ..Tally::default()
    };
    let pid = sys::getpid();
    let mut out = [0u8; OUTPUT_MAX];
    let stopped = || shared.stop.load(core::sync::atomic::Ordering::Acquire) != 0;
    let mut stop = || {
        poll(POLL_WORKER);
        stopped()
    };
    while t.rounds < MAX_ROUNDS && !round(&mut t, pid, &mut out, true, &mut stop) && !stopped() {}
    let slot = &shared.tally[cpu] as *const Tally as *mut Tally;
    // SAFETY: slot `cpu` of the shared page is this worker's alone; the parent reads it after
    // wait4 has seen this process exit.
    unsafe { slot.write_volatile(t) };
    sys::exit_group(0)
}

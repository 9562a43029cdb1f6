//! Inter-processor interrupts: reschedule, call-function (one CPU or all others, waiting for
//! the result), TLB shootdown's vector, and NMI.
//!
//! Call-function: the caller owns the request (on its stack) and waits until every target
//! ran it, so the request outlives every use. One request is in flight at a time (`CALL_LOCK`).
//! A caller may have interrupts off (a TLB shootdown from the page-fault handler): while it
//! waits for the lock or for its targets it runs any request sent to itself
//! ([`poll_pending_call`]), so two CPUs asking each other at once both make progress. Every
//! other place that spins with interrupts off for something a requester may hold polls too
//! (the page-fault handler waiting for its address space's lock).

use super::{apic_id, cpus_in, is_online, online_mask, this_cpu_id};
use crate::percpu::{EntryCounters, MAX_CPUS, cpu_area, this_cpu};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

pub const RESCHEDULE_VECTOR: u8 = 0xfd;
pub const CALL_FUNCTION_VECTOR: u8 = 0xfc;
pub const TLB_VECTOR: u8 = 0xfb;

/// A call-function request: a type-erased function and its data, and how many targets have
/// yet to run it.
struct CallRequest {
    run: unsafe fn(*const ()),
    data: *const (),
    pending: AtomicU32,
}

/// Per CPU: the request it is to run (null: none).
static CALL_SLOT: [AtomicPtr<CallRequest>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];
static CALL_LOCK: crate::sync::Mutex<()> = crate::sync::Mutex::new(());

/// Sends a fixed-vector IPI to CPU `cpu`.
pub fn send(cpu: usize, vector: u8) {
    crate::x86::apic::send_icr(apic_id(cpu), crate::x86::apic::ICR_FIXED | vector as u32);
}

/// Asks CPU `cpu` to look at its run queue.
pub fn send_reschedule(cpu: usize) {
    send(cpu, RESCHEDULE_VECTOR);
}

/// Sends an NMI to CPU `cpu`. Takes no lock, so an NMI handler may use it.
pub fn send_nmi(cpu: usize) {
    crate::x86::apic::send_icr(apic_id(cpu), crate::x86::apic::ICR_NMI);
}

/// [`send_nmi`] from NMI context, safe even when the NMI split an IPI being sent by the code
/// it interrupted (`apic::send_icr_from_nmi`).
pub fn send_nmi_from_nmi(cpu: usize) {
    crate::x86::apic::send_icr_from_nmi(apic_id(cpu), crate::x86::apic::ICR_NMI);
}

/// Runs the request in this CPU's slot, if any: the call-function IPI's handler, and what a
/// CPU spinning with interrupts off calls so a requester waiting for it is answered.
pub fn poll_pending_call() {
    let me = this_cpu_id();
    let req = CALL_SLOT[me].swap(core::ptr::null_mut(), Ordering::AcqRel);
    if req.is_null() {
        return;
    }
    // SAFETY: the requester keeps the request alive until `pending` reaches 0, which needs
    // this CPU's decrement below; `run` matches `data` (made together in `call_on_mask`).
    unsafe {
        ((*req).run)((*req).data);
        (*req).pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The IPI vectors' handler (interrupts off); the caller sends the EOI.
pub fn handle(vector: u8) {
    let c = &this_cpu().counters;
    match vector {
        RESCHEDULE_VECTOR => {
            EntryCounters::bump(&c.ipi_reschedule);
            crate::sched::reschedule_ipi();
        }
        CALL_FUNCTION_VECTOR => {
            EntryCounters::bump(&c.ipi_call);
            poll_pending_call();
        }
        TLB_VECTOR => EntryCounters::bump(&c.ipi_tlb),
        _ => {}
    }
}

/// Runs `f` on every online CPU in `mask` except this one and waits until all have; returns
/// how many ran it.
pub fn call_on_mask<F: Fn() + Sync>(mask: u64, f: &F) -> u32 {
    call_on_mask_then(mask, f, || {})
}

/// [`call_on_mask`], running `sent` after the IPIs have gone out and before the wait for the
/// targets. The IPI round-trip bench (bench_smp.rs) marks there, so that the sending CPU's
/// instructions are counted apart from its wall-time-dependent wait; `call_on_mask` passes an
/// empty closure, which inlines to nothing.
#[inline(always)]
pub fn call_on_mask_then<F: Fn() + Sync, S: FnOnce()>(mask: u64, f: &F, sent: S) -> u32 {
    unsafe fn run<F: Fn()>(data: *const ()) {
        // SAFETY: `data` is the `&F` given below, alive until the request completes.
        unsafe { (*(data as *const F))() }
    }
    let me = this_cpu_id();
    let targets = mask & online_mask() & !(1u64 << me);
    if targets == 0 {
        return 0;
    }
    let req = CallRequest {
        run: run::<F>,
        data: f as *const F as *const (),
        pending: AtomicU32::new(targets.count_ones()),
    };
    let _serial = loop {
        if let Some(g) = CALL_LOCK.try_lock() {
            break g;
        }
        poll_pending_call();
        core::hint::spin_loop();
    };
    for cpu in cpus_in(targets) {
        CALL_SLOT[cpu].store(
            &req as *const CallRequest as *mut CallRequest,
            Ordering::Release,
        );
        send(cpu, CALL_FUNCTION_VECTOR);
    }
    sent();
    while req.pending.load(Ordering::Acquire) != 0 {
        poll_pending_call();
        core::hint::spin_loop();
    }
    targets.count_ones()
}

/// Runs `f` on CPU `cpu` (another online CPU) in interrupt context and returns its result.
/// `None` if `cpu` is this CPU or not online.
pub fn call_on<R: Send, F: FnOnce() -> R + Send>(cpu: usize, f: F) -> Option<R> {
    if cpu == this_cpu_id() || !is_online(cpu) {
        return None;
    }
    // Run exactly once, on one CPU: the cell is touched by that CPU only, while this one
    // waits.
    let cell = crate::sync::Mutex::new((Some(f), None));
    let ran = call_on_mask(1 << cpu, &|| {
        let mut c = cell.lock();
        if let Some(f) = c.0.take() {
            c.1 = Some(f());
        }
    });
    if ran == 0 {
        return None;
    }
    cell.into_inner().1
}

/// Runs `f` on every other online CPU and waits for all of them; returns how many ran it.
pub fn call_on_others<F: Fn() + Sync>(f: F) -> u32 {
    call_on_mask(u64::MAX, &f)
}

/// The online CPUs and their per-CPU areas (for /proc/interrupts).
pub fn online_cpus() -> impl Iterator<Item = (usize, &'static crate::percpu::PerCpu)> {
    (0..MAX_CPUS)
        .filter(|&n| is_online(n))
        .map(|n| (n, cpu_area(n)))
}

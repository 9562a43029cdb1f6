//! The read side: [`read_lock`] and its guard, and [`RcuBox`], a pointer that readers follow
//! without a lock and writers replace, freeing the old object after a grace period.
//!
//! A read-side critical section writes nothing shared: it disables preemption (Linux's
//! `rcu_read_lock` → `preempt_disable` without `CONFIG_PREEMPT_RCU`) and bumps this CPU's
//! nesting count (a plain load and store of a per-CPU word that no other CPU writes; an
//! interrupt that nests a section of its own restores it before it returns), which exists for
//! the debug checks — a context switch or `synchronize_rcu` inside a section is a bug, and
//! [`assert_no_read_section`] panics on it. Kernel code is preemptible inside preemptible
//! regions (preempt.rs), but a reader raises the preempt count, so neither an interrupt's
//! return nor a lock dropped inside it can switch the task away or move it to another CPU:
//! holding the guard is what keeps this CPU from passing a quiescent state (a context
//! switch), and a reader opened inside a region makes the region non-preemptible until the
//! guard drops.

use crate::percpu::MAX_CPUS;
use alloc::boxed::Box;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering, compiler_fence};

/// Per CPU: how deep in read-side critical sections the code running there is.
static NESTING: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// A read-side critical section, from [`read_lock`] to the guard's drop. Not `Send`: it
/// belongs to the CPU it was taken on.
pub struct RcuReadGuard {
    cpu: u32,
    _not_send: PhantomData<*const ()>,
}

/// Enters a read-side critical section. Never blocks. RCU must be watching this CPU (kernel
/// context, or an interrupt or NMI that made it watch): checked, since a reader in an
/// extended quiescent state would be invisible to grace periods.
#[inline]
pub fn read_lock() -> RcuReadGuard {
    // First: from here on this task stays on this CPU and is not switched away.
    crate::preempt::disable();
    let cpu = crate::smp::this_cpu_id();
    let n = &NESTING[cpu];
    n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    // The section's loads stay after the count (for the checks; correctness comes from this
    // CPU not passing a quiescent state while it holds the guard).
    compiler_fence(Ordering::SeqCst);
    if !crate::percpu::this_cpu()
        .entry
        .context_tracking
        .rcu_watching()
    {
        not_watching();
    }
    RcuReadGuard {
        cpu: cpu as u32,
        _not_send: PhantomData,
    }
}

#[cold]
#[inline(never)]
fn not_watching() -> ! {
    panic!("rcu_read_lock while RCU is not watching this CPU (extended quiescent state)")
}

impl Drop for RcuReadGuard {
    #[inline]
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        let n = &NESTING[self.cpu as usize];
        n.store(n.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        // Last: a preemption point if this ends the last non-preemptible level in a region.
        crate::preempt::enable();
    }
}

/// Whether this CPU is inside a read-side critical section.
pub fn in_read_section() -> bool {
    NESTING[crate::smp::this_cpu_id()].load(Ordering::Relaxed) != 0
}

/// Panics if this CPU is inside a read-side critical section: `what` (a context switch, a
/// sleep, `synchronize_rcu`) would end or wait on it.
#[inline]
pub fn assert_no_read_section(what: &str) {
    if in_read_section() {
        read_section_violation(what);
    }
}

#[cold]
#[inline(never)]
fn read_section_violation(what: &str) -> ! {
    panic!("RCU: {what} inside a read-side critical section")
}

/// An owned, heap-allocated `T` that readers reach through an atomic pointer, and that a
/// writer replaces as a whole (copy, update, publish): the old value is freed after a grace
/// period, so a reader that loaded it under its guard may use it until the guard drops.
/// Writers must be serialised by the caller (a lock of their own).
pub struct RcuBox<T: Send + Sync + 'static> {
    ptr: AtomicPtr<T>,
}

impl<T: Send + Sync + 'static> RcuBox<T> {
    /// A box holding `v`.
    pub fn new(v: T) -> Self {
        RcuBox {
            ptr: AtomicPtr::new(Box::into_raw(Box::new(v))),
        }
    }

    /// The current value, valid while `guard` lives (an acquire load: the value's contents
    /// as the writer published them).
    #[inline]
    pub fn get<'a>(&'a self, _guard: &'a RcuReadGuard) -> &'a T {
        // SAFETY: the pointer is always a live Box (set by new/replace); a replaced one is
        // freed only after a grace period, which waits for this guard's section to end.
        unsafe { &*self.ptr.load(Ordering::Acquire) }
    }

    /// The current value for the (serialised) writer, which no one else replaces meanwhile.
    pub fn get_for_writer(&self) -> &T {
        // SAFETY: as in get; the caller is the only writer, so the value is not freed while
        // this borrow lives.
        unsafe { &*self.ptr.load(Ordering::Acquire) }
    }

    /// Publishes `v` (release: its contents before the pointer) and frees the old value
    /// after a grace period.
    pub fn replace(&self, v: T) {
        let old = self.ptr.swap(Box::into_raw(Box::new(v)), Ordering::AcqRel);
        free_after_gp(old);
    }

    /// Publishes `v`, waits for a grace period ([`super::synchronize_rcu`]: sleeps) and
    /// drops the old value here: for writers that may sleep and want the old value gone now.
    pub fn replace_sync(&self, v: T) {
        let old = self.ptr.swap(Box::into_raw(Box::new(v)), Ordering::AcqRel);
        super::synchronize_rcu();
        // SAFETY: unpublished, and a grace period passed: no reader holds it.
        drop(unsafe { Box::from_raw(old) });
    }
}

impl<T: Send + Sync + 'static> Drop for RcuBox<T> {
    fn drop(&mut self) {
        // Readers that found this box may still hold its value: free it after a grace period.
        free_after_gp(*self.ptr.get_mut());
    }
}

/// A raw pointer handed to a callback on another CPU.
struct OwnedPtr<T>(*mut T);
// SAFETY: the pointer is the only handle to a Box<T> of a Send type.
unsafe impl<T: Send> Send for OwnedPtr<T> {}

impl<T> OwnedPtr<T> {
    /// Drops the box (taking `self` whole, so a closure captures the Send wrapper).
    ///
    /// # Safety
    /// The pointer came from `Box::into_raw` and nothing uses it any more.
    unsafe fn free(self) {
        // SAFETY: per the contract.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// Frees `p` (from `Box::into_raw`, unpublished) once every reader that could have found it
/// is done: Linux's `kfree_rcu`.
pub fn free_after_gp<T: Send + 'static>(p: *mut T) {
    if p.is_null() {
        return;
    }
    let owned = OwnedPtr(p);
    // SAFETY: unpublished, and the callback runs after a grace period: no reader holds it.
    super::call_rcu(move || unsafe { owned.free() });
}

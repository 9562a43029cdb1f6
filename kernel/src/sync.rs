//! The kernel's spin lock: `spin::Mutex` that holds preemption off while it is held (Linux's
//! `spin_lock` → `preempt_disable`), so that kernel code inside a preemptible region
//! (preempt.rs) is never preempted with a lock held. Without it a task preempted while
//! holding a lock would leave the next task on that CPU spinning on it forever (the spinner is
//! not preemptible, the holder cannot run). Acquiring first raises the count, then spins; the
//! guard releases the lock first, then drops the count (a preemption point if it reaches 0).
//!
//! Every lock in the kernel is this one; `spin::Mutex` itself is used nowhere else.

use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

/// A spin lock whose guard keeps the holder non-preemptible.
pub struct Mutex<T: ?Sized> {
    /// Test kernels: where it was taken in hardirq context and with interrupts on
    /// (lockcheck.rs).
    #[cfg(feature = "test-hooks")]
    usage: crate::lockcheck::LockUsage,
    inner: spin::Mutex<T>,
}

/// The held lock: derefs to the data; unlocks and re-enables preemption on drop.
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    guard: ManuallyDrop<spin::MutexGuard<'a, T>>,
}

impl<T> Mutex<T> {
    pub const fn new(v: T) -> Self {
        Mutex {
            #[cfg(feature = "test-hooks")]
            usage: crate::lockcheck::LockUsage::new(),
            inner: spin::Mutex::new(v),
        }
    }

    /// The data, the lock consumed.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Raises the preempt count, then spins until the lock is free. Test kernels first check
    /// the context (lockcheck.rs): never in an NMI-like handler, and never both in hardirq
    /// context and with interrupts on.
    #[inline]
    #[cfg_attr(feature = "test-hooks", track_caller)]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(feature = "test-hooks")]
        crate::lockcheck::on_lock(
            &self.usage,
            self as *const Self as *const (),
            core::panic::Location::caller(),
        );
        crate::preempt::disable();
        #[cfg(feature = "test-hooks")]
        let g = crate::lockcheck::lock_watched(
            &self.usage,
            &self.inner,
            core::panic::Location::caller(),
        );
        #[cfg(not(feature = "test-hooks"))]
        let g = self.inner.lock();
        MutexGuard {
            guard: ManuallyDrop::new(g),
        }
    }

    /// The lock if it is free now (the count is raised only while it is held).
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        crate::preempt::disable();
        match self.inner.try_lock() {
            Some(g) => Some(MutexGuard {
                guard: ManuallyDrop::new(g),
            }),
            None => {
                crate::preempt::enable();
                None
            }
        }
    }

    /// The data, through an exclusive reference (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Releases a lock whose holder will never release it (a panic or fault report that
    /// interrupted it). The holder's raised count is its own and stays as it is.
    ///
    /// # Safety
    /// As `spin::Mutex::force_unlock`: the holder must never touch the data again.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: per this function's contract.
        unsafe { self.inner.force_unlock() }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: ?Sized + core::fmt::Display> core::fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here; the field is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        crate::preempt::enable();
    }
}

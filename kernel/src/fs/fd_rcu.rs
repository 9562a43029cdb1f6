//! The descriptor table's lock-free read side: a process's [`FdTable`] stays under its lock
//! for every writer and for the fields only writers read, and a snapshot of its descriptors
//! is published under RCU for [`lookup`] (every fd-taking syscall's `get_file`).
//!
//! The snapshot is an immutable vector of `Weak<File>`, one per descriptor slot, rebuilt and
//! republished (copy, update, publish) when a guard that handed out `&mut FdTable` drops —
//! still under the lock, so publications are in the writers' order; the old one is freed
//! after a grace period. A lookup upgrades the `Weak` (increment-if-not-zero, like Linux's
//! `get_file_rcu`): the table's strong references alone decide when a file closes, exactly
//! as before, and a descriptor closed concurrently is simply not found (EBADF), as on Linux.

use super::{FdTable, File};
use crate::rcu::{RcuBox, read_lock};
use crate::sync::{Mutex, MutexGuard};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

type Snapshot = Vec<Option<Weak<File>>>;

/// A process's descriptor table: a lock for writers, a published snapshot for readers.
pub struct FdTableLock {
    table: Mutex<FdTable>,
    published: RcuBox<Snapshot>,
    /// Processes using this table (CLONE_FILES shares it; Linux's files_struct count): the
    /// last one out closes the descriptors.
    users: AtomicU32,
}

fn snapshot(t: &FdTable) -> Snapshot {
    t.fds
        .iter()
        .map(|e| e.as_ref().map(|e| Arc::downgrade(&e.file)))
        .collect()
}

impl FdTableLock {
    pub fn new(t: FdTable) -> Self {
        FdTableLock {
            published: RcuBox::new(snapshot(&t)),
            table: Mutex::new(t),
            users: AtomicU32::new(1),
        }
    }

    /// One more process uses the table (clone with CLONE_FILES).
    pub fn share(&self) {
        self.users.fetch_add(1, Ordering::AcqRel);
    }

    /// A process stops using the table (it ends, or execve gives it a copy of its own);
    /// the last one closes every descriptor.
    pub fn release(&self) {
        if self.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.lock().close_all();
        }
    }

    /// Whether other processes use it too.
    pub fn is_shared(&self) -> bool {
        self.users.load(Ordering::Acquire) > 1
    }

    /// The table, locked. A mutable use republishes the readers' snapshot when the guard
    /// drops.
    pub fn lock(&self) -> FdTableGuard<'_> {
        FdTableGuard {
            guard: self.table.lock(),
            published: &self.published,
            changed: false,
        }
    }

    /// The open file at `fd`, found without the lock (an RCU read).
    pub fn lookup(&self, fd: u64) -> Option<Arc<File>> {
        let g = read_lock();
        let slots = self.published.get(&g);
        slots.get(usize::try_from(fd).ok()?)?.as_ref()?.upgrade()
    }
}

/// The locked table; dereferenced mutably, it republishes the snapshot on drop.
pub struct FdTableGuard<'a> {
    guard: MutexGuard<'a, FdTable>,
    published: &'a RcuBox<Snapshot>,
    changed: bool,
}

impl Deref for FdTableGuard<'_> {
    type Target = FdTable;
    fn deref(&self) -> &FdTable {
        &self.guard
    }
}

impl DerefMut for FdTableGuard<'_> {
    fn deref_mut(&mut self) -> &mut FdTable {
        self.changed = true;
        &mut self.guard
    }
}

impl Drop for FdTableGuard<'_> {
    fn drop(&mut self) {
        if self.changed {
            // Under the lock still (the guard field drops after this body).
            self.published.replace(snapshot(&self.guard));
        }
    }
}

//! A process's descriptor table (with what Linux keeps in fs_struct: working directory,
//! umask, program path), which clone(CLONE_FILES) shares between processes.
//!
//! The table is reached through an RCU-published pointer: every descriptor lookup reads it
//! without a lock, and execve in a process that shares its table replaces it with a private
//! copy (Linux's unshare_files), the only change of the pointer after the process is made.

use super::Process;
use crate::fs::{FdTableLock, File};
use crate::rcu::read_lock;
use alloc::sync::Arc;

impl Process {
    /// The descriptor table (shared with CLONE_FILES relatives).
    pub fn files(&self) -> Arc<FdTableLock> {
        let g = read_lock();
        self.files.get(&g).clone()
    }

    /// The open file at `fd`, without a lock.
    pub fn lookup_fd(&self, fd: u64) -> Option<Arc<File>> {
        let g = read_lock();
        self.files.get(&g).lookup(fd)
    }

    /// execve: a table shared with other processes becomes a private copy first, so that
    /// closing the close-on-exec descriptors (and the new program path) stays in this
    /// process. Called by the process's only thread.
    pub fn unshare_files(&self) {
        let cur = self.files();
        if !cur.is_shared() {
            return;
        }
        let copy = cur.lock().fork_copy();
        // The only writer of the pointer (the process's one thread, in execve).
        self.files.replace(Arc::new(FdTableLock::new(copy)));
        cur.release();
    }

    /// The process ends: it stops using its table (the last user closes the descriptors).
    pub(super) fn release_files(&self) {
        self.files().release();
    }
}

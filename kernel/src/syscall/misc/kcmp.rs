//! kcmp(pid1, pid2, type, idx1, idx2): whether two threads share a kernel object (Linux's
//! kernel/kcmp.c). The answer is Linux's: 0 the same object, else 1 or 2 ordering the two
//! (Linux orders obfuscated pointers, kentry the objects' addresses: callers can rely on
//! equality only, as on Linux).
//!
//! kentry keeps a process's open files and file-system context (cwd, umask) in one table,
//! which clone(CLONE_FILES) shares between processes: KCMP_FILES and KCMP_FS compare the
//! tables. Signal handlers are per process and shared with none other: for KCMP_SIGHAND two
//! threads share them exactly when they are of one process; likewise KCMP_IO and
//! KCMP_SYSVSEM (kentry has neither an I/O context nor System V semaphores that a clone could
//! share). KCMP_VM compares the address spaces (a vfork child uses its parent's).

use super::super::errno::*;
use super::super::table::Table;
use crate::process::Process;
use alloc::sync::Arc;
use kentry::Regs;
use kentry_abi::nr;

const KCMP_FILE: u64 = 0;
const KCMP_VM: u64 = 1;
const KCMP_FILES: u64 = 2;
const KCMP_FS: u64 = 3;
const KCMP_SIGHAND: u64 = 4;
const KCMP_IO: u64 = 5;
const KCMP_SYSVSEM: u64 = 6;
const KCMP_EPOLL_TFD: u64 = 7;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::KCMP] = sys_kcmp;
    t
}

/// Linux's `kcmp_ptr` answer for two objects' addresses.
fn order(a: usize, b: usize) -> i64 {
    match a.cmp(&b) {
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Less => 1,
        core::cmp::Ordering::Greater => 2,
    }
}

/// The process of thread `tid`: ESRCH if there is none (Linux looks the ids up as tasks).
fn process_of(tid: u64) -> Result<Arc<Process>, i64> {
    let tid = u32::try_from(tid).ok().filter(|&t| t > 0).ok_or(-ESRCH)?;
    Ok(crate::process::find_thread(tid)
        .ok_or(-ESRCH)?
        .process
        .clone())
}

/// The open file description at `fd` of `p`, by address: EBADF if `fd` is not open.
fn file_addr(p: &Process, fd: u64) -> Result<usize, i64> {
    let table = p.files();
    let files = table.lock();
    let e = files.get(fd).ok_or(-EBADF)?;
    Ok(Arc::as_ptr(&e.file) as usize)
}

fn sys_kcmp(regs: &mut Regs) -> i64 {
    let (pid1, pid2, ty, idx1, idx2) = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8);
    let answer = || -> Result<i64, i64> {
        let (p1, p2) = (process_of(pid1)?, process_of(pid2)?);
        match ty {
            KCMP_FILE => Ok(order(file_addr(&p1, idx1)?, file_addr(&p2, idx2)?)),
            KCMP_VM => Ok(order(
                Arc::as_ptr(&p1.mm()) as usize,
                Arc::as_ptr(&p2.mm()) as usize,
            )),
            // The descriptor table (shared by CLONE_FILES; kentry keeps the fs_struct part,
            // working directory and umask, in it too).
            KCMP_FILES | KCMP_FS => Ok(order(
                Arc::as_ptr(&p1.files()) as usize,
                Arc::as_ptr(&p2.files()) as usize,
            )),
            KCMP_SIGHAND | KCMP_IO | KCMP_SYSVSEM => {
                Ok(order(Arc::as_ptr(&p1) as usize, Arc::as_ptr(&p2) as usize))
            }
            // No epoll (Linux without CONFIG_EPOLL answers the same).
            KCMP_EPOLL_TFD => Err(-EOPNOTSUPP),
            _ => Err(-EINVAL),
        }
    };
    answer().unwrap_or_else(|e| e)
}

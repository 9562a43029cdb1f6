//! process_vm_readv and process_vm_writev: copying between this process's memory and
//! another's (or its own) without ptrace, as Linux's mm/process_vm_access.c does.
//!
//! Linux's order of checks and its partial-transfer rule are kept: flags other than 0 are
//! -EINVAL; the local iovecs are read and checked first (an empty local side returns 0 before
//! the pid is looked up), then the remote iovecs (-EINVAL past UIO_MAXIOV or for a negative
//! length), then the pid (-ESRCH). Remote pages are reached as the target's own accesses
//! would reach them — faulted in with its mappings' protections, copy-on-write broken for a
//! write (`AddressSpace::page_for_access`) — and the first one that cannot be stops the
//! transfer. The result is the number of bytes moved, or -EFAULT if that is none.
//!
//! The target's address-space lock is never held across a user copy (the target may be this
//! process, whose faults take the same lock): each piece goes through a kernel bounce buffer,
//! filled or drained under the lock, and copied to or from this process's memory outside it.

use super::errno::*;
use super::io::{read_iovecs, read_remote_iovecs};
use super::table::Table;
use crate::mm::{PAGE_SIZE, phys_to_virt};
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::vec;
use kentry::Regs;
use kentry_abi::nr;

pub const fn register(mut t: Table) -> Table {
    t[nr::PROCESS_VM_READV] = sys_process_vm_readv;
    t[nr::PROCESS_VM_WRITEV] = sys_process_vm_writev;
    t
}

fn sys_process_vm_readv(r: &mut Regs) -> i64 {
    process_vm_rw(r, false)
}

fn sys_process_vm_writev(r: &mut Regs) -> i64 {
    process_vm_rw(r, true)
}

fn process_vm_rw(r: &Regs, write: bool) -> i64 {
    let (pid, lvec, liovcnt, rvec, riovcnt, flags) = (r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9);
    if flags != 0 {
        return -EINVAL;
    }
    let local = match read_iovecs(lvec, liovcnt) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if local.iter().all(|&(_, len)| len == 0) {
        return 0;
    }
    let remote = match read_remote_iovecs(rvec, riovcnt) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if remote.iter().all(|&(_, len)| len == 0) {
        return 0;
    }
    // A process that has ended (a zombie, or one the registry still holds for its last
    // readers) has no memory to reach: -ESRCH, as Linux's mm_access finding no mm.
    let Some(target) = crate::process::find(pid as u32)
        .filter(|p| pid as i32 > 0 && p.pid != 0 && p.exit_reason().is_none())
    else {
        return -ESRCH;
    };
    let mm = target.mm();
    if mm.aspace.lock().is_none() {
        return -ESRCH;
    }
    let mut bounce = vec![0u8; PAGE_SIZE as usize];
    let mut moved = 0usize;
    let mut local = local.into_iter().filter(|&(_, len)| len > 0);
    let Some((mut lbase, mut lleft)) = local.next() else {
        return 0;
    };
    for (mut rbase, mut rleft) in remote.into_iter().filter(|&(_, len)| len > 0) {
        while rleft > 0 {
            // One piece: within one remote page and one local iovec.
            let in_page = (PAGE_SIZE - rbase % PAGE_SIZE) as usize;
            let n = rleft.min(in_page).min(lleft);
            let buf = &mut bounce[..n];
            if write && copy_from_user(buf, lbase).is_err() {
                return done_or(moved, -EFAULT);
            }
            let reached = {
                let mut g = mm.aspace.lock();
                let pa = g.as_mut().and_then(|a| a.page_for_access(rbase, write));
                if let Some(pa) = pa {
                    let va = phys_to_virt(pa) as *mut u8;
                    // SAFETY: `pa` is `n` bytes of one user frame of the target (n does not
                    // cross its page), reached through the direct map; the frame stays mapped
                    // there while the target's address-space lock is held, and the target's
                    // threads' own concurrent accesses to it are as racy as they would be
                    // against another thread of theirs.
                    unsafe {
                        if write {
                            core::ptr::copy_nonoverlapping(buf.as_ptr(), va, n);
                        } else {
                            core::ptr::copy_nonoverlapping(va, buf.as_mut_ptr(), n);
                        }
                    }
                }
                pa.is_some()
            };
            if !reached {
                return done_or(moved, -EFAULT);
            }
            if !write && copy_to_user(lbase, buf).is_err() {
                return done_or(moved, -EFAULT);
            }
            moved += n;
            rbase += n as u64;
            rleft -= n;
            lbase += n as u64;
            lleft -= n;
            if lleft == 0 {
                match local.next() {
                    Some((b, l)) => (lbase, lleft) = (b, l),
                    None => return moved as i64,
                }
            }
        }
    }
    moved as i64
}

/// Linux's rule: the bytes moved if any, else the error.
fn done_or(moved: usize, err: i64) -> i64 {
    if moved > 0 { moved as i64 } else { err }
}

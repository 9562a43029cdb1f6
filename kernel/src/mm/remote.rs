//! Another process's memory, reached as a debugger reaches it: ptrace's PEEK/POKE and
//! /proc/PID/mem. Reads go where the process's own reads would (faulted in with its
//! mappings' protections); writes are forced (Linux's FOLL_FORCE): a read-only private
//! mapping gets a private copy of the page, written through the direct map, with its
//! protection unchanged — how a debugger plants a breakpoint in text.
//!
//! The address-space lock is held per page and never across a user copy: callers pass
//! kernel buffers.

use crate::mm::{PAGE_SIZE, phys_to_virt};
use crate::process::Process;

/// Reads `buf.len()` bytes of `p`'s memory at `addr`. Returns how many were read before the
/// first byte that cannot be (unmapped, or a mapping without read permission).
pub fn read(p: &Process, addr: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        let Some(va) = addr.checked_add(done as u64) else {
            break;
        };
        let n = (buf.len() - done).min((PAGE_SIZE - va % PAGE_SIZE) as usize);
        let mut g = p.aspace.lock();
        let Some(pa) = g.as_mut().and_then(|a| a.page_for_access(va, false)) else {
            break;
        };
        // SAFETY: `pa` is a user frame of `p` holding [va, va + n) (n stays within its page),
        // reached through the direct map; it stays mapped while the lock is held.
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_virt(pa) as *const u8,
                buf[done..].as_mut_ptr(),
                n,
            )
        };
        done += n;
    }
    done
}

/// Writes `data` into `p`'s memory at `addr`, forced. Returns how many bytes were written
/// before the first that lies in no mapping (or in one that cannot be read).
pub fn write_forced(p: &Process, addr: u64, data: &[u8]) -> usize {
    let mut done = 0;
    while done < data.len() {
        let Some(va) = addr.checked_add(done as u64) else {
            break;
        };
        let n = (data.len() - done).min((PAGE_SIZE - va % PAGE_SIZE) as usize);
        let mut g = p.aspace.lock();
        let Some(a) = g.as_mut() else { break };
        // Reachable as a read first (a mapping, and not PROT_NONE), then written through a
        // private copy where it is not the process's own.
        if a.page_for_access(va, false).is_none() || a.write(va, &data[done..done + n]).is_err() {
            break;
        }
        done += n;
    }
    done
}

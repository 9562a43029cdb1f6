//! memfd: an anonymous regular file in memory (Linux's memfd_create on tmpfs, mm/memfd.c),
//! with file seals.
//!
//! Its bytes live in a [`SharedMem`] object — the same page-indexed, reference-counted frames
//! that back shared anonymous memory — so read/write and every MAP_SHARED mapping of it see
//! the same frames (a MAP_PRIVATE mapping gets a copy when it is made, as for every file).
//! The object is the file's page cache; the length is kept beside it.
//!
//! Seals (fcntl F_ADD_SEALS / F_GET_SEALS), as Linux 6.1 (Debian's, with the write-seal
//! mmap rules backported):
//! - F_SEAL_SEAL: no more seals (F_ADD_SEALS: EPERM).
//! - F_SEAL_SHRINK / F_SEAL_GROW: ftruncate that shrinks / grows, and a write past the end
//!   (GROW), fail with EPERM.
//! - F_SEAL_WRITE: write fails with EPERM, as does a new MAP_SHARED mapping with PROT_WRITE;
//!   adding it while a shared mapping exists fails with EBUSY.
//! - F_SEAL_FUTURE_WRITE: as F_SEAL_WRITE for writes and new mappings; existing mappings stay
//!   writable.
//!
//! A shared mapping that may not become writable (descriptor not open for writing, or a write
//! seal) is marked `VM_NOMAYWRITE`: mprotect cannot add PROT_WRITE to it (Linux clears
//! VM_MAYWRITE). Differences from Linux: shrinking does not unmap pages from existing
//! mappings (they keep the old frames; Linux would SIGBUS there), a shared mapping past the end
//! reads and writes fresh pages instead of raising SIGBUS, and F_SEAL_WRITE's EBUSY counts
//! every shared mapping, also read-only ones of a writable descriptor.

use crate::mm::aspace::SharedMem;
use crate::mm::{PAGE_SIZE, phys_to_virt};
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

pub const F_SEAL_SEAL: u32 = 0x1;
pub const F_SEAL_SHRINK: u32 = 0x2;
pub const F_SEAL_GROW: u32 = 0x4;
pub const F_SEAL_WRITE: u32 = 0x8;
pub const F_SEAL_FUTURE_WRITE: u32 = 0x10;
/// Every seal Linux 6.1 knows.
const F_ALL_SEALS: u32 =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

const PG: u64 = PAGE_SIZE;

/// Test kernels, `kentry.break=memfd_seals`: seals are recorded but enforce nothing (no
/// EPERM for writes, truncation, writable shared mappings or a sealed seal set, no EBUSY):
/// the negative run of `c_memfd`.
pub static BREAK_SEALS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The seals that count now (none while [`BREAK_SEALS`] is set).
fn enforced(seals: u32) -> u32 {
    if BREAK_SEALS.load(Ordering::Relaxed) {
        0
    } else {
        seals
    }
}

/// The body of a memfd inode.
pub struct Memfd {
    /// The pages; their object carries the name /proc/PID/maps shows, "/memfd:NAME
    /// (deleted)" (Linux names the file "memfd:NAME").
    pub shm: Arc<SharedMem>,
    /// The size in bytes. Lock order: this, then the object's page lock.
    len: Mutex<u64>,
    seals: AtomicU32,
}

impl Memfd {
    /// A new empty memfd; without `sealing` it starts sealed with F_SEAL_SEAL (no seal can
    /// ever be added), as Linux's memfd without MFD_ALLOW_SEALING.
    pub fn new(name: String, ino: u64, sealing: bool) -> Memfd {
        Memfd {
            shm: SharedMem::new_file(alloc::format!("/{name} (deleted)"), ino),
            len: Mutex::new(0),
            seals: AtomicU32::new(if sealing { 0 } else { F_SEAL_SEAL }),
        }
    }

    pub fn len(&self) -> u64 {
        *self.len.lock()
    }

    pub fn seals(&self) -> u32 {
        self.seals.load(Ordering::Acquire)
    }

    /// Whether a write seal forbids writes and new writable shared mappings.
    fn write_sealed(&self) -> bool {
        enforced(self.seals()) & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0
    }

    /// For a new shared mapping: the pages (a reference the mapping keeps) and whether a
    /// write seal is set. Taken under the lock F_ADD_SEALS holds, so a mapping and
    /// F_SEAL_WRITE are ordered: either the seal refuses the mapping's write access, or the
    /// mapping's reference makes the seal EBUSY.
    pub fn map_shared(&self) -> (Arc<SharedMem>, bool) {
        let _len = self.len.lock();
        (self.shm.clone(), self.write_sealed())
    }

    /// Reads at `off`; 0 at or past the end.
    pub fn read_at(&self, off: u64, out: &mut [u8]) -> usize {
        let len = self.len();
        if off >= len {
            return 0;
        }
        let n = out.len().min((len - off) as usize);
        let mut done = 0;
        while done < n {
            let at = off + done as u64;
            let (index, po) = (at / PG, (at % PG) as usize);
            let k = (PG as usize - po).min(n - done);
            match self.shm.lookup(index) {
                // SAFETY: `pa` is a frame the object holds a reference to, seen through the
                // direct map; `po + k <= PAGE_SIZE`. A concurrent store through a mapping is a
                // data race on user bytes, as on Linux, never on kernel state.
                Some(pa) => unsafe {
                    core::ptr::copy_nonoverlapping(
                        (phys_to_virt(pa) as *const u8).add(po),
                        out[done..].as_mut_ptr(),
                        k,
                    )
                },
                None => out[done..done + k].fill(0),
            }
            done += k;
        }
        n
    }

    /// Writes at `off` (None: at the end), growing the file; returns the count and where it
    /// was written. EPERM under a write seal, or under F_SEAL_GROW past the end
    /// (shmem_write_begin refuses the whole write).
    pub fn write_at(&self, off: Option<u64>, data: &[u8]) -> Result<(usize, u64), i64> {
        let mut len = self.len.lock();
        let off = off.unwrap_or(*len);
        let seals = enforced(self.seals());
        if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(-EPERM);
        }
        if data.is_empty() {
            return Ok((0, off));
        }
        let end = off.checked_add(data.len() as u64).ok_or(-EFBIG)?;
        if end > super::node::MAX_FILE_SIZE {
            return Err(-EFBIG);
        }
        if seals & F_SEAL_GROW != 0 && end > *len {
            return Err(-EPERM);
        }
        let mut done = 0;
        while done < data.len() {
            let at = off + done as u64;
            let (index, po) = (at / PG, (at % PG) as usize);
            let k = (PG as usize - po).min(data.len() - done);
            let Some(pa) = self.shm.page(index) else {
                break;
            };
            // SAFETY: as in read_at.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    data[done..].as_ptr(),
                    (phys_to_virt(pa) as *mut u8).add(po),
                    k,
                )
            };
            done += k;
        }
        if done == 0 {
            return Err(-ENOSPC);
        }
        *len = (*len).max(off + done as u64);
        Ok((done, off))
    }

    /// ftruncate: EPERM where F_SEAL_SHRINK or F_SEAL_GROW forbids the change. Pages wholly
    /// past the new end are let go; the tail of the last one is zeroed.
    pub fn truncate(&self, new_len: u64) -> Result<(), i64> {
        if new_len > super::node::MAX_FILE_SIZE {
            return Err(-EFBIG);
        }
        let mut len = self.len.lock();
        let seals = enforced(self.seals());
        if (new_len < *len && seals & F_SEAL_SHRINK != 0)
            || (new_len > *len && seals & F_SEAL_GROW != 0)
        {
            return Err(-EPERM);
        }
        if new_len < *len {
            self.shm.remove(new_len.div_ceil(PG), u64::MAX);
            if !new_len.is_multiple_of(PG)
                && let Some(pa) = self.shm.lookup(new_len / PG)
            {
                let po = (new_len % PG) as usize;
                // SAFETY: as in read_at.
                unsafe {
                    core::ptr::write_bytes(
                        (phys_to_virt(pa) as *mut u8).add(po),
                        0,
                        PG as usize - po,
                    )
                };
            }
        }
        *len = new_len;
        Ok(())
    }

    /// F_ADD_SEALS (the caller checked that the descriptor is open for writing).
    pub fn add_seals(&self, seals: u32) -> Result<(), i64> {
        if seals & !F_ALL_SEALS != 0 {
            return Err(-EINVAL);
        }
        // Under the length lock: no write or truncation runs meanwhile.
        let _len = self.len.lock();
        let cur = enforced(self.seals());
        if cur & F_SEAL_SEAL != 0 {
            return Err(-EPERM);
        }
        // The object's own reference, plus one per mapping sharing it.
        let mapped = Arc::strong_count(&self.shm) > 1 && !BREAK_SEALS.load(Ordering::Relaxed);
        if seals & F_SEAL_WRITE != 0 && cur & F_SEAL_WRITE == 0 && mapped {
            return Err(-EBUSY);
        }
        self.seals.fetch_or(seals, Ordering::AcqRel);
        Ok(())
    }
}

/// memfd_create's name limit: NAME_MAX less the "memfd:" prefix.
pub const MFD_NAME_MAX_LEN: usize = 255 - 6;

/// memfd_create(2)'s flags in Linux 6.1.
pub const MFD_CLOEXEC: u32 = 0x1;
pub const MFD_ALLOW_SEALING: u32 = 0x2;
pub const MFD_HUGETLB: u32 = 0x4;
/// MFD_HUGE_MASK << MFD_HUGE_SHIFT: a huge page size, only with MFD_HUGETLB.
const MFD_HUGE_SIZE_BITS: u32 = 0x3f << 26;

/// memfd_create's flag check, made before the name is read. MFD_HUGETLB is refused with
/// EINVAL after the check Linux makes: kentry has no hugetlbfs (Linux would make a file on it).
pub fn check_flags(flags: u32) -> Result<(), i64> {
    let all = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB;
    let allowed = if flags & MFD_HUGETLB != 0 {
        all | MFD_HUGE_SIZE_BITS
    } else {
        all
    };
    if flags & !allowed != 0 || flags & MFD_HUGETLB != 0 {
        return Err(-EINVAL);
    }
    Ok(())
}

/// memfd_create's work once the flags are checked and the name is read (at most
/// [`MFD_NAME_MAX_LEN`] bytes): the new open file (the caller installs it).
pub fn create(name: &[u8], flags: u32) -> Arc<super::File> {
    let name = alloc::format!("memfd:{}", String::from_utf8_lossy(name));
    let node = super::node::Inode::new_memfd(name, flags & MFD_ALLOW_SEALING != 0);
    super::File::new(
        super::FileKind::Node {
            node,
            snapshot: None,
        },
        kentry_kernel_logic::fcntl::kept_flags(super::O_RDWR),
    )
}

/// fcntl(F_GET_SEALS) on `file`: EINVAL for anything but a memfd.
pub fn get_seals(file: &super::File) -> Result<u32, i64> {
    match file.node().map(|n| &n.body) {
        Some(super::Body::Memfd(m)) => Ok(m.seals()),
        _ => Err(-EINVAL),
    }
}

/// fcntl(F_ADD_SEALS): EPERM unless open for writing (Linux checks that first), EINVAL for
/// anything but a memfd.
pub fn add_seals(file: &super::File, seals: u32) -> Result<(), i64> {
    if !file.writable() {
        return Err(-EPERM);
    }
    if seals & !F_ALL_SEALS != 0 {
        return Err(-EINVAL);
    }
    match file.node().map(|n| &n.body) {
        Some(super::Body::Memfd(m)) => m.add_seals(seals),
        _ => Err(-EINVAL),
    }
}

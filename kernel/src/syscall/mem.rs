//! Memory syscalls: brk, mmap, munmap, mprotect, mremap, madvise, mincore, msync and the
//! mlock family, with Linux x86-64 numbers, argument checks and errno values (mm/mmap.c,
//! mm/mremap.c, mm/mprotect.c, mm/madvise.c of Linux 6.1). The work is done by the process's
//! [`AddressSpace`]; its lock is never held across a user copy.

use super::errno::*;
use super::table::Table;
use crate::mm::aspace::{
    self, AddressSpace, Backing, MappedFile, PROT_EXEC, PROT_READ, PROT_WRITE, SharedMem,
    TASK_SIZE, VM_GROWSDOWN, VM_NOMAYWRITE, VM_SHARED,
};
use crate::mm::{PAGE_SIZE, phys_to_virt};
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

use kentry_abi::errno::{EACCES, ENODEV, EOPNOTSUPP};

pub const fn register(mut t: Table) -> Table {
    t[nr::MMAP] = sys_mmap;
    t[nr::MPROTECT] = sys_mprotect;
    t[nr::MUNMAP] = sys_munmap;
    t[nr::BRK] = sys_brk;
    t[nr::MREMAP] = sys_mremap;
    t[nr::MSYNC] = sys_msync;
    t[nr::MINCORE] = sys_mincore;
    t[nr::MADVISE] = sys_madvise;
    t[nr::MLOCK] = sys_mlock;
    t[nr::MUNLOCK] = sys_munlock;
    t[nr::MLOCKALL] = sys_mlockall;
    t[nr::MUNLOCKALL] = sys_munlockall;
    t[nr::MLOCK2] = sys_mlock2;
    t
}

/// Runs `f` on the calling process's address space, under its lock.
fn with_aspace<R>(f: impl FnOnce(&mut AddressSpace) -> R) -> Result<R, i64> {
    let task = crate::task::current();
    let mm = task.process.mm();
    let mut g = mm.aspace.lock();
    g.as_mut().map(f).ok_or(-EINVAL)
}

/// [`with_aspace`] for a call that may move or remove the 32-bit vDSO (munmap, mremap): the
/// process's lock-free copy of its place ([`crate::process::Process::vdso32`]) is taken
/// again from the address space, under the same lock.
fn with_aspace_vdso<R>(f: impl FnOnce(&mut AddressSpace) -> R) -> Result<R, i64> {
    let task = crate::task::current();
    let mm = task.process.mm();
    let mut g = mm.aspace.lock();
    let a = g.as_mut().ok_or(-EINVAL)?;
    let r = f(a);
    let vdso32 = a.vdso32().unwrap_or(0);
    mm.set_vdso32(vdso32);
    Ok(r)
}

fn result(r: Result<Result<u64, i64>, i64>) -> i64 {
    match r {
        Ok(Ok(v)) => v as i64,
        Ok(Err(e)) => -e,
        Err(e) => e,
    }
}

use kentry_kernel_logic::page::{page_align_checked as page_align, page_aligned};

fn sys_brk(r: &mut Regs) -> i64 {
    let want = r.rdi;
    with_aspace(|a| a.set_brk(want)).map_or(0, |b| b as i64)
}

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_32BIT: u64 = 0x40;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_DENYWRITE: u64 = 0x800;
const MAP_EXECUTABLE: u64 = 0x1000;
const MAP_LOCKED: u64 = 0x2000;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_POPULATE: u64 = 0x8000;
const MAP_NONBLOCK: u64 = 0x10000;
const MAP_STACK: u64 = 0x20000;
const MAP_HUGETLB: u64 = 0x40000;
const MAP_SYNC: u64 = 0x80000;
const MAP_FIXED_NOREPLACE: u64 = 0x100000;
const MAP_UNINITIALIZED: u64 = 0x400_0000;
/// The flags MAP_SHARED_VALIDATE accepts (Linux's LEGACY_MAP_MASK plus MAP_SYNC, which
/// needs DAX and so fails anyway, and MAP_FIXED_NOREPLACE).
const VALIDATE_MASK: u64 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_32BIT
    | MAP_SYNC
    | MAP_FIXED_NOREPLACE;

/// Reads the file behind `fd` at `offset` (the file layer's read for mmap: regular files;
/// anything else is ENODEV, as a device without mmap is on Linux). Errors are positive errno
/// values.
fn file_read_at(fd: u64, offset: u64, buf: &mut [u8]) -> Result<usize, i64> {
    crate::fs::read_fd_at(fd, offset, buf).map_err(|e| e.abs())
}

/// What the file behind `fd` is for mmap (Linux's fget, EBADF if not open): its device and
/// inode, and whether it is /dev/zero (whose mappings are anonymous memory).
fn file_check(fd: u64) -> Result<(u64, u64, bool), i64> {
    const S_IFMT: u32 = 0o170000;
    const S_IFCHR: u32 = 0o020000;
    const DEV_ZERO: u64 = (1 << 8) | 5;
    let st = crate::fs::get_file(fd).map_err(|e| e.abs())?.stat();
    let zero = st.mode & S_IFMT == S_IFCHR && st.rdev == DEV_ZERO;
    Ok((st.dev, st.ino, zero))
}

/// The pages of the memfd open at `fd`, and whether it is write-sealed (None: not a memfd).
fn memfd_pages(fd: u64) -> Option<(alloc::sync::Arc<SharedMem>, bool)> {
    let f = crate::fs::get_file(fd).ok()?;
    match &f.node()?.body {
        crate::fs::Body::Memfd(m) => Some(m.map_shared()),
        _ => None,
    }
}

/// The regular file open at `fd` in the in-memory filesystem, for a demand-paged mapping,
/// with the path it was opened by (what /proc/PID/maps names; "" if none).
fn regular_node(fd: u64) -> Option<(crate::fs::InodeRef, alloc::string::String)> {
    let f = crate::fs::get_file(fd).ok()?;
    let node = f.node()?;
    let path = f.path().unwrap_or_default().into();
    matches!(node.body, crate::fs::Body::Reg(_)).then(|| (node.clone(), path))
}

/// Whether `fd` was opened for writing (a shared writable mapping needs it: EACCES).
fn file_writable(fd: u64) -> bool {
    crate::fs::get_file(fd).is_ok_and(|f| f.writable())
}

/// Reads up to `len` bytes of the file behind `fd` from `offset` into fresh user pages (as
/// many as the file fills; the last one zero-padded). Returns the pages and the bytes read.
fn read_file_pages(fd: u64, offset: u64, len: u64) -> Result<(Vec<u64>, u64), i64> {
    let mut pages = Vec::new();
    let mut total = 0u64;
    let fail = |pages: &Vec<u64>| {
        for &p in pages {
            aspace::put_user_page(p);
        }
    };
    while total < len {
        let Some(pa) = aspace::alloc_user_page() else {
            fail(&pages);
            return Err(ENOMEM);
        };
        // SAFETY: a fresh page of ours, 4 KiB, visible through the direct map.
        let buf = unsafe {
            core::slice::from_raw_parts_mut(phys_to_virt(pa) as *mut u8, PAGE_SIZE as usize)
        };
        let mut got = 0usize;
        while got < buf.len() {
            match file_read_at(fd, offset + total + got as u64, &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => {
                    aspace::put_user_page(pa);
                    fail(&pages);
                    return Err(e.abs());
                }
            }
        }
        if got == 0 {
            aspace::put_user_page(pa);
            break;
        }
        pages.push(pa);
        total += got as u64;
        if got < buf.len() {
            break;
        }
    }
    Ok((pages, total))
}

fn sys_mmap(r: &mut Regs) -> i64 {
    let (addr, len, prot, flags, fd, off) = (r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9);
    if !page_aligned(off) {
        return -EINVAL;
    }
    let mut anon = flags & MAP_ANONYMOUS != 0;
    let ty = flags & MAP_TYPE;
    let fd = fd as u32 as u64;
    let mut ident = (0, 0);
    if !anon && flags & MAP_HUGETLB == 0 {
        // fget first: a bad descriptor is EBADF whatever else is wrong.
        match file_check(fd) {
            Ok((_, _, true)) => anon = true, // /dev/zero: anonymous memory
            Ok((dev, ino, false)) => ident = (dev, ino),
            Err(e) => return -e,
        }
    } else if flags & MAP_HUGETLB != 0 {
        // No huge pages are reserved (Linux's default: nr_hugepages = 0).
        return -ENOMEM;
    }
    if len == 0 {
        return -EINVAL;
    }
    let fixed = flags & MAP_FIXED != 0;
    let noreplace = flags & MAP_FIXED_NOREPLACE != 0;
    // round_hint_to_min: a hint below mmap_min_addr becomes mmap_min_addr.
    let mut hint = addr;
    if !fixed && !noreplace {
        hint &= !(PAGE_SIZE - 1);
        if hint != 0 && hint < aspace::MMAP_MIN_ADDR {
            hint = aspace::MMAP_MIN_ADDR;
        }
    }
    let Some(len) = page_align(len) else {
        return -ENOMEM;
    };
    let prot = (prot as u32) & (PROT_READ | PROT_WRITE | PROT_EXEC);
    let mut vmflags = 0;
    if flags & MAP_GROWSDOWN != 0 {
        vmflags |= VM_GROWSDOWN;
    }
    let shared = match ty {
        MAP_PRIVATE => false,
        MAP_SHARED => true,
        MAP_SHARED_VALIDATE if !anon => {
            if flags & !VALIDATE_MASK != 0 {
                return -EOPNOTSUPP;
            }
            true
        }
        _ => return -EINVAL,
    };
    if shared {
        if anon && vmflags & VM_GROWSDOWN != 0 {
            return -EINVAL;
        }
        vmflags |= VM_SHARED;
    }
    let map32 = flags & MAP_32BIT != 0;
    let (backing, pgoff, pages) = if anon {
        if shared {
            (Backing::Shared(SharedMem::new()), 0, Vec::new())
        } else {
            (Backing::Anon, 0, Vec::new())
        }
    } else if let Some((shm, sealed)) = shared.then(|| memfd_pages(fd)).flatten() {
        // A memfd's shared mapping maps the file's own pages (fs/memfd.rs). Linux's order:
        // the descriptor's mode (EACCES), then the write seals (EPERM, shmem_mmap).
        let writable = file_writable(fd);
        if prot & PROT_WRITE != 0 {
            if !writable {
                return -EACCES;
            }
            if sealed {
                return -EPERM;
            }
        }
        if !writable || sealed {
            vmflags |= VM_NOMAYWRITE;
        }
        (Backing::Shared(shm), off, Vec::new())
    } else {
        if shared && prot & PROT_WRITE != 0 {
            // Linux needs a descriptor open for writing; beyond that, a shared writable file
            // mapping would need write-back to the file, which is not implemented ("the
            // filesystem does not support memory mapping").
            return if file_writable(fd) { -ENODEV } else { -EACCES };
        }
        if let Some((node, path)) = regular_node(fd) {
            // A regular file: each page is read when first touched (demand paging, as exec
            // maps a program), so mapping a large file costs nothing up front; a page past
            // the file's end then is SIGBUS (mm/aspace/fault.rs). Maps names it by the path
            // it was opened by.
            let file = MappedFile::demand_paged(&path, node);
            (
                Backing::File {
                    file,
                    limit: u64::MAX,
                },
                off,
                Vec::new(),
            )
        } else {
            // Anything else that reads (a /proc file, a device): a copy of its bytes now,
            // unnamed in maps.
            let (pages, size) = match read_file_pages(fd, off, len) {
                Ok(x) => x,
                Err(e) => return -e,
            };
            let file = MappedFile::new("", ident.0, ident.1);
            (
                Backing::File {
                    file,
                    limit: off + size,
                },
                off,
                pages,
            )
        }
    };
    let r = with_aspace(|a| {
        let addr = match a.mmap(
            hint, len, prot, vmflags, backing, pgoff, fixed, noreplace, map32,
        ) {
            Ok(addr) => addr,
            Err(e) => {
                for &p in &pages {
                    aspace::put_user_page(p);
                }
                return Err(e);
            }
        };
        if !pages.is_empty() && a.install_pages(addr, &pages).is_err() {
            a.unmap(addr, addr + len);
            return Err(ENOMEM);
        }
        if flags & (MAP_POPULATE | MAP_LOCKED) != 0 && flags & MAP_NONBLOCK == 0 {
            a.prefault(addr, addr + len);
        }
        Ok(addr)
    });
    result(r)
}

fn sys_munmap(r: &mut Regs) -> i64 {
    let (start, len) = (r.rdi, r.rsi);
    if !page_aligned(start) || start > TASK_SIZE || len > TASK_SIZE - start {
        return -EINVAL;
    }
    let len = (len + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    if len == 0 {
        return -EINVAL;
    }
    result(with_aspace_vdso(|a| {
        a.check_special_split(start, start + len)?;
        a.unmap(start, start + len);
        Ok(0)
    }))
}

const PROT_SEM: u64 = 0x8;
const PROT_GROWSDOWN: u64 = 0x0100_0000;
const PROT_GROWSUP: u64 = 0x0200_0000;

fn sys_mprotect(r: &mut Regs) -> i64 {
    let (start, len, prot) = (r.rdi, r.rsi, r.rdx);
    if !page_aligned(start) {
        return -EINVAL;
    }
    if len == 0 {
        return 0;
    }
    let Some(len) = page_align(len) else {
        return -ENOMEM;
    };
    let end = start.wrapping_add(len);
    if end <= start {
        return -ENOMEM;
    }
    let known = (PROT_READ | PROT_WRITE | PROT_EXEC) as u64 | PROT_SEM;
    if prot & !(known | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return -EINVAL;
    }
    if prot & PROT_GROWSDOWN != 0 && prot & PROT_GROWSUP != 0 {
        return -EINVAL;
    }
    if prot & PROT_GROWSUP != 0 {
        // No mapping grows up on x86.
        return -EINVAL;
    }
    let p = (prot as u32) & (PROT_READ | PROT_WRITE | PROT_EXEC);
    result(with_aspace(|a| {
        a.check_special_prot(start, end, p)?;
        a.mprotect(start, end, p, prot & PROT_GROWSDOWN != 0)
            .map(|_| 0)
    }))
}

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MREMAP_DONTUNMAP: u64 = 4;

fn sys_mremap(r: &mut Regs) -> i64 {
    let (addr, old_len, new_len, flags, new_addr) = (r.rdi, r.rsi, r.rdx, r.r10, r.r8);
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
        return -EINVAL;
    }
    if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
        return -EINVAL;
    }
    if flags & MREMAP_DONTUNMAP != 0 && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len) {
        return -EINVAL;
    }
    if !page_aligned(addr) {
        return -EINVAL;
    }
    let old_len = page_align(old_len).unwrap_or(0);
    let Some(new_len) = page_align(new_len).filter(|&l| l != 0) else {
        return -EINVAL;
    };
    if old_len > TASK_SIZE {
        return -EFAULT;
    }
    let old_vdso32 = crate::vdso::ia32::current_base();
    let ret = result(with_aspace_vdso(|a| {
        a.mremap(
            addr,
            old_len,
            new_len,
            flags & MREMAP_MAYMOVE != 0,
            flags & MREMAP_FIXED != 0,
            flags & MREMAP_DONTUNMAP != 0,
            new_addr,
        )
    }));
    vdso_fix_landing(r, old_vdso32);
    ret
}

/// Linux's `vdso_fix_landing`: an i386 call made through the vDSO's fast entry returns to the
/// landing pad of the image it came from, which `do_fast_syscall_32` put in the frame's RIP
/// before the call. When this very call moved the image, that address is no longer mapped
/// (test_mremap_vdso_32 died there of SIGSEGV): the return goes to the moved pad instead.
fn vdso_fix_landing(r: &mut Regs, old_base: Option<u64>) {
    use crate::vdso::ia32::{VDSO32_SYM_INT80_LANDING_PAD, current_base};
    let (Some(old), Some(new)) = (old_base, current_base()) else {
        return;
    };
    if old != new
        && crate::syscall::compat::in_ia32_syscall()
        && r.rip == old + VDSO32_SYM_INT80_LANDING_PAD
    {
        r.rip = new + VDSO32_SYM_INT80_LANDING_PAD;
    }
}

fn sys_madvise(r: &mut Regs) -> i64 {
    let (start, len_in, advice) = (r.rdi, r.rsi, r.rdx as i32);
    let valid = matches!(advice, 0..=4 | 8..=25 | 100 | 101);
    if !valid {
        return -EINVAL;
    }
    if !page_aligned(start) {
        return -EINVAL;
    }
    let Some(len) = page_align(len_in) else {
        return -EINVAL;
    };
    let Some(end) = start.checked_add(len) else {
        return -EINVAL;
    };
    if end == start {
        return 0;
    }
    result(with_aspace(|a| a.madvise(start, end, advice).map(|_| 0)))
}

fn sys_mincore(r: &mut Regs) -> i64 {
    let (start, len, vec) = (r.rdi, r.rsi, r.rdx);
    if !page_aligned(start) {
        return -EINVAL;
    }
    if !crate::uaccess::access_ok(start, len as usize) {
        return -ENOMEM;
    }
    let pages = len.div_ceil(PAGE_SIZE);
    if !crate::uaccess::access_ok(vec, pages as usize) {
        return -EFAULT;
    }
    const CHUNK: u64 = 4096;
    let mut done = 0;
    let mut buf: Vec<u8> = Vec::new();
    while done < pages {
        let n = (pages - done).min(CHUNK);
        buf.clear();
        let r = with_aspace(|a| a.mincore(start + done * PAGE_SIZE, n, &mut buf));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return -e,
            Err(e) => return e,
        }
        // The lock is released: the copy may fault.
        if crate::uaccess::copy_to_user(vec + done, &buf).is_err() {
            return -EFAULT;
        }
        done += n;
    }
    0
}

fn sys_msync(r: &mut Regs) -> i64 {
    const MS_ASYNC: u64 = 1;
    const MS_INVALIDATE: u64 = 2;
    const MS_SYNC: u64 = 4;
    let (start, len, flags) = (r.rdi, r.rsi, r.rdx);
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || !page_aligned(start) {
        return -EINVAL;
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return -EINVAL;
    }
    let Some(end) = page_align(len).and_then(|l| start.checked_add(l)) else {
        return -ENOMEM;
    };
    if end == start {
        return 0;
    }
    result(with_aspace(|a| {
        if a.is_mapped(start, end) {
            Ok(0)
        } else {
            Err(ENOMEM)
        }
    }))
}

/// mlock/munlock/mlock2 range: [start & PAGE_MASK, PAGE_ALIGN(start + len)), all mapped.
fn lock_range(start: u64, len: u64, populate: bool) -> i64 {
    let s = start & !(PAGE_SIZE - 1);
    let Some(end) = start.checked_add(len).and_then(page_align) else {
        return -ENOMEM;
    };
    if end == s {
        return 0;
    }
    result(with_aspace(|a| {
        if !a.is_mapped(s, end) {
            return Err(ENOMEM);
        }
        if populate {
            a.prefault(s, end);
        }
        Ok(0)
    }))
}

fn sys_mlock(r: &mut Regs) -> i64 {
    lock_range(r.rdi, r.rsi, true)
}

fn sys_mlock2(r: &mut Regs) -> i64 {
    const MLOCK_ONFAULT: u64 = 1;
    if r.rdx & !MLOCK_ONFAULT != 0 {
        return -EINVAL;
    }
    lock_range(r.rdi, r.rsi, r.rdx & MLOCK_ONFAULT == 0)
}

fn sys_munlock(r: &mut Regs) -> i64 {
    lock_range(r.rdi, r.rsi, false)
}

fn sys_mlockall(r: &mut Regs) -> i64 {
    const MCL_CURRENT: u64 = 1;
    const MCL_FUTURE: u64 = 2;
    const MCL_ONFAULT: u64 = 4;
    let f = r.rdi;
    if f == 0 || f & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || f == MCL_ONFAULT {
        return -EINVAL;
    }
    0
}

fn sys_munlockall(_: &mut Regs) -> i64 {
    0
}

//! Memory syscalls and demand paging (linux-abi §1.5, §3.4; issue 4 §3 "Memory").
//!
//! - brk: the start is page-aligned; growth gives zeroed, writable memory; unaligned breaks are
//!   kept exactly; shrinking unmaps (a regrown page reads zero); below the start it stays put.
//! - mmap: anonymous private memory reads zero then keeps what is written; MAP_FIXED replaces;
//!   MAP_FIXED_NOREPLACE refuses an occupied range; a free hint is taken as is; MAP_32BIT
//!   lands in [1 GiB, 2 GiB); bad arguments give -EINVAL.
//! - munmap leaves a hole (proved by mapping it again with MAP_FIXED_NOREPLACE).
//! - mremap: grows in place when it can, moves with MREMAP_MAYMOVE when it cannot (data kept,
//!   new pages zero, old range freed), fails with -ENOMEM without it, shrinks, moves to a fixed
//!   target; the last user page (2^47 - 4096) is never a target (E03), the one below it is.
//! - mprotect: read-only and PROT_NONE pages refuse kernel writes (-EFAULT from arch_prctl
//!   ARCH_GET_FS into them) and keep their data; back to read-write they work again.
//! - Kernel writes into fresh pages (anonymous, heap, a zero-page-mapped page, the stack below
//!   its mapped part) succeed: the kernel's user copies fault pages in.
//! - A fresh 64 MiB mapping reads zero everywhere (sampled); MADV_DONTNEED zeroes pages;
//!   mincore tells touched pages from untouched ones.
//! - fork: private pages are copies (copy-on-write), MAP_SHARED|MAP_ANONYMOUS pages are shared.
//!
//! Syscalls: mmap, munmap, mprotect, mremap, brk, mincore, madvise, arch_prctl, fork, wait4,
//! write, exit_group.

#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use kentry_user::ktap::Ktap;
use kentry_user::sys::{self, nr};
use kentry_user::{diag, entry};

entry!(main);

const PROT_NONE: usize = 0;
const PROT_READ: usize = 1;
const PROT_WRITE: usize = 2;
const RW: usize = PROT_READ | PROT_WRITE;

const MAP_SHARED: usize = 0x01;
const MAP_PRIVATE: usize = 0x02;
const MAP_FIXED: usize = 0x10;
const MAP_ANONYMOUS: usize = 0x20;
const MAP_32BIT: usize = 0x40;
const MAP_FIXED_NOREPLACE: usize = 0x10_0000;
const ANON: usize = MAP_PRIVATE | MAP_ANONYMOUS;

const MREMAP_MAYMOVE: usize = 1;
const MREMAP_FIXED: usize = 2;

const MADV_DONTNEED: usize = 4;
const ARCH_GET_FS: usize = 0x1003;

const ENOMEM: isize = -12;
const EFAULT: isize = -14;
const EEXIST: isize = -17;
const EINVAL: isize = -22;

const PAGE: usize = 4096;
/// First byte past the last mappable user page.
const TASK_SIZE_MAX: usize = 0x7fff_ffff_f000;

fn mmap(addr: usize, len: usize, prot: usize, flags: usize) -> isize {
    // SAFETY: new anonymous mappings; callers using MAP_FIXED only target ranges this program
    // mapped itself or the top user pages, which nothing else uses.
    unsafe { sys::syscall6(nr::MMAP, addr, len, prot, flags, usize::MAX, 0) }
}

fn mmap_off(addr: usize, len: usize, prot: usize, flags: usize, off: usize) -> isize {
    // SAFETY: as in `mmap`.
    unsafe { sys::syscall6(nr::MMAP, addr, len, prot, flags, usize::MAX, off) }
}

fn munmap(addr: usize, len: usize) -> isize {
    // SAFETY: callers unmap only their own mappings (or pass bad arguments that fail).
    unsafe { sys::syscall2(nr::MUNMAP, addr, len) }
}

fn mprotect(addr: usize, len: usize, prot: usize) -> isize {
    // SAFETY: callers change only their own mappings.
    unsafe { sys::syscall3(nr::MPROTECT, addr, len, prot) }
}

fn mremap(addr: usize, old: usize, new: usize, flags: usize, new_addr: usize) -> isize {
    // SAFETY: callers move only their own mappings, to free or own ranges.
    unsafe { sys::syscall5(nr::MREMAP, addr, old, new, flags, new_addr) }
}

fn brk(addr: usize) -> usize {
    // SAFETY: the heap is not used by anything else in this program.
    unsafe { sys::syscall1(nr::BRK, addr) as usize }
}

/// A kernel write of 8 bytes at `addr` (ARCH_GET_FS stores the FS base there): 0 or -EFAULT.
fn kernel_write(addr: usize) -> isize {
    // SAFETY: `addr` is a page of this program's own mappings, or one that must refuse writes.
    unsafe { sys::syscall2(nr::ARCH_PRCTL, ARCH_GET_FS, addr) }
}

fn rd(addr: usize) -> u64 {
    // SAFETY: callers read only mapped, readable memory of their own.
    unsafe { read_volatile(addr as *const u64) }
}

fn wr(addr: usize, v: u64) {
    // SAFETY: callers write only mapped, writable memory of their own.
    unsafe { write_volatile(addr as *mut u64, v) }
}

/// Writes a pattern (derived from `seed` and the address) every 512 bytes of [addr, addr+len).
fn fill(addr: usize, len: usize, seed: u64) {
    for a in (addr..addr + len).step_by(512) {
        wr(a, seed ^ a as u64);
    }
}

/// Whether [addr, addr+len) holds `fill`'s pattern for `seed`, with `base` the address the
/// pattern was written at.
fn check(addr: usize, len: usize, seed: u64, base: usize) -> bool {
    (0..len)
        .step_by(512)
        .all(|o| rd(addr + o) == seed ^ (base + o) as u64)
}

/// Whether every sampled word of [addr, addr+len) is zero (one per `step` bytes).
fn zeros(addr: usize, len: usize, step: usize) -> bool {
    (addr..addr + len).step_by(step).all(|a| rd(a) == 0)
}

fn ok_addr(r: isize) -> bool {
    r > 0 && (r as usize).is_multiple_of(PAGE)
}

fn test_brk(t: &mut Ktap) {
    let b0 = brk(0);
    t.result(b0 != 0 && b0.is_multiple_of(PAGE), "brk_start_page_aligned");
    let grown = brk(b0 + 0x10000);
    t.eq_hex(grown as u64, (b0 + 0x10000) as u64, "brk_grow");
    let fresh_zero = zeros(b0, 0x10000, 256);
    fill(b0, 0x10000, 0x1111);
    t.result(
        fresh_zero && check(b0, 0x10000, 0x1111, b0),
        "brk_memory_zero_then_rw",
    );
    t.result(kernel_write(b0 + 0x8000) == 0, "brk_kernel_write");
    let r = brk(b0 + 0x1234);
    let q = brk(0);
    t.result(
        r == b0 + 0x1234 && q == b0 + 0x1234 && check(b0, 0x2000, 0x1111, b0),
        "brk_unaligned_kept",
    );
    let r = brk(b0 + 0x10000);
    t.result(
        r == b0 + 0x10000 && zeros(b0 + 0x2000, 0xe000, 512),
        "brk_regrow_reads_zero",
    );
    let below = brk(b0 - PAGE);
    t.eq_hex(
        below as u64,
        (b0 + 0x10000) as u64,
        "brk_below_start_unchanged",
    );
    brk(b0);
}

fn test_mmap(t: &mut Ktap) {
    let len = 8 * PAGE;
    let r = mmap(0, len, RW, ANON);
    let ok = ok_addr(r);
    let a = r as usize;
    let fresh = ok && zeros(a, len, 8);
    if ok {
        fill(a, len, 0x2222);
    }
    t.result(
        ok && fresh && check(a, len, 0x2222, a),
        "mmap_anon_zero_then_rw",
    );
    if ok {
        munmap(a, len);
    }

    // MAP_FIXED replaces the middle page; the outer ones keep their data.
    let r = mmap(0, 3 * PAGE, RW, ANON);
    let a = r as usize;
    if !ok_addr(r) {
        t.result(false, "mmap_fixed_replaces");
        t.result(false, "mmap_fixed_noreplace_eexist");
        t.result(false, "munmap_leaves_hole");
        return;
    }
    fill(a, 3 * PAGE, 0x3333);
    let f = mmap(a + PAGE, PAGE, RW, ANON | MAP_FIXED);
    t.result(
        f == (a + PAGE) as isize
            && zeros(a + PAGE, PAGE, 8)
            && check(a, PAGE, 0x3333, a)
            && check(a + 2 * PAGE, PAGE, 0x3333, a + 2 * PAGE),
        "mmap_fixed_replaces",
    );
    t.eq(
        mmap(a + PAGE, PAGE, RW, ANON | MAP_FIXED_NOREPLACE),
        EEXIST,
        "mmap_fixed_noreplace_eexist",
    );
    let u = munmap(a + PAGE, PAGE);
    let again = mmap(a + PAGE, PAGE, RW, ANON | MAP_FIXED_NOREPLACE);
    t.result(
        u == 0
            && again == (a + PAGE) as isize
            && zeros(a + PAGE, PAGE, 8)
            && check(a + 2 * PAGE, PAGE, 0x3333, a + 2 * PAGE),
        "munmap_leaves_hole",
    );
    munmap(a, 3 * PAGE);

    // A free hint is taken as is.
    let hint = 0x2000_0000_0000;
    let r = mmap(hint, 2 * PAGE, RW, ANON);
    t.eq_hex(r as u64, hint as u64, "mmap_free_hint_taken");
    if r == hint as isize {
        munmap(hint, 2 * PAGE);
    }

    let r = mmap(0, PAGE, RW, ANON | MAP_32BIT);
    t.result(
        (0x4000_0000..0x8000_0000).contains(&(r as usize)),
        "mmap_32bit_below_2g",
    );
    if r > 0 {
        munmap(r as usize, PAGE);
    }

    t.result(
        mmap(0, 0, RW, ANON) == EINVAL
            && mmap_off(0, PAGE, RW, ANON, 100) == EINVAL
            && mmap(0, PAGE, RW, MAP_ANONYMOUS) == EINVAL
            && mmap(0x1234_5001, PAGE, RW, ANON | MAP_FIXED) == EINVAL
            && munmap(0x1234_5001, PAGE) == EINVAL
            && munmap(0x1234_5000, 0) == EINVAL,
        "mmap_munmap_bad_args_einval",
    );
}

fn test_mremap(t: &mut Ktap) {
    // Grow in place: the pages after the mapping are free.
    let r = mmap(0, 4 * PAGE, RW, ANON);
    let a = r as usize;
    if !ok_addr(r) {
        for n in [
            "mremap_grow_in_place",
            "mremap_shrink",
            "mremap_grow_moves",
            "mremap_no_maymove_enomem",
            "mremap_fixed",
        ] {
            t.result(false, n);
        }
        return;
    }
    munmap(a + 2 * PAGE, 2 * PAGE);
    fill(a, 2 * PAGE, 0x4444);
    let g = mremap(a, 2 * PAGE, 4 * PAGE, 0, 0);
    t.result(
        g == a as isize && check(a, 2 * PAGE, 0x4444, a) && zeros(a + 2 * PAGE, 2 * PAGE, 8),
        "mremap_grow_in_place",
    );
    let s = mremap(a, 4 * PAGE, PAGE, 0, 0);
    let hole = mmap(a + PAGE, 3 * PAGE, RW, ANON | MAP_FIXED_NOREPLACE);
    t.result(
        s == a as isize && hole == (a + PAGE) as isize && check(a, PAGE, 0x4444, a),
        "mremap_shrink",
    );
    munmap(a, 4 * PAGE);

    // Grow where the next page is taken: only MREMAP_MAYMOVE can do it.
    let r = mmap(0, 3 * PAGE, RW, ANON);
    let a = r as usize;
    fill(a, 2 * PAGE, 0x5555);
    let n = mremap(a, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE, 0);
    let m = n as usize;
    let moved =
        ok_addr(n) && m != a && check(m, 2 * PAGE, 0x5555, a) && zeros(m + 2 * PAGE, 2 * PAGE, 8);
    let old_free = mmap(a, 2 * PAGE, RW, ANON | MAP_FIXED_NOREPLACE) == a as isize;
    t.result(moved && old_free, "mremap_grow_moves");
    t.eq(
        mremap(a, PAGE, 2 * PAGE, 0, 0),
        ENOMEM,
        "mremap_no_maymove_enomem",
    );
    munmap(a, 3 * PAGE);
    if ok_addr(n) {
        munmap(m, 4 * PAGE);
    }

    // MREMAP_FIXED to a chosen address.
    let src = mmap(0, PAGE, RW, ANON) as usize;
    let dst = mmap(0, 2 * PAGE, RW, ANON) as usize;
    fill(src, PAGE, 0x6666);
    let f = mremap(src, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst + PAGE);
    t.result(
        f == (dst + PAGE) as isize && check(dst + PAGE, PAGE, 0x6666, src),
        "mremap_fixed",
    );
    munmap(dst, 2 * PAGE);
    munmap(src, PAGE);
}

fn test_top_page(t: &mut Ktap) {
    let last = TASK_SIZE_MAX;
    let below = TASK_SIZE_MAX - PAGE;
    t.eq(
        mmap(last, PAGE, RW, ANON | MAP_FIXED),
        ENOMEM,
        "mmap_last_user_page_enomem",
    );
    let r = mmap(below, PAGE, RW, ANON | MAP_FIXED_NOREPLACE);
    let ok = r == below as isize;
    if ok {
        wr(below + PAGE - 8, 0x7777);
    }
    t.result(
        ok && rd(below + PAGE - 8) == 0x7777,
        "mmap_page_below_last_ok",
    );
    if ok {
        munmap(below, PAGE);
    }
    // sysret_rip's check: a page moved to the last user page fails, below it succeeds.
    let p = mmap(0, PAGE, RW, ANON) as usize;
    wr(p, 0x8888);
    let bad = mremap(p, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, last);
    let good = mremap(p, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, below);
    t.eq(bad, EINVAL, "mremap_to_last_user_page_einval");
    t.result(
        good == below as isize && rd(below) == 0x8888,
        "mremap_to_page_below_last_ok",
    );
    if good == below as isize {
        munmap(below, PAGE);
    } else {
        munmap(p, PAGE);
    }
}

fn test_mprotect(t: &mut Ktap) {
    let r = mmap(0, 2 * PAGE, RW, ANON);
    let a = r as usize;
    if !ok_addr(r) {
        for n in [
            "mprotect_read_only",
            "mprotect_none",
            "mprotect_back_to_rw",
            "mprotect_bad_args",
        ] {
            t.result(false, n);
        }
        return;
    }
    fill(a, 2 * PAGE, 0x9999);
    let p = mprotect(a, PAGE, PROT_READ);
    t.result(
        p == 0
            && kernel_write(a + 64) == EFAULT
            && check(a, PAGE, 0x9999, a)
            && kernel_write(a + PAGE + 64) == 0,
        "mprotect_read_only",
    );
    let p = mprotect(a, PAGE, PROT_NONE);
    t.result(p == 0 && kernel_write(a + 64) == EFAULT, "mprotect_none");
    let p = mprotect(a, 2 * PAGE, RW);
    let fs = kernel_write(a + 128) == 0;
    t.result(
        p == 0 && fs && check(a, 64, 0x9999, a) && check(a + 512, PAGE - 512, 0x9999, a + 512),
        "mprotect_back_to_rw",
    );
    munmap(a + PAGE, PAGE);
    t.result(
        mprotect(a + 1, PAGE, PROT_READ) == EINVAL
            && mprotect(a, 2 * PAGE, PROT_READ) == ENOMEM
            && mprotect(a, PAGE, 0x1000) == EINVAL
            && mprotect(a, 0, PROT_READ) == 0,
        "mprotect_bad_args",
    );
    munmap(a, PAGE);
}

fn test_kernel_writes(t: &mut Ktap) {
    let r = mmap(0, 4 * PAGE, RW, ANON);
    let a = r as usize;
    t.result(
        ok_addr(r) && kernel_write(a + 8) == 0,
        "kernel_write_fresh_page",
    );
    // A page first read (the zero page, read-only) then written by the kernel.
    let zero = rd(a + PAGE);
    let k = kernel_write(a + PAGE);
    let mut fs: u64 = 1;
    let fsr = kernel_write(&raw mut fs as usize);
    t.result(
        zero == 0 && k == 0 && fsr == 0 && rd(a + PAGE) == fs && rd(a + 2 * PAGE) == 0,
        "kernel_write_after_read",
    );
    munmap(a, 4 * PAGE);
    // The stack below its mapped part.
    let sp: usize;
    // SAFETY: reads RSP only.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack)) };
    let deep = (sp - (2 << 20)) & !7;
    t.result(kernel_write(deep) == 0, "kernel_write_grows_stack");
    let deeper = (sp - (3 << 20)) & !7;
    wr(deeper, 0xabcd);
    t.result(rd(deeper) == 0xabcd, "user_write_grows_stack");
}

fn test_big_and_advice(t: &mut Ktap) {
    let len = 64 << 20;
    let r = mmap(0, len, RW, ANON);
    let a = r as usize;
    let ok = ok_addr(r) && zeros(a, len, 64 << 10);
    if ok_addr(r) {
        for o in (0..len).step_by(1 << 20) {
            wr(a + o, o as u64 + 1);
        }
    }
    let back = ok_addr(r) && (0..len).step_by(1 << 20).all(|o| rd(a + o) == o as u64 + 1);
    t.result(ok && back, "mmap_64m_sparse_zero_then_rw");
    if ok_addr(r) {
        munmap(a, len);
    }

    let r = mmap(0, 4 * PAGE, RW, ANON);
    let a = r as usize;
    wr(a, 5);
    wr(a + 2 * PAGE, 6);
    let mut vec = [0xffu8; 4];
    // SAFETY: the kernel writes 4 bytes into `vec`.
    let m = unsafe { sys::syscall3(nr::MINCORE, a, 4 * PAGE, vec.as_mut_ptr() as usize) };
    let bits = [vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1];
    if m != 0 || bits != [1, 0, 1, 0] {
        diag!("mincore: {m}, {:?}", bits);
    }
    t.result(m == 0 && bits == [1, 0, 1, 0], "mincore_touched_pages");
    // SAFETY: as above; the range is unmapped, so nothing is written.
    let m = unsafe {
        sys::syscall3(
            nr::MINCORE,
            0x1000_0000_0000,
            PAGE,
            vec.as_mut_ptr() as usize,
        )
    };
    t.eq(m, ENOMEM, "mincore_unmapped_enomem");
    // SAFETY: drops pages of this program's own mapping.
    let d = unsafe { sys::syscall3(nr::MADVISE, a, 4 * PAGE, MADV_DONTNEED) };
    t.result(
        d == 0 && rd(a) == 0 && rd(a + 2 * PAGE) == 0,
        "madvise_dontneed_zeroes",
    );
    munmap(a, 4 * PAGE);
}

fn test_fork(t: &mut Ktap) {
    let private = mmap(0, PAGE, RW, ANON);
    let shared = mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS);
    if !ok_addr(private) || !ok_addr(shared) {
        t.result(false, "fork_private_copied");
        t.result(false, "fork_shared_shared");
        return;
    }
    let (p, s) = (private as usize, shared as usize);
    wr(p, 1);
    wr(s, 1);
    // SAFETY: fork duplicates this single-threaded process; the child only touches the two
    // mappings and exits.
    let pid = unsafe { sys::syscall0(nr::FORK) };
    if pid == 0 {
        let saw = rd(p) == 1 && rd(s) == 1;
        wr(p, 2);
        wr(s, 3);
        sys::exit_group(if saw && rd(p) == 2 { 0 } else { 1 });
    }
    let mut status: i32 = -1;
    // SAFETY: the kernel writes the status into a live local.
    let w = unsafe { sys::syscall4(nr::WAIT4, pid as usize, &raw mut status as usize, 0, 0) };
    t.result(
        pid > 0 && w == pid && status == 0 && rd(p) == 1,
        "fork_private_copied",
    );
    t.result(rd(s) == 3, "fork_shared_shared");
    munmap(p, PAGE);
    munmap(s, PAGE);
}

fn main(_args: kentry_user::rt::Args) -> i32 {
    let mut t = Ktap::new(37);
    test_brk(&mut t);
    test_mmap(&mut t);
    test_mremap(&mut t);
    test_top_page(&mut t);
    test_mprotect(&mut t);
    test_kernel_writes(&mut t);
    test_big_and_advice(&mut t);
    test_fork(&mut t);
    t.finish()
}

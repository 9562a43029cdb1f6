//! i386 file calls whose arguments differ from x86-64's (Linux's arch/x86/kernel/sys_ia32.c
//! and the compat_off_t calls of fs/): 64-bit offsets split over two registers, low word first;
//! 32-bit signed offsets; `_llseek`'s result through a pointer; the old `mmap` with its
//! arguments in a structure. Each converts and runs the x86-64 handler.

use super::{call_native, ia32_args, lo_hi};
use crate::syscall::errno::*;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;
use kentry_abi::nr;

/// A `compat_off_t` argument: a signed 32-bit offset, sign-extended (Linux's compat lseek,
/// truncate and ftruncate take it so; -1 stays -1, not 4 GiB - 1).
fn off32(v: u64) -> u64 {
    v as u32 as i32 as i64 as u64
}

/// lseek(fd, compat_off_t offset, whence).
pub(super) fn sys_lseek(regs: &mut Regs) -> i64 {
    let [fd, off, whence, ..] = ia32_args(regs);
    let ret = call_native::<{ nr::LSEEK }>(regs, [fd, off32(off), whence, 0, 0, 0]);
    // A position past 2 GiB does not fit the i386 return (Linux's EOVERFLOW).
    if ret > i32::MAX as i64 {
        return -EOVERFLOW;
    }
    ret
}

/// _llseek(fd, offset_high, offset_low, loff_t *result, whence): the 64-bit lseek of i386,
/// whose new position goes to `result`.
pub(super) fn sys_llseek(regs: &mut Regs) -> i64 {
    let [fd, hi, lo, result, whence, _] = ia32_args(regs);
    let ret = call_native::<{ nr::LSEEK }>(regs, [fd, lo_hi(lo, hi), whence, 0, 0, 0]);
    if ret < 0 {
        return ret;
    }
    match copy_to_user(result, &ret.to_ne_bytes()) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// pread64(fd, buf, count, pos_lo, pos_hi).
pub(super) fn sys_ia32_pread64(regs: &mut Regs) -> i64 {
    let [fd, buf, count, lo, hi, _] = ia32_args(regs);
    call_native::<{ nr::PREAD64 }>(regs, [fd, buf, count, lo_hi(lo, hi), 0, 0])
}

/// pwrite64(fd, buf, count, pos_lo, pos_hi).
pub(super) fn sys_ia32_pwrite64(regs: &mut Regs) -> i64 {
    let [fd, buf, count, lo, hi, _] = ia32_args(regs);
    call_native::<{ nr::PWRITE64 }>(regs, [fd, buf, count, lo_hi(lo, hi), 0, 0])
}

/// ftruncate64(fd, len_lo, len_hi).
pub(super) fn sys_ia32_ftruncate64(regs: &mut Regs) -> i64 {
    let [fd, lo, hi, ..] = ia32_args(regs);
    call_native::<{ nr::FTRUNCATE }>(regs, [fd, lo_hi(lo, hi), 0, 0, 0, 0])
}

/// truncate64(path, len_lo, len_hi).
pub(super) fn sys_ia32_truncate64(regs: &mut Regs) -> i64 {
    let [path, lo, hi, ..] = ia32_args(regs);
    call_native::<{ nr::TRUNCATE }>(regs, [path, lo_hi(lo, hi), 0, 0, 0, 0])
}

/// The old mmap (90): one pointer to `struct mmap_arg_struct32` (addr, len, prot, flags, fd,
/// offset, 32 bits each); the offset is in bytes and must be page-aligned (Linux's
/// `compat_sys_ia32_mmap`).
pub(super) fn sys_ia32_mmap(regs: &mut Regs) -> i64 {
    let mut b = [0u8; 24];
    if copy_from_user(&mut b, regs.rbx as u32 as u64).is_err() {
        return -EFAULT;
    }
    let w = |i: usize| u32::from_ne_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
    if w(5) & 0xfff != 0 {
        return -EINVAL;
    }
    let a = [w(0), w(1), w(2), w(3), w(4), w(5)].map(u64::from);
    // The descriptor is an int: -1 for an anonymous mapping.
    let fd = a[4] as u32 as i32 as i64 as u64;
    call_native::<{ nr::MMAP }>(regs, [a[0], a[1], a[2], a[3], fd, a[5]])
}

/// truncate and ftruncate take a `compat_off_t`: a negative length stays negative (EINVAL).
pub(super) fn sys_truncate(regs: &mut Regs) -> i64 {
    let [path, len, ..] = ia32_args(regs);
    call_native::<{ nr::TRUNCATE }>(regs, [path, off32(len), 0, 0, 0, 0])
}

pub(super) fn sys_ftruncate(regs: &mut Regs) -> i64 {
    let [fd, len, ..] = ia32_args(regs);
    call_native::<{ nr::FTRUNCATE }>(regs, [fd, off32(len), 0, 0, 0, 0])
}

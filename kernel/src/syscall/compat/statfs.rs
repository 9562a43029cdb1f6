//! i386 statfs and fstatfs (`struct compat_statfs`, every field 32 bits) and statfs64 and
//! fstatfs64 (`struct compat_statfs64`, packed to 84 bytes), made from the x86-64 answer's
//! words (Linux's fs/statfs.c compat calls).

use super::ia32_args;
use crate::syscall::errno::*;
use crate::syscall::fs::{StatfsWords, statfs_fd, statfs_path};
use crate::uaccess::copy_to_user;
use kentry::Regs;

/// sizeof(struct compat_statfs64) on i386: statfs64's size argument must say so.
const STATFS64_SIZE: u64 = 84;

/// `compat_statfs`: f_type … f_ffree, f_fsid, f_namelen, f_frsize, f_flags as 32-bit words,
/// then four spare words (64 bytes). A count past 32 bits is EOVERFLOW, as Linux's
/// `put_compat_statfs`.
fn put_statfs32(buf: u64, w: StatfsWords) -> i64 {
    let mut b = [0u8; 64];
    let fsid = w[7] as u64;
    let fields = [
        w[0],
        w[1],
        w[2],
        w[3],
        w[4],
        w[5],
        w[6],
        fsid as u32 as i64,
        (fsid >> 32) as i64,
        w[8],
        w[9],
        w[10],
    ];
    if w[2..7].iter().any(|&v| v as u64 > u32::MAX as u64) {
        return -EOVERFLOW;
    }
    for (i, v) in fields.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&(*v as u32).to_le_bytes());
    }
    match copy_to_user(buf, &b) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// `compat_statfs64`: f_type, f_bsize (32 bits), f_blocks … f_ffree (64), f_fsid,
/// f_namelen, f_frsize, f_flags (32), four spare words; no padding.
fn put_statfs64(buf: u64, w: StatfsWords) -> i64 {
    let mut b = [0u8; STATFS64_SIZE as usize];
    b[0..4].copy_from_slice(&(w[0] as u32).to_le_bytes());
    b[4..8].copy_from_slice(&(w[1] as u32).to_le_bytes());
    for (i, v) in w[2..7].iter().enumerate() {
        b[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
    }
    b[48..56].copy_from_slice(&w[7].to_le_bytes());
    for (i, v) in w[8..11].iter().enumerate() {
        b[56 + i * 4..60 + i * 4].copy_from_slice(&(*v as u32).to_le_bytes());
    }
    match copy_to_user(buf, &b) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// statfs(path, buf).
pub(super) fn sys_statfs(regs: &mut Regs) -> i64 {
    let [path, buf, ..] = ia32_args(regs);
    statfs_path(path).map_or_else(|e| e, |w| put_statfs32(buf, w))
}

/// fstatfs(fd, buf).
pub(super) fn sys_fstatfs(regs: &mut Regs) -> i64 {
    let [fd, buf, ..] = ia32_args(regs);
    statfs_fd(fd).map_or_else(|e| e, |w| put_statfs32(buf, w))
}

/// statfs64(path, size, buf): EINVAL unless `size` is the i386 structure's.
pub(super) fn sys_statfs64(regs: &mut Regs) -> i64 {
    let [path, size, buf, ..] = ia32_args(regs);
    if size != STATFS64_SIZE {
        return -EINVAL;
    }
    statfs_path(path).map_or_else(|e| e, |w| put_statfs64(buf, w))
}

/// fstatfs64(fd, size, buf).
pub(super) fn sys_fstatfs64(regs: &mut Regs) -> i64 {
    let [fd, size, buf, ..] = ia32_args(regs);
    if size != STATFS64_SIZE {
        return -EINVAL;
    }
    statfs_fd(fd).map_or_else(|e| e, |w| put_statfs64(buf, w))
}

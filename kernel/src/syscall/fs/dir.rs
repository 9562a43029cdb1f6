//! Directory and name syscalls: getdents, getcwd, chdir, umask, mkdir, rmdir, unlink,
//! rename, link, symlink and readlink.

use super::{
    AT_EMPTY_PATH, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, dirfd_arg, files,
    path_arg, ret, target_at,
};
use crate::fs::{self, AT_FDCWD};
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::uaccess::copy_to_user;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::GETDENTS] = sys_getdents;
    t[nr::GETCWD] = sys_getcwd;
    t[nr::CHDIR] = sys_chdir;
    t[nr::FCHDIR] = sys_fchdir;
    t[nr::RENAME] = sys_rename;
    t[nr::MKDIR] = sys_mkdir;
    t[nr::RMDIR] = sys_rmdir;
    t[nr::LINK] = sys_link;
    t[nr::UNLINK] = sys_unlink;
    t[nr::SYMLINK] = sys_symlink;
    t[nr::READLINK] = sys_readlink;
    t[nr::UMASK] = sys_umask;
    t[nr::GETDENTS64] = sys_getdents64;
    t[nr::MKDIRAT] = sys_mkdirat;
    t[nr::UNLINKAT] = sys_unlinkat;
    t[nr::RENAMEAT] = sys_renameat;
    t[nr::LINKAT] = sys_linkat;
    t[nr::SYMLINKAT] = sys_symlinkat;
    t[nr::READLINKAT] = sys_readlinkat;
    t[nr::RENAMEAT2] = sys_renameat2;
    t
}

/// getdents64 (`wide`) or the old getdents: entries from the directory's position on, as
/// many whole records as fit in `count` bytes.
fn do_getdents(fd: u64, buf: u64, count: usize, wide: bool) -> Result<i64, i64> {
    let f = fs::get_file(fd)?;
    if f.is_path() {
        return Err(-EBADF);
    }
    let node = f.node().ok_or(-ENOTDIR)?;
    let listing = fs::list_dir(node)?;
    let mut pos = f.pos.lock();
    let mut out: Vec<u8> = Vec::new();
    let mut i = *pos as usize;
    while let Some((name, ino, dtype)) = listing.get(i) {
        let head = if wide { 19 } else { 18 };
        let tail = if wide { 1 } else { 2 }; // NUL (and d_type for the old format)
        let reclen = (head + name.len() + tail).next_multiple_of(8);
        if out.len() + reclen > count {
            break;
        }
        let start = out.len();
        out.resize(start + reclen, 0);
        let r = &mut out[start..];
        r[..8].copy_from_slice(&ino.to_ne_bytes());
        r[8..16].copy_from_slice(&((i + 1) as i64).to_ne_bytes());
        r[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
        if wide {
            r[18] = *dtype;
            r[19..19 + name.len()].copy_from_slice(name.as_bytes());
        } else {
            r[18..18 + name.len()].copy_from_slice(name.as_bytes());
            r[reclen - 1] = *dtype;
        }
        i += 1;
    }
    if out.is_empty() && i < listing.len() {
        return Err(-EINVAL);
    }
    copy_to_user(buf, &out).map_err(|_| -EFAULT)?;
    *pos = i as u64;
    Ok(out.len() as i64)
}

fn sys_getdents64(regs: &mut Regs) -> i64 {
    ret(do_getdents(
        regs.rdi,
        regs.rsi,
        regs.rdx as u32 as usize,
        true,
    ))
}

fn sys_getdents(regs: &mut Regs) -> i64 {
    ret(do_getdents(
        regs.rdi,
        regs.rsi,
        regs.rdx as u32 as usize,
        false,
    ))
}

fn sys_getcwd(regs: &mut Regs) -> i64 {
    let (buf, size) = (regs.rdi, regs.rsi as usize);
    ret((|| {
        let cwd = fs::getcwd()?;
        let n = cwd.len() + 1;
        if n > size {
            return Err(-ERANGE);
        }
        let mut bytes = cwd.into_bytes();
        bytes.push(0);
        copy_to_user(buf, &bytes).map_err(|_| -EFAULT)?;
        Ok(n as i64)
    })())
}

fn sys_chdir(regs: &mut Regs) -> i64 {
    ret(target_at(AT_FDCWD, regs.rdi, 0).and_then(|t| {
        fs::chdir_to(t.node().ok_or(-ENOTDIR)?)?;
        Ok(0)
    }))
}

fn sys_fchdir(regs: &mut Regs) -> i64 {
    ret(fs::get_file(regs.rdi).and_then(|f| {
        fs::chdir_to(f.node().ok_or(-ENOTDIR)?)?;
        Ok(0)
    }))
}

fn sys_umask(regs: &mut Regs) -> i64 {
    let table = files();
    let mut t = table.lock();
    let old = t.umask;
    t.umask = regs.rdi as u32 & 0o777;
    old as i64
}

fn do_mkdir(dirfd: i32, path: u64, mode: u32) -> Result<i64, i64> {
    let p = path_arg(path)?;
    let base = fs::base_dir(dirfd, &p)?;
    fs::mkdir(&base, &p, mode)?;
    Ok(0)
}

fn sys_mkdir(regs: &mut Regs) -> i64 {
    ret(do_mkdir(AT_FDCWD, regs.rdi, regs.rsi as u32))
}

fn sys_mkdirat(regs: &mut Regs) -> i64 {
    ret(do_mkdir(dirfd_arg(regs.rdi), regs.rsi, regs.rdx as u32))
}

fn do_remove(dirfd: i32, path: u64, dir: bool) -> Result<i64, i64> {
    let p = path_arg(path)?;
    let base = fs::base_dir(dirfd, &p)?;
    fs::remove(&base, &p, dir)?;
    Ok(0)
}

fn sys_unlink(regs: &mut Regs) -> i64 {
    ret(do_remove(AT_FDCWD, regs.rdi, false))
}

fn sys_rmdir(regs: &mut Regs) -> i64 {
    ret(do_remove(AT_FDCWD, regs.rdi, true))
}

fn sys_unlinkat(regs: &mut Regs) -> i64 {
    let flags = regs.rdx;
    if flags & !AT_REMOVEDIR != 0 {
        return -EINVAL;
    }
    ret(do_remove(
        dirfd_arg(regs.rdi),
        regs.rsi,
        flags & AT_REMOVEDIR != 0,
    ))
}

fn do_rename(od: i32, op: u64, nd: i32, np: u64, flags: u32) -> Result<i64, i64> {
    let (op, np) = (path_arg(op)?, path_arg(np)?);
    let (ob, nb) = (fs::base_dir(od, &op)?, fs::base_dir(nd, &np)?);
    fs::rename(&ob, &op, &nb, &np, flags)?;
    Ok(0)
}

fn sys_rename(regs: &mut Regs) -> i64 {
    ret(do_rename(AT_FDCWD, regs.rdi, AT_FDCWD, regs.rsi, 0))
}

fn sys_renameat(regs: &mut Regs) -> i64 {
    ret(do_rename(
        dirfd_arg(regs.rdi),
        regs.rsi,
        dirfd_arg(regs.rdx),
        regs.r10,
        0,
    ))
}

fn sys_renameat2(regs: &mut Regs) -> i64 {
    ret(do_rename(
        dirfd_arg(regs.rdi),
        regs.rsi,
        dirfd_arg(regs.rdx),
        regs.r10,
        regs.r8 as u32,
    ))
}

fn do_link(od: i32, op: u64, nd: i32, np: u64, flags: u64) -> Result<i64, i64> {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(-EINVAL);
    }
    let op = path_arg(op)?;
    let ob = fs::base_dir(od, &op)?;
    let old = fs::lookup(&ob, &op, flags & AT_SYMLINK_FOLLOW != 0)?;
    let np = path_arg(np)?;
    let nb = fs::base_dir(nd, &np)?;
    fs::link(&old, &nb, &np)?;
    Ok(0)
}

fn sys_link(regs: &mut Regs) -> i64 {
    ret(do_link(AT_FDCWD, regs.rdi, AT_FDCWD, regs.rsi, 0))
}

fn sys_linkat(regs: &mut Regs) -> i64 {
    ret(do_link(
        dirfd_arg(regs.rdi),
        regs.rsi,
        dirfd_arg(regs.rdx),
        regs.r10,
        regs.r8,
    ))
}

fn do_symlink(target: u64, dirfd: i32, path: u64) -> Result<i64, i64> {
    let target = path_arg(target)?;
    let p = path_arg(path)?;
    let base = fs::base_dir(dirfd, &p)?;
    fs::symlink(&base, &target, &p)?;
    Ok(0)
}

fn sys_symlink(regs: &mut Regs) -> i64 {
    ret(do_symlink(regs.rdi, AT_FDCWD, regs.rsi))
}

fn sys_symlinkat(regs: &mut Regs) -> i64 {
    ret(do_symlink(regs.rdi, dirfd_arg(regs.rsi), regs.rdx))
}

fn do_readlink(dirfd: i32, path: u64, buf: u64, size: u64) -> Result<i64, i64> {
    let size = size as i32;
    if size <= 0 {
        return Err(-EINVAL);
    }
    // An empty path names a symlink opened with O_PATH | O_NOFOLLOW at `dirfd`.
    let empty = if dirfd == AT_FDCWD { 0 } else { AT_EMPTY_PATH };
    let t = target_at(dirfd, path, AT_SYMLINK_NOFOLLOW | empty)?;
    let target = t.node().and_then(|n| n.link_target()).ok_or(-EINVAL)?;
    let n = target.len().min(size as usize);
    copy_to_user(buf, &target.as_bytes()[..n]).map_err(|_| -EFAULT)?;
    Ok(n as i64)
}

fn sys_readlink(regs: &mut Regs) -> i64 {
    ret(do_readlink(AT_FDCWD, regs.rdi, regs.rsi, regs.rdx))
}

fn sys_readlinkat(regs: &mut Regs) -> i64 {
    ret(do_readlink(
        dirfd_arg(regs.rdi),
        regs.rsi,
        regs.rdx,
        regs.r10,
    ))
}

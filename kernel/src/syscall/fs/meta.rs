//! Metadata syscalls: the stat family, access, chmod, chown, utimensat, statfs and
//! truncation.

use super::{
    AT_EACCESS, AT_EMPTY_PATH, AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE, AT_SYMLINK_NOFOLLOW, dirfd_arg,
    ret, target_at,
};
use crate::fs::{self, AT_FDCWD, Target};
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::STAT] = sys_stat;
    t[nr::FSTAT] = sys_fstat;
    t[nr::LSTAT] = sys_lstat;
    t[nr::ACCESS] = sys_access;
    t[nr::TRUNCATE] = sys_truncate;
    t[nr::FTRUNCATE] = sys_ftruncate;
    t[nr::CHMOD] = sys_chmod;
    t[nr::FCHMOD] = sys_fchmod;
    t[nr::CHOWN] = sys_chown;
    t[nr::FCHOWN] = sys_fchown;
    t[nr::LCHOWN] = sys_lchown;
    t[nr::STATFS] = sys_statfs;
    t[nr::FSTATFS] = sys_fstatfs;
    t[nr::FCHOWNAT] = sys_fchownat;
    t[nr::NEWFSTATAT] = sys_newfstatat;
    t[nr::FCHMODAT] = sys_fchmodat;
    t[nr::FACCESSAT] = sys_faccessat;
    t[nr::UTIMENSAT] = sys_utimensat;
    t[nr::STATX] = sys_statx;
    t[nr::FACCESSAT2] = sys_faccessat2;
    t
}

fn put_stat(buf: u64, st: &fs::Stat) -> Result<i64, i64> {
    let native = st.to_linux();
    if crate::syscall::compat::in_ia32_syscall() {
        // i386's stat64, fstat64, lstat64 and fstatat64 (the only i386 calls served by these
        // handlers) take `struct stat64`.
        copy_to_user(buf, &kentry_abi::compat::stat_to_stat64(&native)).map_err(|_| -EFAULT)?;
        return Ok(0);
    }
    copy_to_user(buf, &native).map_err(|_| -EFAULT)?;
    Ok(0)
}

fn sys_stat(regs: &mut Regs) -> i64 {
    ret(target_at(AT_FDCWD, regs.rdi, 0).and_then(|t| put_stat(regs.rsi, &t.stat())))
}

fn sys_lstat(regs: &mut Regs) -> i64 {
    ret(target_at(AT_FDCWD, regs.rdi, AT_SYMLINK_NOFOLLOW)
        .and_then(|t| put_stat(regs.rsi, &t.stat())))
}

fn sys_fstat(regs: &mut Regs) -> i64 {
    ret(fs::get_file(regs.rdi).and_then(|f| put_stat(regs.rsi, &f.stat())))
}

fn sys_newfstatat(regs: &mut Regs) -> i64 {
    let (dirfd, path, buf, flags) = (dirfd_arg(regs.rdi), regs.rsi, regs.rdx, regs.r10);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return -EINVAL;
    }
    ret(target_at(dirfd, path, flags).and_then(|t| put_stat(buf, &t.stat())))
}

fn sys_statx(regs: &mut Regs) -> i64 {
    let (dirfd, path, flags, mask, buf) = (
        dirfd_arg(regs.rdi),
        regs.rsi,
        regs.rdx,
        regs.r10 as u32,
        regs.r8,
    );
    const STATX_RESERVED: u32 = 0x8000_0000;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX_RESERVED != 0
    {
        return -EINVAL;
    }
    ret(target_at(dirfd, path, flags).and_then(|t| {
        copy_to_user(buf, &t.stat().to_statx()).map_err(|_| -EFAULT)?;
        Ok(0)
    }))
}

const F_OK: u64 = 0;
const X_OK: u64 = 1;
const W_OK: u64 = 2;
const R_OK: u64 = 4;

fn do_access(dirfd: i32, path: u64, mode: u64, flags: u64) -> Result<i64, i64> {
    if mode & !(F_OK | X_OK | W_OK | R_OK) != 0
        || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0
    {
        return Err(-EINVAL);
    }
    let t = target_at(dirfd, path, flags)?;
    let st = t.stat();
    // Root: reading and writing are always allowed; executing needs an execute bit, except
    // for directories (search).
    if mode & X_OK != 0 && st.mode & fs::S_IFMT != fs::S_IFDIR && st.mode & 0o111 == 0 {
        return Err(-EACCES);
    }
    Ok(0)
}

fn sys_access(regs: &mut Regs) -> i64 {
    ret(do_access(AT_FDCWD, regs.rdi, regs.rsi, 0))
}

fn sys_faccessat(regs: &mut Regs) -> i64 {
    ret(do_access(dirfd_arg(regs.rdi), regs.rsi, regs.rdx, 0))
}

fn sys_faccessat2(regs: &mut Regs) -> i64 {
    ret(do_access(dirfd_arg(regs.rdi), regs.rsi, regs.rdx, regs.r10))
}

fn set_mode(node: Option<&fs::InodeRef>, mode: u32) -> Result<i64, i64> {
    let node = node.ok_or(-EBADF)?;
    if node.readonly {
        return Err(-EPERM);
    }
    node.meta.lock().perm = mode & 0o7777;
    node.touch_changed();
    Ok(0)
}

fn sys_chmod(regs: &mut Regs) -> i64 {
    ret(target_at(AT_FDCWD, regs.rdi, 0).and_then(|t| set_mode(t.node(), regs.rsi as u32)))
}

fn sys_fchmodat(regs: &mut Regs) -> i64 {
    ret(target_at(dirfd_arg(regs.rdi), regs.rsi, 0)
        .and_then(|t| set_mode(t.node(), regs.rdx as u32)))
}

fn sys_fchmod(regs: &mut Regs) -> i64 {
    ret(fs::get_file(regs.rdi).and_then(|f| {
        if f.is_path() {
            return Err(-EBADF);
        }
        set_mode(f.node(), regs.rsi as u32)
    }))
}

fn set_owner(node: Option<&fs::InodeRef>, uid: u32, gid: u32) -> Result<i64, i64> {
    let node = node.ok_or(-EBADF)?;
    if node.readonly {
        return Err(-EPERM);
    }
    {
        let mut m = node.meta.lock();
        if uid != u32::MAX {
            m.uid = uid;
        }
        if gid != u32::MAX {
            m.gid = gid;
        }
    }
    node.touch_changed();
    Ok(0)
}

fn sys_chown(regs: &mut Regs) -> i64 {
    ret(target_at(AT_FDCWD, regs.rdi, 0)
        .and_then(|t| set_owner(t.node(), regs.rsi as u32, regs.rdx as u32)))
}

fn sys_lchown(regs: &mut Regs) -> i64 {
    ret(target_at(AT_FDCWD, regs.rdi, AT_SYMLINK_NOFOLLOW)
        .and_then(|t| set_owner(t.node(), regs.rsi as u32, regs.rdx as u32)))
}

fn sys_fchown(regs: &mut Regs) -> i64 {
    ret(fs::get_file(regs.rdi).and_then(|f| {
        if f.is_path() {
            return Err(-EBADF);
        }
        set_owner(f.node(), regs.rsi as u32, regs.rdx as u32)
    }))
}

fn sys_fchownat(regs: &mut Regs) -> i64 {
    let flags = regs.r8;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return -EINVAL;
    }
    ret(target_at(dirfd_arg(regs.rdi), regs.rsi, flags)
        .and_then(|t| set_owner(t.node(), regs.rdx as u32, regs.r10 as u32)))
}

const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

fn sys_utimensat(regs: &mut Regs) -> i64 {
    let (dirfd, path, times, flags) = (dirfd_arg(regs.rdi), regs.rsi, regs.rdx, regs.r10);
    ret((|| {
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
            return Err(-EINVAL);
        }
        // A NULL path names dirfd itself (Linux's futimens).
        let t = if path == 0 {
            if dirfd == AT_FDCWD {
                return Err(-EFAULT);
            }
            Target::File(fs::get_file(dirfd as u32 as u64)?)
        } else {
            target_at(dirfd, path, flags)?
        };
        let node = t.node().ok_or(-EACCES)?.clone();
        let now = fs::now();
        let mut ts = [(UTIME_NOW, 0i64); 2];
        if times != 0 {
            let mut raw = [0u8; 32];
            copy_from_user(&mut raw, times).map_err(|_| -EFAULT)?;
            for (i, t) in ts.iter_mut().enumerate() {
                let sec =
                    i64::from_ne_bytes(raw[i * 16..i * 16 + 8].try_into().unwrap_or_default());
                let nsec =
                    i64::from_ne_bytes(raw[i * 16 + 8..i * 16 + 16].try_into().unwrap_or_default());
                if nsec != UTIME_NOW && nsec != UTIME_OMIT && !(0..1_000_000_000).contains(&nsec) {
                    return Err(-EINVAL);
                }
                *t = (nsec, sec);
            }
        }
        let pick = |(nsec, sec): (i64, i64), old: fs::Time| match nsec {
            UTIME_NOW => now,
            UTIME_OMIT => old,
            _ => fs::Time {
                sec,
                nsec: nsec as u32,
            },
        };
        let mut m = node.meta.lock();
        m.atime = pick(ts[0], m.atime);
        m.mtime = pick(ts[1], m.mtime);
        m.ctime = now;
        Ok(0)
    })())
}

/// statfs's answer as x86-64's `struct statfs` words: f_type, f_bsize, f_blocks, f_bfree,
/// f_bavail, f_files, f_ffree, f_fsid (its two ints), f_namelen, f_frsize, f_flags (the
/// spare words are zero). The i386 layouts are made from the same words (compat/files.rs).
pub(crate) type StatfsWords = [i64; 11];

fn statfs_of(node: Option<&fs::InodeRef>) -> StatfsWords {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const PIPEFS_MAGIC: i64 = 0x5049_5045;
    let (ty, dev) = match node {
        Some(n) if n.dev == fs::DEV_PROC => (PROC_SUPER_MAGIC, n.dev),
        Some(n) => (TMPFS_MAGIC, n.dev),
        None => (PIPEFS_MAGIC, 0),
    };
    let (total, free) = crate::mm::frame::stats();
    [
        ty,
        4096,
        (total / 2) as i64,
        (free / 2) as i64,
        (free / 2) as i64,
        65536,
        65536,
        dev as i64, // f_fsid (two ints)
        255,        // f_namelen
        4096,       // f_frsize
        0x20,       // f_flags: ST_RELATIME-ish, writable
    ]
}

/// statfs of the file at user path `path` (relative to the working directory).
pub(crate) fn statfs_path(path: u64) -> Result<StatfsWords, i64> {
    target_at(AT_FDCWD, path, 0).map(|t| statfs_of(t.node()))
}

/// statfs of the file open as `fd`.
pub(crate) fn statfs_fd(fd: u64) -> Result<StatfsWords, i64> {
    fs::get_file(fd).map(|f| statfs_of(f.node()))
}

/// x86-64's `struct statfs` (120 bytes).
fn put_statfs(buf: u64, w: StatfsWords) -> Result<i64, i64> {
    let mut b = [0u8; 120];
    for (i, w) in w.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
    }
    copy_to_user(buf, &b).map_err(|_| -EFAULT)?;
    Ok(0)
}

fn sys_statfs(regs: &mut Regs) -> i64 {
    ret(statfs_path(regs.rdi).and_then(|w| put_statfs(regs.rsi, w)))
}

fn sys_fstatfs(regs: &mut Regs) -> i64 {
    ret(statfs_fd(regs.rdi).and_then(|w| put_statfs(regs.rsi, w)))
}

fn sys_truncate(regs: &mut Regs) -> i64 {
    let len = regs.rsi as i64;
    ret((|| {
        if len < 0 {
            return Err(-EINVAL);
        }
        let t = target_at(AT_FDCWD, regs.rdi, 0)?;
        let node = t.node().ok_or(-EINVAL)?;
        if node.readonly {
            return Err(-EACCES);
        }
        fs::truncate_node(node, len as u64)?;
        Ok(0)
    })())
}

fn sys_ftruncate(regs: &mut Regs) -> i64 {
    let len = regs.rsi as i64;
    ret((|| {
        let f = fs::get_file(regs.rdi)?;
        if f.is_path() {
            return Err(-EBADF);
        }
        if len < 0 || !f.writable() {
            return Err(-EINVAL);
        }
        match f.node() {
            Some(n) if matches!(n.body, fs::Body::Reg(_) | fs::Body::Memfd(_)) => {
                fs::truncate_node(n, len as u64)?;
                Ok(0)
            }
            _ => Err(-EINVAL),
        }
    })())
}

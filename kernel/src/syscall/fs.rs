//! File and directory syscalls: opening and closing, descriptors (dup, fcntl, pipes), metadata
//! (stat family, access, chmod/chown, utimensat, statfs), directories (getdents, getcwd, chdir,
//! mkdir, rmdir, unlink, rename, link, symlink, readlink) and truncation.

use super::errno::*;
use super::table::Table;
use super::user::read_cstr;
use crate::fs::{self, AT_FDCWD, FdEntry, Target};
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::string::String;
use alloc::vec::Vec;
use kentry::Regs;

pub const fn register(mut t: Table) -> Table {
    t[2] = sys_open;
    t[3] = sys_close;
    t[4] = sys_stat;
    t[5] = sys_fstat;
    t[6] = sys_lstat;
    t[21] = sys_access;
    t[22] = sys_pipe;
    t[32] = sys_dup;
    t[33] = sys_dup2;
    t[72] = sys_fcntl;
    t[73] = sys_flock;
    t[74] = sys_fsync;
    t[75] = sys_fsync;
    t[76] = sys_truncate;
    t[77] = sys_ftruncate;
    t[78] = sys_getdents;
    t[79] = sys_getcwd;
    t[80] = sys_chdir;
    t[81] = sys_fchdir;
    t[82] = sys_rename;
    t[83] = sys_mkdir;
    t[84] = sys_rmdir;
    t[85] = sys_creat;
    t[86] = sys_link;
    t[87] = sys_unlink;
    t[88] = sys_symlink;
    t[89] = sys_readlink;
    t[90] = sys_chmod;
    t[91] = sys_fchmod;
    t[92] = sys_chown;
    t[93] = sys_fchown;
    t[94] = sys_lchown;
    t[95] = sys_umask;
    t[137] = sys_statfs;
    t[138] = sys_fstatfs;
    t[162] = sys_sync;
    t[217] = sys_getdents64;
    t[257] = sys_openat;
    t[258] = sys_mkdirat;
    t[260] = sys_fchownat;
    t[262] = sys_newfstatat;
    t[263] = sys_unlinkat;
    t[264] = sys_renameat;
    t[265] = sys_linkat;
    t[266] = sys_symlinkat;
    t[267] = sys_readlinkat;
    t[268] = sys_fchmodat;
    t[269] = sys_faccessat;
    t[280] = sys_utimensat;
    t[292] = sys_dup3;
    t[293] = sys_pipe2;
    t[306] = sys_syncfs;
    t[316] = sys_renameat2;
    t[332] = sys_statx;
    t[436] = sys_close_range;
    t[439] = sys_faccessat2;
    t
}

const PATH_MAX: usize = 4096;

const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_REMOVEDIR: u64 = 0x200;
const AT_EACCESS: u64 = 0x200;
const AT_SYMLINK_FOLLOW: u64 = 0x400;
const AT_NO_AUTOMOUNT: u64 = 0x800;
const AT_EMPTY_PATH: u64 = 0x1000;
const AT_STATX_SYNC_TYPE: u64 = 0x6000;

fn ret(r: Result<i64, i64>) -> i64 {
    r.unwrap_or_else(|e| e)
}

/// A path argument (at most PATH_MAX bytes with its NUL).
fn path_arg(addr: u64) -> Result<String, i64> {
    read_cstr(addr, PATH_MAX - 1)
}

/// The dirfd argument as Linux reads it (an int).
fn dirfd_arg(v: u64) -> i32 {
    v as u32 as i32
}

fn files() -> spin::MutexGuard<'static, fs::FdTable> {
    let p: &'static crate::process::Process = &crate::task::current().process;
    p.files.lock()
}

// ---- open / close -------------------------------------------------------------------------

fn do_open(dirfd: i32, path: u64, flags: u32, mode: u32) -> Result<i64, i64> {
    let p = path_arg(path)?;
    let base = fs::base_dir(dirfd, &p)?;
    let file = fs::open(&base, &p, flags, mode)?;
    let fd = fs::install_file(file, flags & fs::O_CLOEXEC != 0)?;
    Ok(fd as i64)
}

fn sys_open(regs: &mut Regs) -> i64 {
    ret(do_open(
        AT_FDCWD,
        regs.rdi,
        regs.rsi as u32,
        regs.rdx as u32,
    ))
}

fn sys_openat(regs: &mut Regs) -> i64 {
    ret(do_open(
        dirfd_arg(regs.rdi),
        regs.rsi,
        regs.rdx as u32,
        regs.r10 as u32,
    ))
}

fn sys_creat(regs: &mut Regs) -> i64 {
    let flags = fs::O_CREAT | fs::O_WRONLY | fs::O_TRUNC;
    ret(do_open(AT_FDCWD, regs.rdi, flags, regs.rsi as u32))
}

fn sys_close(regs: &mut Regs) -> i64 {
    let e = files().remove(regs.rdi);
    match e {
        Some(e) => {
            drop(e);
            0
        }
        None => -EBADF,
    }
}

fn sys_close_range(regs: &mut Regs) -> i64 {
    const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
    const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;
    let (first, last, flags) = (regs.rdi as u32, regs.rsi as u32, regs.rdx);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return -EINVAL;
    }
    let mut closed: Vec<FdEntry> = Vec::new();
    {
        let mut t = files();
        let end = (last as usize).min(t.fds.len().saturating_sub(1));
        for fd in first as usize..=end {
            if flags & CLOSE_RANGE_CLOEXEC != 0 {
                if let Some(e) = t.get_mut(fd as u64) {
                    e.cloexec = true;
                }
            } else if let Some(e) = t.remove(fd as u64) {
                closed.push(e);
            }
        }
    }
    drop(closed);
    0
}

// ---- descriptors ----------------------------------------------------------------------------

fn sys_dup(regs: &mut Regs) -> i64 {
    let mut t = files();
    let Some(e) = t.get(regs.rdi).cloned() else {
        return -EBADF;
    };
    ret(t
        .alloc(
            0,
            FdEntry {
                file: e.file,
                cloexec: false,
            },
        )
        .map(|fd| fd as i64))
}

fn dup_to(old: u64, new: u64, cloexec: bool) -> Result<i64, i64> {
    let replaced = {
        let mut t = files();
        let e = t.get(old).cloned().ok_or(-EBADF)?;
        let new = usize::try_from(new as u32).map_err(|_| -EBADF)?;
        t.install(
            new,
            FdEntry {
                file: e.file,
                cloexec,
            },
        )?
    };
    drop(replaced);
    Ok(new as u32 as i64)
}

fn sys_dup2(regs: &mut Regs) -> i64 {
    let (old, new) = (regs.rdi, regs.rsi);
    if old as u32 == new as u32 {
        return if files().get(old).is_some() {
            new as u32 as i64
        } else {
            -EBADF
        };
    }
    ret(dup_to(old, new, false))
}

fn sys_dup3(regs: &mut Regs) -> i64 {
    let (old, new, flags) = (regs.rdi, regs.rsi, regs.rdx as u32);
    if flags & !fs::O_CLOEXEC != 0 || old as u32 == new as u32 {
        return -EINVAL;
    }
    ret(dup_to(old, new, flags & fs::O_CLOEXEC != 0))
}

fn do_pipe(fds: u64, flags: u32) -> Result<i64, i64> {
    if flags & !(fs::O_CLOEXEC | fs::O_NONBLOCK | fs::O_DIRECT) != 0 {
        return Err(-EINVAL);
    }
    let cloexec = flags & fs::O_CLOEXEC != 0;
    let (r, w) = fs::new_pipe(flags);
    let (rfd, wfd) = {
        let mut t = files();
        let rfd = t.alloc(0, FdEntry { file: r, cloexec })?;
        match t.alloc(0, FdEntry { file: w, cloexec }) {
            Ok(wfd) => (rfd, wfd),
            Err(e) => {
                let _ = t.remove(rfd as u64);
                return Err(e);
            }
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(rfd as i32).to_ne_bytes());
    out[4..].copy_from_slice(&(wfd as i32).to_ne_bytes());
    if copy_to_user(fds, &out).is_err() {
        let (a, b) = {
            let mut t = files();
            (t.remove(rfd as u64), t.remove(wfd as u64))
        };
        drop((a, b));
        return Err(-EFAULT);
    }
    Ok(0)
}

fn sys_pipe(regs: &mut Regs) -> i64 {
    ret(do_pipe(regs.rdi, 0))
}

fn sys_pipe2(regs: &mut Regs) -> i64 {
    ret(do_pipe(regs.rdi, regs.rsi as u32))
}

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const F_GETLK: u64 = 5;
const F_SETLK: u64 = 6;
const F_SETLKW: u64 = 7;
const F_SETOWN: u64 = 8;
const F_GETOWN: u64 = 9;
const F_OFD_GETLK: u64 = 36;
const F_OFD_SETLK: u64 = 37;
const F_OFD_SETLKW: u64 = 38;
const F_DUPFD_CLOEXEC: u64 = 1030;
const F_SETPIPE_SZ: u64 = 1031;
const F_GETPIPE_SZ: u64 = 1032;
const FD_CLOEXEC: u64 = 1;
const F_UNLCK: i16 = 2;

fn sys_fcntl(regs: &mut Regs) -> i64 {
    let (fd, cmd, arg) = (regs.rdi, regs.rsi & 0xffff_ffff, regs.rdx);
    ret((|| {
        let file = fs::get_file(fd)?;
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => {
                let from = usize::try_from(arg as u32).map_err(|_| -EINVAL)?;
                let fd = files().alloc(
                    from,
                    FdEntry {
                        file,
                        cloexec: cmd == F_DUPFD_CLOEXEC,
                    },
                )?;
                Ok(fd as i64)
            }
            F_GETFD => {
                let t = files();
                let e = t.get(fd).ok_or(-EBADF)?;
                Ok(if e.cloexec { FD_CLOEXEC as i64 } else { 0 })
            }
            F_SETFD => {
                let mut t = files();
                let e = t.get_mut(fd).ok_or(-EBADF)?;
                e.cloexec = arg & FD_CLOEXEC != 0;
                Ok(0)
            }
            F_GETFL => Ok(file.flags() as i64),
            F_SETFL => {
                if file.is_path() {
                    return Err(-EBADF);
                }
                file.set_status_flags(arg as u32);
                Ok(0)
            }
            F_GETLK | F_OFD_GETLK => {
                if file.is_path() {
                    return Err(-EBADF);
                }
                // No locks are ever held: report the region unlocked.
                copy_to_user(arg, &F_UNLCK.to_ne_bytes()).map_err(|_| -EFAULT)?;
                Ok(0)
            }
            F_SETLK | F_SETLKW | F_OFD_SETLK | F_OFD_SETLKW => {
                if file.is_path() {
                    return Err(-EBADF);
                }
                Ok(0)
            }
            F_SETOWN => Ok(0),
            F_GETOWN => Ok(0),
            F_GETPIPE_SZ | F_SETPIPE_SZ => match file.kind {
                fs::FileKind::Pipe { .. } => Ok(fs::PIPE_CAPACITY as i64),
                _ => Err(-EBADF),
            },
            _ => Err(-EINVAL),
        }
    })())
}

fn sys_flock(regs: &mut Regs) -> i64 {
    ret(fs::get_file(regs.rdi).map(|_| 0))
}

fn sys_fsync(regs: &mut Regs) -> i64 {
    ret(fs::get_file(regs.rdi).and_then(|f| match f.kind {
        fs::FileKind::Pipe { .. } => Err(-EINVAL),
        _ if f.is_path() => Err(-EBADF),
        _ => Ok(0),
    }))
}

fn sys_sync(_: &mut Regs) -> i64 {
    0
}

fn sys_syncfs(regs: &mut Regs) -> i64 {
    ret(fs::get_file(regs.rdi).map(|_| 0))
}

// ---- metadata -------------------------------------------------------------------------------

/// What a path (or AT_EMPTY_PATH descriptor) names, per the *at flags.
fn target_at(dirfd: i32, path: u64, flags: u64) -> Result<Target, i64> {
    let empty_ok = flags & AT_EMPTY_PATH != 0;
    let p = if path == 0 && empty_ok {
        String::new()
    } else {
        path_arg(path)?
    };
    fs::lookup_at(dirfd, &p, flags & AT_SYMLINK_NOFOLLOW == 0, empty_ok)
}

fn put_stat(buf: u64, st: &fs::Stat) -> Result<i64, i64> {
    copy_to_user(buf, &st.to_linux()).map_err(|_| -EFAULT)?;
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

fn statfs_of(node: Option<&fs::InodeRef>) -> [u8; 120] {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const PIPEFS_MAGIC: i64 = 0x5049_5045;
    let (ty, dev) = match node {
        Some(n) if n.dev == fs::DEV_PROC => (PROC_SUPER_MAGIC, n.dev),
        Some(n) => (TMPFS_MAGIC, n.dev),
        None => (PIPEFS_MAGIC, 0),
    };
    let (total, free) = crate::mm::frame::stats();
    let words: [i64; 15] = [
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
        0,
        0,
        0,
        0,
    ];
    let mut b = [0u8; 120];
    for (i, w) in words.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
    }
    b
}

fn sys_statfs(regs: &mut Regs) -> i64 {
    ret(target_at(AT_FDCWD, regs.rdi, 0).and_then(|t| {
        copy_to_user(regs.rsi, &statfs_of(t.node())).map_err(|_| -EFAULT)?;
        Ok(0)
    }))
}

fn sys_fstatfs(regs: &mut Regs) -> i64 {
    ret(fs::get_file(regs.rdi).and_then(|f| {
        copy_to_user(regs.rsi, &statfs_of(f.node())).map_err(|_| -EFAULT)?;
        Ok(0)
    }))
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
            Some(n) if matches!(n.body, fs::Body::Reg(_)) => {
                fs::truncate_node(n, len as u64)?;
                Ok(0)
            }
            _ => Err(-EINVAL),
        }
    })())
}

// ---- directories ----------------------------------------------------------------------------

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
    let mut t = files();
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

//! Descriptor syscalls: open and close, dup, pipes, fcntl, flock and the sync family.

use super::{dirfd_arg, files, path_arg, ret};
use crate::fs::{self, AT_FDCWD, FdEntry};
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::uaccess::copy_to_user;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::OPEN] = sys_open;
    t[nr::CLOSE] = sys_close;
    t[nr::PIPE] = sys_pipe;
    t[nr::DUP] = sys_dup;
    t[nr::DUP2] = sys_dup2;
    t[nr::FCNTL] = sys_fcntl;
    t[nr::FLOCK] = sys_flock;
    t[nr::FSYNC] = sys_fsync;
    t[nr::FDATASYNC] = sys_fsync;
    t[nr::CREAT] = sys_creat;
    t[nr::SYNC] = sys_sync;
    t[nr::OPENAT] = sys_openat;
    t[nr::DUP3] = sys_dup3;
    t[nr::PIPE2] = sys_pipe2;
    t[nr::SYNCFS] = sys_syncfs;
    t[nr::CLOSE_RANGE] = sys_close_range;
    t
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
    let e = files().lock().remove(regs.rdi);
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
        let table = files();
        let mut t = table.lock();
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
    let table = files();
    let mut t = table.lock();
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
        let table = files();
        let mut t = table.lock();
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
        return if files().lock().get(old).is_some() {
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
        let table = files();
        let mut t = table.lock();
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
            let table = files();
            let mut t = table.lock();
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
const F_ADD_SEALS: u64 = 1033;
const F_GET_SEALS: u64 = 1034;
const FD_CLOEXEC: u64 = 1;
const F_UNLCK: i16 = 2;

fn sys_fcntl(regs: &mut Regs) -> i64 {
    let (fd, cmd, arg) = (regs.rdi, regs.rsi & 0xffff_ffff, regs.rdx);
    ret((|| {
        let file = fs::get_file(fd)?;
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => {
                let from = usize::try_from(arg as u32).map_err(|_| -EINVAL)?;
                // f_dupfd: a start at or past RLIMIT_NOFILE is EINVAL (not EMFILE).
                if from >= fs::nofile_limit() {
                    return Err(-EINVAL);
                }
                let fd = files().lock().alloc(
                    from,
                    FdEntry {
                        file,
                        cloexec: cmd == F_DUPFD_CLOEXEC,
                    },
                )?;
                Ok(fd as i64)
            }
            F_GETFD => {
                let table = files();
                let t = table.lock();
                let e = t.get(fd).ok_or(-EBADF)?;
                Ok(if e.cloexec { FD_CLOEXEC as i64 } else { 0 })
            }
            F_SETFD => {
                let table = files();
                let mut t = table.lock();
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
            F_ADD_SEALS => fs::memfd::add_seals(&file, arg as u32).map(|_| 0),
            F_GET_SEALS => fs::memfd::get_seals(&file).map(i64::from),
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

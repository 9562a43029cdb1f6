//! Moving bytes through descriptors: read, write, readv, writev, pread64, pwrite64, preadv,
//! pwritev, preadv2, pwritev2, sendfile, lseek and ioctl.
//!
//! Data passes through a kernel buffer of at most [`CHUNK`] bytes at a time. After part of a
//! request moved, the rest never blocks (a pipe read returns what it has), and an error then
//! yields the count so far, as Linux does.
//!
//! Kernel preemption (crate::preempt, docs/preemption.md): each chunk's copy to or from user
//! memory runs in a preemptible region — it holds no lock and no per-CPU reference, and a
//! page fault inside it runs non-preemptible (trap.rs) — so a large read or write lets the
//! other tasks of its CPU run while it copies; the start of each copy is a preemption point.

use super::errno::*;
use super::table::Table;
use crate::fs::{self, File, FileKind};
use crate::preempt::preemptible;
use crate::uaccess::{access_ok, copy_from_user, copy_to_user};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use kentry::Regs;
use kentry_abi::nr;

pub const fn register(mut t: Table) -> Table {
    t[nr::READ] = sys_read;
    t[nr::WRITE] = sys_write;
    t[nr::LSEEK] = sys_lseek;
    t[nr::IOCTL] = sys_ioctl;
    t[nr::PREAD64] = sys_pread64;
    t[nr::PWRITE64] = sys_pwrite64;
    t[nr::READV] = sys_readv;
    t[nr::WRITEV] = sys_writev;
    t[nr::SENDFILE] = sys_sendfile;
    t[nr::PREADV] = sys_preadv;
    t[nr::PWRITEV] = sys_pwritev;
    t[nr::PREADV2] = sys_preadv2;
    t[nr::PWRITEV2] = sys_pwritev2;
    t
}

/// The kernel buffer's size: one pipe's worth.
const CHUNK: usize = 64 * 1024;
/// Linux's MAX_RW_COUNT: the most one call moves.
const MAX_RW_COUNT: usize = 0x7fff_f000;
/// The most iovecs one call takes (UIO_MAXIOV).
const UIO_MAXIOV: u64 = 1024;

fn ret(r: Result<usize, i64>) -> i64 {
    match r {
        Ok(n) => n as i64,
        Err(e) => e,
    }
}

/// Adds one piece of a transfer to `done`, by Linux's partial-transfer rule: an error counts
/// only when nothing has moved yet, and a short piece ends the transfer.
fn add_piece(
    done: &mut usize,
    want: usize,
    r: Result<usize, i64>,
) -> ControlFlow<Result<usize, i64>> {
    match r {
        Ok(n) => {
            *done += n;
            if n < want {
                ControlFlow::Break(Ok(*done))
            } else {
                ControlFlow::Continue(())
            }
        }
        Err(_) if *done > 0 => ControlFlow::Break(Ok(*done)),
        Err(e) => ControlFlow::Break(Err(e)),
    }
}

/// readv/writev: `piece(base, len, where, done so far)` for each non-empty iovec in order,
/// at the running offset when one was given, added up with [`add_piece`].
fn each_iovec(
    iovs: impl IntoIterator<Item = (u64, usize)>,
    at: Option<u64>,
    mut piece: impl FnMut(u64, usize, At, usize) -> Result<usize, i64>,
) -> Result<usize, i64> {
    let mut done = 0usize;
    for (base, len) in iovs.into_iter().filter(|&(_, len)| len > 0) {
        let where_ = at.map_or(At::Pos, |o| At::Off(o + done as u64));
        let r = piece(base, len, where_, done);
        if let ControlFlow::Break(r) = add_piece(&mut done, len, r) {
            return r;
        }
    }
    Ok(done)
}

/// Where a transfer happens: at the description's offset, or at an explicit one.
#[derive(Clone, Copy)]
enum At {
    Pos,
    Off(u64),
}

/// Reads from `f` into user memory at `buf` (`len` bytes at most), chunk by chunk.
fn read_to_user(f: &File, buf: u64, len: usize, at: At, done_before: usize) -> Result<usize, i64> {
    let len = len.min(MAX_RW_COUNT - done_before.min(MAX_RW_COUNT));
    let mut kbuf = vec![0u8; len.min(CHUNK)];
    let mut done = 0usize;
    while done < len {
        let want = (len - done).min(CHUNK);
        let r = match at {
            At::Pos => f.read(&mut kbuf[..want], done + done_before > 0),
            At::Off(o) => f.read_at(&mut kbuf[..want], o + done as u64),
        };
        let n = match r {
            Ok(n) => n,
            Err(_) if done > 0 => return Ok(done),
            Err(e) => return Err(e),
        };
        if n > 0 && preemptible(|| copy_to_user(buf + done as u64, &kbuf[..n])).is_err() {
            return if done > 0 { Ok(done) } else { Err(-EFAULT) };
        }
        done += n;
        if n < want {
            break;
        }
    }
    Ok(done)
}

/// Writes `len` bytes of user memory at `buf` to `f`, chunk by chunk.
fn write_from_user(f: &File, buf: u64, len: usize, at: At) -> Result<usize, i64> {
    if f.discards_writes() && f.writable() {
        return Ok(len);
    }
    let len = len.min(MAX_RW_COUNT);
    let mut kbuf = vec![0u8; len.min(CHUNK)];
    let mut done = 0usize;
    while done < len {
        let want = (len - done).min(CHUNK);
        if preemptible(|| copy_from_user(&mut kbuf[..want], buf + done as u64)).is_err() {
            return if done > 0 { Ok(done) } else { Err(-EFAULT) };
        }
        let r = match at {
            At::Pos => f.write(&kbuf[..want], false),
            At::Off(o) => f.write_at(&kbuf[..want], o + done as u64),
        };
        if let ControlFlow::Break(r) = add_piece(&mut done, want, r) {
            return r;
        }
    }
    Ok(done)
}

fn sys_read(regs: &mut Regs) -> i64 {
    let (fd, buf, len) = (regs.rdi, regs.rsi, regs.rdx as usize);
    ret((|| {
        let f = fs::get_file(fd)?;
        if !f.readable() {
            return Err(-EBADF);
        }
        if !access_ok(buf, len) {
            return Err(-EFAULT);
        }
        if let Some(s) = f.socket() {
            return super::net::recv_iov(&f, s, &[(buf, len)], 0).map(|r| r.copied);
        }
        read_to_user(&f, buf, len, At::Pos, 0)
    })())
}

fn sys_write(regs: &mut Regs) -> i64 {
    let (fd, buf, len) = (regs.rdi, regs.rsi, regs.rdx as usize);
    ret((|| {
        let f = fs::get_file(fd)?;
        if !f.writable() {
            return Err(-EBADF);
        }
        if !access_ok(buf, len) {
            return Err(-EFAULT);
        }
        if let Some(s) = f.socket() {
            return super::net::send_iov(&f, s, &[(buf, len)], 0);
        }
        write_from_user(&f, buf, len, At::Pos)
    })())
}

fn offset_arg(off: u64) -> Result<u64, i64> {
    if (off as i64) < 0 {
        Err(-EINVAL)
    } else {
        Ok(off)
    }
}

/// The checks pread64 and pwrite64 share, first failure wins: the descriptor open for the
/// direction (EBADF), a non-negative offset (EINVAL), a seekable file (ESPIPE), the buffer in
/// the user half (EFAULT).
fn positional_file(
    fd: u64,
    off: u64,
    buf: u64,
    len: usize,
    write: bool,
) -> Result<(Arc<File>, u64), i64> {
    let f = fs::get_file(fd)?;
    if !(if write { f.writable() } else { f.readable() }) {
        return Err(-EBADF);
    }
    let off = offset_arg(off)?;
    if !f.seekable() {
        return Err(-ESPIPE);
    }
    if !access_ok(buf, len) {
        return Err(-EFAULT);
    }
    Ok((f, off))
}

fn sys_pread64(regs: &mut Regs) -> i64 {
    let (fd, buf, len, off) = (regs.rdi, regs.rsi, regs.rdx as usize, regs.r10);
    ret(positional_file(fd, off, buf, len, false)
        .and_then(|(f, off)| read_to_user(&f, buf, len, At::Off(off), 0)))
}

fn sys_pwrite64(regs: &mut Regs) -> i64 {
    let (fd, buf, len, off) = (regs.rdi, regs.rsi, regs.rdx as usize, regs.r10);
    ret(positional_file(fd, off, buf, len, true)
        .and_then(|(f, off)| write_from_user(&f, buf, len, At::Off(off))))
}

/// The iovec array (base, len) of readv/writev, checked as Linux checks it.
pub(super) fn read_iovecs(iov: u64, cnt: u64) -> Result<Vec<(u64, usize)>, i64> {
    parse_iovecs(iov, cnt, true)
}

/// An iovec array that names another process's memory (process_vm_readv's remote side):
/// checked as Linux's iovec_from_user checks it, without `access_ok`, since the addresses are
/// not this process's (one outside user space fails when it is reached, with -EFAULT).
pub(super) fn read_remote_iovecs(iov: u64, cnt: u64) -> Result<Vec<(u64, usize)>, i64> {
    parse_iovecs(iov, cnt, false)
}

fn parse_iovecs(iov: u64, cnt: u64, local: bool) -> Result<Vec<(u64, usize)>, i64> {
    if cnt > UIO_MAXIOV {
        return Err(-EINVAL);
    }
    // An i386 caller's `compat_iovec` is two 32-bit words (Linux's iovec_from_user with
    // in_compat_syscall()).
    let ia32 = super::compat::in_ia32_syscall();
    let size = if ia32 {
        kentry_abi::compat::IOVEC32_SIZE
    } else {
        16
    };
    let mut raw = vec![0u8; cnt as usize * size];
    copy_from_user(&mut raw, iov).map_err(|_| -EFAULT)?;
    let mut out = Vec::with_capacity(cnt as usize);
    let mut total = 0usize;
    for c in raw.chunks_exact(size) {
        let (base, len) = if ia32 {
            let w = |i: usize| u32::from_ne_bytes(c[i..i + 4].try_into().unwrap_or_default());
            // compat_size_t is unsigned: never negative.
            (u64::from(w(0)), u64::from(w(4)))
        } else {
            (
                u64::from_ne_bytes(c[..8].try_into().unwrap_or_default()),
                u64::from_ne_bytes(c[8..].try_into().unwrap_or_default()),
            )
        };
        if (len as i64) < 0 {
            return Err(-EINVAL);
        }
        let len = (len as usize).min(MAX_RW_COUNT - total);
        if local && !access_ok(base, len) {
            return Err(-EFAULT);
        }
        total += len;
        out.push((base, len));
    }
    Ok(out)
}

fn readv(fd: u64, iov: u64, cnt: u64, at: Option<u64>) -> Result<usize, i64> {
    let f = fs::get_file(fd)?;
    if !f.readable() {
        return Err(-EBADF);
    }
    if at.is_some() && !f.seekable() {
        return Err(-ESPIPE);
    }
    let iovs = read_iovecs(iov, cnt)?;
    if let Some(s) = f.socket() {
        return super::net::recv_iov(&f, s, &iovs, 0).map(|r| r.copied);
    }
    each_iovec(iovs, at, |base, len, where_, done| {
        read_to_user(&f, base, len, where_, done)
    })
}

fn writev(fd: u64, iov: u64, cnt: u64, at: Option<u64>) -> Result<usize, i64> {
    let f = fs::get_file(fd)?;
    if !f.writable() {
        return Err(-EBADF);
    }
    if at.is_some() && !f.seekable() {
        return Err(-ESPIPE);
    }
    let iovs = read_iovecs(iov, cnt)?;
    if let Some(s) = f.socket() {
        return super::net::send_iov(&f, s, &iovs, 0);
    }
    let total: usize = iovs.iter().map(|v| v.1).sum();
    if f.discards_writes() {
        return Ok(total);
    }
    // A small request goes out as one write (atomic on a pipe, one piece on the console).
    if total <= CHUNK {
        let mut kbuf = Vec::with_capacity(total);
        for &(base, len) in &iovs {
            let start = kbuf.len();
            kbuf.resize(start + len, 0);
            if copy_from_user(&mut kbuf[start..], base).is_err() {
                kbuf.truncate(start);
                if start == 0 {
                    return Err(-EFAULT);
                }
                break;
            }
        }
        return match at {
            None => f.write(&kbuf, false),
            Some(o) => f.write_at(&kbuf, o),
        };
    }
    each_iovec(iovs, at, |base, len, where_, _| {
        write_from_user(&f, base, len, where_)
    })
}

fn sys_readv(regs: &mut Regs) -> i64 {
    ret(readv(regs.rdi, regs.rsi, regs.rdx, None))
}

fn sys_writev(regs: &mut Regs) -> i64 {
    ret(writev(regs.rdi, regs.rsi, regs.rdx, None))
}

fn sys_preadv(regs: &mut Regs) -> i64 {
    ret(offset_arg(regs.r10).and_then(|o| readv(regs.rdi, regs.rsi, regs.rdx, Some(o))))
}

fn sys_pwritev(regs: &mut Regs) -> i64 {
    ret(offset_arg(regs.r10).and_then(|o| writev(regs.rdi, regs.rsi, regs.rdx, Some(o))))
}

/// preadv2/pwritev2: offset -1 means the description's offset. Flags (RWF_*) are accepted
/// when they only hint (HIPRI, DSYNC, SYNC); NOWAIT and APPEND are not supported.
fn v2_offset(off: u64, flags: u64) -> Result<Option<u64>, i64> {
    const RWF_HIPRI: u64 = 1;
    const RWF_DSYNC: u64 = 2;
    const RWF_SYNC: u64 = 4;
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC) != 0 {
        return Err(-EOPNOTSUPP);
    }
    if off as i64 == -1 {
        Ok(None)
    } else {
        offset_arg(off).map(Some)
    }
}

fn sys_preadv2(regs: &mut Regs) -> i64 {
    ret(v2_offset(regs.r10, regs.r9).and_then(|o| readv(regs.rdi, regs.rsi, regs.rdx, o)))
}

fn sys_pwritev2(regs: &mut Regs) -> i64 {
    ret(v2_offset(regs.r10, regs.r9).and_then(|o| writev(regs.rdi, regs.rsi, regs.rdx, o)))
}

const SEEK_SET: u64 = 0;
const SEEK_CUR: u64 = 1;
const SEEK_END: u64 = 2;
const SEEK_DATA: u64 = 3;
const SEEK_HOLE: u64 = 4;

fn sys_lseek(regs: &mut Regs) -> i64 {
    let (fd, off, whence) = (regs.rdi, regs.rsi as i64, regs.rdx);
    ret((|| {
        let f = fs::get_file(fd)?;
        if f.is_path() {
            return Err(-EBADF);
        }
        if !f.seekable() {
            return Err(-ESPIPE);
        }
        if whence > SEEK_HOLE {
            return Err(-EINVAL);
        }
        // Character devices (null, zero, random) ignore seeks and stay at 0.
        if f.node().is_some_and(|n| matches!(n.body, fs::Body::Dev(_))) {
            return Ok(0);
        }
        let mut pos = f.pos.lock();
        let end = f.end() as i64;
        let new = match whence {
            SEEK_SET => off,
            SEEK_CUR => (*pos as i64).checked_add(off).ok_or(-EINVAL)?,
            SEEK_END => end.checked_add(off).ok_or(-EINVAL)?,
            SEEK_DATA | SEEK_HOLE => {
                if off < 0 || off >= end {
                    return Err(-ENXIO);
                }
                if whence == SEEK_DATA { off } else { end }
            }
            _ => return Err(-EINVAL),
        };
        if new < 0 {
            return Err(-EINVAL);
        }
        *pos = new as u64;
        Ok(new as usize)
    })())
}

// ioctl requests.
const TCGETS: u64 = 0x5401;
const FIONREAD: u64 = 0x541b;
const FIONBIO: u64 = 0x5421;
const FIONCLEX: u64 = 0x5450;
const FIOCLEX: u64 = 0x5451;
const FIOASYNC: u64 = 0x5452;

fn sys_ioctl(regs: &mut Regs) -> i64 {
    let (fd, req, arg) = (regs.rdi, regs.rsi & 0xffff_ffff, regs.rdx);
    ret((|| {
        let f = fs::get_file(fd)?;
        if f.is_path() {
            return Err(-EBADF);
        }
        // Linux's do_vfs_ioctl handles these four for every file and hands the rest to the
        // file: a seccomp listener has its own.
        if let FileKind::SeccompListener(l) = &f.kind
            && !matches!(req, FIONBIO | FIOASYNC | FIOCLEX | FIONCLEX)
        {
            return crate::syscall::seccomp::notify::ioctl(l, req as u32, arg).map(|v| v as usize);
        }
        // In an interactive run the console is a terminal (tty/ioctl.rs); so is a pty.
        if !matches!(req, FIONBIO | FIOASYNC | FIOCLEX | FIONCLEX) {
            match &f.kind {
                FileKind::Console { .. } if let Some(t) = crate::tty::get() => {
                    return t.ioctl(req, arg);
                }
                FileKind::PtyMaster(p) => return p.master_ioctl(req, arg),
                FileKind::PtySlave(p) => return p.tty.ioctl(req, arg),
                _ => {}
            }
        }
        match req {
            FIONBIO => {
                let mut v = [0u8; 4];
                copy_from_user(&mut v, arg).map_err(|_| -EFAULT)?;
                let fl = f.flags();
                if i32::from_ne_bytes(v) != 0 {
                    f.set_status_flags(fl | fs::O_NONBLOCK);
                } else {
                    f.set_status_flags(fl & !fs::O_NONBLOCK);
                }
                Ok(0)
            }
            FIOASYNC => Ok(0),
            FIOCLEX | FIONCLEX => {
                let me = crate::task::current();
                let table = me.process.files();
                let mut files = table.lock();
                let e = files.get_mut(fd).ok_or(-EBADF)?;
                e.cloexec = req == FIOCLEX;
                Ok(0)
            }
            FIONREAD => {
                let n = match &f.kind {
                    FileKind::Pipe { pipe, .. } => pipe.available(),
                    FileKind::Socket(s) => s.available(),
                    FileKind::Node { node, .. } if matches!(node.body, fs::Body::Reg(_)) => {
                        f.end().saturating_sub(*f.pos.lock()) as usize
                    }
                    FileKind::Node { node, .. } if node.is_dir() => return Err(-ENOTTY),
                    _ => 0,
                };
                copy_to_user(arg, &(n.min(i32::MAX as usize) as i32).to_ne_bytes())
                    .map_err(|_| -EFAULT)?;
                Ok(0)
            }
            // Terminal requests (TCGETS, TIOCGWINSZ, …): outside an interactive run the
            // console is not a terminal — programs' output is a pipe on the host side — so
            // ENOTTY, as for any other file.
            TCGETS => Err(-ENOTTY),
            _ => Err(-ENOTTY),
        }
    })())
}

/// sendfile(out_fd, in_fd, offset*, count).
fn sys_sendfile(regs: &mut Regs) -> i64 {
    let (out_fd, in_fd, offp, count) = (regs.rdi, regs.rsi, regs.rdx, regs.r10 as usize);
    ret((|| {
        let (out, inp) = (fs::get_file(out_fd)?, fs::get_file(in_fd)?);
        if !out.writable() || !inp.readable() {
            return Err(-EBADF);
        }
        if !inp.seekable() || !matches!(inp.kind, FileKind::Node { .. }) {
            return Err(-EINVAL);
        }
        let mut off = if offp != 0 {
            let mut v = [0u8; 8];
            copy_from_user(&mut v, offp).map_err(|_| -EFAULT)?;
            Some(offset_arg(u64::from_ne_bytes(v))?)
        } else {
            None
        };
        let count = count.min(MAX_RW_COUNT);
        let mut kbuf = vec![0u8; count.min(CHUNK)];
        let mut done = 0usize;
        while done < count {
            let want = (count - done).min(CHUNK);
            let r = match off {
                Some(o) => inp.read_at(&mut kbuf[..want], o),
                None => inp.read(&mut kbuf[..want], false),
            };
            let n = match r {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            };
            let w = match out.write(&kbuf[..n], done > 0) {
                Ok(w) => w,
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            };
            if let Some(o) = off.as_mut() {
                *o += w as u64;
            } else if w < n {
                // Put back what was read but not written.
                let mut pos = inp.pos.lock();
                *pos -= (n - w) as u64;
            }
            done += w;
            if w < n || n < want {
                break;
            }
        }
        if let Some(o) = off
            && copy_to_user(offp, &o.to_ne_bytes()).is_err()
        {
            return Err(-EFAULT);
        }
        Ok(done)
    })())
}

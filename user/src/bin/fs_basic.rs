//! Files, directories, descriptors and pipes, as Linux behaves (linux-abi §4; issue 4 §3 Files).
//!
//! Works in a fresh directory `/tmp/kentry_fs_basic.<pid>` (removed at the end), so it runs the
//! same on kentry and natively on the host:
//! - open/openat: O_CREAT|O_EXCL, EEXIST, ENOENT, EISDIR, ENOTDIR, O_TRUNC, O_APPEND, O_CLOEXEC,
//!   O_NOFOLLOW (ELOOP), O_DIRECTORY; umask applied to the mode;
//! - read/write/lseek/pread64/pwrite64/readv/writev/preadv, ftruncate (a hole reads as zeros);
//! - fstat/stat/lstat/newfstatat(AT_EMPTY_PATH)/statx agree with each other;
//! - getdents64 lists exactly `.`, `..` and what was made, with d_type;
//! - mkdir/rmdir (ENOTEMPTY), unlink (EISDIR), rename, symlink/readlink, access;
//! - dup/dup2/dup3 share the offset, fcntl F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD;
//! - pipe2: round trip, EOF, EAGAIN, capacity (F_GETPIPE_SZ), ESPIPE, EPIPE with SIGPIPE
//!   ignored, FIONBIO, ENOTTY for TIOCGWINSZ;
//! - /dev/null, /dev/zero, /dev/urandom, /proc/self/exe, /proc/self/status, /proc/cpuinfo,
//!   /proc/self/maps; getcwd/chdir/fchdir.
//!
//! Syscalls: read, write, open, close, stat, fstat, lstat, lseek, ioctl, pread64, pwrite64,
//! readv, writev, access, pipe2, dup, dup2, dup3, fcntl, ftruncate, getdents64, getcwd, chdir,
//! fchdir, rename, mkdir, rmdir, unlink, symlink, readlink, umask, openat, newfstatat, statx,
//! preadv, rt_sigaction, getpid, exit_group.

#![no_std]
#![no_main]

use kentry_user::fmt::Bytes;
use kentry_user::ktap::Ktap;
use kentry_user::rt::Args;
use kentry_user::sys::{self, nr, syscall1, syscall2, syscall3, syscall4, syscall5};
use kentry_user::{diag, entry};

#[path = "fs_basic/descriptors.rs"]
mod descriptors;
#[path = "fs_basic/dirs.rs"]
mod dirs;
#[path = "fs_basic/files.rs"]
mod files;
#[path = "fs_basic/pipes.rs"]
mod pipes;
#[path = "fs_basic/special.rs"]
mod special;

entry!(main);

// errno
const ENOENT: isize = -2;
const EBADF: isize = -9;
const EAGAIN: isize = -11;
const EACCES: isize = -13;
const EEXIST: isize = -17;
const ENOTDIR: isize = -20;
const EISDIR: isize = -21;
const EINVAL: isize = -22;
const ENOTTY: isize = -25;
const ESPIPE: isize = -29;
const EPIPE: isize = -32;
const ENOTEMPTY: isize = -39;
const ELOOP: isize = -40;

// open flags
const O_RDONLY: usize = 0;
const O_WRONLY: usize = 1;
const O_RDWR: usize = 2;
const O_ACCMODE: isize = 3;
const O_CREAT: usize = 0o100;
const O_EXCL: usize = 0o200;
const O_TRUNC: usize = 0o1000;
const O_APPEND: usize = 0o2000;
const O_NONBLOCK: usize = 0o4000;
const O_DIRECTORY: usize = 0o200000;
const O_NOFOLLOW: usize = 0o400000;
const O_CLOEXEC: usize = 0o2000000;
const AT_FDCWD: usize = -100isize as usize;
const AT_SYMLINK_NOFOLLOW: usize = 0x100;
const AT_EMPTY_PATH: usize = 0x1000;

const SEEK_SET: usize = 0;
const SEEK_CUR: usize = 1;
const SEEK_END: usize = 2;

const F_DUPFD: usize = 0;
const F_GETFD: usize = 1;
const F_SETFD: usize = 2;
const F_GETFL: usize = 3;
const F_SETFL: usize = 4;
const F_GETPIPE_SZ: usize = 1032;
const FD_CLOEXEC: isize = 1;

const TIOCGWINSZ: usize = 0x5413;
const FIONBIO: usize = 0x5421;

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;
const DT_DIR: u8 = 4;
const DT_REG: u8 = 8;

const SIGPIPE: usize = 13;
const SIG_IGN: usize = 1;

/// A NUL-terminated path in a fixed buffer.
struct Path {
    buf: [u8; 128],
}

impl Path {
    fn new(parts: &[&[u8]]) -> Path {
        let mut buf = [0u8; 128];
        let mut n = 0;
        for p in parts {
            buf[n..n + p.len()].copy_from_slice(p);
            n += p.len();
        }
        Path { buf }
    }

    fn ptr(&self) -> usize {
        self.buf.as_ptr() as usize
    }

    fn bytes(&self) -> &[u8] {
        let n = self.buf.iter().position(|&b| b == 0).unwrap_or(0);
        &self.buf[..n]
    }
}

/// A literal C string: `c(b"name\0")`.
fn c(s: &'static [u8]) -> usize {
    debug_assert!(s.ends_with(&[0]));
    s.as_ptr() as usize
}

fn sc1(n: usize, a: usize) -> isize {
    // SAFETY: every call passes valid pointers to live buffers of the sizes the syscall uses.
    unsafe { syscall1(n, a) }
}
fn sc2(n: usize, a: usize, b: usize) -> isize {
    // SAFETY: as in sc1.
    unsafe { syscall2(n, a, b) }
}
fn sc3(n: usize, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: as in sc1.
    unsafe { syscall3(n, a, b, c) }
}
fn sc4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    // SAFETY: as in sc1.
    unsafe { syscall4(n, a, b, c, d) }
}
fn sc5(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
    // SAFETY: as in sc1.
    unsafe { syscall5(n, a, b, c, d, e) }
}

fn read(fd: isize, buf: &mut [u8]) -> isize {
    sc3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len())
}
fn write(fd: isize, buf: &[u8]) -> isize {
    sc3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len())
}
fn close(fd: isize) -> isize {
    sc1(nr::CLOSE, fd as usize)
}
fn open(path: usize, flags: usize, mode: usize) -> isize {
    sc3(nr::OPEN, path, flags, mode)
}
fn lseek(fd: isize, off: isize, whence: usize) -> isize {
    sc3(nr::LSEEK, fd as usize, off as usize, whence)
}

/// The fields of `struct stat` (x86-64 layout, 144 bytes) the tests look at.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct St {
    dev: u64,
    ino: u64,
    nlink: u64,
    mode: u32,
    rdev: u64,
    size: i64,
    blksize: i64,
}

fn parse_stat(b: &[u8; 144]) -> St {
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
    St {
        dev: u64_at(0),
        ino: u64_at(8),
        nlink: u64_at(16),
        mode: u32::from_ne_bytes(b[24..28].try_into().unwrap()),
        rdev: u64_at(40),
        size: u64_at(48) as i64,
        blksize: u64_at(56) as i64,
    }
}

fn fstat(fd: isize) -> Result<St, isize> {
    let mut b = [0u8; 144];
    let r = sc2(nr::FSTAT, fd as usize, b.as_mut_ptr() as usize);
    if r < 0 { Err(r) } else { Ok(parse_stat(&b)) }
}

fn stat_with(nr: usize, path: usize) -> Result<St, isize> {
    let mut b = [0u8; 144];
    let r = sc2(nr, path, b.as_mut_ptr() as usize);
    if r < 0 { Err(r) } else { Ok(parse_stat(&b)) }
}

fn fstatat(dirfd: usize, path: usize, flags: usize) -> Result<St, isize> {
    let mut b = [0u8; 144];
    let r = sc4(nr::NEWFSTATAT, dirfd, path, b.as_mut_ptr() as usize, flags);
    if r < 0 { Err(r) } else { Ok(parse_stat(&b)) }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Writes `n` in decimal into `out`; returns the digits.
fn decimal(mut n: usize, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

/// Reads a whole (small) file into `buf`; returns the length, or the error.
fn slurp(path: usize, buf: &mut [u8]) -> isize {
    let fd = open(path, O_RDONLY | O_CLOEXEC, 0);
    if fd < 0 {
        return fd;
    }
    let mut n = 0usize;
    loop {
        let r = read(fd, &mut buf[n..]);
        if r <= 0 {
            close(fd);
            return if r < 0 { r } else { n as isize };
        }
        n += r as usize;
        if n == buf.len() {
            close(fd);
            return n as isize;
        }
    }
}

/// The byte at offset `i` of the test pattern.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// fork(): in the child, runs `child` and exits with its status; returns the child's pid (or
/// the error) in the parent.
fn fork_start(child: impl FnOnce() -> i32) -> isize {
    let pid = sc1(nr::FORK, 0);
    if pid == 0 {
        sys::exit_group(child());
    }
    pid
}

/// Runs `child` in a forked child and waits for it: its wait status.
fn fork_run(child: impl FnOnce() -> i32) -> isize {
    wait_for(fork_start(child))
}

/// Waits for child `pid`; returns its wait status (or the error).
fn wait_for(pid: isize) -> isize {
    if pid < 0 {
        return pid;
    }
    let mut status = 0i32;
    let r = sc4(nr::WAIT4, pid as usize, &raw mut status as usize, 0, 0);
    if r == pid { status as isize } else { r.min(-1) }
}

fn main(_: Args) -> i32 {
    let mut k = Ktap::new(60);
    let pid = sys::getpid() as usize;
    let mut digits = [0u8; 20];
    let pid_s = decimal(pid, &mut digits);
    let dir = Path::new(&[b"/tmp/kentry_fs_basic.", pid_s]);
    diag!("working in {}", Bytes(dir.bytes()));
    sc1(nr::UMASK, 0o022);

    // The order is the KTAP order: later groups use what earlier ones made (the directory, `a`).
    files::lookup_mkdir_chdir(&mut k, &dir);
    let fd = files::create_read_seek(&mut k);
    files::stat_family(&mut k, fd);
    files::open_flags(&mut k, fd);
    files::large_file(&mut k, fd);
    files::vectored_io(&mut k, fd);
    descriptors::dup_fcntl(&mut k, fd);
    dirs::directories(&mut k, &dir);
    pipes::pipes(&mut k);
    descriptors::fork_shares_description(&mut k, fd);
    special::devices(&mut k);
    special::procfs(&mut k, pid_s);

    // ---- clean up ----
    close(fd);
    k.result(
        sc1(nr::UNLINK, c(b"a\0")) == 0
            && sc1(nr::CHDIR, c(b"/\0")) == 0
            && sc1(nr::RMDIR, dir.ptr()) == 0
            && stat_with(nr::STAT, dir.ptr()) == Err(ENOENT),
        "cleanup",
    );
    k.finish()
}

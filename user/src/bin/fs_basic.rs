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

    // ---- lookup errors, mkdir, chdir ----
    k.eq(
        open(c(b"/nonexistent_kentry_dir/x\0"), O_RDONLY, 0),
        ENOENT,
        "open_missing_enoent",
    );
    k.eq(sc2(nr::MKDIR, dir.ptr(), 0o755), 0, "mkdir");
    k.eq(
        sc2(nr::MKDIR, dir.ptr(), 0o755),
        EEXIST,
        "mkdir_again_eexist",
    );
    let cd = sc1(nr::CHDIR, dir.ptr());
    let mut cwd = [0u8; 128];
    let n = sc2(nr::GETCWD, cwd.as_mut_ptr() as usize, cwd.len());
    k.result(
        cd == 0 && n == dir.bytes().len() as isize + 1 && &cwd[..n as usize - 1] == dir.bytes(),
        "chdir_getcwd",
    );
    k.eq(
        sc2(nr::GETCWD, cwd.as_mut_ptr() as usize, 3),
        -34,
        "getcwd_small_erange",
    );

    // ---- create, write, read, seek ----
    let fd = sc4(
        nr::OPENAT,
        AT_FDCWD,
        c(b"a\0"),
        O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
        0o666,
    );
    k.result(fd >= 3, "openat_create");
    k.eq(write(fd, b"hello, world\n"), 13, "write");
    k.eq(
        open(c(b"a\0"), O_CREAT | O_EXCL | O_RDWR, 0o644),
        EEXIST,
        "open_excl_eexist",
    );
    let mut buf = [0u8; 64];
    let at0 = lseek(fd, 0, SEEK_SET);
    let n = read(fd, &mut buf);
    k.result(
        at0 == 0 && n == 13 && &buf[..13] == b"hello, world\n",
        "lseek_read",
    );
    k.result(
        lseek(fd, 0, SEEK_END) == 13 && lseek(fd, -100, SEEK_CUR) == EINVAL,
        "lseek_end_and_negative",
    );
    let pw = sc4(nr::PWRITE64, fd as usize, b"J".as_ptr() as usize, 1, 7);
    let pr = sc4(nr::PREAD64, fd as usize, buf.as_mut_ptr() as usize, 5, 7);
    k.result(
        pw == 1 && pr == 5 && &buf[..5] == b"Jorld" && lseek(fd, 0, SEEK_CUR) == 13,
        "pread_pwrite_keep_offset",
    );
    k.eq(
        sc2(nr::FCNTL, fd as usize, F_GETFD),
        FD_CLOEXEC,
        "o_cloexec_sets_fd_cloexec",
    );

    // ---- stat family ----
    let st = fstat(fd).unwrap_or_default();
    k.result(
        st.size == 13 && st.mode == S_IFREG | 0o644 && st.nlink == 1 && st.blksize > 0,
        "fstat_regular_umask",
    );
    let by_path = stat_with(nr::STAT, c(b"a\0")).unwrap_or_default();
    let empty = fstatat(fd as usize, c(b"\0"), AT_EMPTY_PATH).unwrap_or_default();
    k.result(
        by_path == st && empty == st && st.ino != 0,
        "stat_newfstatat_agree",
    );
    let mut sx = [0u8; 256];
    let r = sc5(
        nr::STATX,
        AT_FDCWD,
        c(b"a\0"),
        0,
        0x7ff,
        sx.as_mut_ptr() as usize,
    );
    let stx_mode = u16::from_ne_bytes(sx[28..30].try_into().unwrap()) as u32;
    let stx_ino = u64::from_ne_bytes(sx[32..40].try_into().unwrap());
    let stx_size = u64::from_ne_bytes(sx[40..48].try_into().unwrap());
    k.result(
        r == 0 && stx_mode == st.mode && stx_ino == st.ino && stx_size == 13,
        "statx",
    );

    // ---- flags ----
    let fa = open(c(b"a\0"), O_WRONLY | O_APPEND, 0);
    let w = write(fa, b"xy");
    let fl = sc2(nr::FCNTL, fa as usize, F_GETFL);
    k.result(
        w == 2
            && fstat(fd).map(|s| s.size) == Ok(15)
            && fl & O_ACCMODE == O_WRONLY as isize
            && fl & O_APPEND as isize != 0,
        "o_append",
    );
    k.eq(write(fa, b""), 0, "write_zero");
    k.eq(read(fa, &mut buf), EBADF, "read_wronly_ebadf");
    close(fa);
    let ft = open(c(b"a\0"), O_RDWR | O_TRUNC, 0);
    k.result(ft >= 0 && fstat(fd).map(|s| s.size) == Ok(0), "o_trunc");
    close(ft);
    let tr = sc2(nr::FTRUNCATE, fd as usize, 3 * 4096 + 5);
    buf.fill(0xff);
    let pr = sc4(
        nr::PREAD64,
        fd as usize,
        buf.as_mut_ptr() as usize,
        64,
        5000,
    );
    k.result(
        tr == 0
            && fstat(fd).map(|s| s.size) == Ok(3 * 4096 + 5)
            && pr == 64
            && buf.iter().all(|&b| b == 0),
        "ftruncate_hole_zeros",
    );

    // ---- a file over many pages ----
    sc2(nr::FTRUNCATE, fd as usize, 0);
    let mut big = [0u8; 65536];
    for (i, b) in big.iter_mut().enumerate() {
        *b = pattern(i);
    }
    let mut wrote = 0isize;
    for piece in 0..3 {
        let at = piece * 40000;
        wrote += sc4(
            nr::PWRITE64,
            fd as usize,
            big[at % 251..].as_ptr() as usize,
            40000,
            at,
        );
    }
    let mut back = [0u8; 9000];
    let r = sc4(
        nr::PREAD64,
        fd as usize,
        back.as_mut_ptr() as usize,
        back.len(),
        70000,
    );
    k.result(
        wrote == 120000
            && r == 9000
            && back
                .iter()
                .enumerate()
                .all(|(i, &b)| b == pattern(70000 + i))
            && fstat(fd).map(|s| s.size) == Ok(120000),
        "large_file_round_trip",
    );

    // ---- readv / writev ----
    sc2(nr::FTRUNCATE, fd as usize, 0);
    lseek(fd, 0, SEEK_SET);
    let parts: [&[u8]; 3] = [b"one ", b"", b"two three"];
    let iov: [[usize; 2]; 3] =
        core::array::from_fn(|i| [parts[i].as_ptr() as usize, parts[i].len()]);
    let wv = sc3(nr::WRITEV, fd as usize, iov.as_ptr() as usize, 3);
    let mut a = [0u8; 6];
    let mut b = [0u8; 20];
    let riov = [
        [a.as_mut_ptr() as usize, a.len()],
        [b.as_mut_ptr() as usize, b.len()],
    ];
    let rv = sc5(nr::PREADV, fd as usize, riov.as_ptr() as usize, 2, 0, 0);
    k.result(
        wv == 13 && rv == 13 && &a == b"one tw" && &b[..7] == b"o three",
        "writev_preadv",
    );
    lseek(fd, 0, SEEK_SET);
    let rv2 = sc3(nr::READV, fd as usize, riov.as_ptr() as usize, 2);
    k.result(
        rv2 == 13 && lseek(fd, 0, SEEK_CUR) == 13,
        "readv_moves_offset",
    );

    // ---- dup family, fcntl ----
    let d = sc1(nr::DUP, fd as usize);
    lseek(fd, 0, SEEK_SET);
    let wd = write(d, b"abc");
    k.result(
        d > fd
            && wd == 3
            && lseek(fd, 0, SEEK_CUR) == 3
            && sc2(nr::FCNTL, d as usize, F_GETFD) == 0,
        "dup_shares_offset",
    );
    let d2 = sc2(nr::DUP2, fd as usize, 100);
    k.result(
        d2 == 100 && sc2(nr::FCNTL, 100, F_GETFD) == 0 && sc2(nr::DUP2, 100, 100) == 100,
        "dup2",
    );
    let d3 = sc3(nr::DUP3, fd as usize, 101, O_CLOEXEC);
    k.result(
        d3 == 101
            && sc2(nr::FCNTL, 101, F_GETFD) == FD_CLOEXEC
            && sc3(nr::DUP3, 101, 101, 0) == EINVAL,
        "dup3_cloexec",
    );
    let s1 = sc3(nr::FCNTL, 101, F_SETFD, 0);
    let fdup = sc3(nr::FCNTL, fd as usize, F_DUPFD, 50);
    k.result(
        s1 == 0 && sc2(nr::FCNTL, 101, F_GETFD) == 0 && fdup >= 50,
        "fcntl_setfd_dupfd",
    );
    let setfl = sc3(nr::FCNTL, d as usize, F_SETFL, O_APPEND);
    let gfl = sc2(nr::FCNTL, fd as usize, F_GETFL);
    k.result(
        setfl == 0 && gfl & O_APPEND as isize != 0 && gfl & O_ACCMODE == O_RDWR as isize,
        "fcntl_setfl_shared_description",
    );
    for x in [d, 100, 101, fdup] {
        close(x);
    }
    k.eq(close(100), EBADF, "close_twice_ebadf");
    k.eq(
        sc3(
            nr::IOCTL,
            fd as usize,
            TIOCGWINSZ,
            buf.as_mut_ptr() as usize,
        ),
        ENOTTY,
        "ioctl_tiocgwinsz_file_enotty",
    );

    // ---- directories ----
    let fb = open(c(b"b\0"), O_CREAT | O_WRONLY, 0o600);
    close(fb);
    let mk = sc2(nr::MKDIR, c(b"sub\0"), 0o700);
    k.result(
        fb >= 0
            && mk == 0
            && stat_with(nr::STAT, c(b"sub\0")).map(|s| s.mode) == Ok(S_IFDIR | 0o700),
        "create_more",
    );
    k.eq(
        open(c(b"sub\0"), O_WRONLY, 0),
        EISDIR,
        "open_dir_write_eisdir",
    );
    k.result(
        open(c(b"a/\0"), O_RDONLY, 0) == ENOTDIR
            && open(c(b"a\0"), O_RDONLY | O_DIRECTORY, 0) == ENOTDIR,
        "open_file_as_dir_enotdir",
    );
    let dfd = open(c(b".\0"), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    let mut names_ok = dfd >= 0;
    let mut seen = [false; 5];
    let dents = &mut big;
    loop {
        let n = sc3(
            nr::GETDENTS64,
            dfd as usize,
            dents.as_mut_ptr() as usize,
            512,
        );
        if n <= 0 {
            names_ok &= n == 0;
            break;
        }
        let mut off = 0usize;
        while off < n as usize {
            let reclen = u16::from_ne_bytes([dents[off + 16], dents[off + 17]]) as usize;
            let dtype = dents[off + 18];
            let name = &dents[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
            match name {
                b"." => seen[0] = true,
                b".." => seen[1] = true,
                b"a" => seen[2] = dtype == DT_REG,
                b"b" => seen[3] = dtype == DT_REG,
                b"sub" => seen[4] = dtype == DT_DIR,
                other => {
                    diag!("unexpected entry {}", Bytes(other));
                    names_ok = false;
                }
            }
            off += reclen;
        }
    }
    k.result(names_ok && seen.iter().all(|&s| s), "getdents64");
    close(dfd);
    k.result(
        sc2(nr::RENAME, c(b"b\0"), c(b"c\0")) == 0
            && stat_with(nr::STAT, c(b"b\0")) == Err(ENOENT)
            && stat_with(nr::STAT, c(b"c\0")).map(|s| s.mode & S_IFMT) == Ok(S_IFREG),
        "rename",
    );
    let sl = sc2(nr::SYMLINK, c(b"c\0"), c(b"lnk\0"));
    let rl = sc3(
        nr::READLINK,
        c(b"lnk\0"),
        buf.as_mut_ptr() as usize,
        buf.len(),
    );
    k.result(
        sl == 0
            && rl == 1
            && buf[0] == b'c'
            && stat_with(nr::LSTAT, c(b"lnk\0")).map(|s| s.mode & S_IFMT) == Ok(S_IFLNK)
            && fstatat(AT_FDCWD, c(b"lnk\0"), 0).map(|s| s.mode & S_IFMT) == Ok(S_IFREG)
            && fstatat(AT_FDCWD, c(b"lnk\0"), AT_SYMLINK_NOFOLLOW).map(|s| s.mode & S_IFMT)
                == Ok(S_IFLNK),
        "symlink_readlink_lstat",
    );
    k.eq(
        open(c(b"lnk\0"), O_RDONLY | O_NOFOLLOW, 0),
        ELOOP,
        "o_nofollow_eloop",
    );
    k.result(
        sc2(nr::ACCESS, c(b"a\0"), 4 | 2) == 0
            && sc2(nr::ACCESS, c(b"a\0"), 1) == EACCES
            && sc2(nr::ACCESS, c(b"missing\0"), 0) == ENOENT
            && sc2(nr::ACCESS, c(b"sub\0"), 1) == 0,
        "access",
    );
    k.result(
        sc1(nr::UNLINK, c(b"sub\0")) == EISDIR
            && sc1(nr::RMDIR, dir.ptr()) == ENOTEMPTY
            && sc1(nr::UNLINK, c(b"lnk\0")) == 0
            && stat_with(nr::STAT, c(b"c\0")).is_ok()
            && sc1(nr::UNLINK, c(b"c\0")) == 0
            && sc1(nr::RMDIR, c(b"sub\0")) == 0
            && stat_with(nr::LSTAT, c(b"sub\0")) == Err(ENOENT),
        "unlink_rmdir",
    );
    let dirfd = open(dir.ptr(), O_RDONLY | O_DIRECTORY, 0);
    let up = sc1(nr::CHDIR, c(b"/\0"));
    let n1 = sc2(nr::GETCWD, cwd.as_mut_ptr() as usize, cwd.len());
    let root_ok = up == 0 && n1 == 2 && &cwd[..2] == b"/\0";
    let back = sc1(nr::FCHDIR, dirfd as usize);
    let n2 = sc2(nr::GETCWD, cwd.as_mut_ptr() as usize, cwd.len());
    k.result(
        root_ok && back == 0 && n2 > 1 && &cwd[..n2 as usize - 1] == dir.bytes(),
        "fchdir",
    );
    close(dirfd);
    let old = sc1(nr::UMASK, 0o077);
    let fu = open(c(b"u\0"), O_CREAT | O_WRONLY | O_CLOEXEC, 0o666);
    let um = fstat(fu).map(|s| s.mode & 0o777);
    sc1(nr::UMASK, old as usize);
    close(fu);
    sc1(nr::UNLINK, c(b"u\0"));
    k.result(old == 0o022 && um == Ok(0o600), "umask");

    // ---- pipes ----
    let mut p = [0i32; 2];
    let r = sc2(nr::PIPE2, p.as_mut_ptr() as usize, O_CLOEXEC);
    let (rd, wr) = (p[0] as isize, p[1] as isize);
    let w = write(wr, b"ping");
    let n = read(rd, &mut buf);
    let ps = fstat(rd).map(|s| s.mode & S_IFMT);
    k.result(
        r == 0 && w == 4 && n == 4 && &buf[..4] == b"ping" && ps == Ok(S_IFIFO),
        "pipe2_round_trip",
    );
    k.result(
        lseek(rd, 0, SEEK_CUR) == ESPIPE
            && sc4(nr::PREAD64, rd as usize, buf.as_mut_ptr() as usize, 1, 0) == ESPIPE,
        "pipe_espipe",
    );
    let on: i32 = 1;
    let nb = sc3(nr::IOCTL, rd as usize, FIONBIO, &raw const on as usize);
    k.result(
        nb == 0 && read(rd, &mut buf) == EAGAIN,
        "pipe_fionbio_eagain",
    );
    k.eq(
        sc3(
            nr::IOCTL,
            rd as usize,
            TIOCGWINSZ,
            buf.as_mut_ptr() as usize,
        ),
        ENOTTY,
        "ioctl_tiocgwinsz_pipe_enotty",
    );
    close(wr);
    k.eq(read(rd, &mut buf), 0, "pipe_eof_without_writers");
    close(rd);
    let r = sc2(nr::PIPE2, p.as_mut_ptr() as usize, O_NONBLOCK | O_CLOEXEC);
    let (rd, wr) = (p[0] as isize, p[1] as isize);
    let cap = sc2(nr::FCNTL, wr as usize, F_GETPIPE_SZ);
    let mut total = 0isize;
    let mut last = 0;
    for _ in 0..64 {
        last = write(wr, &big[..4096]);
        if last < 0 {
            break;
        }
        total += last;
    }
    k.result(
        r == 0 && cap >= 4096 && total == cap && last == EAGAIN,
        "pipe_capacity_nonblocking",
    );
    let mut drained = 0isize;
    loop {
        let n = read(rd, &mut big);
        if n <= 0 {
            break;
        }
        drained += n;
    }
    k.eq(drained, total, "pipe_drain");
    close(rd);
    let act: [usize; 4] = [SIG_IGN, 0, 0, 0];
    let sa = sc4(nr::RT_SIGACTION, SIGPIPE, act.as_ptr() as usize, 0, 8);
    k.result(sa == 0 && write(wr, b"x") == EPIPE, "pipe_no_reader_epipe");
    close(wr);

    // A writer in another process: blocking reads and writes, EOF when it exits.
    let r = sc2(nr::PIPE2, p.as_mut_ptr() as usize, O_CLOEXEC);
    let (rd, wr) = (p[0] as isize, p[1] as isize);
    const STREAM: usize = 256 * 1024;
    let writer = fork_start(|| {
        close(rd);
        let mut chunk = [0u8; 4096];
        let mut sent = 0;
        while sent < STREAM {
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = pattern(sent + i);
            }
            if write(wr, &chunk) != 4096 {
                return 1;
            }
            sent += 4096;
        }
        0
    });
    close(wr);
    let mut got = 0usize;
    let mut same = true;
    loop {
        let n = read(rd, &mut big[..3000]);
        if n <= 0 {
            same &= n == 0;
            break;
        }
        same &= big[..n as usize]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern(got + i));
        got += n as usize;
    }
    close(rd);
    let status = wait_for(writer);
    k.result(
        r == 0 && status == 0 && got == STREAM && same,
        "pipe_between_processes",
    );
    // fork shares the open file description: the child's write moves the parent's offset.
    let before = lseek(fd, 0, SEEK_END);
    let status = fork_run(|| if write(fd, b"child") == 5 { 0 } else { 1 });
    k.result(
        status == 0 && lseek(fd, 0, SEEK_CUR) == before + 5,
        "fork_shares_offset",
    );
    k.result(
        sc2(nr::FCNTL, fd as usize, F_GETFD) == FD_CLOEXEC && fork_run(|| 7) == 7 << 8,
        "fork_wait_status",
    );

    // ---- devices ----
    let null = open(c(b"/dev/null\0"), O_RDWR | O_CLOEXEC, 0);
    let ns = fstat(null).unwrap_or_default();
    k.result(
        null >= 0
            && write(null, b"12345") == 5
            && read(null, &mut buf) == 0
            && ns.mode & S_IFMT == S_IFCHR
            && ns.rdev == (1 << 8 | 3),
        "dev_null",
    );
    close(null);
    let zero = open(c(b"/dev/zero\0"), O_RDONLY | O_CLOEXEC, 0);
    buf.fill(0xff);
    k.result(
        zero >= 0 && read(zero, &mut buf[..16]) == 16 && buf[..16].iter().all(|&b| b == 0),
        "dev_zero",
    );
    close(zero);
    let ur = open(c(b"/dev/urandom\0"), O_RDONLY | O_CLOEXEC, 0);
    k.result(ur >= 0 && read(ur, &mut buf[..16]) == 16, "dev_urandom");
    close(ur);

    // ---- /proc ----
    let mut exe = [0u8; 256];
    let n = sc3(
        nr::READLINK,
        c(b"/proc/self/exe\0"),
        exe.as_mut_ptr() as usize,
        exe.len(),
    );
    let exe_ok = n > 0 && exe[0] == b'/' && exe[..n as usize].ends_with(b"/fs_basic");
    if n > 0 {
        diag!("/proc/self/exe -> {}", Bytes(&exe[..n as usize]));
    }
    k.result(exe_ok, "proc_self_exe");
    let mut proc_buf = [0u8; 16384];
    let pb = &mut proc_buf;
    let n = slurp(c(b"/proc/self/status\0"), pb);
    let pid_line = Path::new(&[b"\nPid:\t", pid_s, b"\n"]);
    k.result(
        n > 0
            && pb.starts_with(b"Name:\tfs_basic\n")
            && contains(&pb[..n as usize], pid_line.bytes()),
        "proc_self_status",
    );
    let n = slurp(c(b"/proc/cpuinfo\0"), pb);
    let text = &pb[..n.max(0) as usize];
    k.result(
        n > 0
            && text.starts_with(b"processor\t: 0\n")
            && contains(text, b"\nvendor_id\t: ")
            && contains(text, b"\nmodel name\t: ")
            && contains(text, b"\nflags\t\t: "),
        "proc_cpuinfo",
    );
    k.result(
        slurp(c(b"/proc/self/maps\0"), pb) >= 0,
        "proc_self_maps_readable",
    );

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

//! fs_basic's tests of one regular file: lookups and the working directory, creating, reading
//! and seeking, the stat family, open flags and ftruncate, a file over many pages, and vectored
//! I/O.

use super::*;

/// Lookup errors, mkdir, chdir into the fresh directory `dir`.
pub(super) fn lookup_mkdir_chdir(k: &mut Ktap, dir: &Path) {
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
}

/// Creates `a` in the working directory; returns its descriptor, open until the clean-up.
pub(super) fn create_read_seek(k: &mut Ktap) -> isize {
    let mut buf = [0u8; 64];
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
    fd
}

/// fstat, stat, newfstatat(AT_EMPTY_PATH) and statx of `a` (open as `fd`) agree.
pub(super) fn stat_family(k: &mut Ktap, fd: isize) {
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
}

/// O_APPEND, O_TRUNC, an O_WRONLY descriptor, ftruncate.
pub(super) fn open_flags(k: &mut Ktap, fd: isize) {
    let mut buf = [0u8; 64];
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
}

/// A file over many pages, written and read at offsets.
pub(super) fn large_file(k: &mut Ktap, fd: isize) {
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
}

/// readv, writev, preadv.
pub(super) fn vectored_io(k: &mut Ktap, fd: isize) {
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
}

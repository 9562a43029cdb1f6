//! fs_basic's tests of descriptors: the dup family and fcntl, and a description shared across
//! fork.

use super::*;

/// dup, dup2, dup3, fcntl F_GETFD/F_SETFD/F_DUPFD/F_GETFL/F_SETFL, close twice.
pub(super) fn dup_fcntl(k: &mut Ktap, fd: isize) {
    let mut buf = [0u8; 64];
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
}

/// After fork, parent and child share `fd`'s open file description (and its offset).
pub(super) fn fork_shares_description(k: &mut Ktap, fd: isize) {
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
}

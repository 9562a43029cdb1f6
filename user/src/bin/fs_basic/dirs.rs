//! fs_basic's tests of directories and names: mkdir, getdents64, rename, symlink, access,
//! unlink/rmdir, fchdir and umask.

use super::*;

/// Directories and names, in the working directory `dir`.
pub(super) fn directories(k: &mut Ktap, dir: &Path) {
    let mut buf = [0u8; 64];
    let mut cwd = [0u8; 128];
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
    let dents = &mut [0u8; 512];
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
}

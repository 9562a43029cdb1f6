//! File and directory syscalls: opening and closing, descriptors (dup, fcntl, pipes), metadata
//! (stat family, access, chmod/chown, utimensat, statfs), directories (getdents, getcwd, chdir,
//! mkdir, rmdir, unlink, rename, link, symlink, readlink), truncation and extended attributes
//! (`xattr`: none kept).
//!
//! The parts: `fd` (open, close, dup, pipes, fcntl, sync), `memfd` (memfd_create), `meta` (stat, access, chmod, chown,
//! utimensat, statfs, truncate) and `dir` (directories and names); the helpers they share are
//! here.

mod dir;
mod fd;
mod memfd;
mod meta;
mod xattr;
pub(crate) use meta::{StatfsWords, statfs_fd, statfs_path};

use super::table::Table;
use super::user::read_cstr;
use crate::fs::{self, Target};
use alloc::string::String;

pub const fn register(t: Table) -> Table {
    let t = fd::register(t);
    let t = meta::register(t);
    let t = memfd::register(t);
    let t = xattr::register(t);
    dir::register(t)
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

/// The calling process's descriptor table (lock it to use it).
fn files() -> alloc::sync::Arc<fs::FdTableLock> {
    crate::task::current().process.files()
}

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

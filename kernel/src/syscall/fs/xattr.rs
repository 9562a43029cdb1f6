//! Extended attributes: the getxattr, setxattr, listxattr and removexattr families (path,
//! l-, and f- forms). kentry's filesystems keep no extended attributes, and they answer as a
//! Linux filesystem mounted without xattr support does: every get, set and remove is
//! EOPNOTSUPP and a list is empty. The checks before that are Linux's, in its order: the
//! path (or descriptor) first, then the name (ERANGE when empty or longer than 255 bytes,
//! EFAULT), then setxattr's flags (EINVAL) and value size (E2BIG). Programs such as `ls -l`
//! ask for `security.selinux` and the POSIX ACLs of every file and take EOPNOTSUPP as "none".

use super::{AT_SYMLINK_NOFOLLOW, ret, target_at};
use crate::fs::{self, AT_FDCWD};
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::syscall::user::read_cstr_bytes;
use kentry::Regs;
use kentry_abi::nr;

/// Linux's XATTR_NAME_MAX and XATTR_SIZE_MAX.
const XATTR_NAME_MAX: usize = 255;
const XATTR_SIZE_MAX: u64 = 65536;
/// setxattr's flags.
const XATTR_CREATE: u64 = 1;
const XATTR_REPLACE: u64 = 2;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::GETXATTR] = sys_getxattr;
    t[nr::LGETXATTR] = sys_lgetxattr;
    t[nr::FGETXATTR] = sys_fgetxattr;
    t[nr::SETXATTR] = sys_setxattr;
    t[nr::LSETXATTR] = sys_lsetxattr;
    t[nr::FSETXATTR] = sys_fsetxattr;
    t[nr::LISTXATTR] = sys_listxattr;
    t[nr::LLISTXATTR] = sys_llistxattr;
    t[nr::FLISTXATTR] = sys_flistxattr;
    t[nr::REMOVEXATTR] = sys_removexattr;
    t[nr::LREMOVEXATTR] = sys_lremovexattr;
    t[nr::FREMOVEXATTR] = sys_fremovexattr;
    t
}

/// The file a call names: a path (followed unless `l`), or a descriptor.
enum Subject {
    Path { follow: bool },
    Fd,
}

fn resolve(subject: Subject, arg: u64) -> Result<(), i64> {
    match subject {
        Subject::Path { follow } => {
            let flags = if follow { 0 } else { AT_SYMLINK_NOFOLLOW };
            target_at(AT_FDCWD, arg, flags).map(|_| ())
        }
        Subject::Fd => fs::get_file(arg).map(|_| ()),
    }
}

/// An attribute name: ERANGE when empty or past XATTR_NAME_MAX (Linux's strncpy_from_user
/// into a 256-byte buffer), EFAULT when unreadable.
fn name_arg(addr: u64) -> Result<(), i64> {
    match read_cstr_bytes(addr, XATTR_NAME_MAX) {
        Ok(n) if n.is_empty() => Err(-ERANGE),
        Ok(_) => Ok(()),
        Err(e) if e == -ENAMETOOLONG => Err(-ERANGE),
        Err(e) => Err(e),
    }
}

fn get(subject: Subject, r: &Regs) -> i64 {
    ret(resolve(subject, r.rdi)
        .and_then(|_| name_arg(r.rsi))
        .and(Err(-EOPNOTSUPP)))
}

fn set(subject: Subject, r: &Regs) -> i64 {
    ret((|| {
        resolve(subject, r.rdi)?;
        name_arg(r.rsi)?;
        if r.r8 & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
            return Err(-EINVAL);
        }
        if r.r10 > XATTR_SIZE_MAX {
            return Err(-E2BIG);
        }
        Err(-EOPNOTSUPP)
    })())
}

/// No attribute to list: 0 bytes, whatever the buffer.
fn list(subject: Subject, r: &Regs) -> i64 {
    ret(resolve(subject, r.rdi).map(|_| 0))
}

fn remove(subject: Subject, r: &Regs) -> i64 {
    ret(resolve(subject, r.rdi)
        .and_then(|_| name_arg(r.rsi))
        .and(Err(-EOPNOTSUPP)))
}

const FOLLOW: Subject = Subject::Path { follow: true };
const NOFOLLOW: Subject = Subject::Path { follow: false };

fn sys_getxattr(r: &mut Regs) -> i64 {
    get(FOLLOW, r)
}
fn sys_lgetxattr(r: &mut Regs) -> i64 {
    get(NOFOLLOW, r)
}
fn sys_fgetxattr(r: &mut Regs) -> i64 {
    get(Subject::Fd, r)
}
fn sys_setxattr(r: &mut Regs) -> i64 {
    set(FOLLOW, r)
}
fn sys_lsetxattr(r: &mut Regs) -> i64 {
    set(NOFOLLOW, r)
}
fn sys_fsetxattr(r: &mut Regs) -> i64 {
    set(Subject::Fd, r)
}
fn sys_listxattr(r: &mut Regs) -> i64 {
    list(FOLLOW, r)
}
fn sys_llistxattr(r: &mut Regs) -> i64 {
    list(NOFOLLOW, r)
}
fn sys_flistxattr(r: &mut Regs) -> i64 {
    list(Subject::Fd, r)
}
fn sys_removexattr(r: &mut Regs) -> i64 {
    remove(FOLLOW, r)
}
fn sys_lremovexattr(r: &mut Regs) -> i64 {
    remove(NOFOLLOW, r)
}
fn sys_fremovexattr(r: &mut Regs) -> i64 {
    remove(Subject::Fd, r)
}

//! memfd_create(2) (the file itself: fs/memfd.rs).

use super::super::table::Table;
use super::ret;
use crate::fs::{self, memfd};
use crate::syscall::errno::*;
use crate::syscall::user::read_cstr_bytes;
use kentry::Regs;
use kentry_abi::nr;

pub const fn register(mut t: Table) -> Table {
    t[nr::MEMFD_CREATE] = sys_memfd_create;
    t
}

/// memfd_create(name, flags): the flags first, then the name (EFAULT unreadable, EINVAL
/// longer than 249 bytes), as Linux.
fn sys_memfd_create(regs: &mut Regs) -> i64 {
    let (uname, flags) = (regs.rdi, regs.rsi as u32);
    ret((|| {
        memfd::check_flags(flags)?;
        let name = match read_cstr_bytes(uname, memfd::MFD_NAME_MAX_LEN) {
            Ok(n) if n.len() <= memfd::MFD_NAME_MAX_LEN => n,
            Ok(_) => return Err(-EINVAL),
            Err(e) if e == -ENAMETOOLONG => return Err(-EINVAL),
            Err(e) => return Err(e),
        };
        let file = memfd::create(&name, flags);
        Ok(fs::install_file(file, flags & memfd::MFD_CLOEXEC != 0)? as i64)
    })())
}

//! `/proc/PID/uid_map`, `gid_map` and `setgroups`: the maps of process PID's user namespace
//! (process/user_ns.rs), read as Linux shows them and written once.

use super::node::{Body, DEV_PROC, Inode, InodeRef, ProcFile};
use crate::process::user_ns::{self, IdMap, UserNamespace};
use crate::syscall::errno::ESRCH;
use alloc::string::String;
use alloc::sync::Arc;

/// `uid_map`, `gid_map` and `setgroups` of process `pid` (a global id; None: whichever process
/// looks, for /proc/self) into its directory.
pub fn add_files(dir: &InodeRef, pid: Option<u32>) {
    for (name, f) in [
        ("uid_map", ProcFile::IdMap(pid, IdMap::Uid)),
        ("gid_map", ProcFile::IdMap(pid, IdMap::Gid)),
        ("setgroups", ProcFile::Setgroups(pid)),
    ] {
        // Not read-only: they are written (once).
        super::proc_pid::add(dir, name, Inode::new(Body::Proc(f), 0o644, DEV_PROC, false));
    }
}

/// The user namespace of process `pid` (None: the caller), if the process still exists.
fn user_ns_of(pid: Option<u32>) -> Result<Option<Arc<UserNamespace>>, i64> {
    let p = match pid {
        Some(pid) => crate::process::find(pid).ok_or(-ESRCH)?,
        None => crate::task::current().process.clone(),
    };
    let ns = p.user_ns.lock().clone();
    Ok(ns)
}

/// The text of a file made by [`add_files`].
pub fn text(what: ProcFile) -> Result<String, i64> {
    Ok(match what {
        ProcFile::IdMap(pid, which) => user_ns::show_map(user_ns_of(pid)?.as_ref(), which),
        ProcFile::Setgroups(pid) => {
            String::from(user_ns::show_setgroups(user_ns_of(pid)?.as_ref()))
        }
        _ => String::new(),
    })
}

/// A write to a file made by [`add_files`], by the calling process.
pub fn write(what: ProcFile, buf: &[u8], off: u64) -> Result<usize, i64> {
    let writer = crate::task::current().process.user_ns.lock().clone();
    match what {
        ProcFile::IdMap(pid, which) => {
            user_ns::write_map(user_ns_of(pid)?.as_ref(), which, writer.as_ref(), buf, off)
        }
        ProcFile::Setgroups(pid) => user_ns::write_setgroups(user_ns_of(pid)?.as_ref(), buf),
        _ => Err(-crate::syscall::errno::EBADF),
    }
}

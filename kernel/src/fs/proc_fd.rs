//! `/proc/PID/fd`: a link per open descriptor, followed as Linux's magic links. A link reads
//! as the path the description was opened by, or a pseudo-name such as `pipe:[INO]`
//! (file.rs `proc_name`). Following one does not resolve that text: it leads to the
//! description itself (path.rs `lookup`), so a file whose name is gone, a pipe, or the run's
//! console opens again. A shell's process substitution (`<(cmd)`, which names `/dev/fd/63`)
//! and `/dev/stdout` depend on it.

use super::file::{File, FileKind};
use super::node::{Body, DEV_PROC, Inode, InodeRef};
use crate::syscall::errno::*;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry_kernel_logic::fcntl::{self, O_ACCMODE, O_RDONLY, O_WRONLY};

/// `/proc/PID/fd`: a link per descriptor open now (dr-x------, as on Linux).
pub(super) fn fd_dir(parent: &InodeRef, pid: u32, files: &super::FdTableLock) -> InodeRef {
    let d = Inode::new_dir(Some(parent), 0o500, DEV_PROC, true);
    let open: Vec<u32> = files
        .lock()
        .fds
        .iter()
        .enumerate()
        .filter(|(_, e)| e.is_some())
        .map(|(fd, _)| fd as u32)
        .collect();
    for fd in open {
        super::proc_pid::add(
            &d,
            &alloc::format!("{fd}"),
            Inode::new(Body::ProcFd(pid, fd), 0o700, DEV_PROC, true),
        );
    }
    d
}

/// The description behind `/proc/PID/fd/N`; None once it is closed or the process is gone.
pub fn target(pid: u32, fd: u32) -> Option<Arc<File>> {
    crate::process::find(pid)
        .filter(|p| !super::proc_task::is_reaped(p))
        .and_then(|p| p.files().lookup(u64::from(fd)))
}

/// What `/proc/PID/fd/N` reads as (readlink); "" once it is closed (a lookup is then ENOENT).
pub fn fd_link(pid: u32, fd: u32) -> String {
    target(pid, fd).map(|f| f.proc_name()).unwrap_or_default()
}

/// open(2) through a link to a description with no inode of its own (path.rs leads to the
/// inode of the others): a new description of the same object, with `flags`.
/// - a pipe: a new end of the access mode asked for, counted as an end of its own (Linux's
///   fifo_open on the pipe's inode). O_RDWR, which Linux gives as both ends at once, is
///   EINVAL here: a description is one end.
/// - the run's console: a console description writing to the same stream.
/// - anything opened by a path (a pty's slave): that path, opened anew.
/// - a socket, and the anonymous inodes (eventfd, epoll, timerfd, signalfd, seccomp
///   listener): ENXIO, as Linux's sockets answer.
pub fn reopen(file: &Arc<File>, flags: u32) -> Result<Arc<File>, i64> {
    let kind = match &file.kind {
        FileKind::Pipe { pipe, .. } => {
            let writer = match flags & O_ACCMODE {
                O_RDONLY => false,
                O_WRONLY => true,
                _ => return Err(-EINVAL),
            };
            pipe.open_end(writer);
            FileKind::Pipe {
                pipe: pipe.clone(),
                writer,
            }
        }
        FileKind::Console { stream, pipe_like } => FileKind::Console {
            stream: *stream,
            pipe_like: *pipe_like,
        },
        _ => {
            return match file.path() {
                Some(p) => super::open(&super::root().clone(), p, flags, 0),
                None => Err(-ENXIO),
            };
        }
    };
    Ok(File::new(kind, fcntl::kept_flags(flags)))
}

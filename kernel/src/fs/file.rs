//! Open file descriptions: what a descriptor refers to, with its offset and status flags.
//! Descriptors made by dup, fork or SCM-less inheritance share one description (and so one
//! offset), as on Linux.

use super::node::{
    Body, DEV_ANON, DEV_PIPE, DEV_ROOT, Device, InodeRef, ProcFile, S_IFCHR, S_IFIFO, S_IFSOCK,
    makedev,
};
use super::pipe::Pipe;
use super::stat::Stat;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

// open(2) flags and the rules on them live in kentry-kernel-logic (host-tested).
use kentry_kernel_logic::fcntl;
pub use kentry_kernel_logic::fcntl::{
    O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK,
    O_PATH, O_RDONLY, O_RDWR, O_TMPFILE, O_TRUNC, O_WRONLY,
};

/// What a description refers to.
pub enum FileKind {
    /// The run's console: reads take the program's stdin, writes go to the host's stdout
    /// (`stream` 1) or stderr (2). The descriptors a program starts with look like the pipes
    /// they are on the host side (`pipe_like`); `/dev/console` is a character device.
    Console {
        stream: u32,
        pipe_like: bool,
    },
    /// A filesystem object. `snapshot`: the text of a generated /proc file.
    Node {
        node: InodeRef,
        snapshot: Option<Vec<u8>>,
    },
    /// One end of a pipe.
    Pipe {
        pipe: Arc<Pipe>,
        writer: bool,
    },
    /// A seccomp filter's listener (an anonymous inode, "seccomp notify"): ioctl and poll
    /// only; read and write are EINVAL.
    SeccompListener(Arc<crate::syscall::seccomp::notify::Listener>),
    /// An AF_UNIX socket (net/unix.rs).
    Socket(Arc<crate::net::unix::UnixSocket>),
    /// The event descriptors (event/), anonymous inodes all: an epoll instance, an eventfd
    /// counter, a timerfd, a signalfd.
    Epoll(Arc<crate::event::epoll::Epoll>),
    EventFd(Arc<crate::event::eventfd::EventFd>),
    TimerFd(Arc<crate::event::timerfd::TimerFd>),
    SignalFd(Arc<crate::event::signalfd::SignalFd>),
    /// A pseudo-terminal's master side and a description of its slave (tty/pty.rs).
    PtyMaster(Arc<crate::tty::pty::Pty>),
    PtySlave(Arc<crate::tty::pty::Pty>),
}

pub struct File {
    pub kind: FileKind,
    /// Access mode and status flags (O_APPEND, O_NONBLOCK, O_PATH…).
    flags: AtomicU32,
    /// The offset (for directories: the index of the next entry).
    pub pos: Mutex<u64>,
    /// st_ino of a console description.
    ino: u64,
    /// The absolute path it was opened by, as /proc/PID/fd/N shows it (set once, by open).
    path: spin::Once<alloc::string::String>,
}

impl Drop for File {
    fn drop(&mut self) {
        match &self.kind {
            FileKind::Pipe { pipe, writer } => pipe.close_end(*writer),
            // Its waiting targets are answered ENOSYS.
            FileKind::SeccompListener(l) => l.detach(),
            FileKind::Socket(s) => s.release(),
            FileKind::PtyMaster(p) => p.tty.hang_up(),
            FileKind::PtySlave(p) => p.slave_closed(),
            _ => {}
        }
    }
}

impl File {
    pub fn new(kind: FileKind, flags: u32) -> Arc<File> {
        Arc::new(File {
            kind,
            flags: AtomicU32::new(flags),
            pos: Mutex::new(0),
            ino: super::node::alloc_ino(),
            path: spin::Once::new(),
        })
    }

    /// Records the path open(2) resolved this description from.
    pub fn set_path(&self, path: alloc::string::String) {
        self.path.call_once(|| path);
    }

    /// The path open(2) resolved this description from, if it was opened by one.
    pub fn path(&self) -> Option<&str> {
        self.path.get().map(alloc::string::String::as_str)
    }

    /// What /proc/PID/fd/N names: the path it was opened by, or Linux's pseudo-names
    /// (`pipe:[INO]`, `socket:[INO]`, `anon_inode:[eventfd]`, …).
    pub fn proc_name(&self) -> alloc::string::String {
        use alloc::format;
        let ino = self.stat().ino;
        match &self.kind {
            FileKind::Console {
                pipe_like: true, ..
            }
            | FileKind::Pipe { .. } => {
                format!("pipe:[{ino}]")
            }
            FileKind::Console { .. } => "/dev/console".into(),
            FileKind::Socket(_) => format!("socket:[{ino}]"),
            FileKind::SeccompListener(_) => "anon_inode:seccomp notify".into(),
            FileKind::Epoll(_) => "anon_inode:[eventpoll]".into(),
            FileKind::EventFd(_) => "anon_inode:[eventfd]".into(),
            FileKind::TimerFd(_) => "anon_inode:[timerfd]".into(),
            FileKind::SignalFd(_) => "anon_inode:[signalfd]".into(),
            FileKind::PtyMaster(_) => "/dev/ptmx".into(),
            FileKind::PtySlave(p) => format!("/dev/pts/{}", p.index),
            FileKind::Node { node, .. } => match (self.path.get(), &node.body) {
                (Some(p), _) => p.clone(),
                // "/memfd:NAME (deleted)", as its maps line.
                (None, Body::Memfd(m)) => m.shm.name.clone().unwrap_or_default(),
                (None, _) => format!("anon_inode:[{ino}]"),
            },
        }
    }

    pub fn console(stream: u32, pipe_like: bool) -> Arc<File> {
        File::new(FileKind::Console { stream, pipe_like }, O_RDWR)
    }

    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    pub fn set_status_flags(&self, fl: u32) {
        let old = self.flags();
        self.flags.store(fcntl::setfl(old, fl), Ordering::Relaxed);
    }

    pub fn nonblocking(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    pub fn is_path(&self) -> bool {
        self.flags() & O_PATH != 0
    }

    pub fn readable(&self) -> bool {
        fcntl::readable(self.flags())
    }

    pub fn writable(&self) -> bool {
        fcntl::writable(self.flags())
    }

    /// The inode, for filesystem objects.
    pub fn node(&self) -> Option<&InodeRef> {
        match &self.kind {
            FileKind::Node { node, .. } => Some(node),
            _ => None,
        }
    }

    /// Whether the description has an offset lseek may move.
    pub fn seekable(&self) -> bool {
        match &self.kind {
            FileKind::Node { node, .. } => !matches!(node.body, Body::Dev(Device::Console)),
            _ => false,
        }
    }

    /// Writes to this file never look at the bytes (/dev/null and friends): Linux does not
    /// read the user buffer, so a bad pointer is no error.
    pub fn discards_writes(&self) -> bool {
        matches!(
            &self.kind,
            FileKind::Node { node, .. }
                if matches!(node.body, Body::Dev(Device::Null | Device::Zero | Device::Random))
        )
    }

    /// The poll(2) events ready now: the one source of readiness for poll, select and epoll.
    /// Files in memory, the console and /proc are always ready (Linux's DEFAULT_POLLMASK),
    /// whatever their access mode. A poll that must wait sleeps on
    /// [`super::pipe::POLL_WAIT`], which every readiness change wakes (a timerfd's expiry
    /// excepted: [`File::poll_deadline`]). Short locks at most, no allocation: usable as a
    /// wait condition.
    pub fn poll_events(&self) -> u16 {
        self.poll_events_nested(0)
    }

    /// [`File::poll_events`] for a file `depth` epoll instances down from the caller.
    pub fn poll_events_nested(&self, depth: usize) -> u16 {
        use super::pipe::DEFAULT_POLLMASK;
        match &self.kind {
            FileKind::Pipe { pipe, writer } => pipe.poll_events(*writer),
            FileKind::SeccompListener(l) => l.poll_events(),
            FileKind::Socket(s) => s.poll_events(),
            FileKind::Epoll(e) => e.poll_events(depth),
            FileKind::EventFd(e) => e.poll_events(),
            FileKind::TimerFd(t) => t.poll_events(),
            FileKind::SignalFd(s) => s.poll_events(),
            FileKind::Console { .. } if let Some(t) = crate::tty::get() => t.poll_events(),
            FileKind::PtyMaster(p) => p.master_poll(),
            FileKind::PtySlave(p) => p.tty.poll_events(),
            _ => DEFAULT_POLLMASK,
        }
    }

    /// The file's wake-up counts (readers' side, writers' side), which edge-triggered epoll
    /// interest compares (event/mod.rs). Files that never change readiness have none (0).
    pub fn poll_seqs_nested(&self, depth: usize) -> [u64; 2] {
        match &self.kind {
            FileKind::Pipe { pipe, writer } => pipe.poll_seq(*writer),
            FileKind::Socket(s) => s.seq.get(),
            FileKind::Epoll(e) => [e.poll_seq(depth); 2],
            FileKind::EventFd(e) => e.seq.get(),
            FileKind::TimerFd(t) => [t.poll_seq(); 2],
            FileKind::SignalFd(s) => [s.poll_seq(); 2],
            FileKind::Console { .. } if let Some(t) = crate::tty::get() => t.poll_seq(),
            FileKind::PtyMaster(p) => p.master_seq(),
            FileKind::PtySlave(p) => p.tty.poll_seq(),
            _ => [0; 2],
        }
    }

    /// The monotonic time (ns) at which this file becomes ready without any wake-up (a
    /// timerfd's next expiry): pollers sleep no longer than that.
    pub fn poll_deadline(&self) -> Option<u64> {
        self.poll_deadline_nested(0)
    }

    pub fn poll_deadline_nested(&self, depth: usize) -> Option<u64> {
        match &self.kind {
            FileKind::TimerFd(t) => t.poll_deadline(),
            FileKind::Epoll(e) => e.poll_deadline(depth),
            _ => None,
        }
    }

    /// The epoll instance, for epoll descriptions.
    pub fn epoll(&self) -> Option<&Arc<crate::event::epoll::Epoll>> {
        match &self.kind {
            FileKind::Epoll(e) => Some(e),
            _ => None,
        }
    }

    /// Whether epoll may watch this file: Linux refuses (EPERM) files without a poll
    /// operation — regular files, directories, memfds and the memory devices.
    pub fn epoll_can_watch(&self) -> bool {
        match &self.kind {
            FileKind::Node { node, .. } => matches!(
                node.body,
                Body::Dev(Device::Console) | Body::Proc(_) | Body::ProcMem(_)
            ),
            _ => true,
        }
    }

    /// read(2) at the description's offset. `nonblock` forces non-blocking behaviour (a later
    /// piece of a readv that already moved data).
    pub fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, i64> {
        if !self.readable() {
            return Err(-EBADF);
        }
        match &self.kind {
            FileKind::Console { .. } => match crate::tty::get() {
                Some(t) => t.read(buf, nonblock || self.nonblocking()),
                None => Ok(crate::console::stdin_read(buf)),
            },
            FileKind::Pipe { pipe, writer } => {
                if *writer {
                    return Err(-EBADF);
                }
                pipe.read(buf, nonblock || self.nonblocking())
            }
            FileKind::Node { node, snapshot } => {
                let mut pos = self.pos.lock();
                let n = read_node(node, snapshot.as_deref(), buf, *pos)?;
                *pos += n as u64;
                Ok(n)
            }
            FileKind::SeccompListener(_) | FileKind::Epoll(_) => Err(-EINVAL),
            FileKind::Socket(s) => s
                .recv(buf, 0, nonblock || self.nonblocking())
                .map(|r| r.copied),
            FileKind::EventFd(e) => e.read(buf, nonblock || self.nonblocking()),
            FileKind::TimerFd(t) => t.read(buf, nonblock || self.nonblocking()),
            FileKind::SignalFd(s) => s.read(buf, nonblock || self.nonblocking()),
            FileKind::PtyMaster(p) => p.master_read(buf, nonblock || self.nonblocking()),
            FileKind::PtySlave(p) => p.tty.read(buf, nonblock || self.nonblocking()),
        }
    }

    /// The socket, for socket descriptions.
    pub fn socket(&self) -> Option<&Arc<crate::net::unix::UnixSocket>> {
        match &self.kind {
            FileKind::Socket(s) => Some(s),
            _ => None,
        }
    }

    /// pread(2).
    pub fn read_at(&self, buf: &mut [u8], off: u64) -> Result<usize, i64> {
        if !self.readable() {
            return Err(-EBADF);
        }
        match &self.kind {
            FileKind::Node { node, snapshot } if self.seekable() => {
                read_node(node, snapshot.as_deref(), buf, off)
            }
            _ => Err(-ESPIPE),
        }
    }

    /// write(2) at the description's offset (or the end, with O_APPEND).
    pub fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, i64> {
        if !self.writable() {
            return Err(-EBADF);
        }
        match &self.kind {
            FileKind::Console { stream, .. } => match crate::tty::get() {
                Some(t) => t.write((*stream).max(1), buf),
                None => {
                    crate::console::user_write((*stream).max(1), buf);
                    Ok(buf.len())
                }
            },
            FileKind::Pipe { pipe, writer } => {
                if !*writer {
                    return Err(-EBADF);
                }
                pipe.write(buf, nonblock || self.nonblocking())
            }
            FileKind::Node { node, .. } => {
                let mut pos = self.pos.lock();
                let append = self.flags() & O_APPEND != 0;
                let (n, end) = write_node(node, buf, *pos, append)?;
                if self.seekable() {
                    *pos = end;
                }
                Ok(n)
            }
            FileKind::SeccompListener(_)
            | FileKind::Epoll(_)
            | FileKind::TimerFd(_)
            | FileKind::SignalFd(_) => Err(-EINVAL),
            FileKind::Socket(s) => s.send(
                buf,
                None,
                &mut crate::net::scm::Scm::default(),
                0,
                nonblock || self.nonblocking(),
            ),
            FileKind::EventFd(e) => e.write(buf, nonblock || self.nonblocking()),
            FileKind::PtyMaster(p) => p.master_write(buf),
            FileKind::PtySlave(p) => p.tty.write(1, buf),
        }
    }

    /// pwrite(2). With O_APPEND the data goes to the end, as on Linux.
    pub fn write_at(&self, buf: &[u8], off: u64) -> Result<usize, i64> {
        if !self.writable() {
            return Err(-EBADF);
        }
        match &self.kind {
            FileKind::Node { node, .. } if self.seekable() => {
                let append = self.flags() & O_APPEND != 0;
                write_node(node, buf, off, append).map(|(n, _)| n)
            }
            _ => Err(-ESPIPE),
        }
    }

    /// The size lseek(SEEK_END) measures from.
    pub fn end(&self) -> u64 {
        match &self.kind {
            FileKind::Node {
                snapshot: Some(s), ..
            } => s.len() as u64,
            FileKind::Node { node, .. } => match &node.body {
                Body::Reg(d) => d.lock().len() as u64,
                Body::Memfd(m) => m.len(),
                _ => 0,
            },
            _ => 0,
        }
    }

    pub fn stat(&self) -> Stat {
        match &self.kind {
            FileKind::Node { node, .. } => stat_node(node),
            // In an interactive run every console description is /dev/console itself (same
            // device and inode), which is how ttyname(3) finds the terminal's name.
            FileKind::Console {
                pipe_like: false, ..
            } if crate::tty::get().is_some()
                && let Ok(f) = super::lookup(super::root(), "/dev/console", true) =>
            {
                stat_node(&f.node)
            }
            FileKind::Console { pipe_like, .. } => {
                let (mode, dev, rdev) = if *pipe_like {
                    (S_IFIFO | 0o600, DEV_PIPE, 0)
                } else {
                    (S_IFCHR | 0o600, DEV_ROOT, makedev(5, 1))
                };
                Stat {
                    dev,
                    ino: self.ino,
                    nlink: 1,
                    mode,
                    rdev,
                    blksize: 4096,
                    ..Stat::default()
                }
            }
            FileKind::Pipe { pipe, .. } => Stat {
                dev: DEV_PIPE,
                ino: pipe.ino,
                nlink: 1,
                mode: S_IFIFO | 0o600,
                blksize: 4096,
                ..Stat::default()
            },
            FileKind::Socket(s) => Stat {
                dev: DEV_ANON,
                ino: s.ino,
                nlink: 1,
                mode: S_IFSOCK | 0o777,
                blksize: 4096,
                ..Stat::default()
            },
            // Linux's anonymous inode: no file type bits, owner read/write.
            FileKind::SeccompListener(_)
            | FileKind::Epoll(_)
            | FileKind::EventFd(_)
            | FileKind::TimerFd(_)
            | FileKind::SignalFd(_) => Stat {
                dev: DEV_ANON,
                ino: self.ino,
                nlink: 1,
                mode: 0o600,
                blksize: 4096,
                ..Stat::default()
            },
            // The device nodes themselves, as Linux's devpts inodes (ptsname and ttyname
            // compare these with stat of the path).
            FileKind::PtyMaster(_) | FileKind::PtySlave(_) => {
                let path = match &self.kind {
                    FileKind::PtySlave(p) => alloc::format!("/dev/pts/{}", p.index),
                    _ => alloc::string::String::from("/dev/ptmx"),
                };
                match super::lookup(super::root(), &path, true) {
                    Ok(f) => stat_node(&f.node),
                    Err(_) => Stat {
                        dev: DEV_ROOT,
                        ino: self.ino,
                        nlink: 1,
                        mode: S_IFCHR | 0o620,
                        blksize: 4096,
                        ..Stat::default()
                    },
                }
            }
        }
    }
}

/// The attributes of an inode as stat reports them.
pub fn stat_node(node: &InodeRef) -> Stat {
    let size = node.size();
    let m = *node.meta.lock();
    Stat {
        dev: node.dev,
        ino: node.ino,
        nlink: node.nlink(),
        mode: node.file_type() | m.perm,
        uid: m.uid,
        gid: m.gid,
        rdev: node.rdev(),
        size,
        blksize: 4096,
        blocks: match node.body {
            Body::Reg(_) | Body::Memfd(_) => size.div_ceil(4096) * 8,
            _ => 0,
        },
        atime: m.atime,
        mtime: m.mtime,
        ctime: m.ctime,
    }
}

fn read_node(
    node: &InodeRef,
    snapshot: Option<&[u8]>,
    buf: &mut [u8],
    off: u64,
) -> Result<usize, i64> {
    match &node.body {
        Body::Dir(_) => Err(-EISDIR),
        Body::Reg(d) => Ok(d.lock().read_at(off, buf)),
        Body::Memfd(m) => Ok(m.read_at(off, buf)),
        Body::Proc(_) => {
            let s = snapshot.unwrap_or(&[]);
            let off = usize::try_from(off).unwrap_or(usize::MAX).min(s.len());
            let n = buf.len().min(s.len() - off);
            buf[..n].copy_from_slice(&s[off..off + n]);
            Ok(n)
        }
        Body::Dev(Device::Null) => Ok(0),
        Body::Dev(Device::Zero | Device::Full) => {
            buf.fill(0);
            Ok(buf.len())
        }
        Body::Dev(Device::Random) => {
            for chunk in buf.chunks_mut(16) {
                let r = crate::random::bytes16();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
            Ok(buf.len())
        }
        Body::Dev(Device::Console) => Ok(crate::console::stdin_read(buf)),
        // Opened as the console (fs::open): never a node description.
        // Opened as terminals (fs::open): never node descriptions.
        Body::Dev(Device::Tty | Device::Ptmx | Device::PtySlave(_)) => Err(-ENXIO),
        Body::ProcMem(pid) => super::proc_pid::read(*pid, buf, off),
        Body::Symlink(_)
        | Body::ProcExe(_)
        | Body::ProcSelf(_)
        | Body::ProcCwd(_)
        | Body::ProcFd(..)
        | Body::Socket(_) => Err(-EBADF),
    }
}

/// Writes to an inode; returns (bytes written, offset after the write).
fn write_node(node: &InodeRef, buf: &[u8], off: u64, append: bool) -> Result<(usize, u64), i64> {
    match &node.body {
        Body::Reg(d) => {
            let mut d = d.lock();
            let at = if append { d.len() as u64 } else { off };
            let n = d.write_at(at, buf)?;
            drop(d);
            if n > 0 {
                node.touch_modified();
            }
            Ok((n, at + n as u64))
        }
        Body::Memfd(m) => {
            // O_APPEND: the end, found under the lock the write holds.
            let (n, at) = m.write_at((!append).then_some(off), buf)?;
            if n > 0 {
                node.touch_modified();
            }
            Ok((n, at + n as u64))
        }
        Body::Dev(Device::Null | Device::Zero | Device::Random) => Ok((buf.len(), off)),
        Body::Dev(Device::Full) => Err(-ENOSPC),
        Body::Dev(Device::Console) => {
            crate::console::user_write(1, buf);
            Ok((buf.len(), off))
        }
        // Opened as terminals (fs::open): never node descriptions.
        Body::Dev(Device::Tty | Device::Ptmx | Device::PtySlave(_)) => Err(-ENXIO),
        Body::Dir(_) => Err(-EISDIR),
        Body::ProcMem(pid) => {
            let n = super::proc_pid::write(*pid, buf, off)?;
            Ok((n, off + n as u64))
        }
        Body::Proc(f @ (ProcFile::IdMap(..) | ProcFile::Setgroups(_))) => {
            let n = super::proc_ns::write(*f, buf, off)?;
            Ok((n, off + n as u64))
        }
        Body::Proc(_)
        | Body::Symlink(_)
        | Body::ProcExe(_)
        | Body::ProcSelf(_)
        | Body::ProcCwd(_)
        | Body::ProcFd(..)
        | Body::Socket(_) => Err(-EBADF),
    }
}

/// Truncates a regular file (ftruncate/truncate/O_TRUNC).
pub fn truncate_node(node: &InodeRef, len: u64) -> Result<(), i64> {
    match &node.body {
        Body::Reg(d) => {
            d.lock().truncate(len)?;
            node.touch_modified();
            Ok(())
        }
        Body::Memfd(m) => {
            m.truncate(len)?;
            node.touch_modified();
            Ok(())
        }
        Body::Dir(_) => Err(-EISDIR),
        _ => Err(-EINVAL),
    }
}

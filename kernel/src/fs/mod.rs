//! Files: an in-memory filesystem, open file descriptions and per-process descriptor tables.
//!
//! - The tree ([`node`], [`path`]) holds the initrd's files and directories (file data stays
//!   in the initrd until written), a writable `/tmp`, the devices of `/dev` (null, zero, full,
//!   random, urandom, console), and `/proc` with `self/{maps,stat,status,exe,mem}`,
//!   `PID/{exe,maps,mem,stat,status,task/TID/}` (proc_pid.rs, proc_task.rs), `cmdline` (the kernel's),
//!   `cpuinfo`, `meminfo`, `mounts`, `stat` and `uptime`, whose text is generated when
//!   opened. memfd_create's files (memfd.rs) live in no directory. Everyone is root; permission bits are kept but only the execute bits are
//!   checked (execve, access X_OK), as for root on Linux.
//! - An open file description ([`File`]) has an offset and status flags; descriptors share it
//!   after dup and fork.
//! - [`FdTable`] is a process's descriptors plus what Linux keeps in `fs_struct`: the working
//!   directory and umask, and the path of the running program (`/proc/self/exe`). Threads share
//!   it; fork copies it.

mod fd_rcu;
mod file;
pub mod memfd;
mod node;
mod path;
pub mod pipe;
mod proc_fd;
mod proc_ns;
mod proc_pid;
pub mod proc_task;
mod proc_tree;
pub(crate) mod procfs;
pub mod stat;

pub use fd_rcu::FdTableLock;
pub use file::*;
pub use node::{Body, DEV_PROC, Device, InodeRef, ProcFile, S_IFDIR, S_IFMT, Time, alloc_ino, now};
pub use pipe::{PIPE_CAPACITY, POLL_WAIT, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, Pipe};
pub use stat::Stat;

use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry_kernel_logic::fcntl;
use node::{DEV_ROOT, FileData, Inode};
use spin::Once;

static ROOT: Once<InodeRef> = Once::new();

/// Builds the filesystem from the initrd (once). Called at boot; every use also makes sure.
// Until boot calls it, the first file syscall builds the tree.
#[allow(dead_code)]
pub fn init() {
    root();
}

/// Adds character device `name` to /dev (the tty's /dev/tty, interactive runs only).
pub fn add_device(name: &str, d: node::Device, perm: u32) {
    let n = Inode::new(Body::Dev(d), perm, DEV_ROOT, false);
    let (dir, base) = match name.rsplit_once('/') {
        Some((d, b)) => (alloc::format!("/dev/{d}"), b),
        None => (String::from("/dev"), name),
    };
    if let Ok(f) = lookup(root(), &dir, true)
        && let Some(dd) = f.node.dir()
    {
        dd.lock().entries.insert(String::from(base), n);
    }
}

/// /dev/pts/N of a new pseudo-terminal (tty/pty.rs), and its removal.
pub fn add_pts_node(n: u32) {
    add_device(&alloc::format!("pts/{n}"), Device::PtySlave(n), 0o620);
}

pub fn remove_pts_node(n: u32) {
    if let Ok(f) = lookup(root(), "/dev/pts", true)
        && let Some(d) = f.node.dir()
    {
        d.lock().entries.remove(&alloc::format!("{n}"));
    }
}

/// The root directory.
pub fn root() -> &'static InodeRef {
    ROOT.call_once(build)
}

fn build() -> InodeRef {
    let (total, _) = crate::mm::frame::stats();
    // File data may take at most half of memory.
    node::set_page_budget((total / 2) as usize);
    let root = Inode::new_dir(None, 0o755, DEV_ROOT, false);
    if let Some(cpio) = crate::INITRD.get() {
        for e in cpio.entries() {
            let name = e.name.trim_start_matches("./").trim_start_matches('/');
            let name = name.trim_end_matches('/');
            if name.is_empty() || name == "." {
                continue;
            }
            let perm = e.mode & 0o7777;
            let body = match e.mode & S_IFMT {
                node::S_IFDIR => {
                    let d = mkdir_p(&root, name);
                    d.meta.lock().perm = perm;
                    continue;
                }
                node::S_IFREG => Body::Reg(Mutex::new(FileData::Static(e.data))),
                node::S_IFLNK => match core::str::from_utf8(e.data) {
                    Ok(t) => Body::Symlink(String::from(t)),
                    Err(_) => continue,
                },
                _ => continue,
            };
            let (dir_name, base) = match name.rfind('/') {
                Some(i) => (&name[..i], &name[i + 1..]),
                None => ("", name),
            };
            let dir = mkdir_p(&root, dir_name);
            let node = Inode::new(body, perm, DEV_ROOT, false);
            if let Some(d) = dir.dir() {
                d.lock().entries.insert(String::from(base), node);
            }
        }
    }
    let tmp = mkdir_p(&root, "tmp");
    tmp.meta.lock().perm = 0o1777;
    let dev = mkdir_p(&root, "dev");
    for (name, d, perm) in [
        ("null", Device::Null, 0o666),
        ("zero", Device::Zero, 0o666),
        ("full", Device::Full, 0o666),
        ("random", Device::Random, 0o666),
        ("urandom", Device::Random, 0o666),
        ("console", Device::Console, 0o600),
        ("ptmx", Device::Ptmx, 0o666),
        ("tty", Device::Tty, 0o666),
    ] {
        let n = Inode::new(Body::Dev(d), perm, DEV_ROOT, false);
        if let Some(dd) = dev.dir() {
            dd.lock().entries.insert(String::from(name), n);
        }
    }
    mkdir_p(&root, "dev/pts");
    // As udev makes them on Linux: the descriptors through /proc's magic links (proc_fd.rs).
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let n = Inode::new(Body::Symlink(String::from(target)), 0o777, DEV_ROOT, false);
        if let Some(dd) = dev.dir() {
            dd.lock().entries.insert(String::from(name), n);
        }
    }
    proc_tree::build(&root);
    // The initrd's stdin stays the console's business.
    if let Some(d) = dev.dir() {
        d.lock().entries.remove(".stdin");
    }
    root
}

/// The directory at `path` below `root`, made (mode 0755) where missing.
fn mkdir_p(root: &InodeRef, path: &str) -> InodeRef {
    let mut cur = root.clone();
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let next = {
            let Some(d) = cur.dir() else { return cur };
            let mut d = d.lock();
            match d.entries.get(c) {
                Some(n) if n.is_dir() => n.clone(),
                _ => {
                    let n = Inode::new_dir(Some(&cur), 0o755, DEV_ROOT, false);
                    d.entries.insert(String::from(c), n.clone());
                    n
                }
            }
        };
        cur = next;
    }
    cur
}

// ---- descriptors ----------------------------------------------------------------------------

/// RLIMIT_NOFILE's default soft limit.
pub const NOFILE: usize = 1024;
/// Linux's fs.nr_open default: no descriptor number reaches it, whatever the limit says.
const NR_OPEN: usize = 1 << 20;

/// The calling process's RLIMIT_NOFILE soft limit: descriptors are numbered below it (Linux's
/// `rlimit(RLIMIT_NOFILE)`, read where a descriptor is made).
pub fn nofile_limit() -> usize {
    let p = &crate::task::current().process;
    let lim = crate::syscall::rlimit_cur(p, crate::syscall::RLIMIT_NOFILE);
    usize::try_from(lim).unwrap_or(usize::MAX).min(NR_OPEN)
}

#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<File>,
    pub cloexec: bool,
}

/// A process's open files, working directory, umask and program path.
#[derive(Clone)]
pub struct FdTable {
    pub fds: Vec<Option<FdEntry>>,
    /// The working directory (None: the root).
    pub cwd: Option<InodeRef>,
    pub umask: u32,
    /// The absolute path of the running program (None: not known, see [`current_exe`]).
    pub exe: Option<String>,
}

impl FdTable {
    /// stdin, stdout and stderr on the console.
    pub fn new_console() -> Self {
        FdTable {
            fds: (0..3u32)
                .map(|fd| {
                    Some(FdEntry {
                        // A terminal in an interactive run, else the pipes they are on
                        // the host side.
                        file: File::console(fd, crate::tty::get().is_none()),
                        cloexec: false,
                    })
                })
                .collect(),
            cwd: None,
            umask: 0o022,
            exe: None,
        }
    }

    pub fn get(&self, fd: u64) -> Option<&FdEntry> {
        self.fds.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    pub fn get_mut(&mut self, fd: u64) -> Option<&mut FdEntry> {
        self.fds.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    /// The lowest free descriptor at or above `from`, below the caller's RLIMIT_NOFILE
    /// (EMFILE if none: Linux's alloc_fd).
    pub fn alloc(&mut self, from: usize, e: FdEntry) -> Result<usize, i64> {
        let limit = nofile_limit();
        let fd = (from..limit)
            .find(|&i| self.fds.get(i).is_none_or(Option::is_none))
            .ok_or(-EMFILE)?;
        if self.fds.len() <= fd {
            self.fds.resize(fd + 1, None);
        }
        self.fds[fd] = Some(e);
        Ok(fd)
    }

    /// Puts `e` at `fd`; returns what was there (to be dropped by the caller). EBADF at or
    /// past the caller's RLIMIT_NOFILE (Linux's dup2 and replace_fd).
    pub fn install(&mut self, fd: usize, e: FdEntry) -> Result<Option<FdEntry>, i64> {
        if fd >= nofile_limit() {
            return Err(-EBADF);
        }
        if self.fds.len() <= fd {
            self.fds.resize(fd + 1, None);
        }
        Ok(self.fds[fd].replace(e))
    }

    pub fn remove(&mut self, fd: u64) -> Option<FdEntry> {
        let e = self.fds.get_mut(usize::try_from(fd).ok()?)?.take();
        while self.fds.last().is_some_and(Option::is_none) {
            self.fds.pop();
        }
        e
    }

    /// fork: the child shares every open file description.
    pub fn fork_copy(&self) -> Self {
        self.clone()
    }

    /// execve: close-on-exec descriptors go.
    pub fn close_on_exec(&mut self) {
        for e in self.fds.iter_mut() {
            if e.as_ref().is_some_and(|x| x.cloexec) {
                *e = None;
            }
        }
    }

    pub fn close_all(&mut self) {
        self.fds.clear();
        self.cwd = None;
    }

    pub fn cwd(&self) -> InodeRef {
        self.cwd.clone().unwrap_or_else(|| root().clone())
    }
}

/// The calling process's descriptor `fd` (an RCU lookup: no lock, fd_rcu.rs).
pub fn get_file(fd: u64) -> Result<Arc<File>, i64> {
    crate::task::current().process.lookup_fd(fd).ok_or(-EBADF)
}

/// Installs `file` at the lowest free descriptor of the calling process.
pub fn install_file(file: Arc<File>, cloexec: bool) -> Result<usize, i64> {
    crate::task::current()
        .process
        .files()
        .lock()
        .alloc(0, FdEntry { file, cloexec })
}

/// The calling process's working directory.
pub fn cwd() -> InodeRef {
    crate::task::current().process.files().lock().cwd()
}

pub fn umask() -> u32 {
    crate::task::current().process.files().lock().umask
}

/// `AT_FDCWD`.
pub const AT_FDCWD: i32 = -100;

/// Where a relative `path` starts: the working directory for AT_FDCWD, else the directory
/// open at `dirfd` (an absolute path ignores `dirfd`).
pub fn base_dir(dirfd: i32, path: &str) -> Result<InodeRef, i64> {
    if path.starts_with('/') {
        return Ok(root().clone());
    }
    if dirfd == AT_FDCWD {
        return Ok(cwd());
    }
    let f = get_file(dirfd as u32 as u64).map_err(|_| -EBADF)?;
    match f.node() {
        Some(n) if n.is_dir() => Ok(n.clone()),
        _ => Err(-ENOTDIR),
    }
}

/// Looks `path` up relative to `dirfd`. With `empty_path` (AT_EMPTY_PATH) an empty path names
/// `dirfd` itself; the result is then that description's object.
pub enum Target {
    Node(path::Found),
    File(Arc<File>),
}

pub fn lookup_at(dirfd: i32, path: &str, follow: bool, empty_path: bool) -> Result<Target, i64> {
    if path.is_empty() {
        if !empty_path {
            return Err(-ENOENT);
        }
        if dirfd == AT_FDCWD {
            let c = cwd();
            return Ok(Target::Node(path::Found {
                dir: c.parent(),
                node: c,
                name: String::from("."),
                magic: None,
            }));
        }
        return Ok(Target::File(get_file(dirfd as u32 as u64)?));
    }
    let base = base_dir(dirfd, path)?;
    let found = path::lookup(&base, path, follow)?;
    // A /proc/PID/fd link to a description without an inode (a pipe): stat and the rest
    // see the description, as through its descriptor.
    match &found.magic {
        Some(f) if f.node().is_none() => Ok(Target::File(f.clone())),
        _ => Ok(Target::Node(found)),
    }
}

pub fn lookup(base: &InodeRef, p: &str, follow: bool) -> Result<path::Found, i64> {
    path::lookup(base, p, follow)
}

impl Target {
    pub fn stat(&self) -> Stat {
        match self {
            Target::Node(f) => stat_node(&f.node),
            Target::File(f) => f.stat(),
        }
    }

    pub fn node(&self) -> Option<&InodeRef> {
        match self {
            Target::Node(f) => Some(&f.node),
            Target::File(f) => f.node(),
        }
    }
}

/// open/openat: the new description (the caller installs it).
pub fn open(base: &InodeRef, p: &str, flags: u32, mode: u32) -> Result<Arc<File>, i64> {
    if flags & O_TMPFILE == O_TMPFILE {
        return Err(-EOPNOTSUPP);
    }
    let acc = flags & O_ACCMODE;
    if flags & O_PATH != 0 {
        let f = path::lookup(base, p, flags & O_NOFOLLOW == 0)?;
        if flags & O_DIRECTORY != 0 && !f.node.is_dir() {
            return Err(-ENOTDIR);
        }
        let shown = path::found_path(&f).ok();
        let file = File::new(
            FileKind::Node {
                node: f.node,
                snapshot: None,
            },
            fcntl::kept_path_flags(flags),
        );
        if let Some(shown) = shown {
            file.set_path(shown);
        }
        return Ok(file);
    }
    if acc == O_ACCMODE {
        return Err(-EINVAL);
    }
    // `shown`: the absolute path /proc/PID/fd/N will name.
    let (node, shown) = if flags & O_CREAT != 0 {
        if flags & O_DIRECTORY != 0 {
            return Err(-EINVAL);
        }
        let par = path::lookup_parent(base, p)?;
        if par.trailing_slash {
            return Err(-EISDIR);
        }
        match par.dir.lookup(&par.name) {
            Some(_) if flags & O_EXCL != 0 => return Err(-EEXIST),
            Some(n) if n.is_symlink() => {
                if flags & O_NOFOLLOW != 0 {
                    return Err(-ELOOP);
                }
                match resolved(path::lookup(base, p, true)?, flags)? {
                    Resolved::Reopened(file) => return Ok(file),
                    Resolved::Node(node, shown) => (node, shown),
                }
            }
            Some(n) => (n, path::entry_path(&par.dir, &par.name)),
            None if par.name == "." => return Err(-EISDIR),
            None => {
                let n = path::new_file(&par.dir, fcntl::create_mode(mode, umask()));
                path::add_entry(&par.dir, &par.name, n.clone())?;
                (n, path::entry_path(&par.dir, &par.name))
            }
        }
    } else {
        match resolved(path::lookup(base, p, flags & O_NOFOLLOW == 0)?, flags)? {
            Resolved::Reopened(file) => return Ok(file),
            Resolved::Node(node, shown) => (node, shown),
        }
    };
    if node.is_symlink() {
        return Err(-ELOOP);
    }
    if flags & O_DIRECTORY != 0 && !node.is_dir() {
        return Err(-ENOTDIR);
    }
    // A socket's name cannot be opened (Linux's `no_open`).
    if matches!(node.body, Body::Socket(_)) {
        return Err(-ENXIO);
    }
    let wants_write = acc != O_RDONLY;
    if node.is_dir() && (wants_write || flags & O_CREAT != 0) {
        return Err(-EISDIR);
    }
    if node.readonly && (wants_write || flags & O_TRUNC != 0) {
        return Err(-EACCES);
    }
    if flags & O_TRUNC != 0 && matches!(node.body, Body::Reg(_)) {
        truncate_node(&node, 0)?;
    }
    let (kind, flags) = match node.body {
        Body::Dev(Device::Console) => (
            FileKind::Console {
                stream: 1,
                pipe_like: false,
            },
            flags,
        ),
        // The caller's controlling terminal; none: ENXIO (Linux's tty_open_current_tty).
        Body::Dev(Device::Tty) => match crate::tty::controlling(&crate::task::current().process) {
            Some(crate::tty::Controlling::Console) => (
                FileKind::Console {
                    stream: 1,
                    pipe_like: false,
                },
                flags,
            ),
            Some(crate::tty::Controlling::Pty(p)) => (FileKind::PtySlave(p.slave_opened()), flags),
            None => return Err(-ENXIO),
        },
        Body::Dev(Device::Ptmx) => (FileKind::PtyMaster(crate::tty::pty::open_master()), flags),
        Body::Dev(Device::PtySlave(n)) => {
            (FileKind::PtySlave(crate::tty::pty::open_slave(n)?), flags)
        }
        Body::Proc(what) => (
            FileKind::Node {
                node: node.clone(),
                snapshot: Some(procfs::generate(what)?),
            },
            flags,
        ),
        _ => (
            FileKind::Node {
                node: node.clone(),
                snapshot: None,
            },
            flags,
        ),
    };
    let file = File::new(kind, fcntl::kept_flags(flags));
    if let Some(shown) = shown {
        file.set_path(shown);
    }
    Ok(file)
}

/// What open does with a path looked up ([`resolved`]).
enum Resolved {
    /// Through a /proc/PID/fd link to a description without an inode: a new description
    /// of its object, made at once (proc_fd.rs).
    Reopened(Arc<File>),
    /// The inode to open, and the path /proc/PID/fd/N will show: through such a link to a
    /// file, the path it was first opened by.
    Node(InodeRef, Option<String>),
}

fn resolved(f: path::Found, flags: u32) -> Result<Resolved, i64> {
    Ok(match &f.magic {
        Some(file) if file.node().is_none() => Resolved::Reopened(proc_fd::reopen(file, flags)?),
        Some(file) => Resolved::Node(f.node.clone(), file.path().map(String::from)),
        None => {
            let shown = path::found_path(&f).ok();
            Resolved::Node(f.node, shown)
        }
    })
}

/// bind(2) of an AF_UNIX socket to path `p`: a socket node (mode 0777 less the umask) that
/// refers to the socket weakly; EEXIST when the name is taken (a trailing slash too).
pub fn mknod_socket(
    base: &InodeRef,
    p: &str,
    sock: alloc::sync::Weak<crate::net::unix::UnixSocket>,
) -> Result<(), i64> {
    let par = path::lookup_parent(base, p)?;
    if par.trailing_slash || par.name == "." || par.name == ".." {
        return Err(-EEXIST);
    }
    let node = Inode::new(Body::Socket(sock), 0o777 & !umask(), par.dir.dev, false);
    path::add_entry(&par.dir, &par.name, node)
}

/// A directory's entries as getdents lists them: `.`, `..`, then the names in order, each
/// with its inode number and d_type.
pub fn list_dir(dir: &InodeRef) -> Result<Vec<(String, u64, u8)>, i64> {
    let d = dir.dir().ok_or(-ENOTDIR)?;
    let parent = dir.parent();
    let mut v = Vec::new();
    v.push((String::from("."), dir.ino, node::DT_DIR));
    v.push((String::from(".."), parent.ino, node::DT_DIR));
    let d = d.lock();
    if !d.removed {
        for (name, n) in d.entries.iter() {
            v.push((name.clone(), n.ino, n.dtype()));
        }
    }
    Ok(v)
}

pub fn getcwd() -> Result<String, i64> {
    path::dir_path(&cwd())
}

pub fn chdir_to(node: &InodeRef) -> Result<(), i64> {
    if !node.is_dir() {
        return Err(-ENOTDIR);
    }
    crate::task::current().process.files().lock().cwd = Some(node.clone());
    Ok(())
}

pub fn mkdir(base: &InodeRef, p: &str, mode: u32) -> Result<(), i64> {
    path::mkdir(base, p, fcntl::mkdir_mode(mode, umask()))
}

pub fn remove(base: &InodeRef, p: &str, dir: bool) -> Result<(), i64> {
    path::remove(base, p, dir)
}

pub fn rename(ob: &InodeRef, op: &str, nb: &InodeRef, np: &str, flags: u32) -> Result<(), i64> {
    path::rename(ob, op, nb, np, flags)
}

pub fn symlink(base: &InodeRef, target: &str, p: &str) -> Result<(), i64> {
    path::symlink(base, target, p)
}

pub fn link(old: &path::Found, base: &InodeRef, p: &str) -> Result<(), i64> {
    path::link(old, base, p)
}

/// A pipe: (read end, write end), with O_NONBLOCK / O_DIRECT from `flags`.
pub fn new_pipe(flags: u32) -> (Arc<File>, Arc<File>) {
    let p = Pipe::new();
    let fl = flags & (O_NONBLOCK | O_DIRECT);
    (
        File::new(
            FileKind::Pipe {
                pipe: p.clone(),
                writer: false,
            },
            O_RDONLY | fl,
        ),
        File::new(
            FileKind::Pipe {
                pipe: p,
                writer: true,
            },
            O_WRONLY | fl,
        ),
    )
}

// ---- the running program ----------------------------------------------------------------------

/// The path `/proc/self/exe` shows for the calling process.
pub fn current_exe() -> String {
    exe_of(&crate::task::current().process)
}

/// The path `/proc/PID/exe` shows for process `p`. A process started by the kernel before the
/// exec path was recorded shows `/bin/<name>` if such a file exists.
pub fn exe_of(p: &crate::process::Process) -> String {
    if let Some(e) = p.files().lock().exe.clone() {
        return e;
    }
    let name = p.name.lock().clone();
    let guess = alloc::format!("/bin/{name}");
    if path::lookup(root(), &guess, true).is_ok() {
        guess
    } else {
        alloc::format!("/{name}")
    }
}

/// Records the running program's path for `/proc/self/exe`.
pub fn set_exe(p: &crate::process::Process, exe: &str) {
    p.files().lock().exe = Some(String::from(exe));
}

/// The regular file at `p` for execve (it must be executable) and its absolute path. Its
/// bytes stay where they are: the loader reads the headers, and each segment page is read
/// when the program first touches it (mm/aspace/backing.rs `MappedFile`).
pub fn open_executable(p: &str) -> Result<(InodeRef, String), i64> {
    let f = path::lookup(&cwd(), p, true)?;
    if !matches!(f.node.body, Body::Reg(_)) {
        return Err(-EACCES);
    }
    if f.node.meta.lock().perm & 0o111 == 0 {
        return Err(-EACCES);
    }
    let abs = path::found_path(&f).unwrap_or_else(|_| String::from(p));
    Ok((f.node.clone(), abs))
}

/// Reads up to `buf.len()` bytes at `off` of regular file `node`; the count (0 at or past its
/// end, or for a node that is not a regular file).
pub fn node_read_at(node: &InodeRef, off: u64, buf: &mut [u8]) -> usize {
    match &node.body {
        Body::Reg(d) => d.lock().read_at(off, buf),
        _ => 0,
    }
}

/// The size of regular file `node` (0 for anything else).
pub fn node_len(node: &InodeRef) -> u64 {
    match &node.body {
        Body::Reg(d) => d.lock().len() as u64,
        _ => 0,
    }
}

/// Reads up to `buf.len()` bytes at `off` from the file open at `fd` of the calling process
/// (for file-backed mmap). Returns the count (short at end of file).
// For the memory layer's file-backed mmap.
#[allow(dead_code)]
pub fn read_fd_at(fd: u64, off: u64, buf: &mut [u8]) -> Result<usize, i64> {
    let f = get_file(fd)?;
    match f.node().map(|n| &n.body) {
        Some(Body::Reg(d)) if f.readable() => Ok(d.lock().read_at(off, buf)),
        Some(Body::Memfd(m)) if f.readable() => Ok(m.read_at(off, buf)),
        Some(_) if f.is_path() => Err(-EBADF),
        Some(Body::Reg(_) | Body::Memfd(_)) => Err(-EACCES),
        _ => Err(-ENODEV),
    }
}

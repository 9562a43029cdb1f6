//! Inodes of the in-memory filesystem: directories, regular files, symlinks, device nodes and
//! the generated files of /proc.
//!
//! Regular file data lives either in the initrd (borrowed, never copied until written) or in
//! whole 4 KiB frames from the frame allocator, so files are not bounded by the small kernel
//! heap. The frames a filesystem may hold are capped (see [`set_page_budget`]) so /tmp cannot
//! starve processes of memory; past the cap writes fail with ENOSPC.

use crate::mm::{PAGE_SIZE, frame, phys_to_virt};
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub const S_IFMT: u32 = 0o170000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFSOCK: u32 = 0o140000;

/// Directory entry types (getdents64's d_type).
pub const DT_FIFO: u8 = 1;
pub const DT_CHR: u8 = 2;
pub const DT_DIR: u8 = 4;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;
pub const DT_SOCK: u8 = 12;

/// Device numbers of the "mounts" (st_dev): the root (initramfs, /tmp, /dev), /proc, pipes.
pub const DEV_ROOT: u64 = makedev(0, 1);
pub const DEV_PROC: u64 = makedev(0, 3);
pub const DEV_PIPE: u64 = makedev(0, 12);
/// Anonymous inodes (a seccomp listener).
pub const DEV_ANON: u64 = makedev(0, 13);

/// Linux's `new_encode_dev` (what glibc's `makedev` produces for these small numbers).
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (major as u64, minor as u64);
    (mi & 0xff) | ((ma & 0xfff) << 8) | ((mi & !0xff) << 12) | ((ma & !0xfff) << 32)
}

pub fn major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

pub fn minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

static NEXT_INO: AtomicU64 = AtomicU64::new(2);

pub fn alloc_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

/// A timestamp (seconds and nanoseconds).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

/// Now, for timestamps (CLOCK_REALTIME).
pub fn now() -> Time {
    let ns = crate::time::realtime_ns();
    Time {
        sec: (ns / 1_000_000_000) as i64,
        nsec: (ns % 1_000_000_000) as u32,
    }
}

/// The changeable attributes of an inode.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Permission bits (0o7777).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// Hard links (regular files, symlinks, devices; a directory's count is computed).
    pub nlink: u32,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
}

/// The character devices.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
    Console,
    /// /dev/tty: the caller's controlling terminal (tty/).
    Tty,
    /// /dev/ptmx, and /dev/pts/N: a pseudo-terminal's two sides (tty/pty.rs).
    Ptmx,
    PtySlave(u32),
}

impl Device {
    pub fn rdev(self) -> u64 {
        match self {
            Device::Null => makedev(1, 3),
            Device::Zero => makedev(1, 5),
            Device::Full => makedev(1, 7),
            Device::Random => makedev(1, 9),
            Device::Console => makedev(5, 1),
            Device::Tty => makedev(5, 0),
            Device::Ptmx => makedev(5, 2),
            // Linux's first block of slave numbers (UNIX98_PTY_SLAVE_MAJOR).
            Device::PtySlave(n) => makedev(136 + (n >> 20), n & 0xfffff),
        }
    }
}

/// Files of /proc whose text is generated when they are opened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProcFile {
    /// `maps` of a process (its `tid` is not used).
    Maps(super::proc_task::ProcTarget),
    /// `stat` of a process or of one of its threads (proc_task.rs).
    TaskStat(super::proc_task::ProcTarget),
    /// `status` of a process or of one of its threads.
    TaskStatus(super::proc_task::ProcTarget),
    /// `syscall` of a process or of one of its threads: the call it sleeps in.
    TaskSyscall(super::proc_task::ProcTarget),
    Cpuinfo,
    Meminfo,
    Mounts,
    Cmdline,
    Stat,
    Uptime,
    /// `/proc/interrupts`: per-CPU counts, Linux's format.
    Interrupts,
    /// `/proc/PID/cmdline` and `environ`: the strings exec put on the process's stack, read
    /// from its memory now (a program that rewrites its argv shows the new text, as on Linux).
    PidCmdline(u32),
    PidEnviron(u32),
    /// `/proc/PID/comm` and `task/TID/comm`: the name, at most 15 bytes, and a newline.
    PidComm(super::proc_task::ProcTarget),
    /// `/proc/loadavg`: the three averages (always 0 here), runnable/all tasks, the last pid.
    Loadavg,
    /// `/proc/filesystems`: the kinds kentry mounts.
    Filesystems,
    /// `/proc/sys/kernel/<name>`: uname's fields and pid_max (procfs.rs `KERNEL_SYSCTLS`).
    SysKernel(&'static str),
    /// `/sys/devices/system/cpu/online` (and `possible`, `present`): the online CPUs as a list.
    CpuOnline,
    /// `/proc/PID/uid_map`, `gid_map` and `setgroups` of process PID's user namespace
    /// (written once: fs/proc_ns.rs); None: /proc/self's, the caller's.
    IdMap(Option<u32>, crate::process::user_ns::IdMap),
    Setgroups(Option<u32>),
}

/// What an inode is.
pub enum Body {
    Dir(Mutex<DirData>),
    Reg(Mutex<FileData>),
    Symlink(String),
    Dev(Device),
    Proc(ProcFile),
    /// `/proc/PID/exe`: a symlink to the process's program (None: `/proc/self/exe`, the
    /// caller's).
    ProcExe(Option<u32>),
    /// `/proc/self` (false: to `PID`) and `/proc/thread-self` (true: to `PID/task/TID`), the
    /// caller's: links whose target depends on who follows them.
    ProcSelf(bool),
    /// `/proc/PID/cwd`: a symlink to the process's working directory.
    ProcCwd(u32),
    /// `/proc/PID/fd/N`: a symlink naming what descriptor N of process PID refers to.
    ProcFd(u32, u32),
    /// `/proc/PID/mem` (None: `/proc/self/mem`, the caller's), proc_pid.rs.
    ProcMem(Option<u32>),
    /// A memfd's bytes and seals (memfd.rs).
    Memfd(super::memfd::Memfd),
    /// An AF_UNIX socket's name in the tree (net/unix_addr.rs): connect finds the socket
    /// here while it lives; opening it is ENXIO.
    Socket(Weak<crate::net::unix::UnixSocket>),
}

pub struct DirData {
    pub entries: BTreeMap<String, InodeRef>,
    /// `..` (the root's is empty: `..` of the root is the root).
    pub parent: Weak<Inode>,
    /// Removed by rmdir: nothing can be created in it, getcwd fails.
    pub removed: bool,
}

pub struct Inode {
    pub ino: u64,
    pub dev: u64,
    /// Nothing may be created in or removed from this directory, nor written to this file
    /// (the generated trees of /proc).
    pub readonly: bool,
    pub meta: Mutex<Meta>,
    pub body: Body,
}

pub type InodeRef = Arc<Inode>;

impl Inode {
    pub fn new(body: Body, perm: u32, dev: u64, readonly: bool) -> InodeRef {
        Inode::new_with_ino(alloc_ino(), body, perm, dev, readonly)
    }

    /// A memfd (memfd.rs): a regular file, mode 0777, in no directory.
    pub fn new_memfd(name: String, sealing: bool) -> InodeRef {
        let ino = alloc_ino();
        let body = Body::Memfd(super::memfd::Memfd::new(name, ino, sealing));
        Inode::new_with_ino(ino, body, 0o777, DEV_ROOT, false)
    }

    fn new_with_ino(ino: u64, body: Body, perm: u32, dev: u64, readonly: bool) -> InodeRef {
        let t = now();
        Arc::new(Inode {
            ino,
            dev,
            readonly,
            meta: Mutex::new(Meta {
                perm: perm & 0o7777,
                uid: 0,
                gid: 0,
                nlink: 1,
                atime: t,
                mtime: t,
                ctime: t,
            }),
            body,
        })
    }

    pub fn new_dir(parent: Option<&InodeRef>, perm: u32, dev: u64, readonly: bool) -> InodeRef {
        Inode::new(
            Body::Dir(Mutex::new(DirData {
                entries: BTreeMap::new(),
                parent: parent.map_or_else(Weak::new, Arc::downgrade),
                removed: false,
            })),
            perm,
            dev,
            readonly,
        )
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    pub fn is_symlink(&self) -> bool {
        matches!(
            self.body,
            Body::Symlink(_)
                | Body::ProcExe(_)
                | Body::ProcSelf(_)
                | Body::ProcCwd(_)
                | Body::ProcFd(..)
        )
    }

    pub fn dir(&self) -> Option<&Mutex<DirData>> {
        match &self.body {
            Body::Dir(d) => Some(d),
            _ => None,
        }
    }

    /// The S_IFMT bits.
    pub fn file_type(&self) -> u32 {
        match self.body {
            Body::Dir(_) => S_IFDIR,
            Body::Reg(_) | Body::Proc(_) | Body::ProcMem(_) | Body::Memfd(_) => S_IFREG,
            Body::Symlink(_)
            | Body::ProcExe(_)
            | Body::ProcSelf(_)
            | Body::ProcCwd(_)
            | Body::ProcFd(..) => S_IFLNK,
            Body::Dev(_) => S_IFCHR,
            Body::Socket(_) => S_IFSOCK,
        }
    }

    pub fn dtype(&self) -> u8 {
        match self.file_type() {
            S_IFDIR => DT_DIR,
            S_IFLNK => DT_LNK,
            S_IFCHR => DT_CHR,
            S_IFIFO => DT_FIFO,
            S_IFSOCK => DT_SOCK,
            _ => DT_REG,
        }
    }

    /// A symlink's target (None: not a symlink).
    pub fn link_target(&self) -> Option<String> {
        match &self.body {
            Body::Symlink(t) => Some(t.clone()),
            Body::ProcExe(pid) => Some(super::proc_task::exe_link(*pid)),
            Body::ProcSelf(thread) => Some(super::proc_pid::self_link(*thread)),
            Body::ProcCwd(pid) => Some(super::proc_pid::cwd_link(*pid)),
            Body::ProcFd(pid, fd) => Some(super::proc_fd::fd_link(*pid, *fd)),
            _ => None,
        }
    }

    /// st_size.
    pub fn size(&self) -> u64 {
        match &self.body {
            Body::Reg(d) => d.lock().len() as u64,
            Body::Memfd(m) => m.len(),
            Body::Symlink(t) => t.len() as u64,
            // tmpfs: a bogus 20 bytes per entry, with `.` and `..`.
            Body::Dir(d) => (d.lock().entries.len() as u64 + 2) * 20,
            _ => 0,
        }
    }

    pub fn nlink(&self) -> u64 {
        match &self.body {
            Body::Dir(d) => {
                let d = d.lock();
                if d.removed {
                    0
                } else {
                    2 + d.entries.values().filter(|c| c.is_dir()).count() as u64
                }
            }
            _ => self.meta.lock().nlink as u64,
        }
    }

    pub fn rdev(&self) -> u64 {
        match self.body {
            Body::Dev(d) => d.rdev(),
            _ => 0,
        }
    }

    /// Marks the data as modified now.
    pub fn touch_modified(&self) {
        let t = now();
        let mut m = self.meta.lock();
        m.mtime = t;
        m.ctime = t;
    }

    pub fn touch_changed(&self) {
        self.meta.lock().ctime = now();
    }

    /// The parent of a directory (itself for the root).
    pub fn parent(self: &InodeRef) -> InodeRef {
        self.dir()
            .and_then(|d| d.lock().parent.upgrade())
            .unwrap_or_else(|| self.clone())
    }

    /// The entry `name` of this directory.
    pub fn lookup(&self, name: &str) -> Option<InodeRef> {
        self.dir()?.lock().entries.get(name).cloned()
    }
}

// ---- regular file data ----------------------------------------------------------------------

static PAGES_USED: AtomicUsize = AtomicUsize::new(0);
static PAGE_BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);

/// At most `pages` frames hold file data (set at init from the size of memory).
pub fn set_page_budget(pages: usize) {
    PAGE_BUDGET.store(pages, Ordering::Relaxed);
}

fn page_alloc() -> Option<u64> {
    let used = PAGES_USED.fetch_add(1, Ordering::Relaxed);
    if used >= PAGE_BUDGET.load(Ordering::Relaxed) {
        PAGES_USED.fetch_sub(1, Ordering::Relaxed);
        return None;
    }
    let pa = frame::alloc_frame();
    if pa.is_none() {
        PAGES_USED.fetch_sub(1, Ordering::Relaxed);
    }
    pa
}

fn page_free(pa: u64) {
    frame::free_frame(pa);
    PAGES_USED.fetch_sub(1, Ordering::Relaxed);
}

const PG: usize = PAGE_SIZE as usize;

/// The bytes of a regular file.
pub enum FileData {
    /// Still the initrd's bytes.
    Static(&'static [u8]),
    /// Frames (0: a hole, reads as zeros), `len` bytes in all.
    Pages { pages: Vec<u64>, len: usize },
}

/// The largest regular file (bytes).
pub const MAX_FILE_SIZE: u64 = 1 << 40;

impl FileData {
    pub fn empty() -> Self {
        FileData::Pages {
            pages: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            FileData::Static(d) => d.len(),
            FileData::Pages { len, .. } => *len,
        }
    }

    /// Copies bytes from `off` into `out`; returns how many (0 at or past the end).
    pub fn read_at(&self, off: u64, out: &mut [u8]) -> usize {
        let len = self.len() as u64;
        if off >= len {
            return 0;
        }
        let n = out.len().min((len - off) as usize);
        let off = off as usize;
        match self {
            FileData::Static(d) => out[..n].copy_from_slice(&d[off..off + n]),
            FileData::Pages { pages, .. } => {
                let mut done = 0;
                while done < n {
                    let at = off + done;
                    let (pi, po) = (at / PG, at % PG);
                    let k = (PG - po).min(n - done);
                    match pages.get(pi).copied().unwrap_or(0) {
                        0 => out[done..done + k].fill(0),
                        pa => {
                            // SAFETY: `pa` is a frame this file owns, seen through the direct
                            // map; `po + k <= PAGE_SIZE`.
                            let src = unsafe {
                                core::slice::from_raw_parts(
                                    (phys_to_virt(pa) as *const u8).add(po),
                                    k,
                                )
                            };
                            out[done..done + k].copy_from_slice(src);
                        }
                    }
                    done += k;
                }
            }
        }
        n
    }

    /// Turns initrd data into frames (before a change).
    fn make_pages(&mut self) -> Result<(), i64> {
        if let FileData::Static(d) = *self {
            let mut new = FileData::empty();
            if let Err(e) = new.write_pages(0, d) {
                let _ = new.truncate(0);
                return Err(e);
            }
            *self = new;
        }
        Ok(())
    }

    fn write_pages(&mut self, off: usize, data: &[u8]) -> Result<(), i64> {
        let FileData::Pages { pages, len } = self else {
            unreachable!("write_pages on initrd data");
        };
        let end = off + data.len();
        let need = end.div_ceil(PG);
        if pages.len() < need {
            pages.try_reserve(need - pages.len()).map_err(|_| -ENOSPC)?;
            pages.resize(need, 0);
        }
        let mut done = 0;
        while done < data.len() {
            let at = off + done;
            let (pi, po) = (at / PG, at % PG);
            let k = (PG - po).min(data.len() - done);
            if pages[pi] == 0 {
                match page_alloc() {
                    Some(pa) => pages[pi] = pa,
                    None => {
                        // Keep what fit; the length covers it.
                        *len = (*len).max(at);
                        return Err(-ENOSPC);
                    }
                }
            }
            // SAFETY: as in read_at.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    data[done..].as_ptr(),
                    (phys_to_virt(pages[pi]) as *mut u8).add(po),
                    k,
                )
            };
            done += k;
        }
        *len = (*len).max(end);
        Ok(())
    }

    /// Writes `data` at `off`, growing the file (a gap reads as zeros).
    pub fn write_at(&mut self, off: u64, data: &[u8]) -> Result<usize, i64> {
        if data.is_empty() {
            return Ok(0);
        }
        let end = off.checked_add(data.len() as u64).ok_or(-EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(-EFBIG);
        }
        self.make_pages()?;
        let before = self.len();
        match self.write_pages(off as usize, data) {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                // A partial write counts if any byte landed.
                let now = self.len();
                if now > before && now as u64 > off {
                    Ok(now - off as usize)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Sets the length: shorter frees frames, longer reads as zeros.
    pub fn truncate(&mut self, new_len: u64) -> Result<(), i64> {
        if new_len > MAX_FILE_SIZE {
            return Err(-EFBIG);
        }
        let new_len = new_len as usize;
        if let FileData::Static(d) = *self {
            if new_len <= d.len() {
                *self = FileData::Static(&d[..new_len]);
                return Ok(());
            }
            self.make_pages()?;
        }
        let FileData::Pages { pages, len } = self else {
            unreachable!();
        };
        if new_len < *len {
            let keep = new_len.div_ceil(PG);
            for pa in pages.drain(keep.min(pages.len())..) {
                if pa != 0 {
                    page_free(pa);
                }
            }
            // Zero the tail of the last kept page so a later extension reads zeros.
            if !new_len.is_multiple_of(PG)
                && let Some(&pa) = pages.get(new_len / PG)
                && pa != 0
            {
                let po = new_len % PG;
                // SAFETY: as in read_at.
                unsafe {
                    core::ptr::write_bytes((phys_to_virt(pa) as *mut u8).add(po), 0, PG - po)
                };
            }
            pages.shrink_to_fit();
        }
        *len = new_len;
        Ok(())
    }
}

impl Drop for FileData {
    fn drop(&mut self) {
        if let FileData::Pages { pages, .. } = self {
            for &pa in pages.iter() {
                if pa != 0 {
                    page_free(pa);
                }
            }
            pages.clear();
        }
    }
}

//! /proc/PID: a directory made at lookup for each live process, holding `mem` (its memory,
//! read and written at the file offset as the address, as a debugger does: mm/remote.rs).
//! /proc/PID also holds `exe` and `cwd` (links), `fd/N` (a link per open descriptor),
//! `cmdline`, `environ`, `comm`, `maps`, `stat`, `status`, `syscall` and
//! `task/TID/{comm,stat,status,syscall}` (proc_task.rs).
//! `/proc/self` and `/proc/thread-self` are links to the caller's `PID` and `PID/task/TID`.

use super::node::{Body, DEV_PROC, Inode, InodeRef, ProcFile};
use super::proc_task::ProcTarget;
use crate::syscall::errno::EIO;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

/// The inode number of /proc (set when the tree is built).
static PROC_ROOT_INO: AtomicU64 = AtomicU64::new(u64::MAX);

/// Notes which directory is /proc.
pub fn set_proc_root(dir: &InodeRef) {
    PROC_ROOT_INO.store(dir.ino, Ordering::Relaxed);
}

/// The `mem` file of process `pid` (None: whichever process uses it).
pub fn mem_node(pid: Option<u32>) -> InodeRef {
    // Not read-only: it is written (the directories holding it are).
    Inode::new(Body::ProcMem(pid), 0o600, DEV_PROC, false)
}

/// `name` in directory `dir` when the directory holds no such entry: /proc/PID for a process
/// that has not been reaped (a zombie's too, as on Linux). None for anything else.
///
/// The directory is made at each lookup, with what it holds now: `mem`, `stat`, `status` and
/// `task/` with one directory (`stat`, `status`) per live thread.
pub fn lookup_missing(dir: &InodeRef, name: &str) -> Option<InodeRef> {
    if dir.ino != PROC_ROOT_INO.load(Ordering::Relaxed) {
        return None;
    }
    // kentry's one /proc is the root PID namespace's (as a Linux procfs mounted there): its
    // names are global ids whatever namespace looks (docs/namespaces.md).
    let pid: u32 = name.parse().ok().filter(|&p| p > 0)?;
    let p = crate::process::find(pid).filter(|p| p.pid != 0 && !super::proc_task::is_reaped(p))?;
    let d = Inode::new_dir(Some(dir), 0o555, DEV_PROC, true);
    add(&d, "mem", mem_node(Some(p.pid)));
    add(
        &d,
        "exe",
        Inode::new(Body::ProcExe(Some(p.pid)), 0o777, DEV_PROC, true),
    );
    add(
        &d,
        "cwd",
        Inode::new(Body::ProcCwd(p.pid), 0o777, DEV_PROC, true),
    );
    for (name, f) in [
        ("cmdline", ProcFile::PidCmdline(p.pid)),
        ("environ", ProcFile::PidEnviron(p.pid)),
    ] {
        // environ is the owner's only on Linux (0400); kentry runs everything as root.
        add(&d, name, Inode::new(Body::Proc(f), 0o444, DEV_PROC, true));
    }
    let whole = ProcTarget {
        pid: Some(p.pid),
        tid: None,
    };
    add(
        &d,
        "maps",
        Inode::new(Body::Proc(ProcFile::Maps(whole)), 0o444, DEV_PROC, true),
    );
    add_task_files(
        &d,
        ProcTarget {
            pid: Some(p.pid),
            tid: None,
        },
    );
    super::proc_ns::add_files(&d, Some(p.pid));
    add(&d, "fd", super::proc_fd::fd_dir(&d, p.pid, &p.files()));
    let task = Inode::new_dir(Some(&d), 0o555, DEV_PROC, true);
    let tids: Vec<u32> = p
        .threads
        .lock()
        .iter()
        .filter_map(alloc::sync::Weak::upgrade)
        .filter(|t| t.state() != crate::task::TaskState::Dead)
        .map(|t| t.tid)
        .collect();
    for tid in tids {
        let td = Inode::new_dir(Some(&task), 0o555, DEV_PROC, true);
        add_task_files(
            &td,
            ProcTarget {
                pid: Some(p.pid),
                tid: Some(tid),
            },
        );
        add(&task, &alloc::format!("{tid}"), td);
    }
    add(&d, "task", task);
    Some(d)
}

pub(super) fn add(dir: &InodeRef, name: &str, n: InodeRef) {
    if let Some(entries) = dir.dir() {
        entries.lock().entries.insert(String::from(name), n);
    }
}

/// `comm`, `stat`, `status` and `syscall` of `target` into `dir`.
fn add_task_files(dir: &InodeRef, target: ProcTarget) {
    for (name, f) in [
        ("comm", ProcFile::PidComm(target)),
        ("stat", ProcFile::TaskStat(target)),
        ("status", ProcFile::TaskStatus(target)),
        ("syscall", ProcFile::TaskSyscall(target)),
    ] {
        add(dir, name, Inode::new(Body::Proc(f), 0o444, DEV_PROC, true));
    }
}

/// Where `/proc/self` (`thread`: `/proc/thread-self`) leads for the caller: `PID`
/// (`PID/task/TID`), relative to /proc.
pub fn self_link(thread: bool) -> String {
    let me = crate::task::current();
    if thread {
        alloc::format!("{}/task/{}", me.process.pid, me.tid)
    } else {
        alloc::format!("{}", me.process.pid)
    }
}

/// Where `/proc/PID/cwd` leads: the process's working directory ("" once it is gone, which
/// makes the lookup ENOENT).
pub fn cwd_link(pid: u32) -> String {
    crate::process::find(pid)
        .filter(|p| !super::proc_task::is_reaped(p) && p.exit_reason().is_none())
        .and_then(|p| super::path::dir_path(&p.files().lock().cwd()).ok())
        .unwrap_or_default()
}

/// The text of `/proc/PID/cmdline` (`environ`: of `environ`): the bytes between the start
/// and end exec recorded, read from the process's memory now, as Linux's `get_mm_cmdline`
/// (without its special case for a program that moved its arguments). Empty for a process
/// without memory (a zombie), as on Linux.
pub fn strings(pid: u32, environ: bool) -> Result<Vec<u8>, i64> {
    const ESRCH: i64 = 3;
    let p = crate::process::find(pid)
        .filter(|p| !super::proc_task::is_reaped(p))
        .ok_or(-ESRCH)?;
    if p.exit_reason().is_some() {
        return Ok(Vec::new());
    }
    let mm = p.mm();
    let (start, end) = match mm.aspace.lock().as_ref() {
        Some(a) if environ => a.env,
        Some(a) => a.args,
        None => return Ok(Vec::new()),
    };
    // At most a page more than Linux's ARG_MAX-sized stack area would hold: no huge read.
    let len = end.saturating_sub(start).min(256 * 1024) as usize;
    let mut buf = alloc::vec![0u8; len];
    let n = crate::mm::remote::read(&mm, start, &mut buf);
    buf.truncate(n);
    Ok(buf)
}

/// The process a `mem` file reads, if it still has memory.
fn target(pid: Option<u32>) -> Result<Arc<crate::process::Process>, i64> {
    let p = match pid {
        Some(pid) => crate::process::find(pid).ok_or(-EIO)?,
        None => crate::task::current().process.clone(),
    };
    if p.exit_reason().is_some() {
        return Err(-EIO);
    }
    Ok(p.mm())
}

/// A read of `buf.len()` bytes at address `off`: the bytes up to the first unreadable one,
/// -EIO if that is the first (Linux's `mem_rw`).
pub fn read(pid: Option<u32>, buf: &mut [u8], off: u64) -> Result<usize, i64> {
    let p = target(pid)?;
    let n = crate::mm::remote::read(&p, off, buf);
    if n == 0 && !buf.is_empty() {
        return Err(-EIO);
    }
    Ok(n)
}

/// A forced write (as ptrace's POKE) at address `off`.
pub fn write(pid: Option<u32>, buf: &[u8], off: u64) -> Result<usize, i64> {
    let p = target(pid)?;
    let n = crate::mm::remote::write_forced(&p, off, buf);
    if n == 0 && !buf.is_empty() {
        return Err(-EIO);
    }
    Ok(n)
}

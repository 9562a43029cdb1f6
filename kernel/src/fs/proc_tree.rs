//! The fixed part of /proc and /sys, made once at boot: the system-wide files, the `self` and
//! `thread-self` links, `sys/kernel/`, and /sys/devices/system/cpu. Each file's text is made
//! when it is opened (procfs.rs); /proc/PID directories are made at lookup (proc_pid.rs).

use super::node::{Body, DEV_PROC, Inode, InodeRef, ProcFile};
use super::procfs::KERNEL_SYSCTLS;
use alloc::string::String;

fn add(dir: &InodeRef, name: &str, n: InodeRef) {
    if let Some(d) = dir.dir() {
        d.lock().entries.insert(String::from(name), n);
    }
}

fn file(f: ProcFile) -> InodeRef {
    Inode::new(Body::Proc(f), 0o444, DEV_PROC, true)
}

fn dir(parent: &InodeRef) -> InodeRef {
    Inode::new_dir(Some(parent), 0o555, DEV_PROC, true)
}

/// Adds /proc and /sys to `root`.
pub fn build(root: &InodeRef) {
    let proc_ = dir(root);
    super::proc_pid::set_proc_root(&proc_);
    for (name, f) in [
        ("cmdline", ProcFile::Cmdline),
        ("cpuinfo", ProcFile::Cpuinfo),
        ("filesystems", ProcFile::Filesystems),
        ("interrupts", ProcFile::Interrupts),
        ("loadavg", ProcFile::Loadavg),
        ("meminfo", ProcFile::Meminfo),
        ("mounts", ProcFile::Mounts),
        ("stat", ProcFile::Stat),
        ("uptime", ProcFile::Uptime),
    ] {
        add(&proc_, name, file(f));
    }
    // Links whose target is the caller's own directory (Linux's proc_self_get_link).
    for (name, thread) in [("self", false), ("thread-self", true)] {
        add(
            &proc_,
            name,
            Inode::new(Body::ProcSelf(thread), 0o777, DEV_PROC, true),
        );
    }
    // /proc/sys/kernel: uname's fields and the like, read-only (sysctl reads them).
    let sys = dir(&proc_);
    let kernel = dir(&sys);
    for name in KERNEL_SYSCTLS.iter().map(|(n, _)| *n) {
        add(&kernel, name, file(ProcFile::SysKernel(name)));
    }
    add(&sys, "kernel", kernel);
    add(&proc_, "sys", sys);
    add(root, "proc", proc_);

    // /sys/devices/system/cpu: which CPUs exist and run (what nproc and sysconf read).
    let sys = dir(root);
    let devices = dir(&sys);
    let system = dir(&devices);
    let cpu = dir(&system);
    for name in ["online", "possible", "present"] {
        add(&cpu, name, file(ProcFile::CpuOnline));
    }
    add(&system, "cpu", cpu);
    add(&devices, "system", system);
    add(&sys, "devices", devices);
    add(root, "sys", sys);
}

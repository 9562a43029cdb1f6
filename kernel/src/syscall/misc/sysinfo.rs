//! System information (uname, sysinfo), randomness (getrandom) and small compatibility calls
//! (personality, membarrier, rseq, capget).

use super::{get, put, result, target};
use crate::process::{self, Process};
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::time::{self, NSEC_PER_SEC};
use crate::uaccess::copy_to_user;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub(super) const fn register(mut t: Table) -> Table {
    t[nr::UNAME] = sys_uname;
    t[nr::SYSINFO] = sys_sysinfo;
    t[nr::CAPGET] = sys_capget;
    t[nr::CAPSET] = sys_capset;
    t[nr::PERSONALITY] = sys_personality;
    t[nr::GETRANDOM] = sys_getrandom;
    t[nr::MEMBARRIER] = sys_membarrier;
    t[nr::RSEQ] = sys_rseq;
    t
}

// --- System information ---

/// struct utsname: six 65-byte fields.
/// uname's fields in `struct new_utsname` order: sysname, nodename, release, version,
/// machine, domainname (also /proc/sys/kernel's ostype, hostname, osrelease, version and
/// domainname, fs/procfs.rs).
pub const UTSNAME: [&str; 6] = [
    "Linux",
    "kentry",
    "6.1.0-kentry",
    "#1 SMP PREEMPT_DYNAMIC kentry",
    "x86_64",
    "(none)",
];

fn sys_uname(regs: &mut Regs) -> i64 {
    const FIELD: usize = 65;
    let mut b = [0u8; FIELD * 6];
    for (i, f) in UTSNAME.iter().enumerate() {
        b[i * FIELD..i * FIELD + f.len()].copy_from_slice(f.as_bytes());
    }
    result(put(regs.rdi, &b).map(|_| 0))
}

/// Live threads of every process (sysinfo's `procs` counts threads, as Linux's nr_threads).
fn count_threads() -> u64 {
    let mut stack: Vec<Arc<Process>> = alloc::vec![process::kernel_process()];
    let mut n = 0u64;
    while let Some(p) = stack.pop() {
        n += p.live_threads.load(core::sync::atomic::Ordering::Relaxed) as u64;
        stack.extend(p.children.lock().iter().cloned());
    }
    n
}

/// struct sysinfo (112 bytes), mem_unit 1.
fn sys_sysinfo(regs: &mut Regs) -> i64 {
    let mono = time::monotonic_ns();
    let uptime = mono.div_ceil(NSEC_PER_SEC);
    let (total, free) = crate::mm::frame::stats();
    let page = crate::mm::PAGE_SIZE;
    let mut b = [0u8; 112];
    b[0..8].copy_from_slice(&uptime.to_ne_bytes());
    // loads[3] at 8..32 stay 0.
    b[32..40].copy_from_slice(&(total * page).to_ne_bytes());
    b[40..48].copy_from_slice(&(free * page).to_ne_bytes());
    // sharedram, bufferram, totalswap, freeswap at 48..80 stay 0.
    let procs = count_threads().min(u16::MAX as u64) as u16;
    b[80..82].copy_from_slice(&procs.to_ne_bytes());
    // totalhigh, freehigh at 88..104 stay 0.
    b[104..108].copy_from_slice(&1u32.to_ne_bytes());
    if crate::syscall::compat::in_ia32_syscall() {
        // `compat_sysinfo`: the longs are 32 bits (a RAM size past 4 GiB would need
        // mem_unit > 1, as Linux's compat_sysinfo scales it; kentry's guests are smaller).
        return result(put(regs.rdi, &kentry_abi::compat::sysinfo_to_compat(&b)).map(|_| 0));
    }
    result(put(regs.rdi, &b).map(|_| 0))
}

/// getrandom(buf, len, flags): GRND_NONBLOCK and GRND_RANDOM change nothing here (the pool
/// never blocks); GRND_INSECURE too, but not together with GRND_RANDOM.
fn sys_getrandom(regs: &mut Regs) -> i64 {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
    let (buf, len, flags) = (regs.rdi, regs.rsi as usize, regs.rdx);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return -EINVAL;
    }
    // Linux's MAX_RW_COUNT.
    let len = len.min(0x7fff_f000);
    let mut done = 0usize;
    let mut chunk = [0u8; 256];
    while done < len {
        let n = (len - done).min(chunk.len());
        for c in chunk[..n].chunks_mut(16) {
            c.copy_from_slice(&crate::random::bytes16()[..c.len()]);
        }
        if copy_to_user(buf + done as u64, &chunk[..n]).is_err() {
            return if done > 0 { done as i64 } else { -EFAULT };
        }
        done += n;
        if done < len && crate::signal::interrupted() {
            break;
        }
    }
    done as i64
}

// --- Misc ---

/// personality: only PER_LINUX (0), and the query 0xffffffff.
fn sys_personality(_: &mut Regs) -> i64 {
    0
}

/// membarrier: MEMBARRIER_CMD_QUERY answers "no command supported"; the rest are -EINVAL.
fn sys_membarrier(regs: &mut Regs) -> i64 {
    match (regs.rdi as i32, regs.rsi) {
        (0, 0) => 0,
        _ => -EINVAL,
    }
}

/// rseq: not supported; libc then leaves it off.
fn sys_rseq(_: &mut Regs) -> i64 {
    -ENOSYS
}

const LINUX_CAPABILITY_VERSION_1: u32 = 0x1998_0330;
const LINUX_CAPABILITY_VERSION_2: u32 = 0x2007_1026;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The header of capget/capset: how many `__user_cap_data_struct`s the version has, and the
/// pid. Err: the call's result (an unknown version is answered with ours: 0 when `data` is
/// null, else EINVAL).
fn cap_header(hdr: u64, data: u64) -> Result<(usize, i32), i64> {
    let h = get::<8>(hdr)?;
    let version = u32::from_ne_bytes(h[..4].try_into().unwrap());
    let pid = i32::from_ne_bytes(h[4..].try_into().unwrap());
    match version {
        LINUX_CAPABILITY_VERSION_1 => Ok((1, pid)),
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => Ok((2, pid)),
        _ => {
            put(hdr, &LINUX_CAPABILITY_VERSION_3.to_ne_bytes())?;
            Err(if data == 0 { 0 } else { -EINVAL })
        }
    }
}

/// capset(header, data): the sets can only stay as capget reports them, empty — any bit
/// would raise a capability the process does not have (EPERM), as for any other process.
/// Only the caller's own sets (pid 0 or its own): EPERM for another's, as Linux.
fn sys_capset(regs: &mut Regs) -> i64 {
    let (hdr, data) = (regs.rdi, regs.rsi);
    let (structs, pid) = match cap_header(hdr, data) {
        Ok(h) => h,
        Err(e) => return e,
    };
    if pid != 0 && pid as u32 != crate::task::current().process.pid {
        return -EPERM;
    }
    let mut sets = [0u8; 24];
    if crate::uaccess::copy_from_user(&mut sets[..12 * structs], data).is_err() {
        return -EFAULT;
    }
    if sets.iter().any(|&b| b != 0) {
        -EPERM
    } else {
        0
    }
}

/// capget(header, data): every set reads empty.
fn sys_capget(regs: &mut Regs) -> i64 {
    let (hdr, data) = (regs.rdi, regs.rsi);
    let (structs, pid) = match cap_header(hdr, data) {
        Ok(h) => h,
        Err(e) => return e,
    };
    if data == 0 {
        return 0;
    }
    if pid < 0 {
        return -EINVAL;
    }
    if let Err(e) = target(pid as i64) {
        return e;
    }
    // struct __user_cap_data_struct { effective, permitted, inheritable: u32 }.
    result(put(data, &[0u8; 24][..12 * structs]).map(|_| 0))
}

//! The id calls (Linux's `kernel/sys.c` and `kernel/groups.c`): getuid and friends,
//! setuid/setgid, setreuid/setregid, setresuid/setresgid, getresuid/getresgid,
//! setfsuid/setfsgid, getgroups/setgroups, over process/cred.rs. The uid and gid calls share
//! one body each ([`Ids`] picks the four ids of either kind); ids cross the boundary through
//! the caller's user namespace. The i386 16-bit forms convert around these
//! (compat/uid16.rs).

use super::errno::*;
use super::table::Table;
use crate::process::cred::{Creds, NGROUPS_MAX};
use crate::process::user_ns::{self, IdMap, UserNamespace, from_kid, make_kid};
use crate::task;
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_abi::nr;

pub const fn register(mut t: Table) -> Table {
    t[nr::GETUID] = sys_getuid;
    t[nr::GETEUID] = sys_geteuid;
    t[nr::GETGID] = sys_getgid;
    t[nr::GETEGID] = sys_getegid;
    t[nr::SETUID] = sys_setuid;
    t[nr::SETGID] = sys_setgid;
    t[nr::SETREUID] = sys_setreuid;
    t[nr::SETREGID] = sys_setregid;
    t[nr::SETRESUID] = sys_setresuid;
    t[nr::SETRESGID] = sys_setresgid;
    t[nr::GETRESUID] = sys_getresuid;
    t[nr::GETRESGID] = sys_getresgid;
    t[nr::SETFSUID] = sys_setfsuid;
    t[nr::SETFSGID] = sys_setfsgid;
    t[nr::GETGROUPS] = sys_getgroups;
    t[nr::SETGROUPS] = sys_setgroups;
    t
}

/// Test kernels (`kentry.break=cred_checks`): every id change is granted as if the caller
/// held CAP_SETUID and CAP_SETGID.
#[cfg(feature = "test-hooks")]
pub static BREAK_CHECKS: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Whether the caller may change ids at will (CAP_SETUID/CAP_SETGID in its namespace).
fn capable(c: &Creds) -> bool {
    #[cfg(feature = "test-hooks")]
    if BREAK_CHECKS.load(core::sync::atomic::Ordering::Relaxed) {
        return true;
    }
    c.cap_effective
}

/// -1: "leave this id alone".
const KEEP: u32 = u32::MAX;

/// The real, effective, saved and filesystem ids of one kind.
type Ids = [u32; 4];

fn ids(c: &Creds, which: IdMap) -> Ids {
    match which {
        IdMap::Uid => [c.uid, c.euid, c.suid, c.fsuid],
        IdMap::Gid => [c.gid, c.egid, c.sgid, c.fsgid],
    }
}

fn set_ids(c: &mut Creds, which: IdMap, v: Ids) {
    match which {
        IdMap::Uid => [c.uid, c.euid, c.suid, c.fsuid] = v,
        IdMap::Gid => [c.gid, c.egid, c.sgid, c.fsgid] = v,
    }
}

/// Runs `f` on the caller's credentials and namespace; a uid change then fixes the
/// capabilities up (Linux's `security_task_fix_setuid`).
fn with_creds<R>(which: IdMap, f: impl FnOnce(&mut Creds, Option<&Arc<UserNamespace>>) -> R) -> R {
    let p = &task::current().process;
    let ns = p.user_ns.lock().clone();
    let mut c = p.creds.lock();
    let old = c.clone();
    let r = f(&mut c, ns.as_ref());
    if which == IdMap::Uid {
        c.fix_setuid(&old, ns.as_ref());
    }
    r
}

/// The kernel id of a caller's id that is not -1: EINVAL when its namespace maps it to
/// nothing.
fn kid(ns: Option<&Arc<UserNamespace>>, which: IdMap, id: u32) -> Result<u32, i64> {
    make_kid(ns, which, id).ok_or(-EINVAL)
}

/// One id of the caller as its namespace sees it (0 real, 1 effective, 2 saved, 3 fs).
pub fn get_id(which: IdMap, slot: usize) -> u32 {
    ids_seen_by_caller(&task::current().process, which)[slot]
}

/// Process `target`'s real, effective, saved and filesystem ids (`which`) as the caller's
/// user namespace sees them (Linux's `from_kuid_munged` with the reader's namespace: what
/// /proc/PID/status shows; an id the namespace does not map reads as the overflow id).
pub fn ids_seen_by_caller(target: &crate::process::Process, which: IdMap) -> [u32; 4] {
    let ns = task::current().process.user_ns.lock().clone();
    ids(&target.creds.lock(), which).map(|k| from_kid(ns.as_ref(), which, k))
}

/// The caller's real, effective and saved ids as its namespace sees them.
pub fn get_res(which: IdMap) -> [u32; 3] {
    [0, 1, 2].map(|i| get_id(which, i))
}

/// setuid/setgid (Linux's `__sys_setuid`, `__sys_setgid`): with the capability all four ids,
/// else the effective and fs ids, to the real or saved one only (EPERM).
pub fn set_id(which: IdMap, id: u32) -> i64 {
    with_creds(which, |c, ns| {
        let k = match kid(ns, which, id) {
            Ok(k) => k,
            Err(e) => return e,
        };
        let [r, _, s, _] = ids(c, which);
        if capable(c) {
            set_ids(c, which, [k; 4]);
        } else if k == r || k == s {
            set_ids(c, which, [r, k, s, k]);
        } else {
            return -EPERM;
        }
        0
    })
}

/// setreuid/setregid (Linux's `__sys_setreuid`): the real id to the real or effective one,
/// the effective id to any of the three, anything with the capability; the saved id follows
/// the effective one when the real id is set or the effective one leaves the real one.
pub fn set_re(which: IdMap, r: u32, e: u32) -> i64 {
    with_creds(which, |c, ns| {
        let kr = if r != KEEP {
            Some(kid(ns, which, r))
        } else {
            None
        };
        let ke = if e != KEEP {
            Some(kid(ns, which, e))
        } else {
            None
        };
        let (kr, ke) = match (kr.transpose(), ke.transpose()) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(x), _) | (_, Err(x)) => return x,
        };
        let [or, oe, os, _] = ids(c, which);
        let mut new = [or, oe, os, 0];
        if let Some(k) = kr {
            if k != or && k != oe && !capable(c) {
                return -EPERM;
            }
            new[0] = k;
        }
        if let Some(k) = ke {
            if k != or && k != oe && k != os && !capable(c) {
                return -EPERM;
            }
            new[1] = k;
        }
        if kr.is_some() || ke.is_some_and(|k| k != or) {
            new[2] = new[1];
        }
        new[3] = new[1];
        set_ids(c, which, new);
        0
    })
}

/// setresuid/setresgid (Linux's `__sys_setresuid`): each id that is not -1 to one of the
/// three current ones, anything with the capability; the fs id follows the effective one.
pub fn set_res(which: IdMap, want: [u32; 3]) -> i64 {
    with_creds(which, |c, ns| {
        let mut k = [None; 3];
        for (slot, &id) in k.iter_mut().zip(&want) {
            if id != KEEP {
                match kid(ns, which, id) {
                    Ok(v) => *slot = Some(v),
                    Err(e) => return e,
                }
            }
        }
        let old = ids(c, which);
        // A call that changes nothing needs no permission (Linux's no-op check).
        if k[0].is_none_or(|v| v == old[0])
            && k[1].is_none_or(|v| v == old[1] && v == old[3])
            && k[2].is_none_or(|v| v == old[2])
        {
            return 0;
        }
        let foreign = |v: &Option<u32>| v.is_some_and(|v| !old[..3].contains(&v));
        if k.iter().any(foreign) && !capable(c) {
            return -EPERM;
        }
        let mut new = old;
        for (n, v) in new.iter_mut().zip(k) {
            if let Some(v) = v {
                *n = v;
            }
        }
        new[3] = new[1];
        set_ids(c, which, new);
        0
    })
}

/// setfsuid/setfsgid (Linux's `__sys_setfsuid`): the old fs id, always; the new one is taken
/// when it is one of the four current ids or the caller has the capability (an id with no
/// mapping, -1 included, changes nothing).
pub fn set_fs(which: IdMap, id: u32) -> i64 {
    with_creds(which, |c, ns| {
        let old = ids(c, which);
        let ret = from_kid(ns, which, old[3]);
        if let Some(k) = make_kid(ns, which, id)
            && (old.contains(&k) || capable(c))
        {
            let mut new = old;
            new[3] = k;
            set_ids(c, which, new);
        }
        i64::from(ret)
    })
}

/// The supplementary groups as the caller's namespace sees them.
pub fn get_groups() -> Vec<u32> {
    let p = &task::current().process;
    let ns = p.user_ns.lock().clone();
    let c = p.creds.lock();
    c.groups
        .iter()
        .map(|&g| from_kid(ns.as_ref(), IdMap::Gid, g))
        .collect()
}

/// setgroups (Linux's `set_current_groups`): the caller's gids, which its namespace must
/// map (EINVAL), kept sorted; EPERM without the capability or where the namespace says
/// "deny" or has no gid map yet (`may_setgroups`).
pub fn set_groups(list: &[u32]) -> i64 {
    let p = &task::current().process;
    let ns = p.user_ns.lock().clone();
    let mut c = p.creds.lock();
    if !capable(&c) || !user_ns::may_setgroups(ns.as_ref()) {
        return -EPERM;
    }
    let mut k = Vec::with_capacity(list.len());
    for &g in list {
        match kid(ns.as_ref(), IdMap::Gid, g) {
            Ok(v) => k.push(v),
            Err(e) => return e,
        }
    }
    k.sort_unstable();
    c.groups = k;
    0
}

/// getgroups(size, list) for an element width of 2 or 4 bytes, each group through `conv`:
/// the number of groups; EINVAL for a negative size or one too small to hold them.
pub fn getgroups_as(size: i32, list: u64, width: usize, conv: fn(u32) -> u32) -> i64 {
    if size < 0 {
        return -EINVAL;
    }
    let g = get_groups();
    if size == 0 {
        return g.len() as i64;
    }
    if g.len() > size as usize {
        return -EINVAL;
    }
    let mut out = Vec::with_capacity(g.len() * width);
    for v in g.iter().map(|&v| conv(v)) {
        out.extend_from_slice(&v.to_ne_bytes()[..width]);
    }
    if copy_to_user(list, &out).is_err() {
        return -EFAULT;
    }
    g.len() as i64
}

/// setgroups(size, list) for an element width of 2 or 4 bytes, each group through `conv`:
/// EINVAL past NGROUPS_MAX (checked after the permission, as Linux), EFAULT.
pub fn setgroups_as(size: i32, list: u64, width: usize, conv: fn(u32) -> u32) -> i64 {
    {
        let p = &task::current().process;
        let ns = p.user_ns.lock().clone();
        if !capable(&p.creds.lock()) || !user_ns::may_setgroups(ns.as_ref()) {
            return -EPERM;
        }
    }
    if size as u32 as usize > NGROUPS_MAX {
        return -EINVAL;
    }
    let mut raw = alloc::vec![0u8; size as usize * width];
    if copy_from_user(&mut raw, list).is_err() {
        return -EFAULT;
    }
    let groups: Vec<u32> = raw
        .chunks_exact(width)
        .map(|b| {
            let mut w = [0u8; 4];
            w[..width].copy_from_slice(b);
            conv(u32::from_ne_bytes(w))
        })
        .collect();
    set_groups(&groups)
}

/// Writes three ids of `width` bytes each to three user addresses (getresuid's).
pub fn put_res(at: [u64; 3], v: [u32; 3], width: usize) -> i64 {
    for (a, x) in at.into_iter().zip(v) {
        if copy_to_user(a, &x.to_ne_bytes()[..width]).is_err() {
            return -EFAULT;
        }
    }
    0
}

fn sys_getuid(_: &mut Regs) -> i64 {
    i64::from(get_id(IdMap::Uid, 0))
}

fn sys_geteuid(_: &mut Regs) -> i64 {
    i64::from(get_id(IdMap::Uid, 1))
}

fn sys_getgid(_: &mut Regs) -> i64 {
    i64::from(get_id(IdMap::Gid, 0))
}

fn sys_getegid(_: &mut Regs) -> i64 {
    i64::from(get_id(IdMap::Gid, 1))
}

fn sys_setuid(regs: &mut Regs) -> i64 {
    set_id(IdMap::Uid, regs.rdi as u32)
}

fn sys_setgid(regs: &mut Regs) -> i64 {
    set_id(IdMap::Gid, regs.rdi as u32)
}

fn sys_setreuid(regs: &mut Regs) -> i64 {
    set_re(IdMap::Uid, regs.rdi as u32, regs.rsi as u32)
}

fn sys_setregid(regs: &mut Regs) -> i64 {
    set_re(IdMap::Gid, regs.rdi as u32, regs.rsi as u32)
}

fn sys_setresuid(regs: &mut Regs) -> i64 {
    set_res(
        IdMap::Uid,
        [regs.rdi as u32, regs.rsi as u32, regs.rdx as u32],
    )
}

fn sys_setresgid(regs: &mut Regs) -> i64 {
    set_res(
        IdMap::Gid,
        [regs.rdi as u32, regs.rsi as u32, regs.rdx as u32],
    )
}

fn sys_getresuid(regs: &mut Regs) -> i64 {
    put_res([regs.rdi, regs.rsi, regs.rdx], get_res(IdMap::Uid), 4)
}

fn sys_getresgid(regs: &mut Regs) -> i64 {
    put_res([regs.rdi, regs.rsi, regs.rdx], get_res(IdMap::Gid), 4)
}

fn sys_setfsuid(regs: &mut Regs) -> i64 {
    set_fs(IdMap::Uid, regs.rdi as u32)
}

fn sys_setfsgid(regs: &mut Regs) -> i64 {
    set_fs(IdMap::Gid, regs.rdi as u32)
}

fn sys_getgroups(regs: &mut Regs) -> i64 {
    getgroups_as(regs.rdi as i32, regs.rsi, 4, |g| g)
}

fn sys_setgroups(regs: &mut Regs) -> i64 {
    setgroups_as(regs.rdi as i32, regs.rsi, 4, |g| g)
}

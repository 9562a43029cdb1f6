//! The i386 16-bit uid and gid calls (Linux's `kernel/uid16.c`): the 32-bit calls of
//! syscall/cred.rs and fs/meta.rs with each id converted on the way in and out
//! (`include/linux/highuid.h`): in, 0xffff means -1 ("leave it alone"); out, an id that
//! does not fit in 16 bits reads as the overflow id 65534. Arguments are `old_uid_t`: only
//! the low 16 bits of each register count.

use super::{call_native, ia32_args};
use crate::process::user_ns::{IdMap, OVERFLOW_ID};
use crate::syscall::cred;
use kentry::Regs;
use kentry_abi::nr;

/// Linux's low2highuid/low2highgid on an `old_uid_t` argument.
fn low2high(reg: u64) -> u32 {
    match reg as u16 {
        0xffff => u32::MAX,
        v => u32::from(v),
    }
}

/// Linux's high2lowuid/high2lowgid.
fn high2low(id: u32) -> u32 {
    if id & !0xffff != 0 { OVERFLOW_ID } else { id }
}

pub(super) fn sys_getuid16(_: &mut Regs) -> i64 {
    i64::from(high2low(cred::get_id(IdMap::Uid, 0)))
}

pub(super) fn sys_geteuid16(_: &mut Regs) -> i64 {
    i64::from(high2low(cred::get_id(IdMap::Uid, 1)))
}

pub(super) fn sys_getgid16(_: &mut Regs) -> i64 {
    i64::from(high2low(cred::get_id(IdMap::Gid, 0)))
}

pub(super) fn sys_getegid16(_: &mut Regs) -> i64 {
    i64::from(high2low(cred::get_id(IdMap::Gid, 1)))
}

pub(super) fn sys_setuid16(regs: &mut Regs) -> i64 {
    cred::set_id(IdMap::Uid, low2high(regs.rbx))
}

pub(super) fn sys_setgid16(regs: &mut Regs) -> i64 {
    cred::set_id(IdMap::Gid, low2high(regs.rbx))
}

pub(super) fn sys_setreuid16(regs: &mut Regs) -> i64 {
    cred::set_re(IdMap::Uid, low2high(regs.rbx), low2high(regs.rcx))
}

pub(super) fn sys_setregid16(regs: &mut Regs) -> i64 {
    cred::set_re(IdMap::Gid, low2high(regs.rbx), low2high(regs.rcx))
}

fn res16(regs: &Regs) -> [u32; 3] {
    [regs.rbx, regs.rcx, regs.rdx].map(low2high)
}

pub(super) fn sys_setresuid16(regs: &mut Regs) -> i64 {
    cred::set_res(IdMap::Uid, res16(regs))
}

pub(super) fn sys_setresgid16(regs: &mut Regs) -> i64 {
    cred::set_res(IdMap::Gid, res16(regs))
}

fn put_res16(regs: &Regs, which: IdMap) -> i64 {
    let [a, b, c, ..] = ia32_args(regs);
    cred::put_res([a, b, c], cred::get_res(which).map(high2low), 2)
}

pub(super) fn sys_getresuid16(regs: &mut Regs) -> i64 {
    put_res16(regs, IdMap::Uid)
}

pub(super) fn sys_getresgid16(regs: &mut Regs) -> i64 {
    put_res16(regs, IdMap::Gid)
}

/// setfsuid16: the old fs id comes back whole, as Linux's (no high2low there).
pub(super) fn sys_setfsuid16(regs: &mut Regs) -> i64 {
    cred::set_fs(IdMap::Uid, low2high(regs.rbx))
}

pub(super) fn sys_setfsgid16(regs: &mut Regs) -> i64 {
    cred::set_fs(IdMap::Gid, low2high(regs.rbx))
}

/// getgroups16(size, list): `old_gid_t` elements, each through high2low.
pub(super) fn sys_getgroups16(regs: &mut Regs) -> i64 {
    cred::getgroups_as(regs.rbx as i32, regs.rcx as u32 as u64, 2, high2low)
}

/// setgroups16(size, list): `old_gid_t` elements, 0xffff as -1 (which no namespace maps:
/// EINVAL).
pub(super) fn sys_setgroups16(regs: &mut Regs) -> i64 {
    cred::setgroups_as(regs.rbx as i32, regs.rcx as u32 as u64, 2, |g| {
        low2high(u64::from(g))
    })
}

/// chown16, lchown16, fchown16: the 32-bit calls with the two ids widened.
fn chown16<const NR: usize>(regs: &mut Regs) -> i64 {
    let [a, b, c, ..] = ia32_args(regs);
    let (u, g) = (u64::from(low2high(b)), u64::from(low2high(c)));
    call_native::<NR>(regs, [a, u, g, 0, 0, 0])
}

pub(super) fn sys_chown16(regs: &mut Regs) -> i64 {
    chown16::<{ nr::CHOWN }>(regs)
}

pub(super) fn sys_lchown16(regs: &mut Regs) -> i64 {
    chown16::<{ nr::LCHOWN }>(regs)
}

pub(super) fn sys_fchown16(regs: &mut Regs) -> i64 {
    chown16::<{ nr::FCHOWN }>(regs)
}

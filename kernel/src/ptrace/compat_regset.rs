//! The FPU images, the register sets and the siginfo queue as an i386 tracer or an i386
//! tracee sees them (Linux's `ia32_arch_ptrace`, `user_x86_32_view` and the compat half of
//! `ptrace_peek_siginfo`).
//!
//! - GETFPREGS/SETFPREGS from an i386 tracer move `struct user_i387_ia32_struct` (108
//!   bytes: the FSAVE environment and the eight 10-byte x87 registers), made from the
//!   tracee's FXSAVE image as Linux's `convert_from_fxsr` (the full tag word, the task's CS
//!   and DS standing for the FPU's selectors) and folded back as `convert_to_fxsr`;
//! - GETFPXREGS/SETFPXREGS move the 512-byte FXSAVE image itself (`user32_fxsr_struct`); a
//!   set clears XMM8–15, which an i386 program cannot name;
//! - GETREGSET/SETREGSET use the regset view of the *tracee* (`task_user_regset_view`): an
//!   i386 tracee's NT_PRSTATUS is `user_regs_struct32` (17 words), NT_PRFPREG the i387
//!   image, NT_PRXFPREG the FXSAVE image, NT_X86_XSTATE the XSAVE area as for a 64-bit one;
//!   an i386 tracer passes a `compat_iovec`;
//! - PEEKSIGINFO from an i386 tracer writes `compat_siginfo`s.

use super::regs;
use super::request::copy_out;
use crate::signal::fpstate::{FSAVE_ENV, fold_env_into, fsave_header};
use crate::syscall::errno::*;
use crate::task::Task;
use crate::uaccess::copy_from_user;
use kentry_kernel_logic::ptrace::{USER_FPREGS_SIZE, reg};

/// ELF note types of GETREGSET/SETREGSET.
const NT_PRSTATUS: u64 = 1;
const NT_PRFPREG: u64 = 2;
const NT_PRXFPREG: u64 = 0x46e6_2b7f;
const NT_X86_XSTATE: u64 = 0x202;

/// Whether the tracee runs i386 code (its saved CS is not the 64-bit one): the regset view
/// Linux gives it (`user_64bit_mode`).
pub(super) fn tracee_is_ia32(t: &Task) -> bool {
    regs::get_all(t)[reg::CS] != u64::from(kentry::gdt::USER_CS)
}

/// GETFPREGS for an i386 tracer: the i387 image of the tracee's state.
pub(super) fn get_fpregs32(t: &Task) -> [u8; FSAVE_ENV] {
    let all = regs::get_all(t);
    let header = fsave_header(&regs::get_fp(t), all[reg::CS] as u16, all[reg::DS] as u16);
    let mut env = [0u8; FSAVE_ENV];
    env.copy_from_slice(&header[..FSAVE_ENV]);
    env
}

/// SETFPREGS for an i386 tracer: the i387 image folded over the tracee's FXSAVE image (MXCSR
/// and the XMM registers stay).
pub(super) fn put_fpregs32(t: &Task, env: &[u8; FSAVE_ENV]) -> Result<(), i64> {
    let mut fx = regs::get_fp(t);
    fold_env_into(&mut fx, env);
    regs::put_fp(t, &fx)
}

/// SETFPXREGS from an i386 tracer: the FXSAVE image, XMM8–15 cleared (`xfpregs_set` for an
/// ia32 caller). EINVAL for MXCSR bits the CPU lacks.
pub(super) fn put_fpxregs32(t: &Task, image: &[u8; USER_FPREGS_SIZE]) -> Result<(), i64> {
    const XMM8: usize = 160 + 8 * 16;
    let mut fx = *image;
    fx[XMM8..XMM8 + 8 * 16].fill(0);
    regs::put_fp(t, &fx)
}

/// GETREGSET/SETREGSET on an i386 tracee, `len` bytes at `base` (the iovec already read):
/// `Ok(bytes moved)`, which the caller writes back as the iovec's length. EINVAL for a note
/// the view lacks or a length that is not a whole number of its elements (`ptrace_regset`).
pub(super) fn regset32(t: &Task, set: bool, note: u64, base: u64, len: u64) -> Result<u64, i64> {
    let (element, mut buf): (u64, alloc::vec::Vec<u8>) = match note {
        NT_PRSTATUS => (4, general32(t).to_vec()),
        NT_PRFPREG => (4, get_fpregs32(t).to_vec()),
        NT_PRXFPREG => (4, regs::get_fp(t).to_vec()),
        NT_X86_XSTATE => (8, regs::get_xstate(t)?),
        _ => return Err(-EINVAL),
    };
    if !len.is_multiple_of(element) {
        return Err(-EINVAL);
    }
    let n = len.min(buf.len() as u64) as usize;
    if !set {
        copy_out(base, &buf[..n])?;
        return Ok(n as u64);
    }
    copy_from_user(&mut buf[..n], base).map_err(|_| -EFAULT)?;
    match note {
        NT_PRSTATUS => {
            for (w, &i) in buf[..n].chunks_exact(4).zip(&super::compat::REGS32) {
                super::compat::put_reg32(t, i, u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))?;
            }
        }
        // `buf` is the image read above with its first `n` bytes replaced: a short set keeps
        // the rest as it was.
        NT_PRFPREG => put_fpregs32(t, &image(&buf)?)?,
        NT_PRXFPREG => put_fpxregs32(t, &image(&buf)?)?,
        _ => regs::put_xstate(t, &buf[..n])?,
    }
    Ok(n as u64)
}

/// A whole image of `N` bytes (the size the regset's get gave).
fn image<const N: usize>(buf: &[u8]) -> Result<[u8; N], i64> {
    buf.try_into().map_err(|_| -EINVAL)
}

/// `user_regs_struct32` of the tracee.
pub(super) fn general32(t: &Task) -> [u8; super::compat::REGS32.len() * 4] {
    let all = regs::get_all(t);
    let mut b = [0u8; super::compat::REGS32.len() * 4];
    for (w, &i) in b.chunks_exact_mut(4).zip(&super::compat::REGS32) {
        w.copy_from_slice(&(all[i] as u32).to_ne_bytes());
    }
    b
}

/// GETREGSET/SETREGSET from an i386 tracer: `data` is a `compat_iovec` { u32 base, u32 len }.
pub(super) fn regset_from_ia32_tracer(
    t: &Task,
    set: bool,
    note: u64,
    iov: u64,
) -> Result<i64, i64> {
    let mut v = [0u8; 8];
    copy_from_user(&mut v, iov).map_err(|_| -EFAULT)?;
    let base = u64::from(u32::from_ne_bytes([v[0], v[1], v[2], v[3]]));
    let len = u64::from(u32::from_ne_bytes([v[4], v[5], v[6], v[7]]));
    let n = if tracee_is_ia32(t) {
        regset32(t, set, note, base, len)?
    } else {
        super::request::regset64(t, set, note, base, len)?
    };
    copy_out(iov + 4, &(n as u32).to_ne_bytes())?;
    Ok(0)
}

//! ptrace from a 32-bit tracer: i386 ptrace (26), Linux's `compat_sys_ptrace` with
//! `compat_arch_ptrace` (`ia32_arch_ptrace`) and `compat_ptrace_request`.
//!
//! The requests whose data has the same layout in both ABIs run as a 64-bit tracer's, the
//! arguments zero-extended (the pid sign-extended: it is an `int`). The ones that differ
//! convert here:
//! - PEEKUSR/POKEUSR address `struct user32`: `user_regs_struct32` (17 words, below) at
//!   offset 0, `u_debugreg[8]` at 252; any other aligned offset up to its size (284) reads 0
//!   and ignores writes; else -EIO;
//! - GETREGS/SETREGS copy the 17 words of `user_regs_struct32`, written register by
//!   register in that order, as Linux's `genregs32_set`, stopping at the first refused one;
//! - PEEKTEXT/PEEKDATA/POKETEXT/POKEDATA move one 32-bit word; GETEVENTMSG writes a 32-bit
//!   word;
//! - GETSIGINFO/SETSIGINFO use `compat_siginfo` (kentry-abi's conversions).
//!
//! A write of FS or GS sets the base from the selector's descriptor, as Linux's `putreg32`
//! does for an i386 debugger; one of EAX or ORIG_EAX is sign-extended, so that -1 (skip the
//! call) and the -ERESTART codes mean in the 64-bit frame what they mean to the tracer
//! (Linux keeps them zero-extended and sign-extends where it reads them for an i386 task:
//! `syscall_get_nr`, TS_I386_REGS_POKED).
//!
//! The i387 and FXSR images (GETFPREGS, SETFPREGS, GETFPXREGS, SETFPXREGS), GETREGSET and
//! SETREGSET with a `compat_iovec`, and PEEKSIGINFO's `compat_siginfo`s are in
//! compat_regset.rs. ARCH_PRCTL does not exist for an i386 tracer (-EIO).

use super::request::{copy_out, peek_siginfo, request_result, stopped_tracee};
use super::{compat_regset, regs};
use crate::signal::SigInfo;
use crate::signal::fpstate::FSAVE_ENV;
use crate::syscall::errno::*;
use crate::task::Task;
use crate::uaccess::copy_from_user;
use kentry::Regs;
use kentry_kernel_logic::ptrace::{USER_FPREGS_SIZE, reg, req};

/// `user_regs_struct32`, in order: which `user_regs_struct` register each word is.
pub(super) const REGS32: [usize; 17] = [
    reg::RBX,
    reg::RCX,
    reg::RDX,
    reg::RSI,
    reg::RDI,
    reg::RBP,
    reg::RAX,
    reg::DS,
    reg::ES,
    reg::FS,
    reg::GS,
    reg::ORIG_RAX,
    reg::RIP,
    reg::CS,
    reg::EFLAGS,
    reg::RSP,
    reg::SS,
];
/// `offsetof(struct user32, u_debugreg)` and `sizeof(struct user32)`.
const USER32_DEBUGREG: u64 = 252;
const USER32_SIZE: u64 = 284;

const GETFPXREGS: u64 = 18;
const SETFPXREGS: u64 = 19;

/// i386 ptrace(request, pid, addr, data): EBX, ECX, EDX, ESI.
pub fn sys_ia32_ptrace(regs: &mut Regs) -> i64 {
    let request = regs.rbx as u32 as i32 as i64 as u64;
    let pid = regs.rcx as u32 as i32;
    let (addr, data) = (regs.rdx as u32 as u64, regs.rsi as u32 as u64);
    let r = match request {
        req::PEEKTEXT
        | req::PEEKDATA
        | req::POKETEXT
        | req::POKEDATA
        | req::PEEKUSR
        | req::POKEUSR
        | req::GETREGS
        | req::SETREGS
        | req::GETEVENTMSG
        | req::GETSIGINFO
        | req::SETSIGINFO
        | req::GETFPREGS
        | req::SETFPREGS
        | GETFPXREGS
        | SETFPXREGS
        | req::GETREGSET
        | req::SETREGSET
        | req::PEEKSIGINFO => {
            stopped_tracee(pid).and_then(|t| compat_request(&t, request, addr, data))
        }
        req::ARCH_PRCTL => stopped_tracee(pid).and(Err(-EIO)),
        _ => request_result(request, pid, addr, data),
    };
    r.unwrap_or_else(|e| e)
}

fn compat_request(t: &Task, request: u64, addr: u64, data: u64) -> Result<i64, i64> {
    match request {
        req::PEEKTEXT | req::PEEKDATA => {
            let mut w = [0u8; 4];
            if crate::mm::remote::read(&t.process.mm(), addr, &mut w) != w.len() {
                return Err(-EIO);
            }
            copy_out(data, &w).map(|_| 0)
        }
        req::POKETEXT | req::POKEDATA => {
            let w = (data as u32).to_ne_bytes();
            if crate::mm::remote::write_forced(&t.process.mm(), addr, &w) != w.len() {
                return Err(-EIO);
            }
            Ok(0)
        }
        req::PEEKUSR => {
            let v = peek_user32(t, addr)?;
            copy_out(data, &v.to_ne_bytes()).map(|_| 0)
        }
        req::POKEUSR => poke_user32(t, addr, data as u32).map(|_| 0),
        req::GETREGS => copy_out(data, &compat_regset::general32(t)).map(|_| 0),
        req::SETREGS => {
            let mut b = [0u8; REGS32.len() * 4];
            copy_from_user(&mut b, data).map_err(|_| -EFAULT)?;
            for (w, &i) in b.chunks_exact(4).zip(&REGS32) {
                put_reg32(t, i, u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))?;
            }
            Ok(0)
        }
        req::GETEVENTMSG => {
            let m = t.ptrace.state.lock().event_msg as u32;
            copy_out(data, &m.to_ne_bytes()).map(|_| 0)
        }
        req::GETSIGINFO => {
            let si = t.ptrace.state.lock().siginfo.ok_or(-EINVAL)?;
            copy_out(data, &kentry_abi::compat::siginfo_to_compat(&si.to_bytes())).map(|_| 0)
        }
        req::SETSIGINFO => {
            let mut b = [0u8; 128];
            copy_from_user(&mut b, data).map_err(|_| -EFAULT)?;
            let native = kentry_abi::compat::siginfo_from_compat(&b);
            let mut st = t.ptrace.state.lock();
            if st.siginfo.is_none() {
                return Err(-EINVAL);
            }
            st.siginfo = Some(SigInfo::from_bytes(&native));
            Ok(0)
        }
        req::GETFPREGS => copy_out(data, &compat_regset::get_fpregs32(t)).map(|_| 0),
        req::SETFPREGS => {
            let mut env = [0u8; FSAVE_ENV];
            copy_from_user(&mut env, data).map_err(|_| -EFAULT)?;
            compat_regset::put_fpregs32(t, &env).map(|_| 0)
        }
        GETFPXREGS => copy_out(data, &regs::get_fp(t)).map(|_| 0),
        SETFPXREGS => {
            let mut fx = [0u8; USER_FPREGS_SIZE];
            copy_from_user(&mut fx, data).map_err(|_| -EFAULT)?;
            compat_regset::put_fpxregs32(t, &fx).map(|_| 0)
        }
        req::GETREGSET | req::SETREGSET => {
            compat_regset::regset_from_ia32_tracer(t, request == req::SETREGSET, addr, data)
        }
        req::PEEKSIGINFO => peek_siginfo(t, addr, data, true),
        _ => Err(-EIO),
    }
}

/// Where `addr` falls in `struct user32` (Linux's `getreg32`/`putreg32` switch).
enum User32 {
    Reg(usize),
    DebugReg(usize),
    Dummy,
}

fn user32_field(addr: u64) -> Result<User32, i64> {
    if (USER32_DEBUGREG..USER32_DEBUGREG + 32).contains(&addr) {
        return Ok(User32::DebugReg(((addr - USER32_DEBUGREG) / 4) as usize));
    }
    if addr > USER32_SIZE || addr & 3 != 0 {
        return Err(-EIO);
    }
    Ok(REGS32
        .get((addr / 4) as usize)
        .map_or(User32::Dummy, |&i| User32::Reg(i)))
}

fn peek_user32(t: &Task, addr: u64) -> Result<u32, i64> {
    Ok(match user32_field(addr)? {
        User32::Reg(i) => regs::get_all(t)[i] as u32,
        User32::DebugReg(n) => regs::get_debugreg(t, n) as u32,
        User32::Dummy => 0,
    })
}

fn poke_user32(t: &Task, addr: u64, v: u32) -> Result<(), i64> {
    match user32_field(addr)? {
        User32::Reg(i) => put_reg32(t, i, v),
        User32::DebugReg(n) => regs::put_debugreg(t, n, u64::from(v)),
        User32::Dummy => Ok(()),
    }
}

/// One i386 register from a 32-bit tracer (`putreg32`).
pub(super) fn put_reg32(t: &Task, index: usize, v: u32) -> Result<(), i64> {
    match index {
        reg::FS | reg::GS => regs::put_seg_with_base(t, index, u64::from(v)),
        reg::RAX | reg::ORIG_RAX => regs::put(t, index, v as i32 as i64 as u64),
        _ => regs::put(t, index, u64::from(v)),
    }
}

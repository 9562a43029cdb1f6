//! The i386 signal frames (Linux's arch/x86/ia32/ia32_signal.c): `sigframe_ia32` for a
//! handler without SA_SIGINFO and `rt_sigframe_ia32` with it, given to every handler whose
//! action an i386 rt_sigaction set (SA_IA32_ABI), and read back by i386 sigreturn (119) and
//! rt_sigreturn (173).
//!
//! Layouts (offsets from the frame, where the handler's ESP points; all words 32-bit):
//! - `sigframe_ia32` (732 bytes): pretcode 0, sig 4, `sigcontext_32` 8, an unused
//!   `_fpstate_32` 96 (kept so that extramask stays where old programs look), extramask 720
//!   (the mask's high word), retcode 724.
//! - `rt_sigframe_ia32` (268 bytes): pretcode 0, sig 4, pinfo 8, puc 12, `compat_siginfo`
//!   16, `ucontext_ia32` 144 (uc_flags 144, uc_link 148, `compat_stack_t` 152, sigcontext
//!   164, uc_sigmask 252), retcode 260.
//! - `sigcontext_32` (88 bytes): gs 0, fs 4, es 8, ds 12, di 16, si 20, bp 24, sp 28, bx 32,
//!   dx 36, cx 40, ax 44, trapno 48, err 52, ip 56, cs 60, flags 64, sp_at_signal 68, ss 72,
//!   fpstate 76, oldmask 80, cr2 84.
//!
//! The fpstate (an FSAVE header, then the XSAVE area with its magic words: fpstate.rs) lies
//! above the frame, its XSAVE part 64-aligned; the frame below it is aligned as the i386 ABI
//! wants a function entry, ((sp + 4) & 15) == 0. No red zone on i386.

use super::fpstate::{self, FSAVE_HEADER};
use super::{FaultInfo, KSigInfo, SA_ONSTACK, SA_RESTORER, SA_SIGINFO, SigAction};
use crate::task;
use crate::uaccess::{Efault, copy_from_user, copy_to_user};
use kentry::Regs;
use kentry::frame::rflags;
use kentry::gdt::{USER_DS, USER32_CS};

const SC_SIZE: usize = 88;
const SIGFRAME_SIZE: usize = 732;
const SF_SC: usize = 8;
const SF_EXTRAMASK: usize = 720;
const SF_RETCODE: usize = 724;
const RT_SIGFRAME_SIZE: usize = 268;
const RT_INFO: usize = 16;
const RT_UC: usize = 144;
const RT_UC_STACK: usize = RT_UC + 8;
const RT_SC: usize = RT_UC + 20;
const RT_SIGMASK: usize = RT_UC + 108;
const RT_RETCODE: usize = 260;

/// uc_flags: the fpstate holds an XSAVE area with the FP_XSTATE magic words.
const UC_FP_XSTATE: u32 = 1;
const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;

/// `popl %eax; movl $119, %eax; int $0x80`: executed only by a handler without SA_RESTORER
/// in a process without the 32-bit vDSO (and only from an executable stack), kept because
/// some debuggers recognise a frame by it.
const SIGRETURN_CODE: [u8; 8] = [0x58, 0xb8, 119, 0, 0, 0, 0xcd, 0x80];
/// `movl $173, %eax; int $0x80`.
const RT_SIGRETURN_CODE: [u8; 8] = [0xb8, 173, 0, 0, 0, 0xcd, 0x80, 0];

/// Where a handler without SA_RESTORER returns: the 32-bit vDSO's `__kernel_sigreturn` or
/// `__kernel_rt_sigreturn` when the process has one (Linux's `current->mm->context.vdso +
/// vdso_image_32.sym___kernel_*sigreturn`: glibc leaves SA_RESTORER out when it found the
/// vDSO). Without one (a 64-bit process's `int $0x80` sigaction, or a vDSO unmapped), the
/// frame's own retcode, as Linux does: it runs only on an executable stack.
fn default_restorer(rt: bool) -> Option<u64> {
    use crate::vdso::ia32::{VDSO32_SYM_KERNEL_RT_SIGRETURN, VDSO32_SYM_KERNEL_SIGRETURN};
    let base = crate::vdso::ia32::current_base()?;
    Some(
        base + if rt {
            VDSO32_SYM_KERNEL_RT_SIGRETURN
        } else {
            VDSO32_SYM_KERNEL_SIGRETURN
        },
    )
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The `sigcontext_32` of `regs` (Linux's __unsafe_setup_sigcontext32).
fn sigcontext(regs: &Regs, fpstate: u64, mask_lo: u32, fault: FaultInfo) -> [u8; SC_SIZE] {
    let mut sc = [0u8; SC_SIZE];
    let [ds, es, fs, gs] = task::segments::Selectors::read().0;
    let words = [
        u32::from(gs),
        u32::from(fs),
        u32::from(es),
        u32::from(ds),
        regs.rdi as u32,
        regs.rsi as u32,
        regs.rbp as u32,
        regs.rsp as u32,
        regs.rbx as u32,
        regs.rdx as u32,
        regs.rcx as u32,
        regs.rax as u32,
        fault.trapno as u32,
        fault.err as u32,
        regs.rip as u32,
        regs.cs as u32,
        regs.rflags as u32,
        regs.rsp as u32,
        regs.ss as u32,
        fpstate as u32,
        mask_lo,
        fault.cr2 as u32,
    ];
    for (i, w) in words.iter().enumerate() {
        put32(&mut sc, i * 4, *w);
    }
    sc
}

/// Builds the i386 frame for `sig` (rt_sigframe_ia32 with SA_SIGINFO, else sigframe_ia32)
/// and points `regs` at the handler in compat mode. Err: the frame could not be written.
pub fn setup_ia32_frame(
    regs: &mut Regs,
    sig: u8,
    act: &SigAction,
    info: &KSigInfo,
) -> Result<(), Efault> {
    let rt = act.flags & SA_SIGINFO != 0;
    let inner = task::current_inner();
    let alt = inner.altstack;
    let user_sp = regs.rsp as u32 as u64;
    let mut sp = user_sp;
    if act.flags & SA_ONSTACK != 0 {
        // sigsp: the top of the alternate stack unless already on it.
        if alt.2 & SS_DISABLE == 0 && !super::frame_on_altstack(user_sp, alt) {
            sp = alt.0 + alt.1;
        }
    } else if regs.ss != USER_DS as u64 && act.flags & SA_RESTORER == 0 && act.restorer != 0 {
        // The legacy i386 stack switch: an SS other than the flat one, and a "restorer"
        // that is the new stack's top.
        sp = act.restorer as u32 as u64;
    }
    // The math frame: the XSAVE area 64-aligned, the FSAVE header right below it.
    let fx = sp.wrapping_sub(fpstate::sigframe_size()) & !63;
    let buf = fx.wrapping_sub(FSAVE_HEADER);
    let size = if rt { RT_SIGFRAME_SIZE } else { SIGFRAME_SIZE } as u64;
    let frame = ((buf.wrapping_sub(size).wrapping_add(4)) & !15).wrapping_sub(4);
    if frame >> 32 != 0 {
        // Wrapped below 0: no room for a frame anywhere an i386 program can reach.
        return Err(Efault);
    }

    let fault = inner.signals.fault;
    let mask = inner.saved_sigmask.unwrap_or(inner.sigmask);
    let sc = sigcontext(regs, buf, mask as u32, fault);
    let restorer = if act.flags & SA_RESTORER != 0 {
        act.restorer as u32 as u64
    } else {
        let retcode = frame + if rt { RT_RETCODE } else { SF_RETCODE } as u64;
        default_restorer(rt).unwrap_or(retcode)
    };
    if rt {
        let mut f = [0u8; RT_SIGFRAME_SIZE];
        put32(&mut f, 0, restorer as u32);
        put32(&mut f, 4, u32::from(sig));
        put32(&mut f, 8, (frame + RT_INFO as u64) as u32);
        put32(&mut f, 12, (frame + RT_UC as u64) as u32);
        let si = kentry_abi::compat::siginfo_to_compat(&info.to_bytes());
        f[RT_INFO..RT_INFO + 128].copy_from_slice(&si);
        let uc_flags = if task::xstate::config().xsave() {
            UC_FP_XSTATE
        } else {
            0
        };
        put32(&mut f, RT_UC, uc_flags);
        // uc_stack: compat_save_altstack (SS_ONSTACK while the interrupted code is on it).
        let on = if super::frame_on_altstack(user_sp, alt) {
            SS_ONSTACK
        } else {
            alt.2
        };
        put32(&mut f, RT_UC_STACK, alt.0 as u32);
        put32(&mut f, RT_UC_STACK + 4, on as u32);
        put32(&mut f, RT_UC_STACK + 8, alt.1 as u32);
        f[RT_SC..RT_SC + SC_SIZE].copy_from_slice(&sc);
        f[RT_SIGMASK..RT_SIGMASK + 8].copy_from_slice(&mask.to_le_bytes());
        f[RT_RETCODE..RT_RETCODE + 8].copy_from_slice(&RT_SIGRETURN_CODE);
        copy_to_user(frame, &f)?;
    } else {
        let mut f = [0u8; SIGFRAME_SIZE];
        put32(&mut f, 0, restorer as u32);
        put32(&mut f, 4, u32::from(sig));
        f[SF_SC..SF_SC + SC_SIZE].copy_from_slice(&sc);
        put32(&mut f, SF_EXTRAMASK, (mask >> 32) as u32);
        f[SF_RETCODE..SF_RETCODE + 8].copy_from_slice(&SIGRETURN_CODE);
        copy_to_user(frame, &f)?;
    }
    let [ds, ..] = task::segments::Selectors::read().0;
    fpstate::save_to_sigframe_ia32(buf, regs.cs as u16, ds)?;
    // After rt_sigsuspend the handler's return restores the mask from before the suspend.
    inner.saved_sigmask = None;

    regs.rsp = frame;
    regs.rip = act.handler as u32 as u64;
    // -mregparm=3 handlers take sig, info and uc in EAX, EDX and ECX.
    regs.rax = u64::from(sig);
    (regs.rdx, regs.rcx) = if rt {
        (frame + RT_INFO as u64, frame + RT_UC as u64)
    } else {
        (0, 0)
    };
    regs.rflags &= !(rflags::DF | rflags::RF | rflags::TF);
    regs.cs = USER32_CS as u64;
    regs.ss = USER_DS as u64;
    // The handler starts with the flat data segments (Linux loads __USER32_DS, which is
    // __USER_DS on x86-64).
    let mut sel = task::segments::Selectors::read();
    sel.0[0] = USER_DS;
    sel.0[1] = USER_DS;
    task::segments::reload_user(sel);
    regs.orig_rax = u64::MAX;
    Ok(())
}

/// Test kernels (`kentry.break=sigreturn32_segs`): i386 sigreturn loads the frame's data
/// selectors without checking them, so the kernel's own load of a bad one faults.
#[cfg(feature = "test-hooks")]
pub static BREAK_SEGS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// A data selector from a frame as the kernel may load it: RPL forced to 3, and one the
/// user could not load (VERR fails: no such descriptor, an empty TLS slot, a system
/// segment) made null. Linux loads it and its fault fixup leaves null; kentry checks first
/// because its selector loads have no fixup. A null selector is loaded as 0, not 3: the CPU's
/// IRET to ring 3 would clear a null 3 to 0 anyway (QEMU's TCG does not, and Linux's
/// sigreturn selftest then reads 3 where it put 0).
fn frame_selector(v: u32) -> u16 {
    if v as u16 & !3 == 0 {
        return 0;
    }
    let sel = (v as u16) | 3;
    #[cfg(feature = "test-hooks")]
    if BREAK_SEGS.load(core::sync::atomic::Ordering::Relaxed) {
        return sel;
    }
    if task::segments::loadable(sel, &task::current().process.ldt) {
        sel
    } else {
        0
    }
}

/// Restores the registers of a `sigcontext_32` (Linux's ia32_restore_sigcontext): the i386
/// registers only (R8-R15 keep their values), CS and SS with RPL 3 (a bad one makes the
/// IRET back fault: SIGSEGV), the FIX_EFLAGS bits, the data selectors, then the fpstate.
fn restore_sigcontext(regs: &mut Regs, sc: &[u8; SC_SIZE]) -> Result<(), ()> {
    let g = |i: usize| u64::from(get32(sc, i * 4));
    regs.rdi = g(4);
    regs.rsi = g(5);
    regs.rbp = g(6);
    regs.rsp = g(7);
    regs.rbx = g(8);
    regs.rdx = g(9);
    regs.rcx = g(10);
    regs.rax = g(11);
    regs.rip = g(14);
    regs.cs = (g(15) & 0xffff) | 3;
    regs.ss = (g(18) & 0xffff) | 3;
    let fix = super::frame::sigreturn_fix_eflags();
    regs.rflags = (regs.rflags & !fix) | (g(16) & fix);
    regs.orig_rax = u64::MAX;
    let sel = task::segments::Selectors([
        frame_selector(get32(sc, 12)),
        frame_selector(get32(sc, 8)),
        frame_selector(get32(sc, 4)),
        frame_selector(get32(sc, 0)),
    ]);
    task::segments::reload_user(sel);
    fpstate::restore_from_sigframe_ia32(g(19)).map_err(|_| ())
}

/// i386 sigreturn (119): the sigframe_ia32 whose pretcode the handler's `ret` popped (ESP - 8
/// is the frame: the restorer also pops `sig`).
pub fn ia32_sigreturn(regs: &mut Regs) -> i64 {
    let frame = (regs.rsp as u32 as u64).wrapping_sub(8);
    let mut f = [0u8; SIGFRAME_SIZE];
    if copy_from_user(&mut f, frame).is_err() {
        return super::frame::bad_frame(regs);
    }
    let mask = u64::from(get32(&f, SF_SC + 80)) | (u64::from(get32(&f, SF_EXTRAMASK)) << 32);
    super::set_blocked(mask);
    let mut sc = [0u8; SC_SIZE];
    sc.copy_from_slice(&f[SF_SC..SF_SC + SC_SIZE]);
    if restore_sigcontext(regs, &sc).is_err() {
        return super::frame::bad_frame(regs);
    }
    regs.rax as i64
}

/// i386 rt_sigreturn (173): the rt_sigframe_ia32 at ESP - 4; also re-applies uc_stack as the
/// alternate stack (errors other than a fault ignored, as Linux's compat_restore_altstack).
pub fn ia32_rt_sigreturn(regs: &mut Regs) -> i64 {
    let frame = (regs.rsp as u32 as u64).wrapping_sub(4);
    let mut f = [0u8; RT_SIGFRAME_SIZE];
    if copy_from_user(&mut f, frame).is_err() {
        return super::frame::bad_frame(regs);
    }
    let mask = u64::from_le_bytes(f[RT_SIGMASK..RT_SIGMASK + 8].try_into().unwrap_or([0; 8]));
    super::set_blocked(mask);
    let mut sc = [0u8; SC_SIZE];
    sc.copy_from_slice(&f[RT_SC..RT_SC + SC_SIZE]);
    if restore_sigcontext(regs, &sc).is_err() {
        return super::frame::bad_frame(regs);
    }
    let ss = (
        u64::from(get32(&f, RT_UC_STACK)),
        get32(&f, RT_UC_STACK + 4) as i32,
        u64::from(get32(&f, RT_UC_STACK + 8)),
    );
    let _ = crate::syscall::sig_do_sigaltstack(Some(ss), regs.rsp);
    regs.rax as i64
}

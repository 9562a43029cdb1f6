//! Linux's x86-64 `rt_sigframe`: building it for a handler, and reading it back in
//! rt_sigreturn (linux-abi.md §6.1–6.3).
//!
//! Frame layout (from the frame base, where the handler's RSP points):
//! `pretcode` 0, `ucontext` 8 (flags 8, link 16, stack 24, sigcontext 48, sigmask 304),
//! `siginfo` 312; the fpstate (the XSAVE area with its magic words, or the FXSAVE image:
//! fpstate.rs) above it, 64-aligned, pointed to by `sigcontext.fpstate`.

use super::fpstate;
use super::{FaultInfo, KSigInfo, SA_ONSTACK, SigAction, SigInfo, ThreadSignals};
use crate::task;
use crate::uaccess::{Efault, copy_from_user, copy_to_user};
use kentry::Regs;
use kentry::frame::rflags;
use kentry::gdt::{USER_CS, USER_DS};

const FRAME_SIZE: usize = 440;
const UC: usize = 8;
const UC_FLAGS: usize = UC;
const UC_STACK: usize = UC + 16;
const SC: usize = UC + 40;
const UC_SIGMASK: usize = UC + 296;
const SIGINFO: usize = 312;

/// uc_flags: the fpstate is an XSAVE area with the FP_XSTATE magic words.
const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;

/// RFLAGS bits a signal frame may change (Linux's FIX_EFLAGS): never IF, IOPL, NT, VM, ID.
const FIX_EFLAGS: u64 = rflags::AC
    | rflags::OF
    | rflags::DF
    | rflags::TF
    | rflags::SF
    | rflags::ZF
    | rflags::AF
    | rflags::PF
    | rflags::CF
    | rflags::RF;

const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;

fn put(buf: &mut [u8], off: usize, v: u64) {
    buf[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get(buf: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(buf[off..off + 8].try_into().unwrap())
}

/// The sigcontext's general registers, in their order (r8 … rip, eflags).
fn sigcontext_regs(r: &Regs) -> [u64; 18] {
    [
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx,
        r.rax, r.rcx, r.rsp, r.rip, r.rflags,
    ]
}

/// Whether `sp` lies on the alternate signal stack (base, size).
pub fn on_altstack(sp: u64, alt: (u64, u64, i32)) -> bool {
    alt.2 & SS_DISABLE == 0 && sp > alt.0 && sp - alt.0 <= alt.1
}

/// Builds the frame for `sig` on the user stack (or the alternate stack) and points `regs`
/// at the handler. Err: the frame could not be written.
pub fn setup_rt_frame(
    regs: &mut Regs,
    sig: u8,
    act: &SigAction,
    info: &KSigInfo,
) -> Result<(), Efault> {
    let inner = task::current_inner();
    let alt = inner.altstack;
    let mut sp = regs.rsp.wrapping_sub(128); // the red zone
    let switch_to_alt =
        act.flags & SA_ONSTACK != 0 && alt.2 & SS_DISABLE == 0 && !on_altstack(regs.rsp, alt);
    if switch_to_alt {
        sp = alt.0 + alt.1;
    }
    let fpstate = (sp.wrapping_sub(fpstate::sigframe_size())) & !63;
    let frame = ((fpstate.wrapping_sub(FRAME_SIZE as u64)) & !15).wrapping_sub(8);
    if (switch_to_alt || on_altstack(regs.rsp, alt)) && frame < alt.0 {
        // The frame would run off the bottom of the alternate stack.
        return Err(Efault);
    }

    // The user's extended state goes into the frame; the handler starts with a clean one
    // (done last, once nothing can fail any more).
    let mut fp_flags = 0;
    if task::xstate::config().xsave() {
        fp_flags = UC_FP_XSTATE;
    }

    let signals: &ThreadSignals = &inner.signals;
    let FaultInfo { trapno, err, cr2 } = signals.fault;
    let mut f = [0u8; FRAME_SIZE];
    put(&mut f, 0, act.restorer);
    let strict = if regs.cs == USER_CS as u64 {
        UC_STRICT_RESTORE_SS
    } else {
        0
    };
    put(&mut f, UC_FLAGS, UC_SIGCONTEXT_SS | strict | fp_flags);
    let on = if on_altstack(regs.rsp, alt) {
        SS_ONSTACK
    } else {
        alt.2
    };
    put(&mut f, UC_STACK, alt.0);
    f[UC_STACK + 8..UC_STACK + 12].copy_from_slice(&on.to_ne_bytes());
    put(&mut f, UC_STACK + 16, alt.1);
    for (i, v) in sigcontext_regs(regs).iter().enumerate() {
        put(&mut f, SC + i * 8, *v);
    }
    // cs, gs, fs, ss as four u16s.
    f[SC + 144..SC + 146].copy_from_slice(&(regs.cs as u16).to_ne_bytes());
    f[SC + 150..SC + 152].copy_from_slice(&(regs.ss as u16).to_ne_bytes());
    put(&mut f, SC + 152, err);
    put(&mut f, SC + 160, trapno);
    put(
        &mut f,
        SC + 168,
        inner.saved_sigmask.unwrap_or(inner.sigmask),
    );
    put(&mut f, SC + 176, cr2);
    put(&mut f, SC + 184, fpstate);
    // After rt_sigsuspend the handler's return restores the mask from before the suspend.
    let restore_mask = inner.saved_sigmask.take().unwrap_or(inner.sigmask);
    put(&mut f, UC_SIGMASK, restore_mask);
    // `f` is zeroed: the siginfo's 48 bytes go in place, the rest stays zero.
    if let Some(si) = f
        .get_mut(SIGINFO..SIGINFO + 128)
        .and_then(|s| <&mut [u8; 128]>::try_from(s).ok())
    {
        info.write_to(si);
    }
    copy_to_user(frame, &f)?;
    fpstate::save_to_sigframe(fpstate)?;

    regs.rip = act.handler;
    regs.rsp = frame;
    regs.rdi = sig as u64;
    regs.rsi = frame + SIGINFO as u64;
    regs.rdx = frame + UC as u64;
    regs.rax = 0;
    regs.rflags &= !(rflags::DF | rflags::RF | rflags::TF);
    regs.cs = USER_CS as u64;
    if regs.ss != USER_DS as u64 {
        regs.ss = force_valid_ss(regs.ss);
    }
    // Not in a syscall any more: no restart on the way out of the handler.
    regs.orig_rax = u64::MAX;
    Ok(())
}

/// Linux's force_valid_ss: `ss` if it names a present, DPL-3, read-write (or expand-down
/// read-write) data segment — a 64-bit context may keep such an SS, a GDT or LDT one — else
/// __USER_DS. LAR reads the descriptor without faulting (VERW would not check P); it runs on
/// the current task's CPU, whose GDT and LDT are the task's.
fn force_valid_ss(ss: u64) -> u64 {
    const AR_MASK: u32 = 0xfe00; // P, DPL, S, type without the accessed bit
    const RW_DATA: u32 = 0xf200; // P, DPL 3, S, read-write data
    const RW_DATA_EXPDOWN: u32 = 0xf600;
    let (ar, ok): (u32, u8);
    // SAFETY: LAR only reads the descriptor tables and sets ZF; it never faults.
    unsafe {
        core::arch::asm!("lar {0:e}, {1:e}", "setz {2}", out(reg) ar, in(reg) ss as u32,
            out(reg_byte) ok, options(nomem, nostack))
    };
    let ar = if ok != 0 { ar & AR_MASK } else { 0 };
    if ar == RW_DATA || ar == RW_DATA_EXPDOWN {
        ss
    } else {
        USER_DS as u64
    }
}

/// Test kernels, `kentry.break=sigreturn_flags`: rt_sigreturn also takes IF, IOPL and NT
/// from the frame as the user wrote them (E34), so a handler can return to ring 3 with IOPL 3,
/// NT set and interrupts off; sigreturn_bad's `sigreturn_drops_iopl_nt_keeps_if` must fail.
pub static BREAK_SIGRETURN_FLAGS: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Whether the E34 sanitising is switched off (never outside test kernels: folds to `false`).
#[inline(always)]
fn sigreturn_flags_broken() -> bool {
    cfg!(feature = "test-hooks")
        && BREAK_SIGRETURN_FLAGS.load(core::sync::atomic::Ordering::Relaxed)
}

/// The RFLAGS bits a sigreturn takes from the frame: FIX_EFLAGS (plus IF, IOPL and NT under
/// the `sigreturn_flags` break), for the i386 frames too.
pub(super) fn sigreturn_fix_eflags() -> u64 {
    if sigreturn_flags_broken() {
        FIX_EFLAGS | rflags::IF | rflags::IOPL | rflags::NT
    } else {
        FIX_EFLAGS
    }
}

/// rt_sigreturn: restores the frame the handler returned through. Returns the restored rax;
/// a frame that cannot be read forces SIGSEGV. Whatever the frame says, the kernel never
/// faults on it: bad selectors and RIPs are caught by the IRET back to user mode (E14, E33),
/// and only FIX_EFLAGS bits are taken from it (E34).
pub fn rt_sigreturn(regs: &mut Regs) -> i64 {
    let frame = regs.rsp.wrapping_sub(8);
    let mut f = [0u8; FRAME_SIZE];
    if copy_from_user(&mut f, frame).is_err() {
        return bad_frame(regs);
    }
    super::set_blocked(get(&f, UC_SIGMASK));
    let inner = task::current_inner();
    let uc_flags = get(&f, UC_FLAGS);
    let g = |i: usize| get(&f, SC + i * 8);
    regs.r8 = g(0);
    regs.r9 = g(1);
    regs.r10 = g(2);
    regs.r11 = g(3);
    regs.r12 = g(4);
    regs.r13 = g(5);
    regs.r14 = g(6);
    regs.r15 = g(7);
    regs.rdi = g(8);
    regs.rsi = g(9);
    regs.rbp = g(10);
    regs.rbx = g(11);
    regs.rdx = g(12);
    regs.rax = g(13);
    regs.rcx = g(14);
    regs.rsp = g(15);
    regs.rip = g(16);
    let fix = if sigreturn_flags_broken() {
        FIX_EFLAGS | rflags::IF | rflags::IOPL | rflags::NT
    } else {
        FIX_EFLAGS
    };
    regs.rflags = (regs.rflags & !fix) | (g(17) & fix);
    let cs = u16::from_ne_bytes([f[SC + 144], f[SC + 145]]) as u64 | 3;
    let mut ss = u16::from_ne_bytes([f[SC + 150], f[SC + 151]]) as u64 | 3;
    if uc_flags & UC_STRICT_RESTORE_SS == 0 && cs == USER_CS as u64 {
        // Old-style frames: an SS that is not a usable data segment becomes the default.
        ss = force_valid_ss(ss);
    }
    regs.cs = cs;
    regs.ss = ss;
    regs.orig_rax = u64::MAX;

    // As Linux: the general registers are already back when a bad fpstate forces SIGSEGV.
    if fpstate::restore_from_sigframe(g(23)).is_err() {
        return bad_frame(regs);
    }

    // uc_stack is re-applied as the alternate stack (errors ignored, as Linux does).
    let ss_sp = get(&f, UC_STACK);
    let ss_flags = i32::from_ne_bytes(f[UC_STACK + 8..UC_STACK + 12].try_into().unwrap());
    let ss_size = get(&f, UC_STACK + 16);
    if ss_flags & SS_DISABLE != 0 {
        inner.altstack = (0, 0, SS_DISABLE);
    } else if ss_size >= 2048 && !on_altstack(regs.rsp, inner.altstack) {
        inner.altstack = (ss_sp, ss_size, 0);
    }
    regs.rax as i64
}

/// A sigreturn whose frame cannot be read or restored: SIGSEGV (SI_KERNEL), as Linux's
/// `signal_fault`; shared by the i386 frames (frame32.rs).
pub(super) fn bad_frame(regs: &mut Regs) -> i64 {
    super::force_fault(
        super::SIGSEGV,
        SigInfo {
            errno: 0,
            signo: super::SIGSEGV as i32,
            code: super::SI_KERNEL,
            ..Default::default()
        },
        FaultInfo::default(),
    );
    regs.rax as i64
}

//! The FPU part of a signal frame (Linux's arch/x86/kernel/fpu/signal.c): the user's
//! extended state written below the frame at delivery, and read back, checked, at sigreturn.
//! Frame-format neutral — it only needs the fpstate address — so the ia32 frames can use it.
//!
//! Layout at `fpstate` (64-aligned): the 512-byte legacy (FXSAVE) area whose last 48 bytes
//! (`sw_reserved`) hold `struct _fpx_sw_bytes` (FP_XSTATE_MAGIC1, extended_size, xfeatures,
//! xstate_size), the 64-byte XSAVE header, the components at their CPUID offsets, and
//! FP_XSTATE_MAGIC2 right after the `xstate_size` bytes. Without XSAVE: the FXSAVE image.

use crate::task::{self, fpu::FpuState, xstate};
use crate::uaccess::{Efault, copy_from_user, copy_to_user};

/// Bytes the fpstate takes in a frame (its start is 64-aligned): Linux's
/// xstate_sigframe_size.
pub fn sigframe_size() -> u64 {
    xstate::sigframe_size() as u64
}

/// Writes the current task's state to `fpstate` (the task's state is first saved from the
/// CPU), then gives the CPU the initial state for the handler (Linux's
/// copy_fpstate_to_sigframe + fpu__clear_user_states). No allocation: the task's own buffer,
/// put in the user format in place with the software bytes in its `sw_reserved` words (which
/// neither XSAVE nor XRSTOR touch), is copied out, then MAGIC2.
pub fn save_to_sigframe(fpstate: u64) -> Result<(), Efault> {
    let inner = task::current_inner();
    for _ in 0..MAX_TRIES {
        let n = switches();
        inner.fpu.save();
        inner.fpu.make_uabi();
        if xstate::config().xsave() {
            xstate::put_sw_bytes(inner.fpu.bytes_mut());
            let magic2 = xstate::FP_XSTATE_MAGIC2.to_ne_bytes();
            copy_to_user(fpstate + xstate::user_size() as u64, &magic2)?;
        }
        copy_to_user(fpstate, inner.fpu.bytes())?;
        let _no_switch = crate::preempt::guard();
        if switches() == n {
            task::fpu::initial_state().restore();
            return Ok(());
        }
        // A switch during the copy re-saved the registers over the user-format image.
    }
    Err(Efault)
}

/// The copies between a task's buffer and a frame may fault, and the task may then sleep or
/// be preempted; a context switch saves the live registers into that very buffer
/// (sched::switch_to). So each copy is redone when the task's switch count moved during it,
/// and the XRSTOR that ends it runs with preemption off. A copy that keeps being disturbed
/// (never seen: the pages are resident after the first round) gives up as a bad frame.
const MAX_TRIES: usize = 8;

/// Context switches of the current task so far (getrusage's two counters).
fn switches() -> u64 {
    let s = &task::current().sched;
    s.nvcsw.load(core::sync::atomic::Ordering::Relaxed)
        + s.nivcsw.load(core::sync::atomic::Ordering::Relaxed)
}

/// A frame's fpstate could not be taken: the caller forces SIGSEGV.
pub struct BadFpstate;

/// Loads the state at `fpstate` into the current task and the CPU (Linux's
/// fpu__restore_sig): 0 means the initial state; a legacy area whose software bytes carry
/// FP_XSTATE_MAGIC1, a sane size and FP_XSTATE_MAGIC2 after it is a full XSAVE area whose
/// header must pass `xstate::validate`; any other frame restores only the legacy x87/SSE part
/// (the rest returns to its initial state). Err: unreadable, or a header or MXCSR that XRSTOR
/// would fault on — the state is then the initial one.
pub fn restore_from_sigframe(fpstate: u64) -> Result<(), BadFpstate> {
    restore_folded(fpstate, None)
}

/// [`restore_from_sigframe`], then (an i386 frame) the fsave header's x87 environment and
/// registers folded over the legacy area (Linux's convert_to_fxsr).
fn restore_folded(fpstate: u64, env: Option<&[u8; FSAVE_ENV]>) -> Result<(), BadFpstate> {
    let inner = task::current_inner();
    for _ in 0..MAX_TRIES {
        let n = switches();
        let mut r = read_fpstate(&mut inner.fpu, fpstate);
        if let (Ok(()), Some(env)) = (&r, env) {
            r = fold_env(&mut inner.fpu, env);
        }
        let _no_switch = crate::preempt::guard();
        if switches() == n {
            if r.is_err() {
                inner.fpu.set_initial();
            }
            inner.fpu.restore();
            return r;
        }
        // A switch during the copy saved the handler's registers over it: read again.
    }
    let _no_switch = crate::preempt::guard();
    inner.fpu.set_initial();
    inner.fpu.restore();
    Err(BadFpstate)
}

/// Reads the frame's area straight into the task's buffer (which the CPU does not track any
/// more: the handler ran on other state, and an XRSTOR from this buffer follows).
fn read_fpstate(fpu: &mut FpuState, fpstate: u64) -> Result<(), BadFpstate> {
    if fpstate == 0 {
        fpu.set_initial();
        return Ok(());
    }
    copy_from_user(&mut fpu.bytes_mut()[..512], fpstate).map_err(|_| BadFpstate)?;
    let cfg = xstate::config();
    if cfg.xsave()
        && let Some((xfeatures, size)) = xstate::sw_bytes(fpu.bytes())
    {
        let mut magic2 = [0u8; 4];
        copy_from_user(&mut magic2, fpstate + size as u64).map_err(|_| BadFpstate)?;
        if u32::from_ne_bytes(magic2) == xstate::FP_XSTATE_MAGIC2 {
            copy_from_user(&mut fpu.bytes_mut()[512..size], fpstate + 512)
                .map_err(|_| BadFpstate)?;
            return xstate::accept_user(fpu, size, xfeatures).map_err(|_| BadFpstate);
        }
    }
    // The legacy part only (fx_only): MXCSR checked as FXRSTOR would.
    let mut legacy = [0u8; 512];
    legacy.copy_from_slice(&fpu.bytes()[..512]);
    let mxcsr = u32::from_ne_bytes(legacy[24..28].try_into().unwrap_or([0; 4]));
    if mxcsr & !task::fpu::mxcsr_mask() != 0 {
        return Err(BadFpstate);
    }
    fpu.set_initial();
    legacy[xstate::SW_RESERVED..].fill(0);
    fpu.set_legacy(&legacy);
    Ok(())
}

// --- The i386 frames' fpstate (Linux's `struct _fpstate_32`) ---
//
// An i386 frame's fpstate starts with the 112 bytes of the old FSAVE image
// (`struct fregs_state`: the 28-byte environment, the eight 10-byte x87 registers, then
// `status` and `magic`), and the FXSAVE/XSAVE area follows at +112, exactly as a 64-bit
// frame's (magic words included). i386 programs of the FSAVE era read the header; the
// kernel restores the x87 part from it, so an edit there takes effect (Linux's
// save_fsave_header and convert_to_fxsr).

/// Bytes of the FSAVE header before the XSAVE area (`sizeof(struct fregs_state)`).
pub const FSAVE_HEADER: u64 = 112;
/// The environment and registers of the header (`struct user_i387_ia32_struct`, also an i386
/// tracer's GETFPREGS image).
pub const FSAVE_ENV: usize = 108;
/// `magic` 0: the FXSR data follows (X86_FXSR_MAGIC).
const X86_FXSR_MAGIC: u16 = 0;

/// The full i387 tag word (two bits per physical register: 0 valid, 1 zero, 2 special,
/// 3 empty) from FXSAVE's abridged one and the register contents (Linux's
/// twd_fxsr_to_i387).
fn twd_fxsr_to_i387(fx: &[u8]) -> u32 {
    let tos = (u16::from_le_bytes([fx[2], fx[3]]) >> 11) & 7;
    let abridged = fx[4];
    let mut ret = 0xffff_0000u32;
    for i in 0..8u16 {
        let tag = if abridged & (1 << i) != 0 {
            let st = 32 + usize::from((i.wrapping_sub(tos)) & 7) * 16;
            let sig = |k: usize| u16::from_le_bytes([fx[st + 2 * k], fx[st + 2 * k + 1]]);
            let exp = u16::from_le_bytes([fx[st + 8], fx[st + 9]]) & 0x7fff;
            match exp {
                0x7fff => 2,
                0 if (0..4).all(|k| sig(k) == 0) => 1,
                0 => 2,
                _ if sig(3) & 0x8000 != 0 => 0,
                _ => 2,
            }
        } else {
            3
        };
        ret |= tag << (2 * i);
    }
    ret
}

/// The abridged tag byte (a bit per register: not empty) of a full tag word (Linux's
/// twd_i387_to_fxsr).
fn twd_i387_to_fxsr(twd: u16) -> u16 {
    let mut t = !twd as u32;
    t = (t | (t >> 1)) & 0x5555;
    t = (t | (t >> 1)) & 0x3333;
    t = (t | (t >> 2)) & 0x0f0f;
    t = (t | (t >> 4)) & 0x00ff;
    t as u16
}

/// The FSAVE header of legacy area `fx` (Linux's convert_from_fxsr + status and magic).
/// `cs` and `ds` stand for the FPU's code and data selectors, which 64-bit FXSAVE does not
/// keep (Linux uses the task's CS and DS too).
pub fn fsave_header(fx: &[u8; 512], cs: u16, ds: u16) -> [u8; FSAVE_HEADER as usize] {
    let mut h = [0u8; FSAVE_HEADER as usize];
    let w16 = |o: usize| u32::from(u16::from_le_bytes([fx[o], fx[o + 1]]));
    let w32 = |o: usize| u32::from_le_bytes([fx[o], fx[o + 1], fx[o + 2], fx[o + 3]]);
    let env = [
        w16(0) | 0xffff_0000,
        w16(2) | 0xffff_0000,
        twd_fxsr_to_i387(fx),
        w32(8),
        u32::from(cs),
        w32(16),
        u32::from(ds) | 0xffff_0000,
    ];
    for (i, v) in env.iter().enumerate() {
        h[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    for i in 0..8 {
        h[28 + i * 10..38 + i * 10].copy_from_slice(&fx[32 + i * 16..42 + i * 16]);
    }
    h[108..110].copy_from_slice(&fx[2..4]);
    h[110..112].copy_from_slice(&X86_FXSR_MAGIC.to_le_bytes());
    h
}

/// Folds an FSAVE environment over the legacy area (Linux's convert_to_fxsr): control,
/// status, tag, opcode (from the high half of the code selector word), the instruction and
/// operand pointers, and the eight registers. MXCSR and the XMM registers stay the area's.
fn fold_env(fpu: &mut FpuState, env: &[u8; FSAVE_ENV]) -> Result<(), BadFpstate> {
    let mut fx = [0u8; 512];
    fx.copy_from_slice(&fpu.bytes()[..512]);
    fold_env_into(&mut fx, env);
    fpu.set_legacy(&fx);
    Ok(())
}

/// [`fold_env`] on a legacy image (an i386 tracer's SETFPREGS, ptrace/compat_regset.rs).
pub fn fold_env_into(fx: &mut [u8; 512], env: &[u8; FSAVE_ENV]) {
    let e =
        |i: usize| u32::from_le_bytes([env[i * 4], env[i * 4 + 1], env[i * 4 + 2], env[i * 4 + 3]]);
    fx[0..2].copy_from_slice(&(e(0) as u16).to_le_bytes());
    fx[2..4].copy_from_slice(&(e(1) as u16).to_le_bytes());
    fx[4..6].copy_from_slice(&twd_i387_to_fxsr(e(2) as u16).to_le_bytes());
    fx[6..8].copy_from_slice(&((e(4) >> 16) as u16).to_le_bytes());
    fx[8..16].copy_from_slice(&u64::from(e(3)).to_le_bytes());
    fx[16..24].copy_from_slice(&u64::from(e(5)).to_le_bytes());
    for i in 0..8 {
        fx[32 + i * 16..42 + i * 16].copy_from_slice(&env[28 + i * 10..38 + i * 10]);
    }
}

/// Writes the current task's state into an i386 frame's fpstate at `buf` (64-aligned plus
/// [`FSAVE_HEADER`]: the XSAVE area at `buf + 112` must be 64-aligned): the XSAVE area as a
/// 64-bit frame's, then the FSAVE header made from the legacy area just written.
pub fn save_to_sigframe_ia32(buf: u64, cs: u16, ds: u16) -> Result<(), Efault> {
    save_to_sigframe(buf + FSAVE_HEADER)?;
    let mut fx = [0u8; 512];
    copy_from_user(&mut fx, buf + FSAVE_HEADER)?;
    copy_to_user(buf, &fsave_header(&fx, cs, ds))
}

/// Restores an i386 frame's fpstate at `buf` (0: the initial state): the XSAVE area at
/// `buf + 112` checked as a 64-bit frame's, the header's x87 part folded over it.
pub fn restore_from_sigframe_ia32(buf: u64) -> Result<(), BadFpstate> {
    if buf == 0 {
        return restore_from_sigframe(0);
    }
    let mut env = [0u8; FSAVE_ENV];
    if copy_from_user(&mut env, buf).is_err() {
        // Unreadable: the initial state, and the caller's SIGSEGV.
        let _ = restore_from_sigframe(0);
        return Err(BadFpstate);
    }
    restore_folded(buf + FSAVE_HEADER, Some(&env))
}

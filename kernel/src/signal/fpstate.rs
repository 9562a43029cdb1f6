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
    let inner = task::current_inner();
    for _ in 0..MAX_TRIES {
        let n = switches();
        let r = read_fpstate(&mut inner.fpu, fpstate);
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

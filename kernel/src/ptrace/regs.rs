//! A stopped tracee's registers as a tracer sees them: `user_regs_struct` (GETREGS,
//! PEEKUSR, NT_PRSTATUS), the FXSAVE image (GETFPREGS, NT_PRFPREG) and the syscall a stop
//! describes (GET_SYSCALL_INFO).
//!
//! Every function here is called by the tracer while the tracee is stopped and off its CPU
//! (`check_stopped`), under nothing else: the general registers are in the tracee's user
//! frame at the top of its kernel stack, the FS/GS bases, selectors and FPU state in its
//! saved `TaskInner`, where the next switch-in loads them from.

use crate::task::Task;
use core::sync::atomic::{AtomicBool, Ordering};
use kentry::Regs;
use kentry_kernel_logic::ptrace::{self as logic, reg};

/// Test kernels (`kentry.break=ptrace_regs`): a tracer's register writes are taken as given,
/// without Linux's checks or the selector's load check, for the negative run that shows them
/// needed.
pub static BREAK_REG_CHECKS: AtomicBool = AtomicBool::new(false);

/// `put_reg`'s answer, or with the checks broken the value as given.
fn checked(index: usize, value: u64, cur: u64, forced_tf: bool) -> Result<u64, i64> {
    if BREAK_REG_CHECKS.load(Ordering::Relaxed) {
        return Ok(value);
    }
    logic::put_reg(index, value, cur, forced_tf).map_err(|e| -e)
}

/// The tracee's user frame.
///
/// # Safety
/// `t` is a user task stopped in a ptrace stop and off its CPU, and the caller holds its
/// ptrace lock with the stop published (the tracee touches the frame again only after it
/// has seen the stop end under that lock).
#[allow(clippy::mut_from_ref)]
unsafe fn frame(t: &Task) -> &mut Regs {
    // SAFETY: per the contract; the frame of a task in the kernel from user mode is at the
    // top of its stack (kentry's `TaskEntry::user_regs`).
    unsafe { &mut *t.entry.user_regs() }
}

/// `user_regs_struct` of stopped tracee `t` (Linux's `getreg` for each).
pub fn get_all(t: &Task) -> [u64; reg::COUNT] {
    let st = t.ptrace.state.lock();
    // SAFETY: `t` is stopped and off-CPU (the request checked it), its lock is held.
    let (r, inner) = unsafe { (frame(t), t.inner()) };
    let [ds, es, fs, gs] = inner.selectors.0;
    let mut u = [0u64; reg::COUNT];
    u[reg::R15] = r.r15;
    u[reg::R14] = r.r14;
    u[reg::R13] = r.r13;
    u[reg::R12] = r.r12;
    u[reg::RBP] = r.rbp;
    u[reg::RBX] = r.rbx;
    u[reg::R11] = r.r11;
    u[reg::R10] = r.r10;
    u[reg::R9] = r.r9;
    u[reg::R8] = r.r8;
    u[reg::RAX] = r.rax;
    u[reg::RCX] = r.rcx;
    u[reg::RDX] = r.rdx;
    u[reg::RSI] = r.rsi;
    u[reg::RDI] = r.rdi;
    u[reg::ORIG_RAX] = r.orig_rax;
    u[reg::RIP] = r.rip;
    u[reg::CS] = r.cs & 0xffff;
    u[reg::EFLAGS] = logic::get_flags(r.rflags, st.forced_tf);
    u[reg::RSP] = r.rsp;
    u[reg::SS] = r.ss & 0xffff;
    u[reg::FS_BASE] = inner.fs_base;
    u[reg::GS_BASE] = inner.gs_base;
    u[reg::DS] = ds as u64;
    u[reg::ES] = es as u64;
    u[reg::FS] = fs as u64;
    u[reg::GS] = gs as u64;
    u
}

/// Writes register `index` of stopped tracee `t` (Linux's `putreg`): Err(EIO) for a value
/// the tracee could not run with, checked by `kentry_kernel_logic::ptrace::put_reg`.
pub fn put(t: &Task, index: usize, value: u64) -> Result<(), i64> {
    let mut st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`.
    let (r, inner) = unsafe { (frame(t), t.inner()) };
    let slot: &mut u64 = match index {
        reg::R15 => &mut r.r15,
        reg::R14 => &mut r.r14,
        reg::R13 => &mut r.r13,
        reg::R12 => &mut r.r12,
        reg::RBP => &mut r.rbp,
        reg::RBX => &mut r.rbx,
        reg::R11 => &mut r.r11,
        reg::R10 => &mut r.r10,
        reg::R9 => &mut r.r9,
        reg::R8 => &mut r.r8,
        reg::RAX => &mut r.rax,
        reg::RCX => &mut r.rcx,
        reg::RDX => &mut r.rdx,
        reg::RSI => &mut r.rsi,
        reg::RDI => &mut r.rdi,
        reg::ORIG_RAX => &mut r.orig_rax,
        reg::RIP => &mut r.rip,
        reg::CS => &mut r.cs,
        reg::EFLAGS => &mut r.rflags,
        reg::RSP => &mut r.rsp,
        reg::SS => &mut r.ss,
        reg::FS_BASE => &mut inner.fs_base,
        reg::GS_BASE => &mut inner.gs_base,
        reg::DS | reg::ES | reg::FS | reg::GS => {
            let v = checked(index, value, 0, false)? as u16;
            // The context switch loads it without a fault fixup: a selector naming no
            // segment the user could load becomes null now (Linux's load would fault and
            // leave null).
            let unchecked = BREAK_REG_CHECKS.load(Ordering::Relaxed);
            let v = if unchecked || crate::task::segments::loadable(v, &t.process.ldt) {
                v
            } else {
                0
            };
            inner.selectors.0[index - reg::DS] = v;
            return Ok(());
        }
        _ => return Err(-crate::syscall::errno::EIO),
    };
    let v = checked(index, value, *slot, st.forced_tf)?;
    if index == reg::EFLAGS && logic::put_flags_clears_forced_tf(value) {
        st.forced_tf = false;
    }
    *slot = v;
    Ok(())
}

/// PTRACE_ARCH_PRCTL on stopped tracee `t` (Linux's `do_arch_prctl_64` for another task):
/// ARCH_SET_FS/GS give it a null selector and the base `arg` (EPERM for a kernel address);
/// ARCH_GET_FS/GS return its base, for the caller to write at `arg`. Err(EINVAL) for any
/// other code.
pub fn arch_prctl(t: &Task, code: u64, arg: u64) -> Result<Option<u64>, i64> {
    const ARCH_SET_GS: u64 = 0x1001;
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    const ARCH_GET_GS: u64 = 0x1004;
    let _st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`.
    let inner = unsafe { t.inner() };
    let (base, selector) = match code {
        ARCH_SET_FS | ARCH_GET_FS => (&mut inner.fs_base, reg::FS - reg::DS),
        ARCH_SET_GS | ARCH_GET_GS => (&mut inner.gs_base, reg::GS - reg::DS),
        _ => return Err(-crate::syscall::errno::EINVAL),
    };
    if code == ARCH_GET_FS || code == ARCH_GET_GS {
        return Ok(Some(*base));
    }
    if arg >= kentry::sysret::TASK_SIZE_MAX {
        return Err(-crate::syscall::errno::EPERM);
    }
    inner.selectors.0[selector] = 0;
    *base = arg;
    Ok(None)
}

/// PTRACE_GET_THREAD_AREA / PTRACE_SET_THREAD_AREA: one of the stopped tracee's three GDT
/// TLS slots (task/tls.rs), as its next switch-in will load them.
pub fn thread_area(t: &Task, set: bool, addr: u64, data: u64) -> Result<i64, i64> {
    let _st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`: the tracee is stopped and off its CPU; its slots, selectors
    // and bases are in memory, where its next switch-in reads them.
    let inner = unsafe { t.inner() };
    if set {
        crate::task::tls::ptrace_set(inner, addr, data)
    } else {
        crate::task::tls::ptrace_get(&inner.tls, addr, data)
    }
}

/// A 32-bit tracer's write of FS or GS (`index` is [`reg::FS`] or [`reg::GS`]): the selector
/// as [`put`] takes it, then the base its descriptor gives (Linux's `putreg32`: an i386
/// debugger restoring a saved state expects the base to follow the selector).
pub fn put_seg_with_base(t: &Task, index: usize, value: u64) -> Result<(), i64> {
    put(t, index, value)?;
    // An LDT selector's base is in the tracee's LDT (read before the tracee's state is held:
    // the LDT has its own lock).
    let ldt_base = (value as u16 & 4 != 0).then(|| t.process.ldt.selector_base(value as u16));
    let _st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`.
    let inner = unsafe { t.inner() };
    let sel = inner.selectors.0[index - reg::DS];
    let base = match ldt_base {
        // `put` may have made the selector null (an entry the tracee cannot load).
        Some(b) if sel & 4 != 0 => b,
        _ => crate::task::tls::selector_base(&inner.tls, sel),
    };
    if index == reg::FS {
        inner.fs_base = base;
    } else {
        inner.gs_base = base;
    }
    Ok(())
}

/// SETREGS / NT_PRSTATUS: writes `vals` register by register in `user_regs_struct` order,
/// stopping at the first refused one (what was written before stays, as in Linux's
/// `genregs_set`).
pub fn put_all(t: &Task, vals: &[u64]) -> Result<(), i64> {
    for (i, v) in vals.iter().enumerate().take(reg::COUNT) {
        put(t, i, *v)?;
    }
    Ok(())
}

/// The tracee's legacy FXSAVE image (GETFPREGS, NT_PRFPREG).
pub fn get_fp(t: &Task) -> [u8; logic::USER_FPREGS_SIZE] {
    let _st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`: its FPU state was saved when it switched away.
    unsafe { t.inner().fpu.legacy() }
}

/// NT_X86_XSTATE: the tracee's XSAVE area in the user format, with XCR0 in the legacy area's
/// first reserved word (Linux's xstateregs_get). Err(ENODEV) without XSAVE.
pub fn get_xstate(t: &Task) -> Result<alloc::vec::Vec<u8>, i64> {
    if !crate::task::xstate::config().xsave() {
        return Err(-kentry_abi::errno::ENODEV);
    }
    let _st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`.
    let mut img = unsafe { t.inner().fpu.export() };
    crate::task::xstate::put_ptrace_sw_words(&mut img);
    Ok(img)
}

/// NT_X86_XSTATE set: a whole user-format XSAVE area (Linux's xstateregs_set: EFAULT for
/// anything shorter); EINVAL for a header or MXCSR XRSTOR would fault on (the tracee's state
/// then stays as it was).
pub fn put_xstate(t: &Task, area: &[u8]) -> Result<(), i64> {
    use crate::task::xstate;
    if !xstate::config().xsave() {
        return Err(-kentry_abi::errno::ENODEV);
    }
    if area.len() != xstate::user_size() {
        return Err(-kentry_abi::errno::EFAULT);
    }
    let mut fpu = crate::task::fpu::FpuState::initial();
    fpu.bytes_mut().copy_from_slice(area);
    xstate::accept_user(&mut fpu, area.len(), u64::MAX).map_err(|_| -kentry_abi::errno::EINVAL)?;
    let _st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`.
    unsafe { t.inner().fpu = fpu };
    Ok(())
}

/// SETFPREGS: Err(EINVAL) for MXCSR bits the CPU does not have (FXRSTOR would fault in the
/// kernel at the tracee's next switch-in), as Linux's `xfpregs_set`.
pub fn put_fp(t: &Task, image: &[u8; logic::USER_FPREGS_SIZE]) -> Result<(), i64> {
    let mxcsr = u32::from_ne_bytes(image[24..28].try_into().unwrap_or([0; 4]));
    if mxcsr & !crate::task::fpu::mxcsr_mask() != 0 {
        return Err(-crate::syscall::errno::EINVAL);
    }
    let _st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`.
    unsafe { t.inner().fpu.set_legacy(image) };
    Ok(())
}

/// `u_debugreg[n]` (PEEKUSR): x86/debugreg.rs.
pub fn get_debugreg(t: &Task, n: usize) -> u64 {
    crate::x86::debugreg::ptrace_get_debugreg(t, n)
}

/// POKEUSR of `u_debugreg[n]`: x86/debugreg.rs (Linux's rules; -EIO, -EINVAL).
pub fn put_debugreg(t: &Task, n: usize, v: u64) -> Result<(), i64> {
    crate::x86::debugreg::ptrace_set_debugreg(t, n, v)
}

/// PTRACE_GET_SYSCALL_INFO's answer for stopped tracee `t` (`struct ptrace_syscall_info`,
/// its meaningful size).
/// A tracee stopped inside an `int $0x80` call (its saved work word has kentry's
/// `TS_COMPAT`) is described in i386 terms, as Linux's `syscall_get_arch` and
/// `syscall_get_arguments` do for a compat task: AUDIT_ARCH_I386, and RBX, RCX, RDX, RSI,
/// RDI, RBP as the registers hold them (64 bits: Linux copies them whole).
pub fn syscall_info(t: &Task) -> ([u8; 88], usize) {
    use kentry_kernel_logic::seccomp_bpf::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};
    let st = t.ptrace.state.lock();
    // SAFETY: as in `get_all`.
    let r = unsafe { frame(t) };
    let ia32 = crate::syscall::compat::task_in_ia32_syscall(t);
    let (op, size) = logic::syscall_info_op(st.siginfo.map(|i| i.code), st.event_msg);
    let mut b = [0u8; 88];
    b[0] = op;
    let arch = if ia32 {
        AUDIT_ARCH_I386
    } else {
        AUDIT_ARCH_X86_64
    };
    b[4..8].copy_from_slice(&arch.to_ne_bytes());
    b[8..16].copy_from_slice(&r.rip.to_ne_bytes());
    b[16..24].copy_from_slice(&r.rsp.to_ne_bytes());
    match op {
        logic::info_op::ENTRY | logic::info_op::SECCOMP => {
            let args = if ia32 {
                [r.orig_rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp]
            } else {
                [r.orig_rax, r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]
            };
            for (i, a) in args.iter().enumerate() {
                b[24 + i * 8..32 + i * 8].copy_from_slice(&a.to_ne_bytes());
            }
            if op == logic::info_op::SECCOMP {
                let data = st.event_msg as u32;
                b[80..84].copy_from_slice(&data.to_ne_bytes());
            }
        }
        logic::info_op::EXIT => {
            let rval = r.rax as i64;
            b[24..32].copy_from_slice(&rval.to_ne_bytes());
            b[32] = (-4095..0).contains(&rval) as u8;
        }
        _ => {}
    }
    (b, size)
}

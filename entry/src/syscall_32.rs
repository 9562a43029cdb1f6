//! The i386 system call path in Rust: `int $0x80` (Linux's `do_int80_syscall_32`).
//!
//! Linux's ABI since 4.17, for 64-bit and 32-bit callers alike: EAX is the number (zero
//! extended into `orig_rax`), EBX, ECX, EDX, ESI, EDI, EBP are arguments 1–6 (the host reads
//! their low 32 bits), every register but RAX comes back as it was — R8–R11 included — and
//! RAX is the handler's 64-bit result (an error is -errno in all 64 bits).
//!
//! The path is the SYSCALL path's ([`crate::syscall_entry`]) with two differences: the
//! running task is marked as in a compat syscall ([`TS_COMPAT`], Linux's `TS_COMPAT` in
//! `thread_info.status`) from entry until its return to user mode, so that whatever asks
//! "which calling convention?" in between — seccomp's `seccomp_data.arch`, a tracer's
//! PTRACE_GET_SYSCALL_INFO, the signal code's restart of an interrupted call
//! (`restart_syscall` is 0 on i386, 219 on x86-64) — can answer ([`in_ia32_syscall`]);
//! and the host dispatches through its i386 table ([`Host::syscall_ia32`]). `int $0x80`
//! always returns by IRET; SYSCALL from compat mode returns by SYSRETL when the frame allows
//! it ([`do_fast_syscall_32`]).
//!
//! [`Host::syscall_ia32`]: crate::Host::syscall_ia32

/// Status bit of the running task's work word (neither exit work nor syscall work, so no
/// path's test sees it): the task is inside an i386 system call. Set at the `int $0x80`
/// entry, cleared after the exit work, just before the return to user mode (Linux clears
/// `TS_COMPAT` in `arch_exit_to_user_mode_prepare`). The word follows the task across
/// switches ([`crate::task::switch_to`]), so a call that sleeps keeps it, and an off-CPU
/// task's copy ([`TaskEntry::pending_work`]) tells a tracer what a stopped tracee is in.
///
/// [`TaskEntry::pending_work`]: crate::task::TaskEntry::pending_work
pub const TS_COMPAT: u64 = 1 << 24;

const _: () = {
    assert!(TS_COMPAT & crate::exit_work::ExitWork::all().bits() == 0);
    assert!(TS_COMPAT & crate::syscall_work::SYSCALL_WORK_MASK == 0);
};

/// Whether the running task is inside an i386 system call (Linux's `in_ia32_syscall`).
#[cfg(any(target_os = "none", doc))]
#[inline(always)]
pub fn in_ia32_syscall() -> bool {
    crate::entry_percpu::this_cpu_ops::task_work() & TS_COMPAT != 0
}

/// The Rust half of SYSCALL from compat mode (Linux's `do_fast_syscall_32`). The CSTAR stub
/// built the frame with ECX's slot holding EBP, the second argument (SYSCALL overwrote ECX
/// with the return EIP, so the caller passes argument 2 in EBP instead); the sixth argument
/// is the 32-bit word at `[ESP]`, read here into EBP's low half. If that read faults, the call
/// does not run: it returns -EFAULT and nothing else happens (E30). Interrupts are off on
/// entry (FMASK) and on return.
///
/// The call returns to the 32-bit vDSO's landing pad when the process has one
/// ([`crate::Host::vdso32_landing_pad`]), as in Linux: there the vDSO pops the ECX, EDX and
/// EBP it saved (so ECX, lost to SYSRETL's EIP, comes back), and a restart backs RIP up onto
/// the `int $0x80` before the pad, which re-runs the call with the frame's registers. A
/// process without one (a 64-bit program far-jumped into 32-bit code) returns after the
/// `syscall` instruction.
///
/// Returns true when the stub may leave by SYSRETL ([`crate::sysret::sysretl_allowed`]: the
/// frame is still the one the entry would return to), false for IRET. As in Linux, a faulted
/// sixth argument always goes by IRET ("keep it simple").
///
/// `return_ip` is the slot the stubs reserve below the frame for the call's 16-byte alignment
/// (frame.rs): it holds the entry's return point across the call, written once here and read
/// back for the SYSRETL test. Kept there rather than in a register, the return point costs
/// this function no callee-saved register (a push, a pop, and one more slot to realign its
/// own calls).
///
/// # Safety
/// `return_ip` is valid for reads and writes of a u64 and lies outside `regs`.
#[cfg(any(target_os = "none", doc))]
#[inline(always)]
pub unsafe fn do_fast_syscall_32<H: crate::Host>(
    regs: &mut crate::Regs,
    return_ip: *mut u64,
) -> bool {
    crate::irqentry::tripwires::<H>();
    crate::irqentry::enter_from_user_mode::<H>(regs, None);
    crate::instrumentation_begin!();
    crate::entry_percpu::this_cpu_ops::set_ts_compat();
    crate::irqentry::local_irq_enable();
    // Where this entry returns (Linux's `landing_pad`), set before anything runs: a restart
    // backs up from there, and the SYSRETL test compares the final RIP with it. The lookup
    // takes the address-space lock, hence after enabling IRQs.
    // A u32 either way: the vDSO's pad, or the EIP after `syscall` that SYSCALL put in ECX
    // (compat mode: its upper half is zero; a SYSENTER frame holds 0 there).
    let landing_pad = u64::from(H::vdso32_landing_pad().unwrap_or(regs.rip as u32));
    regs.rip = landing_pad;
    // SAFETY: the caller's slot (# Safety).
    unsafe { return_ip.write(landing_pad) };
    let Some(arg6) = H::get_user_u32(regs.rsp as u32 as u64) else {
        // The caller's stack is bad: no tracer stop, no seccomp, no call (Linux's "user code
        // screwed up"), and the way back is IRET ("keep it simple").
        regs.rax = (-14i64) as u64;
        crate::irqentry::exit_to_user_mode::<H>(regs);
        crate::entry_percpu::this_cpu_ops::clear_ts_compat();
        return false;
    };
    // EBP's low half only, as Linux's `__get_user(*(u32 *)&regs->bp, ...)`: one store.
    // SAFETY: `rbp` is an aligned u64 of the frame; its first four bytes are its low half
    // (little-endian).
    unsafe { core::ptr::addr_of_mut!(regs.rbp).cast::<u32>().write(arg6) };
    if crate::entry_percpu::this_cpu_ops::syscall_work_pending() {
        crate::syscall_work::syscall_enter_from_user_mode_work::<H, true>(
            regs,
            crate::entry_percpu::this_cpu_ops::task_work(),
        );
    } else {
        H::syscall_ia32(regs, regs.orig_rax as i32);
    }
    crate::irqentry::exit_to_user_mode::<H>(regs);
    crate::entry_percpu::this_cpu_ops::clear_ts_compat();
    // Read back from the stub's slot (a volatile read: otherwise the compiler may keep the
    // value in a callee-saved register across the calls, the push and pop this slot saves).
    // The slot holds a zero-extended u32 (above): its low half (little-endian) is all of it,
    // and a RIP equal to it is below 4 GiB.
    // SAFETY: the caller's slot (# Safety), written above; its first four bytes, aligned.
    let landing_pad = unsafe { core::ptr::read_volatile(return_ip.cast::<u32>()) };
    crate::sysret::sysretl_allowed(regs, landing_pad)
}

/// The Rust half of SYSENTER (Linux's `do_SYSENTER_32`): SYSENTER saved neither the user's
/// ESP nor EIP. The vDSO's `__kernel_vsyscall` left ESP in EBP (`movl %esp, %ebp`), so the
/// stub put EBP, zero-extended, in the frame's RSP; RIP is the landing pad that [`do_fast_syscall_32`]
/// sets (0 without a 32-bit vDSO: the process faults there). SYSENTER cleared IF, which was
/// set in user mode. It left R11 alone, and the frame keeps the user's R11: SYSRETL's stub
/// takes R11 from the flags slot (so the program gets R11 = EFLAGS, as after SYSCALL), an
/// IRET gives the saved one back. Then the compat SYSCALL's path: the sixth argument at
/// `[ESP]` (E30), SYSRETL or IRET back.
///
/// # Safety
/// As [`do_fast_syscall_32`]'s.
#[cfg(any(target_os = "none", doc))]
#[inline(always)]
pub unsafe fn do_sysenter_32<H: crate::Host>(regs: &mut crate::Regs, return_ip: *mut u64) -> bool {
    regs.rflags |= crate::frame::rflags::IF;
    // SAFETY: the caller's promise, passed on.
    unsafe { do_fast_syscall_32::<H>(regs, return_ip) }
}

/// The Rust half of the `int $0x80` path (Linux's `do_int80_syscall_32`). Interrupts are off
/// on entry (interrupt gate) and off on return; the stub returns by IRET.
#[cfg(any(target_os = "none", doc))]
#[inline(always)]
pub fn do_int80_syscall_32<H: crate::Host>(regs: &mut crate::Regs) {
    crate::irqentry::tripwires::<H>();
    crate::irqentry::enter_from_user_mode::<H>(regs, Some(crate::vectors::IA32_SYSCALL));
    crate::instrumentation_begin!();
    crate::entry_percpu::this_cpu_ops::set_ts_compat();
    crate::irqentry::local_irq_enable();
    if crate::entry_percpu::this_cpu_ops::syscall_work_pending() {
        crate::syscall_work::syscall_enter_from_user_mode_work::<H, true>(
            regs,
            crate::entry_percpu::this_cpu_ops::task_work(),
        );
    } else {
        H::syscall_ia32(regs, regs.orig_rax as i32);
    }
    crate::irqentry::exit_to_user_mode::<H>(regs);
    // IRQs off, the exit work done: nothing can ask any more until the next entry. One
    // locked `and` on this CPU's word (other CPUs may raise work in it meanwhile), inline:
    // context tracking may already say "user", where the entry text rules allow no call.
    crate::entry_percpu::this_cpu_ops::clear_ts_compat();
}

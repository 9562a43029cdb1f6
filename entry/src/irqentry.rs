//! Entry and exit for syscalls, interrupts, exceptions and the NMI-like IST vectors.
//!
//! Every way into the kernel goes through one of these, and each updates and checks context
//! tracking: at every non-NMI entry exactly one of "from user with a user frame", "from kernel
//! with a kernel frame" and "nested in an NMI-like entry" must hold, or the host reports it.
//!
//! The paths, and which [`Host`](crate::Host) method each reaches:
//!
//! | way in | stack | Rust path | host method | context |
//! |---|---|---|---|---|
//! | SYSCALL | task stack | `do_syscall_64`: [`enter_from_user_mode`], IRQs on, dispatch, [`exit_to_user_mode`] | `syscall` | task, IRQs on, may sleep |
//! | exception < 32 (not IST) | task stack (or the interrupted kernel stack) | `do_idt`: [`irqentry_enter`], handler, [`irqentry_exit`] | `exception` | IRQs off; from user it is the task's own (signals go out through exit work) |
//! | interrupt ≥ 32 | as above | as above | `interrupt` | IRQs off, must not sleep |
//! | #DB, #MC from user mode | moved from the IST stack to the task stack | `do_idt`: `irqentry_enter`, handler, `irqentry_exit` | `ist_exception_from_user` | IRQs off; the task's own, like `exception` |
//! | NMI from user mode | moved to the task stack | `do_idt`: [`irqentry_nmi_enter`], handler, [`irqentry_nmi_exit`] (once more for each latched nested NMI) | `nmi_like` | NMI context |
//! | NMI, #DB, #MC from kernel mode; #DF | own IST stack | `do_paranoid`: `irqentry_nmi_enter`, handler, `irqentry_nmi_exit` (a kernel-mode NMI: once more for each latched nested NMI, arch/nmi.rs) | `nmi_like` | NMI context |
//! | a new task's first return | task stack | `ret_from_fork`: `exit_to_user_mode` | `exit_work` | — |
//!
//! Kernel preemption: at the return of an interrupt or non-IST exception to kernel mode
//! (`FromKernel`) whose frame had interrupts on, kentry asks [`Host::irq_exit_preemptible`]
//! and, if it says yes and NEED_RESCHED is set, calls [`Host::preempt_schedule_irq`] from a
//! cold out-of-line function (Linux's `irqentry_exit_cond_resched`). NMI-like paths, the
//! idle EQS and returns to user never do (user returns preempt through the exit work). With
//! the host's default answer (`false`) the check compiles to nothing.
//!
//! [`Host::irq_exit_preemptible`]: crate::Host::irq_exit_preemptible
//! [`Host::preempt_schedule_irq`]: crate::Host::preempt_schedule_irq
//!
//! NMI context: the handler may have interrupted any instruction, including the kernel
//! holding any lock with IRQs off, or an entry stub before its stack switch. It must not
//! sleep, take a lock that normal context takes, or expect exit work to run before the
//! return (the return path runs none after an NMI): what it wants done later it raises as
//! work for the next exit, or sends itself an IPI.

#[cfg(any(target_os = "none", doc))]
pub use imp::*;

/// What the CPU reported with an exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The exception vector (see [`crate::vectors`]).
    pub vector: u8,
    /// The CPU's error code, 0 for vectors without one.
    pub error_code: u64,
    /// CR2 as read first thing on the way in (page faults only, else 0).
    pub cr2: u64,
}

#[cfg(any(target_os = "none", doc))]
mod imp {
    use crate::context_tracking::{ContextTracking, EntryContext};
    use crate::entry_percpu::EntryPerCpu;
    use crate::exit_work::{ExitWork, ExitWorkOps, exit_to_user_mode_loop};
    use crate::frame::Regs;
    use crate::test_hooks::{self, Check};
    use crate::{Host, vectors};
    use core::marker::PhantomData;
    use core::sync::atomic::Ordering;
    use x86_64::instructions::interrupts;

    /// Tripwire T1 (test kernels): the live GS base must be this CPU's per-CPU base. A stub
    /// that got its `swapgs` decision wrong lands here with the user's GS.
    #[inline(always)]
    pub(crate) fn tripwires<H: Host>() {
        #[cfg(feature = "test-hooks")]
        {
            // T1: the live GS base is a per-CPU area — checked from the MSR, before anything
            // is read through GS — and it is this CPU's own (its self pointer agrees).
            // The raw MSR: `GsBase::read` would build a `VirtAddr`, whose check can panic,
            // and this runs before context tracking says "kernel" (noinstr).
            // SAFETY: reading IA32_GS_BASE has no side effect.
            let live = unsafe {
                x86_64::registers::model_specific::Msr::new(crate::msr::IA32_GS_BASE).read()
            };
            if !H::is_percpu_base(live) {
                crate::instrumentation_begin!();
                panic!("T1 tripwire: live GS base {live:#x} is not a per-CPU area");
            }
            let mine = crate::entry_percpu::this_cpu()
                .self_ptr
                .load(Ordering::Relaxed);
            if live != mine {
                crate::instrumentation_begin!();
                panic!("T1 tripwire: live GS base {live:#x} is not this CPU's ({mine:#x})");
            }
            // T2: Rust runs on a kernel stack (never a user RSP left by a stub).
            let rsp: u64;
            // SAFETY: reading RSP.
            unsafe { core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack)) };
            if !H::on_kernel_stack(rsp) {
                crate::instrumentation_begin!();
                panic!("T2 tripwire: entry code runs on RSP {rsp:#x}, not a kernel stack");
            }
        }
    }

    /// User → kernel at a syscall or at an exception/IRQ from user mode: make RCU watch again,
    /// check the state had been "user" with no NMI-like nesting, then the host's
    /// [`Host::user_exit`] hook (time accounting on `nohz_full` CPUs).
    #[inline(always)]
    pub fn enter_from_user_mode<H: Host>(regs: &Regs, vector: Option<u8>) {
        use crate::context_tracking::{CONTEXT_TRACKING, USER_HOOKS};
        crate::static_select!(
            USER_HOOKS => {
                ct_user_exit_checked::<H>(regs, vector);
                // Context tracking says "kernel": the host's hook may be anything.
                H::user_exit();
            },
            CONTEXT_TRACKING => { ct_user_exit_checked::<H>(regs, vector) },
        );
    }

    /// Context tracking's user → kernel transition, checked (the word must have said "user,
    /// no NMI-like nesting"). Ends the noinstr part: RCU watches again.
    #[inline(always)]
    fn ct_user_exit_checked<H: Host>(regs: &Regs, vector: Option<u8>) {
        if let Err(word) = crate::entry_percpu::this_cpu_ops::ct_exit_user_checked() {
            crate::instrumentation_begin!();
            user_entry_violation::<H>(regs, vector.map_or(u32::MAX, u32::from), word)
        }
        crate::instrumentation_begin!();
    }

    /// Kept out of line and given plain integers, so the fast path carries no stack frame for
    /// the report.
    #[cold]
    #[inline(never)]
    fn user_entry_violation<H: Host>(regs: &Regs, vector: u32, word: u64) -> ! {
        let vector = u8::try_from(vector).ok();
        H::context_violation(regs, vector, ContextTracking::violation(word, true))
    }

    /// `sti`. (x86_64's `interrupts::enable` adds a `nop`, one more instruction on every
    /// syscall.)
    #[inline(always)]
    pub fn local_irq_enable() {
        // SAFETY: enabling interrupts in kernel context, where every entry path is ready for
        // them.
        unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
    }

    /// The exit-work loop's view of the running task. It holds no per-CPU reference: the
    /// work flags live in the per-CPU area of the CPU the task runs on, and handling work may
    /// schedule, after which the task can run on another CPU. Each look at the flags reads
    /// them through GS, on the CPU of the moment. (A reference taken before the loop read the
    /// first CPU's word after a migration: the flags of whatever task ran there now, while
    /// this task's own, EXITING from an exec'ing sibling among them, went unseen — a thread
    /// an exec waited for spun in its exit loop for ever.)
    struct HostExitOps<'a, H: Host> {
        regs: &'a mut Regs,
        _host: PhantomData<H>,
    }

    impl<H: Host> ExitWorkOps for HostExitOps<'_, H> {
        #[inline(always)]
        fn pending(&mut self) -> ExitWork {
            ExitWork::from_bits_truncate(crate::entry_percpu::this_cpu_ops::task_work())
        }
        #[inline(always)]
        fn local_irq_enable(&mut self) {
            local_irq_enable();
        }
        #[inline(always)]
        fn local_irq_disable(&mut self) {
            interrupts::disable();
        }
        fn handle(&mut self, work: ExitWork) {
            // Linux's order: the syscall's own exit work (a tracer's stop) before signals.
            if work.contains(ExitWork::SYSCALL_EXIT) {
                syscall_exit_work_cold::<H>(self.regs);
            }
            H::exit_work(self.regs, work.difference(ExitWork::SYSCALL_EXIT));
        }
    }

    /// [`ExitWork::SYSCALL_EXIT`]: out of line, so the exit loop's common work (signals,
    /// rescheduling) does not carry it.
    #[cold]
    #[inline(never)]
    fn syscall_exit_work_cold<H: Host>(regs: &mut Regs) {
        crate::entry_percpu::this_cpu().clear_work(ExitWork::SYSCALL_EXIT.bits());
        crate::syscall_work::syscall_exit_to_user_mode_work::<H>(regs);
    }

    /// Kernel → user: the work loop (flags read with IRQs off), then the host's
    /// [`Host::user_enter`] hook (the `nohz_full` tick decision) and context tracking → user.
    /// Returns with interrupts off; they stay off until SYSRET/IRET.
    #[inline(always)]
    pub fn exit_to_user_mode<H: Host>(regs: &mut Regs) {
        interrupts::disable();
        // Exit work only: the persistent syscall-work bits of the same word ask nothing here.
        if crate::entry_percpu::this_cpu_ops::exit_work_pending() {
            exit_work_slow::<H>(regs);
        }
        // The exit work is done: entry text only from here to SYSRET/IRET (with context
        // tracking off as well), but for the host's hook, which runs while the state still
        // says "kernel". (The end before the static-key site, not at the join after it,
        // keeps the site where it lay: a site that straddled an 8-byte word would cost its
        // padding NOP on every return.)
        crate::instrumentation_end!();
        use crate::context_tracking::{CONTEXT_TRACKING, USER_HOOKS};
        crate::static_select!(
            USER_HOOKS => {
                if test_hooks::enabled(Check::CtUserState) {
                    crate::instrumentation_begin!();
                    H::user_enter();
                    crate::instrumentation_end!();
                    crate::entry_percpu::this_cpu_ops::ct_enter_user();
                }
            },
            CONTEXT_TRACKING => {
                if test_hooks::enabled(Check::CtUserState) {
                    crate::entry_percpu::this_cpu_ops::ct_enter_user();
                }
            },
        );
    }

    #[inline(never)]
    fn exit_work_slow<H: Host>(regs: &mut Regs) {
        exit_to_user_mode_loop(&mut HostExitOps::<H> {
            regs,
            _host: PhantomData,
        });
    }

    /// What [`irqentry_enter`] found, for [`irqentry_exit`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct IrqEntryState(pub EntryContext);

    /// What [`irqentry_nmi_enter`] did, for [`irqentry_nmi_exit`] (which needs it, so the
    /// two pair up).
    #[must_use]
    pub struct NmiEntryState(());

    /// Entry of every NMI-like path (NMI in any mode; #DB, #MC from kernel mode; #DF): one
    /// more level of NMI nesting in context tracking, and RCU made to watch if it was not
    /// (Linux's `irqentry_nmi_enter`). No state check: an NMI may land between any two
    /// instructions of a transition.
    #[inline(always)]
    pub fn irqentry_nmi_enter(cpu: &EntryPerCpu) -> NmiEntryState {
        cpu.context_tracking.nmi_enter();
        NmiEntryState(())
    }

    /// Exit of an NMI-like path: undoes exactly what [`irqentry_nmi_enter`] did. No exit
    /// work runs (Linux's `irqentry_nmi_exit`).
    #[inline(always)]
    pub fn irqentry_nmi_exit(cpu: &EntryPerCpu, state: NmiEntryState) {
        let NmiEntryState(()) = state;
        cpu.context_tracking.nmi_exit();
    }

    /// Entry of an interrupt or non-IST exception. With context tracking on, an entry that
    /// finds this CPU in the idle EQS makes RCU watch until [`irqentry_exit`].
    #[inline(always)]
    pub fn irqentry_enter<H: Host>(cpu: &EntryPerCpu, regs: &Regs, vector: u8) -> IrqEntryState {
        if regs.user_mode() {
            enter_from_user_mode::<H>(regs, Some(vector));
            return IrqEntryState(EntryContext::FromUser);
        }
        if !crate::static_branch!(crate::context_tracking::CONTEXT_TRACKING) {
            return IrqEntryState(EntryContext::FromKernel);
        }
        match cpu.context_tracking.classify_entry(false) {
            Ok(EntryContext::FromIdle) => {
                // An interrupt in the idle loop's EQS: RCU watches while the handler runs
                // (its readers are safe), and the exit goes back to idle. Only this CPU
                // writes its word, and IRQs are off: the state cannot change in between.
                if let Err(word) = cpu.context_tracking.exit_idle() {
                    crate::instrumentation_begin!();
                    H::context_violation(
                        regs,
                        Some(vector),
                        ContextTracking::violation(word, false),
                    )
                }
                IrqEntryState(EntryContext::FromIdle)
            }
            Ok(ctx) => IrqEntryState(ctx),
            Err(v) => {
                crate::instrumentation_begin!();
                H::context_violation(regs, Some(vector), v)
            }
        }
    }

    /// Exit of an interrupt or non-IST exception: back to user mode through the exit work
    /// and context tracking → user; back to kernel mode as it was, unless the host says the
    /// interrupted kernel code is preemptible and a reschedule is pending (kernel preemption:
    /// [`Host::irq_exit_preemptible`], [`Host::preempt_schedule_irq`]).
    #[inline(always)]
    pub fn irqentry_exit<H: Host>(regs: &mut Regs, state: IrqEntryState) {
        if state.0 == EntryContext::FromUser {
            if regs.user_mode() {
                exit_to_user_mode::<H>(regs);
            }
        } else if state.0 == EntryContext::FromIdle {
            irq_exit_to_idle::<H>(regs);
        } else if H::irq_exit_preemptible(regs) {
            // A kernel-mode return (`FromKernel`) whose code the host calls preemptible; the
            // cold function tests the frame's IF and NEED_RESCHED. Shaped for the user return:
            // a `FromUser` state never falls in here, and `state` is not tested again (either
            // cost `irq-user` one instruction: LLVM kept a second flag, or put this test
            // between the user return and the epilogue). An exception nested in an NMI-like
            // handler (`NmiNested`, or `FromKernel` with context tracking off) has IF clear in
            // its frame (the gate cleared it and those handlers never set it): never
            // preempted.
            irqentry_exit_cond_resched::<H>(regs);
        }
        // Back to the interrupted kernel context: entry text only from here. (exit_to_user_mode
        // and irq_exit_to_idle have ended the region already; one marker at the join, rather
        // than one in a branch, keeps the common paths' code as it was.)
        crate::instrumentation_end!();
    }

    /// RFLAGS.IF in a frame.
    const RFLAGS_IF: u64 = 1 << 9;

    /// Kernel-mode return that the host calls preemptible (Linux's
    /// `irqentry_exit_cond_resched`): preempt the interrupted code if its frame had
    /// interrupts on (an exception inside an interrupt or NMI-like handler, or one taken with
    /// IRQs off, never preempts) and NEED_RESCHED is set. Out of line and cold: a host's
    /// default `false` removes the call, and this host pays it only at count 0.
    #[cold]
    #[inline(never)]
    fn irqentry_exit_cond_resched<H: Host>(regs: &mut Regs) {
        if regs.rflags & RFLAGS_IF != 0
            && crate::entry_percpu::this_cpu_ops::task_work() & ExitWork::NEED_RESCHED.bits() != 0
        {
            H::preempt_schedule_irq(regs);
        }
    }

    /// Back into the idle EQS after an interrupt that found the CPU there — unless context
    /// tracking was turned off meanwhile (the handler was a key flip's park): the word then
    /// stays "kernel, watching", as the key-off invariant wants, and the idle loop, which
    /// leaves idle only if its word still says so, finds it so.
    /// Out of line (the common returns carry no frame for it), in the entry text: it runs
    /// after the region has ended.
    #[cold]
    #[inline(never)]
    #[unsafe(link_section = ".text.kentry.noinstr")]
    fn irq_exit_to_idle<H: Host>(regs: &Regs) {
        // Into idle, where RCU stops watching: entry text only from here.
        crate::instrumentation_end!();
        if crate::context_tracking::CONTEXT_TRACKING.is_enabled()
            && let Err(word) = crate::entry_percpu::this_cpu()
                .context_tracking
                .enter_idle()
        {
            crate::instrumentation_begin!();
            H::context_violation(regs, None, ContextTracking::violation(word, false))
        }
    }

    unsafe extern "C" {
        /// The one `iretq` that returns to user mode (arch stubs).
        static kentry_iret_to_user: u8;
    }

    /// Address of the `iretq` to user: a #GP/#NP/#SS there is the user's fault (E14).
    #[inline(always)]
    pub fn iret_to_user_address() -> u64 {
        core::ptr::addr_of!(kentry_iret_to_user) as u64
    }

    /// A fault raised by the `iretq` to user: the stub already did `swapgs`. The CPU pushed
    /// this (kernel-mode) frame right below the IRET frame it could not load, and the GPRs
    /// are the user's (the exit path had restored them). Rebuild the user's frame so the fault
    /// is handled as the task's own, from user mode.
    #[inline(always)]
    fn fixup_bad_iret(regs: &mut Regs) {
        // SAFETY: regs.rsp points at the 5-word IRET frame on this task's kernel stack, which
        // the exit path built and which is still mapped and unused.
        let iret = unsafe { core::ptr::read(regs.rsp as *const [u64; 5]) };
        regs.rip = iret[0];
        regs.cs = iret[1];
        regs.rflags = iret[2];
        regs.rsp = iret[3];
        regs.ss = iret[4];
    }

    /// Rust half of every non-IST IDT stub.
    #[inline(always)]
    pub fn do_idt<H: Host>(regs: &mut Regs, vector: u64) {
        let vector = vector as u8;
        let error_code = regs.orig_rax;
        regs.orig_rax = u64::MAX;
        // CR2 first: nothing has run yet that could fault, IF is 0, and NMIs put CR2 back
        // as they found it (E20).
        #[cfg_attr(not(feature = "test-hooks"), allow(unused_mut))]
        let mut cr2 = if vector == vectors::PF {
            x86_64::registers::control::Cr2::read_raw()
        } else {
            0
        };
        // Tripwires before anything is read through GS.
        tripwires::<H>();
        let cpu = crate::entry_percpu::this_cpu();
        if vectors::is_paranoid(vector) {
            // #DB, NMI or #MC from user mode, moved to the task stack by kentry_ist_entry
            // (E19). An NMI stays NMI-like: no exit work (what it raises waits for the next
            // exit, or a self-IPI). #DB and #MC are the task's own: ordinary entry and exit,
            // so a signal they raise is delivered on the way out.
            if vector == vectors::NMI {
                nmi_from_user::<H>(cpu, regs, error_code);
            } else {
                // The handler runs with the breakpoints off, from user mode too (E22: the
                // task's own watchpoints are armed now), as Linux's #MC does. (Linux's user
                // #DB handler keeps them; it touches no user memory, so turning them off
                // changes nothing there.) They are back for the exit work, whose touches of
                // watched user memory are kernel-mode #DBs for the paranoid path.
                let dr7 = local_db_save();
                // From user mode, which the stub has checked: the user-mode entry and exit
                // themselves, as Linux's exc_debug_user and exc_machine_check_user take
                // them. (irqentry_enter/exit would bring their kernel-mode and idle arms,
                // which the compiler cannot see are dead here.)
                enter_from_user_mode::<H>(regs, Some(vector));
                crate::instrumentation_begin!();
                // Neither #DB nor #MC pushes an error code: 0, as for `exception`.
                H::ist_exception_from_user(
                    regs,
                    super::Fault {
                        vector,
                        error_code: 0,
                        cr2: 0,
                    },
                );
                // Back before the exit work, which may schedule (the switch loads DR7 then)
                // or stop for a tracer that rewrites this task's breakpoints.
                local_db_restore(dr7);
                exit_to_user_mode::<H>(regs);
            }
            return;
        }
        if !regs.user_mode()
            && regs.rip == iret_to_user_address()
            && matches!(vector, vectors::GP | vectors::NP | vectors::SS)
            && test_hooks::enabled(Check::IretFixup)
        {
            fixup_bad_iret(regs);
        }
        let state = irqentry_enter::<H>(cpu, regs, vector);
        crate::instrumentation_begin!();
        // Test kernels: the first point where the host may fault, after CR2 was read (E20).
        #[cfg(feature = "test-hooks")]
        if vector == vectors::PF {
            H::test_pf_entry_probe();
            if !test_hooks::enabled(Check::Cr2First) {
                // The negative run: CR2 read late, after a fault could have replaced it.
                cr2 = x86_64::registers::control::Cr2::read_raw();
            }
        }
        if vector < vectors::FIRST_EXTERNAL {
            let error_code = if vectors::has_error_code(vector) {
                error_code
            } else {
                0
            };
            H::exception(
                regs,
                super::Fault {
                    vector,
                    error_code,
                    cr2,
                },
            );
        } else {
            H::interrupt(regs, vector);
        }
        irqentry_exit::<H>(regs, state);
    }

    /// DR7 with no breakpoint enabled: only the bit that always reads as 1.
    const DR7_FIXED_1: u64 = 1 << 10;

    /// Linux's `local_db_save`: turns the debug registers' breakpoints off for an NMI-like
    /// handler and returns DR7 as it was (E22). A data watchpoint — a user's, through ptrace,
    /// on memory the handler also touches, or the kernel's own — would otherwise raise #DB
    /// inside the NMI or #MC handler, on top of its IST frame, or inside a #DB handler,
    /// recursively. Writes DR7 only when a breakpoint is enabled (the write is costly on real
    /// hardware and traps under a hypervisor). Noinstr: one `mov` from and maybe to DR7.
    #[inline(always)]
    fn local_db_save() -> u64 {
        if !test_hooks::enabled(Check::ParanoidDr7) {
            // Test kernels: the negative run, which leaves the breakpoints armed.
            return DR7_FIXED_1;
        }
        let dr7: u64;
        // SAFETY: reading DR7 at CPL 0 has no side effect.
        unsafe {
            core::arch::asm!("mov {}, dr7", out(reg) dr7, options(nomem, nostack, preserves_flags))
        };
        if dr7 & !DR7_FIXED_1 != 0 {
            // SAFETY: disables every breakpoint; `local_db_restore` puts them back.
            unsafe {
                core::arch::asm!("mov dr7, {}", in(reg) DR7_FIXED_1, options(nomem, nostack, preserves_flags))
            };
        }
        dr7
    }

    /// Linux's `local_db_restore`: DR7 back as [`local_db_save`] found it.
    #[inline(always)]
    fn local_db_restore(dr7: u64) {
        if dr7 & !DR7_FIXED_1 != 0 {
            // SAFETY: the value this CPU had at entry.
            unsafe {
                core::arch::asm!("mov dr7, {}", in(reg) dr7, options(nomem, nostack, preserves_flags))
            };
        }
    }

    /// An NMI from user mode, on the task stack. It keeps the NMI state word that the
    /// kernel-mode NMI stub keeps (arch/nmi.rs), so that a kernel-mode NMI taken after an IRET
    /// inside this handler (a fixed-up #PF, say) is latched, not run inside it: the handler
    /// runs again when it returns, as it does after a latched kernel-mode NMI (E18). The word
    /// is idle here (user mode was interrupted, so no NMI handler was running), and NMIs stay
    /// blocked until the first IRET, so the store cannot race; the decrement is one atomic
    /// instruction, which an NMI sees before (and latches) or after (and runs on its own IST
    /// stack, leaving this frame on the task stack alone).
    #[inline(never)]
    #[unsafe(link_section = ".text.kentry.noinstr")]
    fn nmi_from_user<H: Host>(cpu: &EntryPerCpu, regs: &mut Regs, error_code: u64) {
        use crate::arch::nmi::{NMI_EXECUTING, NMI_LATCHED};
        if !test_hooks::enabled(Check::NmiLatch) {
            // Test kernels: the negative run, where a nested NMI re-enters the handler.
            let nmi = irqentry_nmi_enter(cpu);
            crate::instrumentation_begin!();
            H::nmi_like(regs, vectors::NMI, error_code);
            crate::instrumentation_end!();
            irqentry_nmi_exit(cpu, nmi);
            return;
        }
        let state = cpu.nmi_state();
        state.store(NMI_EXECUTING, Ordering::SeqCst);
        // A user's watchpoint on memory the handler touches must not fire inside it (E22).
        let dr7 = local_db_save();
        loop {
            let nmi = irqentry_nmi_enter(cpu);
            crate::instrumentation_begin!();
            H::nmi_like(regs, vectors::NMI, error_code);
            crate::instrumentation_end!();
            irqentry_nmi_exit(cpu, nmi);
            if state.fetch_sub(1, Ordering::SeqCst) != NMI_LATCHED {
                break;
            }
        }
        local_db_restore(dr7);
    }

    /// A new task's first exit to user mode (it never entered, so there is no entry half).
    #[inline(always)]
    pub fn ret_from_fork<H: Host>(regs: &mut Regs) {
        // A new task starts in the kernel, switched to from kernel code: context tracking
        // already says "kernel", so the region is open from the start.
        crate::instrumentation_begin!();
        tripwires::<H>();
        H::schedule_tail();
        exit_to_user_mode::<H>(regs);
    }

    /// Rust half of the paranoid (IST) stubs. The stub has saved whatever GS base was live and
    /// installed this CPU's; it restores the saved one afterwards.
    #[inline(always)]
    pub fn do_paranoid<H: Host>(regs: &mut Regs, vector: u64) {
        let vector = vector as u8;
        let error_code = regs.orig_rax;
        regs.orig_rax = u64::MAX;
        tripwires::<H>();
        // A bad frame's `iretq` from the espfix stack (E16): the user's #GP, not a #DF.
        if vector == vectors::DF && crate::espfix::fixup_double_fault(regs) {
            return;
        }
        let cpu = crate::entry_percpu::this_cpu();
        // Slot 0 (no IST) wraps to an index `get` refuses.
        let slot = (vectors::ist_slot(vector) as usize).wrapping_sub(1);
        let Some(depth) = cpu.ist_depth.get(slot) else {
            // The stubs send only IST vectors here.
            crate::instrumentation_begin!();
            panic!("kentry: paranoid entry for a vector without an IST slot");
        };
        if depth.fetch_add(1, Ordering::Relaxed) != 0 && vector != vectors::DF {
            crate::instrumentation_begin!();
            H::ist_recursion(regs, vector);
        }
        // An NMI can land between a #PF and its handler's CR2 read (E20): keep CR2 as found.
        let cr2 = x86_64::registers::control::Cr2::read_raw();
        // No watchpoint may fire inside the handler (E22): DR7 off until it is done.
        let dr7 = local_db_save();
        let nmi = irqentry_nmi_enter(cpu);
        crate::instrumentation_begin!();
        H::nmi_like(regs, vector, error_code);
        crate::instrumentation_end!();
        irqentry_nmi_exit(cpu, nmi);
        local_db_restore(dr7);
        if x86_64::registers::control::Cr2::read_raw() != cr2
            && test_hooks::enabled(Check::ParanoidCr2)
        {
            // SAFETY: restoring the value the CPU had at entry; CR2 has no other effect.
            unsafe {
                core::arch::asm!("mov cr2, {}", in(reg) cr2, options(nostack, preserves_flags))
            };
        }
        depth.fetch_sub(1, Ordering::Relaxed);
    }
}
